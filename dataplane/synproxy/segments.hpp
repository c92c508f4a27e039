// The segments the SYN proxy writes: the SYN-ACK that carries a cookie to the client, the
// options of the SYN it later sends the server on the client's behalf, and the client's
// handshake ACK as the server must see it.
#pragma once

#include <cstdint>

#include "flow/flow.hpp"
#include "net/frame.hpp"
#include "net/seq.hpp"
#include "synproxy/cookie.hpp"

namespace postern::dataplane::synproxy {

// The window scale Postern announces to clients: the server's windows are translated into it,
// and 7 (Linux's usual shift) keeps windows up to 8 MB expressible.
inline constexpr std::uint8_t kProxyWscale = 7;

struct SynAck {
  Seq cookie;
  std::uint16_t mss = 1460;
  bool timestamps = false;
  std::uint32_t ts_val = 0;  // ours, carrying the encoded bits
  std::uint32_t ts_ecr = 0;  // the client's SYN TSval
  bool sack = false;
  std::int8_t wscale = -1;  // ours; -1: none
};

// Turns the client's SYN frame `v` (at least `cap` bytes of room from v.data) into the SYN-ACK
// answering it in place: Ethernet and IP addresses and ports swapped, no IP options, the
// options of `a`. Returns the new frame length.
std::uint16_t make_synack(FrameView& v, std::uint16_t cap, const SynAck& a) noexcept;

// The same SYN-ACK again, written into `out` for the client of `client_side` (the key of its
// segments) whose ISN was `client_isn`, at Ethernet addresses `l2` (ours, the client's hop).
std::uint16_t write_synack(std::uint8_t* out, std::uint16_t cap, const FlowKey& client_side,
                           Seq client_isn, const rte_ether_addr& src_mac,
                           const rte_ether_addr& dst_mac, const SynAck& a) noexcept;

// The options of the SYN Postern sends the server for a client the cookie let in, in Linux's
// order: MSS, SACK permitted, timestamps (TSval `ts_val`, TSecr 0), window scale. Returns
// their length (a multiple of 4, at most 20).
std::uint8_t syn_options(const SynOptions& o, std::uint32_t ts_val, std::uint8_t* out) noexcept;

// A client -> VIP ACK as the client would send it to complete the handshake for flow `f` once
// the server has answered (seq = client ISN + 1, ack = the cookie + 1, the client's window and
// latest timestamps, echoing the server's SYN-ACK TSval in the client's view), written into
// `out`. Returns the frame length, 0 if `cap` is too small.
std::uint16_t client_handshake_ack(std::uint8_t* out, std::uint16_t cap, const Flow& f) noexcept;

}  // namespace postern::dataplane::synproxy
