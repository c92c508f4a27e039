// `log` targets: formats, addresses, syslog numbers (see log_target.hpp).
#include "postern/config/log_target.hpp"

#include <algorithm>

#include "text.hpp"

namespace postern::config {
namespace {

constexpr std::string_view kFormatNames[] = {"local", "rfc3164", "rfc5424", "priority",
                                             "short", "timed",   "iso",     "raw"};
constexpr std::uint16_t kSyslogPort = 514;

std::optional<std::uint8_t> index_of(std::string_view word,
                                     std::span<const std::string_view> list) {
  const auto it = std::find(list.begin(), list.end(), word);
  if (it == list.end()) {
    return std::nullopt;
  }
  return static_cast<std::uint8_t>(it - list.begin());
}

// An IP address with an optional port: "1.2.3.4", "1.2.3.4:514", "[::1]", "[::1]:514".
std::optional<Endpoint> udp_endpoint(std::string_view text) {
  if (auto address = IpAddress::parse(text)) {
    return Endpoint{*address, kSyslogPort};
  }
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    if (auto address = IpAddress::parse(text.substr(1, text.size() - 2))) {
      return Endpoint{*address, kSyslogPort};
    }
  }
  auto endpoint = Endpoint::parse(text);
  if (endpoint && endpoint->port == 0) {
    return std::nullopt;
  }
  return endpoint;
}

}  // namespace

std::span<const std::string_view> log_format_names() {
  return kFormatNames;
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (auto i = index_of(name, kFormatNames)) {
    return static_cast<LogFormat>(*i);
  }
  return std::nullopt;
}

std::optional<LogAddress> parse_log_address(std::string_view text, std::string& error) {
  LogAddress out;
  if (text == "stdout" || text == "fd@1") {
    out.kind = LogAddress::Kind::kStdout;
    return out;
  }
  if (text == "stderr" || text == "fd@2") {
    out.kind = LogAddress::Kind::kStderr;
    return out;
  }
  std::string_view rest = text;
  if (rest.starts_with("unix@")) {
    rest.remove_prefix(5);
    if (!rest.starts_with("/")) {
      error = "a UNIX socket path must be absolute";
      return std::nullopt;
    }
  }
  if (rest.starts_with("/")) {
    out.kind = LogAddress::Kind::kUnix;
    out.path = std::string(rest);
    return out;
  }
  std::optional<Family> family;
  for (const auto& [prefix, f] : {std::pair{"udp4@", Family::kIpv4},
                                  {"ipv4@", Family::kIpv4},
                                  {"udp6@", Family::kIpv6},
                                  {"ipv6@", Family::kIpv6}}) {
    if (rest.starts_with(prefix)) {
      rest.remove_prefix(std::string_view(prefix).size());
      family = f;
    }
  }
  if (!family && rest.starts_with("udp@")) {
    rest.remove_prefix(4);
  }
  if (auto endpoint = udp_endpoint(rest)) {
    if (family && endpoint->address.family != *family) {
      error = "the address is not of the family its prefix names";
      return std::nullopt;
    }
    out.udp = *endpoint;
    return out;
  }
  if (const auto at = text.find('@'); at != std::string_view::npos) {
    // Built by appends: GCC 12 sees a false overlap in the chain of + (-Wrestrict).
    error.assign(1, '\'');
    error.append(text.substr(0, at + 1));
    error.append(
        "' targets are not supported by Postern (UDP, UNIX datagram sockets, stdout and stderr "
        "are)");
  } else {
    error = "expects an IP address with an optional port, a UNIX socket path, stdout or stderr";
  }
  return std::nullopt;
}

std::optional<std::uint8_t> syslog_facility_code(std::string_view name) {
  return index_of(name, syslog_facilities());
}

std::optional<std::uint8_t> syslog_level_code(std::string_view name) {
  return index_of(name, syslog_levels());
}

}  // namespace postern::config
