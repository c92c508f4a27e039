// The health engine over a fake dataplane whose servers are scripted per connection (accept
// with a greeting, refuse, stay silent, reset, never close), on a fake clock: HAProxy's
// rise/fall state machine and timing, the commands each check sends (always ending with a
// FIN, never kAbort), the log lines, ServerLive, session shutdowns, slowstart, observe, reload.
#include "postern/control/health_engine.hpp"

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <cstring>
#include <deque>
#include <map>
#include <memory>

#include "postern/control/dataplane_config.hpp"

namespace postern::control::health {
namespace {

using dataplane::ProbeCommand;
using dataplane::ProbeEvent;
using dataplane::ProbeEventKind;
using dataplane::ProbeOp;

std::uint32_t ip(std::uint32_t host_order) {
  return rte_cpu_to_be_32(host_order);
}
constexpr std::uint32_t kServerNet = 0xc6130000U;  // 198.19.0.0/24

// How a scripted server behaves on each connection.
struct Behaviour {
  enum class Connect { kAccept, kRefuse, kSilent, kUnreachable };
  Connect connect = Connect::kAccept;
  std::vector<std::string> greeting;  // each a kData event, right after kConnected
  // Once what we sent (PROXY header left out) contains `first`, the server sends `second`.
  std::vector<std::pair<std::string, std::string>> replies;
  bool reset_after_connect = false;
  bool close_after_replies = false;  // closes once it sent its last reply
  bool close_on_fin = true;          // answers our FIN with its own
};

// One probe connection as the fake saw it.
struct Conn {
  std::uint32_t worker = 0;
  std::uint16_t slot = 0;
  std::uint16_t server = 0;
  std::uint32_t dst_ip = 0;
  std::uint16_t dst_port = 0;  // host order
  std::vector<ProbeOp> ops;    // every command for this connection, in order
  std::string sent;            // bytes, PROXY header included
  bool fin = false;
  bool peer_closed = false;
  bool reset = false;  // the server reset it (or it never connected): no FIN is owed
  bool freed = false;
  std::size_t reply = 0;
  std::size_t matched = 0;
};

class FakeDataplane : public ProbeTransport {
 public:
  explicit FakeDataplane(std::uint32_t workers) : workers_(workers), events_(workers) {}

  std::uint32_t workers() const override { return workers_; }

  bool send(std::uint32_t worker, const ProbeCommand& c) override {
    if (ring_full > 0) {
      --ring_full;
      return false;
    }
    if (c.op == ProbeOp::kShutdownServer) {
      shutdowns.emplace_back(worker, c.server);
      return true;
    }
    const auto key = std::make_pair(worker, c.slot);
    if (c.op == ProbeOp::kOpen) {
      const auto before = live_.find(key);
      EXPECT_TRUE(before == live_.end() || conns[before->second].freed)
          << "slot reused before kFreed";
      Conn conn;
      conn.worker = worker;
      conn.slot = c.slot;
      conn.server = c.server;
      conn.dst_ip = c.dst_ip;
      conn.dst_port = rte_be_to_cpu_16(c.dst_port);
      conn.ops.push_back(c.op);
      conns.push_back(conn);
      live_[key] = conns.size() - 1;
      open(conns.back());
      return true;
    }
    auto it = live_.find(key);
    if (it == live_.end()) {
      ADD_FAILURE() << "command for a free slot " << c.slot;
      return true;
    }
    Conn& conn = conns[it->second];
    conn.ops.push_back(c.op);
    if (conn.freed) {
      return true;  // a worker ignores commands that cross its kFreed in the rings
    }
    switch (c.op) {
      case ProbeOp::kSend:
        conn.sent.append(reinterpret_cast<const char*>(c.data), c.len);
        answer(conn);
        if (c.fin) {
          our_fin(conn);
        }
        break;
      case ProbeOp::kClose:
        our_fin(conn);
        break;
      case ProbeOp::kAbort:
        aborted = true;
        free(conn);
        break;
      default:
        break;
    }
    return true;
  }

  std::size_t poll(std::uint32_t worker, ProbeEvent* out, std::size_t max) override {
    std::size_t n = 0;
    auto& q = events_[worker];
    while (n < max && !q.empty()) {
      out[n++] = q.front();
      q.pop_front();
    }
    return n;
  }

  // A server's script, by its address.
  Behaviour& server(std::uint32_t host_order) { return behaviours[ip(host_order)]; }

  // Events a test injects into a live connection.
  void push(const Conn& c, ProbeEventKind kind, std::string_view data = {}) {
    ProbeEvent e{};
    e.kind = kind;
    e.slot = c.slot;
    e.len = static_cast<std::uint16_t>(data.size());
    if (!data.empty()) {
      std::memcpy(e.data, data.data(), data.size());
    }
    events_[c.worker].push_back(e);
    if (kind == ProbeEventKind::kPeerClosed) {
      conns[index_of(c)].peer_closed = true;
    }
  }

  std::vector<const Conn*> to(std::uint32_t host_order) const {
    std::vector<const Conn*> out;
    for (const auto& c : conns) {
      if (c.dst_ip == ip(host_order)) {
        out.push_back(&c);
      }
    }
    return out;
  }

  std::vector<Conn> conns;
  std::map<std::uint32_t, Behaviour> behaviours;
  std::vector<std::pair<std::uint32_t, std::uint16_t>> shutdowns;
  int ring_full = 0;
  bool aborted = false;

 private:
  std::size_t index_of(const Conn& c) const { return static_cast<std::size_t>(&c - conns.data()); }

  void event(const Conn& c, ProbeEventKind kind, std::string_view data = {}) {
    ProbeEvent e{};
    e.kind = kind;
    e.slot = c.slot;
    e.len = static_cast<std::uint16_t>(data.size());
    if (!data.empty()) {
      std::memcpy(e.data, data.data(), data.size());
    }
    events_[c.worker].push_back(e);
  }

  void free(Conn& c) {
    if (!c.freed) {
      c.freed = true;
      event(c, ProbeEventKind::kFreed);
    }
  }

  void open(Conn& c) {
    const Behaviour& b = behaviours[c.dst_ip];
    switch (b.connect) {
      case Behaviour::Connect::kAccept:
        event(c, ProbeEventKind::kConnected);
        for (const auto& chunk : b.greeting) {
          event(c, ProbeEventKind::kData, chunk);
        }
        if (b.reset_after_connect) {
          c.reset = true;
          event(c, ProbeEventKind::kReset);
          free(c);
        }
        break;
      case Behaviour::Connect::kRefuse:
        c.reset = true;
        event(c, ProbeEventKind::kReset);
        free(c);
        break;
      case Behaviour::Connect::kSilent:
        break;
      case Behaviour::Connect::kUnreachable:
        c.reset = true;
        event(c, ProbeEventKind::kUnreachable);
        free(c);
        break;
    }
  }

  void answer(Conn& c) {
    const Behaviour& b = behaviours[c.dst_ip];
    std::string_view text = c.sent;
    if (text.starts_with(kProxyV2Local)) {
      text.remove_prefix(kProxyV2Local.size());
    }
    while (c.reply < b.replies.size()) {
      const auto at = text.find(b.replies[c.reply].first, c.matched);
      if (at == std::string_view::npos) {
        break;
      }
      c.matched = at + b.replies[c.reply].first.size();
      event(c, ProbeEventKind::kData, b.replies[c.reply].second);
      ++c.reply;
      if (c.reply == b.replies.size() && b.close_after_replies && !c.peer_closed) {
        c.peer_closed = true;
        event(c, ProbeEventKind::kPeerClosed);
      }
    }
  }

  void our_fin(Conn& c) {
    if (c.fin) {
      ADD_FAILURE() << "second FIN on slot " << c.slot;
    }
    c.fin = true;
    const Behaviour& b = behaviours[c.dst_ip];
    if (c.peer_closed) {
      free(c);
    } else if (b.close_on_fin && !c.freed) {
      c.peer_closed = true;
      event(c, ProbeEventKind::kPeerClosed);
      free(c);
    }
  }

  std::uint32_t workers_;
  std::vector<std::deque<ProbeEvent>> events_;
  std::map<std::pair<std::uint32_t, std::uint16_t>, std::size_t> live_;
};

dataplane::Settings lab_settings() {
  dataplane::Settings s;
  dataplane::InterfaceSettings ifc;
  ifc.name = "servers";
  ifc.ip = ip(kServerNet | 1);
  ifc.prefix_len = 24;
  ifc.port_id = 1;
  s.interfaces = {ifc};
  s.source_addresses = {ip(kServerNet | 1)};
  return s;
}

config::Server server_line(const std::string& name, std::uint32_t host, std::uint16_t port) {
  config::Server s;
  s.name = name;
  s.endpoint = config::Endpoint{config::IpAddress::v4(kServerNet | host), port};
  s.check = true;
  return s;
}

struct Lab {
  explicit Lab(std::uint32_t workers = 1)
      : dp(workers), live(new dataplane::ServerLive[dataplane::kMaxServers]) {
    EngineHooks hooks;
    hooks.log = [this](LogLevel level, const std::string& line) {
      logs.push_back(line);
      levels.push_back(level);
    };
    hooks.connect_errors = [this](std::uint16_t s) { return errors[s]; };
    hooks.sessions = [](std::uint16_t) { return 0U; };
    engine = std::make_unique<Engine>(dp, live.get(), hooks);
  }

  void load(const config::Config& c) {
    cfg = c;
    config::Diagnostics diags;
    auto next = build_snapshot(cfg, settings, snap ? snap->generation + 1 : 1, diags, snap.get());
    ASSERT_FALSE(diags.has_errors());
    snap = std::move(next);
    engine->configure(cfg, *snap, settings, now);
  }

  void run_to(std::uint64_t t) {
    while (now < t) {
      ++now;
      engine->tick(now);
    }
  }
  void run_for(std::uint64_t ms) { run_to(now + ms); }

  std::uint16_t index(const std::string& name) const {
    for (std::size_t i = 0; i < snap->servers.size(); ++i) {
      if (snap->servers[i].name == name) {
        return static_cast<std::uint16_t>(i);
      }
    }
    ADD_FAILURE() << "no server " << name;
    return 0;
  }
  const ServerHealth& h(const std::string& name) const {
    const ServerHealth* p = engine->health(index(name));
    EXPECT_NE(p, nullptr);
    return *p;
  }
  bool up(const std::string& name) const { return live[index(name)].up.load() != 0; }
  std::string take_logs() {
    std::string all;
    for (const auto& l : logs) {
      all += l;
      all += '\n';
    }
    logs.clear();
    return all;
  }

  FakeDataplane dp;
  std::unique_ptr<dataplane::ServerLive[]> live;
  std::vector<std::string> logs;
  std::vector<LogLevel> levels;
  std::map<std::uint16_t, std::uint64_t> errors;
  std::unique_ptr<Engine> engine;
  dataplane::Settings settings = lab_settings();
  config::Config cfg;
  std::unique_ptr<dataplane::Snapshot> snap;
  std::uint64_t now = 1000;
};

config::Config one_listener(std::vector<config::Server> servers,
                            config::CheckType type = config::CheckType::kConnect) {
  config::Config c;
  config::Listener l;
  l.name = "imap4";
  l.check_type = type;
  config::Bind b;
  b.endpoint = *config::Endpoint::parse("0.0.0.0:143");
  l.binds.push_back(b);
  l.servers = std::move(servers);
  c.listeners.push_back(std::move(l));
  return c;
}

// Every connection ended with our FIN (kClose or a send with fin), never with kAbort.
void expect_polite(const FakeDataplane& dp) {
  EXPECT_FALSE(dp.aborted);
  for (const auto& c : dp.conns) {
    if (c.reset) {
      continue;  // refused, unreachable or reset by the server: nothing to close
    }
    EXPECT_TRUE(c.fin) << "connection on slot " << c.slot << " not closed";
    for (const auto op : c.ops) {
      EXPECT_NE(op, ProbeOp::kAbort);
    }
  }
}

// --- the state machine ---------------------------------------------------------------------------

TEST(HealthEngine, ServersStartUpAtHealthRise) {
  Lab lab;
  lab.load(one_listener({server_line("proxy1", 10, 143)}));
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_TRUE(h.up);
  EXPECT_EQ(h.health, 2U);
  EXPECT_EQ(h.status, CheckStatus::kIni);
  EXPECT_EQ(status_text(h), "UP 1/3");
  EXPECT_TRUE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.live[lab.index("imap4/proxy1")].weight_pct.load(), 100);
}

TEST(HealthEngine, FirstFailureMarksDownAndLogsIt) {
  Lab lab;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({server_line("proxy1", 10, 143), server_line("proxy2", 11, 143)}));
  lab.run_for(1);
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_FALSE(h.up);
  EXPECT_EQ(h.health, 0U);
  EXPECT_EQ(h.status, CheckStatus::kL4Con);
  EXPECT_EQ(h.check_failures, 1U);
  EXPECT_EQ(h.down_transitions, 1U);
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  EXPECT_EQ(status_text(h), "DOWN");
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.\n");
  EXPECT_EQ(lab.levels.front(), LogLevel::kAlert);
}

TEST(HealthEngine, RiseSuccessesBringItBackAtDowninterThenFastinter) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.inter = 2000;
  s.fastinter = 500;
  s.downinter = 5000;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({s}));
  lab.run_for(1);  // the first check: DOWN
  ASSERT_FALSE(lab.h("imap4/proxy1").up);
  lab.logs.clear();
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kAccept;
  const std::uint64_t down_at = lab.now;
  // Fully down: the next check comes after downinter.
  lab.run_to(down_at + 4999);
  EXPECT_EQ(lab.dp.conns.size(), 1U);
  lab.run_to(down_at + 5000);
  ASSERT_EQ(lab.dp.conns.size(), 2U);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "DOWN 1/2");
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  // Going up: fastinter.
  lab.run_to(down_at + 5499);
  EXPECT_EQ(lab.dp.conns.size(), 2U);
  lab.run_to(down_at + 5500);
  EXPECT_EQ(lab.dp.conns.size(), 3U);
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_TRUE(h.up);
  EXPECT_EQ(h.health, 4U);
  EXPECT_EQ(status_text(h), "UP");
  EXPECT_TRUE(lab.up("imap4/proxy1"));
  EXPECT_EQ(h.downtime_ms, 5500U);
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 "
            "active and 0 backup servers online. 0 sessions requeued, 0 total in queue.\n");
  // Fully up: inter.
  lab.run_to(down_at + 7499);
  EXPECT_EQ(lab.dp.conns.size(), 3U);
  lab.run_to(down_at + 7500);
  EXPECT_EQ(lab.dp.conns.size(), 4U);
  expect_polite(lab.dp);
}

TEST(HealthEngine, AFailureWhileRisingStartsOver) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.rise = 3;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({s}));
  lab.run_for(1);
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kAccept;
  lab.run_for(2000);
  lab.run_for(2000);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "DOWN 2/3");
  b.connect = Behaviour::Connect::kRefuse;
  lab.run_for(2000);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "DOWN");
  EXPECT_EQ(lab.h("imap4/proxy1").check_failures, 2U);  // counted while health was above 0
}

TEST(HealthEngine, FallFailuresBringAFullyUpServerDown) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.fastinter = 1000;
  lab.load(one_listener({s, server_line("proxy2", 11, 143)}));
  lab.run_for(1);  // proxy1 checked at once, proxy2 half an interval later
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kSilent;
  lab.run_for(2000);  // check 2 starts
  lab.run_for(2000);  // and times out after inter: L4TOUT
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 2/3");
  EXPECT_EQ(lab.h("imap4/proxy1").status, CheckStatus::kL4Tout);
  EXPECT_EQ(lab.h("imap4/proxy1").duration_ms, 2000);
  lab.run_for(1000 + 2000);  // fastinter, then another timeout
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
  EXPECT_TRUE(lab.up("imap4/proxy1"));
  lab.run_for(1000 + 2000);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "DOWN");
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is DOWN, reason: Layer4 timeout, check duration: 2000ms. 1 "
            "active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in "
            "queue.\n");
  expect_polite(lab.dp);
}

TEST(HealthEngine, ASuccessRestoresFullHealth) {
  Lab lab;
  lab.load(one_listener({server_line("proxy1", 10, 143)}));
  lab.run_for(1);
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kRefuse;
  lab.run_for(2000);
  lab.run_for(2000);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
  b.connect = Behaviour::Connect::kAccept;
  lab.run_for(2000);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  EXPECT_EQ(lab.h("imap4/proxy1").consecutive_successes, 1U);
  EXPECT_EQ(lab.h("imap4/proxy1").check_failures, 2U);
}

TEST(HealthEngine, FirstChecksAreSpreadAsHaproxySpreadsThem) {
  Lab lab;
  std::vector<config::Server> servers;
  for (std::uint32_t i = 0; i < 4; ++i) {
    std::string name(1, 'p');  // not "p" + to_string(): GCC 12's -Wrestrict false positive
    name += std::to_string(i);
    servers.push_back(server_line(name, 10 + i, 143));
  }
  servers[3].fastinter = 4000;  // its own interval is longer than the smallest
  lab.load(one_listener(servers));
  const std::uint64_t t0 = lab.now;
  std::map<std::uint32_t, std::uint64_t> first;
  while (first.size() < 4 && lab.now < t0 + 5000) {
    lab.run_for(1);
    for (const auto& c : lab.dp.conns) {
      first.emplace(rte_be_to_cpu_32(c.dst_ip) & 0xff, lab.now - t0);
    }
  }
  // Position * max(smallest interval, its own) / count, with the interval of a server not
  // checked yet being fastinter (or inter).
  EXPECT_EQ(first[10], 1U);  // position 0 starts on the first tick
  EXPECT_EQ(first[11], 500U);
  EXPECT_EQ(first[12], 1000U);
  EXPECT_EQ(first[13], 3000U);
}

TEST(HealthEngine, DisabledServersAreNotCheckedBackupServersAre) {
  Lab lab;
  auto off = server_line("off", 10, 143);
  off.disabled = true;
  auto spare = server_line("spare", 11, 143);
  spare.backup = true;
  auto plain = server_line("nocheck", 12, 143);
  plain.check = false;
  lab.load(one_listener({off, spare, plain}));
  lab.run_for(4000);
  EXPECT_TRUE(lab.dp.to(kServerNet | 10).empty());
  EXPECT_TRUE(lab.dp.to(kServerNet | 12).empty());
  EXPECT_FALSE(lab.dp.to(kServerNet | 11).empty());
  EXPECT_EQ(status_text(lab.h("imap4/off")), "MAINT");
  EXPECT_EQ(status_text(lab.h("imap4/nocheck")), "no check");
  EXPECT_EQ(status_text(lab.h("imap4/spare")), "UP");
}

// --- the conversations through the engine -------------------------------------------------------

TEST(HealthEngine, ProxyHeaderCheckSendsSixteenBytesThenFin) {
  Lab lab;
  auto s = server_line("mx1", 20, 587);
  s.send_proxy_v2 = true;
  lab.load(one_listener({s}));
  lab.run_for(2);  // the check, then the worker's kFreed
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  const Conn& c = lab.dp.conns[0];
  EXPECT_EQ(c.dst_port, 587);
  EXPECT_EQ(c.sent, std::string(kProxyV2Local));
  EXPECT_EQ(c.ops, (std::vector<ProbeOp>{ProbeOp::kOpen, ProbeOp::kSend}));
  EXPECT_TRUE(c.fin);
  EXPECT_TRUE(c.freed);
  EXPECT_EQ(lab.h("imap4/mx1").status, CheckStatus::kL4Ok);
  EXPECT_EQ(lab.engine->slots_in_use(0), 0U);
}

TEST(HealthEngine, OpenCarriesTheRouteAndSourceAddress) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.check_port = 8143;
  lab.load(one_listener({s}));
  lab.run_for(1);
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  EXPECT_EQ(lab.dp.conns[0].dst_port, 8143);
  EXPECT_EQ(lab.dp.conns[0].server, lab.index("imap4/proxy1"));
}

TEST(HealthEngine, MailCheckImapAgainstAScriptedDovecot) {
  Lab lab;
  auto& dovecot = lab.dp.server(kServerNet | 10);
  dovecot.greeting = {"* OK [CAPABILITY IMAP4rev1] ", "Dovecot ready.\r\n"};
  dovecot.replies = {{"a LOGOUT\r\n", "* BYE Logging out\r\na OK Logout completed.\r\n"}};
  dovecot.close_after_replies = true;
  auto s = server_line("proxy1", 10, 143);
  s.send_proxy_v2 = true;
  lab.load(one_listener({s}, config::CheckType::kMail));
  lab.run_for(1);
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  const Conn& c = lab.dp.conns[0];
  // The header, then the goodbye; the fake answers, then we close once it closed or 1 s passed.
  EXPECT_EQ(c.sent, std::string(kProxyV2Local) + "a LOGOUT\r\n");
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_EQ(h.status, CheckStatus::kL7Ok);
  EXPECT_EQ(h.description, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.");
  EXPECT_FALSE(c.fin);  // Dovecot answers and closes first...
  lab.run_for(1);
  EXPECT_TRUE(c.fin);  // ...then we close, without waiting out the goodbye's time
  EXPECT_TRUE(c.freed);
  EXPECT_EQ(lab.engine->checks_in_flight(), 0U);
  expect_polite(lab.dp);
}

TEST(HealthEngine, SmtpchkAgainstAScriptedPostfix) {
  Lab lab;
  auto& postfix = lab.dp.server(kServerNet | 20);
  postfix.greeting = {"220 mx1 ESMTP Postfix\r\n"};
  postfix.replies = {{"HELO localhost\r\n", "250 mx1\r\n"}, {"QUIT\r\n", "221 2.0.0 Bye\r\n"}};
  auto s = server_line("mx1", 20, 25);
  s.send_proxy_v2 = true;
  lab.load(one_listener({s}, config::CheckType::kSmtp));
  lab.run_for(3);  // one tick per round trip
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  EXPECT_EQ(lab.dp.conns[0].sent, std::string(kProxyV2Local) + "HELO localhost\r\nQUIT\r\n");
  EXPECT_TRUE(lab.dp.conns[0].fin);
  const ServerHealth& h = lab.h("imap4/mx1");
  EXPECT_EQ(h.status, CheckStatus::kL7Ok);
  EXPECT_EQ(h.code, 221);
  EXPECT_EQ(h.description, "2.0.0 Bye");
  expect_polite(lab.dp);
}

TEST(HealthEngine, L7TimeoutClosesWithFin) {
  Lab lab;
  lab.dp.server(kServerNet | 10).greeting = {};  // accepts, says nothing
  auto c = one_listener({server_line("proxy1", 10, 143)}, config::CheckType::kMail);
  c.listeners[0].timeouts.check = 4000;
  c.listeners[0].timeouts.connect = 1000;
  lab.load(c);
  lab.run_for(4000);  // connected on the first tick; `timeout check` runs from there
  EXPECT_EQ(lab.h("imap4/proxy1").status, CheckStatus::kIni);
  lab.run_for(1);
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_EQ(h.status, CheckStatus::kL7Tout);
  EXPECT_EQ(h.duration_ms, 4000);
  EXPECT_FALSE(h.up);
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is DOWN, reason: Layer7 timeout, check duration: 4000ms. 0 "
            "active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in "
            "queue.\nproxy imap4 has no server available!\n");
  EXPECT_EQ(lab.levels.back(), LogLevel::kEmerg);
  expect_polite(lab.dp);
}

TEST(HealthEngine, AResetAfterTheHeaderIsASocketErrorAndNothingMoreIsSent) {
  Lab lab;
  auto& b = lab.dp.server(kServerNet | 10);
  b.reset_after_connect = true;
  auto s = server_line("proxy1", 10, 143);
  s.send_proxy_v2 = true;
  config::TcpCheckRule greeting;
  greeting.kind = config::TcpCheckRule::Kind::kExpect;
  greeting.data = "* OK";
  auto c = one_listener({s}, config::CheckType::kTcpCheck);
  c.listeners[0].tcp_check_rules = {greeting};
  lab.load(c);
  lab.run_for(2);
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  EXPECT_EQ(lab.dp.conns[0].ops, (std::vector<ProbeOp>{ProbeOp::kOpen, ProbeOp::kSend}));
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_EQ(h.status, CheckStatus::kSockErr);
  EXPECT_EQ(h.description,
            "Connection reset by peer at step 1 of tcp-check (expect string '* OK')");
  EXPECT_EQ(lab.engine->slots_in_use(0), 0U);
  EXPECT_EQ(lab.engine->checks_in_flight(), 0U);
  expect_polite(lab.dp);
}

TEST(HealthEngine, AWrongGreetingLogsItsCodeAndWords) {
  Lab lab;
  lab.dp.server(kServerNet | 20).greeting = {"554 5.3.2 mx1 ", "busy\r\n"};
  lab.load(one_listener({server_line("mx1", 20, 587), server_line("mx2", 21, 587)},
                        config::CheckType::kMail));
  lab.run_for(1);
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/mx1 is DOWN, reason: Layer7 wrong status, code: 554, info: \"5.3.2 "
            "mx1 busy\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.\n");
  lab.run_for(10);
  expect_polite(lab.dp);
}

TEST(HealthEngine, AServerThatNeverClosesKeepsItsSlotButChecksGoOn) {
  Lab lab;
  lab.dp.server(kServerNet | 10).close_on_fin = false;
  lab.load(one_listener({server_line("proxy1", 10, 143)}));
  lab.run_for(1);
  EXPECT_EQ(lab.engine->slots_in_use(0), 1U);
  lab.run_for(2000);
  EXPECT_EQ(lab.dp.conns.size(), 2U);
  EXPECT_NE(lab.dp.conns[0].slot, lab.dp.conns[1].slot);
  EXPECT_EQ(lab.engine->slots_in_use(0), 2U);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  expect_polite(lab.dp);
}

TEST(HealthEngine, UnreachableIsL4Con) {
  Lab lab;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kUnreachable;
  lab.load(one_listener({server_line("proxy1", 10, 143)}));
  lab.run_for(1);
  EXPECT_EQ(lab.h("imap4/proxy1").status, CheckStatus::kL4Con);
  EXPECT_EQ(lab.h("imap4/proxy1").description, "No route to host");
}

TEST(HealthEngine, FullRingsDeliverCommandsLaterInOrder) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.send_proxy_v2 = true;
  lab.load(one_listener({s}));
  lab.dp.ring_full = 3;
  lab.run_for(5);
  ASSERT_EQ(lab.dp.conns.size(), 1U);
  EXPECT_EQ(lab.dp.conns[0].ops, (std::vector<ProbeOp>{ProbeOp::kOpen, ProbeOp::kSend}));
  EXPECT_EQ(lab.h("imap4/proxy1").status, CheckStatus::kL4Ok);
}

TEST(HealthEngine, ChecksSpreadOverWorkers) {
  Lab lab(2);
  lab.load(one_listener({server_line("a", 10, 143), server_line("b", 11, 143)}));
  lab.run_for(1000);
  ASSERT_EQ(lab.dp.conns.size(), 2U);
  EXPECT_EQ(lab.dp.conns[0].worker, 0U);
  EXPECT_EQ(lab.dp.conns[1].worker, 1U);
}

// --- consequences ----------------------------------------------------------------------------

TEST(HealthEngine, ShutdownSessionsOnEveryWorkerWhenMarkedDown) {
  Lab lab(2);
  auto s = server_line("proxy1", 10, 143);
  s.shutdown_sessions_on_down = true;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({s}));
  lab.run_for(1);
  const std::uint16_t i = lab.index("imap4/proxy1");
  EXPECT_EQ(lab.dp.shutdowns,
            (std::vector<std::pair<std::uint32_t, std::uint16_t>>{{0, i}, {1, i}}));
}

TEST(HealthEngine, ShutdownBackupSessionsWhenANormalServerComesUp) {
  Lab lab(2);
  auto main = server_line("main", 10, 143);
  main.shutdown_backup_sessions_on_up = true;
  main.rise = 1;
  auto spare = server_line("spare", 11, 143);
  spare.backup = true;
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({main, spare}));
  lab.run_for(1);
  ASSERT_FALSE(lab.h("imap4/main").up);
  EXPECT_TRUE(lab.dp.shutdowns.empty());
  lab.take_logs();
  b.connect = Behaviour::Connect::kAccept;
  lab.run_for(2000);
  ASSERT_TRUE(lab.h("imap4/main").up);
  const std::uint16_t spare_index = lab.index("imap4/spare");
  EXPECT_EQ(lab.dp.shutdowns, (std::vector<std::pair<std::uint32_t, std::uint16_t>>{
                                  {0, spare_index}, {1, spare_index}}));
}

TEST(HealthEngine, BackupLinesAndNoServerLeft) {
  Lab lab;
  auto main = server_line("main", 10, 143);
  auto spare = server_line("spare", 11, 143);
  spare.backup = true;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.dp.server(kServerNet | 11).connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({main, spare}));
  lab.run_for(2000);
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/main is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: 0ms. 0 active and 1 backup servers left. Running on "
            "backup. 0 sessions active, 0 requeued, 0 remaining in queue.\n"
            "Backup Server imap4/spare is DOWN, reason: Layer4 connection problem, info: "
            "\"Connection refused\", check duration: 0ms. 0 active and 0 backup servers left. 0 "
            "sessions active, 0 requeued, 0 remaining in queue.\n"
            "proxy imap4 has no server available!\n");
}

TEST(HealthEngine, SlowstartRampsTheWeightAsHaproxyDoes) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.slowstart = 10000;
  s.rise = 1;
  s.downinter = 1000;
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kRefuse;
  lab.load(one_listener({s}));
  lab.run_for(1);
  const std::uint16_t i = lab.index("imap4/proxy1");
  // At start no slowstart applies.
  EXPECT_EQ(lab.live[i].weight_pct.load(), 100);
  b.connect = Behaviour::Connect::kAccept;
  lab.run_for(1000);
  ASSERT_TRUE(lab.h("imap4/proxy1").up);
  EXPECT_TRUE(lab.h("imap4/proxy1").starting);
  // (16 * elapsed_s + 10) / 10 sixteenths each second: 1, 2, 4, 5, 7, 9, 10, 12, 13, 15, 16.
  const int expected[] = {7, 13, 25, 32, 44, 57, 63, 75, 82, 94, 100};
  for (int second = 0; second <= 10; ++second) {
    EXPECT_EQ(lab.live[i].weight_pct.load(), expected[second]) << "second " << second;
    lab.run_for(1000);
  }
  EXPECT_FALSE(lab.h("imap4/proxy1").starting);
}

TEST(HealthEngine, SlowstartDoesNotRampUnderStaticRoundRobin) {
  Lab lab;
  auto s = server_line("proxy1", 10, 143);
  s.slowstart = 10000;
  s.rise = 1;
  auto& b = lab.dp.server(kServerNet | 10);
  b.connect = Behaviour::Connect::kRefuse;
  auto c = one_listener({s});
  c.listeners[0].balance = config::Balance::kStaticRoundRobin;
  lab.load(c);
  lab.run_for(1);
  b.connect = Behaviour::Connect::kAccept;
  lab.run_for(2000);
  ASSERT_TRUE(lab.h("imap4/proxy1").up);
  EXPECT_EQ(lab.live[lab.index("imap4/proxy1")].weight_pct.load(), 100);
}

// --- observe layer4 ------------------------------------------------------------------------------

Lab& observed(Lab& lab, config::OnError on_error) {
  auto s = server_line("proxy1", 10, 143);
  s.observe_layer4 = true;
  s.error_limit = 3;
  s.on_error = on_error;
  s.fastinter = 300;
  lab.load(one_listener({s, server_line("proxy2", 11, 143)}));
  lab.run_for(1);  // first check passes: fully UP (health 4)
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  lab.take_logs();
  return lab;
}

TEST(HealthEngine, ObserveFailCheckCountsOneFailedCheck) {
  Lab lab;
  observed(lab, config::OnError::kFailCheck);
  const std::uint16_t i = lab.index("imap4/proxy1");
  lab.errors[i] = 2;
  lab.run_for(1);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  lab.errors[i] = 3;
  lab.run_for(1);
  const ServerHealth& h = lab.h("imap4/proxy1");
  EXPECT_EQ(status_text(h), "UP 2/3");
  EXPECT_EQ(h.status, CheckStatus::kHana);
  EXPECT_EQ(h.description,
            "Detected 3 consecutive errors, last one was: L4 unsuccessful connection");
  EXPECT_EQ(h.duration_ms, -1);
  EXPECT_EQ(h.observe_actions, 1U);
  // It acts again only after error-limit more errors.
  lab.errors[i] = 5;
  lab.run_for(1);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 2/3");
  lab.errors[i] = 6;
  lab.run_for(1);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
  // A successful connection resets the dataplane's count; counting starts over.
  lab.errors[i] = 0;
  lab.run_for(1);
  lab.errors[i] = 2;
  lab.run_for(1);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
}

TEST(HealthEngine, ObserveFastinterBringsTheNextCheckForward) {
  Lab lab;
  observed(lab, config::OnError::kFastinter);
  const std::size_t before = lab.dp.to(kServerNet | 10).size();
  lab.errors[lab.index("imap4/proxy1")] = 3;
  lab.run_for(1);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");  // no failure counted
  lab.run_for(299);
  EXPECT_EQ(lab.dp.to(kServerNet | 10).size(), before);
  lab.run_for(1);
  EXPECT_EQ(lab.dp.to(kServerNet | 10).size(), before + 1);
}

TEST(HealthEngine, ObserveSuddenDeathLeavesOneFailureToDown) {
  Lab lab;
  observed(lab, config::OnError::kSuddenDeath);
  lab.errors[lab.index("imap4/proxy1")] = 3;
  lab.run_for(1);
  EXPECT_EQ(lab.h("imap4/proxy1").health, 2U);  // rise: one more failure and it is DOWN
  EXPECT_TRUE(lab.h("imap4/proxy1").up);
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.run_for(300);  // the next check, at fastinter
  EXPECT_FALSE(lab.h("imap4/proxy1").up);
}

TEST(HealthEngine, ObserveMarkDown) {
  Lab lab;
  observed(lab, config::OnError::kMarkDown);
  lab.errors[lab.index("imap4/proxy1")] = 3;
  lab.run_for(1);
  EXPECT_FALSE(lab.h("imap4/proxy1").up);
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is DOWN, reason: Health analyze, info: \"Detected 3 "
            "consecutive errors, last one was: L4 unsuccessful connection\". 1 active and 0 "
            "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.\n");
}

TEST(HealthEngine, APassedCheckClearsTheObserveCount) {
  Lab lab;
  observed(lab, config::OnError::kFailCheck);
  const std::uint16_t i = lab.index("imap4/proxy1");
  lab.errors[i] = 2;
  lab.run_for(2000);  // a check passes meanwhile
  lab.errors[i] = 4;  // 2 more since: below the limit
  lab.run_for(1);
  EXPECT_EQ(lab.h("imap4/proxy1").observe_actions, 0U);
  lab.errors[i] = 5;
  lab.run_for(1);
  EXPECT_EQ(lab.h("imap4/proxy1").observe_actions, 1U);
}

// --- reload ----------------------------------------------------------------------------------

TEST(HealthEngine, ReloadKeepsStateBySlotAndStopsRemovedServers) {
  Lab lab;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  lab.dp.server(kServerNet | 11).connect = Behaviour::Connect::kSilent;
  lab.load(one_listener({server_line("proxy1", 10, 143), server_line("proxy2", 11, 143)}));
  lab.run_for(1001);  // proxy1 DOWN; proxy2's first check is in flight (silent server)
  ASSERT_FALSE(lab.h("imap4/proxy1").up);
  ASSERT_EQ(lab.dp.to(kServerNet | 11).size(), 1U);
  const std::uint16_t p1 = lab.index("imap4/proxy1");
  lab.take_logs();

  // proxy2 leaves, proxy3 arrives; proxy1 keeps its slot and its DOWN state.
  lab.load(one_listener({server_line("proxy3", 12, 143), server_line("proxy1", 10, 143)}));
  EXPECT_EQ(lab.index("imap4/proxy1"), p1);
  EXPECT_FALSE(lab.h("imap4/proxy1").up);
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.engine->health(lab.index("imap4/proxy2")), nullptr);
  const Conn& inflight = *lab.dp.to(kServerNet | 11)[0];
  EXPECT_TRUE(inflight.fin);  // closed politely, no verdict
  EXPECT_TRUE(lab.h("imap4/proxy3").up);
  EXPECT_EQ(lab.h("imap4/proxy3").health, 2U);
  lab.run_for(10000);
  EXPECT_EQ(lab.dp.to(kServerNet | 11).size(), 1U);  // never checked again
  EXPECT_FALSE(lab.dp.to(kServerNet | 12).empty());
  EXPECT_EQ(lab.take_logs(), "");  // proxy1 stays DOWN without a new line
  expect_polite(lab.dp);
}

TEST(HealthEngine, ReloadThatDisablesAndReenablesAServer) {
  Lab lab;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kRefuse;
  auto s = server_line("proxy1", 10, 143);
  lab.load(one_listener({s}));
  lab.run_for(1);
  ASSERT_FALSE(lab.h("imap4/proxy1").up);
  s.disabled = true;
  lab.load(one_listener({s}));
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "MAINT");
  const std::size_t before = lab.dp.conns.size();
  lab.run_for(10000);
  EXPECT_EQ(lab.dp.conns.size(), before);
  s.disabled = false;
  lab.dp.server(kServerNet | 10).connect = Behaviour::Connect::kAccept;
  lab.load(one_listener({s}));
  // Leaving maintenance: UP at health = rise, checked at once.
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
  lab.run_for(1);
  EXPECT_EQ(lab.dp.conns.size(), before + 1);
}

// --- the operator's admin state (runtime API)
// -----------------------------------------------------

TEST(HealthEngine, RuntimeMaintStopsChecksAndLeavingItChecksAtOnce) {
  Lab lab;
  lab.load(one_listener({server_line("proxy1", 10, 143), server_line("proxy2", 11, 143)}));
  lab.run_for(4000);
  const std::size_t checks = lab.dp.to(kServerNet | 10).size();
  ASSERT_GT(checks, 0U);
  lab.take_logs();
  lab.engine->set_admin(lab.index("imap4/proxy1"), AdminState::kMaint);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "MAINT");
  EXPECT_FALSE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 is going DOWN for maintenance. 1 active and 0 backup servers "
            "left. 0 sessions active, 0 requeued, 0 remaining in queue.\n");
  lab.run_for(10000);
  EXPECT_EQ(lab.dp.to(kServerNet | 10).size(), checks);  // no check in maintenance
  EXPECT_GT(lab.dp.to(kServerNet | 11).size(), checks);  // the other one goes on
  lab.engine->set_admin(lab.index("imap4/proxy1"), AdminState::kReady);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP 1/3");
  EXPECT_TRUE(lab.up("imap4/proxy1"));
  EXPECT_EQ(lab.take_logs(), "Server imap4/proxy1 is UP/READY (leaving forced maintenance).\n");
  lab.run_for(1);
  EXPECT_EQ(lab.dp.to(kServerNet | 10).size(), checks + 1);  // checked at once
  expect_polite(lab.dp);
}

TEST(HealthEngine, RuntimeDrainKeepsCheckingAndShowsDrain) {
  Lab lab;
  lab.load(one_listener({server_line("proxy1", 10, 143), server_line("proxy2", 11, 143)}));
  lab.run_for(4000);
  lab.take_logs();
  const std::size_t checks = lab.dp.to(kServerNet | 10).size();
  lab.engine->set_admin(lab.index("imap4/proxy1"), AdminState::kDrain);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "DRAIN");
  EXPECT_EQ(lab.take_logs(),
            "Server imap4/proxy1 enters drain state. 1 active and 0 backup servers left. 0 "
            "sessions active, 0 requeued, 0 remaining in queue.\n");
  lab.run_for(6000);
  EXPECT_GT(lab.dp.to(kServerNet | 10).size(), checks);  // checks go on
  EXPECT_TRUE(lab.up("imap4/proxy1"));  // up: the workers' admin state keeps it out
  lab.engine->set_admin(lab.index("imap4/proxy1"), AdminState::kReady);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "UP");
  EXPECT_EQ(lab.take_logs(), "Server imap4/proxy1 is UP (leaving forced drain).\n");
}

TEST(HealthEngine, OperatorSettingsHoldAcrossAReload) {
  Lab lab;
  const auto cfg = one_listener({server_line("proxy1", 10, 143), server_line("proxy2", 11, 143)});
  lab.load(cfg);
  lab.run_for(4000);
  lab.engine->set_admin(lab.index("imap4/proxy1"), AdminState::kMaint);
  lab.engine->set_admin(lab.index("imap4/proxy2"), AdminState::kDrain);
  lab.take_logs();
  std::vector<OperatorSetting> ops(2);
  ops[lab.index("imap4/proxy1")].admin = AdminState::kMaint;
  ops[lab.index("imap4/proxy2")].admin = AdminState::kDrain;
  config::Diagnostics diags;
  auto next = build_snapshot(cfg, lab.settings, 2, diags, lab.snap.get());
  lab.snap = std::move(next);
  lab.engine->configure(cfg, *lab.snap, lab.settings, lab.now, ops);
  EXPECT_EQ(status_text(lab.h("imap4/proxy1")), "MAINT");
  EXPECT_EQ(status_text(lab.h("imap4/proxy2")), "DRAIN");
  EXPECT_EQ(lab.take_logs(), "");  // a reload changes nothing the operator set
  const std::size_t checks = lab.dp.to(kServerNet | 10).size();
  lab.run_for(10000);
  EXPECT_EQ(lab.dp.to(kServerNet | 10).size(), checks);
  expect_polite(lab.dp);
}

}  // namespace
}  // namespace postern::control::health
