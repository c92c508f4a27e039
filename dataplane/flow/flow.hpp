// One spliced TCP connection as a worker remembers it: both address pairs, the TCP state
// seen from the middle, the sequence and timestamp offsets, and the timers. Owned by exactly
// one worker.
#pragma once

#include <rte_ether.h>

#include <cstdint>

#include "net/seq.hpp"
#include "postern/dataplane/log_record.hpp"

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
  kFlowHeaderSent = 1U << 9,          // the shift is on: delta (and in_len) are final
  kFlowFastRetransmitted = 1U << 10,  // the header went again on a duplicate ACK this period
  kFlowWindowScale = 1U << 11,        // both SYNs carried window scale (RFC 7323 section 2)
  kFlowSynAcked = 1U << 12,           // the server answered: it has a connection to reset
  kFlowRedispatched = 1U << 13,       // a retry went to another server (the log's "+")
  kFlowServerIdleFirst = 1U << 14,    // `timeout server` < `timeout client`: idle ends are 's'
  // The SYN proxy answered the client with a cookie; the server's sequence and timestamp
  // spaces differ from what the client was told by srv_off and tsp_off.
  kFlowSynProxy = 1U << 15,
};

inline constexpr std::uint8_t kNoWscale = 0xff;

inline constexpr std::uint32_t kNoIndex = 0xffffffffU;
inline constexpr std::uint16_t kNoBuffer = 0xffff;

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

  // Sequence spaces. The client's bytes travel in two spaces: the client's own, and the
  // server's view of them, which starts at Postern's own ISN for the server-side 4-tuple
  // (isn_off, RFC 6528) and, once the header is out, is shifted by its length (delta). The
  // server's bytes keep the server's sequence numbers on both sides.
  Seq client_isn;                // client space
  Seq server_isn;                // the SYN-ACK the client acknowledged (or the latest seen)
  Seq server_isn_prev;           // an earlier SYN-ACK's ISN, should the client ACK that one
  std::uint32_t isn_off = 0;     // server-side ISN = client ISN + isn_off
  std::uint32_t ts_off = 0;      // server-side TSval = client TSval + ts_off (RFC 7323 5.4)
  std::int32_t delta = 0;        // once the header is out: hdr_len - in_len
  std::uint16_t hdr_len = 0;     // bytes of the header Postern sends (0: none)
  std::uint16_t in_len = 0;      // bytes of the upstream proxy's header consumed (accept-proxy)
  std::uint16_t client_win = 0;  // window field of the client's latest segment (host order)

  // The latest acknowledgement each side sent, its RCV.NXT, and the window it advertised:
  // a RST must land in [RCV.NXT, RCV.NXT + RCV.WND) to be accepted (RFC 5961 3.2).
  // client_acked is in the server's space (which the client shares); server_acked in the
  // server's view of the client's bytes.
  Seq client_acked;
  Seq server_acked;
  std::uint32_t client_wnd = 0;  // bytes, scale applied
  std::uint32_t server_wnd = 0;
  Seq client_fin_seq;  // sequence number of the client's FIN, client space
  Seq server_fin_seq;

  std::uint32_t ts_val = 0;  // client's latest TSval / TSecr (host order, client space)
  std::uint32_t ts_ecr = 0;

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
  std::uint8_t client_wscale = 0;  // shift of the client's windows, once negotiated
  std::uint8_t server_wscale = 0;

  // Where client-bound frames go: the source MAC of the client's latest frame (its router,
  // or the client on a shared link), refreshed on every frame so a gateway that changes its
  // MAC is followed. Server-bound frames take the MAC from the neighbour cache entry of
  // next_hop on every send, so an ARP update reaches established flows.
  rte_ether_addr client_mac{};
  std::uint32_t next_hop = 0;  // network order: the server, or the gateway towards it

  std::uint16_t syn_win = 0;            // the SYN's window field (host order)
  std::uint16_t proxy_buf = kNoBuffer;  // accept-proxy: index of the header buffer, or none
  std::uint16_t proxy_have = 0;         // bytes of the upstream header buffered so far
  std::uint32_t neighbour = kNoIndex;   // cached slot of next_hop in the neighbour cache

  std::uint64_t last_seen_ms = 0;
  std::uint64_t rtx_at_ms = 0;    // next retransmission of the header, 0: none
  std::uint64_t deadline_ms = 0;  // connect / accept-proxy header: absolute, 0: none

  // Timer wheel membership (intrusive, indices into the flow pool).
  std::uint64_t timer_deadline = 0;
  std::uint32_t timer_next = kNoIndex;
  std::uint32_t timer_prev = kNoIndex;
  std::uint32_t timer_slot = kNoIndex;
  std::uint32_t free_next = kNoIndex;

  bool in_use = false;  // allocated from the table's pool (a free flow keeps stale fields)

  // The addresses the PROXY header names: the client and the VIP it reached, or what an
  // upstream proxy's own header said (accept-proxy; it may name IPv6 addresses). Addresses
  // in network order (IPv4 in the first four bytes), ports in network order.
  bool origin_v6 = false;
  std::uint8_t origin_src[16] = {};
  std::uint8_t origin_dst[16] = {};
  std::uint16_t origin_src_port = 0;
  std::uint16_t origin_dst_port = 0;

  // The client's SYN options, so a re-dispatched SYN goes out as the client wrote it.
  std::uint8_t syn_opts[40] = {};

  // For the session's log record (postern/dataplane/log_record.hpp), read when it ends: on the
  // flow's last cache line, which the SYN, the SYN-ACK and the end touch, and every segment
  // since the SND.NXT fields below share it.
  std::uint64_t accept_ms = 0;   // the client's first SYN
  std::uint32_t synack_ms = 0;   // the SYN-ACK that connected, in ms after accept_ms (%Tc)
  std::uint8_t retries_max = 0;  // the listener's `retries` at the SYN: %rc = it - retries_left
  SessionEnd end;                // what ended it (set by tcp_splice when the flow closes)
  // What each side has sent as Postern saw it, its SND.NXT (flow/segment_screen.hpp): the
  // client's in its own space, the server's in the server's. An ACK beyond it acknowledges
  // data that was never sent (RFC 5961 section 5).
  Seq client_snd_nxt;
  Seq server_snd_nxt;

  // SYN proxy (kFlowSynProxy), on the last cache line too, which the flows it does not serve
  // never touch. The server's sequence and TSval spaces as the client knows them: client
  // view = server's own + srv_off (+ tsp_off for TSvals). Until the server's SYN-ACK they hold
  // the cookie and the SYN-ACK's TSval themselves (the server's values count as 0).
  std::uint32_t srv_off = 0;
  std::uint32_t tsp_off = 0;
  std::uint8_t proxy_wscale = kNoWscale;  // the window scale Postern announced to the client
  std::uint8_t syn_wscale = kNoWscale;    // the client's own, from its SYN (via the cookie)
  // Counted among the worker's half-open flows (and its client's, for the per-source limit):
  // a SYN was forwarded and the client has not completed its handshake yet.
  bool half_open = false;

  bool has(FlowFlags f) const { return (flags & f) != 0; }
  void set(FlowFlags f) { flags = static_cast<std::uint16_t>(flags | f); }
  void clear(FlowFlags f) { flags = static_cast<std::uint16_t>(flags & ~f); }
  std::uint64_t idle_limit_ms() const { return state == FlowState::kClosing ? fin_ms : idle_ms; }
  FlowKey client_key() const { return {client_ip, vip_ip, client_port, vip_port}; }
  FlowKey server_key() const { return {server_ip, local_ip, server_port, local_port}; }

  // Client space -> the server's view of the client's bytes: both offsets.
  std::int32_t seq_shift() const { return static_cast<std::int32_t>(isn_off) + delta; }
  // The server-side sequence number of the first byte after the SYN: where our header goes.
  Seq server_first() const { return client_isn + static_cast<std::int32_t>(isn_off) + 1; }
  // Client space: the first byte the client sent that the server receives.
  Seq client_first() const { return client_isn + 1 + static_cast<std::int32_t>(in_len); }
  // The server-side sequence number just after our header.
  Seq header_end() const { return server_first() + static_cast<std::int32_t>(hdr_len); }
};

static_assert(sizeof(Flow) == 320, "a flow is five cache lines");

}  // namespace postern::dataplane
