// The `defense:` section and the listeners' `syn_proxy` key (issue 9): each key's default, a
// value read, a bad value named at its FILE:LINE:COLUMN, the dump read back, files merged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::clean;
using testing::has_diagnostic;
using testing::lines;
using testing::no_errors;
using testing::yaml;

Defense read_defense(const std::string& body, Diagnostics& diags) {
  const Config c = yaml("defense:\n" + body, diags);
  return c.defense.value_or(Defense{});
}

TEST(YamlDefense, AnEmptySectionHasEveryDefault) {
  Diagnostics diags;
  const Config c = yaml(lines({"defense: {}"}), diags);
  ASSERT_TRUE(clean(diags));
  ASSERT_TRUE(c.defense);
  const Defense& d = *c.defense;
  EXPECT_EQ(d.syn_proxy, SynProxy::kAuto);
  EXPECT_EQ(d.syn_proxy_above, 1024U);
  EXPECT_EQ(d.syn_proxy_mss, 1460U);
  EXPECT_EQ(d.half_open_per_source, 0U);
  EXPECT_EQ(d.half_open_timeout, 16000);
  EXPECT_EQ(d.refuse, Refuse::kRst);
  EXPECT_EQ(d.mbuf_reserve, 10U);
}

TEST(YamlDefense, AFileWithoutTheSectionHasNone) {
  Diagnostics diags;
  const Config c = yaml(lines({"listeners: []"}), diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_FALSE(c.defense);
}

TEST(YamlDefense, ReadsEveryKey) {
  Diagnostics diags;
  const Defense d = read_defense(lines({
                                     "  syn_proxy: on",
                                     "  syn_proxy_above: 1",
                                     "  syn_proxy_mss: 536",
                                     "  half_open_per_source: 0",
                                     "  half_open_timeout: 2s",
                                     "  refuse: drop",
                                     "  mbuf_reserve: 50",
                                 }),
                                 diags);
  ASSERT_TRUE(clean(diags));
  EXPECT_EQ(d.syn_proxy, SynProxy::kOn);
  EXPECT_EQ(d.syn_proxy_above, 1U);
  EXPECT_EQ(d.syn_proxy_mss, 536U);
  EXPECT_EQ(d.half_open_per_source, 0U);
  EXPECT_EQ(d.half_open_timeout, 2000);
  EXPECT_EQ(d.refuse, Refuse::kDrop);
  EXPECT_EQ(d.mbuf_reserve, 50U);
}

TEST(YamlDefense, ReadsTheOtherWordsAndForms) {
  Diagnostics diags;
  Defense d = read_defense(lines({"  syn_proxy: off", "  refuse: rst", "  mbuf_reserve: \"25%\"",
                                  "  half_open_timeout: 60000", "  syn_proxy_mss: 9000"}),
                           diags);
  ASSERT_TRUE(clean(diags));
  EXPECT_EQ(d.syn_proxy, SynProxy::kOff);
  EXPECT_EQ(d.refuse, Refuse::kRst);
  EXPECT_EQ(d.mbuf_reserve, 25U);
  EXPECT_EQ(d.half_open_timeout, 60000);
  EXPECT_EQ(d.syn_proxy_mss, 9000U);
  d = read_defense(lines({"  syn_proxy: auto", "  half_open_timeout: 1s", "  mbuf_reserve: 0"}),
                   diags);
  ASSERT_TRUE(clean(diags));
  EXPECT_EQ(d.syn_proxy, SynProxy::kAuto);
  EXPECT_EQ(d.half_open_timeout, 1000);
  EXPECT_EQ(d.mbuf_reserve, 0U);
}

struct BadValue {
  const char* line;      // the key and its value, at line 2 of the file
  const char* expected;  // the diagnostic's text
};

class YamlDefenseBadValue : public ::testing::TestWithParam<BadValue> {};

TEST_P(YamlDefenseBadValue, IsAnErrorAtItsValue) {
  Diagnostics diags;
  yaml(lines({"defense:", GetParam().line}), diags, "d.yaml");
  EXPECT_TRUE(has_diagnostic(diags, GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    EveryKey, YamlDefenseBadValue,
    ::testing::Values(
        BadValue{"  syn_proxy: always",
                 "d.yaml:2:14: error: 'syn_proxy' expects 'auto', 'on' or 'off'"},
        BadValue{"  syn_proxy: [on]", "d.yaml:2:14: error: 'syn_proxy' must be a string"},
        BadValue{"  syn_proxy_above: 0",
                 "d.yaml:2:20: error: 'syn_proxy_above' must be between 1 and 4294967295, not 0"},
        BadValue{"  syn_proxy_above: many", "d.yaml:2:20: error: 'syn_proxy_above': "},
        BadValue{"  syn_proxy_mss: 535",
                 "d.yaml:2:18: error: 'syn_proxy_mss' must be between 536 and 9000, not 535"},
        BadValue{"  syn_proxy_mss: 9001",
                 "d.yaml:2:18: error: 'syn_proxy_mss' must be between 536 and 9000, not 9001"},
        BadValue{"  half_open_per_source: -1", "d.yaml:2:25: error: 'half_open_per_source': "},
        BadValue{"  half_open_timeout: 999ms",
                 "d.yaml:2:22: error: 'half_open_timeout' must be between 1s and 1m, not 999ms"},
        BadValue{"  half_open_timeout: 61s",
                 "d.yaml:2:22: error: 'half_open_timeout' must be between 1s and 1m, not 61s"},
        BadValue{"  half_open_timeout: soon", "d.yaml:2:22: error: 'half_open_timeout': "},
        BadValue{"  refuse: reset", "d.yaml:2:11: error: 'refuse' expects 'rst' or 'drop'"},
        BadValue{"  mbuf_reserve: 51",
                 "d.yaml:2:17: error: 'mbuf_reserve' must be between 0 and 50 (percent of the "
                 "mbuf pool), not 51"},
        BadValue{"  mbuf_reserve: ten", "d.yaml:2:17: error: 'mbuf_reserve': "},
        BadValue{"  mbuf_reserve: \"60%\"",
                 "d.yaml:2:17: error: 'mbuf_reserve' must be between 0 and 50"},
        BadValue{"  syn_cookies: on",
                 "d.yaml:2:3: error: unknown key 'syn_cookies' in 'defense'"}));

TEST(YamlDefense, SuggestsTheNearestWord) {
  Diagnostics diags;
  yaml(lines({"defense:", "  refuse: dorp"}), diags, "d.yaml");
  EXPECT_TRUE(has_diagnostic(diags, "d.yaml:2:11: error: 'refuse' expects 'rst' or 'drop'"));
  EXPECT_TRUE(has_diagnostic(diags, "drop"));
}

TEST(YamlDefense, MustBeAMapping) {
  Diagnostics diags;
  yaml(lines({"defense: on"}), diags, "d.yaml");
  EXPECT_TRUE(has_diagnostic(diags, "d.yaml:1:10: error: 'defense' must be a mapping"));
}

TEST(YamlDefense, ALaterSectionReplacesAnEarlierOneWhole) {
  Diagnostics diags;
  Config c;
  parse_yaml(lines({"defense: {refuse: drop, mbuf_reserve: 20}"}), "a.yaml", c, diags);
  parse_yaml(lines({"defense: {syn_proxy: on}"}), "b.yaml", c, diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "b.yaml:1:10: warning: this 'defense' section replaces the one at a.yaml:1"));
  ASSERT_TRUE(c.defense);
  EXPECT_EQ(c.defense->syn_proxy, SynProxy::kOn);
  EXPECT_EQ(c.defense->refuse, Refuse::kRst);  // not kept from a.yaml
  EXPECT_EQ(c.defense->mbuf_reserve, 10U);
}

// ---------------------------------------------------------------------------------------------
// The listener's own `syn_proxy`.

const char* const kListener = "listeners:\n  - name: imap\n    binds: [\"0.0.0.0:143\"]\n";

TEST(YamlListenerSynProxy, IsUnsetByDefault) {
  Diagnostics diags;
  const Config c = yaml(kListener, diags);
  ASSERT_TRUE(no_errors(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_FALSE(c.listeners[0].syn_proxy);
}

TEST(YamlListenerSynProxy, ReadsEachMode) {
  for (const auto& [word, mode] : {std::pair{"on", SynProxy::kOn}, std::pair{"off", SynProxy::kOff},
                                   std::pair{"auto", SynProxy::kAuto}}) {
    Diagnostics diags;
    const Config c = yaml(std::string(kListener) + "    syn_proxy: " + word + "\n", diags);
    ASSERT_TRUE(no_errors(diags)) << word;
    ASSERT_EQ(c.listeners.size(), 1U);
    EXPECT_EQ(c.listeners[0].syn_proxy, mode) << word;
  }
}

TEST(YamlListenerSynProxy, ComesFromDefaults) {
  Diagnostics diags;
  const Config c = yaml("defaults:\n  syn_proxy: on\n" + std::string(kListener), diags);
  ASSERT_TRUE(no_errors(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].syn_proxy, SynProxy::kOn);
}

TEST(YamlListenerSynProxy, ABadModeIsAnErrorAtItsValue) {
  Diagnostics diags;
  yaml(std::string(kListener) + "    syn_proxy: yes please\n", diags, "l.yaml");
  EXPECT_TRUE(
      has_diagnostic(diags, "l.yaml:4:16: error: 'syn_proxy' expects 'auto', 'on' or 'off'"));
}

// ---------------------------------------------------------------------------------------------
// The dump (`postern -c --dump-yaml`).

TEST(YamlDefense, TheDumpReadsBackEqual) {
  Config model;
  Defense d;
  d.syn_proxy = SynProxy::kOff;
  d.syn_proxy_above = 7;
  d.syn_proxy_mss = 1400;
  d.half_open_per_source = 0;
  d.half_open_timeout = 1500;
  d.refuse = Refuse::kDrop;
  d.mbuf_reserve = 0;
  model.defense = d;
  Listener l;
  l.name = "imap";
  l.binds.push_back(Bind{testing::endpoint("0.0.0.0:143"), false, {}});
  l.syn_proxy = SynProxy::kOn;
  model.listeners.push_back(l);
  l.name = "pop3";
  l.syn_proxy = SynProxy::kOff;
  model.listeners.push_back(l);
  l.name = "sieve";
  l.syn_proxy.reset();
  model.listeners.push_back(l);

  const std::string text = to_yaml(model);
  EXPECT_NE(text.find("defense:\n  syn_proxy: \"off\"\n  syn_proxy_above: 7\n  syn_proxy_mss: "
                      "1400\n  half_open_per_source: 0\n  half_open_timeout: 1500ms\n  refuse: "
                      "drop\n  mbuf_reserve: 0\n"),
            std::string::npos)
      << text;
  Diagnostics diags;
  Config back;
  parse_yaml(text, "dump.yaml", back, diags);
  EXPECT_TRUE(clean(diags)) << text;
  EXPECT_EQ(back, model) << text;
  ASSERT_TRUE(back.defense);
  EXPECT_EQ(back.defense->half_open_timeout, 1500);
  ASSERT_EQ(back.listeners.size(), 3U);
  EXPECT_EQ(back.listeners[0].syn_proxy, SynProxy::kOn);
  EXPECT_EQ(back.listeners[1].syn_proxy, SynProxy::kOff);
  EXPECT_FALSE(back.listeners[2].syn_proxy);
}

TEST(YamlDefense, TheDumpOfTheDefaultsReadsBackEqual) {
  Config model;
  model.defense = Defense{};
  const std::string text = to_yaml(model);
  EXPECT_NE(text.find("  syn_proxy: auto\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  half_open_timeout: 16s\n"), std::string::npos) << text;
  Diagnostics diags;
  Config back;
  parse_yaml(text, "dump.yaml", back, diags);
  EXPECT_TRUE(clean(diags)) << text;
  EXPECT_EQ(back, model) << text;
}

// haproxy.cfg has no `defense`: a YAML file given beside it with -f carries the section.
TEST(YamlDefense, AYamlFileBesideAnHaproxyCfgCarriesIt) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "postern_defense_beside";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "haproxy.cfg")
      << "defaults\ntimeout connect 5s\ntimeout client 1m\ntimeout server 1m\n"
         "listen imap\nbind :143\nserver s 10.0.0.1:143\n";
  std::ofstream(dir / "defense.yaml") << "defense:\n  refuse: drop\n  syn_proxy: on\n";
  Diagnostics diags;
  const Config c =
      load_files({(dir / "haproxy.cfg").string(), (dir / "defense.yaml").string()}, diags);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(no_errors(diags));
  ASSERT_TRUE(c.defense);
  EXPECT_EQ(c.defense->refuse, Refuse::kDrop);
  EXPECT_EQ(c.defense->syn_proxy, SynProxy::kOn);
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_FALSE(c.listeners[0].syn_proxy);
}

}  // namespace
}  // namespace postern::config
