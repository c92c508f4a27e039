// PROXY v1 codec against the lines of spec 2.1, the canonical-form rules it states, and
// glibc's inet_ntop() for the IPv6 text HAProxy's `send-proxy` writes.
#include "proxy/proxy_v1.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/proxy_addresses.hpp"
#include "support/proxy_hex.hpp"

namespace postern::dataplane::proxy {
namespace {

using test::tcp4;
using test::tcp6;
using test::text_bytes;

DecodeResult decode(const std::string& line) {
  const auto bytes = text_bytes(line);
  return decode_v1(bytes.data(), bytes.size());
}

std::string encode(const Addresses& a) {
  uint8_t out[kV1MaxLen];
  const size_t n = encode_v1(a, out, sizeof(out));
  return std::string(reinterpret_cast<const char*>(out), n);
}

const char* const kIpv6AllOnes = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
// Spec 2.1's "ffff:f...f:ffff" lines written out.
const std::string kLongestTcp6Line =
    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";
const std::string kWorstUnknownLine =
    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";

// ---- Spec 2.1 examples ----

TEST(ProxyV1, LongestTcp4Line) {
  const std::string line = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
  ASSERT_EQ(line.size(), 56u);  // spec 2.1: "=> 56 chars"
  const DecodeResult r = decode(line);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.version, 1);
  EXPECT_FALSE(r.is_local);
  EXPECT_EQ(r.consumed, 56u);
  EXPECT_EQ(r.addresses, tcp4("255.255.255.255", 65535, "255.255.255.255", 65535));
  EXPECT_EQ(encode(r.addresses), line);
}

TEST(ProxyV1, LongestTcp6Line) {
  const std::string& line = kLongestTcp6Line;
  ASSERT_EQ(line.size(), 104u);  // spec 2.1: "=> 104 chars"
  const DecodeResult r = decode(line);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, 104u);
  EXPECT_EQ(r.addresses, tcp6(kIpv6AllOnes, 65535, kIpv6AllOnes, 65535));
  EXPECT_EQ(encode(r.addresses), line);
}

TEST(ProxyV1, UnknownShortForm) {
  const DecodeResult r = decode("PROXY UNKNOWN\r\n");
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
  EXPECT_EQ(r.consumed, 15u);  // spec 2.1: "=> 15 chars"
  EXPECT_EQ(r.addresses.family, Family::kUnspec);
  EXPECT_EQ(encode(Addresses{}), "PROXY UNKNOWN\r\n");
}

TEST(ProxyV1, UnknownWorstCaseIs107Bytes) {
  const std::string& line = kWorstUnknownLine;
  ASSERT_EQ(line.size(), kV1MaxLen);  // spec 2.1: "=> 107 chars"
  const DecodeResult r = decode(line);
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
  EXPECT_EQ(r.consumed, 107u);
}

// Spec 2.1: for UNKNOWN "the receiver must ignore anything presented before the CRLF".
TEST(ProxyV1, UnknownIgnoresTheRestOfTheLine) {
  const DecodeResult r = decode("PROXY UNKNOWN anything  at all: 1.2.3.999\r\n");
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_TRUE(r.is_local);
}

TEST(ProxyV1, SpecExampleBeforeRequest) {
  const std::string header = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const DecodeResult r = decode(header + "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.consumed, header.size());
  EXPECT_EQ(r.addresses, tcp4("192.168.0.1", 56324, "192.168.0.11", 443));
  EXPECT_EQ(encode(r.addresses), header);
}

TEST(ProxyV1, ZeroesAndSmallestValues) {
  const DecodeResult r = decode("PROXY TCP4 0.0.0.0 10.0.0.1 0 25\r\n");
  ASSERT_EQ(r.status, DecodeStatus::kOk);
  EXPECT_EQ(r.addresses, tcp4("0.0.0.0", 0, "10.0.0.1", 25));
}

TEST(ProxyV1, Ipv6TextForms) {
  struct Case {
    const char* text;
    const char* canonical;
  };
  for (const Case& c : {
           Case{"::", "::"},
           Case{"::1", "::1"},
           Case{"1::", "1::"},
           Case{"2001:DB8::A", "2001:db8::a"},
           Case{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
           Case{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
           Case{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
           Case{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
           Case{"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
           Case{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
       }) {
    const std::string line = std::string("PROXY TCP6 ") + c.text + " ::1 1 2\r\n";
    const DecodeResult r = decode(line);
    ASSERT_EQ(r.status, DecodeStatus::kOk) << c.text;
    EXPECT_EQ(r.addresses, tcp6(c.canonical, 1, "::1", 2)) << c.text;
  }
}

// ---- Encoder matches inet_ntop, so v1 lines equal HAProxy's ----

TEST(ProxyV1, EncoderMatchesInetNtop) {
  std::mt19937_64 rng(0x5052'4f58'5931ull);
  for (int i = 0; i < 20000; ++i) {
    Addresses a;
    a.family = Family::kTcp6;
    for (auto* ip : {&a.src, &a.dst}) {
      // Mostly-zero groups so every "::" placement and the dotted forms come up.
      for (size_t g = 0; g < 8; ++g) {
        const uint64_t pick = rng() % 4;
        const uint16_t word = pick == 0 ? static_cast<uint16_t>(rng()) : pick == 1 ? 1 : 0;
        (*ip)[2 * g] = static_cast<uint8_t>(word >> 8);
        (*ip)[2 * g + 1] = static_cast<uint8_t>(word);
      }
      if (rng() % 8 == 0) {  // ::ffff:a.b.c.d
        std::fill(ip->begin(), ip->begin() + 10, 0);
        (*ip)[10] = (*ip)[11] = 0xFF;
      }
    }
    a.src_port = static_cast<uint16_t>(rng());
    a.dst_port = static_cast<uint16_t>(rng());
    char src[INET6_ADDRSTRLEN];
    char dst[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, a.src.data(), src, sizeof(src)), nullptr);
    ASSERT_NE(inet_ntop(AF_INET6, a.dst.data(), dst, sizeof(dst)), nullptr);
    const std::string expected = std::string("PROXY TCP6 ") + src + " " + dst + " " +
                                 std::to_string(a.src_port) + " " + std::to_string(a.dst_port) +
                                 "\r\n";
    const std::string line = encode(a);
    ASSERT_EQ(line, expected);
    const DecodeResult r = decode(line);
    ASSERT_EQ(r.status, DecodeStatus::kOk) << line;
    ASSERT_EQ(r.addresses, a) << line;
  }
}

TEST(ProxyV1, EncoderRefusesSmallBuffers) {
  const Addresses a = tcp4("192.168.0.1", 56324, "192.168.0.11", 443);
  const std::string line = encode(a);
  std::vector<uint8_t> out(line.size(), 0xEE);
  EXPECT_EQ(encode_v1(a, out.data(), out.size()), line.size());
  std::vector<uint8_t> small(line.size() - 1, 0xEE);
  EXPECT_EQ(encode_v1(a, small.data(), small.size()), 0u);
  EXPECT_EQ(small, std::vector<uint8_t>(line.size() - 1, 0xEE));
  EXPECT_EQ(encode_v1(a, nullptr, 0), 0u);
}

// ---- One test per refusal ----

TEST(ProxyV1, BadSignature) {
  for (const char* text : {"PROXZ TCP4", "proxy TCP4", "XPROXY", "EHLO mx.example\r\n"}) {
    EXPECT_EQ(decode(text).status, DecodeStatus::kBadSignature) << text;
  }
  EXPECT_EQ(decode("PRX").status, DecodeStatus::kBadSignature);
}

TEST(ProxyV1, TooLongWithoutCrlf) {
  const std::string head = "PROXY UNKNOWN ";
  const std::string at_limit = head + std::string(kV1MaxLen - head.size(), 'x');
  EXPECT_EQ(decode(at_limit).status, DecodeStatus::kV1TooLong);
  EXPECT_EQ(decode(at_limit + "\r\n").status, DecodeStatus::kV1TooLong);
  EXPECT_EQ(decode(at_limit.substr(0, kV1MaxLen - 1)).status, DecodeStatus::kNeedMore);
  // The LF as the 107th byte is still inside the limit.
  const std::string longest = head + std::string(kV1MaxLen - head.size() - 2, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), kV1MaxLen);
  EXPECT_EQ(decode(longest).status, DecodeStatus::kOk);
  // One byte more and the LF is the 108th.
  const std::string over = head + std::string(kV1MaxLen - head.size() - 1, 'x') + "\r\n";
  EXPECT_EQ(decode(over).status, DecodeStatus::kV1TooLong);
}

TEST(ProxyV1, BadFormat) {
  for (const char* line : {
           "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",     // no space after PROXY
           "PROXY\r\n",                             // nothing at all
           "PROXY \r\n",                            // empty protocol word
           "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",   // two spaces
           "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",    // unknown protocol
           "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",    // protocol words are upper case
           "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",    // v1 carries TCP only
           "PROXY UNKNOWNX\r\n",                    // not the UNKNOWN word
           "PROXY TCP4\r\n",                        // no fields
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",      // three fields
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",  // five fields
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",   // trailing space
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",   // empty field
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",      // LF without CR
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\t2\r\n",   // tab is not a separator
       }) {
    EXPECT_EQ(decode(line).status, DecodeStatus::kV1BadFormat) << line;
  }
}

TEST(ProxyV1, BadAddress) {
  for (const char* line : {
           "PROXY TCP4 256.0.0.1 5.6.7.8 1 2\r\n",          // octet above 255
           "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",           // leading zero
           "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",              // three octets
           "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",          // five octets
           "PROXY TCP4 1..2.3 5.6.7.8 1 2\r\n",             // empty octet
           "PROXY TCP4 1.2.3.4 5.6.7.8x 1 2\r\n",           // trailing junk
           "PROXY TCP4 1.2.3.4 1234.6.7.8 1 2\r\n",         // four digits
           "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",                // IPv6 under TCP4
           "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",                // IPv4 under TCP6
           "PROXY TCP6 ::1 ::: 1 2\r\n",                    // three colons
           "PROXY TCP6 ::1 1::2::3 1 2\r\n",                // two "::"
           "PROXY TCP6 ::1 12345:: 1 2\r\n",                // five hex digits
           "PROXY TCP6 ::1 1:2:3:4:5:6:7 1 2\r\n",          // seven groups
           "PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n",      // nine groups
           "PROXY TCP6 ::1 1:2:3:4:5:6:7:8:: 1 2\r\n",      // "::" standing for nothing
           "PROXY TCP6 ::1 :1:2:3:4:5:6:7 1 2\r\n",         // leading single colon
           "PROXY TCP6 ::1 1:2:3:4:5:6:7: 1 2\r\n",         // trailing single colon
           "PROXY TCP6 ::1 ::ffff:1.2.3.256 1 2\r\n",       // bad dotted tail
           "PROXY TCP6 ::1 1:2:3:4:5:6:7:1.2.3.4 1 2\r\n",  // dotted tail past 128 bits
           "PROXY TCP6 ::1 ::g 1 2\r\n",                    // not hex
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",        // port above 65535
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",        // port above 65535
           "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",           // leading zero
           "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",           // sign
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",           // sign
           "PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",           // trailing junk
           "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",       // six digits
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",          // CR inside the last port
       }) {
    EXPECT_EQ(decode(line).status, DecodeStatus::kV1BadAddress) << line;
  }
}

TEST(ProxyV1, EveryPrefixOfValidLinesNeedsMore) {
  for (const std::string& line : {
           std::string("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
           kLongestTcp6Line,
           std::string("PROXY UNKNOWN\r\n"),
           kWorstUnknownLine,
       }) {
    for (size_t n = 0; n < line.size(); ++n) {
      const std::vector<uint8_t> prefix(line.begin(), line.begin() + n);
      const DecodeResult r = decode_v1(prefix.data(), prefix.size());
      EXPECT_EQ(r.status, DecodeStatus::kNeedMore) << n << " of " << line;
      EXPECT_EQ(r.consumed, 0u);
    }
    EXPECT_EQ(decode(line).status, DecodeStatus::kOk);
  }
}

}  // namespace
}  // namespace postern::dataplane::proxy
