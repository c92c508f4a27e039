// PROXY v2 codec against golden headers written field by field from spec 2.2, plus one test
// per refusal the decoder can give.
#include "proxy/proxy_v2.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "proxy/crc32c.hpp"
#include "support/proxy_addresses.hpp"
#include "support/proxy_hex.hpp"

namespace postern::dataplane::proxy {
namespace {

using test::concat;
using test::hex_bytes;
using test::tcp4;
using test::tcp6;
using test::to_hex;

constexpr const char* kSignature = "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a";

// Spec 2.1's example connection, client 192.168.0.1:56324 to 192.168.0.11:443.
const std::vector<uint8_t> kTcp4Golden = hex_bytes({
    kSignature,     // signature "\r\n\r\n\0\r\nQUIT\n"
    "21",           // version 2, command PROXY
    "11",           // AF_INET, STREAM
    "00 0c",        // 12 address bytes follow
    "c0 a8 00 01",  // source 192.168.0.1
    "c0 a8 00 0b",  // destination 192.168.0.11
    "dc 04",        // source port 56324
    "01 bb",        // destination port 443
});

const std::vector<uint8_t> kTcp6Golden = hex_bytes({
    kSignature,                                         // signature
    "21",                                               // version 2, command PROXY
    "21",                                               // AF_INET6, STREAM
    "00 24",                                            // 36 address bytes follow
    "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01",  // source 2001:db8::1
    "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 11",  // destination 2001:db8::11
    "dc 04",                                            // source port 56324
    "00 8f",                                            // destination port 143 (IMAP)
});

const std::vector<uint8_t> kLocalGolden = hex_bytes({
    kSignature,  // signature
    "20",        // version 2, command LOCAL
    "00",        // AF_UNSPEC, UNSPEC
    "00 00",     // no address bytes
});

Addresses golden_tcp4() {
  return tcp4("192.168.0.1", 56324, "192.168.0.11", 443);
}
Addresses golden_tcp6() {
  return tcp6("2001:db8::1", 56324, "2001:db8::11", 143);
}

std::vector<uint8_t> encode(const Addresses& a, const V2Options& options = {}) {
  std::vector<uint8_t> out(kV2MaxLen, 0xEE);
  const size_t n = encode_v2(a, options, out.data(), out.size());
  out.resize(n);
  return out;
}

std::vector<uint8_t> encode_local(const V2Options& options = {}) {
  std::vector<uint8_t> out(kV2MaxLen, 0xEE);
  const size_t n = encode_v2_local(options, out.data(), out.size());
  out.resize(n);
  return out;
}

DecodeResult decode(const std::vector<uint8_t>& bytes) {
  return decode_v2(bytes.data(), bytes.size());
}

// ---- Encoder: golden bytes ----

TEST(ProxyV2Encode, Tcp4MatchesGolden) {
  EXPECT_EQ(to_hex(encode(golden_tcp4())), to_hex(kTcp4Golden));
  EXPECT_EQ(kTcp4Golden.size(), kV2Tcp4Len);
  EXPECT_EQ(v2_length(golden_tcp4(), {}), 28u);
}

TEST(ProxyV2Encode, Tcp6MatchesGolden) {
  EXPECT_EQ(to_hex(encode(golden_tcp6())), to_hex(kTcp6Golden));
  EXPECT_EQ(kTcp6Golden.size(), kV2Tcp6Len);
  EXPECT_EQ(v2_length(golden_tcp6(), {}), 52u);
}

TEST(ProxyV2Encode, LocalMatchesGolden) {
  EXPECT_EQ(to_hex(encode_local()), to_hex(kLocalGolden));
  EXPECT_EQ(v2_local_length({}), 16u);
}

TEST(ProxyV2Encode, ExactCapacityFitsAndOneLessWritesNothing) {
  std::vector<uint8_t> out(28, 0xEE);
  EXPECT_EQ(encode_v2(golden_tcp4(), {}, out.data(), 28), 28u);
  std::vector<uint8_t> small(27, 0xEE);
  EXPECT_EQ(encode_v2(golden_tcp4(), {}, small.data(), small.size()), 0u);
  EXPECT_EQ(small, std::vector<uint8_t>(27, 0xEE));
  EXPECT_EQ(encode_v2(golden_tcp4(), {}, nullptr, 0), 0u);
  std::vector<uint8_t> local(15, 0xEE);
  EXPECT_EQ(encode_v2_local({}, local.data(), local.size()), 0u);
  EXPECT_EQ(local, std::vector<uint8_t>(15, 0xEE));
}

TEST(ProxyV2Encode, UnspecFamilyIsRefused) {
  Addresses a = golden_tcp4();
  a.family = Family::kUnspec;
  EXPECT_EQ(v2_length(a, {}), 0u);
  EXPECT_TRUE(encode(a).empty());
  a.family = static_cast<Family>(0x31);  // AF_UNIX is not something a TCP balancer relays
  EXPECT_TRUE(encode(a).empty());
}

// ---- Encoder: TLVs ----

TEST(ProxyV2Encode, UniqueIdTlv) {
  const uint8_t id[] = {'a', 'b', 'c'};
  V2Options options;
  options.unique_id = id;
  options.unique_id_len = sizeof(id);
  const auto expected = hex_bytes({
      kSignature,                             // signature
      "21",                                   // version 2, PROXY
      "11",                                   // TCP over IPv4
      "00 12",                                // 12 address bytes + 6 TLV bytes
      "c0 a8 00 01 c0 a8 00 0b dc 04 01 bb",  // addresses and ports
      "05", "00 03", "61 62 63",              // PP2_TYPE_UNIQUE_ID, length 3, "abc"
  });
  EXPECT_EQ(to_hex(encode(golden_tcp4(), options)), to_hex(expected));
  EXPECT_EQ(v2_length(golden_tcp4(), options), expected.size());
}

TEST(ProxyV2Encode, UniqueIdLimits) {
  std::vector<uint8_t> id(kUniqueIdMaxLen + 1, 'x');
  V2Options options;
  options.unique_id = id.data();
  options.unique_id_len = kUniqueIdMaxLen;
  EXPECT_EQ(encode(golden_tcp4(), options).size(), 28u + 3 + 128);
  options.unique_id_len = kUniqueIdMaxLen + 1;  // spec 2.2.5: "up to 128 bytes"
  EXPECT_TRUE(encode(golden_tcp4(), options).empty());
  EXPECT_EQ(v2_length(golden_tcp4(), options), 0u);
  options.unique_id = nullptr;
  options.unique_id_len = 4;
  EXPECT_TRUE(encode(golden_tcp4(), options).empty());
  options.unique_id_len = 0;  // no ID at all: no TLV
  EXPECT_EQ(encode(golden_tcp4(), options).size(), 28u);
}

TEST(ProxyV2Encode, Crc32cTlvMatchesGolden) {
  V2Options options;
  options.crc32c = true;
  const auto expected = hex_bytes({
      kSignature,                             // signature
      "21",                                   // version 2, PROXY
      "11",                                   // TCP over IPv4
      "00 13",                                // 12 address bytes + 7 TLV bytes
      "c0 a8 00 01 c0 a8 00 0b dc 04 01 bb",  // addresses and ports
      "03", "00 04",                          // PP2_TYPE_CRC32C, length 4
      "1c 1a e9 c6",                          // CRC32C of these 35 bytes with this field 0
  });
  const auto got = encode(golden_tcp4(), options);
  EXPECT_EQ(to_hex(got), to_hex(expected));
  // Full recomputation, as spec 2.2.3 tells a receiver to do.
  auto zeroed = got;
  std::memset(zeroed.data() + 31, 0, 4);
  const uint32_t crc = crc32c(zeroed.data(), zeroed.size());
  EXPECT_EQ(got[31], crc >> 24);
  EXPECT_EQ(got[34], crc & 0xFF);
}

// Captured from HAProxy 2.6.12 on this project's lab (`send-proxy-v2 proxy-v2-options
// crc32c,unique-id`, `unique-id-format mx-%cp`): a checksum computed by another implementation.
TEST(ProxyV2Encode, MatchesHaproxyCapturedCrc32cAndUniqueId) {
  const auto captured = hex_bytes({
      kSignature,                                // signature
      "21",                                      // version 2, PROXY
      "11",                                      // TCP over IPv4
      "00 1e",                                   // 12 address bytes + 7 + 11 TLV bytes
      "7f 00 00 02",                             // source 127.0.0.2
      "7f 00 00 01",                             // destination 127.0.0.1
      "ad 05",                                   // source port 44293
      "52 0b",                                   // destination port 21003
      "03", "00 04", "34 4e b2 41",              // PP2_TYPE_CRC32C, length 4, checksum
      "05", "00 08", "6d 78 2d 34 34 32 39 33",  // PP2_TYPE_UNIQUE_ID, length 8, "mx-44293"
  });
  const DecodeResult r = decode(captured);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.crc32c_verified);
  const Addresses a = tcp4("127.0.0.2", 44293, "127.0.0.1", 21003);
  EXPECT_EQ(r.addresses, a);
  V2Options options;
  options.crc32c = true;
  options.unique_id = r.unique_id;
  options.unique_id_len = r.unique_id_len;
  EXPECT_EQ(to_hex(encode(a, options)), to_hex(captured));
}

TEST(ProxyV2Encode, LocalWithCrc32c) {
  V2Options options;
  options.crc32c = true;
  const auto expected = hex_bytes({
      kSignature,                    // signature
      "20",                          // version 2, LOCAL
      "00",                          // UNSPEC
      "00 07",                       // 7 TLV bytes, no addresses
      "03", "00 04", "a9 b8 7e 8f",  // PP2_TYPE_CRC32C, length 4, checksum
  });
  EXPECT_EQ(to_hex(encode_local(options)), to_hex(expected));
  EXPECT_EQ(v2_local_length(options), 23u);
  const DecodeResult r = decode(expected);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
  EXPECT_TRUE(r.crc32c_verified);
}

TEST(ProxyV2Encode, NoopPadsToExactLength) {
  V2Options options;
  options.pad_to = 32;
  const auto expected = hex_bytes({
      kSignature,                             // signature
      "21",                                   // version 2, PROXY
      "11",                                   // TCP over IPv4
      "00 10",                                // 12 address bytes + 4 TLV bytes
      "c0 a8 00 01 c0 a8 00 0b dc 04 01 bb",  // addresses and ports
      "04", "00 01", "00",                    // PP2_TYPE_NOOP, length 1, zero
  });
  EXPECT_EQ(to_hex(encode(golden_tcp4(), options)), to_hex(expected));
}

TEST(ProxyV2Encode, PaddingEveryTargetLength) {
  const uint8_t id[] = {'m', 'x', '1'};
  for (bool crc : {false, true}) {
    for (bool with_id : {false, true}) {
      for (const Addresses& a : {golden_tcp4(), golden_tcp6()}) {
        V2Options options;
        options.crc32c = crc;
        if (with_id) {
          options.unique_id = id;
          options.unique_id_len = sizeof(id);
        }
        const size_t base = v2_length(a, options);
        ASSERT_NE(base, 0u);
        for (size_t target = 1; target <= base + 80; ++target) {
          options.pad_to = target;
          const auto out = encode(a, options);
          const bool reachable = target == base || target >= base + 3;
          SCOPED_TRACE(testing::Message() << "crc=" << crc << " id=" << with_id << " base=" << base
                                          << " pad_to=" << target);
          EXPECT_EQ(v2_length(a, options), reachable ? target : 0u);
          if (!reachable) {
            EXPECT_TRUE(out.empty());
            continue;
          }
          ASSERT_EQ(out.size(), target);
          const DecodeResult r = decode(out);
          ASSERT_EQ(r.status, DecodeStatus::kOk);
          EXPECT_EQ(r.consumed, target);
          EXPECT_EQ(r.addresses, a);
          EXPECT_EQ(r.crc32c_verified, crc);
          EXPECT_EQ(r.unique_id_len, with_id ? sizeof(id) : 0u);
        }
      }
    }
  }
}

TEST(ProxyV2Encode, PaddingAboveBoundIsRefused) {
  V2Options options;
  options.pad_to = kV2MaxLen;
  EXPECT_EQ(encode(golden_tcp4(), options).size(), kV2MaxLen);
  options.pad_to = kV2MaxLen + 1;
  EXPECT_TRUE(encode(golden_tcp4(), options).empty());
  EXPECT_EQ(v2_local_length(options), 0u);
}

// ---- Decoder: accepted headers ----

TEST(ProxyV2Decode, Tcp4Golden) {
  const DecodeResult r = decode(kTcp4Golden);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.version, 2);
  EXPECT_FALSE(r.is_local);
  EXPECT_FALSE(r.crc32c_verified);
  EXPECT_EQ(r.consumed, 28u);
  EXPECT_EQ(r.addresses, golden_tcp4());
  EXPECT_EQ(r.unique_id, nullptr);
}

TEST(ProxyV2Decode, Tcp6Golden) {
  const DecodeResult r = decode(kTcp6Golden);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 52u);
  EXPECT_EQ(r.addresses, golden_tcp6());
}

TEST(ProxyV2Decode, LocalGolden) {
  const DecodeResult r = decode(kLocalGolden);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
  EXPECT_EQ(r.consumed, 16u);
  EXPECT_EQ(r.addresses.family, Family::kUnspec);
}

TEST(ProxyV2Decode, StopsAtHeaderEnd) {
  const auto bytes = concat(kTcp4Golden, test::text_bytes("a001 CAPABILITY\r\n"));
  const DecodeResult r = decode(bytes);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 28u);
}

// The accepted vector of haproxy reg-tests/connection/proxy_protocol_tlv_validation.vtc
// (client c1): an AUTHORITY TLV, which this decoder skips.
TEST(ProxyV2Decode, HaproxyRegTestAuthorityTlvIsSkipped) {
  const auto bytes = hex_bytes({
      kSignature,                             // signature
      "21",                                   // version 2, PROXY
      "11",                                   // TCP4
      "00 14",                                // 12 address bytes + 8 TLV bytes
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",  // 127.0.0.1:42 -> 127.0.0.1:1337
      "02 00 05 31 32 33 34 35",              // PP2_TYPE_AUTHORITY, 5, "12345"
      "02 00 05 35 34 33 32 31",              // past the header (client c2): not read
  });
  const DecodeResult r = decode(bytes);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 36u);
  EXPECT_EQ(r.addresses, tcp4("127.0.0.1", 42, "127.0.0.1", 1337));
}

TEST(ProxyV2Decode, UniqueIdPointsIntoInput) {
  const auto bytes = hex_bytes({
      kSignature, "21", "11", "00 12",        // PROXY TCP4, 18 bytes follow
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",  // 127.0.0.1:42 -> 127.0.0.1:1337
      "05 00 03 61 62 63",                    // PP2_TYPE_UNIQUE_ID "abc"
  });
  const DecodeResult r = decode(bytes);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.unique_id, bytes.data() + 31);
  EXPECT_EQ(r.unique_id_len, 3u);
}

TEST(ProxyV2Decode, EmptyTlvsAndUnknownTypesAreSkipped) {
  const auto bytes = hex_bytes({
      kSignature, "21", "11", "00 1a",        // PROXY TCP4, 26 bytes follow
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",  // 127.0.0.1:42 -> 127.0.0.1:1337
      "04 00 00",                             // NOOP, empty
      "e0 00 02 ab cd",                       // PP2_TYPE_MIN_CUSTOM, 2 bytes
      "05 00 00",                             // UNIQUE_ID, empty
      "f8 00 00",                             // reserved for future use
  });
  const DecodeResult r = decode(bytes);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_NE(r.unique_id, nullptr);
  EXPECT_EQ(r.unique_id_len, 0u);
}

// Spec 2.2: a receiver may fall back to UNSPEC for valid family bytes it does not implement.
TEST(ProxyV2Decode, OtherValidFamiliesFallBackToUnspec) {
  struct Case {
    const char* family;
    const char* length;
    size_t address_len;
  };
  for (const Case& c : {Case{"00", "00 00", 0}, Case{"12", "00 0c", 12}, Case{"22", "00 24", 36},
                        Case{"31", "00 d8", 216}, Case{"32", "00 d8", 216}, Case{"10", "00 00", 0},
                        Case{"01", "00 00", 0}}) {
    auto bytes = hex_bytes({kSignature, "21", c.family, c.length});
    bytes.resize(bytes.size() + c.address_len, 0x7F);
    const DecodeResult r = decode(bytes);
    ASSERT_EQ(r.status, DecodeStatus::kOk) << c.family;
    EXPECT_FALSE(r.is_local);
    EXPECT_EQ(r.addresses.family, Family::kUnspec) << c.family;
    EXPECT_EQ(r.consumed, 16 + c.address_len);
  }
}

// Spec 2.2: for LOCAL the receiver "must use the real connection endpoints and discard the
// protocol block including the family which is ignored", and must honour len.
TEST(ProxyV2Decode, LocalIgnoresFamilyAndAddresses) {
  const auto with_addresses = hex_bytes({
      kSignature, "20", "11", "00 0c",        // LOCAL, TCP4 family, 12 bytes follow
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",  // addresses a sender should not have sent
  });
  DecodeResult r = decode(with_addresses);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
  EXPECT_EQ(r.consumed, 28u);
  EXPECT_EQ(r.addresses.family, Family::kUnspec);

  const auto odd_family = hex_bytes({kSignature, "20", "ff", "00 02", "00 00"});
  r = decode(odd_family);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 18u);

  const auto short_block = hex_bytes({kSignature, "20", "21", "00 04", "01 02 03 04"});
  r = decode(short_block);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 20u);
}

// ---- Decoder: one test per refusal ----

TEST(ProxyV2Decode, BadSignature) {
  auto bytes = kTcp4Golden;
  for (size_t i = 0; i < kV2SignatureLen; ++i) {
    bytes = kTcp4Golden;
    bytes[i] ^= 0x01;
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadSignature) << i;
    // A wrong byte is refused as soon as it arrives.
    EXPECT_EQ(decode_v2(bytes.data(), i + 1).status, DecodeStatus::kBadSignature) << i;
  }
  EXPECT_EQ(decode(test::text_bytes("PROXY TCP4 ")).status, DecodeStatus::kBadSignature);
}

TEST(ProxyV2Decode, BadVersion) {
  for (const char* ver_cmd : {"11", "01", "31", "f1", "10"}) {
    const auto bytes =
        concat(hex_bytes({kSignature, ver_cmd, "11", "00 0c"}), std::vector<uint8_t>(12, 0));
    const DecodeResult r = decode(bytes);
    EXPECT_EQ(r.status, DecodeStatus::kBadVersion) << ver_cmd;
    EXPECT_EQ(decode_v2(bytes.data(), 13).status, DecodeStatus::kBadVersion);
  }
}

TEST(ProxyV2Decode, BadCommand) {
  for (const char* ver_cmd : {"22", "2f", "28"}) {
    const auto bytes =
        concat(hex_bytes({kSignature, ver_cmd, "11", "00 0c"}), std::vector<uint8_t>(12, 0));
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadCommand) << ver_cmd;
    EXPECT_EQ(decode_v2(bytes.data(), 13).status, DecodeStatus::kBadCommand);
  }
}

TEST(ProxyV2Decode, BadFamily) {
  for (const char* family : {"41", "13", "ff", "03", "f0"}) {
    const auto bytes =
        concat(hex_bytes({kSignature, "21", family, "00 0c"}), std::vector<uint8_t>(12, 0));
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadFamily) << family;
    EXPECT_EQ(decode_v2(bytes.data(), 14).status, DecodeStatus::kBadFamily);
  }
}

TEST(ProxyV2Decode, BadLengthAddressBlockTooShort) {
  auto bytes = kTcp4Golden;
  bytes[15] = 11;  // TCP4 needs 12 address bytes
  EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength);
  // Known from the fixed header alone, before the block arrives.
  EXPECT_EQ(decode_v2(bytes.data(), 16).status, DecodeStatus::kBadLength);

  bytes = kTcp6Golden;
  bytes[15] = 12;  // an IPv4-sized block under the IPv6 family
  EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength);

  const auto unix_short =
      concat(hex_bytes({kSignature, "21", "31", "00 0c"}), std::vector<uint8_t>(12, 0));
  EXPECT_EQ(decode(unix_short).status, DecodeStatus::kBadLength);
}

TEST(ProxyV2Decode, BadLengthAboveBound) {
  // kV2MaxLen is 1024 bytes in all: len 1008 is the largest accepted.
  auto at_bound = hex_bytes({kSignature, "21", "11", "03 f0"});
  EXPECT_EQ(decode(at_bound).status, DecodeStatus::kNeedMore);
  at_bound.resize(kV2MaxLen, 0);
  at_bound[16 + 12] = 0x04;  // NOOP filling the rest
  at_bound[16 + 13] = static_cast<uint8_t>((kV2MaxLen - 16 - 12 - 3) >> 8);
  at_bound[16 + 14] = static_cast<uint8_t>(kV2MaxLen - 16 - 12 - 3);
  EXPECT_EQ(decode(at_bound).status, DecodeStatus::kOk);

  for (const char* length : {"03 f1", "ff ff", "10 00"}) {
    auto bytes = hex_bytes({kSignature, "21", "11", length});
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength) << length;
    bytes[12] = 0x20;  // LOCAL is bounded too
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength) << length;
  }
}

// haproxy reg-test proxy_protocol_tlv_validation.vtc, client c3: TLV longer than the header.
TEST(ProxyV2Decode, BadLengthTlvPastHeaderEnd) {
  const auto bytes = hex_bytes({
      kSignature, "21", "11",                    // PROXY TCP4
      "00 14",                                   // 12 address bytes + 8 TLV bytes
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",     // addresses and ports
      "02 00 0a 31 32 33 34 35 31 32 33 34 35",  // AUTHORITY claiming 10 bytes
  });
  EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength);
}

// Same reg-test, client c4: the last TLV ends one byte before the header does.
TEST(ProxyV2Decode, BadLengthTrailingBytesAfterTlv) {
  const auto bytes = hex_bytes({
      kSignature,
      "21",
      "11",
      "00 14",                                // PROXY TCP4, 20 bytes follow
      "7f 00 00 01 7f 00 00 01 00 2a 05 39",  // addresses and ports
      "02 00 04 31 32 33 34",                 // AUTHORITY "1234", then 1 stray byte
      "00",
  });
  EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadLength);
  const auto two_stray = hex_bytes({kSignature, "20", "00", "00 02", "04 00"});
  EXPECT_EQ(decode(two_stray).status, DecodeStatus::kBadLength);
}

TEST(ProxyV2Decode, BadTlvCrc32cNotFourBytes) {
  for (const char* tlv : {"03 00 03 00 00 00", "03 00 05 00 00 00 00 00", "03 00 00"}) {
    auto bytes = hex_bytes({kSignature, "20", "00", "00 00", tlv});
    bytes[15] = static_cast<uint8_t>(bytes.size() - 16);
    EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadTlv) << tlv;
  }
}

TEST(ProxyV2Decode, BadTlvTwoCrc32c) {
  auto bytes =
      hex_bytes({kSignature, "20", "00", "00 0e", "03 00 04 00 00 00 00", "03 00 04 00 00 00 00"});
  EXPECT_EQ(decode(bytes).status, DecodeStatus::kBadTlv);
}

TEST(ProxyV2Decode, BadTlvUniqueIdTooLongOrTwice) {
  auto too_long = hex_bytes({kSignature, "20", "00", "00 84", "05 00 81"});
  too_long.resize(16 + 0x84, 'x');
  EXPECT_EQ(decode(too_long).status, DecodeStatus::kBadTlv);
  auto at_limit = hex_bytes({kSignature, "20", "00", "00 83", "05 00 80"});
  at_limit.resize(16 + 0x83, 'x');
  EXPECT_EQ(decode(at_limit).status, DecodeStatus::kOk);
  const auto twice = hex_bytes({kSignature, "20", "00", "00 08", "05 00 01 61", "05 00 01 62"});
  EXPECT_EQ(decode(twice).status, DecodeStatus::kBadTlv);
}

TEST(ProxyV2Decode, BadCrc32cEveryFlippedBitOfAddressesAndChecksum) {
  V2Options options;
  options.crc32c = true;
  for (const Addresses& a : {golden_tcp4(), golden_tcp6()}) {
    const auto good = encode(a, options);
    ASSERT_TRUE(decode(good).crc32c_verified);
    const size_t address_end = a.family == Family::kTcp4 ? 28 : 52;
    // Address block and the checksum value: only the checksum can catch these.
    for (size_t byte = 16; byte < good.size(); ++byte) {
      if (byte >= address_end && byte < address_end + 3) {
        continue;  // the TLV's own type and length: covered below
      }
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = good;
        bad[byte] ^= static_cast<uint8_t>(1 << bit);
        EXPECT_EQ(decode(bad).status, DecodeStatus::kBadCrc32c) << byte << ":" << bit;
      }
    }
    // Any flipped bit anywhere: never accepted as a verified header.
    for (size_t byte = 0; byte < good.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = good;
        bad[byte] ^= static_cast<uint8_t>(1 << bit);
        const DecodeResult r = decode(bad);
        EXPECT_FALSE(r.ok() && r.crc32c_verified) << byte << ":" << bit;
      }
    }
  }
}

// ---- Partial headers ----

TEST(ProxyV2Decode, EveryPrefixOfValidHeadersNeedsMore) {
  const uint8_t id[] = {'s', 'e', 's', 's', '-', '4', '2'};
  V2Options rich;
  rich.crc32c = true;
  rich.unique_id = id;
  rich.unique_id_len = sizeof(id);
  rich.pad_to = 96;
  const std::vector<std::vector<uint8_t>> headers = {kTcp4Golden,
                                                     kTcp6Golden,
                                                     kLocalGolden,
                                                     encode(golden_tcp4(), rich),
                                                     encode(golden_tcp6(), rich),
                                                     encode_local(rich)};
  for (const auto& header : headers) {
    ASSERT_FALSE(header.empty());
    for (size_t n = 0; n < header.size(); ++n) {
      // An exact-size copy, so the sanitizer build catches a read past the prefix.
      const std::vector<uint8_t> prefix(header.begin(), header.begin() + n);
      const DecodeResult r = decode_v2(prefix.data(), prefix.size());
      EXPECT_EQ(r.status, DecodeStatus::kNeedMore) << n << " of " << to_hex(header);
      EXPECT_EQ(r.consumed, 0u);
    }
    EXPECT_EQ(decode(header).status, DecodeStatus::kOk);
  }
}

}  // namespace
}  // namespace postern::dataplane::proxy
