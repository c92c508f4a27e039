// Byte-vector helpers for PROXY protocol tests: golden headers are written as annotated hex,
// one field per line, the way HAProxy's reg-tests spell them (proxy_protocol_tlv_validation.vtc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::test {

// Concatenates hex fields; whitespace inside a field is ignored ("0d 0a" == "0d0a").
inline std::vector<uint8_t> hex_bytes(std::initializer_list<std::string_view> fields) {
  std::vector<uint8_t> out;
  for (std::string_view field : fields) {
    int high = -1;
    for (char c : field) {
      int nibble = -1;
      if (c >= '0' && c <= '9') {
        nibble = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        nibble = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        nibble = c - 'A' + 10;
      } else if (c == ' ' || c == '\n' || c == '\t') {
        continue;
      } else {
        throw std::invalid_argument("hex_bytes: not a hex digit");
      }
      if (high < 0) {
        high = nibble;
      } else {
        out.push_back(static_cast<uint8_t>(high << 4 | nibble));
        high = -1;
      }
    }
    if (high >= 0) {
      throw std::invalid_argument("hex_bytes: odd number of digits in a field");
    }
  }
  return out;
}

inline std::vector<uint8_t> text_bytes(std::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

inline std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "0d 0a 0d ..." for failure messages.
inline std::string to_hex(const uint8_t* data, size_t len) {
  std::string out;
  char byte[4];
  for (size_t i = 0; i < len; ++i) {
    std::snprintf(byte, sizeof(byte), i == 0 ? "%02x" : " %02x", data[i]);
    out += byte;
  }
  return out;
}

inline std::string to_hex(const std::vector<uint8_t>& bytes) {
  return to_hex(bytes.data(), bytes.size());
}

}  // namespace postern::test
