// Durations with HAProxy's units, numbers, hex strings and the typo suggestion.
#include "text.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

TEST(Duration, ReadsEveryHaproxyUnit) {
  EXPECT_EQ(parse_duration("250").value, 250);  // no unit: milliseconds
  EXPECT_EQ(parse_duration("250ms").value, 250);
  EXPECT_EQ(parse_duration("10s").value, 10000);
  EXPECT_EQ(parse_duration("1m").value, 60000);
  EXPECT_EQ(parse_duration("2h").value, 7200000);
  EXPECT_EQ(parse_duration("1d").value, 86400000);
  EXPECT_EQ(parse_duration("0").value, 0);
}

TEST(Duration, RoundsMicrosecondsUpLikeHaproxy) {
  EXPECT_EQ(parse_duration("500us").value, 1);
  EXPECT_EQ(parse_duration("1000us").value, 1);
  EXPECT_EQ(parse_duration("1001us").value, 2);
  EXPECT_EQ(parse_duration("0us").value, 0);
}

TEST(Duration, RejectsUnknownUnits) {
  const auto r = parse_duration("10x");
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.error, "unknown time unit 'x' in '10x' (units: us, ms, s, m, h, d)");
  EXPECT_FALSE(parse_duration("10 s").value);
  EXPECT_FALSE(parse_duration("10sec").value);
  EXPECT_FALSE(parse_duration("1m30s").value);
}

TEST(Duration, RejectsNonNumbers) {
  EXPECT_FALSE(parse_duration("s10").value);
  EXPECT_FALSE(parse_duration("").value);
  EXPECT_FALSE(parse_duration("-1s").value);
}

TEST(Duration, RejectsTimersPastHaproxysMaximum) {
  EXPECT_EQ(parse_duration("24d").value, 24 * 86400000LL);
  EXPECT_EQ(parse_duration("2147483647").value, 2147483647);
  const auto r = parse_duration("25d");
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("timer overflow"), std::string::npos) << r.error;
  EXPECT_FALSE(parse_duration("99999999999999999999999999h").value);
}

TEST(Duration, PrintsTheLargestExactUnit) {
  EXPECT_EQ(format_duration(10000), "10s");
  EXPECT_EQ(format_duration(60000), "1m");
  EXPECT_EQ(format_duration(90000), "90s");
  EXPECT_EQ(format_duration(250), "250ms");
  EXPECT_EQ(format_duration(3600000), "1h");
  EXPECT_EQ(format_duration(86400000), "1d");
  EXPECT_EQ(format_duration(0), "0ms");
  for (Millis ms : {1LL, 999LL, 1000LL, 61000LL, 3660000LL, 90000000LL, 2147483647LL}) {
    EXPECT_EQ(parse_duration(format_duration(ms)).value, ms) << ms;
  }
}

TEST(Unsigned, ReadsDigitsWithinTheLimit) {
  EXPECT_EQ(parse_unsigned("128000", UINT32_MAX).value, 128000U);
  EXPECT_EQ(parse_unsigned("0", 10).value, 0U);
  EXPECT_FALSE(parse_unsigned("-1", UINT32_MAX).value);
  EXPECT_FALSE(parse_unsigned("1e3", UINT32_MAX).value);
  EXPECT_FALSE(parse_unsigned("", UINT32_MAX).value);
  const auto r = parse_unsigned("4294967296", UINT32_MAX);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.error, "4294967296 is out of range (maximum 4294967295)");
}

TEST(Hex, NormalisesToLowerCase) {
  EXPECT_EQ(parse_hex("0D0a2B").value, "0d0a2b");
  EXPECT_FALSE(parse_hex("abc").value);
  EXPECT_FALSE(parse_hex("zz").value);
  EXPECT_FALSE(parse_hex("").value);
}

TEST(Suggestion, FindsTheKeywordATypoMeant) {
  static constexpr std::string_view kWords[] = {"roundrobin", "static-rr", "check", "server"};
  EXPECT_EQ(did_you_mean("roundrobinx", kWords), "did you mean 'roundrobin'?");
  EXPECT_EQ(did_you_mean("chek", kWords), "did you mean 'check'?");
  EXPECT_EQ(did_you_mean("serer", kWords), "did you mean 'server'?");
  EXPECT_EQ(did_you_mean("frobnicate", kWords), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
}

}  // namespace
}  // namespace postern::config
