// SYN proxy segments (see segments.hpp).
#include "synproxy/segments.hpp"

#include <rte_byteorder.h>

#include <algorithm>
#include <cstring>

#include "nat/rewrite.hpp"
#include "net/bytes.hpp"
#include "net/tcp_options.hpp"

namespace postern::dataplane::synproxy {
namespace {

// MSS, then SACK permitted + timestamps packed as Linux packs them (or NOP NOP timestamps, or
// NOP NOP SACK permitted), then NOP + window scale.
std::uint8_t write_options(std::uint8_t* p, std::uint16_t mss, bool sack, bool ts,
                           std::uint32_t ts_val, std::uint32_t ts_ecr, std::int8_t wscale) {
  std::uint8_t n = 0;
  p[n++] = kTcpOptMss;
  p[n++] = 4;
  p[n++] = static_cast<std::uint8_t>(mss >> 8);
  p[n++] = static_cast<std::uint8_t>(mss & 0xff);
  if (ts) {
    if (sack) {
      p[n++] = kTcpOptSackPermitted;
      p[n++] = 2;
    } else {
      p[n++] = kTcpOptNop;
      p[n++] = kTcpOptNop;
    }
    p[n++] = kTcpOptTimestamp;
    p[n++] = 10;
    store_be32(p + n, ts_val);
    store_be32(p + n + 4, ts_ecr);
    n = static_cast<std::uint8_t>(n + 8);
  } else if (sack) {
    p[n++] = kTcpOptNop;
    p[n++] = kTcpOptNop;
    p[n++] = kTcpOptSackPermitted;
    p[n++] = 2;
  }
  if (wscale >= 0) {
    p[n++] = kTcpOptNop;
    p[n++] = kTcpOptWscale;
    p[n++] = 3;
    p[n++] = static_cast<std::uint8_t>(wscale);
  }
  return n;
}

}  // namespace

std::uint16_t write_synack(std::uint8_t* out, std::uint16_t cap, const FlowKey& k, Seq client_isn,
                           const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                           const SynAck& a) noexcept {
  std::uint8_t opts[24];
  const std::uint8_t n =
      write_options(opts, a.mss, a.sack && a.timestamps, a.timestamps, a.ts_val, a.ts_ecr,
                    a.timestamps ? a.wscale : static_cast<std::int8_t>(-1));
  return write_segment(out, cap, L2Addresses{src_mac, dst_mac}, k.dst_ip, k.src_ip, k.dst_port,
                       k.src_port, a.cookie, client_isn + 1, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
                       rte_cpu_to_be_16(0xffff), opts, n, nullptr, 0);
}

std::uint16_t make_synack(FrameView& v, std::uint16_t cap, const SynAck& a) noexcept {
  // Everything needed is copied out of the SYN first: the frame is written over it.
  const FlowKey k{v.ip->src_addr, v.ip->dst_addr, v.tcp->src_port, v.tcp->dst_port};
  const rte_ether_addr client_mac = v.eth->src_addr;
  const rte_ether_addr our_mac = v.eth->dst_addr;
  const Seq isn(rte_be_to_cpu_32(v.tcp->sent_seq));
  return write_synack(v.data, cap, k, isn, our_mac, client_mac, a);
}

std::uint8_t syn_options(const SynOptions& o, std::uint32_t ts_val, std::uint8_t* out) noexcept {
  return write_options(out, o.mss, o.sack, o.timestamps, ts_val, 0, o.wscale);
}

std::uint16_t client_handshake_ack(std::uint8_t* out, std::uint16_t cap, const Flow& f) noexcept {
  std::uint8_t opts[12];
  std::uint8_t n = 0;
  if (f.has(kFlowTimestamps)) {
    opts[0] = kTcpOptNop;
    opts[1] = kTcpOptNop;
    opts[2] = kTcpOptTimestamp;
    opts[3] = 10;
    store_be32(opts + 4, f.ts_val);
    store_be32(opts + 8, f.ts_ecr + f.tsp_off);
    n = 12;
  }
  // It goes straight into the splice, never onto a wire; the splice takes its source MAC as
  // the client's latest hop, so it must be that one.
  return write_segment(out, cap, L2Addresses{f.client_mac, rte_ether_addr{}}, f.client_ip, f.vip_ip,
                       f.client_port, f.vip_port, f.client_isn + 1,
                       f.server_isn + 1 + static_cast<std::int32_t>(f.srv_off), RTE_TCP_ACK_FLAG,
                       rte_cpu_to_be_16(f.client_win), opts, n, nullptr, 0);
}

}  // namespace postern::dataplane::synproxy
