// Building the admin view from the configuration, the snapshot and the health engine, and
// sampling the workers' counters.
#include "postern/control/admin_view.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <span>

#include "postern/dataplane/runtime.hpp"

namespace postern::control::admin {

const ServerView* AdminView::find_server(const std::string& listener,
                                         const std::string& server) const {
  for (const ServerView& s : servers) {
    if (!s.retired && s.listener == listener && s.server == server) {
      return &s;
    }
  }
  return nullptr;
}

const ListenerView* AdminView::find_listener(const std::string& name) const {
  for (const ListenerView& l : listeners) {
    if (!l.retired && l.name == name) {
      return &l;
    }
  }
  return nullptr;
}

namespace {

std::string ipv4_text(std::uint32_t be) {
  const auto* b = reinterpret_cast<const unsigned char*>(&be);
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (i != 0) {
      out += '.';
    }
    out += std::to_string(b[i]);
  }
  return out;
}

// HAProxy's backend state (promex backend_status): UP while its total weight is above zero
// (a usable active server, or a usable backup), or when it has no server at all. Its changes
// are counted from one view to the next: the view is rebuilt every 250 ms and at every
// operator's change, and a backend cannot go DOWN and UP again faster than checks can.
void track_backend(ListenerView& l, const std::vector<ServerView>& servers,
                   const AdminView* previous, std::uint64_t now_ms) {
  bool any = false;
  bool usable_one = false;
  for (const std::uint16_t slot : l.servers) {
    if (slot < servers.size() && !servers[slot].retired) {
      any = true;
      usable_one = usable_one || takes_connections(servers[slot]);
    }
  }
  l.up = usable_one || !any;
  l.last_change_ms = now_ms;
  if (previous == nullptr || l.slot >= previous->listeners.size() ||
      previous->listeners[l.slot].name != l.name) {
    return;  // new: no history
  }
  const ListenerView& p = previous->listeners[l.slot];
  l.down_transitions = p.down_transitions;
  l.downtime_ms = p.downtime_ms;
  l.last_change_ms = p.last_change_ms;
  if (p.up == l.up) {
    return;
  }
  if (l.up) {
    l.downtime_ms += now_ms - std::min(now_ms, p.last_change_ms);
  } else {
    ++l.down_transitions;
  }
  l.last_change_ms = now_ms;
}

}  // namespace

std::uint32_t weight_now(const ServerView& s) {
  // HAProxy's eweight: the user weight times the slowstart share, rounded up; slowstart starts
  // at a share above 0, so a weight above 0 never shows 0 (server_recalc_eweight()).
  const std::uint32_t pct = std::clamp<std::uint32_t>(s.health.weight_pct, 1, 100);
  return (s.uweight * pct + 99) / 100;
}

bool takes_connections(const ServerView& s) {
  return !s.retired && s.admin == AdminState::kReady && s.health.up && s.uweight > 0;
}

std::shared_ptr<const AdminView> build_view(const dataplane::Snapshot& snap,
                                            const health::Engine& engine, const Overrides& o,
                                            const ViewMeta& meta) {
  auto v = std::make_shared<AdminView>();
  v->built_ms = meta.now_ms;
  v->unix_offset_ms = meta.unix_offset_ms;
  v->start_unix_s = meta.start_unix_s;
  v->generation = snap.generation;
  v->config_hash = meta.config_hash;
  v->node = meta.node;
  v->workers = meta.workers;
  v->reloads_ok = meta.reloads_ok;
  v->reloads_failed = meta.reloads_failed;
  v->global_maxconn = snap.global_maxconn;
  v->checks_in_flight = meta.checks_in_flight;
  v->probe_slots_in_use = meta.probe_slots_in_use;
  v->log_lines = meta.log_lines;
  v->log_send_failures = meta.log_send_failures;
  for (std::uint16_t i = 0; i < snap.listeners.size(); ++i) {
    const dataplane::ListenerSlot& l = snap.listeners[i];
    ListenerView lv;
    lv.slot = i;
    lv.name = l.name;
    lv.servers = l.servers;
    lv.maxconn = l.maxconn;
    lv.retired = l.retired;
    for (const dataplane::BindEntry& b : snap.binds) {
      if (b.listener == i) {
        lv.binds.push_back((b.vip == 0 ? std::string("0.0.0.0") : ipv4_text(b.vip)) + ":" +
                           std::to_string(b.port));
      }
    }
    v->listeners.push_back(std::move(lv));
  }
  for (std::uint16_t i = 0; i < snap.servers.size(); ++i) {
    const dataplane::ServerSlot& sv = snap.servers[i];
    ServerView s;
    s.slot = i;
    s.name = sv.name;
    const auto slash = sv.name.find('/');
    s.listener = sv.name.substr(0, slash);
    s.server = slash == std::string::npos ? sv.name : sv.name.substr(slash + 1);
    s.address = ipv4_text(sv.ip);
    s.port = static_cast<std::uint16_t>((sv.port >> 8) | ((sv.port & 0xff) << 8));
    s.weight = sv.weight;
    s.uweight = o.weight[i] >= 0 ? static_cast<std::uint32_t>(o.weight[i]) : sv.weight;
    s.backup = sv.backup;
    s.retired = sv.retired;
    s.admin = sv.disabled ? AdminState::kMaint : o.admin[i];
    if (const health::ServerHealth* h = engine.health(i)) {
      s.health = *h;
    }
    v->servers.push_back(std::move(s));
  }
  for (ListenerView& l : v->listeners) {
    track_backend(l, v->servers, meta.previous.get(), meta.now_ms);
  }
  return v;
}

Sample sample(const dataplane::Runtime& rt, std::size_t listeners, std::size_t servers) {
  Sample s;
  s.unix_s = static_cast<std::uint64_t>(std::time(nullptr));
  s.steady_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now().time_since_epoch())
                                               .count());
  servers = std::min(servers, dataplane::kMaxServers);
  listeners = std::min(listeners, dataplane::kMaxListeners);
  for (auto* v : {&s.server_active, &s.server_total, &s.server_bytes_in, &s.server_bytes_out,
                  &s.server_errors, &s.server_attempts, &s.server_connects, &s.server_connect_ms}) {
    v->assign(servers, 0);
  }
  s.listener_active.assign(listeners, 0);
  s.listener_total.assign(listeners, 0);
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    s.per_worker.push_back(rt.counters(w));
    s.total += s.per_worker.back();
    const dataplane::WorkerSlots& slots = rt.slots(w);
    for (std::size_t i = 0; i < servers; ++i) {
      s.server_active[i] += slots.server_active[i].get();
      s.server_total[i] += slots.server_total[i].get();
      s.server_bytes_in[i] += slots.server_traffic[i].bytes_in.get();
      s.server_bytes_out[i] += slots.server_traffic[i].bytes_out.get();
      s.server_errors[i] += slots.server_errors_total[i].get();
      s.server_attempts[i] += slots.server_attempts[i].get();
      s.server_connects[i] += slots.server_connects[i].get();
      s.server_connect_ms[i] += slots.server_connect_ms[i].get();
    }
    for (std::size_t i = 0; i < listeners; ++i) {
      s.listener_active[i] += slots.listener_active[i].get();
      s.listener_total[i] += slots.listener_total[i].get();
    }
    s.handoff_queued.push_back(rt.handoff_queued(w));
    s.handoff_capacity.push_back(rt.handoff_capacity(w));
  }
  s.tsc_hz = rt.tsc_hz();
  s.flow_capacity = rt.settings().flows;
  s.mbufs = rt.mbuf_pool();
  for (std::size_t i = 0; i < rt.settings().interfaces.size(); ++i) {
    s.interface_names.push_back(rt.settings().interfaces[i].name);
    s.interfaces.push_back(rt.interface_stats(i));
  }
  return s;
}

namespace {

// The cumulative per-slot counts: what a reused slot starts again from zero.
using Counts = std::vector<std::uint64_t> Sample::*;
constexpr Counts kServerCounts[] = {&Sample::server_total,     &Sample::server_bytes_in,
                                    &Sample::server_bytes_out, &Sample::server_errors,
                                    &Sample::server_attempts,  &Sample::server_connects,
                                    &Sample::server_connect_ms};
constexpr Counts kListenerCounts[] = {&Sample::listener_total};

void keep(Sample& bases, const Sample& now, std::span<const Counts> counts, std::size_t slot,
          std::size_t size) {
  for (const Counts c : counts) {
    std::vector<std::uint64_t>& b = bases.*c;
    if (b.size() < size) {
      b.resize(size, 0);
    }
    b[slot] = slot < (now.*c).size() ? (now.*c)[slot] : 0;
  }
}

void less(Sample& s, const Sample& bases, std::span<const Counts> counts) {
  for (const Counts c : counts) {
    std::vector<std::uint64_t>& v = s.*c;
    const std::vector<std::uint64_t>& b = bases.*c;
    for (std::size_t i = 0; i < v.size() && i < b.size(); ++i) {
      v[i] -= std::min(v[i], b[i]);
    }
  }
}

}  // namespace

void take_bases(Sample& bases, const Sample& now, const dataplane::Snapshot& before,
                const dataplane::Snapshot& after) {
  for (std::size_t i = 0; i < before.servers.size() && i < after.servers.size(); ++i) {
    if (before.servers[i].name != after.servers[i].name) {
      keep(bases, now, kServerCounts, i, dataplane::kMaxServers);
    }
  }
  for (std::size_t i = 0; i < before.listeners.size() && i < after.listeners.size(); ++i) {
    if (before.listeners[i].name != after.listeners[i].name) {
      keep(bases, now, kListenerCounts, i, dataplane::kMaxListeners);
    }
  }
}

void subtract_bases(Sample& s, const Sample& bases) {
  less(s, bases, kServerCounts);
  less(s, bases, kListenerCounts);
}

}  // namespace postern::control::admin
