// The packet rewrites of the splice (DESIGN.md "The packet walk"): full NAT both ways, the
// sequence and timestamp offsets between the client's space and the server's view of it,
// and the segments Postern writes itself (the header segment, SYNs for re-dispatch, RSTs).
// Functions over header views and byte buffers: no mbufs.
#pragma once

#include <rte_ether.h>

#include <cstdint>

#include "flow/flow.hpp"
#include "net/frame.hpp"

namespace postern::dataplane {

// Client -> server: addresses and ports to local -> server, sequence number into the
// server's view (isn_off, plus the header shift once it is out), TSval + ts_off, TTL - 1.
// Checksums updated incrementally.
void rewrite_to_server(FrameView& v, const Flow& f) noexcept;

// Server -> client: addresses back to VIP -> client, acknowledgement and SACK blocks mapped
// back into the client's sequence space (splice::to_client_ack; SACK blocks that only cover
// Postern's header are removed), TSecr - ts_off, TTL - 1.
void rewrite_to_client(FrameView& v, const Flow& f) noexcept;

// Cuts `n` bytes (n <= payload) from the front of the segment's payload in place: the
// headers move up by n rounded down to even (the frame now starts there, still 2-byte
// aligned; an odd n also moves the payload left back by one byte), lengths, seq and
// checksums are fixed and `v` describes the shorter frame, v.len bytes from v.data.
void cut_payload_front(FrameView& v, std::uint16_t n) noexcept;

struct L2Addresses {
  rte_ether_addr src;
  rte_ether_addr dst;
};

// Writes a whole Ethernet/IPv4/TCP frame Postern originates (addresses and ports in network
// order, `win_be` the raw window field); options must be a multiple of 4 bytes. Returns the
// frame length, 0 if it does not fit in `cap`.
std::uint16_t write_segment(std::uint8_t* out, std::uint16_t cap, const L2Addresses& l2,
                            std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t sport,
                            std::uint16_t dport, Seq seq, Seq ack, std::uint8_t flags,
                            std::uint16_t win_be, const std::uint8_t* opts, std::uint8_t opts_len,
                            const std::uint8_t* payload, std::uint16_t payload_len) noexcept;

// The window field a client segment's `win` (host order) becomes towards the server: itself,
// unless the SYN proxy told the client window scaling was on and the server declined it, when
// the server reads it unscaled (so it is scaled here, capped at 65535).
std::uint16_t window_to_server(const Flow& f, std::uint16_t win) noexcept;

// Writes the complete Ethernet frame of the PROXY v2 header segment to `out` (seq = the
// server-side first byte, ack = server ISN + 1, PSH|ACK, the client's window and latest
// timestamps). Returns the frame length, 0 if `cap` is too small.
std::uint16_t build_header_segment(std::uint8_t* out, std::uint16_t cap, const Flow& f,
                                   const L2Addresses& l2) noexcept;

// Length of the PROXY v2 header the flow's server receives.
std::uint16_t flow_header_length(const Flow& f) noexcept;

// The PROXY v2 header bytes for a flow (what build_header_segment carries).
std::uint16_t encode_flow_header(const Flow& f, std::uint8_t* out, std::uint16_t cap) noexcept;

// A SYN to the flow's current server carrying the client's original SYN options (its TSval
// moved into the server-side clock).
std::uint16_t build_syn(std::uint8_t* out, std::uint16_t cap, const Flow& f,
                        const L2Addresses& l2) noexcept;

// A RST (|ACK when `with_ack`) from `src` to `dst` (network order addresses and ports).
std::uint16_t build_rst(std::uint8_t* out, std::uint16_t cap, const L2Addresses& l2,
                        std::uint32_t src_ip, std::uint16_t src_port, std::uint32_t dst_ip,
                        std::uint16_t dst_port, Seq seq, Seq ack, bool with_ack) noexcept;

// The RST answering segment `v` (RFC 9293 section 3.10.7.1): if it carried ACK, seq = its ack;
// otherwise seq 0 and ack = its seq + its length. Written into `out`.
std::uint16_t build_rst_reply(std::uint8_t* out, std::uint16_t cap, const FrameView& v) noexcept;

}  // namespace postern::dataplane
