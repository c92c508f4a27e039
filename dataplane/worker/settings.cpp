// Connected-subnet and static-route lookup, used when servers are compiled into a snapshot.
#include "postern/dataplane/settings.hpp"

#include <rte_byteorder.h>

namespace postern::dataplane {
namespace {
bool prefix_match(std::uint32_t a_be, std::uint32_t b_be, std::uint8_t len) noexcept {
  if (len == 0) {
    return true;
  }
  const std::uint32_t mask = len >= 32 ? 0xffffffffU : ~((1U << (32 - len)) - 1);
  return (rte_be_to_cpu_32(a_be) & mask) == (rte_be_to_cpu_32(b_be) & mask);
}
}  // namespace

bool InterfaceSettings::on_link(std::uint32_t addr_be) const noexcept {
  return prefix_match(ip, addr_be, prefix_len);
}

std::optional<NextHop> route_lookup(const Settings& s, std::uint32_t dst_be) noexcept {
  for (std::uint32_t i = 0; i < s.interfaces.size(); ++i) {
    if (s.interfaces[i].on_link(dst_be)) {
      return NextHop{i, dst_be};
    }
  }
  const RouteSettings* best = nullptr;
  for (const auto& r : s.routes) {
    if (prefix_match(r.prefix, dst_be, r.prefix_len) &&
        (best == nullptr || r.prefix_len > best->prefix_len)) {
      best = &r;
    }
  }
  if (best == nullptr) {
    return std::nullopt;
  }
  for (std::uint32_t i = 0; i < s.interfaces.size(); ++i) {
    if (s.interfaces[i].on_link(best->via)) {
      return NextHop{i, best->via};
    }
  }
  return std::nullopt;
}

}  // namespace postern::dataplane
