// Building the admin view from the configuration, the snapshot and the health engine, and
// sampling the workers' counters.
#include "postern/control/admin_view.hpp"

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

}  // namespace

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
  return v;
}

Sample sample(const dataplane::Runtime& rt, std::size_t listeners, std::size_t servers) {
  Sample s;
  s.server_active.assign(servers, 0);
  s.server_total.assign(servers, 0);
  s.listener_active.assign(listeners, 0);
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    s.per_worker.push_back(rt.counters(w));
    s.total += s.per_worker.back();
    const dataplane::WorkerSlots& slots = rt.slots(w);
    for (std::size_t i = 0; i < servers && i < dataplane::kMaxServers; ++i) {
      s.server_active[i] += slots.server_active[i].get();
      s.server_total[i] += slots.server_total[i].get();
    }
    for (std::size_t i = 0; i < listeners && i < dataplane::kMaxListeners; ++i) {
      s.listener_active[i] += slots.listener_active[i].get();
    }
  }
  return s;
}

}  // namespace postern::control::admin
