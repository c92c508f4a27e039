// Helpers for the config tests: build inputs line by line and assert on formatted diagnostics,
// the FILE:LINE text an operator reads.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "postern/config/diagnostic.hpp"
#include "postern/config/load.hpp"
#include "postern/config/model.hpp"

namespace postern::config::testing {

// Joins lines with '\n' so a test reads with its line numbers: line 1 is the first element.
inline std::string lines(std::initializer_list<std::string_view> all) {
  std::string text;
  for (std::string_view line : all) {
    text.append(line);
    text.push_back('\n');
  }
  return text;
}

inline std::string all_text(const Diagnostics& diags) {
  std::string text;
  for (const Diagnostic& d : diags.items()) {
    text += format(d) + "\n";
  }
  return text.empty() ? "(no diagnostics)\n" : text;
}

// True when some diagnostic's formatted text contains `expected`.
inline ::testing::AssertionResult has_diagnostic(const Diagnostics& diags,
                                                 std::string_view expected) {
  for (const Diagnostic& d : diags.items()) {
    if (format(d).find(expected) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no diagnostic contains \"" << expected << "\"; got:\n"
                                       << all_text(diags);
}

inline ::testing::AssertionResult clean(const Diagnostics& diags) {
  if (diags.items().empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected no diagnostics; got:\n" << all_text(diags);
}

inline ::testing::AssertionResult no_errors(const Diagnostics& diags) {
  if (!diags.has_errors()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected no errors; got:\n" << all_text(diags);
}

inline Config haproxy(const std::string& text, Diagnostics& diags,
                      const std::string& file = "t.cfg") {
  Config config;
  parse_haproxy(text, file, config, diags);
  return config;
}

inline Config yaml(const std::string& text, Diagnostics& diags,
                   const std::string& file = "t.yaml") {
  Config config;
  parse_yaml(text, file, config, diags);
  return config;
}

inline Endpoint endpoint(std::string_view text) {
  return *Endpoint::parse(text);
}
inline IpAddress ip(std::string_view text) {
  return *IpAddress::parse(text);
}

}  // namespace postern::config::testing
