// The configuration compiled into a dataplane snapshot, and reloads keeping every listener's
// and server's index so open flows and their counts stay with the right entity.
#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "postern/config/load.hpp"
#include "postern/control/dataplane_config.hpp"

namespace postern::control {
namespace {

dataplane::Settings lab_settings() {
  dataplane::Settings s;
  dataplane::InterfaceSettings ifc;
  ifc.name = "servers";
  ifc.ip = rte_cpu_to_be_32(0xc6130001U);  // 198.19.0.1/24
  ifc.prefix_len = 24;
  ifc.port_id = 1;
  s.interfaces = {ifc};
  return s;
}

std::unique_ptr<dataplane::Snapshot> compile(const std::string& text,
                                             const dataplane::Snapshot* previous,
                                             config::Diagnostics& diags) {
  config::Config cfg;
  config::parse_haproxy(text, "t.cfg", cfg, diags);
  return build_snapshot(cfg, lab_settings(), previous == nullptr ? 1 : previous->generation + 1,
                        diags, previous);
}

const std::string kDefaults =
    "defaults\nmode tcp\ntimeout connect 5s\ntimeout client 1m\ntimeout server 1m\n";

std::vector<std::string> names(const dataplane::Snapshot& s, std::uint16_t listener) {
  std::vector<std::string> out;
  for (auto i : s.listeners[listener].servers) {
    out.push_back(s.servers[i].name);
  }
  return out;
}

TEST(Snapshot, ServersAreReachableThroughTheirInterface) {
  config::Diagnostics diags;
  auto s = compile(kDefaults +
                       "listen imap\nbind 0.0.0.0:143\nserver a 198.19.0.10:143 send-proxy-v2\n"
                       "server b 198.19.0.11:143 weight 3 backup\n",
                   nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  ASSERT_EQ(s->listeners.size(), 1U);
  EXPECT_EQ(names(*s, 0), (std::vector<std::string>{"imap/a", "imap/b"}));
  EXPECT_TRUE(s->servers[0].send_proxy);
  EXPECT_EQ(s->servers[1].weight, 3);
  EXPECT_TRUE(s->servers[1].backup);
  EXPECT_EQ(s->servers[0].port_id, 1);
  EXPECT_EQ(s->servers[0].next_hop, s->servers[0].ip);
  EXPECT_EQ(s->servers[0].port, rte_cpu_to_be_16(143));
  ASSERT_EQ(s->binds.size(), 1U);
  EXPECT_EQ(s->binds[0].vip, 0U);
  EXPECT_EQ(s->binds[0].port, 143);
}

TEST(Snapshot, ReloadKeepsIndicesByNameRetiresRemovedAndAppendsNew) {
  config::Diagnostics diags;
  auto first = compile(kDefaults +
                           "listen imap\nbind 0.0.0.0:143\nserver a 198.19.0.10:143\n"
                           "server b 198.19.0.11:143\n"
                           "listen pop3\nbind 0.0.0.0:110\nserver a 198.19.0.10:110\n",
                       nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  // pop3 now comes first, imap/a is gone, imap/c is new, sieve is a new listener.
  auto second = compile(kDefaults +
                            "listen pop3\nbind 0.0.0.0:110\nserver a 198.19.0.10:110\n"
                            "listen imap\nbind 0.0.0.0:143\nserver c 198.19.0.12:143\n"
                            "server b 198.19.0.11:143\n"
                            "listen sieve\nbind 0.0.0.0:4190\nserver a 198.19.0.10:4190\n",
                        first.get(), diags);
  ASSERT_FALSE(diags.has_errors());
  ASSERT_EQ(second->listeners.size(), 3U);
  EXPECT_EQ(second->listeners[0].name, "imap");
  EXPECT_EQ(second->listeners[1].name, "pop3");
  EXPECT_EQ(second->listeners[2].name, "sieve");
  ASSERT_EQ(second->servers.size(), 5U);
  EXPECT_EQ(second->servers[0].name, "imap/a");
  EXPECT_TRUE(second->servers[0].retired);
  EXPECT_FALSE(second->server_usable(0));
  EXPECT_EQ(second->servers[1].name, "imap/b");
  EXPECT_FALSE(second->servers[1].retired);
  EXPECT_EQ(second->servers[2].name, "pop3/a");
  EXPECT_EQ(names(*second, 0), (std::vector<std::string>{"imap/c", "imap/b"}));
  EXPECT_EQ(second->servers[3].name, "imap/c");
  EXPECT_EQ(second->servers[4].name, "sieve/a");
  // Binds name listeners by their kept index.
  for (const auto& b : second->binds) {
    EXPECT_EQ(second->listeners[b.listener].name,
              b.port == 143 ? "imap" : (b.port == 110 ? "pop3" : "sieve"));
  }
  // A third reload without pop3: its slot retires, with no binds and no servers.
  auto third = compile(kDefaults + "listen imap\nbind 0.0.0.0:143\nserver b 198.19.0.11:143\n",
                       second.get(), diags);
  ASSERT_FALSE(diags.has_errors());
  EXPECT_TRUE(third->listeners[1].retired);
  EXPECT_TRUE(third->listeners[1].servers.empty());
  EXPECT_EQ(third->find_bind(0, 110), nullptr);
  EXPECT_EQ(third->servers.size(), 5U);
  EXPECT_FALSE(third->servers[1].retired);
}

TEST(Snapshot, UnreachableServerIsAnErrorAtItsLine) {
  config::Diagnostics diags;
  compile(kDefaults + "listen imap\nbind 0.0.0.0:143\nserver far 203.0.113.9:143\n", nullptr,
          diags);
  ASSERT_TRUE(diags.has_errors());
  EXPECT_EQ(config::format(diags.items().back()).rfind("t.cfg:8: error: server 'imap/far'", 0), 0U)
      << config::format(diags.items().back());
}

// A listener with `n` servers named `prefix`0.. (all on the servers' subnet).
std::string many_servers(const std::string& prefix, std::size_t n) {
  std::string text = kDefaults + "listen imap\nbind 0.0.0.0:143\n";
  for (std::size_t i = 0; i < n; ++i) {
    text += "server " + prefix + std::to_string(i) + " 198.19.0." + std::to_string(10 + i % 200) +
            ":143\n";
  }
  return text;
}

// At the slot limit a reload may take over slots retired by an earlier reload whose flows
// are gone, never one that still has connections or that this very reload retires.
TEST(Snapshot, AtTheSlotLimitDrainedRetiredSlotsAreReused) {
  config::Diagnostics diags;
  const std::size_t half = dataplane::kMaxServers / 2;
  auto first = compile(many_servers("a", half), nullptr, diags);
  ASSERT_FALSE(diags.has_errors());
  // The a* servers are replaced by b*: all slots used, the a* retired.
  auto second = compile(many_servers("b", half), first.get(), diags);
  ASSERT_FALSE(diags.has_errors());
  ASSERT_EQ(second->servers.size(), dataplane::kMaxServers);
  // c* needs slots: none free. Refused while the retired a* slots are busy...
  config::Config cfg;
  config::parse_haproxy(many_servers("c", 2), "t.cfg", cfg, diags);
  config::Diagnostics refused;
  auto busy = [](bool, std::uint16_t) { return true; };
  build_snapshot(cfg, lab_settings(), 3, refused, second.get(), busy);
  EXPECT_TRUE(refused.has_errors());
  EXPECT_NE(refused.items().at(0).message.find("too many servers"), std::string::npos);
  // ...and given a drained a* slot once its flows are gone; b* (retired only by this reload)
  // keep theirs.
  config::Diagnostics ok;
  auto idle = [](bool, std::uint16_t) { return false; };
  auto third = build_snapshot(cfg, lab_settings(), 3, ok, second.get(), idle);
  ASSERT_FALSE(ok.has_errors());
  ASSERT_EQ(third->servers.size(), dataplane::kMaxServers);
  const auto& l = third->listeners[0];
  ASSERT_EQ(l.servers.size(), 2U);
  for (const auto i : l.servers) {
    EXPECT_LT(i, half) << "a slot the a* servers held";
    EXPECT_EQ(third->servers[i].name.substr(0, 6), "imap/c");
    EXPECT_FALSE(third->servers[i].retired);
  }
  EXPECT_EQ(third->servers[half].name, "imap/b0");
  EXPECT_TRUE(third->servers[half].retired);
}

}  // namespace
}  // namespace postern::control
