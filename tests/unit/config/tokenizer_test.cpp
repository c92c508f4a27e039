// The haproxy.cfg line tokenizer: words, comments, quotes and escapes as HAProxy's parse_line().
#include "tokenizer.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

using Words = std::vector<std::string>;

Words words(std::string_view line) {
  TokenizedLine t = tokenize_line(line);
  EXPECT_EQ(t.error, "") << line;
  return t.words;
}

TEST(Tokenizer, SplitsOnSpacesAndTabs) {
  EXPECT_EQ(words("  server  s1\t10.0.0.1:143   check "),
            (Words{"server", "s1", "10.0.0.1:143", "check"}));
  EXPECT_EQ(words(""), Words{});
  EXPECT_EQ(words("   \t "), Words{});
}

TEST(Tokenizer, DropsCommentsOutsideQuotes) {
  EXPECT_EQ(words("maxconn 10 # the limit"), (Words{"maxconn", "10"}));
  EXPECT_EQ(words("# whole line"), Words{});
  EXPECT_EQ(words("send \"a#b\" 'c#d'"), (Words{"send", "a#b", "c#d"}));
  EXPECT_EQ(words("x a\\#b"), (Words{"x", "a#b"}));
}

TEST(Tokenizer, KeepsSpacesInsideQuotes) {
  EXPECT_EQ(words("tcp-check send \"a001 LOGOUT\""), (Words{"tcp-check", "send", "a001 LOGOUT"}));
  EXPECT_EQ(words("x 'two words'"), (Words{"x", "two words"}));
}

TEST(Tokenizer, JoinsQuotedAndBarePartsOfOneWord) {
  EXPECT_EQ(words("x a\"b c\"d"), (Words{"x", "ab cd"}));
  EXPECT_EQ(words("x \"it's\" 'say \"hi\"'"), (Words{"x", "it's", "say \"hi\""}));
}

TEST(Tokenizer, MakesAnEmptyWordFromEmptyQuotes) {
  EXPECT_EQ(words("log-format \"\" x"), (Words{"log-format", "", "x"}));
  EXPECT_EQ(words("a ''"), (Words{"a", ""}));
}

TEST(Tokenizer, ResolvesBackslashEscapes) {
  EXPECT_EQ(words("x a\\ b"), (Words{"x", "a b"}));
  EXPECT_EQ(words("x a\\\\b"), (Words{"x", "a\\b"}));
  EXPECT_EQ(words("x \\\"q\\\""), (Words{"x", "\"q\""}));
  EXPECT_EQ(words("x \\'q\\'"), (Words{"x", "'q'"}));
  EXPECT_EQ(words("x \\x41\\x2b"), (Words{"x", "A+"}));
  EXPECT_EQ(words("send \"a\\r\\n\\tb\""), (Words{"send", "a\r\n\tb"}));
}

TEST(Tokenizer, LeavesUnknownEscapesAsWritten) {
  EXPECT_EQ(words("expect rstring ^\\d+\\1"), (Words{"expect", "rstring", "^\\d+\\1"}));
}

TEST(Tokenizer, TakesNoEscapesInsideSingleQuotes) {
  EXPECT_EQ(words("x 'a\\nb'"), (Words{"x", "a\\nb"}));
}

TEST(Tokenizer, StopsAtCarriageReturnOfCrlfFiles) {
  EXPECT_EQ(words("mode tcp\r"), (Words{"mode", "tcp"}));
}

TEST(Tokenizer, ReportsUnterminatedQuotes) {
  EXPECT_EQ(tokenize_line("send \"abc").error, "unmatched double quote");
  EXPECT_EQ(tokenize_line("send 'abc").error, "unmatched single quote");
}

TEST(Tokenizer, ReportsBadHexEscapes) {
  EXPECT_NE(tokenize_line("x \\xZ1").error.find("hex escape"), std::string::npos);
  EXPECT_NE(tokenize_line("x \\x4").error.find("hex escape"), std::string::npos);
}

}  // namespace
}  // namespace postern::config
