// What a `log` target means, for the validator and for the control thread that sends the lines:
// where it goes (HAProxy 2.6's address forms), its message format, and syslog's numbers for
// the facility and level names (RFC 5424 section 6.2.1).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "postern/config/address.hpp"

namespace postern::config {

// HAProxy's `format` values (configuration.txt, `log`): local is RFC 3164 without the host
// name, the default unless `log-send-hostname` makes it rfc3164.
enum class LogFormat : std::uint8_t {
  kLocal,
  kRfc3164,
  kRfc5424,
  kPriority,
  kShort,
  kTimed,
  kIso,
  kRaw,
};

std::span<const std::string_view> log_format_names();
std::optional<LogFormat> parse_log_format(std::string_view name);

// HAProxy's `len` bounds (src/log.c: "log len must be between 80 and 65535") and default.
inline constexpr std::uint32_t kLogLenMin = 80;
inline constexpr std::uint32_t kLogLenMax = 65535;
inline constexpr std::uint32_t kLogLenDefault = 1024;

// Where a target's messages go.
struct LogAddress {
  enum class Kind : std::uint8_t { kUdp, kUnix, kStdout, kStderr };
  Kind kind = Kind::kUdp;
  Endpoint udp;      // kUdp; port 514 unless given
  std::string path;  // kUnix: a datagram socket such as /dev/log
};

// "10.0.0.1", "10.0.0.1:514", "[2001:db8::1]:514", "udp@...", "udp4@...", "udp6@...",
// "/dev/log", "unix@/dev/log", "stdout", "stderr", "fd@1", "fd@2". Anything else (ring@, tcp@,
// other descriptors, host names) sets `error`.
std::optional<LogAddress> parse_log_address(std::string_view text, std::string& error);

// Syslog numbers: facility (kern 0 ... local7 23) and severity (emerg 0 ... debug 7).
std::optional<std::uint8_t> syslog_facility_code(std::string_view name);
std::optional<std::uint8_t> syslog_level_code(std::string_view name);

}  // namespace postern::config
