// The health engine: HAProxy 2.6's check scheduling (src/check.c process_chk_conn(),
// start_checks(), src/server.c srv_getinter()), its rise/fall arithmetic
// (set_server_check_status(), check_notify_failure/success()), its state changes
// (srv_update_status(), server_recalc_eweight(), server_warmup()) and `observe`
// (__health_adjust()), over the workers' probe slots.
#include "postern/control/health_engine.hpp"

#include <rte_byteorder.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <utility>

namespace postern::control::health {

// HAProxy's BE_WEIGHT_SCALE: a server in slowstart has 1..16 sixteenths of its weight.
constexpr std::uint32_t kWeightScale = 16;
// start_checks() spreads by the smallest interval of at least this (SRV_CHK_INTER_THRES).
constexpr std::uint64_t kSpreadThresholdMs = 1000;
// server_warmup() steps every MAX(1000 ms, slowstart / 20) with slowstart in seconds: 1 s.
constexpr std::uint64_t kWarmupStepMs = 1000;
constexpr std::size_t kEventBatch = 32;
constexpr std::size_t kMaxBatchesPerTick = 64;

namespace {

// The "Server ... is UP/DOWN" message's facts, from the server's state after the change.
Transition transition_of(const ServerHealth& h, std::uint32_t active, std::uint32_t backups) {
  Transition t;
  t.server = h.name;
  t.backup = h.backup;
  t.up = h.up;
  t.status = h.status;
  t.code = h.code;
  t.description = h.description;
  t.duration_ms = h.duration_ms;
  t.active = active;
  t.backups = backups;
  return t;
}

}  // namespace

struct Engine::Server {
  ServerHealth h;
  bool exists = false;
  std::shared_ptr<const CheckPlan> plan;
  std::string problem;
  // from the server line
  std::uint64_t inter = 2000;
  std::uint64_t fastinter = 2000;
  std::uint64_t downinter = 2000;
  bool fastinter_set = false;
  std::uint64_t slowstart_s = 0;  // HAProxy keeps slowstart in whole seconds, rounded up
  bool dynamic_lb = true;         // roundrobin ramps a slowstart; static-rr cannot
  bool shutdown_on_down = false;
  bool shutdown_backup_on_up = false;
  bool observe = false;
  std::uint32_t error_limit = 10;
  config::OnError on_error = config::OnError::kFailCheck;
  std::uint16_t weight = 1;
  std::int32_t op_weight = -1;  // the runtime API's weight; -1: the configured one
  // where checks go
  bool routable = false;
  std::uint32_t dst_ip = 0;  // network order
  std::uint32_t src_ip = 0;
  std::uint32_t next_hop = 0;
  std::uint8_t port_id = 0;
  // schedule
  std::uint64_t seq = 0;
  std::uint64_t next_check = 0;
  std::uint32_t running = 0;  // the conversation in flight, 0: none
  std::uint64_t observe_base = 0;
  std::uint64_t ramp_start = 0;
  std::uint64_t next_ramp = 0;
};

struct Engine::Running {
  std::unique_ptr<Conversation> conv;
  std::uint16_t server = 0;
  std::uint32_t worker = 0;
  int slot = -1;  // the connection being spoken on; -1: none (closed, failed, freed)
  bool result_taken = false;
};

struct Engine::Worker {
  struct Slot {
    bool busy = false;        // from kOpen to the worker's kFreed
    std::uint32_t owner = 0;  // the conversation still listening on it, 0: none
  };
  std::vector<Slot> slots = std::vector<Slot>(dataplane::kProbeSlots);
  std::vector<std::uint16_t> free;
  std::deque<dataplane::ProbeCommand> pending;
  Worker() {
    for (std::uint16_t i = dataplane::kProbeSlots; i > 0; --i) {
      free.push_back(static_cast<std::uint16_t>(i - 1));
    }
  }
};

std::string status_text(const ServerHealth& h) {
  if (h.disabled) {
    return "MAINT";
  }
  std::string s;
  if (h.up) {
    if (!h.checked) {
      return h.drain ? "DRAIN" : "no check";
    }
    const char* word = h.drain ? "DRAIN" : "UP";
    if (h.health < h.rise + h.fall - 1) {
      s = word;
      s += ' ';
      s += std::to_string(h.health - h.rise + 1);
      s += '/';
      s += std::to_string(h.fall);
      return s;
    }
    return word;
  }
  if (!h.checked || h.health == 0) {
    return "DOWN";
  }
  s = "DOWN ";
  s += std::to_string(h.health);
  s += '/';
  s += std::to_string(h.rise);
  return s;
}

std::uint64_t downtime_ms(const ServerHealth& h, std::uint64_t now_ms) {
  std::uint64_t total = h.downtime_ms;
  if (!h.up && now_ms > h.last_change_ms) {
    total += now_ms - h.last_change_ms;
  }
  return total;
}

Engine::Engine(ProbeTransport& transport, dataplane::ServerLive* live, EngineHooks hooks)
    : transport_(transport), live_(live), hooks_(std::move(hooks)) {
  workers_.resize(transport_.workers());
}

Engine::~Engine() = default;

void Engine::log(LogLevel level, const std::string& text) const {
  if (hooks_.log) {
    hooks_.log(level, text);
  }
}

const ServerHealth* Engine::health(std::uint16_t server) const {
  if (server >= servers_.size() || !servers_[server].exists) {
    return nullptr;
  }
  return &servers_[server].h;
}

std::size_t Engine::slots_in_use(std::uint32_t worker) const {
  if (worker >= workers_.size()) {
    return 0;
  }
  return dataplane::kProbeSlots - workers_[worker].free.size();
}

// srv_getinter(): `inter` when fully up, `downinter` when fully down, `fastinter` in between
// (which includes a server not checked yet: it starts at health = rise).
std::uint64_t Engine::interval(const Server& s) const {
  const ServerHealth& h = s.h;
  if (h.health == h.rise + h.fall - 1) {
    return s.inter;
  }
  if (!h.up && h.health == 0) {
    return s.downinter;
  }
  return s.fastinter;
}

void Engine::schedule(std::uint16_t index, std::uint64_t when) {
  Server& s = servers_[index];
  s.next_check = when;
  ++s.seq;
  due_.push(Due{when, index, s.seq});
}

void Engine::configure(const config::Config& cfg, const dataplane::Snapshot& snapshot,
                       const dataplane::Settings& settings, std::uint64_t now_ms,
                       const std::vector<OperatorSetting>& operators) {
  now_ = now_ms;
  settings_ = settings;
  if (workers_.size() != transport_.workers()) {
    workers_.resize(transport_.workers());
  }

  struct Entry {
    const config::Listener* listener;
    const config::Server* server;
  };
  std::map<std::string, Entry> by_name;
  for (const auto& l : cfg.listeners) {
    for (const auto& sv : l.servers) {
      std::string name = l.name;
      name += '/';
      name += sv.name;
      by_name.emplace(std::move(name), Entry{&l, &sv});
    }
  }

  listener_names_.assign(snapshot.listeners.size(), {});
  listener_members_.assign(snapshot.listeners.size(), {});
  std::vector<std::uint16_t> listener_of(snapshot.servers.size(), 0);
  for (std::size_t li = 0; li < snapshot.listeners.size(); ++li) {
    const auto& ls = snapshot.listeners[li];
    listener_names_[li] = ls.name;
    if (ls.retired) {
      continue;
    }
    listener_members_[li] = ls.servers;
    for (const auto s : ls.servers) {
      if (s < listener_of.size()) {
        listener_of[s] = static_cast<std::uint16_t>(li);
      }
    }
  }

  if (servers_.size() < snapshot.servers.size()) {
    servers_.resize(snapshot.servers.size());
  }
  std::vector<std::uint16_t> fresh;  // checks that start now, spread as start_checks() does
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    const auto index = static_cast<std::uint16_t>(i);
    Server& s = servers_[i];
    const dataplane::ServerSlot* slot =
        i < snapshot.servers.size() ? &snapshot.servers[i] : nullptr;
    const auto found = slot != nullptr ? by_name.find(slot->name) : by_name.end();
    const bool same = s.exists && slot != nullptr && s.h.name == slot->name;
    if (slot == nullptr || slot->retired || found == by_name.end()) {
      // Removed: its check stops; a conversation in flight closes politely, without verdict.
      if (s.running != 0) {
        auto it = running_.find(s.running);
        if (it != running_.end()) {
          Actions acts;
          it->second.conv->cancel(acts);
          process(s.running, std::move(acts));
        }
      }
      s = Server{};
      continue;
    }
    const config::Listener& l = *found->second.listener;
    const config::Server& sv = *found->second.server;

    if (!same) {
      if (s.running != 0) {
        auto it = running_.find(s.running);
        if (it != running_.end()) {
          Actions acts;
          it->second.conv->cancel(acts);
          process(s.running, std::move(acts));
        }
      }
      s = Server{};
      s.exists = true;
      s.h.name = slot->name;
      s.h.last_change_ms = now_ms;
    }
    ServerHealth& h = s.h;
    const bool was_checked = same && h.checked && !h.disabled;
    const std::uint32_t old_rise = h.rise;
    const std::uint32_t old_fall = h.fall;
    const OperatorSetting op = i < operators.size() ? operators[i] : OperatorSetting{};
    const bool maint = sv.disabled || op.admin == AdminState::kMaint;
    h.listener = listener_of[i];
    h.backup = sv.backup;
    h.disabled = maint;
    h.drain = !maint && op.admin == AdminState::kDrain;
    s.op_weight = op.weight;
    h.checked = sv.check;
    h.rise = std::max<std::uint32_t>(sv.rise, 1);
    h.fall = std::max<std::uint32_t>(sv.fall, 1);
    s.inter = static_cast<std::uint64_t>(std::max<config::Millis>(sv.inter, 1));
    s.fastinter_set = sv.fastinter.has_value() && *sv.fastinter > 0;
    s.fastinter = s.fastinter_set ? static_cast<std::uint64_t>(*sv.fastinter) : s.inter;
    s.downinter =
        sv.downinter && *sv.downinter > 0 ? static_cast<std::uint64_t>(*sv.downinter) : s.inter;
    s.slowstart_s = sv.slowstart && *sv.slowstart > 0
                        ? static_cast<std::uint64_t>((*sv.slowstart + 999) / 1000)
                        : 0;
    s.dynamic_lb = l.balance == config::Balance::kRoundRobin;
    s.shutdown_on_down = sv.shutdown_sessions_on_down;
    s.shutdown_backup_on_up = sv.shutdown_backup_sessions_on_up;
    s.observe = sv.observe_layer4;
    s.error_limit = sv.error_limit;
    s.on_error = sv.on_error;
    s.weight = slot->weight;

    // Where checks go: `addr` or the server, through the server's own hop when it is the
    // same address, else through the route table.
    s.routable = false;
    if (!settings.source_addresses.empty()) {
      s.src_ip = settings.source_addresses.front();
      if (sv.check_addr && sv.check_addr->family == config::Family::kIpv4) {
        std::memcpy(&s.dst_ip, sv.check_addr->bytes.data(), 4);
      } else if (!sv.check_addr) {
        s.dst_ip = slot->ip;
      }
      if (s.dst_ip != 0 && s.dst_ip == slot->ip) {
        s.port_id = slot->port_id;
        s.next_hop = slot->next_hop;
        s.routable = true;
      } else if (s.dst_ip != 0) {
        if (const auto hop = dataplane::route_lookup(settings, s.dst_ip);
            hop && hop->interface < settings.interfaces.size()) {
          s.port_id = static_cast<std::uint8_t>(settings.interfaces[hop->interface].port_id);
          s.next_hop = hop->next_hop;
          s.routable = true;
        }
      }
    }

    const bool checked_now = sv.check && !maint;
    if (checked_now) {
      auto plan = std::make_shared<CheckPlan>(make_plan(l, sv));
      if (!plan->problem.empty() && plan->problem != s.problem) {
        std::string m = "Server ";
        m += h.name;
        m += ": ";
        m += plan->problem;
        m += '.';
        log(LogLevel::kWarning, m);
      }
      s.problem = plan->problem;
      s.plan = std::move(plan);
      if (!was_checked) {
        // New, newly checked, or back from `disabled` (HAProxy leaving MAINT: "start OK but
        // check immediately"): UP at health = rise.
        h.health = h.rise;
        if (!h.up) {
          h.up = true;
          h.downtime_ms += now_ms > h.last_change_ms ? now_ms - h.last_change_ms : 0;
          h.last_change_ms = now_ms;
        }
        h.starting = false;
        h.weight_pct = 100;
        fresh.push_back(index);
      } else if (h.rise != old_rise || h.fall != old_fall) {
        // Keep the server's side (and how far it is into it) under the new rise/fall.
        if (h.up) {
          h.health = h.health == old_rise + old_fall - 1
                         ? h.rise + h.fall - 1
                         : std::clamp(h.health - old_rise + h.rise, h.rise, h.rise + h.fall - 1);
        } else {
          h.health = std::min(h.health, h.rise - 1);
        }
      }
    } else {
      if (s.running != 0) {
        auto it = running_.find(s.running);
        if (it != running_.end()) {
          Actions acts;
          it->second.conv->cancel(acts);
          process(s.running, std::move(acts));
        }
      }
      // A server in MAINT keeps its plan for the moment the operator lets it out.
      s.plan = sv.check ? std::make_shared<CheckPlan>(make_plan(l, sv)) : nullptr;
      ++s.seq;  // forget any scheduled check
      // Without a check a server is running; one in MAINT is stopped (HAProxy's STOPPED),
      // and never picked by workers.
      if (maint) {
        if (h.up) {
          h.last_change_ms = now_ms;
        }
        h.up = false;
      } else if (!h.up) {
        h.downtime_ms += now_ms > h.last_change_ms ? now_ms - h.last_change_ms : 0;
        h.last_change_ms = now_ms;
        h.up = true;
      }
      h.starting = false;
      h.health = h.rise;
      h.weight_pct = 100;
      h.check_running = false;
    }
    publish(index);
  }

  // start_checks(): the n-th of N checks starts at max(smallest interval >= 1 s, its own)
  // * n / N, so they do not all go at once.
  std::uint64_t mininter = 0;
  for (const auto i : fresh) {
    const std::uint64_t own = interval(servers_[i]);
    if (own >= kSpreadThresholdMs && (mininter == 0 || own < mininter)) {
      mininter = own;
    }
  }
  for (std::size_t pos = 0; pos < fresh.size(); ++pos) {
    const std::uint16_t i = fresh[pos];
    const std::uint64_t spread = std::max(mininter, interval(servers_[i]));
    schedule(i, now_ms + spread * pos / fresh.size());
  }
  flush();
}

void Engine::publish(std::uint16_t index) {
  if (live_ == nullptr || index >= dataplane::kMaxServers) {
    return;
  }
  const ServerHealth& h = servers_[index].h;
  live_[index].weight_pct.store(h.weight_pct, std::memory_order_relaxed);
  live_[index].up.store(h.up ? 1 : 0, std::memory_order_release);
}

void Engine::tick(std::uint64_t now_ms) {
  now_ = now_ms;
  flush();

  while (!due_.empty() && due_.top().when <= now_ms) {
    const Due d = due_.top();
    due_.pop();
    if (d.server < servers_.size() && servers_[d.server].seq == d.seq) {
      start_check(d.server);
    }
  }
  flush();

  std::array<dataplane::ProbeEvent, kEventBatch> events;
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    for (std::size_t batch = 0; batch < kMaxBatchesPerTick; ++batch) {
      const std::size_t n = transport_.poll(w, events.data(), events.size());
      for (std::size_t e = 0; e < n; ++e) {
        dispatch(w, events[e]);
      }
      if (n < events.size()) {
        break;
      }
    }
  }

  std::vector<std::uint32_t> expired;
  for (const auto& [id, r] : running_) {
    const auto deadline = r.conv->deadline();
    if (deadline && *deadline <= now_ms) {
      expired.push_back(id);
    }
  }
  for (const auto id : expired) {
    auto it = running_.find(id);
    if (it == running_.end()) {
      continue;
    }
    Actions acts;
    it->second.conv->expire(now_ms, acts);
    process(id, std::move(acts));
  }

  for (std::size_t i = 0; i < servers_.size(); ++i) {
    const Server& s = servers_[i];
    if (!s.exists) {
      continue;
    }
    if (s.observe && s.plan) {
      observe(static_cast<std::uint16_t>(i));
    }
    if (s.h.starting && s.next_ramp <= now_ms) {
      ramp(static_cast<std::uint16_t>(i));
    }
  }

  flush();
}

void Engine::start_check(std::uint16_t index) {
  Server& s = servers_[index];
  if (!s.exists || !s.plan || s.h.disabled || s.running != 0 || workers_.empty()) {
    return;
  }
  const std::uint32_t id = next_id_++;
  if (next_id_ == 0) {
    next_id_ = 1;
  }
  Running r;
  r.conv = std::make_unique<Conversation>(s.plan);
  r.server = index;
  r.worker = static_cast<std::uint32_t>(index % workers_.size());
  running_.emplace(id, std::move(r));
  s.running = id;
  s.h.check_running = true;
  Actions acts;
  running_.at(id).conv->start(now_, acts);
  process(id, std::move(acts));
}

void Engine::dispatch(std::uint32_t worker, const dataplane::ProbeEvent& event) {
  if (event.slot >= dataplane::kProbeSlots) {
    return;
  }
  Worker& w = workers_[worker];
  Worker::Slot& slot = w.slots[event.slot];
  if (!slot.busy) {
    return;
  }
  const std::uint32_t owner = slot.owner;
  auto it = owner != 0 ? running_.find(owner) : running_.end();
  if (event.kind == dataplane::ProbeEventKind::kFreed) {
    slot.busy = false;
    slot.owner = 0;
    w.free.push_back(event.slot);
    if (it != running_.end() && it->second.slot == event.slot) {
      it->second.slot = -1;
      Actions acts;
      it->second.conv->gone(now_, acts);
      process(owner, std::move(acts));
    }
    return;
  }
  if (it == running_.end() || it->second.slot != event.slot) {
    return;  // a connection its conversation has already closed
  }
  Conversation& conv = *it->second.conv;
  Actions acts;
  switch (event.kind) {
    case dataplane::ProbeEventKind::kConnected:
      conv.connected(now_, acts);
      break;
    case dataplane::ProbeEventKind::kData:
      conv.data(std::string_view(reinterpret_cast<const char*>(event.data),
                                 std::min<std::size_t>(event.len, dataplane::kProbeChunk)),
                now_, acts);
      break;
    case dataplane::ProbeEventKind::kPeerClosed:
      conv.peer_closed(now_, acts);
      break;
    case dataplane::ProbeEventKind::kReset:
      conv.reset(now_, acts);
      break;
    case dataplane::ProbeEventKind::kUnreachable:
      conv.unreachable(now_, acts);
      break;
    case dataplane::ProbeEventKind::kFreed:
      break;
  }
  process(owner, std::move(acts));
}

// Carries a conversation's actions out on its worker, then takes its verdict.
void Engine::process(std::uint32_t id, Actions actions) {
  auto it = running_.find(id);
  if (it == running_.end()) {
    return;
  }
  Running& r = it->second;
  Worker& w = workers_[r.worker];
  const Server* server = r.server < servers_.size() ? &servers_[r.server] : nullptr;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const ProbeAction a = actions[i];
    dataplane::ProbeCommand c{};
    c.server = r.server;
    switch (a.kind) {
      case ProbeAction::Kind::kOpen: {
        if (server == nullptr || !server->routable) {
          r.conv->open_failed(OpenFailure::kNoRoute, now_, actions);
          break;
        }
        if (w.free.empty()) {
          r.conv->open_failed(OpenFailure::kNoSlot, now_, actions);
          break;
        }
        const std::uint16_t slot = w.free.back();
        w.free.pop_back();
        w.slots[slot] = Worker::Slot{true, id};
        r.slot = slot;
        c.op = dataplane::ProbeOp::kOpen;
        c.slot = slot;
        c.dst_ip = server->dst_ip;
        c.dst_port = rte_cpu_to_be_16(a.port);
        c.src_ip = server->src_ip;
        c.port_id = server->port_id;
        c.next_hop = server->next_hop;
        enqueue(r.worker, c);
        break;
      }
      case ProbeAction::Kind::kSend: {
        if (r.slot < 0) {
          break;
        }
        c.op = dataplane::ProbeOp::kSend;
        c.slot = static_cast<std::uint16_t>(r.slot);
        std::size_t at = 0;
        do {
          const std::size_t n = std::min<std::size_t>(a.bytes.size() - at, dataplane::kProbeChunk);
          c.len = static_cast<std::uint16_t>(n);
          std::memcpy(c.data, a.bytes.data() + at, n);
          at += n;
          c.fin = a.fin && at == a.bytes.size();
          enqueue(r.worker, c);
        } while (at < a.bytes.size());
        if (a.fin) {
          w.slots[static_cast<std::size_t>(r.slot)].owner = 0;
          r.slot = -1;
        }
        break;
      }
      case ProbeAction::Kind::kClose:
        if (r.slot < 0) {
          break;
        }
        c.op = dataplane::ProbeOp::kClose;
        c.slot = static_cast<std::uint16_t>(r.slot);
        enqueue(r.worker, c);
        w.slots[static_cast<std::size_t>(r.slot)].owner = 0;
        r.slot = -1;
        break;
    }
  }
  if (r.conv->result() && !r.result_taken) {
    r.result_taken = true;
    if (server != nullptr && server->running == id) {
      const CheckResult result = *r.conv->result();
      apply_result(r.server, result);
    }
  }
  if (r.conv->finished()) {
    if (r.slot >= 0) {
      w.slots[static_cast<std::size_t>(r.slot)].owner = 0;
    }
    if (r.server < servers_.size() && servers_[r.server].running == id) {
      servers_[r.server].running = 0;
      servers_[r.server].h.check_running = false;
    }
    running_.erase(it);
  }
}

// set_server_check_status() for one finished check, then check_notify_failure/success()
// and the next check at srv_getinter() from now (process_chk_conn()).
void Engine::apply_result(std::uint16_t index, const CheckResult& result) {
  Server& s = servers_[index];
  s.running = 0;
  s.h.check_running = false;
  record(index, result.status, result.code, result.description,
         static_cast<std::int64_t>(result.duration_ms));
  if (s.plan) {
    schedule(index, now_ + interval(s));
  }
}

void Engine::record(std::uint16_t index, CheckStatus status, int code,
                    const std::string& description, std::int64_t duration_ms) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  h.status = status;
  h.code = code;
  h.description = description.substr(0, kMaxDescription);
  h.duration_ms = duration_ms;
  if (status_passed(status)) {
    ++h.consecutive_successes;
    h.consecutive_failures = 0;
    if (h.health < h.rise + h.fall - 1) {
      ++h.health;
      if (h.health >= h.rise) {
        h.health = h.rise + h.fall - 1;  // "OK now"
      }
    }
    // A passed check clears `observe`'s count of consecutive errors.
    if (s.observe && hooks_.connect_errors) {
      s.observe_base = hooks_.connect_errors(index);
    }
    if (h.health >= h.rise) {
      set_up(index);
    }
    return;
  }
  ++h.consecutive_failures;
  h.consecutive_successes = 0;
  if (h.health > 0) {
    ++h.check_failures;
    --h.health;
    if (h.health < h.rise) {
      h.health = 0;
    }
  }
  if (h.health == 0) {
    set_down(index);
  }
}

void Engine::count(std::uint16_t listener, std::uint32_t& active, std::uint32_t& backups) const {
  active = 0;
  backups = 0;
  if (listener >= listener_members_.size()) {
    return;
  }
  // HAProxy's srv_act / srv_bck: servers that can take connections (srv_willbe_usable()).
  for (const auto i : listener_members_[listener]) {
    if (i >= servers_.size()) {
      continue;
    }
    const Server& m = servers_[i];
    const std::int32_t weight = m.op_weight >= 0 ? m.op_weight : m.weight;
    if (!m.exists || m.h.disabled || m.h.drain || weight == 0 || !m.h.up) {
      continue;
    }
    (m.h.backup ? backups : active) += 1;
  }
}

// srv_update_status(), going DOWN.
void Engine::set_down(std::uint16_t index) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  if (!h.up) {
    return;
  }
  std::uint32_t active = 0;
  std::uint32_t backups = 0;
  count(h.listener, active, backups);
  const std::uint32_t before = active + backups;
  h.up = false;
  h.starting = false;
  h.last_change_ms = now_;
  ++h.down_transitions;
  publish(index);
  if (s.shutdown_on_down) {
    shutdown_sessions(index);
  }
  count(h.listener, active, backups);
  Transition t = transition_of(h, active, backups);
  t.sessions = hooks_.sessions ? hooks_.sessions(index) : 0;
  log(LogLevel::kAlert, transition_message(t));
  if (before != 0 && active == 0 && backups == 0 && h.listener < listener_names_.size()) {
    log(LogLevel::kEmerg, no_server_message(listener_names_[h.listener]));
  }
}

// srv_update_status(), coming UP: with `slowstart` the server starts at 1/16 of its weight
// (server_recalc_eweight()), except under static-rr, which cannot change weights.
void Engine::set_up(std::uint16_t index) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  if (h.up) {
    return;
  }
  h.up = true;
  h.downtime_ms += now_ > h.last_change_ms ? now_ - h.last_change_ms : 0;
  h.last_change_ms = now_;
  h.weight_pct = 100;
  if (s.slowstart_s != 0) {
    h.starting = true;
    s.ramp_start = now_;
    s.next_ramp = now_ + kWarmupStepMs;
    if (s.dynamic_lb) {
      h.weight_pct = static_cast<std::uint8_t>((100 + kWeightScale - 1) / kWeightScale);
    }
  }
  publish(index);
  // on-marked-up shutdown-backup-sessions: a non-backup server that takes connections again
  // ends every session on the listener's backup servers.
  if (s.shutdown_backup_on_up && !h.backup && s.weight != 0 &&
      h.listener < listener_members_.size()) {
    for (const auto b : listener_members_[h.listener]) {
      if (b < servers_.size() && servers_[b].exists && servers_[b].h.backup) {
        shutdown_sessions(b);
      }
    }
  }
  std::uint32_t active = 0;
  std::uint32_t backups = 0;
  count(h.listener, active, backups);
  const Transition t = transition_of(h, active, backups);
  log(LogLevel::kNotice, transition_message(t));
}

// server_warmup() every second: weight = (16 * elapsed + slowstart) / slowstart sixteenths,
// in whole seconds, until slowstart has passed.
void Engine::ramp(std::uint16_t index) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  const std::uint64_t elapsed_s = (now_ - s.ramp_start) / 1000;
  if (elapsed_s >= s.slowstart_s) {
    h.starting = false;
    h.weight_pct = 100;
  } else if (s.dynamic_lb) {
    const std::uint64_t w = (kWeightScale * elapsed_s + s.slowstart_s) / s.slowstart_s;
    h.weight_pct = static_cast<std::uint8_t>((w * 100 + kWeightScale - 1) / kWeightScale);
  }
  s.next_ramp += kWarmupStepMs;
  if (s.next_ramp <= now_) {
    s.next_ramp = now_ + kWarmupStepMs;
  }
  publish(index);
}

// `observe layer4` (__health_adjust()): once error-limit consecutive connection errors are
// counted, on-error acts and the count starts again. The count is the dataplane's, so the
// engine remembers where it stood when it last acted (or a check passed) and acts again after
// error-limit more; a count that went down means a connection succeeded in between.
void Engine::observe(std::uint16_t index) {
  Server& s = servers_[index];
  if (!hooks_.connect_errors || s.error_limit == 0) {
    return;
  }
  const std::uint64_t now_count = hooks_.connect_errors(index);
  if (now_count < s.observe_base) {
    s.observe_base = 0;
  }
  const std::uint64_t errors = now_count - s.observe_base;
  if (errors < s.error_limit) {
    return;
  }
  s.observe_base = now_count;
  ServerHealth& h = s.h;
  ++h.observe_actions;
  std::string d = "Detected ";
  d += std::to_string(errors);
  d += " consecutive errors, last one was: L4 unsuccessful connection";
  switch (s.on_error) {
    case config::OnError::kFastinter:
      break;
    case config::OnError::kSuddenDeath:
      // "simulate a pre-fatal failed health check": one more failure brings it down.
      if (h.health > h.rise) {
        h.health = h.rise + 1;
      }
      record(index, CheckStatus::kHana, 0, d, -1);
      break;
    case config::OnError::kFailCheck:
      record(index, CheckStatus::kHana, 0, d, -1);
      break;
    case config::OnError::kMarkDown:
      h.health = h.rise;
      record(index, CheckStatus::kHana, 0, d, -1);
      break;
  }
  // Every on-error mode brings the next check forward to `fastinter`, when one is set.
  if (s.fastinter_set && s.running == 0 && now_ + s.fastinter < s.next_check) {
    schedule(index, now_ + s.fastinter);
  }
}

void Engine::shutdown_sessions(std::uint16_t server) {
  dataplane::ProbeCommand c{};
  c.op = dataplane::ProbeOp::kShutdownServer;
  c.server = server;
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    enqueue(w, c);
  }
}

void Engine::enqueue(std::uint32_t worker, const dataplane::ProbeCommand& command) {
  Worker& w = workers_[worker];
  if (w.pending.empty() && transport_.send(worker, command)) {
    return;
  }
  w.pending.push_back(command);
}

void Engine::flush() {
  for (std::uint32_t i = 0; i < workers_.size(); ++i) {
    Worker& w = workers_[i];
    while (!w.pending.empty() && transport_.send(i, w.pending.front())) {
      w.pending.pop_front();
    }
  }
}

}  // namespace postern::control::health

namespace postern::control::health {

// Closes the check in flight politely, without a verdict, and forgets the next one.
void Engine::stop_check(std::uint16_t index) {
  Server& s = servers_[index];
  if (s.running != 0) {
    auto it = running_.find(s.running);
    if (it != running_.end()) {
      Actions acts;
      it->second.conv->cancel(acts);
      process(s.running, std::move(acts));
    }
  }
  ++s.seq;
  s.h.check_running = false;
}

// srv_append_status()'s tail: ". N active and M backup servers left. K sessions active, 0
// requeued, 0 remaining in queue." (Postern has no queue.)
std::string Engine::counts_text(std::uint16_t index, bool online) const {
  const ServerHealth& h = servers_[index].h;
  std::uint32_t active = 0;
  std::uint32_t backups = 0;
  count(h.listener, active, backups);
  std::string m = ". ";
  m += std::to_string(active);
  m += " active and ";
  m += std::to_string(backups);
  m += " backup servers ";
  m += online ? "online" : "left";
  m += '.';
  if (!online) {
    m += ' ';
    m += std::to_string(hooks_.sessions ? hooks_.sessions(index) : 0);
    m += " sessions active, 0 requeued, 0 remaining in queue";
  }
  m += '.';
  return m;
}

void Engine::enter_maint(std::uint16_t index) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  std::uint32_t active = 0;
  std::uint32_t backups = 0;
  count(h.listener, active, backups);
  const std::uint32_t before = active + backups;
  stop_check(index);
  h.disabled = true;
  h.drain = false;
  h.starting = false;
  h.last_change_ms = now_;
  h.up = false;
  publish(index);
  std::string m = "Server ";
  m += h.name;
  m += " is going DOWN for maintenance";
  m += counts_text(index, false);
  log(LogLevel::kWarning, m);
  count(h.listener, active, backups);
  if (before != 0 && active == 0 && backups == 0 && h.listener < listener_names_.size()) {
    log(LogLevel::kEmerg, no_server_message(listener_names_[h.listener]));
  }
  flush();
}

// Out of MAINT: a checked server is UP at health = rise and checked at once ("start OK but
// check immediately"); one without checks is running.
void Engine::leave_maint(std::uint16_t index, AdminState to) {
  Server& s = servers_[index];
  ServerHealth& h = s.h;
  h.disabled = false;
  h.drain = to == AdminState::kDrain;
  h.downtime_ms += now_ > h.last_change_ms ? now_ - h.last_change_ms : 0;
  h.last_change_ms = now_;
  h.up = true;
  h.starting = false;
  h.weight_pct = 100;
  h.health = h.rise;
  if (h.checked && s.plan) {
    schedule(index, now_);
  }
  publish(index);
  std::string m = "Server ";
  m += h.name;
  m += h.drain ? " is UP/DRAIN (leaving forced maintenance)."
               : " is UP/READY (leaving forced maintenance).";
  log(LogLevel::kNotice, m);
}

void Engine::set_admin(std::uint16_t index, AdminState state) {
  if (index >= servers_.size() || !servers_[index].exists) {
    return;
  }
  ServerHealth& h = servers_[index].h;
  if (state == AdminState::kMaint) {
    if (!h.disabled) {
      enter_maint(index);
    }
    return;
  }
  if (h.disabled) {
    leave_maint(index, state);
    return;
  }
  const bool drain = state == AdminState::kDrain;
  if (drain == h.drain) {
    return;
  }
  h.drain = drain;
  std::string m = "Server ";
  m += h.name;
  if (drain) {
    m += " enters drain state";
    m += counts_text(index, false);
  } else {
    m += " is ";
    m += h.up ? "UP" : "DOWN";
    m += " (leaving forced drain).";
  }
  log(LogLevel::kNotice, m);
}

void Engine::set_weight(std::uint16_t index, std::uint32_t weight) {
  if (index >= servers_.size() || !servers_[index].exists) {
    return;
  }
  servers_[index].op_weight = static_cast<std::int32_t>(weight);
}

}  // namespace postern::control::health
