// `defense:` compiled into the snapshot workers read (issue 9): the global settings, each
// listener's SYN proxy mode (its own, else the global one), and a reload that changes them.
#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "postern/config/load.hpp"
#include "postern/control/dataplane_config.hpp"

namespace postern::control {
namespace {

std::unique_ptr<dataplane::Snapshot> compile(const std::string& yaml,
                                             const dataplane::Snapshot* previous,
                                             config::Diagnostics& diags) {
  config::Config cfg;
  config::parse_yaml(yaml, "t.yaml", cfg, diags);
  dataplane::Settings settings;
  return build_snapshot(cfg, settings, previous == nullptr ? 1 : previous->generation + 1, diags,
                        previous);
}

const std::string kListeners =
    "listeners:\n"
    "  - name: imap\n"
    "    binds: [\"0.0.0.0:143\"]\n"
    "    syn_proxy: off\n"
    "  - name: smtp\n"
    "    binds: [\"0.0.0.0:25\"]\n"
    "    syn_proxy: on\n"
    "  - name: pop3\n"
    "    binds: [\"0.0.0.0:110\"]\n";

std::size_t index_of(const dataplane::Snapshot& s, const std::string& name) {
  for (std::size_t i = 0; i < s.listeners.size(); ++i) {
    if (s.listeners[i].name == name) {
      return i;
    }
  }
  ADD_FAILURE() << "no listener " << name;
  return 0;
}

TEST(DefenseSnapshot, WithoutTheSectionTheDefaultsRun) {
  config::Diagnostics diags;
  auto s = compile(kListeners, nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  const dataplane::Defense& d = s->defense;
  EXPECT_EQ(d.syn_proxy, dataplane::SynProxyMode::kAuto);
  EXPECT_EQ(d.syn_proxy_above, 1024U);
  EXPECT_EQ(d.syn_proxy_mss, 1460);
  EXPECT_EQ(d.half_open_per_source, 0U);
  EXPECT_EQ(d.half_open_timeout_ms, 16000U);
  EXPECT_EQ(d.refuse, dataplane::RefuseMode::kRst);
  EXPECT_EQ(d.mbuf_reserve_pct, 10);
  EXPECT_EQ(s->listeners[index_of(*s, "pop3")].syn_proxy, dataplane::SynProxyMode::kAuto);
}

TEST(DefenseSnapshot, CarriesEveryKeyAndEachListenersOwnMode) {
  config::Diagnostics diags;
  auto s = compile(kListeners +
                       "defense:\n"
                       "  syn_proxy: on\n"
                       "  syn_proxy_above: 10\n"
                       "  syn_proxy_mss: 1200\n"
                       "  half_open_per_source: 3\n"
                       "  half_open_timeout: 2s\n"
                       "  refuse: drop\n"
                       "  mbuf_reserve: 25\n",
                   nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  const dataplane::Defense& d = s->defense;
  EXPECT_EQ(d.syn_proxy, dataplane::SynProxyMode::kOn);
  EXPECT_EQ(d.syn_proxy_above, 10U);
  EXPECT_EQ(d.syn_proxy_mss, 1200);
  EXPECT_EQ(d.half_open_per_source, 3U);
  EXPECT_EQ(d.half_open_timeout_ms, 2000U);
  EXPECT_EQ(d.refuse, dataplane::RefuseMode::kDrop);
  EXPECT_EQ(d.mbuf_reserve_pct, 25);
  EXPECT_EQ(s->listeners[index_of(*s, "imap")].syn_proxy, dataplane::SynProxyMode::kOff);
  EXPECT_EQ(s->listeners[index_of(*s, "smtp")].syn_proxy, dataplane::SynProxyMode::kOn);
  // No mode of its own: the global one.
  EXPECT_EQ(s->listeners[index_of(*s, "pop3")].syn_proxy, dataplane::SynProxyMode::kOn);
}

TEST(DefenseSnapshot, AReloadChangesIt) {
  config::Diagnostics diags;
  auto first = compile(kListeners + "defense: {refuse: rst, syn_proxy: off, mbuf_reserve: 5}\n",
                       nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  EXPECT_EQ(first->defense.refuse, dataplane::RefuseMode::kRst);
  EXPECT_EQ(first->listeners[index_of(*first, "pop3")].syn_proxy, dataplane::SynProxyMode::kOff);

  auto second = compile(kListeners + "defense: {refuse: drop, syn_proxy: auto, mbuf_reserve: 30}\n",
                        first.get(), diags);
  ASSERT_FALSE(diags.has_errors());
  EXPECT_EQ(second->generation, first->generation + 1);
  EXPECT_EQ(second->defense.refuse, dataplane::RefuseMode::kDrop);
  EXPECT_EQ(second->defense.mbuf_reserve_pct, 30);
  EXPECT_EQ(second->listeners[index_of(*second, "pop3")].syn_proxy, dataplane::SynProxyMode::kAuto);
  EXPECT_EQ(second->listeners[index_of(*second, "imap")].syn_proxy, dataplane::SynProxyMode::kOff);

  // The section removed: back to the defaults.
  auto third = compile(kListeners, second.get(), diags);
  ASSERT_FALSE(diags.has_errors());
  EXPECT_EQ(third->defense.refuse, dataplane::RefuseMode::kRst);
  EXPECT_EQ(third->defense.mbuf_reserve_pct, 10);
}

}  // namespace
}  // namespace postern::control
