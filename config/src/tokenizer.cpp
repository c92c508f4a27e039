// The haproxy.cfg line tokenizer: the first pass of the haproxy parser.
#include "tokenizer.hpp"

#include <cctype>

namespace postern::config {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

TokenizedLine tokenize_line(std::string_view line) {
  TokenizedLine result;
  std::string word;
  // A word exists once any character or quote opened it, so '' and "" give empty words, as
  // HAProxy allows ("log-format ''").
  bool in_word = false;
  bool single_quote = false;
  bool double_quote = false;

  auto end_word = [&] {
    if (in_word) {
      result.words.push_back(std::move(word));
      word.clear();
      in_word = false;
    }
  };

  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '\n' || c == '\r') {
      break;
    }
    if (c == '#' && !single_quote && !double_quote) {
      break;
    }
    if (c == '"' && !single_quote) {
      double_quote = !double_quote;
      in_word = true;
      ++i;
      continue;
    }
    if (c == '\'' && !double_quote) {
      single_quote = !single_quote;
      in_word = true;
      ++i;
      continue;
    }
    if (c == '\\' && !single_quote && i + 1 < line.size()) {
      // Only the sequences HAProxy knows are escapes; any other (e.g. "\1" in a regex) stays as
      // written, backslash included.
      const char next = line[i + 1];
      in_word = true;
      switch (next) {
        case ' ':
        case '\\':
        case '#':
        case '\'':
        case '"':
          word.push_back(next);
          i += 2;
          continue;
        case 't':
          word.push_back('\t');
          i += 2;
          continue;
        case 'n':
          word.push_back('\n');
          i += 2;
          continue;
        case 'r':
          word.push_back('\r');
          i += 2;
          continue;
        case 'x': {
          const int high = i + 2 < line.size() ? hex_value(line[i + 2]) : -1;
          const int low = i + 3 < line.size() ? hex_value(line[i + 3]) : -1;
          if (high < 0 || low < 0) {
            result.error =
                "invalid or incomplete hex escape '\\x' at column " + std::to_string(i + 1);
            return result;
          }
          word.push_back(static_cast<char>((high << 4) | low));
          i += 4;
          continue;
        }
        default:
          word.push_back(c);
          ++i;
          continue;
      }
    }
    if (std::isspace(static_cast<unsigned char>(c)) != 0 && !single_quote && !double_quote) {
      end_word();
      ++i;
      continue;
    }
    word.push_back(c);
    in_word = true;
    ++i;
  }
  if (single_quote || double_quote) {
    result.error = std::string("unmatched ") + (single_quote ? "single" : "double") + " quote";
    return result;
  }
  end_word();
  return result;
}

}  // namespace postern::config
