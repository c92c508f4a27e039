// One spliced TCP connection as a worker remembers it: both address pairs, the TCP state
// seen from the middle, the sequence shift and the timers. Owned by exactly one worker.
#pragma once

#include <rte_ether.h>

#include <cstdint>

#include "net/seq.hpp"

namespace postern::dataplane {

// Lookup key: the addresses of a packet as it arrives (network order), so a client-side
// packet and a server-side packet of the same flow have different keys.
struct FlowKey {
  std::uint32_t src_ip = 0;
  std::uint32_t dst_ip = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

enum class FlowState : std::uint8_t {
  kSynSent,      // client SYN forwarded, no SYN-ACK yet (timeout connect, redispatch)
  kSynReceived,  // server SYN-ACK forwarded, waiting for the client's handshake ACK
  kAwaitHeader,  // accept-proxy: reading the upstream proxy's header
  kEstablished,
  kClosing,  // at least one FIN seen
  kClosed,   // both FINs acknowledged, or RST: lingers briefly to absorb stragglers
};

enum FlowFlags : std::uint16_t {
  kFlowSendProxy = 1U << 0,      // the server wants a PROXY v2 header
  kFlowHeaderUnacked = 1U << 1,  // our header is in flight: retransmit until acked
  kFlowTimestamps = 1U << 2,     // both SYNs carried timestamps (RFC 7323 section 3.2)
  kFlowSack = 1U << 3,
  kFlowClientFin = 1U << 4,
  kFlowServerFin = 1U << 5,
  kFlowAcceptProxy = 1U << 6,  // the client is an upstream proxy sending a header first
  kFlowClientFinAcked = 1U << 7,
  kFlowServerFinAcked = 1U << 8,
  kFlowHeaderSent = 1U << 9,
  kFlowFastRetransmitted = 1U << 10,  // the header went again on a duplicate ACK this period
};

inline constexpr std::uint32_t kNoIndex = 0xffffffffU;

struct alignas(64) Flow {
  // Client side: client -> VIP.
  std::uint32_t client_ip = 0;
  std::uint32_t vip_ip = 0;
  std::uint16_t client_port = 0;
  std::uint16_t vip_port = 0;
  // Server side: local (source address) -> server.
  std::uint32_t local_ip = 0;
  std::uint32_t server_ip = 0;
  std::uint16_t local_port = 0;
  std::uint16_t server_port = 0;

  // The addresses the PROXY header names: the client and the VIP it reached, or what an
  // upstream proxy's own header said (accept-proxy; it may name IPv6 addresses). Addresses
  // in network order (IPv4 in the first four bytes), ports in network order.
  bool origin_v6 = false;
  std::uint8_t origin_src[16] = {};
  std::uint8_t origin_dst[16] = {};
  std::uint16_t origin_src_port = 0;
  std::uint16_t origin_dst_port = 0;

  // Inactivity limits from the listener: established (the longer of `timeout client` and
  // `timeout server`, or `timeout tunnel`), and once one side has sent its FIN.
  std::uint32_t idle_ms = 0;
  std::uint32_t fin_ms = 0;
  std::uint32_t connect_ms = 0;

  std::uint16_t listener = 0;  // index into the snapshot's listeners
  std::uint16_t server = 0;    // index into the snapshot's servers
  std::uint16_t flags = 0;
  FlowState state = FlowState::kSynSent;
  std::uint8_t client_port_id = 0;  // DPDK port towards the client
  std::uint8_t server_port_id = 0;
  std::uint8_t retries_left = 0;
  std::uint8_t rtx_count = 0;
  std::uint8_t syn_opts_len = 0;

  rte_ether_addr client_mac{};  // where client-bound frames go (the SYN's source MAC)
  rte_ether_addr server_mac{};

  Seq client_isn;
  Seq server_isn;
  // The latest acknowledgement each side sent: its RCV.NXT, which is the sequence number a
  // RST towards it must carry to be accepted (RFC 5961 3.2). client_acked is in the server's
  // space (not shifted); server_acked in the shifted client space the server sees.
  Seq client_acked;
  Seq server_acked;
  Seq client_fin_seq;  // sequence number of the client's FIN, client space
  Seq server_fin_seq;
  std::int32_t delta = 0;        // client->server sequence shift once the header is out
  std::uint16_t hdr_len = 0;     // bytes of the header Postern sends
  std::uint16_t client_win = 0;  // raw window field of the client's latest segment
  std::uint32_t ts_val = 0;      // client's latest TSval / TSecr (host order)
  std::uint32_t ts_ecr = 0;
  std::uint16_t syn_win = 0;
  std::uint16_t proxy_buf = 0xffff;  // accept-proxy: index of the header buffer, or none
  std::uint16_t proxy_have = 0;      // bytes of the upstream header buffered so far

  std::uint64_t last_seen_ms = 0;
  std::uint64_t rtx_at_ms = 0;  // next retransmission of the header, 0: none

  // Timer wheel membership (intrusive, indices into the flow pool).
  std::uint64_t timer_deadline = 0;
  std::uint32_t timer_next = kNoIndex;
  std::uint32_t timer_prev = kNoIndex;
  std::uint32_t timer_slot = kNoIndex;
  std::uint32_t free_next = kNoIndex;

  // The client's SYN options, so a re-dispatched SYN goes out as the client wrote it.
  std::uint8_t syn_opts[40] = {};

  bool has(FlowFlags f) const { return (flags & f) != 0; }
  void set(FlowFlags f) { flags = static_cast<std::uint16_t>(flags | f); }
  void clear(FlowFlags f) { flags = static_cast<std::uint16_t>(flags & ~f); }
  std::uint64_t idle_limit_ms() const { return state == FlowState::kClosing ? fin_ms : idle_ms; }
  FlowKey client_key() const { return {client_ip, vip_ip, client_port, vip_port}; }
  FlowKey server_key() const { return {server_ip, local_ip, server_port, local_port}; }
};

}  // namespace postern::dataplane
