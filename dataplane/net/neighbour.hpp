// Neighbour cache (ARP, RFC 826) for one worker: next hop -> MAC, with a bounded queue of
// frames waiting for resolution so the first SYN towards a new server is not lost. Entries
// are refreshed before they go stale and forgotten when a resolution fails.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <vector>

namespace postern::dataplane {

class NeighbourCache {
 public:
  static constexpr std::uint32_t kEntries = 1024;
  // Frames held per unresolved next hop: a burst of new connections towards a server whose
  // MAC is not known yet waits here for the ARP reply instead of being dropped.
  static constexpr std::uint32_t kPendingPerEntry = 32;
  static constexpr std::uint64_t kReachableMs = 30000;  // then re-probed while still used
  static constexpr std::uint64_t kExpireMs = 120000;    // unanswered refresh: forgotten
  static constexpr std::uint64_t kProbeIntervalMs = 1000;
  static constexpr std::uint8_t kMaxProbes = 3;
  static constexpr std::uint64_t kScanIntervalMs = 100;

  enum class State : std::uint8_t { kFree, kIncomplete, kReachable };

  struct Entry {
    std::uint32_t ip = 0;  // network order
    State state = State::kFree;
    std::uint8_t port_id = 0;
    std::uint8_t probes = 0;
    std::uint8_t pending_count = 0;
    bool has_mac = false;  // stays set while a refresh is in flight
    rte_ether_addr mac{};
    std::uint64_t confirmed_ms = 0;
    std::uint64_t probe_ms = 0;
    std::array<rte_mbuf*, kPendingPerEntry> pending{};
  };

  NeighbourCache() : entries_(kEntries) {}

  // The MAC of `ip` if resolved.
  const rte_ether_addr* lookup(std::uint32_t ip) const noexcept;

  static constexpr std::uint32_t kNoSlot = 0xffffffffU;
  // Entries never move while they live, so a flow can keep the slot of its next hop and read
  // the MAC from there on every send: an ARP update reaches established flows at once.
  std::uint32_t slot_of(std::uint32_t ip) const noexcept;
  // The MAC in `slot` if that slot still holds a resolved `ip`.
  const rte_ether_addr* mac_at(std::uint32_t slot, std::uint32_t ip) const noexcept {
    if (slot >= kEntries) {
      return nullptr;
    }
    const Entry& e = entries_[slot];
    return (e.state != State::kFree && e.ip == ip && e.has_mac) ? &e.mac : nullptr;
  }

  enum class QueueResult : std::uint8_t { kQueuedProbe, kQueued, kFull };
  // Parks a frame for `ip` (egress `port_id`); kQueuedProbe means the caller must send an
  // ARP request now. On kFull the caller keeps ownership of the mbuf.
  QueueResult enqueue(std::uint32_t ip, std::uint8_t port_id, rte_mbuf* m,
                      std::uint64_t now_ms) noexcept;

  // True when a frame for `ip` could neither go out (no MAC) nor wait (its queue is full, or
  // no entry is free to hold it): new connections towards it are refused before any state is
  // made for them.
  bool queue_full(std::uint32_t ip) const noexcept;

  // Starts resolving `ip` (egress `port_id`) before any frame needs it, as Postern does for
  // every server when a configuration is taken up. True: the caller must send an ARP request
  // now (the entry is new); false: known, being resolved already, or no room.
  bool resolve(std::uint32_t ip, std::uint8_t port_id, std::uint64_t now_ms) noexcept;

  // Records ip -> mac (an ARP reply, or a request addressed to us) seen on `port_id`. Frames
  // that were waiting are handed to `send(port_id, mbuf, mac)`. `create` false only updates
  // existing entries; an entry made for another port is left as it is.
  template <typename Send>
  void learn(std::uint32_t ip, const rte_ether_addr& mac, std::uint8_t port_id, bool create,
             std::uint64_t now_ms, Send&& send) noexcept;

  // Periodic work: `probe(ip, port_id)` for entries to (re)resolve, `drop(mbuf)` for frames
  // whose resolution failed.
  template <typename Probe, typename Drop>
  void tick(std::uint64_t now_ms, Probe&& probe, Drop&& drop) noexcept;

  // Frames waiting for a resolution, over every entry (a scan of the table: not per packet).
  std::uint32_t waiting() const noexcept;

 private:
  Entry* find(std::uint32_t ip) noexcept;
  const Entry* find(std::uint32_t ip) const noexcept;
  Entry* find_or_create(std::uint32_t ip) noexcept;
  std::uint32_t home(std::uint32_t ip) const noexcept { return (ip * 2654435761U) % kEntries; }

  std::vector<Entry> entries_;
  std::uint64_t last_scan_ms_ = 0;
};

template <typename Send>
void NeighbourCache::learn(std::uint32_t ip, const rte_ether_addr& mac, std::uint8_t port_id,
                           bool create, std::uint64_t now_ms, Send&& send) noexcept {
  Entry* e = find(ip);
  if (e != nullptr && e->port_id != port_id) {
    // Known behind another port: a neighbour belongs to one link, as Linux keeps a table per
    // interface. Moving it would send the frames waiting for it, and every later frame of
    // its flows, out of the wrong port.
    return;
  }
  if (e == nullptr && create) {
    e = find_or_create(ip);
  }
  if (e == nullptr) {
    return;
  }
  e->mac = mac;
  e->has_mac = true;
  e->port_id = port_id;
  e->state = State::kReachable;
  e->confirmed_ms = now_ms;
  e->probes = 0;
  for (std::uint8_t i = 0; i < e->pending_count; ++i) {
    send(e->port_id, e->pending[i], e->mac);
    e->pending[i] = nullptr;
  }
  e->pending_count = 0;
}

template <typename Probe, typename Drop>
void NeighbourCache::tick(std::uint64_t now_ms, Probe&& probe, Drop&& drop) noexcept {
  // One pass over the (small, fixed) table every kScanIntervalMs: probes are due at most
  // once a second, so this is precise enough and costs nothing between passes.
  if (now_ms - last_scan_ms_ < kScanIntervalMs) {
    return;
  }
  last_scan_ms_ = now_ms;
  for (Entry& e : entries_) {
    if (e.state == State::kFree || now_ms - e.probe_ms < kProbeIntervalMs) {
      continue;
    }
    if (e.state == State::kIncomplete) {
      if (e.probes >= kMaxProbes) {
        for (std::uint8_t i = 0; i < e.pending_count; ++i) {
          drop(e.pending[i]);
        }
        e = Entry{};
        continue;
      }
      ++e.probes;
      e.probe_ms = now_ms;
      probe(e.ip, e.port_id);
    } else if (now_ms - e.confirmed_ms > kExpireMs) {
      e.state = State::kIncomplete;
      e.probes = 0;
    } else if (now_ms - e.confirmed_ms > kReachableMs) {
      e.probe_ms = now_ms;
      probe(e.ip, e.port_id);
    }
  }
}

}  // namespace postern::dataplane
