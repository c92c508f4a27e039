// IP addresses, prefixes and endpoints as the configuration names them; plain data, no DPDK.
// The dataplane compiles these into its own wire-order representation.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::config {

enum class Family : std::uint8_t { kIpv4 = 4, kIpv6 = 6 };

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first four bytes).
struct IpAddress {
  Family family = Family::kIpv4;
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(std::uint32_t host_order);
  std::string to_string() const;
  bool is_any() const;  // 0.0.0.0 or ::
  std::uint32_t v4_host_order() const;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct IpPrefix {
  IpAddress address;
  std::uint8_t length = 0;

  // "198.18.0.1/24" or "2001:db8::1/64"; a bare address is a host prefix.
  static std::optional<IpPrefix> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
  friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
};

struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  // "1.2.3.4:143", "[2001:db8::1]:143", ":::143" and "*:143" as HAProxy accepts them.
  static std::optional<Endpoint> parse(std::string_view text);
  std::string to_string() const;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace postern::config
