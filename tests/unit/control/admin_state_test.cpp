// The state document as the cluster layer and the e2e tests read it (/v1/state, the state file,
// etcd): every listener and server, the operator's states winning over the checks', connections
// from the sample, the flat `servers` list and the counters kept; the fingerprint that tells a
// change of state from moving counters; the per-server states etcd gets.
#include "postern/control/admin_state.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "postern/control/admin_pages.hpp"

namespace postern::control::admin {
namespace {

using nlohmann::json;

// Unix time = the engine's clock + this offset.
constexpr std::int64_t kOffsetMs = 1'764'000'000'000;

AdminView two_servers() {
  AdminView v;
  v.node = "lb1";
  v.generation = 3;
  v.config_hash = "abc";
  v.built_ms = 50000;
  v.unix_offset_ms = kOffsetMs;
  v.start_unix_s = 1'764'000'005;
  v.workers = 1;
  v.reloads_ok = 2;
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
    s.health.rise = 2;
    s.health.fall = 3;
    s.health.health = i == 0 ? 4 : 0;
    s.health.status = i == 0 ? health::CheckStatus::kL7Ok : health::CheckStatus::kL4Con;
    s.health.code = i == 0 ? 220 : 0;
    s.health.description = i == 0 ? "" : "Connection refused";
    s.health.duration_ms = 2;
    s.health.last_change_ms = 20000;
    s.health.down_transitions = i == 0 ? 0 : 1;
    v.servers.push_back(s);
  }
  return v;
}

Sample counts() {
  Sample s;
  s.server_active = {4, 0};
  s.server_total = {40, 7};
  s.listener_active = {4};
  s.total.flows_created = 47;
  s.total.active_flows = 4;
  s.total.drop(dataplane::DropReason::kNoListener);
  s.per_worker.push_back(s.total);
  return s;
}

TEST(AdminState, ListsEveryServerWithItsStateCheckAndConnections) {
  AdminView v = two_servers();
  const Sample s = counts();
  const Page p = state_page(v, s);
  EXPECT_EQ(p.content_type, "application/json");
  const auto doc = json::parse(p.body);
  EXPECT_EQ(doc["node"], "lb1");
  EXPECT_EQ(doc["generation"], 3);
  EXPECT_EQ(doc["config_hash"], "abc");
  EXPECT_EQ(doc["start_time"], 1'764'000'005);
  EXPECT_EQ(doc["reloads"]["ok"], 2);
  const auto& l = doc["listeners"][0];
  EXPECT_EQ(l["name"], "imap4");
  EXPECT_EQ(l["binds"][0], "0.0.0.0:143");
  EXPECT_EQ(l["state"], "UP");
  EXPECT_EQ(l["servers_up"], 1);
  EXPECT_EQ(l["active"], 4);
  EXPECT_EQ(l["total"], 47);
  EXPECT_TRUE(l["maxconn"].is_null());
  const auto& servers = l["servers"];
  ASSERT_EQ(servers.size(), 2U);
  EXPECT_EQ(servers[0]["name"], "dc1");
  EXPECT_EQ(servers[0]["address"], "198.19.0.10:143");
  EXPECT_EQ(servers[0]["state"], "UP");
  EXPECT_EQ(servers[0]["weight"], 1);
  EXPECT_EQ(servers[0]["active"], 4);
  EXPECT_EQ(servers[0]["total"], 40);
  EXPECT_EQ(servers[0]["check"]["status"], "L7OK");
  EXPECT_EQ(servers[0]["check"]["code"], 220);
  EXPECT_EQ(servers[0]["check"]["duration_ms"], 2);
  // The last UP/DOWN change in Unix seconds: the engine's 20 s plus the offset.
  EXPECT_EQ(servers[0]["last_change"], 1'764'000'020);
  EXPECT_EQ(servers[1]["state"], "DOWN");
  EXPECT_EQ(servers[1]["check"]["status"], "L4CON");
  // A code only for the statuses HAProxy shows one with.
  EXPECT_TRUE(servers[1]["check"]["code"].is_null());
  EXPECT_EQ(servers[1]["check"]["description"], "Connection refused");
  // The operator's word wins over the checks'.
  v.servers[0].admin = AdminState::kDrain;
  v.servers[1].admin = AdminState::kMaint;
  const auto again = json::parse(state_page(v, s).body);
  EXPECT_EQ(again["listeners"][0]["servers"][0]["state"], "DRAIN");
  EXPECT_EQ(again["listeners"][0]["servers"][1]["state"], "MAINT");
  EXPECT_EQ(again["listeners"][0]["state"], "DOWN");
}

TEST(AdminState, KeepsTheKeysTheEndToEndTestsRead) {
  AdminView v = two_servers();
  ServerView retired = v.servers[1];
  retired.slot = 2;
  retired.server = "old";
  retired.name = "imap4/old";
  retired.retired = true;
  v.servers.push_back(retired);
  Sample s = counts();
  s.server_active.push_back(1);
  s.server_total.push_back(9);
  const auto doc = json::parse(state_document(v, s));
  EXPECT_EQ(doc["counters"]["flows_created"], 47);
  EXPECT_EQ(doc["counters"]["active_flows"], 4);
  EXPECT_EQ(doc["drops"]["no_listener"], 1);
  // balancer.sh reads servers.LISTENER/SERVER.FIELD from this flat list.
  const auto& flat = doc["servers"];
  ASSERT_EQ(flat.size(), 3U);
  EXPECT_EQ(flat[0]["name"], "imap4/dc1");
  EXPECT_EQ(flat[0]["active"], 4);
  EXPECT_EQ(flat[0]["total"], 40);
  EXPECT_EQ(flat[0]["status"], "UP");
  EXPECT_EQ(flat[0]["check_status"], "L7OK");
  EXPECT_EQ(flat[0]["check_duration_ms"], 2);
  EXPECT_EQ(flat[1]["status"], "DOWN");
  EXPECT_EQ(flat[1]["down_transitions"], 1);
  // A slot a reload retired stays in the flat list with its connections, not in listeners.
  EXPECT_EQ(flat[2]["name"], "imap4/old");
  EXPECT_EQ(flat[2]["retired"], true);
  EXPECT_EQ(flat[2]["active"], 1);
  EXPECT_EQ(doc["listeners"][0]["servers"].size(), 2U);
  ASSERT_EQ(doc["per_worker"].size(), 1U);
  EXPECT_EQ(doc["per_worker"][0]["drops"], 1);
  // The file's first line opens the document: balancer.sh cuts the copy printed at exit from
  // stderr at the first line that starts with '{'.
  EXPECT_EQ(state_document(v, s).substr(0, 2), "{\n");
}

TEST(AdminState, ShowsTheChecksProgressAsHaproxyDoes) {
  AdminView v = two_servers();
  v.servers[0].health.health = 3;  // rise 2 fall 3: one failure since UP
  v.servers[1].health.health = 1;  // one success since DOWN
  const auto doc = json::parse(state_document(v, counts()));
  EXPECT_EQ(doc["listeners"][0]["servers"][0]["status"], "UP 2/3");
  EXPECT_EQ(doc["listeners"][0]["servers"][1]["status"], "DOWN 1/2");
  v.servers[1].health.checked = false;
  v.servers[1].health.up = true;
  const auto unchecked = json::parse(state_document(v, counts()));
  EXPECT_EQ(unchecked["listeners"][0]["servers"][1]["status"], "no check");
  EXPECT_FALSE(unchecked["listeners"][0]["servers"][1].contains("check"));
  // Never changed: it changed when Postern started.
  v.servers[1].health.last_change_ms = 0;
  EXPECT_EQ(json::parse(state_document(v, counts()))["listeners"][0]["servers"][1]["last_change"],
            1'764'000'005);
}

TEST(AdminStateFingerprint, IgnoresCountersConnectionsAndDurations) {
  const AdminView v = two_servers();
  AdminView later = v;
  later.built_ms += 5000;
  later.servers[0].health.duration_ms = 9;
  later.servers[0].health.check_failures = 3;
  EXPECT_EQ(state_fingerprint(v), state_fingerprint(later));
}

TEST(AdminStateFingerprint, ChangesWithEveryChangeOfState) {
  const AdminView v = two_servers();
  const std::string base = state_fingerprint(v);
  const auto changed = [&](auto edit) {
    AdminView w = v;
    edit(w);
    return state_fingerprint(w) != base;
  };
  EXPECT_TRUE(changed([](AdminView& w) { w.servers[1].health.up = true; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.servers[0].health.health = 3; }));  // UP 2/3
  EXPECT_TRUE(
      changed([](AdminView& w) { w.servers[1].health.status = health::CheckStatus::kL4Tout; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.servers[0].admin = AdminState::kDrain; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.servers[0].uweight = 0; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.generation = 4; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.reloads_failed = 1; }));
  EXPECT_TRUE(changed([](AdminView& w) { w.servers[1].health.last_change_ms = 30000; }));
}

TEST(AdminStateServers, GivesEachServerItsStateAlone) {
  AdminView v = two_servers();
  v.servers[1].retired = true;
  const std::vector<ServerState> states = server_states(v);
  ASSERT_EQ(states.size(), 1U);
  EXPECT_EQ(states[0].listener, "imap4");
  EXPECT_EQ(states[0].server, "dc1");
  const auto j = json::parse(states[0].json);
  EXPECT_EQ(j["state"], "UP");
  EXPECT_EQ(j["address"], "198.19.0.10:143");
  EXPECT_EQ(j["check"]["status"], "L7OK");
  // Nothing that moves without a change of state.
  EXPECT_FALSE(j.contains("active"));
  EXPECT_FALSE(j.contains("total"));
  EXPECT_FALSE(j["check"].contains("duration_ms"));
}

}  // namespace
}  // namespace postern::control::admin
