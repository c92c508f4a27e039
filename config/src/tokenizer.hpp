// Splits one haproxy.cfg line into words the way HAProxy 2.6's parse_line() (src/tools.c) does:
// '#' comments, single and double quotes, and backslash escapes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::config {

struct TokenizedLine {
  std::vector<std::string> words;
  std::string error;  // set when the line cannot be read (unterminated quote, bad \x escape)
};

TokenizedLine tokenize_line(std::string_view line);

}  // namespace postern::config
