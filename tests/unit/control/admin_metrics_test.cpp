// /metrics as Prometheus and HAProxy's dashboards read it: the exact text for a small view and
// sample (fixtures/metrics_small.txt), promex's one-series-per-state encodings, promtool's
// verdict, and the names, types and labels beside what HAProxy 2.6's own exporter emits for
// the same `listen` section (fixtures/promex-2.6.12-listen.txt, recorded from Debian's
// HAProxy by fixtures/capture_promex.sh).
#include "postern/control/admin_metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "postern/control/health_engine.hpp"

namespace postern::control::admin {
namespace {

std::string source_path(const std::string& rel) {
  const char* dir = std::getenv("POSTERN_SOURCE_DIR");
  return std::string(dir != nullptr ? dir : POSTERN_SOURCE_DIR_DEFAULT) + "/" + rel;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ServerView server(std::uint16_t slot, const std::string& listener, const std::string& name) {
  ServerView s;
  s.slot = slot;
  s.listener = listener;
  s.server = name;
  s.name = listener + "/" + name;
  s.address = "198.19.0." + std::to_string(10 + slot);
  s.port = 143;
  s.health.last_change_ms = 20000;
  return s;
}

// imap4: dc1 checked and UP (L4OK), dc2 checked and DOWN for 10 s (L4CON, 3 failed checks,
// one UP -> DOWN), dc3 a backup without checks, in slowstart at 40 %. submission: pf1 in
// maintenance, pf2 drained: no usable server, DOWN for 5 s since its first DOWN.
AdminView small_view() {
  AdminView v;
  v.built_ms = 50000;
  v.start_unix_s = 1796040000;
  v.generation = 3;
  v.config_hash = "00c0ffee00c0ffee";
  v.node = "lb1";
  v.workers = 1;
  v.reloads_ok = 2;
  v.reloads_failed = 1;
  v.global_maxconn = 4000;
  v.checks_in_flight = 1;
  v.probe_slots_in_use = {1};
  v.log_lines = 38;
  v.log_send_failures = 1;

  ListenerView imap;
  imap.slot = 0;
  imap.name = "imap4";
  imap.binds = {"0.0.0.0:143"};
  imap.servers = {0, 1, 2};
  imap.last_change_ms = 1000;
  v.listeners.push_back(imap);
  ListenerView sub;
  sub.slot = 1;
  sub.name = "submission";
  sub.binds = {"0.0.0.0:587", "198.18.0.101:587"};
  sub.servers = {3, 4};
  sub.maxconn = 500;
  sub.up = false;
  sub.down_transitions = 1;
  sub.last_change_ms = 45000;
  sub.downtime_ms = 2000;
  v.listeners.push_back(sub);

  ServerView dc1 = server(0, "imap4", "dc1");
  dc1.health.checked = true;
  dc1.health.status = health::CheckStatus::kL4Ok;
  dc1.health.duration_ms = 1;
  dc1.weight = dc1.uweight = 10;
  v.servers.push_back(dc1);
  ServerView dc2 = server(1, "imap4", "dc2");
  dc2.health.checked = true;
  dc2.health.up = false;
  dc2.health.status = health::CheckStatus::kL4Con;
  dc2.health.duration_ms = 0;
  dc2.health.check_failures = 3;
  dc2.health.down_transitions = 1;
  dc2.health.last_change_ms = 40000;
  dc2.weight = dc2.uweight = 10;
  v.servers.push_back(dc2);
  ServerView dc3 = server(2, "imap4", "dc3");
  dc3.backup = true;
  dc3.weight = dc3.uweight = 5;
  dc3.health.starting = true;
  dc3.health.weight_pct = 40;
  v.servers.push_back(dc3);
  ServerView pf1 = server(3, "submission", "pf1");
  pf1.admin = AdminState::kMaint;
  v.servers.push_back(pf1);
  ServerView pf2 = server(4, "submission", "pf2");
  pf2.admin = AdminState::kDrain;
  pf2.uweight = 0;
  v.servers.push_back(pf2);
  // Removed by a reload and draining: counted in its listener's bytes, not shown itself.
  ServerView old = server(5, "imap4", "dc0");
  old.retired = true;
  v.servers.push_back(old);
  return v;
}

Sample small_sample() {
  Sample s;
  s.unix_s = 1796040100;
  s.steady_ms = 50000;
  dataplane::WorkerCounters w;
  w.rx_packets = 1200;
  w.tx_packets = 1190;
  w.rx_bytes = 150000;
  w.tx_bytes = 149000;
  w.flows_created = 42;
  w.flows_closed = 40;
  w.active_flows = 2;
  w.flow_table_used = 5;
  w.proxy_headers_sent = 30;
  w.proxy_retransmits = 4;
  w.syn_redispatched = 1;
  w.connect_failures = 3;
  w.rst_sent = 6;
  w.loops_busy = 300;
  w.loops_idle = 700;
  w.busy_cycles = 1500000000;  // 0.5 s at 3 GHz
  w.busy_ppm = 250000;
  w.logs_queued = 40;
  w.logs_dropped = 2;
  w.drop(dataplane::DropReason::kNoListener);
  w.drop(dataplane::DropReason::kNoListener);
  w.drop(dataplane::DropReason::kMaxconn);
  s.per_worker = {w};
  s.total = w;
  s.listener_active = {2, 0};
  s.listener_total = {40, 2};
  s.server_active = {2, 0, 0, 0, 0, 0};
  s.server_total = {30, 11, 0, 2, 0, 1};
  s.server_bytes_in = {3000, 800, 0, 120, 0, 100};
  s.server_bytes_out = {90000, 2200, 0, 480, 0, 1000};
  s.server_errors = {0, 3, 0, 0, 0, 0};
  s.server_attempts = {30, 12, 0, 2, 0, 1};
  s.server_connects = {30, 8, 0, 2, 0, 1};
  s.server_connect_ms = {15, 40, 0, 1, 0, 0};
  s.tsc_hz = 3000000000;
  s.flow_capacity = 65536;
  s.mbufs = {12287, 11000, 2432};
  s.handoff_queued = {0};
  s.handoff_capacity = {4095};
  s.interface_names = {"client", "servers"};
  s.interfaces = {{600, 595, 75000, 74500, 0, 0, 0, 0}, {600, 595, 75000, 74500, 7, 0, 0, 0}};
  return s;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    out.push_back(l);
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines(text)) {
    if (l == line) {
      return true;
    }
  }
  return false;
}

TEST(AdminMetrics, ExactTextForASmallViewAndSample) {
  const Page p = metrics_page(small_view(), small_sample());
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.content_type, "text/plain; version=0.0.4");  // promex's
  const std::string fixture = source_path("tests/unit/control/fixtures/metrics_small.txt");
  if (std::getenv("POSTERN_UPDATE_FIXTURES") != nullptr) {
    std::ofstream(fixture) << p.body;
  }
  const std::vector<std::string> want = lines(read_file(fixture));
  const std::vector<std::string> got = lines(p.body);
  ASSERT_FALSE(want.empty()) << fixture;
  for (std::size_t i = 0; i < want.size() || i < got.size(); ++i) {
    ASSERT_EQ(i < got.size() ? got[i] : "(end)", i < want.size() ? want[i] : "(end)")
        << "line " << i + 1 << " of " << fixture;
  }
}

TEST(AdminMetrics, OneSeriesPerStateAsPromexEncodesThem) {
  const std::string t = metrics_page(small_view(), small_sample()).body;
  // Servers: UP, DOWN by checks, MAINT and DRAIN by the operator; NOLB never.
  for (const auto& [server, state] :
       std::vector<std::pair<std::string, std::string>>{{"imap4\",server=\"dc1", "UP"},
                                                        {"imap4\",server=\"dc2", "DOWN"},
                                                        {"imap4\",server=\"dc3", "UP"},
                                                        {"submission\",server=\"pf1", "MAINT"},
                                                        {"submission\",server=\"pf2", "DRAIN"}}) {
    for (const std::string st : {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"}) {
      EXPECT_TRUE(has_line(t, "haproxy_server_status{proxy=\"" + server + "\",state=\"" + st +
                                  "\"} " + (st == state ? "1" : "0")))
          << server << " " << st;
    }
  }
  EXPECT_TRUE(has_line(t, "haproxy_frontend_status{proxy=\"imap4\",state=\"UP\"} 1"));
  EXPECT_TRUE(has_line(t, "haproxy_frontend_status{proxy=\"imap4\",state=\"DOWN\"} 0"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_status{proxy=\"imap4\",state=\"UP\"} 1"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_status{proxy=\"submission\",state=\"DOWN\"} 1"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_status{proxy=\"submission\",state=\"UP\"} 0"));
  // Check status: 16 series for each checked server, none for the others.
  EXPECT_TRUE(
      has_line(t, "haproxy_server_check_status{proxy=\"imap4\",server=\"dc1\",state=\"L4OK\"} 1"));
  EXPECT_TRUE(
      has_line(t, "haproxy_server_check_status{proxy=\"imap4\",server=\"dc2\",state=\"L4CON\"} 1"));
  EXPECT_TRUE(
      has_line(t, "haproxy_server_check_status{proxy=\"imap4\",server=\"dc2\",state=\"L4OK\"} 0"));
  std::size_t check_series = 0;
  for (const auto& l : lines(t)) {
    check_series += l.rfind("haproxy_server_check_status{", 0) == 0 ? 1 : 0;
    EXPECT_EQ(l.find("server=\"dc3\",state=\"L"), std::string::npos) << l;
    EXPECT_EQ(l.find("dc0"), std::string::npos) << "a retired server is shown: " << l;
  }
  EXPECT_EQ(check_series, 32U);
}

TEST(AdminMetrics, ListenerFiguresAreTheSumsOfItsServers) {
  const std::string t = metrics_page(small_view(), small_sample()).body;
  // dc1 + dc2 + the retired dc0 (its bytes stay its listener's).
  EXPECT_TRUE(has_line(t, "haproxy_frontend_bytes_in_total{proxy=\"imap4\"} 3900"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_bytes_out_total{proxy=\"imap4\"} 93200"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_connection_errors_total{proxy=\"imap4\"} 3"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_connection_attempts_total{proxy=\"imap4\"} 43"));
  // (15 + 40 + 0) ms over 39 connects.
  EXPECT_TRUE(has_line(
      t, "haproxy_backend_connect_time_average_seconds{proxy=\"imap4\"} 0.00141025641025641"));
  EXPECT_TRUE(has_line(
      t, "haproxy_server_connect_time_average_seconds{proxy=\"imap4\",server=\"dc2\"} 0.005"));
  // Weights: dc1 is the only usable active server; dc3 (backup, slowstart 40 % of 5) counts
  // in backup_servers but not in the weight; submission has none usable.
  EXPECT_TRUE(has_line(t, "haproxy_backend_weight{proxy=\"imap4\"} 10"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_active_servers{proxy=\"imap4\"} 1"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_backup_servers{proxy=\"imap4\"} 1"));
  EXPECT_TRUE(has_line(t, "haproxy_server_weight{proxy=\"imap4\",server=\"dc3\"} 2"));
  EXPECT_TRUE(has_line(t, "haproxy_server_current_throttle{proxy=\"imap4\",server=\"dc3\"} 40"));
  EXPECT_TRUE(has_line(t, "haproxy_backend_weight{proxy=\"submission\"} 0"));
  // DOWN for 5 s now, 2 s before.
  EXPECT_TRUE(has_line(t, "haproxy_backend_downtime_seconds_total{proxy=\"submission\"} 7"));
  EXPECT_TRUE(
      has_line(t, "haproxy_server_downtime_seconds_total{proxy=\"imap4\",server=\"dc2\"} 10"));
}

TEST(AdminMetrics, EveryDropReasonHasASeriesPerWorker) {
  const std::string t = metrics_page(small_view(), small_sample()).body;
  for (std::size_t r = 0; r < dataplane::kDropReasonNames.size(); ++r) {
    const std::string prefix = std::string("postern_drops_total{worker=\"0\",reason=\"") +
                               dataplane::kDropReasonNames[r] + "\"} ";
    bool found = false;
    for (const auto& l : lines(t)) {
      found = found || l.rfind(prefix, 0) == 0;
    }
    EXPECT_TRUE(found) << prefix;
  }
  EXPECT_TRUE(has_line(t, "postern_drops_total{worker=\"0\",reason=\"no_listener\"} 2"));
  // Log lines lost: 2 dropped by the ring, 1 not sent.
  EXPECT_TRUE(has_line(t, "haproxy_process_dropped_logs_total 3"));
}

TEST(AdminMetrics, PromtoolAcceptsTheOutput) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (Debian: apt-get install prometheus)";
  }
  char path[] = "/tmp/postern-metrics-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string body = metrics_page(small_view(), small_sample()).body;
  ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
  close(fd);
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
  }
  const int rc = pclose(p);
  std::remove(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint findings";
}

// Families of an exposition: name -> type, label names, and the values each label takes.
struct Family {
  std::string type;
  std::set<std::string> labels;
  std::map<std::string, std::set<std::string>> values;
};

std::map<std::string, Family> parse(const std::string& text) {
  std::map<std::string, Family> out;
  for (const auto& l : lines(text)) {
    if (l.rfind("# TYPE ", 0) == 0) {
      std::istringstream in(l.substr(7));
      std::string name, type;
      in >> name >> type;
      out[name].type = type;
      continue;
    }
    if (l.empty() || l[0] == '#') {
      continue;
    }
    const std::size_t brace = l.find('{');
    const std::string name = l.substr(0, std::min(brace, l.find(' ')));
    Family& f = out[name];
    if (brace == std::string::npos) {
      continue;
    }
    // label="value",... up to the closing brace; values here hold no quotes or commas.
    std::size_t i = brace + 1;
    while (i < l.size() && l[i] != '}') {
      const std::size_t eq = l.find('=', i);
      const std::size_t end = l.find('"', eq + 2);
      const std::string label = l.substr(i, eq - i);
      f.labels.insert(label);
      f.values[label].insert(l.substr(eq + 2, end - eq - 2));
      i = end + 1;
      if (l[i] == ',') {
        ++i;
      }
    }
  }
  return out;
}

// What promex 2.6 has that Postern leaves out, and why (docs/metrics.md).
const std::set<std::string> kNotExported = {
    // HAProxy's process internals: no counterpart (no fds, threads' tasks, SSL, compression,
    // pipes, peers, DNS, log receiving).
    "haproxy_process_nbproc",
    "haproxy_process_relative_process_id",
    "haproxy_process_pool_failures_total",
    "haproxy_process_max_fds",
    "haproxy_process_max_sockets",
    "haproxy_process_hard_max_connections",
    "haproxy_process_requests_total",
    "haproxy_process_max_ssl_connections",
    "haproxy_process_current_ssl_connections",
    "haproxy_process_ssl_connections_total",
    "haproxy_process_max_pipes",
    "haproxy_process_pipes_used_total",
    "haproxy_process_pipes_free_total",
    "haproxy_process_current_connection_rate",
    "haproxy_process_limit_connection_rate",
    "haproxy_process_max_connection_rate",
    "haproxy_process_current_session_rate",
    "haproxy_process_limit_session_rate",
    "haproxy_process_max_session_rate",
    "haproxy_process_current_ssl_rate",
    "haproxy_process_limit_ssl_rate",
    "haproxy_process_max_ssl_rate",
    "haproxy_process_current_frontend_ssl_key_rate",
    "haproxy_process_max_frontend_ssl_key_rate",
    "haproxy_process_frontend_ssl_reuse",
    "haproxy_process_current_backend_ssl_key_rate",
    "haproxy_process_max_backend_ssl_key_rate",
    "haproxy_process_ssl_cache_lookups_total",
    "haproxy_process_ssl_cache_misses_total",
    "haproxy_process_http_comp_bytes_in_total",
    "haproxy_process_http_comp_bytes_out_total",
    "haproxy_process_limit_http_comp",
    "haproxy_process_current_zlib_memory",
    "haproxy_process_max_zlib_memory",
    "haproxy_process_current_tasks",
    "haproxy_process_current_run_queue",
    "haproxy_process_stopping",
    "haproxy_process_jobs",
    "haproxy_process_unstoppable_jobs",
    "haproxy_process_active_peers",
    "haproxy_process_connected_peers",
    "haproxy_process_busy_polling_enabled",
    "haproxy_process_failed_resolutions",
    "haproxy_process_bytes_out_total",
    "haproxy_process_spliced_bytes_out_total",
    "haproxy_process_bytes_out_rate",
    "haproxy_process_recv_logs_total",
    "haproxy_process_max_memory_bytes",
    // Maxima and rates HAProxy keeps per object: not kept.
    "haproxy_frontend_max_sessions",
    "haproxy_frontend_limit_session_rate",
    "haproxy_frontend_max_session_rate",
    "haproxy_frontend_connections_rate_max",
    "haproxy_backend_max_sessions",
    "haproxy_backend_max_session_rate",
    "haproxy_server_max_sessions",
    "haproxy_server_max_session_rate",
    "haproxy_backend_max_queue_time_seconds",
    "haproxy_backend_max_connect_time_seconds",
    "haproxy_backend_max_response_time_seconds",
    "haproxy_backend_max_total_time_seconds",
    "haproxy_server_max_queue_time_seconds",
    "haproxy_server_max_connect_time_seconds",
    "haproxy_server_max_response_time_seconds",
    "haproxy_server_max_total_time_seconds",
    // HTTP and layer 7: a TCP splice has no requests, responses, rules or headers.
    "haproxy_frontend_requests_denied_total",
    "haproxy_frontend_responses_denied_total",
    "haproxy_frontend_request_errors_total",
    "haproxy_frontend_intercepted_requests_total",
    "haproxy_frontend_denied_connections_total",
    "haproxy_frontend_denied_sessions_total",
    "haproxy_frontend_failed_header_rewriting_total",
    "haproxy_frontend_internal_errors_total",
    "haproxy_frontend_http_requests_rate_max",
    "haproxy_frontend_http_requests_total",
    "haproxy_frontend_http_responses_total",
    "haproxy_frontend_http_comp_bytes_in_total",
    "haproxy_frontend_http_comp_bytes_out_total",
    "haproxy_frontend_http_comp_bytes_bypassed_total",
    "haproxy_frontend_http_comp_responses_total",
    "haproxy_frontend_http_cache_lookups_total",
    "haproxy_frontend_http_cache_hits_total",
    "haproxy_backend_requests_denied_total",
    "haproxy_backend_responses_denied_total",
    "haproxy_backend_response_errors_total",
    "haproxy_backend_failed_header_rewriting_total",
    "haproxy_backend_internal_errors_total",
    "haproxy_backend_response_time_average_seconds",
    "haproxy_backend_total_time_average_seconds",
    "haproxy_server_responses_denied_total",
    "haproxy_server_response_errors_total",
    "haproxy_server_failed_header_rewriting_total",
    "haproxy_server_internal_errors_total",
    "haproxy_server_response_time_average_seconds",
    "haproxy_server_total_time_average_seconds",
    // Queues: Postern refuses (RST) at maxconn instead of queueing.
    "haproxy_backend_current_queue",
    "haproxy_backend_max_queue",
    "haproxy_backend_queue_time_average_seconds",
    "haproxy_server_current_queue",
    "haproxy_server_max_queue",
    "haproxy_server_queue_limit",
    "haproxy_server_queue_time_average_seconds",
    // Connection reuse and idle pools: every server connection belongs to one client's.
    "haproxy_backend_connection_reuses_total",
    "haproxy_server_connection_reuses_total",
    "haproxy_server_idle_connections_current",
    "haproxy_server_idle_connections_limit",
    "haproxy_server_unsafe_idle_connections_current",
    "haproxy_server_safe_idle_connections_current",
    "haproxy_server_used_connections_current",
    "haproxy_server_need_connections_current",
    // Not counted per listener or server yet (worker-wide: postern_syn_redispatched_total).
    "haproxy_backend_retry_warnings_total",
    "haproxy_backend_redispatch_warnings_total",
    "haproxy_server_retry_warnings_total",
    "haproxy_server_redispatch_warnings_total",
    "haproxy_backend_loadbalanced_total",
    "haproxy_server_loadbalanced_total",
    "haproxy_backend_client_aborts_total",
    "haproxy_backend_server_aborts_total",
    "haproxy_server_client_aborts_total",
    "haproxy_server_server_aborts_total",
    "haproxy_backend_last_session_seconds",
    "haproxy_server_last_session_seconds",
    "haproxy_backend_limit_sessions",
    "haproxy_server_limit_sessions",
    // Deprecated aggregates (2.6's agg_server_check_status counts server states) and 2.8's.
    "haproxy_backend_agg_server_status",
    "haproxy_backend_agg_server_check_status",
    "haproxy_backend_agg_check_status",
};

TEST(AdminMetrics, NamesTypesAndLabelsAsHaproxy26Exports) {
  const std::string recorded =
      read_file(source_path("tests/unit/control/fixtures/promex-2.6.12-listen.txt"));
  ASSERT_FALSE(recorded.empty());
  const std::map<std::string, Family> theirs = parse(recorded);
  const std::map<std::string, Family> ours = parse(metrics_page(small_view(), small_sample()).body);

  // Every haproxy_ family Postern emits exists in HAProxy 2.6 with the same type and labels,
  // and every state it can take is one promex names.
  std::set<std::string> emitted;
  for (const auto& [name, f] : ours) {
    if (name.rfind("haproxy_", 0) != 0) {
      EXPECT_EQ(name.rfind("postern_", 0), 0U) << name;
      continue;
    }
    emitted.insert(name);
    const auto it = theirs.find(name);
    ASSERT_NE(it, theirs.end()) << name << " is not a promex 2.6 name";
    EXPECT_EQ(f.type, it->second.type) << name;
    EXPECT_EQ(f.labels, it->second.labels) << name;
    if (f.labels.count("state") != 0) {
      EXPECT_EQ(f.values.at("state"), it->second.values.at("state")) << name;
    }
  }
  // And what promex has that Postern leaves out is exactly the list above.
  std::set<std::string> missing;
  for (const auto& [name, f] : theirs) {
    if (emitted.count(name) == 0) {
      missing.insert(name);
    }
  }
  for (const auto& name : missing) {
    EXPECT_EQ(kNotExported.count(name), 1U) << name << " (promex) is neither emitted nor listed";
  }
  for (const auto& name : kNotExported) {
    EXPECT_EQ(missing.count(name), 1U) << name << " is listed as not exported but is";
  }
  // The series both dashboards (12693 and the haproxy-mixin) build their variables from.
  for (const char* name : {"haproxy_process_start_time_seconds", "haproxy_frontend_status",
                           "haproxy_backend_status", "haproxy_server_status"}) {
    EXPECT_EQ(emitted.count(name), 1U) << name;
  }
  // Per-object labels as promex puts them: proxy (and server) values of the same listen.
  EXPECT_EQ(ours.at("haproxy_server_status").values.at("server").count("dc3"), 1U);
  EXPECT_EQ(theirs.at("haproxy_server_status").values.at("server"),
            (std::set<std::string>{"dc1", "dc2", "dc3"}));
}

// The family names of a page, in order.
std::vector<std::string> family_names(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : lines(text)) {
    if (l.rfind("# TYPE ", 0) == 0) {
      out.push_back(l.substr(7, l.find(' ', 7) - 7));
    }
  }
  return out;
}

bool all_start_with(const std::vector<std::string>& names, const std::vector<std::string>& p) {
  for (const auto& n : names) {
    bool ok = false;
    for (const auto& prefix : p) {
      ok = ok || n.rfind(prefix, 0) == 0;
    }
    if (!ok) {
      return false;
    }
  }
  return !names.empty();
}

// promex's query string, as HAProxy 2.6.12 answers it (tried against Debian's haproxy with
// fixtures/promex-listen.cfg): scope= selects, repeats add up, an empty one selects nothing,
// an unknown one or a scope without '=' is a 400; `no-maint` hides servers in maintenance;
// metrics= (HAProxy 2.8 on) keeps or leaves out families by full name.
TEST(AdminMetrics, QueryStringSelectsAsPromexDoes) {
  const AdminView v = small_view();
  const Sample s = small_sample();
  const auto names = [&](std::string_view q) {
    return family_names(metrics_page_for(q, v, s).body);
  };
  EXPECT_EQ(names(""), family_names(metrics_page(v, s).body));
  const std::vector<std::string> global = names("scope=global");
  EXPECT_TRUE(all_start_with(global, {"haproxy_process_", "postern_"}));
  EXPECT_EQ(std::count(global.begin(), global.end(), "postern_server_connects_total"), 0);
  EXPECT_TRUE(all_start_with(names("scope=frontend"), {"haproxy_frontend_"}));
  EXPECT_TRUE(all_start_with(names("scope=server&scope=backend"),
                             {"haproxy_backend_", "haproxy_server_", "postern_server_"}));
  EXPECT_TRUE(all_start_with(names("scope=glo%62al#x"), {"haproxy_process_", "postern_"}));
  EXPECT_TRUE(names("scope=").empty());
  EXPECT_TRUE(names("scope=*&scope=").empty());
  EXPECT_TRUE(names("scope=listener").empty());
  EXPECT_EQ(names("scope=&scope=*"), names(""));
  EXPECT_EQ(names("sCope=global"), names(""));  // keys are case-sensitive: ignored
  for (const std::string_view bad : {"scope", "scope=bogus", "scope=stick-table", "scope=a=b"}) {
    const Page p = metrics_page_for(bad, v, s);
    EXPECT_EQ(p.status, 400) << bad;
    EXPECT_EQ(p.content_type, "text/html") << bad;
    EXPECT_EQ(p.body,
              "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n"
              "</body></html>\n");
  }
  EXPECT_EQ(names("metrics=haproxy_server_weight,haproxy_process_uptime_seconds"),
            (std::vector<std::string>{"haproxy_process_uptime_seconds", "haproxy_server_weight"}));
  EXPECT_EQ(names("metrics=haproxy_server_weight&scope=global"), std::vector<std::string>{});
  const std::vector<std::string> all = names("");
  const std::vector<std::string> less =
      names("metrics=-haproxy_server_status,-postern_drops_total");
  EXPECT_EQ(less.size() + 2, all.size());
  EXPECT_EQ(std::count(less.begin(), less.end(), "haproxy_server_status"), 0);

  // no-maint: pf1 (MAINT) has no series at all; the listener's sums still count it.
  const std::string t = metrics_page_for("no-maint", v, s).body;
  EXPECT_EQ(t.find("server=\"pf1\""), std::string::npos);
  EXPECT_NE(t.find("server=\"pf2\""), std::string::npos);
  EXPECT_TRUE(has_line(t, "haproxy_backend_sessions_total{proxy=\"submission\"} 2"));
}

// The backend state follows the servers from one view to the next, with its transitions.
class NoTransport final : public health::ProbeTransport {
 public:
  std::uint32_t workers() const override { return 1; }
  bool send(std::uint32_t, const dataplane::ProbeCommand&) override { return true; }
  std::size_t poll(std::uint32_t, dataplane::ProbeEvent*, std::size_t) override { return 0; }
};

TEST(AdminMetrics, BackendStateCarriesAcrossViews) {
  dataplane::Snapshot snap;
  snap.generation = 1;
  dataplane::ListenerSlot l;
  l.name = "imap4";
  l.servers = {0};
  snap.listeners.push_back(l);
  dataplane::ServerSlot s;
  s.name = "imap4/dc1";
  snap.servers.push_back(s);
  NoTransport transport;
  std::vector<dataplane::ServerLive> live(dataplane::kMaxServers);
  health::Engine engine(transport, live.data(), {});
  Overrides o;
  ViewMeta meta;
  meta.now_ms = 1000;
  auto v1 = build_view(snap, engine, o, meta);
  EXPECT_TRUE(v1->listeners[0].up);
  EXPECT_EQ(v1->listeners[0].last_change_ms, 1000U);

  o.admin[0] = AdminState::kMaint;
  meta.now_ms = 5000;
  meta.previous = v1;
  auto v2 = build_view(snap, engine, o, meta);
  EXPECT_FALSE(v2->listeners[0].up);
  EXPECT_EQ(v2->listeners[0].down_transitions, 1U);
  EXPECT_EQ(v2->listeners[0].last_change_ms, 5000U);

  o.admin[0] = AdminState::kReady;
  meta.now_ms = 8000;
  meta.previous = v2;
  auto v3 = build_view(snap, engine, o, meta);
  EXPECT_TRUE(v3->listeners[0].up);
  EXPECT_EQ(v3->listeners[0].down_transitions, 1U);
  EXPECT_EQ(v3->listeners[0].downtime_ms, 3000U);
  EXPECT_EQ(v3->listeners[0].last_change_ms, 8000U);

  // Another listener in the slot after a reload: no history.
  snap.listeners[0].name = "pop3";
  meta.now_ms = 9000;
  meta.previous = v3;
  auto v4 = build_view(snap, engine, o, meta);
  EXPECT_EQ(v4->listeners[0].down_transitions, 0U);
  EXPECT_EQ(v4->listeners[0].last_change_ms, 9000U);
}

}  // namespace
}  // namespace postern::control::admin
