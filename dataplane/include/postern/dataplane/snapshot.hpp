// The running configuration as workers read it: compiled by the control thread into dense
// arrays indexed by small integers, immutable once published (DESIGN.md "Config snapshots").
// Part of the dataplane's public header set.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace postern::dataplane {

inline constexpr std::uint16_t kNoListener = 0xffff;
// The most listener and server slots a snapshot may hold, retired ones included: workers
// size their per-slot counts for these at start.
inline constexpr std::size_t kMaxListeners = 1024;
inline constexpr std::size_t kMaxServers = 4096;

struct ServerSlot {
  std::string name;          // "listener/server", for metrics only (never read per packet)
  std::uint32_t ip = 0;      // network order
  std::uint16_t port = 0;    // network order
  std::uint16_t weight = 1;  // 0: no new connections
  bool backup = false;
  bool disabled = false;
  bool send_proxy = false;
  std::uint32_t maxconn = 0;   // 0: unlimited
  std::uint8_t port_id = 0;    // egress DPDK port
  std::uint32_t next_hop = 0;  // network order: the server itself or a gateway
  // Removed by a reload: kept so indices stay stable while its flows drain, never chosen.
  bool retired = false;
};

// How a listener meets SYNs (issue 9): `on` answers every SYN with a SYN cookie and opens the
// server side only once the client's ACK proves its address; `auto` does so while the worker
// holds more half-open flows than Defense::syn_proxy_above; `off` forwards every SYN at once.
enum class SynProxyMode : std::uint8_t { kAuto, kOn, kOff };
// How a new connection is refused when a resource runs out: a RST, or silence.
enum class RefuseMode : std::uint8_t { kRst, kDrop };

// Postern's own `defense:` settings: how the dataplane holds up under hostile traffic.
// Reloadable; a listener may override the SYN proxy mode.
struct Defense {
  SynProxyMode syn_proxy = SynProxyMode::kAuto;
  // `auto` switches a worker's SYN proxy on above this many half-open flows (client SYN seen,
  // client's handshake ACK not yet), and off once it has seen fewer SYNs than this per second
  // for ten seconds.
  std::uint32_t syn_proxy_above = 1024;
  std::uint16_t syn_proxy_mss = 1460;  // the MSS the SYN proxy announces to clients
  // Half-open flows one client address may hold in a worker (0: no limit, the default: a
  // proxy tier or a NAT opens hundreds at once from one address, and `auto` meets a flood
  // from one address as it meets a spoofed one).
  std::uint32_t half_open_per_source = 0;
  // A flow whose client has not completed its handshake this long after the server's SYN-ACK
  // is reset (independent of `timeout connect`, which is about a silent server). 16 s lets a
  // client on a lossy path answer the server's SYN-ACK retransmissions at 1, 3, 7 and 15 s.
  std::uint32_t half_open_timeout_ms = 16000;
  RefuseMode refuse = RefuseMode::kRst;
  // New connections are refused while fewer than this share (percent) of the mbuf pool is
  // free, so established flows keep the buffers they need.
  std::uint8_t mbuf_reserve_pct = 10;
};

struct ListenerSlot {
  std::string name;
  std::vector<std::uint16_t> servers;  // indices into Snapshot::servers, in file order
  bool retired = false;                // removed by a reload: no binds, no servers
  std::uint32_t maxconn = 0;           // 0: unlimited
  std::uint8_t retries = 3;
  std::uint32_t timeout_connect_ms = 5000;
  std::uint32_t timeout_client_ms = 50000;
  std::uint32_t timeout_server_ms = 50000;
  // Half-closed flows (one FIN seen): `timeout client-fin` / `server-fin`, else short.
  std::uint32_t timeout_fin_ms = 30000;
  // The listener's own `syn_proxy`, else Defense::syn_proxy.
  SynProxyMode syn_proxy = SynProxyMode::kAuto;
};

struct BindEntry {
  std::uint32_t vip = 0;   // network order
  std::uint16_t port = 0;  // host order
  std::uint16_t listener = kNoListener;
  bool accept_proxy = false;
};

// What the health engine publishes for each server slot and every worker reads when it picks
// a server: whether it takes new connections, and the share of its weight it gets now
// (`slowstart` ramps it up to 100). Indexed like the snapshot's servers and sized for the most
// slots a snapshot may hold; the runtime owns it, so it outlives every snapshot.
// The runtime API adds the operator's say: a drained or maintenance server takes no new
// connection (its open ones go on), and a weight set at run time replaces the configured one.
struct ServerLive {
  std::atomic<std::uint8_t> up{1};
  std::atomic<std::uint8_t> weight_pct{100};
  std::atomic<std::uint8_t> admin{0};         // 0 ready, 1 drain, 2 maint
  std::atomic<std::int16_t> user_weight{-1};  // 0..256 from the runtime API; -1: configured
};

struct Snapshot {
  std::uint32_t generation = 0;
  std::uint32_t global_maxconn = 0;  // 0: unlimited
  Defense defense;
  std::vector<ListenerSlot> listeners;
  std::vector<ServerSlot> servers;
  std::vector<BindEntry> binds;  // `bind VIP:PORT`; 0.0.0.0 means every VIP
  std::vector<std::uint32_t> vips;

  // Health state, written by the health engine, read by workers (kMaxServers entries); set by
  // the runtime when it publishes the snapshot. Null: every server counts as up.
  const ServerLive* live = nullptr;

  // Finds the listener for a SYN to vip:port (port in host order).
  const BindEntry* find_bind(std::uint32_t vip, std::uint16_t port) const noexcept {
    const BindEntry* wildcard = nullptr;
    for (const auto& b : binds) {
      if (b.port != port) {
        continue;
      }
      if (b.vip == vip) {
        return &b;
      }
      if (b.vip == 0) {
        wildcard = &b;
      }
    }
    return wildcard;
  }
  bool is_vip(std::uint32_t ip) const noexcept {
    for (auto v : vips) {
      if (v == ip) {
        return true;
      }
    }
    return false;
  }
  bool server_usable(std::uint16_t s) const noexcept {
    const ServerSlot& sv = servers[s];
    if (sv.disabled || sv.retired) {
      return false;
    }
    if (live == nullptr) {
      return sv.weight != 0;
    }
    const ServerLive& l = live[s];
    const std::int16_t user = l.user_weight.load(std::memory_order_relaxed);
    const std::uint32_t w = user >= 0 ? static_cast<std::uint32_t>(user) : sv.weight;
    return w != 0 && l.up.load(std::memory_order_relaxed) != 0 &&
           l.admin.load(std::memory_order_relaxed) == 0;
  }
  // The weight the balancer uses now: the configured one, scaled while `slowstart` ramps it
  // (never below 1 for a usable server, as HAProxy keeps eweight >= 1).
  std::uint32_t weight_now(std::uint16_t s) const noexcept {
    if (live == nullptr) {
      return servers[s].weight;
    }
    const std::int16_t user = live[s].user_weight.load(std::memory_order_relaxed);
    const std::uint32_t w = user >= 0 ? static_cast<std::uint32_t>(user) : servers[s].weight;
    const std::uint32_t pct = live[s].weight_pct.load(std::memory_order_relaxed);
    return pct >= 100 ? w : std::max<std::uint32_t>(1, w * pct / 100);
  }
};

}  // namespace postern::dataplane
