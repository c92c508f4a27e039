// Address and SYN option screening (RFC 1812 section 5.3.7 martian addresses, RFC 1122
// section 4.2.3.10, RFC 7323).
#include "net/screen.hpp"

#include <rte_byteorder.h>

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kOptEnd = 0;
constexpr std::uint8_t kOptNop = 1;
constexpr std::uint8_t kOptMss = 2;
constexpr std::uint8_t kOptWscale = 3;
constexpr std::uint8_t kOptSackPermitted = 4;
constexpr std::uint8_t kOptTimestamp = 8;
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

DropReason screen_addresses(const FrameView& v) noexcept {
  const std::uint8_t src = first_octet(v.ip->src_addr);
  // "This host on this network" (0/8) and loopback (127/8) never arrive from a wire, and a
  // group or broadcast address never sends (RFC 1812 section 5.3.7). Answering one would
  // aim a RST at a whole segment.
  if (src == 0 || src == 127 || group_or_reserved(src) || ether_group(v.eth->src_addr)) {
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
  std::uint16_t i = 0;
  while (i < len) {
    const std::uint8_t kind = opts[i];
    if (kind == kOptEnd) {
      return true;
    }
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      return false;  // a kind with no length byte left
    }
    const std::uint8_t olen = opts[i + 1];
    if (olen < 2 || i + olen > len) {
      return false;
    }
    switch (kind) {
      case kOptMss:
        if (olen != 4) {
          return false;
        }
        break;
      case kOptWscale:
        if (olen != 3 || opts[i + 2] > kMaxWscale) {
          return false;
        }
        break;
      case kOptSackPermitted:
        if (olen != 2) {
          return false;
        }
        break;
      case kOptTimestamp:
        if (olen != 10) {
          return false;
        }
        break;
      default:
        break;
    }
    i = static_cast<std::uint16_t>(i + olen);
  }
  return true;
}

}  // namespace postern::dataplane
