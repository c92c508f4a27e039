// Config model -> dataplane Settings and Snapshot.
#include "postern/control/dataplane_config.hpp"

#include <rte_byteorder.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <type_traits>

namespace postern::control {
namespace {

using config::Family;

// Defaults where the file leaves a timeout out (HAProxy would wait forever and warns; a
// splice without an idle limit would leak flows, so Postern picks finite values).
constexpr std::uint32_t kDefaultConnectMs = 5000;
constexpr std::uint32_t kDefaultIdleMs = 300000;
// A half-closed flow waits this long at most for the other side's FIN when the file sets
// neither `timeout client-fin` nor `timeout server-fin`.
constexpr std::uint32_t kDefaultFinMs = 30000;

dataplane::SynProxyMode syn_proxy_mode(config::SynProxy mode) {
  switch (mode) {
    case config::SynProxy::kOn:
      return dataplane::SynProxyMode::kOn;
    case config::SynProxy::kOff:
      return dataplane::SynProxyMode::kOff;
    case config::SynProxy::kAuto:
      break;
  }
  return dataplane::SynProxyMode::kAuto;
}

// `defense:`, or its defaults when no file has the section (the model's defaults are the
// snapshot's).
dataplane::Defense compile_defense(const std::optional<config::Defense>& given) {
  const config::Defense d = given.value_or(config::Defense{});
  dataplane::Defense out;
  out.syn_proxy = syn_proxy_mode(d.syn_proxy);
  out.syn_proxy_above = d.syn_proxy_above;
  out.syn_proxy_mss = static_cast<std::uint16_t>(d.syn_proxy_mss);
  out.half_open_per_source = d.half_open_per_source;
  out.half_open_timeout_ms = static_cast<std::uint32_t>(d.half_open_timeout);
  out.refuse = d.refuse == config::Refuse::kDrop ? dataplane::RefuseMode::kDrop
                                                 : dataplane::RefuseMode::kRst;
  out.mbuf_reserve_pct = static_cast<std::uint8_t>(d.mbuf_reserve);
  return out;
}

std::uint32_t ipv4_be(const config::IpAddress& a) {
  std::uint32_t v;
  std::memcpy(&v, a.bytes.data(), 4);
  return v;
}

bool require_v4(const config::IpAddress& a, const config::Origin& o, const char* what,
                config::Diagnostics& diags) {
  if (a.family == Family::kIpv4) {
    return true;
  }
  diags.error(o.file, o.line, o.column,
              std::string(what) + " " + a.to_string() +
                  " is IPv6; the dataplane forwards IPv4 only in this version");
  return false;
}

// A timeout in ms for the dataplane. HAProxy reads 0 as "no timeout": the longest the
// dataplane's 32-bit timers hold (about 24 days) stands for it.
std::uint32_t ms(const std::optional<config::Millis>& v, std::uint32_t fallback) {
  if (!v) {
    return fallback;
  }
  constexpr config::Millis kForever = 0x7fffffff;
  return static_cast<std::uint32_t>(*v == 0 ? kForever
                                            : std::clamp<config::Millis>(*v, 1, kForever));
}

}  // namespace

dataplane::Settings build_settings(const config::Config& cfg,
                                   const std::vector<std::string>& extra_eal,
                                   config::Diagnostics& diags) {
  dataplane::Settings s;
  if (!cfg.dataplane) {
    diags.error("", 0, 0,
                "no 'dataplane:' section: give a YAML file with interfaces, VIPs and source "
                "addresses (see docs/configuration.md)");
    return s;
  }
  const config::Dataplane& d = *cfg.dataplane;
  s.eal_args = d.eal;
  s.eal_args.insert(s.eal_args.end(), extra_eal.begin(), extra_eal.end());
  s.workers = d.workers;
  s.flows = d.flows;
  for (const auto& i : d.interfaces) {
    dataplane::InterfaceSettings is;
    is.name = i.name;
    is.device = i.device;
    if (require_v4(i.address.address, i.origin, "interface address", diags)) {
      is.ip = ipv4_be(i.address.address);
      is.prefix_len = i.address.length;
    }
    s.interfaces.push_back(is);
  }
  for (const auto& r : d.routes) {
    if (require_v4(r.to.address, r.origin, "route", diags) &&
        require_v4(r.via, r.origin, "route gateway", diags)) {
      s.routes.push_back({ipv4_be(r.to.address), r.to.length, ipv4_be(r.via)});
    }
  }
  for (const auto& a : d.source_addresses) {
    if (require_v4(a, d.origin, "source address", diags)) {
      s.source_addresses.push_back(ipv4_be(a));
    }
  }
  return s;
}

std::unique_ptr<dataplane::Snapshot> build_snapshot(
    const config::Config& cfg, const dataplane::Settings& settings, std::uint32_t generation,
    config::Diagnostics& diags, const dataplane::Snapshot* previous, const SlotBusy& busy) {
  auto snap = std::make_unique<dataplane::Snapshot>();
  snap->generation = generation;
  snap->global_maxconn = cfg.global.maxconn.value_or(0);
  snap->defense = compile_defense(cfg.defense);
  if (cfg.dataplane) {
    for (const auto& v : cfg.dataplane->vips) {
      if (require_v4(v, cfg.dataplane->origin, "VIP", diags)) {
        snap->vips.push_back(ipv4_be(v));
      }
    }
  }
  // Listeners and servers keep their index across reloads, found by name (a server's name
  // is "listener/server"): flows point at indices, and so do the workers' counts. What a
  // reload removes stays as a retired slot that takes no new connection while it drains;
  // what it adds is appended (DESIGN.md "Config snapshots and reload").
  std::map<std::string, std::uint16_t> listener_index_of;
  std::map<std::string, std::uint16_t> server_index_of;
  if (previous != nullptr) {
    for (const auto& pl : previous->listeners) {
      listener_index_of.emplace(pl.name, static_cast<std::uint16_t>(snap->listeners.size()));
      dataplane::ListenerSlot retired;
      retired.name = pl.name;
      retired.retired = true;
      snap->listeners.push_back(retired);
    }
    for (const auto& ps : previous->servers) {
      server_index_of.emplace(ps.name, static_cast<std::uint16_t>(snap->servers.size()));
      dataplane::ServerSlot retired = ps;
      retired.retired = true;
      snap->servers.push_back(retired);
    }
  }
  // Workers size their per-slot counts for the most slots a snapshot may hold. At that limit
  // a drained slot, retired since the previous reload (so no worker can still pick it), is
  // given to the new name.
  auto slot = [&](auto& table, auto& index_of, const auto& before, const std::string& name,
                  const config::Origin& origin) -> std::optional<std::uint16_t> {
    if (auto it = index_of.find(name); it != index_of.end()) {
      return it->second;
    }
    const bool listeners =
        std::is_same_v<std::decay_t<decltype(table)>, std::vector<dataplane::ListenerSlot>>;
    const std::size_t most = listeners ? dataplane::kMaxListeners : dataplane::kMaxServers;
    if (table.size() < most) {
      const auto i = static_cast<std::uint16_t>(table.size());
      table.emplace_back();
      index_of.emplace(name, i);
      return i;
    }
    for (std::size_t i = 0; i < before.size() && busy; ++i) {
      const auto index = static_cast<std::uint16_t>(i);
      auto old = index_of.find(before[i].name);
      if (before[i].retired && old != index_of.end() && old->second == index &&
          !busy(listeners, index)) {
        index_of.erase(old);
        index_of.emplace(name, index);
        return index;
      }
    }
    diags.error(origin.file, origin.line, origin.column,
                std::string("too many ") + (listeners ? "listeners" : "servers") + " (at most " +
                    std::to_string(most) +
                    ", counting those removed by reloads that still have connections)");
    return std::nullopt;
  };
  static const std::vector<dataplane::ListenerSlot> kNoListeners;
  static const std::vector<dataplane::ServerSlot> kNoServers;
  const auto& listeners_before = previous != nullptr ? previous->listeners : kNoListeners;
  const auto& servers_before = previous != nullptr ? previous->servers : kNoServers;
  for (const auto& l : cfg.listeners) {
    const auto listener_slot =
        slot(snap->listeners, listener_index_of, listeners_before, l.name, l.origin);
    if (!listener_slot) {
      continue;
    }
    dataplane::ListenerSlot ls;
    ls.name = l.name;
    ls.maxconn = l.maxconn.value_or(0);
    ls.retries = static_cast<std::uint8_t>(std::min<std::uint32_t>(l.retries, 255));
    ls.timeout_connect_ms = ms(l.timeouts.connect, kDefaultConnectMs);
    // `timeout tunnel` governs established connections when set, as in HAProxy.
    ls.timeout_client_ms =
        ms(l.timeouts.tunnel ? l.timeouts.tunnel : l.timeouts.client, kDefaultIdleMs);
    ls.timeout_server_ms =
        ms(l.timeouts.tunnel ? l.timeouts.tunnel : l.timeouts.server, kDefaultIdleMs);
    const std::optional<config::Millis> fin =
        l.timeouts.client_fin && l.timeouts.server_fin
            ? std::max(l.timeouts.client_fin, l.timeouts.server_fin)
            : (l.timeouts.client_fin ? l.timeouts.client_fin : l.timeouts.server_fin);
    ls.timeout_fin_ms =
        std::min(ms(fin, kDefaultFinMs), std::max(ls.timeout_client_ms, ls.timeout_server_ms));
    ls.syn_proxy = l.syn_proxy ? syn_proxy_mode(*l.syn_proxy) : snap->defense.syn_proxy;
    const std::uint16_t listener_index = *listener_slot;
    for (const auto& b : l.binds) {
      if (!require_v4(b.endpoint.address, b.origin, "bind address", diags)) {
        continue;
      }
      dataplane::BindEntry be;
      be.vip = ipv4_be(b.endpoint.address);
      be.port = b.endpoint.port;
      be.listener = listener_index;
      be.accept_proxy = b.accept_proxy;
      snap->binds.push_back(be);
      // `bind ADDR:PORT` with an address of its own makes that address a VIP, as HAProxy
      // binds it: Postern answers ARP for it and announces it when a reload adds it.
      if (be.vip != 0 && !snap->is_vip(be.vip)) {
        snap->vips.push_back(be.vip);
      }
    }
    for (const auto& sv : l.servers) {
      if (!sv.endpoint || !require_v4(sv.endpoint->address, sv.origin, "server", diags)) {
        continue;
      }
      dataplane::ServerSlot ss;
      ss.name = l.name + "/" + sv.name;
      const auto server_slot =
          slot(snap->servers, server_index_of, servers_before, ss.name, sv.origin);
      if (!server_slot) {
        continue;
      }
      ss.ip = ipv4_be(sv.endpoint->address);
      ss.port = rte_cpu_to_be_16(sv.endpoint->port);
      ss.weight = static_cast<std::uint16_t>(sv.weight);
      ss.backup = sv.backup;
      ss.disabled = sv.disabled;
      ss.send_proxy = sv.send_proxy_v2;
      ss.maxconn = sv.maxconn.value_or(0);
      const auto hop = dataplane::route_lookup(settings, ss.ip);
      if (!hop) {
        diags.error(sv.origin.file, sv.origin.line, sv.origin.column,
                    "server '" + ss.name + "' at " + sv.endpoint->address.to_string() +
                        " is on no interface's subnet and no route reaches it");
        continue;
      }
      ss.port_id = static_cast<std::uint8_t>(settings.interfaces[hop->interface].port_id);
      ss.next_hop = hop->next_hop;
      snap->servers[*server_slot] = ss;
      ls.servers.push_back(*server_slot);
    }
    snap->listeners[listener_index] = ls;
  }
  return snap;
}

}  // namespace postern::control
