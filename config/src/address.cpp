// Parsing and printing of IP addresses, prefixes and endpoints; the text forms follow HAProxy's
// address syntax (doc/configuration.txt section 11) so a haproxy.cfg bind line reads as is.
#include "postern/config/address.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "host_port.hpp"
#include "text.hpp"

namespace postern::config {
namespace {

constexpr std::size_t kIpv4Bytes = 4;
constexpr std::size_t kIpv6Bytes = 16;

std::size_t byte_count(Family family) {
  return family == Family::kIpv4 ? kIpv4Bytes : kIpv6Bytes;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

// A word that could only be a DNS name: HAProxy resolves those at start-up, Postern does not.
bool looks_like_hostname(std::string_view text) {
  bool has_letter = false;
  for (unsigned char c : text) {
    if (std::isalpha(c) != 0) {
      has_letter = true;
    } else if (std::isdigit(c) == 0 && c != '.' && c != '-') {
      return false;
    }
  }
  return has_letter;
}

HostPortResult fail(std::string error, std::string hint = {}) {
  HostPortResult result;
  result.error = std::move(error);
  result.hint = std::move(hint);
  return result;
}

enum class ForcedFamily : std::uint8_t { kAny, kIpv4, kIpv6 };

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short, so copy.
  const std::string copy(text);
  IpAddress address;
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    address.family = Family::kIpv4;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.family = Family::kIpv6;
    return address;
  }
  return std::nullopt;
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
  IpAddress address;
  address.family = Family::kIpv4;
  address.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  address.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  address.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  address.bytes[3] = static_cast<std::uint8_t>(host_order);
  return address;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  const int af = family == Family::kIpv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buffer, sizeof(buffer)) == nullptr) {
    return {};
  }
  return buffer;
}

bool IpAddress::is_any() const {
  const auto end = bytes.begin() + static_cast<std::ptrdiff_t>(byte_count(family));
  return std::all_of(bytes.begin(), end, [](std::uint8_t b) { return b == 0; });
}

std::uint32_t IpAddress::v4_host_order() const {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) {
    return std::nullopt;
  }
  const unsigned max_length = address->family == Family::kIpv4 ? 32 : 128;
  unsigned length = max_length;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (!all_digits(digits) || digits.size() > 3) {
      return std::nullopt;
    }
    std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (length > max_length) {
      return std::nullopt;
    }
  }
  IpPrefix prefix;
  prefix.address = *address;
  prefix.length = static_cast<std::uint8_t>(length);
  return prefix;
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family != address.family) {
    return false;
  }
  const std::size_t whole_bytes = length / 8;
  if (!std::equal(a.bytes.begin(), a.bytes.begin() + static_cast<std::ptrdiff_t>(whole_bytes),
                  address.bytes.begin())) {
    return false;
  }
  const unsigned rest_bits = length % 8;
  if (rest_bits == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest_bits));
  return (a.bytes[whole_bytes] & mask) == (address.bytes[whole_bytes] & mask);
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

HostPortResult parse_host_port(std::string_view text, PortRule rule) {
  const std::string whole(text);
  ForcedFamily forced = ForcedFamily::kAny;

  // Family prefixes, HAProxy doc section 11.1 and 11.3; only the TCP-over-IP ones make sense for
  // a packet balancer.
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    const std::string_view prefix = text.substr(0, at);
    if (prefix == "ip" || prefix == "tcp") {
      forced = ForcedFamily::kAny;
    } else if (prefix == "ipv4" || prefix == "tcp4") {
      forced = ForcedFamily::kIpv4;
    } else if (prefix == "ipv6" || prefix == "tcp6") {
      forced = ForcedFamily::kIpv6;
    } else {
      return fail(quoted(std::string(prefix) + "@") +
                  " addresses are not supported; Postern balances TCP over IPv4 and IPv6");
    }
    text.remove_prefix(at + 1);
  }
  if (!text.empty() && text.front() == '/') {
    return fail("UNIX socket '" + std::string(text) + "' is not supported; use an IP address");
  }

  std::string_view host;
  std::optional<std::string_view> port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return fail("missing ']' in address '" + whole + "'");
    }
    bracketed = true;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return fail("unexpected '" + std::string(rest) + "' after ']' in address '" + whole + "'");
      }
      port_text = rest.substr(1);
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    // The port is always after the last colon, IPv6 included (doc "bind" <port_range>).
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  } else {
    host = text;
  }

  IpAddress address;
  if (host.empty() || host == "*") {
    // '*' and an empty host are HAProxy's "every IPv4 address"; '::' says the IPv6 one.
    if (bracketed && host.empty()) {
      return fail("empty address in '" + whole + "'");
    }
    if (forced == ForcedFamily::kIpv6) {
      address.family = Family::kIpv6;
    }
  } else if (auto parsed = IpAddress::parse(host)) {
    address = *parsed;
  } else if (looks_like_hostname(host)) {
    return fail("host name '" + std::string(host) + "' is not supported", "use an IP address");
  } else if (!bracketed && IpAddress::parse(text) && text.find(':') != std::string_view::npos) {
    return fail(quoted(whole) + " is an IPv6 address without a port",
                "HAProxy takes the port after the last colon; write '[" + std::string(text) +
                    "]:PORT', or '[" + std::string(text) + "]' for no port");
  } else {
    return fail("invalid address '" + whole + "'");
  }
  if (forced == ForcedFamily::kIpv4 && address.family != Family::kIpv4) {
    return fail(quoted(whole) + " is not an IPv4 address");
  }
  if (forced == ForcedFamily::kIpv6 && address.family != Family::kIpv6) {
    return fail(quoted(whole) + " is not an IPv6 address");
  }

  HostPort result{address, std::nullopt};
  if (port_text && !port_text->empty()) {
    const std::string_view p = *port_text;
    if (p.front() == '+' || p.front() == '-') {
      return fail("port offset '" + std::string(p) + "' in '" + whole + "' is not supported",
                  "give the server a fixed port");
    }
    if (const auto dash = p.find('-');
        dash != std::string_view::npos && all_digits(p.substr(0, dash))) {
      return fail("port ranges are not supported ('" + whole + "')");
    }
    if (!all_digits(p) || p.size() > 5) {
      return fail("invalid port '" + std::string(p) + "' in '" + whole + "'");
    }
    unsigned value = 0;
    std::from_chars(p.data(), p.data() + p.size(), value);
    if (value > 65535) {
      return fail("port " + std::string(p) + " in '" + whole + "' is out of range (0-65535)");
    }
    result.port = static_cast<std::uint16_t>(value);
  }
  if (rule == PortRule::kRequired && !result.port) {
    return fail("missing port in address '" + whole + "'");
  }
  HostPortResult ok;
  ok.value = result;
  return ok;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  const HostPortResult result = parse_host_port(text, PortRule::kRequired);
  if (!result.value) {
    return std::nullopt;
  }
  return Endpoint{result.value->address, *result.value->port};
}

std::string Endpoint::to_string() const {
  if (address.family == Family::kIpv6) {
    std::string out = "[";
    out += address.to_string();
    out += "]:";
    out += std::to_string(port);
    return out;
  }
  return address.to_string() + ":" + std::to_string(port);
}

}  // namespace postern::config
