// Word-level helpers shared by the haproxy.cfg and YAML readers: numbers, durations with
// HAProxy's units, hex strings, and the "did you mean" suggestion for misspelt keywords.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "postern/config/model.hpp"

namespace postern::config {

// A value parsed from one word, or why the word is not one.
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;
};

// HAProxy caps timers at 2^31-1 ms ("maximum value is 2147483647 ms or ~24.8 days").
constexpr Millis kMaxDuration = 2147483647;

// "10s", "250ms", "1m", "500us" (rounded up to 1 ms), "2h", "1d"; no unit means milliseconds,
// as parse_time_err(TIME_UNIT_MS) does in HAProxy's src/tools.c.
Parsed<Millis> parse_duration(std::string_view text);

// The largest unit that prints `ms` exactly: "10s", "1m", "250ms".
std::string format_duration(Millis ms);

// Decimal digits only, at most `max`.
Parsed<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t max);

// An even number of hex digits, returned in lower case.
Parsed<std::string> parse_hex(std::string_view text);

// `text` in single quotes, as diagnostics name a word.
std::string quoted(std::string_view text);

std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when close enough to be a typo, else empty.
std::string closest(std::string_view word, std::span<const std::string_view> candidates);

// "did you mean 'x'?" for the closest candidate, or empty.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

bool is_one_of(std::string_view word, std::span<const std::string_view> words);

// The syslog facility and level names HAProxy's `log` accepts (src/log.c).
std::span<const std::string_view> syslog_facilities();
std::span<const std::string_view> syslog_levels();

}  // namespace postern::config
