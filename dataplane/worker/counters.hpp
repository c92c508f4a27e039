// Per-worker counters: plain integers owned by one worker, summed by the control thread at
// scrape time. Every drop has a named reason.
#pragma once

#include <array>
#include <cstdint>

#include "net/drop_reason.hpp"

namespace postern::dataplane {

// Event counters, one list for the struct, the sum over workers and every report.
#define POSTERN_WORKER_COUNTERS(X) \
  X(rx_packets)                    \
  X(tx_packets)                    \
  X(rx_bytes)                      \
  X(tx_bytes)                      \
  X(arp_replies_sent)              \
  X(arp_requests_sent)             \
  X(icmp_echo_replies)             \
  X(rst_sent)                      \
  X(flows_created)                 \
  X(flows_closed)                  \
  X(flows_expired)                 \
  X(proxy_headers_sent)            \
  X(proxy_retransmits)             \
  X(proxy_headers_received)        \
  X(syn_redispatched)              \
  X(connect_failures)              \
  X(active_flows)

struct alignas(64) WorkerCounters {
#define POSTERN_X(name) std::uint64_t name = 0;
  POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> drops{};

  void drop(DropReason r) noexcept {
    ++drops[static_cast<std::size_t>(r)];
  }
  std::uint64_t dropped(DropReason r) const noexcept {
    return drops[static_cast<std::size_t>(r)];
  }

  // Sums another worker's counters into these (the control thread, at report time).
  WorkerCounters& operator+=(const WorkerCounters& o) noexcept {
#define POSTERN_X(name) name += o.name;
    POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
    for (std::size_t i = 0; i < drops.size(); ++i) {
      drops[i] += o.drops[i];
    }
    return *this;
  }
};

}  // namespace postern::dataplane
