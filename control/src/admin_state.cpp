// /v1/state: one JSON document for the cluster layer (the Dovecot proxy tier, orchestrators,
// other Postern nodes): every listener and server with its address, state, check, weight and
// connections, and which configuration is running where.
#include <nlohmann/json.hpp>

#include "postern/control/admin_pages.hpp"

namespace postern::control::admin {
namespace {

// HAProxy's words for a server's state: MAINT and DRAIN (the operator's) win over the
// checks' UP and DOWN.
const char* state_word(const ServerView& s) {
  if (s.admin == AdminState::kMaint) {
    return "MAINT";
  }
  if (s.admin == AdminState::kDrain) {
    return "DRAIN";
  }
  return s.health.up ? "UP" : "DOWN";
}

}  // namespace

Page state_page(const AdminView& view, const Sample& sample) {
  nlohmann::ordered_json doc;
  doc["node"] = view.node;
  doc["generation"] = view.generation;
  doc["config_hash"] = view.config_hash;
  doc["start_time"] = view.start_unix_s;
  doc["workers"] = view.workers;
  nlohmann::ordered_json listeners = nlohmann::ordered_json::array();
  for (const ListenerView& l : view.listeners) {
    if (l.retired) {
      continue;
    }
    nlohmann::ordered_json lj;
    lj["name"] = l.name;
    lj["binds"] = l.binds;
    lj["active"] = l.slot < sample.listener_active.size() ? sample.listener_active[l.slot] : 0;
    nlohmann::ordered_json servers = nlohmann::ordered_json::array();
    for (const std::uint16_t slot : l.servers) {
      if (slot >= view.servers.size()) {
        continue;
      }
      const ServerView& s = view.servers[slot];
      nlohmann::ordered_json sj;
      sj["name"] = s.server;
      sj["address"] = s.address + ":" + std::to_string(s.port);
      sj["state"] = state_word(s);
      sj["weight"] = s.uweight;
      sj["backup"] = s.backup;
      sj["active"] = slot < sample.server_active.size() ? sample.server_active[slot] : 0;
      sj["total"] = slot < sample.server_total.size() ? sample.server_total[slot] : 0;
      if (s.health.checked) {
        nlohmann::ordered_json cj;
        cj["status"] = health::status_name(s.health.status);
        cj["code"] = s.health.code;
        cj["duration_ms"] = s.health.duration_ms;
        cj["description"] = s.health.description;
        cj["last_change_s"] =
            (view.built_ms - std::min(view.built_ms, s.health.last_change_ms)) / 1000;
        sj["check"] = std::move(cj);
      }
      servers.push_back(std::move(sj));
    }
    lj["servers"] = std::move(servers);
    listeners.push_back(std::move(lj));
  }
  doc["listeners"] = std::move(listeners);
  return {"application/json", doc.dump(2) + "\n", 200};
}

}  // namespace postern::control::admin
