// SACK blocks of server->client segments mapped into the client's space: blocks over
// Postern's own header bytes removed, a straddling block clamped, the option compacted with
// NOPs, at every option offset; the TCP checksum judged by the builder's full sum.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "net/frame.hpp"
#include "net/tcp_options.hpp"
#include "support/packet_builder.hpp"

namespace postern::dataplane {
namespace {

using test::Bytes;
using Blocks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

constexpr std::uint8_t kNop = 1;
constexpr std::int32_t kDelta = 28;     // the PROXY v2 header for IPv4
constexpr std::uint32_t kFloor = 1000;  // client ISN + 1: the header is [1000, 1028) server-side

Bytes sack_option(const Blocks& blocks) {
  Bytes o = {5, static_cast<std::uint8_t>(2 + 8 * blocks.size())};
  for (const auto& [left, right] : blocks) {
    for (std::uint32_t edge : {left, right}) {
      o.insert(o.end(),
               {static_cast<std::uint8_t>(edge >> 24), static_cast<std::uint8_t>(edge >> 16),
                static_cast<std::uint8_t>(edge >> 8), static_cast<std::uint8_t>(edge)});
    }
  }
  return o;
}

Bytes nops(std::size_t n) {
  return Bytes(n, kNop);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// What the builder does with an options area: padded with NOPs to 32 bits.
Bytes padded(Bytes b) {
  while (b.size() % 4 != 0) {
    b.push_back(kNop);
  }
  return b;
}

Bytes timestamp_option() {
  return {8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};
}

Bytes segment(const Bytes& options) {
  return test::TcpPacket()
      .from("198.19.0.10", 143)
      .to("198.19.0.1", 50000)
      .seq(777)
      .ack(kFloor + kDelta)
      .flags(test::kAck)
      .raw_options(options)
      .payload("* OK\r\n")
      .build();
}

// Runs shift_sack_blocks over the frame's options as the splice does; returns the options.
Bytes shift(Bytes& frame, std::int32_t delta, Seq floor) {
  FrameView v;
  DropReason reason{};
  EXPECT_EQ(parse_frame(frame.data(), static_cast<std::uint16_t>(frame.size()), v, reason),
            FrameKind::kTcp4);
  std::uint16_t check = v.tcp->cksum;
  shift_sack_blocks(v.tcp_options(), v.tcp_options_len(), delta, floor, check);
  v.tcp->cksum = check;
  return Bytes(v.tcp_options(), v.tcp_options() + v.tcp_options_len());
}

struct SackCase {
  const char* name;
  Bytes options;   // as the server sent them (before padding)
  Bytes expected;  // the options area after the shift (before padding)
};

void PrintTo(const SackCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<SackCase> sack_cases() {
  const std::uint32_t f = kFloor;
  const std::uint32_t c = kFloor + kDelta;  // the client's first byte, server-side
  return {
      {"PlainShift", cat({nops(2), sack_option({{c + 10, c + 20}})}),
       cat({nops(2), sack_option({{f + 10, f + 20}})})},
      {"DsackInsideHeaderRemoved", cat({nops(2), sack_option({{f + 4, f + 20}})}), nops(12)},
      {"WholeHeaderRemoved", cat({nops(2), sack_option({{f, c}})}), nops(12)},
      {"DsackAfterTimestampRemoved",
       cat({nops(2), timestamp_option(), nops(2), sack_option({{f, f + 1}})}),
       cat({nops(2), timestamp_option(), nops(12)})},
      {"FirstOfSeveralRemoved",
       cat({nops(2), sack_option({{f + 4, f + 20}, {c + 40, c + 50}, {c + 60, c + 70}})}),
       cat({nops(2), sack_option({{f + 40, f + 50}, {f + 60, f + 70}}), nops(8)})},
      {"MiddleBlockRemovedLaterOnesMoveUp",
       cat({nops(2), sack_option({{c + 40, c + 50}, {f + 4, f + 8}, {c + 60, c + 70}})}),
       cat({nops(2), sack_option({{f + 40, f + 50}, {f + 60, f + 70}}), nops(8)})},
      {"TwoOfFourRemoved",
       cat({nops(2),
            sack_option({{f + 1, f + 2}, {c + 5, c + 6}, {f + 3, f + 4}, {c + 8, c + 9}})}),
       cat({nops(2), sack_option({{f + 5, f + 6}, {f + 8, f + 9}}), nops(16)})},
      {"AllBlocksRemoved",
       cat({nops(2), sack_option({{f, c}, {f + 10, f + 20}, {f - 100, f - 50}})}), nops(28)},
      {"StraddlingBlockClamped", cat({nops(2), sack_option({{f + 20, c + 6}})}),
       cat({nops(2), sack_option({{f, f + 6}})})},
      {"RightEdgeOnTheFloorRemoved", cat({nops(2), sack_option({{f + 20, c}, {c + 1, c + 2}})}),
       cat({nops(2), sack_option({{f + 1, f + 2}}), nops(8)})},
      {"RightEdgeOneAboveTheFloorKept", cat({nops(2), sack_option({{c - 1, c + 1}})}),
       cat({nops(2), sack_option({{f, f + 1}})})},
      {"OddOffsetShift", cat({nops(1), sack_option({{c + 3, c + 9}})}),
       cat({nops(1), sack_option({{f + 3, f + 9}})})},
      {"OddOffsetFirstRemoved", cat({nops(1), sack_option({{f + 8, c}, {c + 3, c + 9}})}),
       cat({nops(1), sack_option({{f + 3, f + 9}}), nops(8)})},
      {"OddOffsetAllRemoved", cat({nops(3), sack_option({{f + 8, f + 9}, {f, c}})}), nops(21)},
      {"OddOffsetAfterTimestamp",
       cat({timestamp_option(), nops(1), sack_option({{f, f + 2}, {c + 0x10000, c + 0x20000}})}),
       cat({timestamp_option(), nops(1), sack_option({{f + 0x10000, f + 0x20000}}), nops(8)})},
      {"BorrowAcrossTheHighWordAtAnOddOffset",
       cat({nops(1), sack_option({{0x00020005, 0x00020010}})}),
       cat({nops(1), sack_option({{0x0001ffe9, 0x0001fff4}})})},
  };
}

class SackShift : public testing::TestWithParam<SackCase> {};

TEST_P(SackShift, RewritesBlocksAndKeepsTheChecksumExact) {
  const SackCase& c = GetParam();
  Bytes frame = segment(c.options);
  const std::size_t size = frame.size();
  const Bytes got = shift(frame, kDelta, Seq(kFloor));
  EXPECT_EQ(got, padded(c.expected));
  EXPECT_EQ(frame.size(), size);
  const test::Decoded d = test::decode(frame);
  EXPECT_TRUE(d.tcp_checksum_ok);
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "* OK\r\n");
}

INSTANTIATE_TEST_SUITE_P(TcpOptions, SackShift, testing::ValuesIn(sack_cases()),
                         [](const testing::TestParamInfo<SackCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(TcpOptions, SackShiftAcrossTheSequenceWrap) {
  const Seq floor(0xfffffff0U);
  const std::uint32_t f = floor.value();
  const std::uint32_t c = f + kDelta;  // 0x0000000c
  Bytes frame =
      segment(cat({nops(2), sack_option({{f + 1, f + 3}, {c - 2, c + 5}, {c + 9, c + 20}})}));
  const Bytes got = shift(frame, kDelta, floor);
  EXPECT_EQ(got, padded(cat({nops(2), sack_option({{f, f + 5}, {f + 9, f + 20}}), nops(8)})));
  const test::Decoded d = test::decode(frame);
  EXPECT_TRUE(d.tcp_checksum_ok);
  EXPECT_EQ(d.sack, (Blocks{{0xfffffff0U, 0xfffffff5U}, {0xfffffff9U, 0x00000004U}}));
}

// Lengths a receiver would not read as SACK blocks: the bytes and checksum stay as they came.
TEST(TcpOptions, SackShiftLeavesMalformedOptionsAlone) {
  const std::uint32_t f = kFloor;
  const std::vector<std::pair<const char*, Bytes>> cases = {
      {"not 2 + 8n", cat({nops(2), {5, 9}, Bytes(7, 0)})},
      {"no block", cat({nops(2), {5, 2}})},
      {"length 1", {5, 1, 0, 0}},
      {"length 0", {5, 0, 0, 0}},
      {"overruns the area", cat({{5, 18}, sack_option({{f, f + 1}})})},
      {"after a zero-length option", cat({{8, 0}, nops(2), sack_option({{f, f + 1}})})},
      {"after an overrunning option", cat({{8, 40}, nops(2), sack_option({{f, f + 1}})})},
      {"after the end of options", cat({{0, 0}, nops(2), sack_option({{f, f + 1}})})},
  };
  for (const auto& [name, options] : cases) {
    Bytes frame = segment(options);
    const Bytes before = frame;
    shift(frame, kDelta, Seq(kFloor));
    EXPECT_EQ(frame, before) << name;
  }
}

// Random option layouts against a plain model of the rule.
TEST(TcpOptions, SackShiftMatchesTheModelAtRandom) {
  std::mt19937 rng(2883);
  for (int round = 0; round < 3000; ++round) {
    const Seq floor(static_cast<std::uint32_t>(rng()));
    const auto delta = static_cast<std::int32_t>(rng() % 200) - 20;
    const std::size_t lead = rng() % 4;
    const bool with_ts = rng() % 2 == 0;
    const std::size_t room = (40 - lead - (with_ts ? 10 : 0) - 2) / 8;
    const std::size_t n = 1 + rng() % std::min<std::size_t>(room, 4);
    Blocks blocks;
    Blocks expected;
    for (std::size_t i = 0; i < n; ++i) {
      // Edges within 100 bytes of the floor after the shift, either side.
      const std::uint32_t left = floor.value() + delta + (rng() % 200) - 100;
      const std::uint32_t right = left + 1 + rng() % 80;
      blocks.emplace_back(left, right);
      const Seq l = Seq(left) - delta;
      const Seq r = Seq(right) - delta;
      if (after(r, floor)) {
        expected.emplace_back((before(l, floor) ? floor : l).value(), r.value());
      }
    }
    const Bytes head = with_ts ? cat({nops(lead), timestamp_option()}) : nops(lead);
    Bytes frame = segment(cat({head, sack_option(blocks)}));
    const Bytes got = shift(frame, delta, floor);
    const Bytes want = expected.empty()
                           ? cat({head, nops(2 + 8 * n)})
                           : cat({head, sack_option(expected), nops(8 * (n - expected.size()))});
    ASSERT_EQ(got, padded(want)) << round;
    const test::Decoded d = test::decode(frame);
    ASSERT_TRUE(d.tcp_checksum_ok) << round;
    ASSERT_EQ(d.sack, expected) << round;
  }
}

}  // namespace
}  // namespace postern::dataplane
