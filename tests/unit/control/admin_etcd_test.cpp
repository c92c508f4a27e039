// The etcd session against a fake etcd that answers as the v3 JSON gateway does: a lease granted
// and kept alive, one key per server and one for the whole document under PREFIX/NODE, nothing
// rewritten that did not change, backoff through an outage and every key again afterwards, a
// new lease when the old one expired, the lease revoked at a clean stop.
#include "postern/control/admin_etcd.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

namespace postern::control::admin {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = EtcdSession::Clock;

std::string unbase64(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : in) {
    if (c == '=') {
      break;
    }
    bits = bits << 6 | static_cast<std::uint32_t>(kAlphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

// An etcd that keeps keys and leases as the real one does, reached through the transport.
class FakeEtcd final : public EtcdTransport {
 public:
  struct Kv {
    std::string value;
    std::string lease;
  };
  bool up = true;
  int puts_left = -1;  // >= 0: that many puts answered, then none (etcd dies mid-way)
  std::map<std::string, Kv> kv;
  std::map<std::string, std::int64_t> leases;  // ID -> TTL
  std::vector<std::string> calls;              // paths, in order
  std::vector<std::string> tried;              // the endpoint of every attempt, answered or not

  std::optional<Reply> post(const std::string& endpoint, const std::string& path,
                            const std::string& body) override {
    tried.push_back(endpoint);
    if (!up) {
      return std::nullopt;
    }
    calls.push_back(path);
    const json req = json::parse(body);
    if (path == "/v3/lease/grant") {
      const std::string id = std::to_string(next_lease_++);
      leases[id] = req["TTL"].get<std::int64_t>();
      return Reply{200, json{{"ID", id}, {"TTL", std::to_string(leases[id])}}.dump()};
    }
    if (path == "/v3/lease/keepalive") {
      const std::string id = req["ID"].get<std::string>();
      if (leases.count(id) == 0) {
        // The gateway's answer for a lease it no longer has: a result without a TTL.
        return Reply{200, json{{"result", {{"ID", id}}}}.dump() + "\n"};
      }
      return Reply{
          200, json{{"result", {{"ID", id}, {"TTL", std::to_string(leases[id])}}}}.dump() + "\n"};
    }
    if (path == "/v3/kv/put") {
      if (puts_left == 0) {
        return std::nullopt;
      }
      puts_left -= puts_left > 0 ? 1 : 0;
      const std::string lease = req.value("lease", "0");
      if (lease != "0" && leases.count(lease) == 0) {
        return Reply{404, R"({"error":"etcdserver: requested lease not found","code":5})"};
      }
      kv[unbase64(req["key"])] = {unbase64(req["value"]), lease};
      return Reply{200, "{}"};
    }
    if (path == "/v3/kv/deleterange") {
      kv.erase(unbase64(req["key"]));
      return Reply{200, "{}"};
    }
    if (path == "/v3/lease/revoke") {
      expire(req["ID"].get<std::string>());
      return Reply{200, "{}"};
    }
    return Reply{404, "{}"};
  }

  // The lease's TTL ran out: it goes, and every key attached to it.
  void expire(const std::string& id) {
    leases.erase(id);
    std::erase_if(kv, [&](const auto& e) { return e.second.lease == id; });
  }
  std::size_t count(const std::string& path) const {
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), path));
  }

 private:
  std::int64_t next_lease_ = 7587869000000000001;
};

AdminView two_servers() {
  AdminView v;
  v.node = "lb1";
  v.generation = 1;
  v.config_hash = "abc";
  ListenerView l;
  l.name = "imap4";
  l.servers = {0, 1};
  for (std::uint16_t i = 0; i < 2; ++i) {
    ServerView s;
    s.slot = i;
    s.listener = "imap4";
    s.server = i == 0 ? "dc1" : "dc2";
    s.name = "imap4/" + s.server;
    s.address = "198.19.0." + std::to_string(10 + i);
    s.port = 143;
    s.weight = s.uweight = 1;
    s.health.checked = true;
    s.health.health = 4;
    v.servers.push_back(s);
  }
  v.listeners.push_back(l);
  return v;
}

EtcdOptions options() {
  EtcdOptions o;
  o.endpoints = {"http://127.0.0.1:2379", "http://127.0.0.1:2479"};
  o.prefix = "/postern";
  o.node = "lb1";
  o.ttl = 9s;
  o.refresh = 0ms;
  return o;
}

Sample no_counts(std::size_t servers) {
  Sample s;
  s.server_active.assign(servers, 0);
  s.server_total.assign(servers, 0);
  s.listener_active = {0};
  return s;
}

class EtcdSessionTest : public ::testing::Test {
 protected:
  FakeEtcd etcd;
  std::vector<std::string> logged;
  EtcdSession session{etcd, options(), [this](const std::string& l) { logged.push_back(l); }};
  AdminView view = two_servers();
  Clock::time_point now = Clock::time_point{} + 1h;
  std::size_t samples = 0;

  Clock::time_point step() {
    return session.step(now, view, [this] {
      ++samples;
      return no_counts(view.servers.size());
    });
  }
  json server_key(const std::string& name) const {
    return json::parse(etcd.kv.at("/postern/lb1/servers/imap4/" + name).value);
  }
};

TEST(EtcdBase64, EncodesAsRfc4648Section10) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST_F(EtcdSessionTest, PublishesTheDocumentAndEachServerUnderOneLease) {
  const Clock::time_point next = step();
  ASSERT_EQ(etcd.leases.size(), 1U);
  const std::string lease = etcd.leases.begin()->first;
  EXPECT_EQ(etcd.leases.begin()->second, 9);  // the TTL in seconds
  EXPECT_EQ(session.lease(), lease);
  ASSERT_EQ(etcd.kv.size(), 3U);
  for (const auto& [key, held] : etcd.kv) {
    EXPECT_EQ(held.lease, lease) << key;
  }
  const json doc = json::parse(etcd.kv.at("/postern/lb1/state").value);
  EXPECT_EQ(doc["node"], "lb1");
  EXPECT_EQ(doc["listeners"][0]["servers"][1]["name"], "dc2");
  EXPECT_EQ(server_key("dc1")["state"], "UP");
  EXPECT_EQ(server_key("dc2")["address"], "198.19.0.11:143");
  // The next turn is the keepalive, a third of the TTL away.
  EXPECT_EQ(next, now + 3s);
  EXPECT_TRUE(session.healthy());
}

TEST_F(EtcdSessionTest, RewritesOnlyWhatChanged) {
  step();
  const std::size_t puts = etcd.count("/v3/kv/put");
  step();
  EXPECT_EQ(etcd.count("/v3/kv/put"), puts) << "nothing changed, nothing written";

  view.servers[1].health.up = false;
  view.servers[1].health.health = 0;
  step();
  EXPECT_EQ(etcd.count("/v3/kv/put"), puts + 2) << "dc2's key and the document";
  EXPECT_EQ(server_key("dc2")["state"], "DOWN");
  EXPECT_EQ(server_key("dc1")["state"], "UP");
  const json doc = json::parse(etcd.kv.at("/postern/lb1/state").value);
  EXPECT_EQ(doc["listeners"][0]["servers"][1]["state"], "DOWN");

  view.servers[0].admin = AdminState::kDrain;
  step();
  EXPECT_EQ(server_key("dc1")["state"], "DRAIN");
}

TEST_F(EtcdSessionTest, FinishesAPublicationThatAnOutageCutShort) {
  etcd.puts_left = 1;  // the first key lands, then etcd is gone
  const Clock::time_point retry = step();
  EXPECT_EQ(etcd.kv.size(), 1U);
  etcd.puts_left = -1;
  now = retry;
  step();  // the same view: still every key is written
  EXPECT_EQ(etcd.kv.size(), 3U);
  const std::size_t puts = etcd.count("/v3/kv/put");
  now += 1s;
  step();
  EXPECT_EQ(etcd.count("/v3/kv/put"), puts);
}

TEST_F(EtcdSessionTest, DeletesTheKeyOfAServerThatIsGone) {
  step();
  view.servers[1].retired = true;
  view.listeners[0].servers = {0};
  step();
  EXPECT_EQ(etcd.count("/v3/kv/deleterange"), 1U);
  EXPECT_EQ(etcd.kv.count("/postern/lb1/servers/imap4/dc2"), 0U);
  EXPECT_EQ(etcd.kv.count("/postern/lb1/servers/imap4/dc1"), 1U);
}

TEST_F(EtcdSessionTest, KeepsTheLeaseAliveAThirdOfTheTtlApart) {
  step();
  now += 2s;
  step();
  EXPECT_EQ(etcd.count("/v3/lease/keepalive"), 0U);
  now += 1s;
  step();
  EXPECT_EQ(etcd.count("/v3/lease/keepalive"), 1U);
  EXPECT_EQ(etcd.count("/v3/lease/grant"), 1U);
}

TEST_F(EtcdSessionTest, BacksOffThroughAnOutageAndPublishesEverythingAgain) {
  step();
  const std::string first_lease = session.lease();
  etcd.up = false;
  now += 3s;
  Clock::time_point retry = step();
  EXPECT_FALSE(session.healthy());
  EXPECT_EQ(retry, now + 500ms);
  // Until the retry time nothing is sent, whatever the views.
  etcd.up = true;
  const std::size_t calls = etcd.calls.size();
  view.generation = 2;
  EXPECT_EQ(step(), retry);
  EXPECT_EQ(etcd.calls.size(), calls);
  // Down again: the wait doubles, up to 5 s, and the endpoints are tried in turn.
  etcd.up = false;
  for (const auto want : {1000ms, 2000ms, 4000ms, 5000ms, 5000ms}) {
    now = retry;
    retry = step();
    EXPECT_EQ(retry - now, want);
  }
  ASSERT_EQ(logged.size(), 1U) << "one line per outage";
  EXPECT_NE(logged[0].find("unreachable"), std::string::npos) << logged[0];

  // etcd restarted with an empty data dir while we waited: the lease is gone, so are the keys.
  etcd.up = true;
  etcd.expire(first_lease);
  ASSERT_TRUE(etcd.kv.empty());
  now = retry;
  step();
  EXPECT_TRUE(session.healthy());
  EXPECT_NE(session.lease(), first_lease);
  EXPECT_EQ(etcd.kv.size(), 3U);
  EXPECT_EQ(json::parse(etcd.kv.at("/postern/lb1/state").value)["generation"], 2);
  EXPECT_EQ(std::count(etcd.tried.begin(), etcd.tried.end(), "http://127.0.0.1:2479"), 3);
}

TEST_F(EtcdSessionTest, RepublishesUnderANewLeaseWhenTheOldOneExpired) {
  step();
  const std::string old = session.lease();
  etcd.expire(old);  // Postern stalled past the TTL, say
  now += 3s;
  step();
  EXPECT_NE(session.lease(), old);
  EXPECT_EQ(etcd.count("/v3/lease/grant"), 2U);
  EXPECT_EQ(etcd.kv.size(), 3U);
  EXPECT_EQ(etcd.kv.at("/postern/lb1/state").lease, session.lease());
}

TEST_F(EtcdSessionTest, RewritesTheDocumentForCountersOnlyAtTheRefresh) {
  EtcdOptions o = options();
  o.refresh = 10s;
  EtcdSession refreshing(etcd, o, nullptr);
  const auto sample = [this] {
    ++samples;
    return no_counts(view.servers.size());
  };
  refreshing.step(now, view, sample);
  EXPECT_EQ(samples, 1U);
  now += 3s;
  refreshing.step(now, view, sample);
  EXPECT_EQ(samples, 1U) << "no change, no refresh due: the counters are not even read";
  now += 7s;
  refreshing.step(now, view, sample);
  EXPECT_EQ(samples, 2U);
}

TEST_F(EtcdSessionTest, RevokesTheLeaseAtACleanStop) {
  step();
  session.close();
  EXPECT_EQ(etcd.count("/v3/lease/revoke"), 1U);
  EXPECT_TRUE(etcd.kv.empty());
  EXPECT_TRUE(etcd.leases.empty());
}

}  // namespace
}  // namespace postern::control::admin
