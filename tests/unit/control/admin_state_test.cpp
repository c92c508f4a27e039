// /v1/state as the cluster layer reads it: every listener and server, the operator's states
// winning over the checks', connections from the sample.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "postern/control/admin_pages.hpp"

namespace postern::control::admin {
namespace {

AdminView two_servers() {
  AdminView v;
  v.node = "lb1";
  v.generation = 3;
  v.config_hash = "abc";
  v.built_ms = 50000;
  ListenerView l;
  l.name = "imap4";
  l.binds = {"0.0.0.0:143"};
  l.servers = {0, 1};
  v.listeners.push_back(l);
  for (std::uint16_t i = 0; i < 2; ++i) {
    ServerView s;
    s.slot = i;
    s.listener = "imap4";
    s.server = i == 0 ? "dc1" : "dc2";
    s.name = "imap4/" + s.server;
    s.address = i == 0 ? "198.19.0.10" : "198.19.0.11";
    s.port = 143;
    s.weight = s.uweight = 1;
    s.health.checked = true;
    s.health.up = i == 0;
    s.health.status = i == 0 ? health::CheckStatus::kL7Ok : health::CheckStatus::kL4Con;
    s.health.duration_ms = 2;
    s.health.last_change_ms = 20000;
    v.servers.push_back(s);
  }
  return v;
}

TEST(AdminState, ListsEveryServerWithItsStateCheckAndConnections) {
  AdminView v = two_servers();
  Sample s;
  s.server_active = {4, 0};
  s.server_total = {40, 7};
  s.listener_active = {4};
  const Page p = state_page(v, s);
  EXPECT_EQ(p.content_type, "application/json");
  const auto doc = nlohmann::json::parse(p.body);
  EXPECT_EQ(doc["node"], "lb1");
  EXPECT_EQ(doc["generation"], 3);
  const auto& servers = doc["listeners"][0]["servers"];
  ASSERT_EQ(servers.size(), 2U);
  EXPECT_EQ(servers[0]["address"], "198.19.0.10:143");
  EXPECT_EQ(servers[0]["state"], "UP");
  EXPECT_EQ(servers[0]["active"], 4);
  EXPECT_EQ(servers[0]["total"], 40);
  EXPECT_EQ(servers[0]["check"]["status"], "L7OK");
  EXPECT_EQ(servers[0]["check"]["last_change_s"], 30);
  EXPECT_EQ(servers[1]["state"], "DOWN");
  EXPECT_EQ(servers[1]["check"]["status"], "L4CON");
  // The operator's word wins over the checks'.
  v.servers[0].admin = AdminState::kDrain;
  v.servers[1].admin = AdminState::kMaint;
  const auto again = nlohmann::json::parse(state_page(v, s).body);
  EXPECT_EQ(again["listeners"][0]["servers"][0]["state"], "DRAIN");
  EXPECT_EQ(again["listeners"][0]["servers"][1]["state"], "MAINT");
}

}  // namespace
}  // namespace postern::control::admin
