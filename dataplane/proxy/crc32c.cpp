// Table-driven CRC32C, one byte per step: PROXY headers are tens of bytes, so a 1 KiB table
// that stays in cache beats wider slicing tables here.
#include "proxy/crc32c.hpp"

#include <array>

namespace postern::dataplane::proxy {
namespace {

constexpr uint32_t kCastagnoliReflected = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_table() noexcept {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1u) != 0 ? (crc >> 1) ^ kCastagnoliReflected : crc >> 1;
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t len) noexcept {
  uint32_t state = ~crc;
  for (size_t i = 0; i < len; ++i) {
    state = kTable[(state ^ data[i]) & 0xFFu] ^ (state >> 8);
  }
  return ~state;
}

uint32_t crc32c(const uint8_t* data, size_t len) noexcept {
  return crc32c_extend(0, data, len);
}

}  // namespace postern::dataplane::proxy
