// CRC32C (Castagnoli) for the PP2_TYPE_CRC32C TLV (spec 2.2.3, which points to RFC 4960
// appendix B). Pure C++ so the codec runs the same in the worker, unit tests and benchmarks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace postern::dataplane::proxy {

// CRC32C of [data, data + len): reflected polynomial 0x82F63B78, initial value and final
// xor 0xFFFFFFFF (RFC 4960 appendix B). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const uint8_t* data, size_t len) noexcept;

// Continues a CRC over more bytes: crc32c_extend(crc32c(a), b) == crc32c(a followed by b) and
// crc32c_extend(0, a) == crc32c(a). Lets the decoder checksum a const header piecewise, with
// zeros standing in for the checksum field, instead of copying it.
uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t len) noexcept;

}  // namespace postern::dataplane::proxy
