// Server choice for new connections: smooth weighted round-robin per listener, HAProxy's
// `balance roundrobin` semantics: backup servers only when no normal server is usable (the
// first usable backup, as without `option allbackups`), disabled and weight-0 servers never.
#pragma once

#include <cstdint>
#include <vector>

#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {

inline constexpr std::uint16_t kNoServer = 0xffff;

class Balancer {
 public:
  Balancer();
  // Starts the rotation afresh for a newly adopted snapshot.
  void reset(const Snapshot& snap) noexcept;

  // Picks a server of `listener`, skipping `exclude` (a server that just failed) and servers
  // for which `full(server)` says maxconn is reached. Returns kNoServer if none is usable.
  template <typename Full>
  std::uint16_t pick(const Snapshot& snap, std::uint16_t listener, std::uint16_t exclude,
                     Full&& full) noexcept;

 private:
  std::vector<std::int32_t> current_;
};

template <typename Full>
std::uint16_t Balancer::pick(const Snapshot& snap, std::uint16_t listener, std::uint16_t exclude,
                             Full&& full) noexcept {
  const ListenerSlot& l = snap.listeners[listener];
  std::int32_t total = 0;
  std::uint16_t best = kNoServer;
  for (const std::uint16_t s : l.servers) {
    const ServerSlot& sv = snap.servers[s];
    if (sv.backup || s == exclude || !snap.server_usable(s) || full(s)) {
      continue;
    }
    const auto w = static_cast<std::int32_t>(snap.weight_now(s));
    current_[s] += w;
    total += w;
    if (best == kNoServer || current_[s] > current_[best]) {
      best = s;
    }
  }
  if (best != kNoServer) {
    current_[best] -= total;
    return best;
  }
  for (const std::uint16_t s : l.servers) {
    if (snap.servers[s].backup && s != exclude && snap.server_usable(s) && !full(s)) {
      return s;
    }
  }
  return kNoServer;
}

}  // namespace postern::dataplane
