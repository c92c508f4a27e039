// Unaligned reads and writes of header fields that sit at any byte offset (TCP options, ICMP
// quotes). The plain forms keep the bytes as they are on the wire (network order, what the
// checksum helpers take); the _be forms convert to and from host order.
#pragma once

#include <rte_byteorder.h>

#include <cstdint>
#include <cstring>

namespace postern::dataplane {

inline std::uint16_t load16(const std::uint8_t* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline std::uint32_t load32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store16(std::uint8_t* p, std::uint16_t v) noexcept {
  std::memcpy(p, &v, 2);
}
inline void store32(std::uint8_t* p, std::uint32_t v) noexcept {
  std::memcpy(p, &v, 4);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return rte_be_to_cpu_32(load32(p));
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  store32(p, rte_cpu_to_be_32(v));
}

}  // namespace postern::dataplane
