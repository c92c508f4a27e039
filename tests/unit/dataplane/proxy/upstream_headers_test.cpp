// Collecting an upstream proxy's header from segment payloads: split at every byte, sent
// again with overlap, cut short by a FIN, and with every buffer of the pool held.
#include "proxy/upstream_headers.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::dataplane::proxy {
namespace {

using Status = UpstreamHeaders::Status;

const std::string kV1 = "PROXY TCP4 203.0.113.7 198.18.0.100 4444 143\r\n";  // 46 bytes

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

TEST(UpstreamHeaders, AHeaderSplitAtEveryByteCompletesWithTheRightRemainder) {
  for (std::size_t cut = 1; cut < kV1.size(); ++cut) {
    SCOPED_TRACE(cut);
    UpstreamHeaders pool(1);
    std::uint16_t buffer = UpstreamHeaders::kNone;
    std::uint16_t have = 0;
    const std::string first = kV1.substr(0, cut);
    const std::string second = kV1.substr(cut) + "EHLO x\r\n";
    auto r =
        pool.add(buffer, have, bytes(first), static_cast<std::uint16_t>(first.size()), 0, false);
    ASSERT_EQ(r.status, Status::kNeedMore);
    EXPECT_EQ(pool.free(), 0U);
    r = pool.add(buffer, have, bytes(second), static_cast<std::uint16_t>(second.size()), 0, false);
    ASSERT_EQ(r.status, Status::kComplete);
    EXPECT_EQ(r.decoded.consumed, kV1.size());
    EXPECT_EQ(r.in_segment, kV1.size() - cut) << "the rest of the segment is client data";
    EXPECT_EQ(pool.free(), 1U) << "a complete header gives its buffer back";
    EXPECT_EQ(buffer, UpstreamHeaders::kNone);
  }
}

TEST(UpstreamHeaders, ASegmentSentAgainWithOverlapCountsOnlyItsNewBytes) {
  UpstreamHeaders pool(1);
  std::uint16_t buffer = UpstreamHeaders::kNone;
  std::uint16_t have = 0;
  pool.add(buffer, have, bytes(kV1), 20, 0, false);
  // The sender repeats from byte 10: the first 10 of these 36 are held already.
  const std::string again = kV1.substr(10);
  const auto r =
      pool.add(buffer, have, bytes(again), static_cast<std::uint16_t>(again.size()), 10, false);
  ASSERT_EQ(r.status, Status::kComplete);
  EXPECT_EQ(r.in_segment, again.size());
}

TEST(UpstreamHeaders, AFinBeforeTheHeaderIsCompleteIsMalformed) {
  UpstreamHeaders pool(1);
  std::uint16_t buffer = UpstreamHeaders::kNone;
  std::uint16_t have = 0;
  const auto r = pool.add(buffer, have, bytes(kV1), 30, 0, true);
  EXPECT_EQ(r.status, Status::kMalformed);
  EXPECT_EQ(pool.free(), 1U);
}

TEST(UpstreamHeaders, GarbageIsMalformedAtOnce) {
  UpstreamHeaders pool(1);
  std::uint16_t buffer = UpstreamHeaders::kNone;
  std::uint16_t have = 0;
  const std::string hello = "EHLO mail.example\r\n";
  EXPECT_EQ(pool.add(buffer, have, bytes(hello), static_cast<std::uint16_t>(hello.size()), 0, false)
                .status,
            Status::kMalformed);
}

TEST(UpstreamHeaders, WithEveryBufferHeldANewFlowGetsNone) {
  UpstreamHeaders pool(2);
  std::uint16_t b[3] = {UpstreamHeaders::kNone, UpstreamHeaders::kNone, UpstreamHeaders::kNone};
  std::uint16_t have[3] = {};
  EXPECT_EQ(pool.add(b[0], have[0], bytes(kV1), 5, 0, false).status, Status::kNeedMore);
  EXPECT_EQ(pool.add(b[1], have[1], bytes(kV1), 5, 0, false).status, Status::kNeedMore);
  EXPECT_EQ(pool.add(b[2], have[2], bytes(kV1), 5, 0, false).status, Status::kNoBuffer);
  pool.release(b[0]);
  EXPECT_EQ(b[0], UpstreamHeaders::kNone);
  EXPECT_EQ(pool.add(b[2], have[2], bytes(kV1), 5, 0, false).status, Status::kNeedMore);
}

}  // namespace
}  // namespace postern::dataplane::proxy
