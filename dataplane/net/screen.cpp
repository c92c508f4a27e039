// Address and SYN option screening (RFC 1812 section 5.3.7 martian addresses, RFC 1122
// section 4.2.3.10, RFC 7323).
#include "net/screen.hpp"

#include <rte_byteorder.h>

#include "net/tcp_options.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kMaxWscale = 14;

// The first octet of a network-order IPv4 address.
std::uint8_t first_octet(std::uint32_t be) noexcept {
  return static_cast<std::uint8_t>(rte_be_to_cpu_32(be) >> 24);
}

// Multicast (224/4) and the reserved class E with the limited broadcast (240/4).
bool group_or_reserved(std::uint8_t octet) noexcept {
  return octet >= 224;
}

bool ether_group(const rte_ether_addr& a) noexcept {
  return (a.addr_bytes[0] & 0x01) != 0;
}

}  // namespace

bool martian_source(const FrameView& v) noexcept {
  const std::uint8_t src = first_octet(v.ip->src_addr);
  // "This host on this network" (0/8) and loopback (127/8) never arrive from a wire, and a
  // group or broadcast address never sends (RFC 1812 section 5.3.7). Answering one would
  // aim a RST or an echo reply at a whole segment.
  return src == 0 || src == 127 || group_or_reserved(src) || ether_group(v.eth->src_addr);
}

DropReason screen_addresses(const FrameView& v) noexcept {
  if (martian_source(v)) {
    return DropReason::kMartianSource;
  }
  if (group_or_reserved(first_octet(v.ip->dst_addr)) || ether_group(v.eth->dst_addr)) {
    return DropReason::kMartianDestination;
  }
  if (v.ip->src_addr == v.ip->dst_addr) {
    return DropReason::kLand;
  }
  return DropReason::kCount;
}

bool syn_options_valid(const std::uint8_t* opts, std::uint16_t len) noexcept {
  bool lengths_right = true;
  const bool well_formed =
      walk_tcp_options(opts, len, [&](std::uint16_t i, std::uint8_t kind, std::uint8_t olen) {
        switch (kind) {
          case kTcpOptMss:
            lengths_right = olen == 4;
            break;
          case kTcpOptWscale:
            lengths_right = olen == 3 && opts[i + 2] <= kMaxWscale;
            break;
          case kTcpOptSackPermitted:
            lengths_right = olen == 2;
            break;
          case kTcpOptTimestamp:
            lengths_right = olen == 10;
            break;
          default:
            break;
        }
        return lengths_right;
      });
  return well_formed && lengths_right;
}

}  // namespace postern::dataplane
