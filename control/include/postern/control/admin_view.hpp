// What the admin side shows (metrics, status page, /v1/state, the runtime API's show
// commands): an immutable view of the configuration and every server's health, rebuilt by the
// main thread and swapped in atomically, so the HTTP threads read it without locks; plus a
// Sample of the workers' counters, summed when a reader asks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "postern/config/model.hpp"
#include "postern/control/health_engine.hpp"
#include "postern/dataplane/counters.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {
class Runtime;
}

namespace postern::control::admin {

// A server's administrative state, set through the runtime API (HAProxy's `set server ...
// state ready|drain|maint`, `disable/enable server`), kept across reloads. The health engine's
// type, so the engine and the admin side speak of one thing.
using AdminState = health::AdminState;

struct ServerView {
  std::uint16_t slot = 0;  // index into the snapshot's servers (HAProxy's sid - 1)
  std::string name;        // "listener/server"
  std::string listener;
  std::string server;
  std::string address;  // the server's IP address, as configured
  std::uint16_t port = 0;
  std::uint32_t weight = 1;   // configured (HAProxy's iweight)
  std::uint32_t uweight = 1;  // in effect by the user's choice: config or runtime API
  bool backup = false;
  bool retired = false;  // removed by a reload, draining its connections
  AdminState admin = AdminState::kReady;
  health::ServerHealth health;  // a copy of the engine's record (checked or not)
};

struct ListenerView {
  std::uint16_t slot = 0;
  std::string name;
  std::vector<std::string> binds;      // "ADDR:PORT"
  std::vector<std::uint16_t> servers;  // slots, in file order
  std::uint32_t maxconn = 0;           // 0: none
  bool retired = false;
  // As a backend (HAProxy's `listen` is both): UP while some server can take a connection,
  // or when it has no server; its UP -> DOWN changes, when it last changed (the view's clock),
  // and the time it spent DOWN before the current period. Carried from view to view.
  bool up = true;
  std::uint64_t down_transitions = 0;
  std::uint64_t last_change_ms = 0;
  std::uint64_t downtime_ms = 0;
};

struct AdminView {
  std::uint64_t built_ms = 0;       // the engine's clock when built
  std::int64_t unix_offset_ms = 0;  // the engine's clock + this = Unix time in milliseconds
  std::uint64_t start_unix_s = 0;   // when Postern started
  std::uint32_t generation = 0;     // of the running snapshot
  std::string config_hash;          // of the loaded configuration text
  std::string node;                 // this node's name (hostname)
  std::uint32_t workers = 0;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  std::uint32_t global_maxconn = 0;  // 0: none
  std::uint64_t checks_in_flight = 0;
  std::vector<std::uint64_t> probe_slots_in_use;  // by worker
  std::uint64_t log_lines = 0;                    // session log lines formatted
  std::uint64_t log_send_failures = 0;            // log datagrams the control thread lost
  std::vector<ListenerView> listeners;
  std::vector<ServerView> servers;  // by slot

  const ServerView* find_server(const std::string& listener, const std::string& server) const;
  const ListenerView* find_listener(const std::string& name) const;
};

// What the runtime API changed, by server slot (slots keep their index across reloads, so
// these survive them): the administrative state and a weight replacing the configured one.
struct Overrides {
  std::vector<AdminState> admin = std::vector<AdminState>(dataplane::kMaxServers);
  std::vector<std::int32_t> weight = std::vector<std::int32_t>(dataplane::kMaxServers, -1);
};

struct ViewMeta {
  std::uint64_t now_ms = 0;
  std::int64_t unix_offset_ms = 0;
  std::uint64_t start_unix_s = 0;
  std::string config_hash;
  std::string node;
  std::uint32_t workers = 0;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  std::uint64_t checks_in_flight = 0;
  std::vector<std::uint64_t> probe_slots_in_use;
  std::uint64_t log_lines = 0;
  std::uint64_t log_send_failures = 0;
  // The view before this one: listeners' backend state carries over from it.
  std::shared_ptr<const AdminView> previous;
};

// The weight a server gets now (HAProxy's effective weight, promex's server_weight): the
// user's weight, scaled during `slowstart` and rounded up, whatever its state.
std::uint32_t weight_now(const ServerView& s);
// Whether it takes new connections: up by its checks, ready, a weight above 0.
bool takes_connections(const ServerView& s);

std::shared_ptr<const AdminView> build_view(const dataplane::Snapshot& snap,
                                            const health::Engine& engine, const Overrides& o,
                                            const ViewMeta& meta);

// Where the current view lives: one writer (the main thread), many readers.
class ViewBoard {
 public:
  void publish(std::shared_ptr<const AdminView> v) { view_.store(std::move(v)); }
  std::shared_ptr<const AdminView> current() const { return view_.load(); }

 private:
  std::atomic<std::shared_ptr<const AdminView>> view_;
};

// The workers' counters, summed over workers at the moment of reading (HAProxy's stats are
// read the same way: per-thread counters added up when shown).
struct Sample {
  std::uint64_t unix_s = 0;     // when taken: the wall clock
  std::uint64_t steady_ms = 0;  // and the clock of AdminView::built_ms (0: use built_ms)
  dataplane::WorkerCounters total;
  std::vector<dataplane::WorkerCounters> per_worker;
  std::vector<std::uint64_t> server_active;  // by server slot
  std::vector<std::uint64_t> server_total;
  std::vector<std::uint64_t> listener_active;  // by listener slot
  // Cumulative, for metrics: connections each listener took; by server slot the payload
  // bytes from clients (in) and to them (out), failed and attempted connections, and the
  // connections answered with the sum of their connect times.
  std::vector<std::uint64_t> listener_total;
  std::vector<std::uint64_t> server_bytes_in;
  std::vector<std::uint64_t> server_bytes_out;
  std::vector<std::uint64_t> server_errors;
  std::vector<std::uint64_t> server_attempts;
  std::vector<std::uint64_t> server_connects;
  std::vector<std::uint64_t> server_connect_ms;
  // The runtime's gauges.
  std::uint64_t tsc_hz = 0;
  std::uint64_t flow_capacity = 0;  // per worker
  dataplane::MbufPoolStats mbufs;
  std::vector<std::uint64_t> handoff_queued;  // by worker
  std::vector<std::uint64_t> handoff_capacity;
  std::vector<std::string> interface_names;
  std::vector<dataplane::InterfaceStats> interfaces;
};

// A reload may give the slot of a removed listener or server (once its flows are gone) to
// another name: the new owner's counts start from zero. take_bases() keeps in `bases` the
// cumulative counts of every slot `after` names differently from `before`, as they are `now`;
// subtract_bases() takes them off a sample. The active counts are left alone.
void take_bases(Sample& bases, const Sample& now, const dataplane::Snapshot& before,
                const dataplane::Snapshot& after);
void subtract_bases(Sample& s, const Sample& bases);

Sample sample(const dataplane::Runtime& rt, std::size_t listeners, std::size_t servers);

// One slot's count in one of a Sample's per-slot vectors; 0 for a slot it does not cover (a
// sample taken before a reload added the slot, or built without that count).
inline std::uint64_t slot_count(const std::vector<std::uint64_t>& v, std::size_t slot) {
  return slot < v.size() ? v[slot] : 0;
}

// What the admin side may read of and do to the running daemon; the daemon implements it on
// its main thread. `view()` and `sample()` may be called from any thread; the rest only from
// the main thread (the runtime API is served from its loop).
class Operator {
 public:
  virtual ~Operator() = default;
  virtual std::shared_ptr<const AdminView> view() const = 0;
  virtual Sample sample() const = 0;
  virtual bool set_admin(std::uint16_t server_slot, AdminState state, std::string& error) = 0;
  virtual bool set_weight(std::uint16_t server_slot, std::uint32_t weight, std::string& error) = 0;
  // Reloads the configuration files now; `result` is what the daemon logged about it.
  virtual bool reload(std::string& result) = 0;
};

}  // namespace postern::control::admin
