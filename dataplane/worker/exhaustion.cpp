// Exhaustion (issue 9): how the worker turns away a new connection when a resource runs out
// (flow table, source ports, mbufs, the neighbour queue, maxconn, servers) while the flows it
// has already accepted keep what they need. Part of the worker's new-connection step.
#include "worker/worker.hpp"

namespace postern::dataplane {

// Whether fewer mbufs are free than `defense.mbuf_reserve` percent of the pool. An
// established flow forwards each segment in the mbuf it arrived in; only segments Postern
// writes itself (the PROXY header and its retransmissions, RSTs, ARP) take a new one, and
// those are what the reserve keeps for flows already accepted.
bool Worker::mbuf_reserve_reached() noexcept {
  const std::uint8_t pct = snap_->defense.mbuf_reserve_pct;
  if (pct == 0 || deps_.pool == nullptr) {
    return false;
  }
  if (mbuf_sample_ms_ != now_ms_) {
    mbuf_sample_ms_ = now_ms_;
    const std::uint64_t avail = rte_mempool_avail_count(deps_.pool);
    mbuf_low_ = avail * 100 < static_cast<std::uint64_t>(pct) * deps_.pool->size;
  }
  return mbuf_low_;
}

// Checks made once a server is chosen and before a flow, a source port or a neighbour queue
// slot is taken. True: the SYN was refused (and `m` consumed).
bool Worker::refused_for_resources(rte_mbuf* m, FrameView& v, std::uint16_t listener,
                                   std::uint16_t server) noexcept {
  if (mbuf_reserve_reached()) {
    log_refused(v, listener, EndCause::kResource);
    refuse(m, v, DropReason::kMbufReserve);
    return true;
  }
  // A SYN towards a server whose MAC is unknown waits in the neighbour queue; when that is
  // full the SYN would be lost after its flow and port were taken, holding both until
  // `timeout connect` for nothing.
  const ServerSlot& sv = snap_->servers[server];
  if (neighbours_.queue_full(sv.next_hop)) {
    log_refused(v, listener, EndCause::kResource);
    refuse(m, v, DropReason::kNeighbourQueueFull);
    return true;
  }
  return false;
}

}  // namespace postern::dataplane
