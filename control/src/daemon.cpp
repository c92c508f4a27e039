// Daemon life cycle on the main lcore: start, reload, counters, stop.
#include "postern/control/daemon.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "postern/config/load.hpp"
#include "postern/control/cli.hpp"
#include "postern/control/dataplane_config.hpp"
#include "postern/control/health_engine.hpp"
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

std::uint64_t server_total(const dataplane::Runtime& rt, std::uint16_t s) {
  std::uint64_t total = 0;
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    total += rt.slots(w).server_total[s].get();
  }
  return total;
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

// Connections a server slot had before it was given to another name: its total starts
// again from zero for the new server.
struct TotalBases {
  std::vector<std::uint64_t> base = std::vector<std::uint64_t>(dataplane::kMaxServers, 0);

  void reused(const dataplane::Runtime& rt, const dataplane::Snapshot& before,
              const dataplane::Snapshot& after) {
    for (std::size_t i = 0; i < before.servers.size() && i < after.servers.size(); ++i) {
      if (before.servers[i].name != after.servers[i].name) {
        base[i] = server_total(rt, static_cast<std::uint16_t>(i));
      }
    }
  }
};

// Counters summed over workers, as JSON (written to admin.state_file and printed at exit).
std::string counters_json(const dataplane::Runtime& rt, const TotalBases& bases,
                          const health::Engine& engine) {
  dataplane::WorkerCounters sum;
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    sum += rt.counters(w);
  }
  std::ostringstream o;
  o << "{\n  \"counters\": {";
  const std::pair<const char*, std::uint64_t> rows[] = {
#define POSTERN_X(name) {#name, sum.name},
      POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
  };
  const char* sep = "\n";
  for (const auto& [k, v] : rows) {
    o << sep << "    \"" << k << "\": " << v;
    sep = ",\n";
  }
  o << "\n  },\n  \"drops\": {";
  sep = "\n";
  for (std::size_t i = 0; i < sum.drops.size(); ++i) {
    o << sep << "    \"" << dataplane::kDropReasonNames[i] << "\": " << sum.drops[i];
    sep = ",\n";
  }
  o << "\n  },\n  \"servers\": [";
  sep = "\n";
  if (const auto* snap = rt.snapshot()) {
    for (std::uint16_t s = 0; s < snap->servers.size(); ++s) {
      std::uint64_t active = 0;
      for (std::size_t w = 0; w < rt.worker_count(); ++w) {
        active += rt.slots(w).server_active[s].get();
      }
      const std::uint64_t total = server_total(rt, s) - bases.base[s];
      o << sep << "    {\"name\": \"" << snap->servers[s].name << "\", \"active\": " << active
        << ", \"total\": " << total << (snap->servers[s].retired ? ", \"retired\": true" : "");
      if (const health::ServerHealth* h = engine.health(s)) {
        o << ", \"status\": \"" << health::status_text(*h) << "\"";
        if (h->checked) {
          o << ", \"check_status\": \"" << health::status_name(h->status)
            << "\", \"check_duration_ms\": " << h->duration_ms
            << ", \"check_failures\": " << h->check_failures
            << ", \"down_transitions\": " << h->down_transitions;
        }
      }
      o << "}";
      sep = ",\n";
    }
  }
  o << "\n  ]\n}\n";
  return o.str();
}

void write_state(const config::Config& cfg, const dataplane::Runtime& rt, const TotalBases& bases,
                 const health::Engine& engine) {
  if (!cfg.admin || cfg.admin->state_file.empty()) {
    return;
  }
  const std::string tmp = cfg.admin->state_file + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) {
      return;
    }
    f << counters_json(rt, bases, engine);
  }
  std::rename(tmp.c_str(), cfg.admin->state_file.c_str());
}

}  // namespace

int run_daemon(const config::Config& cfg_in, const std::vector<std::string>& paths,
               const std::vector<std::string>& extra_eal) {
  config::Config cfg = cfg_in;
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
    std::uint32_t generation = 1;
    auto snap = build_snapshot(cfg, rt.settings(), generation, diags);
    for (const auto& d : diags.items()) {
      std::cerr << config::format(d) << "\n";
    }
    if (diags.has_errors()) {
      return 1;
    }
    rt.publish(std::move(snap));
    rt.start();
    TotalBases bases;
    // Health checks: the engine runs on this thread, ticked every millisecond between the
    // signal and state-file work; the workers send and receive the checks' packets.
    RuntimeTransport transport(rt);
    health::EngineHooks hooks;
    hooks.log = &log_health;
    hooks.connect_errors = [&rt](std::uint16_t s) { return rt.connect_errors(s); };
    hooks.sessions = [&rt](std::uint16_t s) {
      std::uint64_t n = 0;
      for (std::size_t w = 0; w < rt.worker_count(); ++w) {
        n += rt.slots(w).server_active[s].get();
      }
      return static_cast<std::uint32_t>(n);
    };
    health::Engine engine(transport, rt.live(), hooks);
    engine.configure(cfg, *rt.snapshot(), rt.settings(), steady_ms());
    log_line("dataplane running: " + std::to_string(rt.settings().workers) + " worker(s), " +
             std::to_string(cfg.listeners.size()) + " listener(s)");
    auto last_state = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    while (g_stop == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      engine.tick(steady_ms());
      if (g_reload != 0) {
        g_reload = 0;
        config::Diagnostics rd;
        config::Config next = config::load_files(expand_config_paths(paths), rd);
        std::unique_ptr<dataplane::Snapshot> next_snap;
        if (!rd.has_errors()) {
          next_snap = build_snapshot(
              next, rt.settings(), generation + 1, rd, rt.snapshot(),
              [&rt](bool listener, std::uint16_t i) { return slot_busy(rt, listener, i); });
        }
        for (const auto& d : rd.items()) {
          std::cerr << config::format(d) << "\n";
        }
        if (rd.has_errors() || !next_snap) {
          log_line("reload refused: the running configuration keeps serving");
        } else if (next.dataplane != cfg.dataplane) {
          log_line("reload refused: the dataplane section changed; it needs a restart");
        } else {
          ++generation;
          bases.reused(rt, *rt.snapshot(), *next_snap);
          rt.publish(std::move(next_snap));
          engine.configure(next, *rt.snapshot(), rt.settings(), steady_ms());
          cfg = std::move(next);
          log_line("reloaded: generation " + std::to_string(generation));
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_state >= std::chrono::seconds(1)) {
        write_state(cfg, rt, bases, engine);
        last_state = now;
      }
    }
    log_line("stopping");
    rt.stop();
    write_state(cfg, rt, bases, engine);
    std::cerr << counters_json(rt, bases, engine);
  } catch (const std::exception& e) {
    log_line(std::string("fatal: ") + e.what());
    return 1;
  }
  return 0;
}

}  // namespace postern::control
