// Balancer state sizing.
#include "worker/balancer.hpp"

namespace postern::dataplane {

void Balancer::reset(const Snapshot& snap) {
  current_.assign(snap.servers.size(), 0);
}

}  // namespace postern::dataplane
