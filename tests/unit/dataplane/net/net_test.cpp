// Checksums, sequence arithmetic and TCP option parsing: incremental updates always agree
// with a full recomputation; sequence comparisons hold across the 2^32 wrap. The SACK
// rewrite has its own file, sack_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "net/checksum.hpp"
#include "net/seq.hpp"
#include "net/siphash.hpp"
#include "net/tcp_options.hpp"

namespace postern::dataplane {
namespace {

TEST(Seq, ComparisonsAcrossWrap) {
  const Seq a(0xfffffff0U);
  const Seq b = a + 0x20;
  EXPECT_EQ(b.value(), 0x10U);
  EXPECT_TRUE(before(a, b));
  EXPECT_TRUE(after(b, a));
  EXPECT_EQ(b - a, 0x20);
  EXPECT_EQ((b - 0x20).value(), a.value());
  EXPECT_TRUE(after_eq(a, a));
  EXPECT_EQ((a + (-16)).value(), 0xffffffe0U);
}

TEST(Checksum, IncrementalReplaceMatchesFullSum) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::uint8_t seg[64];
    for (auto& b : seg) {
      b = static_cast<std::uint8_t>(rng());
    }
    seg[16] = 0;
    seg[17] = 0;
    const std::uint32_t src = rng();
    const std::uint32_t dst = rng();
    std::uint16_t check = tcp4_checksum(src, dst, seg, sizeof seg);
    // Change a 32-bit field at offset 4 and the source address.
    std::uint32_t old_field;
    std::memcpy(&old_field, seg + 4, 4);
    const std::uint32_t new_field = rng();
    std::memcpy(seg + 4, &new_field, 4);
    check = csum_replace32(check, old_field, new_field);
    const std::uint32_t new_src = rng();
    check = csum_replace32(check, src, new_src);
    std::uint16_t old16;
    std::memcpy(&old16, seg + 2, 2);
    const auto new16 = static_cast<std::uint16_t>(rng());
    std::memcpy(seg + 2, &new16, 2);
    check = csum_replace16(check, old16, new16);
    // RFC 1624: 0x0000 and 0xffff are the same sum; compare what a receiver verifies.
    const std::uint16_t full = tcp4_checksum(new_src, dst, seg, sizeof seg);
    EXPECT_EQ(csum_fold(static_cast<std::uint16_t>(~check)),
              csum_fold(static_cast<std::uint16_t>(~full)))
        << round;
  }
}

TEST(TcpOptions, ParsesTimestampSackPermittedMssWscale) {
  const std::uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7};
  const TcpOptions o = parse_tcp_options(opts, sizeof opts);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_TRUE(o.sack_permitted);
  EXPECT_TRUE(o.has_timestamp);
  EXPECT_EQ(o.ts_val, 7U);
  EXPECT_EQ(o.ts_ecr, 9U);
  EXPECT_EQ(o.wscale, 7);
}

TEST(TcpOptions, MalformedLengthStopsTheWalk) {
  const std::uint8_t zero_len[] = {8, 0, 0, 0};
  EXPECT_FALSE(parse_tcp_options(zero_len, sizeof zero_len).has_timestamp);
  const std::uint8_t overrun[] = {1, 8, 10, 0, 0};
  EXPECT_FALSE(parse_tcp_options(overrun, sizeof overrun).has_timestamp);
}

// The reference vector of the SipHash paper (appendix A): key 00..0f, message 00..0e, which
// as two words is the key itself (the 15th byte's slot holds the length, 15).
TEST(SipHash, TwoFourMatchesThePapersVector) {
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  EXPECT_EQ((siphash<2, 4>(key, key.k0, key.k1)), 0xa129ca6149be45e5ULL);
}

}  // namespace
}  // namespace postern::dataplane
