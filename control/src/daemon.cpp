// Daemon life cycle on the main lcore: start, reload, counters, stop.
#include "postern/control/daemon.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "postern/config/load.hpp"
#include "postern/control/admin_etcd.hpp"
#include "postern/control/admin_http.hpp"
#include "postern/control/admin_pages.hpp"
#include "postern/control/admin_state.hpp"
#include "postern/control/admin_view.hpp"
#include "postern/control/cli.hpp"
#include "postern/control/dataplane_config.hpp"
#include "postern/control/health_engine.hpp"
#include "postern/control/runtime_api.hpp"
#include "postern/control/session_log.hpp"
#include "postern/dataplane/runtime.hpp"

namespace postern::control {
namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_signal(int sig) {
  if (sig == SIGHUP || sig == SIGUSR2) {
    g_reload = 1;
  } else {
    g_stop = 1;
  }
}

void log_line(const std::string& msg) {
  std::cerr << "postern: " << msg << std::endl;
}

// The workers' probe rings, as the health engine sees them.
class RuntimeTransport final : public health::ProbeTransport {
 public:
  explicit RuntimeTransport(dataplane::Runtime& rt) : rt_(rt) {}
  std::uint32_t workers() const override { return static_cast<std::uint32_t>(rt_.worker_count()); }
  bool send(std::uint32_t worker, const dataplane::ProbeCommand& c) override {
    return rt_.send_probe_command(worker, c);
  }
  std::size_t poll(std::uint32_t worker, dataplane::ProbeEvent* out, std::size_t max) override {
    return rt_.poll_probe_events(worker, out, max);
  }

 private:
  dataplane::Runtime& rt_;
};

// Health transitions on stderr as HAProxy writes them there: "[ALERT]    (pid) : Server ...".
void log_health(health::LogLevel level, const std::string& msg) {
  const char* tag = "[NOTICE]  ";
  switch (level) {
    case health::LogLevel::kEmerg:
    case health::LogLevel::kAlert:
      tag = "[ALERT]   ";
      break;
    case health::LogLevel::kWarning:
      tag = "[WARNING] ";
      break;
    case health::LogLevel::kNotice:
      break;
  }
  std::cerr << tag << " (" << getpid() << ") : " << msg << std::endl;
}

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Flows still counting on a slot, for build_snapshot's reuse of drained retired slots.
bool slot_busy(const dataplane::Runtime& rt, bool listener, std::uint16_t i) {
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    const auto& s = rt.slots(w);
    if ((listener ? s.listener_active[i] : s.server_active[i]).get() != 0) {
      return true;
    }
  }
  return false;
}

// Counts a listener or server slot had before it was given to another name: they start
// again from zero for the new owner (admin::take_bases).
struct TotalBases {
  admin::Sample bases;

  void reused(const dataplane::Runtime& rt, const dataplane::Snapshot& before,
              const dataplane::Snapshot& after) {
    admin::take_bases(bases, admin::sample(rt, before.listeners.size(), before.servers.size()),
                      before, after);
  }
  std::uint64_t server_total(std::uint16_t s) const {
    return s < bases.server_total.size() ? bases.server_total[s] : 0;
  }
};

// Which configuration runs: a hash of its canonical form (the YAML dump), so nodes running the
// same model show the same hash whatever files and syntax it came from.
std::string config_hash(const config::Config& cfg) {
  const std::size_t h = std::hash<std::string>{}(config::to_yaml(cfg));
  char text[17];
  std::snprintf(text, sizeof text, "%016zx", h);
  return text;
}

// The running daemon: the runtime, the health engine, the admin view and what the operator
// may change (admin::Operator), all on the main thread's loop.
class Daemon final : public admin::Operator {
 public:
  Daemon(config::Config cfg, std::vector<std::string> paths, dataplane::Runtime& rt)
      : cfg_(std::move(cfg)),
        paths_(std::move(paths)),
        rt_(rt),
        transport_(rt),
        engine_(transport_, rt.live(), hooks()),
        start_unix_s_(static_cast<std::uint64_t>(std::time(nullptr))) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) {
      hostname_ = host;
    }
    // Computed once, so a time the view shows as Unix seconds never jitters between views.
    unix_offset_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() -
                      static_cast<std::int64_t>(steady_ms());
    log_.configure(cfg_, *rt_.snapshot(), hostname_);
    engine_.configure(cfg_, *rt_.snapshot(), rt_.settings(), steady_ms(), operator_settings());
    config_hash_ = config_hash(cfg_);
    configure_admin();
  }

  // Runs until a stop signal: the health engine every millisecond, reloads on signals, the
  // view and the state file as they change.
  void loop() {
    auto last_view = std::chrono::steady_clock::now();
    while (g_stop == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      engine_.tick(steady_ms());
      log_.drain(rt_);
      if (each_tick) {
        each_tick();
      }
      if (g_reload != 0) {
        g_reload = 0;
        std::string result;
        reload(result);
      }
      const auto now = std::chrono::steady_clock::now();
      // A server going UP or DOWN is shown (state file, etcd) at once; the rest at the next
      // quarter second.
      if (health_logged_ || now - last_view >= std::chrono::milliseconds(250)) {
        health_logged_ = false;
        publish_view();
        last_view = now;
      }
    }
  }

  ~Daemon() { join_retiring(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // After the workers stopped: the last state to the file and to stderr; the etcd lease
  // revoked, so this node's keys vanish at once.
  void stopped() {
    join_retiring();
    log_.drain(rt_);
    publish_view();
    if (etcd_) {
      etcd_->stop();
    }
    state_file_.stop_and_write();
    std::cerr << admin::state_document(*view(), sample());
  }

  const config::Config& config() const { return cfg_; }

  // Hooks for the runtime API: every turn of the loop, and after a reload took effect.
  std::function<void()> each_tick;
  std::function<void(const config::Config&)> reloaded;

  // admin::Operator
  std::shared_ptr<const admin::AdminView> view() const override { return board_.current(); }
  const admin::ViewBoard& board() const { return board_; }

  admin::Sample sample() const override {
    const dataplane::Snapshot* snap = rt_.snapshot();
    admin::Sample s = admin::sample(rt_, snap->listeners.size(), snap->servers.size());
    admin::subtract_bases(s, bases_.bases);
    return s;
  }

  bool set_admin(std::uint16_t slot, admin::AdminState state, std::string& error) override {
    if (slot >= rt_.snapshot()->servers.size()) {
      error = "No such server.";
      return false;
    }
    if (rt_.snapshot()->servers[slot].disabled && state != admin::AdminState::kMaint) {
      error = "The server is `disabled` in the configuration: change the file and reload.";
      return false;
    }
    overrides_.admin[slot] = state;
    rt_.live()[slot].admin.store(static_cast<std::uint8_t>(state), std::memory_order_relaxed);
    engine_.set_admin(slot, state);
    publish_view();
    return true;
  }

  bool set_weight(std::uint16_t slot, std::uint32_t weight, std::string& error) override {
    if (slot >= rt_.snapshot()->servers.size()) {
      error = "No such server.";
      return false;
    }
    if (weight > 256) {
      error = "Invalid weight.";
      return false;
    }
    overrides_.weight[slot] = static_cast<std::int32_t>(weight);
    rt_.live()[slot].user_weight.store(static_cast<std::int16_t>(weight),
                                       std::memory_order_relaxed);
    engine_.set_weight(slot, weight);
    publish_view();
    return true;
  }

  // Loads the -f files again; the running configuration keeps serving unless the new one
  // parses, validates, compiles and leaves the dataplane section alone.
  bool reload(std::string& result) override {
    config::Diagnostics rd;
    config::Config next = config::load_files(expand_config_paths(paths_), rd);
    std::unique_ptr<dataplane::Snapshot> next_snap;
    if (!rd.has_errors()) {
      next_snap = build_snapshot(
          next, rt_.settings(), generation_ + 1, rd, rt_.snapshot(),
          [this](bool listener, std::uint16_t i) { return slot_busy(rt_, listener, i); });
    }
    std::ostringstream diag;
    for (const auto& d : rd.items()) {
      std::cerr << config::format(d) << "\n";
      diag << config::format(d) << "\n";
    }
    if (rd.has_errors() || !next_snap) {
      result = diag.str() + "reload refused: the running configuration keeps serving";
      log_line(result.substr(diag.str().size()));
      log_event(health::LogLevel::kWarning,
                "Reload refused: the running configuration keeps serving.");
      ++reloads_failed_;
      return false;
    }
    if (next.dataplane != cfg_.dataplane) {
      result = "reload refused: the dataplane section changed; it needs a restart";
      log_line(result);
      log_event(health::LogLevel::kWarning,
                "Reload refused: the dataplane section changed; it needs a restart.");
      ++reloads_failed_;
      return false;
    }
    ++generation_;
    bases_.reused(rt_, *rt_.snapshot(), *next_snap);
    log_.drain(rt_);  // sessions that ended so far, named as the old configuration named them
    forget_reused(*rt_.snapshot(), *next_snap);
    rt_.publish(std::move(next_snap));
    engine_.configure(next, *rt_.snapshot(), rt_.settings(), steady_ms(), operator_settings());
    cfg_ = std::move(next);
    config_hash_ = config_hash(cfg_);
    ++reloads_ok_;
    if (reloaded) {
      reloaded(cfg_);
    }
    result = diag.str() + "reloaded: generation " + std::to_string(generation_);
    log_line("reloaded: generation " + std::to_string(generation_));
    log_.configure(cfg_, *rt_.snapshot(), hostname_);
    log_event(health::LogLevel::kNotice, "Reloaded: generation " + std::to_string(generation_) +
                                             ", configuration " + config_hash_ +
                                             ". Loading success.");
    configure_admin();
    return true;
  }

 private:
  // What the operator set, as the health engine takes it at configure().
  std::vector<health::OperatorSetting> operator_settings() const {
    std::vector<health::OperatorSetting> ops(rt_.snapshot()->servers.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      ops[i].admin = overrides_.admin[i];
      ops[i].weight = overrides_.weight[i];
    }
    return ops;
  }

  // A slot given to another server by a reload starts as configured.
  void forget_reused(const dataplane::Snapshot& before, const dataplane::Snapshot& after) {
    for (std::size_t i = 0; i < after.servers.size(); ++i) {
      if (i >= before.servers.size() || before.servers[i].name != after.servers[i].name) {
        overrides_.admin[i] = admin::AdminState::kReady;
        overrides_.weight[i] = -1;
        rt_.live()[i].admin.store(0, std::memory_order_relaxed);
        rt_.live()[i].user_weight.store(-1, std::memory_order_relaxed);
      }
    }
  }

  health::EngineHooks hooks() {
    health::EngineHooks h;
    h.log = [this](health::LogLevel level, const std::string& msg) {
      log_health(level, msg);
      log_event(level, msg);
      health_logged_ = true;
    };
    h.connect_errors = [this](std::uint16_t s) { return rt_.connect_errors(s); };
    h.sessions = [this](std::uint16_t s) {
      std::uint64_t n = 0;
      for (std::size_t w = 0; w < rt_.worker_count(); ++w) {
        n += rt_.slots(w).server_active[s].get();
      }
      return static_cast<std::uint32_t>(n);
    };
    return h;
  }

  // A control-thread event to the `log` targets, at its syslog level.
  void log_event(health::LogLevel level, const std::string& msg) {
    log_.event(static_cast<std::uint8_t>(level), msg, logging::unix_now_us());
  }

  void publish_view() {
    admin::ViewMeta meta;
    meta.now_ms = steady_ms();
    meta.unix_offset_ms = unix_offset_ms_;
    meta.start_unix_s = start_unix_s_;
    meta.config_hash = config_hash_;
    meta.node = node_;
    meta.workers = static_cast<std::uint32_t>(rt_.worker_count());
    meta.reloads_ok = reloads_ok_;
    meta.reloads_failed = reloads_failed_;
    meta.log_lines = log_.lines();
    meta.log_send_failures = log_.send_failures();
    meta.checks_in_flight = engine_.checks_in_flight();
    for (std::uint32_t w = 0; w < rt_.worker_count(); ++w) {
      meta.probe_slots_in_use.push_back(engine_.slots_in_use(w));
    }
    meta.previous = board_.current();
    board_.publish(admin::build_view(*rt_.snapshot(), engine_, overrides_, meta));
    state_file_.view_changed();
    if (etcd_) {
      etcd_->view_changed();
    }
  }

  void join_retiring() {
    for (std::thread& t : retiring_) {
      if (t.joinable()) {
        t.join();
      }
    }
    retiring_.clear();
  }

  // The admin section's writers, at start and after every reload (a reload takes the admin
  // section of the new files): the state file's path, and the etcd publisher, started again
  // (its lease revoked, its keys gone) when its settings changed.
  void configure_admin() {
    const config::Etcd* etcd = cfg_.admin && cfg_.admin->etcd ? &*cfg_.admin->etcd : nullptr;
    node_ = etcd != nullptr && !etcd->node.empty() ? etcd->node : hostname_;
    std::optional<admin::EtcdOptions> want;
    if (etcd != nullptr) {
      want.emplace();
      want->endpoints = etcd->endpoints;
      want->prefix = etcd->prefix;
      want->node = node_;
      want->ttl = std::chrono::milliseconds(etcd->ttl);
      want->refresh = std::chrono::milliseconds(etcd->refresh);
    }
    if (etcd_ && (!want || etcd_->options() != *want)) {
      // Stopping it may wait on an etcd that does not answer (a request in flight, the
      // revoke): a thread of its own does that, never the main loop.
      retiring_.emplace_back([old = std::move(etcd_)]() mutable { old.reset(); });
    }
    publish_view();
    state_file_.set_path(cfg_.admin ? cfg_.admin->state_file : std::string());
    if (want && !etcd_) {
      etcd_ = std::make_unique<admin::EtcdPublisher>(*this, *want, &log_line);
    }
  }

  config::Config cfg_;
  std::vector<std::string> paths_;
  dataplane::Runtime& rt_;
  RuntimeTransport transport_;
  logging::SessionLog log_;
  health::Engine engine_;
  admin::ViewBoard board_;
  admin::Overrides overrides_;
  TotalBases bases_;
  std::uint32_t generation_ = 1;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::uint64_t start_unix_s_ = 0;
  std::string hostname_;
  std::string node_;  // admin.etcd.node, else the host name
  std::string config_hash_;
  std::int64_t unix_offset_ms_ = 0;
  bool health_logged_ = false;  // a transition since the last view
  // Last: their threads read this daemon's view and sample until they are destroyed.
  admin::StateFileWriter state_file_{*this, &log_line};
  std::unique_ptr<admin::EtcdPublisher> etcd_;
  std::vector<std::thread> retiring_;  // publishers a reload replaced, being stopped
};

}  // namespace

int run_daemon(const config::Config& cfg, const std::vector<std::string>& paths,
               const std::vector<std::string>& extra_eal) {
  config::Diagnostics diags;
  dataplane::Settings settings = build_settings(cfg, extra_eal, diags);
  for (const auto& d : diags.items()) {
    std::cerr << config::format(d) << "\n";
  }
  if (diags.has_errors()) {
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR2}) {
    sigaction(sig, &sa, nullptr);
  }
  try {
    dataplane::Runtime rt(std::move(settings));
    auto snap = build_snapshot(cfg, rt.settings(), 1, diags);
    for (const auto& d : diags.items()) {
      std::cerr << config::format(d) << "\n";
    }
    if (diags.has_errors()) {
      return 1;
    }
    rt.publish(std::move(snap));
    rt.start();
    Daemon daemon(cfg, paths, rt);
    log_line("dataplane running: " + std::to_string(rt.settings().workers) + " worker(s), " +
             std::to_string(cfg.listeners.size()) + " listener(s)");
    // The admin endpoint on its own threads, reading the daemon's view.
    admin::HttpServer http;
    if (cfg.admin && cfg.admin->http) {
      admin::register_pages(http, daemon);
      std::string error;
      if (!http.start(*cfg.admin->http, error)) {
        log_line(error);
        return 1;
      }
    }
    // The runtime API on its UNIX sockets, on a thread of its own.
    api::SocketServer cli(daemon);
    {
      std::string error;
      if (!cli.start(cfg, error)) {
        log_line(error);
        return 1;
      }
    }
    daemon.each_tick = [&cli] { cli.run_pending(); };
    daemon.reloaded = [&cli](const config::Config& c) { cli.set_names(api::names_of(c)); };
    for (const auto& line : api::load_server_state(cfg, daemon)) {
      log_line(line);
    }
    daemon.loop();
    log_line("stopping");
    cli.stop();
    http.stop();
    rt.stop();
    daemon.stopped();
  } catch (const std::exception& e) {
    log_line(std::string("fatal: ") + e.what());
    return 1;
  }
  return 0;
}

}  // namespace postern::control
