// Full NAT with sequence and timestamp offsets, and the segments Postern writes on its own
// behalf.
#include "nat/rewrite.hpp"

#include <rte_byteorder.h>

#include <algorithm>
#include <cstring>

#include "flow/tcp_splice.hpp"
#include "net/bytes.hpp"
#include "net/checksum.hpp"
#include "net/tcp_options.hpp"
#include "proxy/proxy_v2.hpp"

namespace postern::dataplane {
namespace {

// Rewrites the IPv4 and TCP address pair and ports, TTL - 1, with incremental checksums.
void rewrite_addresses(FrameView& v, std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                       std::uint16_t dport) noexcept {
  rte_ipv4_hdr* ip = v.ip;
  rte_tcp_hdr* tcp = v.tcp;
  std::uint16_t ipc = ip->hdr_checksum;
  std::uint16_t tc = tcp->cksum;
  ipc = csum_replace32(ipc, ip->src_addr, src);
  ipc = csum_replace32(ipc, ip->dst_addr, dst);
  tc = csum_replace32(tc, ip->src_addr, src);  // the pseudo-header holds the addresses
  tc = csum_replace32(tc, ip->dst_addr, dst);
  tc = csum_replace16(tc, tcp->src_port, sport);
  tc = csum_replace16(tc, tcp->dst_port, dport);
  // TTL shares a 16-bit word with the protocol field.
  std::uint16_t ttl_word_old;
  std::memcpy(&ttl_word_old, &ip->time_to_live, 2);
  ip->time_to_live = static_cast<std::uint8_t>(ip->time_to_live - 1);
  std::uint16_t ttl_word_new;
  std::memcpy(&ttl_word_new, &ip->time_to_live, 2);
  ipc = csum_replace16(ipc, ttl_word_old, ttl_word_new);
  ip->src_addr = src;
  ip->dst_addr = dst;
  tcp->src_port = sport;
  tcp->dst_port = dport;
  ip->hdr_checksum = ipc;
  tcp->cksum = tc;
}

}  // namespace

std::uint16_t write_segment(std::uint8_t* out, std::uint16_t cap, const L2Addresses& l2,
                            std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t sport,
                            std::uint16_t dport, Seq seq, Seq ack, std::uint8_t flags,
                            std::uint16_t win_be, const std::uint8_t* opts, std::uint8_t opts_len,
                            const std::uint8_t* payload, std::uint16_t payload_len) noexcept {
  const std::uint16_t tcp_len = static_cast<std::uint16_t>(20 + opts_len + payload_len);
  const std::uint16_t ip_len = static_cast<std::uint16_t>(20 + tcp_len);
  const std::uint16_t frame_len = static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + ip_len);
  if (frame_len > cap || (opts_len & 3) != 0) {
    return 0;
  }
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(
      write_ipv4_headers(out, l2.src, l2.dst, src_ip, dst_ip, IPPROTO_TCP, tcp_len));
  tcp->src_port = sport;
  tcp->dst_port = dport;
  tcp->sent_seq = rte_cpu_to_be_32(seq.value());
  tcp->recv_ack = rte_cpu_to_be_32(ack.value());
  tcp->data_off = static_cast<std::uint8_t>(((20 + opts_len) / 4) << 4);
  tcp->tcp_flags = flags;
  tcp->rx_win = win_be;
  tcp->tcp_urp = 0;
  auto* p = reinterpret_cast<std::uint8_t*>(tcp + 1);
  if (opts_len != 0) {
    std::memcpy(p, opts, opts_len);
  }
  if (payload_len != 0) {
    std::memcpy(p + opts_len, payload, payload_len);
  }
  tcp->cksum = tcp4_checksum(src_ip, dst_ip, tcp, tcp_len);
  return frame_len;
}

namespace {

// Offset of the timestamp option's kind byte in the options area, or -1. Linux and most
// stacks lead with NOP NOP TS (RFC 7323 appendix A): that layout is checked first.
int timestamp_option(const std::uint8_t* opts, std::uint16_t len) noexcept {
  if (len >= 12 && opts[0] == kTcpOptNop && opts[1] == kTcpOptNop && opts[2] == kTcpOptTimestamp &&
      opts[3] == 10) {
    return 2;
  }
  int at = -1;
  walk_tcp_options(opts, len, [&](std::uint16_t i, std::uint8_t kind, std::uint8_t olen) {
    if (kind != kTcpOptTimestamp) {
      return true;
    }
    at = olen == 10 ? i : -1;
    return false;
  });
  return at;
}

// Adds `val_add` to the TSval and `ecr_add` to the TSecr of the segment, if it has them.
void shift_timestamps(FrameView& v, std::uint32_t val_add, std::uint32_t ecr_add) noexcept {
  if (v.tcp_hlen <= 20) {
    return;
  }
  const int at = timestamp_option(v.tcp_options(), v.tcp_options_len());
  if (at < 0) {
    return;
  }
  std::uint8_t* p = v.tcp_options() + at + 2;
  const std::uint32_t val_be = load32(p);
  const std::uint32_t ecr_be = load32(p + 4);
  store_be32(p, load_be32(p) + val_add);
  store_be32(p + 4, load_be32(p + 4) + ecr_add);
  const std::uint32_t nval = load32(p);
  const std::uint32_t necr = load32(p + 4);
  if (((at + 2) & 1) == 0) {
    // The fields sit on 16-bit boundaries of the TCP header (it starts at an even offset).
    v.tcp->cksum = csum_replace32(csum_replace32(v.tcp->cksum, val_be, nval), ecr_be, necr);
  } else {
    v.tcp->cksum = tcp4_checksum(v.ip->src_addr, v.ip->dst_addr, v.tcp, v.l4_len);
  }
}

}  // namespace

std::uint16_t window_to_server(const Flow& f, std::uint16_t win) noexcept {
  if (!f.has(kFlowSynProxy) || f.proxy_wscale == kNoWscale || f.has(kFlowWindowScale) ||
      f.syn_wscale == kNoWscale) {
    return win;
  }
  return static_cast<std::uint16_t>(
      std::min<std::uint32_t>(0xffffU, static_cast<std::uint32_t>(win) << f.syn_wscale));
}

namespace {

// Adds `add` to the 32-bit header field at `field` (network order), checksum updated.
void add32(rte_tcp_hdr* tcp, std::uint8_t* field, std::uint32_t add) noexcept {
  const std::uint32_t was = load32(field);
  const std::uint32_t now = rte_cpu_to_be_32(rte_be_to_cpu_32(was) + add);
  tcp->cksum = csum_replace32(tcp->cksum, was, now);
  store32(field, now);
}

// SYN proxy, client -> server: the client's acknowledgements, SACK blocks and TSecr name the
// server's bytes in the space the cookie gave the client; the window may need scaling.
void proxy_to_server(FrameView& v, const Flow& f) noexcept {
  rte_tcp_hdr* tcp = v.tcp;
  if ((tcp->tcp_flags & RTE_TCP_ACK_FLAG) != 0) {
    add32(tcp, reinterpret_cast<std::uint8_t*>(&tcp->recv_ack), 0U - f.srv_off);
    if (v.tcp_hlen > 20 && f.has(kFlowSack)) {
      std::uint16_t check = tcp->cksum;
      shift_sack_blocks(v.tcp_options(), v.tcp_options_len(), static_cast<std::int32_t>(f.srv_off),
                        f.server_isn, check);
      tcp->cksum = check;
    }
  }
  const std::uint16_t win = rte_be_to_cpu_16(tcp->rx_win);
  const std::uint16_t scaled = window_to_server(f, win);
  if (scaled != win) {
    const std::uint16_t nw = rte_cpu_to_be_16(scaled);
    tcp->cksum = csum_replace16(tcp->cksum, tcp->rx_win, nw);
    tcp->rx_win = nw;
  }
}

// SYN proxy, server -> client: the server's sequence numbers and TSvals into the client's
// view, and its window into the scale Postern announced.
void proxy_to_client(FrameView& v, const Flow& f) noexcept {
  rte_tcp_hdr* tcp = v.tcp;
  add32(tcp, reinterpret_cast<std::uint8_t*>(&tcp->sent_seq), f.srv_off);
  if ((tcp->tcp_flags & RTE_TCP_SYN_FLAG) != 0) {
    return;  // a SYN's window is never scaled
  }
  const std::uint32_t bytes = static_cast<std::uint32_t>(rte_be_to_cpu_16(tcp->rx_win))
                              << (f.has(kFlowWindowScale) ? f.server_wscale : 0);
  const std::uint32_t field = bytes >> (f.proxy_wscale == kNoWscale ? 0 : f.proxy_wscale);
  const std::uint16_t nw = rte_cpu_to_be_16(static_cast<std::uint16_t>(std::min(field, 0xffffU)));
  if (nw != tcp->rx_win) {
    tcp->cksum = csum_replace16(tcp->cksum, tcp->rx_win, nw);
    tcp->rx_win = nw;
  }
}

}  // namespace

void rewrite_to_server(FrameView& v, const Flow& f) noexcept {
  const std::int32_t shift = f.seq_shift();
  if (shift != 0) {
    const std::uint32_t old_seq = v.tcp->sent_seq;
    const std::uint32_t new_seq =
        rte_cpu_to_be_32((Seq(rte_be_to_cpu_32(old_seq)) + shift).value());
    v.tcp->cksum = csum_replace32(v.tcp->cksum, old_seq, new_seq);
    v.tcp->sent_seq = new_seq;
  }
  if (f.has(kFlowSynProxy)) {
    proxy_to_server(v, f);
    if (f.has(kFlowTimestamps)) {
      shift_timestamps(v, f.ts_off, 0U - f.tsp_off);
    }
  } else if (f.ts_off != 0 && f.has(kFlowTimestamps)) {
    shift_timestamps(v, f.ts_off, 0);
  }
  rewrite_addresses(v, f.local_ip, f.server_ip, f.local_port, f.server_port);
}

void rewrite_to_client(FrameView& v, const Flow& f) noexcept {
  const std::int32_t shift = f.seq_shift();
  if ((v.tcp->tcp_flags & RTE_TCP_ACK_FLAG) != 0 && (shift != 0 || f.hdr_len != 0)) {
    const std::uint32_t old_ack = v.tcp->recv_ack;
    const Seq mapped = splice::to_client_ack(f, Seq(rte_be_to_cpu_32(old_ack)));
    const std::uint32_t new_ack = rte_cpu_to_be_32(mapped.value());
    v.tcp->cksum = csum_replace32(v.tcp->cksum, old_ack, new_ack);
    v.tcp->recv_ack = new_ack;
    if (f.has(kFlowSack) && v.tcp_hlen > 20 && shift != 0) {
      std::uint16_t check = v.tcp->cksum;
      shift_sack_blocks(v.tcp_options(), v.tcp_options_len(), shift, f.client_first(), check);
      v.tcp->cksum = check;
    }
  }
  if (f.has(kFlowSynProxy)) {
    proxy_to_client(v, f);
    if (f.has(kFlowTimestamps)) {
      shift_timestamps(v, f.tsp_off, static_cast<std::uint32_t>(0U - f.ts_off));
    }
  } else if (f.ts_off != 0 && f.has(kFlowTimestamps)) {
    shift_timestamps(v, 0, static_cast<std::uint32_t>(0U - f.ts_off));
  }
  rewrite_addresses(v, f.vip_ip, f.client_ip, f.vip_port, f.client_port);
}

void cut_payload_front(FrameView& v, std::uint16_t n) noexcept {
  if (n == 0 || n > v.payload_len) {
    return;
  }
  const auto hdrs = static_cast<std::uint16_t>(v.payload() - v.data);
  const auto ihl = static_cast<std::uint16_t>(reinterpret_cast<std::uint8_t*>(v.tcp) -
                                              reinterpret_cast<std::uint8_t*>(v.ip));
  // The headers move up by an even count so the Ethernet header stays 2-byte aligned (as
  // rte_ether_hdr requires); an odd cut also moves the rest of the payload back one byte.
  const auto up = static_cast<std::uint16_t>(n & ~1U);
  if (up != n) {
    std::uint8_t* rest = v.payload() + n;
    std::memmove(rest - 1, rest, static_cast<std::size_t>(v.payload_len - n));
  }
  std::memmove(v.data + up, v.data, hdrs);
  const std::ptrdiff_t eth_to_ip = reinterpret_cast<std::uint8_t*>(v.ip) - v.data;
  v.data += up;
  v.len = static_cast<std::uint16_t>(v.len - n);
  v.eth = reinterpret_cast<rte_ether_hdr*>(v.data);
  v.ip = reinterpret_cast<rte_ipv4_hdr*>(v.data + eth_to_ip);
  v.tcp = reinterpret_cast<rte_tcp_hdr*>(reinterpret_cast<std::uint8_t*>(v.ip) + ihl);
  v.ip_len = static_cast<std::uint16_t>(v.ip_len - n);
  v.l4_len = static_cast<std::uint16_t>(v.l4_len - n);
  v.payload_len = static_cast<std::uint16_t>(v.payload_len - n);
  v.ip->total_length = rte_cpu_to_be_16(v.ip_len);
  v.ip->hdr_checksum = ipv4_header_checksum(v.ip, ihl);
  v.tcp->sent_seq = rte_cpu_to_be_32(rte_be_to_cpu_32(v.tcp->sent_seq) + n);
  v.tcp->cksum = tcp4_checksum(v.ip->src_addr, v.ip->dst_addr, v.tcp, v.l4_len);
}

namespace {
proxy::Addresses flow_origin(const Flow& f) noexcept {
  proxy::Addresses a;
  a.family = f.origin_v6 ? proxy::Family::kTcp6 : proxy::Family::kTcp4;
  std::memcpy(a.src.data(), f.origin_src, sizeof f.origin_src);
  std::memcpy(a.dst.data(), f.origin_dst, sizeof f.origin_dst);
  a.src_port = rte_be_to_cpu_16(f.origin_src_port);
  a.dst_port = rte_be_to_cpu_16(f.origin_dst_port);
  return a;
}
}  // namespace

std::uint16_t flow_header_length(const Flow& f) noexcept {
  return static_cast<std::uint16_t>(proxy::v2_length(flow_origin(f), proxy::V2Options{}));
}

std::uint16_t encode_flow_header(const Flow& f, std::uint8_t* out, std::uint16_t cap) noexcept {
  return static_cast<std::uint16_t>(proxy::encode_v2(flow_origin(f), proxy::V2Options{}, out, cap));
}

std::uint16_t build_header_segment(std::uint8_t* out, std::uint16_t cap, const Flow& f,
                                   const L2Addresses& l2) noexcept {
  std::uint8_t header[256];
  const std::uint16_t hlen = encode_flow_header(f, header, sizeof header);
  if (hlen == 0) {
    return 0;
  }
  std::uint8_t opts[12];
  std::uint8_t opts_len = 0;
  if (f.has(kFlowTimestamps)) {
    // NOP NOP TS, the layout Linux uses (RFC 7323 appendix A).
    opts[0] = 1;
    opts[1] = 1;
    opts[2] = 8;
    opts[3] = 10;
    store_be32(opts + 4, f.ts_val + f.ts_off);
    store_be32(opts + 8, f.ts_ecr);
    opts_len = 12;
  }
  return write_segment(out, cap, l2, f.local_ip, f.server_ip, f.local_port, f.server_port,
                       f.server_first(), f.server_isn + 1, RTE_TCP_PSH_FLAG | RTE_TCP_ACK_FLAG,
                       rte_cpu_to_be_16(window_to_server(f, f.client_win)), opts, opts_len, header,
                       hlen);
}

std::uint16_t build_syn(std::uint8_t* out, std::uint16_t cap, const Flow& f,
                        const L2Addresses& l2) noexcept {
  std::uint8_t opts[sizeof f.syn_opts];
  std::memcpy(opts, f.syn_opts, f.syn_opts_len);
  const int at = timestamp_option(opts, f.syn_opts_len);
  if (at >= 0 && f.ts_off != 0) {
    store_be32(opts + at + 2, load_be32(opts + at + 2) + f.ts_off);
  }
  return write_segment(out, cap, l2, f.local_ip, f.server_ip, f.local_port, f.server_port,
                       f.server_first() - 1, Seq(0), RTE_TCP_SYN_FLAG, rte_cpu_to_be_16(f.syn_win),
                       opts, f.syn_opts_len, nullptr, 0);
}

std::uint16_t build_rst(std::uint8_t* out, std::uint16_t cap, const L2Addresses& l2,
                        std::uint32_t src_ip, std::uint16_t src_port, std::uint32_t dst_ip,
                        std::uint16_t dst_port, Seq seq, Seq ack, bool with_ack) noexcept {
  const std::uint8_t flags =
      with_ack ? RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG : static_cast<std::uint8_t>(RTE_TCP_RST_FLAG);
  return write_segment(out, cap, l2, src_ip, dst_ip, src_port, dst_port, seq,
                       with_ack ? ack : Seq(0), flags, 0, nullptr, 0, nullptr, 0);
}

std::uint16_t build_rst_reply(std::uint8_t* out, std::uint16_t cap, const FrameView& v) noexcept {
  const L2Addresses l2{v.eth->dst_addr, v.eth->src_addr};
  const std::uint8_t fl = v.tcp->tcp_flags;
  if ((fl & RTE_TCP_ACK_FLAG) != 0) {
    return build_rst(out, cap, l2, v.ip->dst_addr, v.tcp->dst_port, v.ip->src_addr, v.tcp->src_port,
                     Seq(rte_be_to_cpu_32(v.tcp->recv_ack)), Seq(0), false);
  }
  std::int32_t seg_len = v.payload_len;
  if ((fl & RTE_TCP_SYN_FLAG) != 0) {
    ++seg_len;
  }
  if ((fl & RTE_TCP_FIN_FLAG) != 0) {
    ++seg_len;
  }
  return build_rst(out, cap, l2, v.ip->dst_addr, v.tcp->dst_port, v.ip->src_addr, v.tcp->src_port,
                   Seq(0), Seq(rte_be_to_cpu_32(v.tcp->sent_seq)) + seg_len, true);
}

}  // namespace postern::dataplane
