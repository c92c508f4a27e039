// `tcp-check expect rstring` patterns, as the validator compiles them and the health engine
// runs them, so a pattern `-c` accepts is the pattern a check matches.
#pragma once

#include <regex.h>

#include <string>
#include <string_view>

namespace postern::config {

// `expect rstring` patterns run on glibc's POSIX regex in extended syntax, which is what
// HAProxy compiles when it is built without PCRE (src/regex.c regex_comp(): REG_EXTENDED).
// std::regex was measured and refused: its recursive matcher overflowed an 8 MB stack on a
// 16 KB reply and took seconds where regexec() takes about 50 us. PCRE's \d and \D, common
// in patterns written for Debian's PCRE2 build of HAProxy, are rewritten to [0-9] / [^0-9].
class ExpectRegex {
 public:
  ExpectRegex() = default;
  ExpectRegex(const ExpectRegex&) = delete;
  ExpectRegex& operator=(const ExpectRegex&) = delete;
  ~ExpectRegex() {
    if (compiled_) {
      regfree(&re_);
    }
  }

  bool compile(std::string_view pattern, std::string& error) {
    std::string source;
    bool in_bracket = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      const char c = pattern[i];
      if (!in_bracket && c == '\\' && i + 1 < pattern.size()) {
        const char next = pattern[++i];
        if (next == 'd') {
          source += "[0-9]";
        } else if (next == 'D') {
          source += "[^0-9]";
        } else {
          source += c;
          source += next;
        }
        continue;
      }
      if (!in_bracket && c == '[') {
        in_bracket = true;
        source += c;
        // A ']' right after '[' or '[^' is a member, not the end of the bracket.
        if (i + 1 < pattern.size() && pattern[i + 1] == '^') {
          source += pattern[++i];
        }
        if (i + 1 < pattern.size() && pattern[i + 1] == ']') {
          source += pattern[++i];
        }
        continue;
      }
      if (in_bracket && c == '[' && i + 1 < pattern.size() &&
          (pattern[i + 1] == ':' || pattern[i + 1] == '.' || pattern[i + 1] == '=')) {
        // [:class:], [.coll.], [=equiv=] inside a bracket: copied whole, ']' and all.
        const char kind = pattern[i + 1];
        const auto end = pattern.find(std::string{kind, ']'}, i + 2);
        const std::size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
        source.append(pattern.substr(i, stop - i));
        i = stop - 1;
        continue;
      }
      if (in_bracket && c == ']') {
        in_bracket = false;
      }
      source += c;
    }
    const int rc = regcomp(&re_, source.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char text[256];
      regerror(rc, &re_, text, sizeof(text));
      error = text;
      return false;
    }
    compiled_ = true;
    return true;
  }

  // Searches the whole of `subject`, NUL bytes included (REG_STARTEND).
  bool search(std::string_view subject) const {
    regmatch_t span[1];
    span[0].rm_so = 0;
    span[0].rm_eo = static_cast<regoff_t>(subject.size());
    static const char kEmpty = '\0';
    const char* data = subject.empty() ? &kEmpty : subject.data();
    return regexec(&re_, data, 1, span, REG_STARTEND) == 0;
  }

 private:
  regex_t re_{};
  bool compiled_ = false;
};

}  // namespace postern::config
