// PROXY protocol v1 text encoder and decoder over plain byte buffers: no allocation, no
// locale, no libc address parsers (inet_pton accepts forms the spec forbids). Spec 2.1.
#include "proxy/proxy_v1.hpp"

#include <cstring>

namespace postern::dataplane::proxy {
namespace {

constexpr uint8_t kV1Signature[] = {'P', 'R', 'O', 'X', 'Y'};
constexpr size_t kV1SignatureLen = sizeof(kV1Signature);

struct Field {
  const uint8_t* data = nullptr;
  size_t len = 0;
};

bool field_is(const Field& field, const char* word) noexcept {
  const size_t word_len = std::strlen(word);
  return field.len == word_len && std::memcmp(field.data, word, word_len) == 0;
}

bool is_digit(uint8_t c) noexcept {
  return c >= '0' && c <= '9';
}

int hex_value(uint8_t c) noexcept {
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

// Decimal without leading zeros (spec 2.1: "Heading zeroes are not permitted ... to avoid
// any possible confusion with octal numbers"), at most max_digits digits, value <= max.
// Consumes from s[*pos]; returns false if no valid number starts there.
bool parse_decimal(const uint8_t* s, size_t n, size_t* pos, size_t max_digits, uint32_t max,
                   uint32_t* value) noexcept {
  const size_t start = *pos;
  uint32_t v = 0;
  size_t i = start;
  while (i < n && is_digit(s[i]) && i - start < max_digits) {
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
    ++i;
  }
  const size_t digits = i - start;
  if (digits == 0 || (digits > 1 && s[start] == '0') || v > max) {
    return false;
  }
  *pos = i;
  *value = v;
  return true;
}

// Spec 2.1: "exactly 4 integers in the range [0..255] ... separated by exactly one dot".
bool parse_ipv4(const uint8_t* s, size_t n, uint8_t* out) noexcept {
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= n || s[pos] != '.') {
        return false;
      }
      ++pos;
    }
    uint32_t octet = 0;
    if (!parse_decimal(s, n, &pos, 3, 255, &octet)) {
      return false;
    }
    out[part] = static_cast<uint8_t>(octet);
  }
  return pos == n;
}

// RFC 4291 section 2.2 text forms: eight 1-4 digit hex groups, at most one "::" standing for
// one or more zero groups, and optionally the last 32 bits as a dotted quad.
bool parse_ipv6(const uint8_t* s, size_t n, uint8_t* out) noexcept {
  uint16_t groups[8] = {};
  size_t count = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t pos = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    pos = 2;
  } else if (n >= 1 && s[0] == ':') {
    return false;
  }
  while (pos < n) {
    const size_t start = pos;
    uint32_t value = 0;
    while (pos < n && pos - start < 4 && hex_value(s[pos]) >= 0) {
      value = value << 4 | static_cast<uint32_t>(hex_value(s[pos]));
      ++pos;
    }
    if (pos < n && s[pos] == '.') {
      // The dotted tail ends the address and takes two groups.
      if (count > 6) {
        return false;
      }
      uint8_t quad[4];
      if (!parse_ipv4(s + start, n - start, quad)) {
        return false;
      }
      groups[count++] = static_cast<uint16_t>(quad[0] << 8 | quad[1]);
      groups[count++] = static_cast<uint16_t>(quad[2] << 8 | quad[3]);
      pos = n;
      break;
    }
    if (pos == start || count == 8) {
      return false;
    }
    groups[count++] = static_cast<uint16_t>(value);
    if (pos == n) {
      break;
    }
    if (s[pos] != ':') {
      return false;
    }
    ++pos;
    if (pos < n && s[pos] == ':') {
      if (gap >= 0) {
        return false;
      }
      gap = static_cast<int>(count);
      ++pos;
    } else if (pos == n) {
      return false;  // a single trailing colon
    }
  }
  if (gap < 0) {
    if (count != 8) {
      return false;
    }
  } else if (count > 7) {
    return false;  // "::" must stand for at least one group
  }
  uint16_t full[8] = {};
  if (gap < 0) {
    std::memcpy(full, groups, sizeof(full));
  } else {
    const size_t head = static_cast<size_t>(gap);
    const size_t tail = count - head;
    for (size_t i = 0; i < head; ++i) {
      full[i] = groups[i];
    }
    for (size_t i = 0; i < tail; ++i) {
      full[8 - tail + i] = groups[head + i];
    }
  }
  for (size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<uint8_t>(full[i] >> 8);
    out[2 * i + 1] = static_cast<uint8_t>(full[i]);
  }
  return true;
}

// Appends text to a fixed buffer sized for the longest line; callers never overflow it.
class LineWriter {
 public:
  explicit LineWriter(char* buf) noexcept : buf_(buf) {}

  void put(char c) noexcept { buf_[len_++] = c; }
  void put(const char* s) noexcept {
    while (*s != '\0') {
      put(*s++);
    }
  }
  void put_decimal(uint32_t value) noexcept {
    char digits[10];
    size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) {
      put(digits[--n]);
    }
  }
  void put_hex(uint32_t value) noexcept {
    static constexpr char kHex[] = "0123456789abcdef";
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const uint32_t nibble = (value >> shift) & 0xF;
      if (nibble != 0 || started || shift == 0) {
        put(kHex[nibble]);
        started = true;
      }
    }
  }
  void put_ipv4(const uint8_t* a) noexcept {
    for (int i = 0; i < 4; ++i) {
      if (i > 0) {
        put('.');
      }
      put_decimal(a[i]);
    }
  }
  // As glibc inet_ntop(): the longest run of two or more zero groups (the first on a tie)
  // becomes "::" (RFC 5952 section 4.2), and ::a.b.c.d / ::ffff:a.b.c.d keep a dotted tail.
  void put_ipv6(const uint8_t* a) noexcept {
    uint32_t words[8];
    for (size_t i = 0; i < 8; ++i) {
      words[i] = static_cast<uint32_t>(a[2 * i]) << 8 | a[2 * i + 1];
    }
    int best_base = -1;
    int best_len = 0;
    for (int i = 0; i < 8;) {
      if (words[i] != 0) {
        ++i;
        continue;
      }
      int run = 0;
      while (i + run < 8 && words[i + run] == 0) {
        ++run;
      }
      if (run > best_len) {
        best_base = i;
        best_len = run;
      }
      i += run;
    }
    if (best_len < 2) {
      best_base = -1;
    }
    for (int i = 0; i < 8; ++i) {
      if (best_base >= 0 && i >= best_base && i < best_base + best_len) {
        if (i == best_base) {
          put(':');
        }
        continue;
      }
      if (i != 0) {
        put(':');
      }
      if (i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xFFFF))) {
        put_ipv4(a + 12);
        return;
      }
      put_hex(words[i]);
    }
    if (best_base >= 0 && best_base + best_len == 8) {
      put(':');
    }
  }

  size_t len() const noexcept { return len_; }

 private:
  char* buf_;
  size_t len_ = 0;
};

DecodeResult fail(DecodeStatus status) noexcept {
  DecodeResult result;
  result.status = status;
  result.version = 1;
  return result;
}

}  // namespace

size_t encode_v1(const Addresses& addresses, uint8_t* out, size_t cap) noexcept {
  if (addresses.family != Family::kTcp4 && addresses.family != Family::kTcp6 &&
      addresses.family != Family::kUnspec) {
    return 0;
  }
  char line[kV1MaxLen];
  LineWriter writer(line);
  writer.put("PROXY ");
  switch (addresses.family) {
    case Family::kTcp4:
      writer.put("TCP4 ");
      writer.put_ipv4(addresses.src.data());
      writer.put(' ');
      writer.put_ipv4(addresses.dst.data());
      break;
    case Family::kTcp6:
      writer.put("TCP6 ");
      writer.put_ipv6(addresses.src.data());
      writer.put(' ');
      writer.put_ipv6(addresses.dst.data());
      break;
    case Family::kUnspec:
      // Spec 2.1: for UNKNOWN "the rest of the line before the CRLF may be omitted".
      writer.put("UNKNOWN\r\n");
      break;
  }
  if (addresses.family != Family::kUnspec) {
    writer.put(' ');
    writer.put_decimal(addresses.src_port);
    writer.put(' ');
    writer.put_decimal(addresses.dst_port);
    writer.put("\r\n");
  }
  if (out == nullptr || writer.len() > cap) {
    return 0;
  }
  std::memcpy(out, line, writer.len());
  return writer.len();
}

DecodeResult decode_v1(const uint8_t* data, size_t len) noexcept {
  DecodeResult result;
  if (len == 0) {
    return result;
  }
  const size_t signature_seen = len < kV1SignatureLen ? len : kV1SignatureLen;
  if (std::memcmp(data, kV1Signature, signature_seen) != 0) {
    result.status = DecodeStatus::kBadSignature;
    return result;
  }
  result.version = 1;
  if (len > kV1SignatureLen && data[kV1SignatureLen] != ' ') {
    return fail(DecodeStatus::kV1BadFormat);
  }
  // Spec 2.1: wait for the CRLF before decoding anything, and give up if it is not within
  // the first 107 characters.
  const size_t window = len < kV1MaxLen ? len : kV1MaxLen;
  const void* lf_at = std::memchr(data, '\n', window);
  if (lf_at == nullptr) {
    if (len >= kV1MaxLen) {
      return fail(DecodeStatus::kV1TooLong);
    }
    return result;
  }
  const size_t lf = static_cast<size_t>(static_cast<const uint8_t*>(lf_at) - data);
  // Spec 2.1: "must not tolerate a single CR or LF character to end the line".
  if (lf == 0 || data[lf - 1] != '\r') {
    return fail(DecodeStatus::kV1BadFormat);
  }
  const uint8_t* line = data;
  const size_t line_len = lf - 1;  // without CRLF
  size_t pos = kV1SignatureLen + 1;
  if (line_len < pos) {
    return fail(DecodeStatus::kV1BadFormat);
  }

  Field protocol{line + pos, 0};
  while (pos < line_len && line[pos] != ' ') {
    ++pos;
    ++protocol.len;
  }
  if (field_is(protocol, "UNKNOWN")) {
    // Spec 2.1: "the receiver must ignore anything presented before the CRLF is found" and
    // use the real connection's parameters.
    result.status = DecodeStatus::kOk;
    result.is_local = true;
    result.consumed = lf + 1;
    return result;
  }
  Family family = Family::kUnspec;
  if (field_is(protocol, "TCP4")) {
    family = Family::kTcp4;
  } else if (field_is(protocol, "TCP6")) {
    family = Family::kTcp6;
  } else {
    return fail(DecodeStatus::kV1BadFormat);
  }

  // Exactly four fields, each after exactly one space: src, dst, sport, dport.
  Field fields[4];
  for (Field& field : fields) {
    if (pos >= line_len || line[pos] != ' ') {
      return fail(DecodeStatus::kV1BadFormat);
    }
    ++pos;
    field.data = line + pos;
    while (pos < line_len && line[pos] != ' ') {
      ++pos;
      ++field.len;
    }
    if (field.len == 0) {
      return fail(DecodeStatus::kV1BadFormat);
    }
  }
  if (pos != line_len) {
    return fail(DecodeStatus::kV1BadFormat);
  }

  Addresses& out = result.addresses;
  out.family = family;
  const bool addresses_ok = family == Family::kTcp4
                                ? parse_ipv4(fields[0].data, fields[0].len, out.src.data()) &&
                                      parse_ipv4(fields[1].data, fields[1].len, out.dst.data())
                                : parse_ipv6(fields[0].data, fields[0].len, out.src.data()) &&
                                      parse_ipv6(fields[1].data, fields[1].len, out.dst.data());
  if (!addresses_ok) {
    return fail(DecodeStatus::kV1BadAddress);
  }
  uint32_t ports[2] = {};
  for (int i = 0; i < 2; ++i) {
    const Field& field = fields[2 + i];
    size_t at = 0;
    if (!parse_decimal(field.data, field.len, &at, 5, 65535, &ports[i]) || at != field.len) {
      return fail(DecodeStatus::kV1BadAddress);
    }
  }
  out.src_port = static_cast<uint16_t>(ports[0]);
  out.dst_port = static_cast<uint16_t>(ports[1]);
  result.status = DecodeStatus::kOk;
  result.consumed = lf + 1;
  return result;
}

}  // namespace postern::dataplane::proxy
