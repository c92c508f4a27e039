// Screening of a TCP segment before any flow lookup (net/ stage of the walk): addresses no
// host would answer (martians, land) and SYN options no host would accept. Each verdict is a
// named drop; nothing here ever leads to a reply, so a forged source learns nothing.
#pragma once

#include <cstdint>

#include "net/frame.hpp"
#include "postern/dataplane/drop_reason.hpp"

namespace postern::dataplane {

// A source no host sends from: an IPv4 source in 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 or
// 240.0.0.0/4 (255.255.255.255 included), or an Ethernet source with the group bit. ICMP is
// screened by this alone (an echo request in a broadcast frame is answered, as Linux does by
// default); TCP by screen_addresses.
bool martian_source(const FrameView& v) noexcept;

// Martian and broadcast checks on the addresses alone: kMartianSource for an IPv4 source in
// 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 or 240.0.0.0/4 (255.255.255.255 included) or an
// Ethernet source with the group bit; kMartianDestination for a multicast or reserved IPv4
// destination or a frame sent to an Ethernet group address (TCP is unicast, RFC 1122
// section 4.2.3.10; Linux's tcp_v4_rcv drops what is not addressed to the host). kLand when
// the source equals the destination. kCount when none applies.
DropReason screen_addresses(const FrameView& v) noexcept;

// RFC 9293 section 3.1 and the options' own RFCs: every option of a SYN or SYN-ACK is well
// formed (length byte present, at least 2, within the header), MSS is 4 bytes, window scale 3
// bytes with a shift of at most 14 (RFC 7323 section 2.3), SACK-permitted 2 bytes, timestamps
// 10 bytes (RFC 7323 section 3.2). What follows an end-of-list option is padding.
bool syn_options_valid(const std::uint8_t* opts, std::uint16_t len) noexcept;

// Everything above for one TCP segment; `is_ours(ip)` says whether an address belongs to
// Postern (a VIP, a source address, an interface address): such a source is a land attack
// too. SYN options are checked on SYN segments only. kCount: the segment may go on.
template <class IsOurs>
DropReason screen_tcp(const FrameView& v, IsOurs&& is_ours) noexcept {
  const DropReason r = screen_addresses(v);
  if (r != DropReason::kCount) {
    return r;
  }
  if (is_ours(v.ip->src_addr)) {
    return DropReason::kLand;
  }
  if ((v.tcp->tcp_flags & 0x02) != 0 && !syn_options_valid(v.tcp_options(), v.tcp_options_len())) {
    return DropReason::kBadTcpOptions;
  }
  return DropReason::kCount;
}

}  // namespace postern::dataplane
