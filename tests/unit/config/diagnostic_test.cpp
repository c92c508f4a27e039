// The diagnostic text operators and scripts read, and the cap on how many are kept.
#include "postern/config/diagnostic.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

TEST(Diagnostic, FormatsFileAndLine) {
  const Diagnostic d{Severity::kError, "haproxy.cfg", 12, 0, "unknown keyword 'x'", ""};
  EXPECT_EQ(format(d), "haproxy.cfg:12: error: unknown keyword 'x'");
}

TEST(Diagnostic, AddsTheColumnWhenKnown) {
  const Diagnostic d{Severity::kWarning, "p.yaml", 3, 7, "something", ""};
  EXPECT_EQ(format(d), "p.yaml:3:7: warning: something");
}

TEST(Diagnostic, AppendsTheHintInParentheses) {
  const Diagnostic d{Severity::kError,
                     "h.cfg",
                     4,
                     0,
                     "'balance': unknown algorithm 'rr'",
                     "did you mean 'roundrobin'?"};
  EXPECT_EQ(format(d),
            "h.cfg:4: error: 'balance': unknown algorithm 'rr' (did you mean 'roundrobin'?)");
}

TEST(Diagnostic, NamesOnlyTheFileForWholeFileProblems) {
  const Diagnostic d{Severity::kError, "/etc/x.cfg", 0, 0, "cannot open file", ""};
  EXPECT_EQ(format(d), "/etc/x.cfg: error: cannot open file");
}

TEST(Diagnostics, CountsBySeverity) {
  Diagnostics diags;
  diags.warning("f", 1, 0, "w");
  EXPECT_FALSE(diags.has_errors());
  diags.error("f", 2, 0, "e", "h");
  EXPECT_TRUE(diags.has_errors());
  EXPECT_EQ(diags.errors(), 1U);
  EXPECT_EQ(diags.warnings(), 1U);
  ASSERT_EQ(diags.items().size(), 2U);
  EXPECT_EQ(diags.items()[1].hint, "h");
}

TEST(Diagnostics, StopsRecordingAtTheCapButKeepsCounting) {
  Diagnostics diags;
  const std::size_t total = Diagnostics::kMaxRecorded + 50;
  for (std::size_t i = 0; i < total; ++i) {
    diags.error("f", static_cast<int>(i + 1), 0, "e");
  }
  EXPECT_EQ(diags.items().size(), Diagnostics::kMaxRecorded);
  EXPECT_TRUE(diags.truncated());
  EXPECT_EQ(diags.errors(), total);
  EXPECT_TRUE(diags.has_errors());
}

}  // namespace
}  // namespace postern::config
