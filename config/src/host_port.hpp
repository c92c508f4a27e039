// Address text as HAProxy's `bind`, `server` and `addr` arguments write it, with the reason when
// it is not one Postern can use. Internal to the config module; Endpoint::parse builds on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postern/config/address.hpp"

namespace postern::config {

enum class PortRule : std::uint8_t { kRequired, kOptional };

struct HostPort {
  IpAddress address;
  std::optional<std::uint16_t> port;  // empty when the text gave none
};

struct HostPortResult {
  std::optional<HostPort> value;
  std::string error;  // set when value is empty
  std::string hint;
};

// Accepts "1.2.3.4:143", "[2001:db8::1]:143", "2001:db8::1:143" (the port follows the last
// colon, as HAProxy reads IPv6), ":143" and "*:143" (0.0.0.0), ":::143" (::), the "ip@",
// "ipv4@", "ipv6@", "tcp@", "tcp4@" and "tcp6@" prefixes, and "1.2.3.4" or "1.2.3.4:" without a
// port when `rule` allows it.
HostPortResult parse_host_port(std::string_view text, PortRule rule);

}  // namespace postern::config
