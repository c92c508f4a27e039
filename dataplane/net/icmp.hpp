// ICMPv4 for the splice: reading and translating errors that quote a flow's packet (so path
// MTU discovery works through Postern), building the errors Postern originates, echo replies
// and the rate limit on what Postern sends by itself. Pure functions over header views; the
// worker finds the flow and supplies the numbers.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>

#include <cstdint>

#include "net/frame.hpp"
#include "net/seq.hpp"

namespace postern::dataplane {

inline constexpr std::uint8_t kIcmpEchoReply = 0;
inline constexpr std::uint8_t kIcmpDestUnreachable = 3;
inline constexpr std::uint8_t kIcmpEchoRequest = 8;
inline constexpr std::uint8_t kIcmpTimeExceeded = 11;
inline constexpr std::uint8_t kIcmpParameterProblem = 12;
inline constexpr std::uint8_t kIcmpCodeFragNeeded = 4;   // type 3 (RFC 1191 section 4)
inline constexpr std::uint8_t kIcmpCodeTtlExceeded = 0;  // type 11: in transit

// An ICMP error's quote of the packet that caused it (RFC 792: IP header plus at least the
// first 8 bytes of its data). Pointers are into the frame the quote was parsed from.
struct IcmpQuote {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  rte_ipv4_hdr* ip = nullptr;   // the quoted IPv4 header
  std::uint8_t* tcp = nullptr;  // the quoted TCP bytes
  std::uint16_t ip_hlen = 0;    // quoted IPv4 header length with options
  std::uint16_t tcp_len = 0;    // quoted TCP bytes present (8 or more)
  rte_be32_t src = 0;           // quoted addresses and ports as they sit in the quote
  rte_be32_t dst = 0;
  rte_be16_t sport = 0;
  rte_be16_t dport = 0;
  Seq seq;                        // the quoted sequence number
  bool has_ack = false;           // bytes 8..11 of the TCP header are quoted
  bool has_tcp_checksum = false;  // bytes 16..17 are quoted
};

// Reads an ICMP error that quotes a TCP segment: types 3 (destination unreachable, every
// code), 11 (time exceeded) and 12 (parameter problem: its pointer indexes the quoted
// header, whose layout translation keeps). `v` is a frame parse_frame classified kIcmp4,
// and its ICMP checksum must be right. The quote must hold an IPv4 header (version 4,
// IHL >= 5, protocol TCP, first fragment) and at least 8 bytes of TCP (ports and sequence
// number); an RFC 4884 length, when set, bounds the quote (extensions after it are kept).
// The quoted IP checksum is not verified: some routers quote the header as they were about
// to forward it (TTL decremented, checksum not), and the quote is matched to a flow by its
// 4-tuple and given a fresh checksum anyway, so a stale one changes nothing. Returns false
// for anything else (queries, redirects, source quench, truncated or non-TCP quotes).
bool parse_icmp_error(const FrameView& v, IcmpQuote& q) noexcept;

struct IcmpTranslation {
  rte_be32_t outer_src = 0;  // the translated error's IPv4 source and destination
  rte_be32_t outer_dst = 0;
  rte_be32_t quoted_src = 0;  // the quoted packet as its receiver-side sender wrote it
  rte_be32_t quoted_dst = 0;
  rte_be16_t quoted_sport = 0;
  rte_be16_t quoted_dport = 0;
  std::int32_t seq_shift = 0;  // added to the quoted sequence number
  std::int32_t ack_shift = 0;  // added to the quoted ack number when it is quoted
};

// Rewrites in place the error `q` was parsed from so that it reaches the other side of the
// flow as if it quoted that side's own packet: outer addresses (TTL 64, since Postern is
// the error's source on that side; header checksum recomputed), quoted addresses (quoted
// header checksum recomputed), ports, sequence and, when quoted, acknowledgment numbers.
// The quoted TCP checksum, when quoted, is updated incrementally (RFC 1624) for the
// addresses, ports and numbers, so it stays what the receiver's own packet carried. The
// ICMP checksum is recomputed over the whole message. The rest of the ICMP header (the
// next-hop MTU of "fragmentation needed", RFC 1191 section 4) and the frame length are
// kept; Ethernet addresses are left to the worker, which knows the next hop.
void translate_icmp_error(FrameView& v, const IcmpQuote& q, const IcmpTranslation& t) noexcept;

// Writes an Ethernet + IPv4 + ICMP error frame to `out`, from `src_ip` to the source of
// `offending` (a parsed IPv4 frame), quoting its IP header and as much of its datagram as
// keeps the error datagram within 576 bytes (RFC 1812 section 4.3.2.3). The four bytes
// after the ICMP checksum are zero, so the type must not need a parameter there (this is
// for "time exceeded in transit", type 11 code 0). Precedence is internetwork control
// (RFC 1812 section 4.3.2.5); DF is set with IP ID 0 (an atomic datagram, RFC 6864
// section 4.1). Returns the frame length, or 0 when `cap` is too small or when RFC 1122
// section 3.2.2 forbids an error about this packet (an ICMP error, a non-initial fragment,
// a broadcast or multicast destination, a source that is not a single host).
std::uint16_t build_icmp_error(std::uint8_t* out, std::uint16_t cap, const rte_ether_addr& src_mac,
                               const rte_ether_addr& dst_mac, rte_be32_t src_ip, std::uint8_t type,
                               std::uint8_t code, const FrameView& offending) noexcept;

// Turns an echo request into its reply in place (RFC 792): Ethernet and IPv4 addresses
// swapped, TTL 64, type 0, checksums fixed. Returns the frame length to trim the buffer to
// (Ethernet padding dropped), or 0, frame untouched, when `v` is not an echo request or its
// ICMP checksum is wrong (a host discards it).
std::uint16_t make_echo_reply(FrameView& v) noexcept;

// A token bucket on the ICMP messages a worker originates (echo replies, time exceeded), so
// Postern cannot be used to reflect traffic at a spoofed source. Defaults are Linux's
// global limit (net.ipv4.icmp_msgs_per_sec = 1000, icmp_msgs_burst = 50), applied per
// worker; Linux adds a per-destination limit Postern does without, as it has no peer table.
// Credit is kept in thousandths of a token so rates need no floating point.
class IcmpRateLimit {
 public:
  static constexpr std::uint32_t kDefaultPerSecond = 1000;
  static constexpr std::uint32_t kDefaultBurst = 50;

  // `per_second` tokens are added each second, up to `burst`; the bucket starts full.
  // A burst of 0 allows nothing; a rate of 0 allows the first `burst` messages only.
  explicit IcmpRateLimit(std::uint32_t per_second = kDefaultPerSecond,
                         std::uint32_t burst = kDefaultBurst) noexcept;

  // Takes a token if one is there. `now_ms` is the worker's clock; a clock that goes back
  // adds nothing.
  bool allow(std::uint64_t now_ms) noexcept;

 private:
  static constexpr std::uint64_t kUnit = 1000;  // credit per token

  std::uint64_t per_second_;
  std::uint64_t capacity_;
  std::uint64_t credit_;
  std::uint64_t last_ms_ = 0;
};

}  // namespace postern::dataplane
