// Numbers, durations, hex strings and keyword suggestions, the words every config line is made of.
#include "text.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace postern::config {

std::string quoted(std::string_view text) {
  // Appended piece by piece: GCC 12 at -O3 takes `"'" + std::string(...)`, which prepends
  // one character in place, for an overlapping memcpy (a -Wrestrict false positive, GCC bug
  // 105329).
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

Parsed<Millis> parse_duration(std::string_view text) {
  Parsed<Millis> result;
  std::size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (value > std::uint64_t{kMaxDuration} * 1000) {
      value = std::uint64_t{kMaxDuration} * 1000 + 1;  // saturate: it overflows whatever the unit
    }
    ++i;
  }
  if (i == 0) {
    result.error =
        quoted(text) + " is not a duration (a number with an optional unit us, ms, s, m, h or d)";
    return result;
  }
  const std::string_view unit = text.substr(i);
  std::uint64_t ms = 0;
  if (unit.empty() || unit == "ms") {
    ms = value;
  } else if (unit == "us") {
    ms = (value + 999) / 1000;  // HAProxy rounds up so a non-zero timer never becomes 0
  } else if (unit == "s") {
    ms = value * 1000;
  } else if (unit == "m") {
    ms = value * 60 * 1000;
  } else if (unit == "h") {
    ms = value * 3600 * 1000;
  } else if (unit == "d") {
    ms = value * 86400 * 1000;
  } else {
    // HAProxy 2.6 only warns about trailing characters and says it will become an error.
    result.error = "unknown time unit '" + std::string(unit) + "' in '" + std::string(text) +
                   "' (units: us, ms, s, m, h, d)";
    return result;
  }
  if (ms > static_cast<std::uint64_t>(kMaxDuration)) {
    result.error = "timer overflow in '" + std::string(text) +
                   "' (maximum value is 2147483647 ms or ~24.8 days)";
    return result;
  }
  result.value = static_cast<Millis>(ms);
  return result;
}

std::string format_duration(Millis ms) {
  struct Unit {
    Millis size;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  if (ms != 0) {
    for (const Unit& unit : kUnits) {
      if (ms % unit.size == 0) {
        return std::to_string(ms / unit.size) + unit.suffix;
      }
    }
  }
  return std::to_string(ms) + "ms";
}

Parsed<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t max) {
  Parsed<std::uint64_t> result;
  if (text.empty() || !std::all_of(text.begin(), text.end(),
                                   [](unsigned char c) { return std::isdigit(c) != 0; })) {
    result.error = quoted(text) + " is not a non-negative integer";
    return result;
  }
  std::uint64_t value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > max) {
      result.error = std::string(text) + " is out of range (maximum " + std::to_string(max) + ")";
      return result;
    }
  }
  result.value = value;
  return result;
}

Parsed<std::string> parse_hex(std::string_view text) {
  Parsed<std::string> result;
  if (text.empty() || text.size() % 2 != 0) {
    result.error = quoted(text) + " is not an even number of hex digits";
    return result;
  }
  std::string lower;
  lower.reserve(text.size());
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      result.error = quoted(text) + " has a non-hex character " + quoted({&c, 1});
      return result;
    }
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  result.value = std::move(lower);
  return result;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance: Levenshtein plus swapping two neighbours as one edit,
  // the commonest typo ("tpc" for "tcp").
  const std::size_t width = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * width);
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
  for (std::size_t i = 0; i <= a.size(); ++i) {
    at(i, 0) = i;
  }
  for (std::size_t j = 0; j <= b.size(); ++j) {
    at(0, j) = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(a.size(), b.size());
}

std::string closest(std::string_view word, std::span<const std::string_view> candidates) {
  // A typo is a few edits; the allowance grows with the word so "chek" finds "check" but "foo"
  // does not find "log".
  const std::size_t allowed = word.size() <= 3 ? 1 : (word.size() <= 6 ? 2 : 3);
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (std::string_view candidate : candidates) {
    // The distance is at least the difference in length: skip what cannot be close, so a long
    // unknown word costs no full table per keyword (the fuzzer spent its time here).
    const std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                           : candidate.size() - word.size();
    if (gap > allowed) {
      continue;
    }
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return std::string(best);
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  const std::string best = closest(word, candidates);
  if (best.empty()) {
    return {};
  }
  return "did you mean '" + best + "'?";
}

bool is_one_of(std::string_view word, std::span<const std::string_view> words) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

std::span<const std::string_view> syslog_facilities() {
  static constexpr std::string_view kFacilities[] = {
      "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
      "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
      "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
  };
  return kFacilities;
}

std::span<const std::string_view> syslog_levels() {
  static constexpr std::string_view kLevels[] = {"emerg",   "alert",  "crit", "err",
                                                 "warning", "notice", "info", "debug"};
  return kLevels;
}

}  // namespace postern::config
