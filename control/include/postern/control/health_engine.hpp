// The health engine: runs every server's checks on the control thread through the workers'
// probe rings (dataplane/include/postern/dataplane/probe.hpp), keeps HAProxy's rise/fall
// state per server, and owns what follows from it: ServerLive (up, slowstart weight) for the
// workers, the "Server ... is DOWN/UP" log lines, on-marked-down/up session shutdowns and
// `observe layer4`. Time comes in through tick(now_ms) and configure(..., now_ms); the
// dataplane through a ProbeTransport, so tests run it with a fake clock and fake servers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "postern/config/model.hpp"
#include "postern/control/health_conversation.hpp"
#include "postern/control/health_status.hpp"
#include "postern/dataplane/probe.hpp"
#include "postern/dataplane/settings.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::control::health {

// The workers' probe rings as the engine sees them.
class ProbeTransport {
 public:
  virtual ~ProbeTransport() = default;
  virtual std::uint32_t workers() const = 0;
  // false: the ring is full, the engine tries again on a later tick (commands stay in order).
  virtual bool send(std::uint32_t worker, const dataplane::ProbeCommand& command) = 0;
  virtual std::size_t poll(std::uint32_t worker, dataplane::ProbeEvent* out, std::size_t max) = 0;
};

// Syslog severities of the lines the engine logs (HAProxy logs DOWN at alert, UP at notice,
// "has no server available!" at emerg).
enum class LogLevel : std::uint8_t { kEmerg = 0, kAlert = 1, kWarning = 4, kNotice = 5 };

struct EngineHooks {
  std::function<void(LogLevel, const std::string&)> log;
  // `observe layer4`: the consecutive connection errors the dataplane saw on a server
  // (connect timeouts, RST in SYN-SENT, header never acknowledged), back to 0 after a
  // successful connection. Null: observe is not available.
  std::function<std::uint64_t(std::uint16_t server)> connect_errors;
  // Connections on a server now, for "N sessions active" in DOWN lines. Null: 0.
  std::function<std::uint32_t(std::uint16_t server)> sessions;
};

// A server's administrative state, the operator's say over it (HAProxy's `set server ... state
// ready|drain|maint`, `enable/disable server`; `disabled` in the configuration is MAINT): MAINT
// takes it out and stops its checks, DRAIN takes no new connections but keeps checking.
enum class AdminState : std::uint8_t { kReady, kDrain, kMaint };

// What the operator set for one server slot, handed to the engine at every configure().
struct OperatorSetting {
  AdminState admin = AdminState::kReady;
  std::int32_t weight = -1;  // a runtime weight (0..256); -1: the configured one
};

// What metrics and the CLI publish about one server (promex's server_check_* families, show
// stat's status/chkfail/chkdown/lastchg/downtime/check_* columns).
struct ServerHealth {
  std::string name;  // "listener/server"
  std::uint16_t listener = 0;
  bool checked = false;   // `check` on the server line
  bool disabled = false;  // in MAINT (`disabled`, or the runtime API): never checked, not up
  bool drain = false;     // in DRAIN (the runtime API): checked, takes no new connections
  bool backup = false;
  bool up = true;         // HAProxy's RUNNING or STARTING (STOPPED is down)
  bool starting = false;  // within `slowstart` after coming up
  std::uint32_t health = 0;
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
  // The last check (or `observe` verdict, HANA).
  CheckStatus status = CheckStatus::kIni;
  int code = 0;
  std::string description;
  std::int64_t duration_ms = -1;  // -1: none (not checked yet, or HANA)
  bool check_running = false;
  std::uint64_t last_change_ms = 0;  // the engine's clock at the last UP/DOWN change
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
  std::uint64_t check_failures = 0;    // chkfail: failed checks while health was above 0
  std::uint64_t down_transitions = 0;  // chkdown: UP -> DOWN changes
  std::uint64_t downtime_ms = 0;       // closed DOWN periods; see downtime_ms() below
  std::uint64_t observe_actions = 0;   // times `observe layer4` reached `error-limit`
  std::uint8_t weight_pct = 100;       // what ServerLive::weight_pct says
};

// show stat's status column: "UP", "UP 1/3", "DOWN", "DOWN 1/2", "no check", "MAINT", "DRAIN",
// "DRAIN 1/3" (HAProxy's srv_hlt_st[]).
std::string status_text(const ServerHealth& h);
// Total time DOWN, the current period included.
std::uint64_t downtime_ms(const ServerHealth& h, std::uint64_t now_ms);

class Engine {
 public:
  // `live` has dataplane::kMaxServers entries, indexed like the snapshot's servers.
  Engine(ProbeTransport& transport, dataplane::ServerLive* live, EngineHooks hooks);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // At start and at every reload. Server slots keep their index across reloads (by name),
  // and so does their health. A server new to the configuration (or newly checked, or no
  // longer disabled) starts UP with health = rise, as HAProxy starts every server, and its
  // first check comes at HAProxy's spread (start_checks(): position * interval / count). A
  // removed server's check stops (its connection is closed politely).
  // `operators` holds what the runtime API set, by slot (admin state, weight); empty: every
  // server as configured (`disabled` is MAINT). A server whose MAINT a reload lifts starts
  // again as above; one a reload puts in MAINT stops being checked, both without a log line.
  void configure(const config::Config& cfg, const dataplane::Snapshot& snapshot,
                 const dataplane::Settings& settings, std::uint64_t now_ms,
                 const std::vector<OperatorSetting>& operators = {});

  // The runtime API changed a server's administrative state: HAProxy's srv_set_admin_flag()
  // and srv_clr_admin_flag() with their log lines. Entering MAINT stops the checks (a check in
  // flight is closed politely) and takes the server down; leaving it, a checked server comes
  // back UP at health = rise and is checked at once, as HAProxy does.
  void set_admin(std::uint16_t server, AdminState state);
  // A runtime weight (0 takes the server out of the count of usable servers in log lines).
  void set_weight(std::uint16_t server, std::uint32_t weight);

  // About every millisecond: reads the workers' events, moves conversations on, runs their
  // timeouts, starts the checks that are due, applies `observe` and slowstart steps.
  void tick(std::uint64_t now_ms);

  // Null for a slot no configured server holds.
  const ServerHealth* health(std::uint16_t server) const;

  std::size_t checks_in_flight() const { return running_.size(); }
  std::size_t slots_in_use(std::uint32_t worker) const;

 private:
  struct Server;
  struct Running;
  struct Worker;
  struct Due {
    std::uint64_t when;
    std::uint16_t server;
    std::uint64_t seq;
    bool operator>(const Due& o) const { return when > o.when; }
  };

  void dispatch(std::uint32_t worker, const dataplane::ProbeEvent& event);
  void process(std::uint32_t id, Actions actions);
  void start_check(std::uint16_t index);
  void apply_result(std::uint16_t index, const CheckResult& result);
  void record(std::uint16_t index, CheckStatus status, int code, const std::string& description,
              std::int64_t duration_ms);
  void set_down(std::uint16_t index);
  void set_up(std::uint16_t index);
  void observe(std::uint16_t index);
  void ramp(std::uint16_t index);
  void schedule(std::uint16_t index, std::uint64_t when);
  std::uint64_t interval(const Server& s) const;
  void count(std::uint16_t listener, std::uint32_t& active, std::uint32_t& backups) const;
  void publish(std::uint16_t index);
  void shutdown_sessions(std::uint16_t server);
  void stop_check(std::uint16_t index);
  void enter_maint(std::uint16_t index);
  void leave_maint(std::uint16_t index, AdminState to);
  std::string counts_text(std::uint16_t index, bool online) const;
  void enqueue(std::uint32_t worker, const dataplane::ProbeCommand& command);
  void flush();
  void log(LogLevel level, const std::string& text) const;

  ProbeTransport& transport_;
  dataplane::ServerLive* live_;
  EngineHooks hooks_;
  std::uint64_t now_ = 0;
  dataplane::Settings settings_;
  std::vector<Server> servers_;
  std::vector<std::string> listener_names_;
  std::vector<std::vector<std::uint16_t>> listener_members_;
  std::vector<Worker> workers_;
  std::unordered_map<std::uint32_t, Running> running_;
  std::uint32_t next_id_ = 1;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
};

}  // namespace postern::control::health
