// /metrics: a prometheus::Collectable that builds the metric families from one admin view and
// one sample when asked, and TextSerializer to write them. HAProxy's families first (process,
// frontend, backend, server: the names, labels, types and one-series-per-state encoding of
// HAProxy 2.6's promex, addons/promex/service-prometheus.c), then Postern's own.
#include "postern/control/admin_metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postern/control/health_status.hpp"
#include "postern/dataplane/probe.hpp"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "unknown"
#endif

namespace postern::control::admin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// The scope a family belongs to, by its name (promex's prefixes; Postern's own are global but
// for the per-server ones).
unsigned scope_of(std::string_view name) {
  const auto starts = [name](std::string_view p) { return name.substr(0, p.size()) == p; };
  if (starts("haproxy_frontend_")) {
    return MetricsQuery::kFrontend;
  }
  if (starts("haproxy_backend_")) {
    return MetricsQuery::kBackend;
  }
  if (starts("haproxy_server_") || starts("postern_server_")) {
    return MetricsQuery::kServer;
  }
  return MetricsQuery::kGlobal;
}

// Whether the query asks for this family (promex_filter_metric: a listed name decides, else
// whether any name was listed without '-').
bool wanted(const MetricsQuery& q, std::string_view name) {
  if ((scope_of(name) & q.scopes) == 0) {
    return false;
  }
  if (const auto it = q.names.find(name); it != q.names.end()) {
    return !it->second;
  }
  return !q.only_named;
}

// The families in the order they are declared; one that got no series, or that the query
// does not ask for, is left out.
class Families {
 public:
  explicit Families(const MetricsQuery& q) : q_(q) {}
  MetricFamily& gauge(const char* name, const char* help) {
    return add(name, help, MetricType::Gauge);
  }
  MetricFamily& counter(const char* name, const char* help) {
    return add(name, help, MetricType::Counter);
  }
  std::vector<MetricFamily> take() {
    std::vector<MetricFamily> out;
    for (std::size_t i = 0; i < families_.size(); ++i) {
      if (wanted_[i] && !families_[i].metric.empty()) {
        out.push_back(std::move(families_[i]));
      }
    }
    return out;
  }

 private:
  MetricFamily& add(const char* name, const char* help, MetricType type) {
    families_.push_back(MetricFamily{name, help, type, {}});
    wanted_.push_back(wanted(q_, name));
    return families_.back();  // a deque: earlier references stay valid
  }
  const MetricsQuery& q_;
  std::deque<MetricFamily> families_;
  std::vector<bool> wanted_;
};

void put(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

double at(const std::vector<std::uint64_t>& v, std::size_t i) {
  return static_cast<double>(slot_count(v, i));
}

// HAProxy's integer seconds (its stats count whole seconds).
double whole_seconds(std::uint64_t ms) {
  return static_cast<double>(ms / 1000);
}

double average_seconds(double sum_ms, double count) {
  return count == 0 ? 0.0 : sum_ms / count / 1000.0;
}

// promex's server states, in its order. MAINT wins over everything, a server DOWN by its
// checks is DOWN whatever the operator said, DRAIN is an UP server the operator drains. NOLB
// (HAProxy's STOPPING: disable-on-404, an agent's "stopping") has no counterpart: always 0.
constexpr std::array<std::string_view, 5> kServerStates = {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"};

std::string_view server_state(const ServerView& s) {
  if (s.admin == AdminState::kMaint) {
    return "MAINT";
  }
  if (!s.health.up) {
    return "DOWN";
  }
  return s.admin == AdminState::kDrain ? "DRAIN" : "UP";
}

// promex's check states: every status from HANA on in HAProxy's enum. The L6 and PROC ones
// and L7OKC have no Postern counterpart and stay at 0; so do all while no check finished.
constexpr std::array<std::string_view, 16> kCheckStates = {
    "HANA",   "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK",    "L6TOUT",   "L6RSP",
    "L7TOUT", "L7RSP",   "L7OK", "L7OKC",  "L7STS", "PROCERR", "PROCTOUT", "PROCOK"};

// One listener's figures summed over its servers (a retired server still counts towards the
// listener it served).
struct ListenerSums {
  double bytes_in = 0;
  double bytes_out = 0;
  double errors = 0;
  double attempts = 0;
  double connects = 0;
  double connect_ms = 0;
};

// The worker counters exported one family each, by field; every field of the X-macro list is
// here or handled on its own below (the test `EveryWorkerCounterIsExported` holds the list
// to it).
struct WorkerCounterRow {
  std::uint64_t dataplane::WorkerCounters::*field;
  const char* name;
  const char* help;
  MetricType type;
};

constexpr MetricType kCounter = MetricType::Counter;
constexpr MetricType kGauge = MetricType::Gauge;

// clang-format off
constexpr WorkerCounterRow kWorkerRows[] = {
  {&dataplane::WorkerCounters::rx_packets, "postern_worker_rx_packets_total", "Frames this worker received from the ports.", kCounter},
  {&dataplane::WorkerCounters::tx_packets, "postern_worker_tx_packets_total", "Frames this worker's ports took for sending.", kCounter},
  {&dataplane::WorkerCounters::rx_bytes, "postern_worker_rx_bytes_total", "Bytes of the frames this worker received, Ethernet headers included.", kCounter},
  {&dataplane::WorkerCounters::tx_bytes, "postern_worker_tx_bytes_total", "Bytes of the frames this worker sent, Ethernet headers included.", kCounter},
  {&dataplane::WorkerCounters::arp_replies_sent, "postern_arp_replies_sent_total", "ARP replies sent for Postern's addresses.", kCounter},
  {&dataplane::WorkerCounters::arp_requests_sent, "postern_arp_requests_sent_total", "ARP requests sent to resolve servers and gateways.", kCounter},
  {&dataplane::WorkerCounters::arp_announcements_sent, "postern_arp_announcements_sent_total", "Gratuitous ARP sent for Postern's addresses.", kCounter},
  {&dataplane::WorkerCounters::icmp_echo_replies, "postern_icmp_echo_replies_total", "ICMP echo replies sent.", kCounter},
  {&dataplane::WorkerCounters::icmp_errors_forwarded, "postern_icmp_errors_forwarded_total", "ICMP errors about a connection passed on to its other end.", kCounter},
  {&dataplane::WorkerCounters::icmp_errors_sent, "postern_icmp_errors_sent_total", "ICMP errors sent by Postern itself (time exceeded).", kCounter},
  {&dataplane::WorkerCounters::rst_sent, "postern_rst_sent_total", "TCP resets sent by Postern.", kCounter},
  {&dataplane::WorkerCounters::flows_created, "postern_flows_created_total", "Connections taken from clients.", kCounter},
  {&dataplane::WorkerCounters::flows_closed, "postern_flows_closed_total", "Connections ended, by FINs, a reset or a timeout.", kCounter},
  {&dataplane::WorkerCounters::flows_expired, "postern_flows_expired_total", "Connections ended by an idle timeout.", kCounter},
  {&dataplane::WorkerCounters::proxy_headers_sent, "postern_proxy_headers_sent_total", "PROXY protocol headers sent to servers (first transmissions).", kCounter},
  {&dataplane::WorkerCounters::proxy_retransmits, "postern_proxy_header_retransmits_total", "PROXY protocol headers sent again because the server had not acknowledged them.", kCounter},
  {&dataplane::WorkerCounters::proxy_headers_received, "postern_proxy_headers_received_total", "PROXY protocol headers read from upstream proxies (accept-proxy).", kCounter},
  {&dataplane::WorkerCounters::syn_redispatched, "postern_syn_redispatched_total", "Connection attempts moved to the next server after a refusal or a connect timeout.", kCounter},
  {&dataplane::WorkerCounters::syn_data_stripped, "postern_syn_data_stripped_total", "Client SYNs whose payload (TCP Fast Open data) was removed before the SYN went to a server.", kCounter},
  {&dataplane::WorkerCounters::connect_failures, "postern_connect_failures_total", "Failed connection attempts to servers.", kCounter},
  {&dataplane::WorkerCounters::sessions_shutdown, "postern_sessions_shutdown_total", "Connections reset by on-marked-down or on-marked-up shutdown-sessions.", kCounter},
  {&dataplane::WorkerCounters::probe_commands, "postern_health_probe_commands_total", "Health-check commands this worker took from the health engine.", kCounter},
  {&dataplane::WorkerCounters::logs_queued, "postern_logs_queued_total", "Session log records this worker queued for the control thread.", kCounter},
  {&dataplane::WorkerCounters::logs_dropped, "postern_logs_dropped_total", "Session log records this worker dropped because its ring was full.", kCounter},
  {&dataplane::WorkerCounters::handoff_sent, "postern_handoff_sent_total", "Frames handed to the worker that owns their connection.", kCounter},
  {&dataplane::WorkerCounters::active_flows, "postern_active_flows", "Connections open on this worker.", kGauge},
  {&dataplane::WorkerCounters::flow_table_used, "postern_flow_table_used", "Entries in use in this worker's flow table, closed connections still lingering included.", kGauge},
  {&dataplane::WorkerCounters::syn_cookies_sent, "postern_syn_cookies_sent_total", "SYNs the SYN proxy answered with a cookie.", kCounter},
  {&dataplane::WorkerCounters::syn_cookies_valid, "postern_syn_cookies_valid_total", "Client ACKs whose cookie proved their address: connections the SYN proxy opened.", kCounter},
  {&dataplane::WorkerCounters::syn_cookies_resent, "postern_syn_cookies_resent_total", "SYN-ACKs with a cookie sent again because the client had not come back a second later (up to three times each).", kCounter},
  {&dataplane::WorkerCounters::syn_proxy_active, "postern_syn_proxy_active", "1 while this worker's SYN proxy is switched on by `auto`.", kGauge},
  {&dataplane::WorkerCounters::half_open_flows, "postern_half_open_flows", "Connections whose SYN was forwarded and whose client has not completed its handshake.", kGauge},
};
// clang-format on

class MetricsCollector final : public prometheus::Collectable {
 public:
  MetricsCollector(const AdminView& view, const Sample& sample, const MetricsQuery& query)
      : v_(view),
        s_(sample),
        q_(query),
        now_ms_(std::max(view.built_ms, sample.steady_ms)),
        now_unix_s_(sample.unix_s != 0 ? sample.unix_s : view.start_unix_s) {
    std::unordered_map<std::string_view, std::size_t> by_name;
    for (const ListenerView& l : v_.listeners) {
      if (!l.retired) {
        by_name.emplace(l.name, l.slot);
      }
    }
    sums_.resize(v_.listeners.size());
    for (const ServerView& sv : v_.servers) {
      const auto it = by_name.find(sv.listener);
      if (it == by_name.end() || it->second >= sums_.size()) {
        continue;
      }
      ListenerSums& t = sums_[it->second];
      t.bytes_in += at(s_.server_bytes_in, sv.slot);
      t.bytes_out += at(s_.server_bytes_out, sv.slot);
      t.errors += at(s_.server_errors, sv.slot);
      t.attempts += at(s_.server_attempts, sv.slot);
      t.connects += at(s_.server_connects, sv.slot);
      t.connect_ms += at(s_.server_connect_ms, sv.slot);
    }
  }

  std::vector<MetricFamily> Collect() const override {
    Families f(q_);
    process(f);
    frontends(f);
    backends(f);
    servers(f);
    dataplane_families(f);
    return f.take();
  }

 private:
  std::uint64_t since_ms(std::uint64_t then_ms) const {
    return now_ms_ - std::min(now_ms_, then_ms);
  }

  void process(Families& f) const {
    put(f.gauge("haproxy_process_nbthread",
                "Number of worker lcores polling the ports (dataplane.workers)."),
        {}, v_.workers);
    put(f.gauge("haproxy_process_uptime_seconds", "How long ago Postern was started, in seconds."),
        {}, static_cast<double>(now_unix_s_ - std::min(now_unix_s_, v_.start_unix_s)));
    if (v_.global_maxconn != 0) {
      put(f.gauge("haproxy_process_max_connections",
                  "The global maxconn: the most connections open at once."),
          {}, v_.global_maxconn);
    }
    put(f.gauge("haproxy_process_current_connections", "Number of client connections open now."),
        {}, static_cast<double>(s_.total.active_flows));
    put(f.counter("haproxy_process_connections_total",
                  "Total number of client connections taken since Postern started."),
        {}, static_cast<double>(s_.total.flows_created));
    if (!s_.per_worker.empty()) {
      double busy = 0;
      for (const auto& w : s_.per_worker) {
        busy += static_cast<double>(w.busy_ppm);
      }
      const double idle = 100.0 - busy / static_cast<double>(s_.per_worker.size()) / 1e4;
      put(f.gauge("haproxy_process_idle_time_percent",
                  "Share of the last second the workers spent in poll-loop turns that found no "
                  "packet, in percent (the average of the workers)."),
          {}, std::round(std::clamp(idle, 0.0, 100.0)));
    }
    std::size_t binds = 0;
    for (const ListenerView& l : v_.listeners) {
      binds += l.retired ? 0 : l.binds.size();
    }
    put(f.gauge("haproxy_process_listeners", "Number of bind lines Postern answers on."), {},
        static_cast<double>(binds));
    if (s_.mbufs.size != 0) {
      put(f.gauge("haproxy_process_pool_allocated_bytes",
                  "Bytes of the packet buffer pool (DPDK mbufs), allocated at start."),
          {}, static_cast<double>(s_.mbufs.size * s_.mbufs.element_bytes));
      put(f.gauge("haproxy_process_pool_used_bytes", "Bytes of the packet buffer pool in use now."),
          {},
          static_cast<double>((s_.mbufs.size - std::min(s_.mbufs.size, s_.mbufs.available)) *
                              s_.mbufs.element_bytes));
    }
    // HAProxy counts the log lines it could not send; here a record a worker's full ring
    // dropped, or a datagram the control thread could not send.
    put(f.counter("haproxy_process_dropped_logs_total",
                  "Total number of session log lines lost: dropped by a worker's full ring or not "
                  "sent by the control thread."),
        {}, static_cast<double>(s_.total.logs_dropped + v_.log_send_failures));
    put(f.gauge("haproxy_process_build_info",
                "Build information: the version label names Postern's version."),
        {{"version", "postern-" POSTERN_VERSION}}, 1);
    put(f.gauge("haproxy_process_start_time_seconds",
                "When Postern was started, in seconds since the Unix epoch."),
        {}, static_cast<double>(v_.start_unix_s));
  }

  void frontends(Families& f) const {
    MetricFamily& current = f.gauge("haproxy_frontend_current_sessions",
                                    "Number of client connections open now on the listener.");
    MetricFamily& limit =
        f.gauge("haproxy_frontend_limit_sessions", "The listener's maxconn, else the global one.");
    MetricFamily& total = f.counter("haproxy_frontend_sessions_total",
                                    "Total number of client connections the listener took.");
    MetricFamily& in =
        f.counter("haproxy_frontend_bytes_in_total",
                  "Total TCP payload bytes from clients to servers, counted as acknowledged.");
    MetricFamily& out =
        f.counter("haproxy_frontend_bytes_out_total",
                  "Total TCP payload bytes from servers to clients, counted as acknowledged.");
    MetricFamily& status =
        f.gauge("haproxy_frontend_status",
                "Current state of the listener, one series per state: 1 for the current one.");
    MetricFamily& conns = f.counter("haproxy_frontend_connections_total",
                                    "Total number of client connections the listener took (as "
                                    "sessions: one per TCP connection).");
    for (const ListenerView& l : v_.listeners) {
      if (l.retired) {
        continue;
      }
      const Labels px = {{"proxy", l.name}};
      put(current, px, at(s_.listener_active, l.slot));
      if (const std::uint32_t mc = l.maxconn != 0 ? l.maxconn : v_.global_maxconn; mc != 0) {
        put(limit, px, mc);
      }
      put(total, px, at(s_.listener_total, l.slot));
      put(in, px, sums_[l.slot].bytes_in);
      put(out, px, sums_[l.slot].bytes_out);
      put(status, {{"proxy", l.name}, {"state", "DOWN"}}, 0);
      put(status, {{"proxy", l.name}, {"state", "UP"}}, 1);
      put(conns, px, at(s_.listener_total, l.slot));
    }
  }

  void backends(Families& f) const {
    MetricFamily& current = f.gauge("haproxy_backend_current_sessions",
                                    "Number of connections open now to the listener's servers.");
    MetricFamily& total =
        f.counter("haproxy_backend_sessions_total",
                  "Total number of connections the listener sent to its servers.");
    MetricFamily& in = f.counter(
        "haproxy_backend_bytes_in_total",
        "Total TCP payload bytes from clients to the listener's servers, counted as acknowledged.");
    MetricFamily& out = f.counter(
        "haproxy_backend_bytes_out_total",
        "Total TCP payload bytes from the listener's servers to clients, counted as acknowledged.");
    MetricFamily& errors =
        f.counter("haproxy_backend_connection_errors_total",
                  "Total number of failed connection attempts to the listener's servers (refused, "
                  "timed out, PROXY header never acknowledged).");
    MetricFamily& status = f.gauge("haproxy_backend_status",
                                   "Current state of the listener's server group, one series per "
                                   "state: UP while a server can take connections.");
    MetricFamily& weight = f.gauge("haproxy_backend_weight",
                                   "Sum of the effective weights of the usable active servers (of "
                                   "the usable backup servers when no active one is usable).");
    MetricFamily& active =
        f.gauge("haproxy_backend_active_servers",
                "Number of usable active servers: UP, ready, with a weight above 0.");
    MetricFamily& backup =
        f.gauge("haproxy_backend_backup_servers",
                "Number of usable backup servers: UP, ready, with a weight above 0.");
    MetricFamily& updown =
        f.counter("haproxy_backend_check_up_down_total",
                  "Total number of UP to DOWN transitions of the listener's server group.");
    MetricFamily& change = f.gauge("haproxy_backend_check_last_change_seconds",
                                   "How long ago the server group last changed state, in seconds.");
    MetricFamily& downtime = f.counter("haproxy_backend_downtime_seconds_total",
                                       "Total time the server group spent DOWN, in seconds.");
    MetricFamily& ctime = f.gauge("haproxy_backend_connect_time_average_seconds",
                                  "Average time from the SYN sent to a server to its SYN-ACK, over "
                                  "every connection since Postern started, in seconds.");
    MetricFamily& attempts = f.counter("haproxy_backend_connection_attempts_total",
                                       "Total number of connection attempts (SYNs sent) to the "
                                       "listener's servers, redispatches included.");
    MetricFamily& uweight =
        f.gauge("haproxy_backend_uweight",
                "Sum of the user weights of the servers counted in haproxy_backend_weight.");
    for (const ListenerView& l : v_.listeners) {
      if (l.retired) {
        continue;
      }
      const Labels px = {{"proxy", l.name}};
      const ListenerSums& t = sums_[l.slot];
      double w_act = 0, w_bck = 0, u_act = 0, u_bck = 0, n_act = 0, n_bck = 0;
      for (const std::uint16_t slot : l.servers) {
        if (slot >= v_.servers.size() || !takes_connections(v_.servers[slot])) {
          continue;
        }
        const ServerView& sv = v_.servers[slot];
        (sv.backup ? w_bck : w_act) += weight_now(sv);
        (sv.backup ? u_bck : u_act) += sv.uweight;
        (sv.backup ? n_bck : n_act) += 1;
      }
      put(current, px, at(s_.listener_active, l.slot));
      put(total, px, at(s_.listener_total, l.slot));
      put(in, px, t.bytes_in);
      put(out, px, t.bytes_out);
      put(errors, px, t.errors);
      put(status, {{"proxy", l.name}, {"state", "DOWN"}}, l.up ? 0 : 1);
      put(status, {{"proxy", l.name}, {"state", "UP"}}, l.up ? 1 : 0);
      put(weight, px, n_act != 0 ? w_act : w_bck);
      put(active, px, n_act);
      put(backup, px, n_bck);
      put(updown, px, static_cast<double>(l.down_transitions));
      put(change, px, whole_seconds(since_ms(l.last_change_ms)));
      put(downtime, px, whole_seconds(l.downtime_ms + (l.up ? 0 : since_ms(l.last_change_ms))));
      put(ctime, px, average_seconds(t.connect_ms, t.connects));
      put(attempts, px, t.attempts);
      put(uweight, px, n_act != 0 ? u_act : u_bck);
    }
  }

  void servers(Families& f) const {
    MetricFamily& current =
        f.gauge("haproxy_server_current_sessions", "Number of connections open now to the server.");
    MetricFamily& total = f.counter("haproxy_server_sessions_total",
                                    "Total number of connections sent to the server.");
    MetricFamily& in =
        f.counter("haproxy_server_bytes_in_total",
                  "Total TCP payload bytes from clients to the server, counted as acknowledged.");
    MetricFamily& out =
        f.counter("haproxy_server_bytes_out_total",
                  "Total TCP payload bytes from the server to clients, counted as acknowledged.");
    MetricFamily& errors = f.counter("haproxy_server_connection_errors_total",
                                     "Total number of failed connection attempts to the server "
                                     "(refused, timed out, PROXY header never acknowledged).");
    MetricFamily& status =
        f.gauge("haproxy_server_status",
                "Current state of the server, one series per state: 1 for the current one.");
    MetricFamily& weight =
        f.gauge("haproxy_server_weight",
                "The server's effective weight: its user weight, scaled down during slowstart.");
    MetricFamily& failures =
        f.counter("haproxy_server_check_failures_total",
                  "Total number of failed health checks while the server was not yet DOWN.");
    MetricFamily& updown =
        f.counter("haproxy_server_check_up_down_total",
                  "Total number of UP to DOWN transitions caused by health checks.");
    MetricFamily& change =
        f.gauge("haproxy_server_check_last_change_seconds",
                "How long ago the server last changed between UP and DOWN, in seconds.");
    MetricFamily& downtime = f.counter("haproxy_server_downtime_seconds_total",
                                       "Total time the server spent DOWN, in seconds.");
    MetricFamily& throttle =
        f.gauge("haproxy_server_current_throttle",
                "Share of its weight a server gets during slowstart, in percent.");
    MetricFamily& check =
        f.gauge("haproxy_server_check_status",
                "Status of the last health check, one series per status: 1 for the current one.");
    MetricFamily& code =
        f.gauge("haproxy_server_check_code",
                "Reply code of the last health check, when it had one (SMTP), else 0.");
    MetricFamily& duration = f.gauge("haproxy_server_check_duration_seconds",
                                     "Duration of the last finished health check, in seconds.");
    MetricFamily& ctime = f.gauge("haproxy_server_connect_time_average_seconds",
                                  "Average time from the SYN sent to the server to its SYN-ACK, "
                                  "over every connection since Postern started, in seconds.");
    MetricFamily& attempts = f.counter(
        "haproxy_server_connection_attempts_total",
        "Total number of connection attempts (SYNs sent) to the server, redispatches included.");
    MetricFamily& uweight =
        f.gauge("haproxy_server_uweight",
                "The server's user weight: configured, or set through the runtime API.");
    for (const ServerView& sv : v_.servers) {
      if (sv.retired || (q_.no_maint && sv.admin == AdminState::kMaint)) {
        continue;
      }
      const Labels ps = {{"proxy", sv.listener}, {"server", sv.server}};
      const health::ServerHealth& h = sv.health;
      put(current, ps, at(s_.server_active, sv.slot));
      put(total, ps, at(s_.server_total, sv.slot));
      put(in, ps, at(s_.server_bytes_in, sv.slot));
      put(out, ps, at(s_.server_bytes_out, sv.slot));
      put(errors, ps, at(s_.server_errors, sv.slot));
      const std::string_view state = server_state(sv);
      for (const std::string_view st : kServerStates) {
        put(status, {{"proxy", sv.listener}, {"server", sv.server}, {"state", std::string(st)}},
            st == state ? 1 : 0);
      }
      put(weight, ps, weight_now(sv));
      if (h.checked) {
        put(failures, ps, static_cast<double>(h.check_failures));
        put(updown, ps, static_cast<double>(h.down_transitions));
      }
      put(change, ps, whole_seconds(since_ms(h.last_change_ms)));
      if (h.checked) {
        put(downtime, ps, whole_seconds(health::downtime_ms(h, now_ms_)));
      }
      if (h.starting) {
        put(throttle, ps, h.weight_pct);
      }
      if (h.checked) {
        const std::string_view now = health::status_name(h.status);
        for (const std::string_view st : kCheckStates) {
          put(check, {{"proxy", sv.listener}, {"server", sv.server}, {"state", std::string(st)}},
              st == now ? 1 : 0);
        }
        put(code, ps, health::status_has_code(h.status) ? h.code : 0);
        if (h.duration_ms >= 0) {
          put(duration, ps, static_cast<double>(h.duration_ms) / 1000.0);
        }
      }
      put(ctime, ps,
          average_seconds(at(s_.server_connect_ms, sv.slot), at(s_.server_connects, sv.slot)));
      put(attempts, ps, at(s_.server_attempts, sv.slot));
      put(uweight, ps, sv.uweight);
    }
  }

  // Postern's own: what HAProxy has no name for.
  void dataplane_families(Families& f) const {
    put(f.gauge("postern_build_info", "Postern's version."), {{"version", POSTERN_VERSION}}, 1);
    put(f.gauge(
            "postern_config_generation",
            "Generation of the running configuration: 1 at start, one more per accepted reload."),
        {}, v_.generation);
    put(f.gauge("postern_config_info",
                "Hash of the running configuration's canonical form: the same on nodes running the "
                "same model."),
        {{"hash", v_.config_hash}}, 1);
    MetricFamily& reloads =
        f.counter("postern_reloads_total",
                  "Configuration reloads asked for (SIGHUP, SIGUSR2, the runtime API), by result.");
    put(reloads, {{"result", "ok"}}, static_cast<double>(v_.reloads_ok));
    put(reloads, {{"result", "failed"}}, static_cast<double>(v_.reloads_failed));
    put(f.gauge("postern_health_checks_in_flight", "Health checks running now."), {},
        static_cast<double>(v_.checks_in_flight));
    put(f.counter("postern_log_lines_total", "Session log lines the control thread formatted."), {},
        static_cast<double>(v_.log_lines));
    put(f.counter("postern_log_send_failures_total",
                  "Log datagrams the control thread could not send (the target's queue full)."),
        {}, static_cast<double>(v_.log_send_failures));

    MetricFamily& busy_ratio = f.gauge("postern_worker_busy_ratio",
                                       "Share of the last whole second the worker spent in "
                                       "poll-loop turns that found packets (0 to 1).");
    MetricFamily& busy_seconds = f.counter("postern_worker_busy_seconds_total",
                                           "Time the worker spent in poll-loop turns that found "
                                           "packets, in seconds: its rate is the busy ratio.");
    MetricFamily& loops =
        f.counter("postern_worker_poll_loops_total",
                  "Poll-loop turns, by whether they found packets (busy) or not (idle).");
    MetricFamily& table_cap = f.gauge("postern_flow_table_capacity",
                                      "Entries of the worker's flow table (dataplane.flows).");
    MetricFamily& ring_used =
        f.gauge("postern_handoff_ring_used", "Frames waiting in the worker's hand-off ring.");
    MetricFamily& ring_cap =
        f.gauge("postern_handoff_ring_capacity", "Frames the worker's hand-off ring holds.");
    MetricFamily& probes =
        f.gauge("postern_health_probe_slots_used", "Health-check connections the worker runs now.");
    MetricFamily& probes_cap = f.gauge("postern_health_probe_slots_capacity",
                                       "Health-check connections a worker can run at once.");
    std::vector<MetricFamily*> rows;
    for (const WorkerCounterRow& r : kWorkerRows) {
      rows.push_back(r.type == kCounter ? &f.counter(r.name, r.help) : &f.gauge(r.name, r.help));
    }
    MetricFamily& drops =
        f.counter("postern_drops_total", "Packets dropped, by worker and reason.");
    for (std::size_t w = 0; w < s_.per_worker.size(); ++w) {
      const dataplane::WorkerCounters& c = s_.per_worker[w];
      const std::string id = std::to_string(w);
      const Labels wl = {{"worker", id}};
      put(busy_ratio, wl, static_cast<double>(c.busy_ppm) / 1e6);
      if (s_.tsc_hz != 0) {
        put(busy_seconds, wl, static_cast<double>(c.busy_cycles) / static_cast<double>(s_.tsc_hz));
      }
      put(loops, {{"worker", id}, {"result", "busy"}}, static_cast<double>(c.loops_busy));
      put(loops, {{"worker", id}, {"result", "idle"}}, static_cast<double>(c.loops_idle));
      if (s_.flow_capacity != 0) {
        put(table_cap, wl, static_cast<double>(s_.flow_capacity));
      }
      if (w < s_.handoff_queued.size()) {
        put(ring_used, wl, static_cast<double>(s_.handoff_queued[w]));
        put(ring_cap, wl, at(s_.handoff_capacity, w));
      }
      if (w < v_.probe_slots_in_use.size()) {
        put(probes, wl, static_cast<double>(v_.probe_slots_in_use[w]));
        put(probes_cap, wl, dataplane::kProbeSlots);
      }
      for (std::size_t i = 0; i < std::size(kWorkerRows); ++i) {
        put(*rows[i], wl, static_cast<double>(c.*kWorkerRows[i].field));
      }
      for (std::size_t r = 0; r < c.drops.size(); ++r) {
        put(drops, {{"worker", id}, {"reason", dataplane::kDropReasonNames[r]}},
            static_cast<double>(c.drops[r]));
      }
    }
    if (s_.mbufs.size != 0) {
      put(f.gauge("postern_mbuf_pool_size", "Packet buffers (DPDK mbufs) in the pool."), {},
          static_cast<double>(s_.mbufs.size));
      put(f.gauge("postern_mbuf_pool_available",
                  "Packet buffers free in the pool, per-lcore caches included."),
          {}, static_cast<double>(s_.mbufs.available));
    }
    MetricFamily& rx_p = f.counter("postern_interface_rx_packets_total",
                                   "Frames the interface received (the device's count).");
    MetricFamily& tx_p = f.counter("postern_interface_tx_packets_total",
                                   "Frames the interface sent (the device's count).");
    MetricFamily& rx_b = f.counter("postern_interface_rx_bytes_total",
                                   "Bytes the interface received (the device's count).");
    MetricFamily& tx_b = f.counter("postern_interface_tx_bytes_total",
                                   "Bytes the interface sent (the device's count).");
    MetricFamily& missed =
        f.counter("postern_interface_rx_missed_total",
                  "Frames the device dropped because the receive queues were full.");
    MetricFamily& rx_err =
        f.counter("postern_interface_rx_errors_total", "Erroneous frames the device received.");
    MetricFamily& tx_err =
        f.counter("postern_interface_tx_errors_total", "Frames the device failed to send.");
    MetricFamily& nombuf =
        f.counter("postern_interface_rx_nombuf_total", "Receive buffer allocation failures.");
    for (std::size_t i = 0; i < s_.interfaces.size() && i < s_.interface_names.size(); ++i) {
      const Labels il = {{"interface", s_.interface_names[i]}};
      const dataplane::InterfaceStats& st = s_.interfaces[i];
      put(rx_p, il, static_cast<double>(st.rx_packets));
      put(tx_p, il, static_cast<double>(st.tx_packets));
      put(rx_b, il, static_cast<double>(st.rx_bytes));
      put(tx_b, il, static_cast<double>(st.tx_bytes));
      put(missed, il, static_cast<double>(st.rx_missed));
      put(rx_err, il, static_cast<double>(st.rx_errors));
      put(tx_err, il, static_cast<double>(st.tx_errors));
      put(nombuf, il, static_cast<double>(st.rx_nombuf));
    }
    MetricFamily& ct_sum =
        f.counter("postern_server_connect_time_seconds_total",
                  "Sum of the times from the SYN sent to the server to its SYN-ACK, in seconds "
                  "(with postern_server_connects_total: averages over any window).");
    MetricFamily& ct_count = f.counter("postern_server_connects_total",
                                       "Connections the server answered with a SYN-ACK.");
    for (const ServerView& sv : v_.servers) {
      if (sv.retired || (q_.no_maint && sv.admin == AdminState::kMaint)) {
        continue;
      }
      const Labels ps = {{"proxy", sv.listener}, {"server", sv.server}};
      put(ct_sum, ps, at(s_.server_connect_ms, sv.slot) / 1000.0);
      put(ct_count, ps, at(s_.server_connects, sv.slot));
    }
  }

  const AdminView& v_;
  const Sample& s_;
  const MetricsQuery& q_;
  std::uint64_t now_ms_;
  std::uint64_t now_unix_s_;
  std::vector<ListenerSums> sums_;  // by listener slot
};

// Every X-macro field is either a row of kWorkerRows or one of the three handled on their own
// (the loop accounting); a new counter must be given a metric.
constexpr std::size_t kWorkerCounterFields = 0
#define POSTERN_X(name) +1
    POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
    ;
static_assert(std::size(kWorkerRows) + 3 == kWorkerCounterFields,
              "every worker counter needs a metric (kWorkerRows)");

}  // namespace

namespace {

// url_decode() as promex calls it on a query string: %XX and '+' for a space; false on a
// broken escape.
bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] != '%') {
      out += in[i];
    } else {
      const auto hex = [](char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
      };
      if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) {
        return false;
      }
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    }
  }
  return true;
}

// promex's 400 page (HAProxy's http_err_chunks[HTTP_ERR_400] body).
Page bad_request() {
  return {"text/html",
          "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n"
          "</body></html>\n",
          400};
}

}  // namespace

bool parse_metrics_query(std::string_view query, MetricsQuery& q) {
  query = query.substr(0, query.find('#'));
  bool scoped = false;
  unsigned scopes = 0;
  std::string key;
  std::string value;
  while (!query.empty()) {
    const std::string_view param = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), param.size() + 1));
    const std::size_t eq = param.find('=');
    if (!url_decode(param.substr(0, eq), key)) {
      return false;
    }
    const bool has_value = eq != std::string_view::npos;
    const std::string_view raw = has_value ? param.substr(eq + 1) : std::string_view();
    if (raw.find('=') != std::string_view::npos || !url_decode(raw, value)) {
      return false;
    }
    if (key == "scope") {
      scoped = true;
      if (!has_value) {
        return false;
      }
      if (value.empty()) {
        scopes = 0;
      } else if (value == "*") {
        scopes |= MetricsQuery::kAll;
      } else if (value == "global") {
        scopes |= MetricsQuery::kGlobal;
      } else if (value == "frontend") {
        scopes |= MetricsQuery::kFrontend;
      } else if (value == "backend") {
        scopes |= MetricsQuery::kBackend;
      } else if (value == "server") {
        scopes |= MetricsQuery::kServer;
      } else if (value != "listener") {  // valid; Postern has no per-bind figures
        return false;
      }
    } else if (key == "metrics") {
      if (!has_value) {
        return false;
      }
      std::string_view list = value;
      while (!list.empty()) {
        std::string_view name = list.substr(0, list.find(','));
        list.remove_prefix(std::min(list.size(), name.size() + 1));
        const bool exclude = !name.empty() && name.front() == '-';
        name.remove_prefix(exclude ? 1 : 0);
        if (name.empty()) {
          continue;
        }
        q.only_named = q.only_named || !exclude;
        q.names[std::string(name)] = exclude;
      }
    } else if (key == "no-maint") {
      q.no_maint = true;
    }
  }
  if (scoped) {
    q.scopes = scopes;
  }
  return true;
}

Page metrics_page(const AdminView& view, const Sample& sample, const MetricsQuery& query) {
  const MetricsCollector collector(view, sample, query);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collector.Collect());
  return {"text/plain; version=0.0.4", out.str(), 200};
}

Page metrics_page_for(std::string_view query, const AdminView& view, const Sample& sample) {
  MetricsQuery q;
  if (!parse_metrics_query(query, q)) {
    return bad_request();
  }
  return metrics_page(view, sample, q);
}

}  // namespace postern::control::admin
