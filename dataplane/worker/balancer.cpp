// Balancer state: one running weight per server slot, sized once for the most slots a
// snapshot may have, so adopting a snapshot on a worker never allocates.
#include "worker/balancer.hpp"

#include <algorithm>

namespace postern::dataplane {

Balancer::Balancer() : current_(kMaxServers, 0) {}

void Balancer::reset(const Snapshot& snap) noexcept {
  std::fill_n(current_.begin(), std::min(snap.servers.size(), current_.size()), 0);
}

}  // namespace postern::dataplane
