// CRC32C known answers: the catalogue check value for "123456789" and the iSCSI vectors of
// RFC 3720 appendix B.4, which use the same Castagnoli CRC as the PROXY v2 TLV (spec 2.2.3).
#include "proxy/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string_view>
#include <vector>

namespace postern::dataplane::proxy {
namespace {

uint32_t crc_of(std::string_view text) {
  return crc32c(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(Crc32c, CheckValueOf123456789) {
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, Rfc3720AppendixB4Vectors) {
  std::vector<uint8_t> zeros(32, 0x00);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::vector<uint8_t> ones(32, 0xFF);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::vector<uint8_t> ascending(32);
  std::iota(ascending.begin(), ascending.end(), uint8_t{0});
  EXPECT_EQ(crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  std::vector<uint8_t> descending(ascending.rbegin(), ascending.rend());
  EXPECT_EQ(crc32c(descending.data(), descending.size()), 0x113FDB5Cu);
}

TEST(Crc32c, ExtendEqualsOneShotAtEverySplit) {
  const std::string_view text = "The PROXY protocol, versions 1 & 2";
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const uint32_t whole = crc32c(bytes, text.size());
  for (size_t split = 0; split <= text.size(); ++split) {
    const uint32_t head = crc32c(bytes, split);
    EXPECT_EQ(crc32c_extend(head, bytes + split, text.size() - split), whole) << split;
  }
  EXPECT_EQ(crc32c_extend(0, bytes, text.size()), whole);
}

}  // namespace
}  // namespace postern::dataplane::proxy
