// Static dataplane settings (not reloadable): ports, addresses, routes, sizes. Filled by the
// control thread from the `dataplane:` config section.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postern::dataplane {

struct InterfaceSettings {
  std::string name;
  std::string device;    // PCI address or vdev string
  std::uint32_t ip = 0;  // network order
  std::uint8_t prefix_len = 0;
  // Filled once the port is up.
  std::uint16_t port_id = 0;
  rte_ether_addr mac{};

  bool on_link(std::uint32_t addr_be) const noexcept;
};

struct RouteSettings {
  std::uint32_t prefix = 0;  // network order
  std::uint8_t prefix_len = 0;
  std::uint32_t via = 0;
};

struct Settings {
  std::vector<std::string> eal_args;
  std::uint32_t workers = 1;
  std::uint32_t flows = 262144;
  std::vector<InterfaceSettings> interfaces;
  std::vector<RouteSettings> routes;
  std::vector<std::uint32_t> source_addresses;  // network order
};

// Where a packet to `dst` leaves: the interface index in Settings::interfaces and the next hop
// to resolve (the destination itself on a connected subnet, else the longest-prefix route's
// gateway). nullopt: no route.
struct NextHop {
  std::uint32_t interface = 0;
  std::uint32_t next_hop = 0;
};
std::optional<NextHop> route_lookup(const Settings& s, std::uint32_t dst_be) noexcept;

}  // namespace postern::dataplane
