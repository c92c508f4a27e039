// Neighbour cache storage: open addressing over a fixed array. Slots are never moved, and a
// lookup scans a bounded window, so freeing a slot needs no tombstones.
#include "net/neighbour.hpp"

namespace postern::dataplane {
namespace {
constexpr std::uint32_t kWindow = 16;
}

NeighbourCache::Entry* NeighbourCache::find(std::uint32_t ip) noexcept {
  const std::uint32_t h = home(ip);
  for (std::uint32_t i = 0; i < kWindow; ++i) {
    Entry& e = entries_[(h + i) % kEntries];
    if (e.state != State::kFree && e.ip == ip) {
      return &e;
    }
  }
  return nullptr;
}

const NeighbourCache::Entry* NeighbourCache::find(std::uint32_t ip) const noexcept {
  return const_cast<NeighbourCache*>(this)->find(ip);
}

NeighbourCache::Entry* NeighbourCache::find_or_create(std::uint32_t ip) noexcept {
  if (Entry* e = find(ip)) {
    return e;
  }
  const std::uint32_t h = home(ip);
  for (std::uint32_t i = 0; i < kWindow; ++i) {
    Entry& e = entries_[(h + i) % kEntries];
    if (e.state == State::kFree) {
      e = Entry{};
      e.ip = ip;
      e.state = State::kIncomplete;
      return &e;
    }
  }
  return nullptr;
}

std::uint32_t NeighbourCache::slot_of(std::uint32_t ip) const noexcept {
  const Entry* e = find(ip);
  return e == nullptr ? kNoSlot : static_cast<std::uint32_t>(e - entries_.data());
}

std::uint32_t NeighbourCache::waiting() const noexcept {
  std::uint32_t n = 0;
  for (const Entry& e : entries_) {
    n += e.pending_count;
  }
  return n;
}

const rte_ether_addr* NeighbourCache::lookup(std::uint32_t ip) const noexcept {
  const Entry* e = find(ip);
  if (e == nullptr || !e->has_mac) {
    return nullptr;
  }
  // A stale-but-known MAC is still used while its refresh is in flight.
  return &e->mac;
}

bool NeighbourCache::queue_full(std::uint32_t ip) const noexcept {
  if (const Entry* e = find(ip)) {
    return !e->has_mac && e->pending_count == kPendingPerEntry;
  }
  const std::uint32_t h = home(ip);
  for (std::uint32_t i = 0; i < kWindow; ++i) {
    if (entries_[(h + i) % kEntries].state == State::kFree) {
      return false;
    }
  }
  return true;
}

bool NeighbourCache::resolve(std::uint32_t ip, std::uint8_t port_id,
                             std::uint64_t now_ms) noexcept {
  if (find(ip) != nullptr) {
    return false;
  }
  Entry* e = find_or_create(ip);
  if (e == nullptr) {
    return false;
  }
  e->port_id = port_id;
  e->probes = 1;
  e->probe_ms = now_ms;
  return true;
}

NeighbourCache::QueueResult NeighbourCache::enqueue(std::uint32_t ip, std::uint8_t port_id,
                                                    rte_mbuf* m, std::uint64_t now_ms) noexcept {
  Entry* e = find_or_create(ip);
  if (e == nullptr || e->pending_count == kPendingPerEntry) {
    return QueueResult::kFull;
  }
  e->port_id = port_id;
  e->pending[e->pending_count++] = m;
  if (e->probes == 0 && e->state == State::kIncomplete) {
    e->probes = 1;
    e->probe_ms = now_ms;
    return QueueResult::kQueuedProbe;
  }
  return QueueResult::kQueued;
}

}  // namespace postern::dataplane
