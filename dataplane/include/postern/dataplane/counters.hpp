// Per-worker counters: written by one worker, summed by the control thread at scrape time.
// Every drop has a named reason. Part of the dataplane's public header set.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "postern/dataplane/drop_reason.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {

// Event counters, one list for the struct, the sum over workers and every report.
#define POSTERN_WORKER_COUNTERS(X) \
  X(rx_packets)                    \
  X(tx_packets)                    \
  X(rx_bytes)                      \
  X(tx_bytes)                      \
  X(arp_replies_sent)              \
  X(arp_requests_sent)             \
  X(arp_announcements_sent)        \
  X(icmp_echo_replies)             \
  X(icmp_errors_forwarded)         \
  X(icmp_errors_sent)              \
  X(rst_sent)                      \
  X(flows_created)                 \
  X(flows_closed)                  \
  X(flows_expired)                 \
  X(proxy_headers_sent)            \
  X(proxy_retransmits)             \
  X(proxy_headers_received)        \
  X(syn_redispatched)              \
  X(syn_data_stripped)             \
  X(connect_failures)              \
  X(sessions_shutdown)             \
  X(probe_commands)                \
  X(handoff_sent)                  \
  X(logs_queued)                   \
  X(logs_dropped)                  \
  X(active_flows)                  \
  X(flow_table_used)               \
  X(loops_busy)                    \
  X(loops_idle)                    \
  X(busy_cycles)                   \
  X(syn_cookies_sent)              \
  X(syn_cookies_valid)             \
  X(syn_cookies_resent)            \
  X(syn_proxy_active)              \
  X(half_open_flows)

struct alignas(64) WorkerCounters {
#define POSTERN_X(name) std::uint64_t name = 0;
  POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> drops{};
  // This worker's busy ratio over the last whole second, in parts per million: the share of
  // its TSC time spent in loop turns that found packets. A gauge of one worker: not summed.
  std::uint64_t busy_ppm = 0;

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

// A count with one writer (its worker) and readers on other threads: relaxed atomic loads
// and stores, which are plain moves on x86 (no locked instruction on the packet path).
class OwnedCount {
 public:
  void add(std::int64_t d) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(d),
             std::memory_order_relaxed);
  }
  void set(std::uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Per-listener and per-server counts of one worker, indexed like the snapshot's slots and
// sized for the most slots a snapshot may have, so a reload never resizes what a reader
// may be reading and a worker never allocates.
struct WorkerSlots {
  std::array<OwnedCount, kMaxListeners> listener_active;
  std::array<OwnedCount, kMaxServers> server_active;
  std::array<OwnedCount, kMaxServers> server_total;
  // `observe layer4`: connection errors to each server since the last connection it took
  // (connect timeouts, RSTs in SYN-SENT, a header never acknowledged).
  std::array<OwnedCount, kMaxServers> server_connect_errors;

  // For metrics (HAProxy's stot, bin/bout, econ, connect, ctime), summed at scrape time.
  // Connections each listener took.
  std::array<OwnedCount, kMaxListeners> listener_total;
  // TCP payload forwarded from clients to each server (in) and back (out); a listener's bytes
  // are the sum over its servers, so a packet costs one store. Together, as a packet of a
  // flow updates one of the pair.
  struct Traffic {
    OwnedCount bytes_in;
    OwnedCount bytes_out;
  };
  std::array<Traffic, kMaxServers> server_traffic;
  // Every failed connection to a server (never reset, unlike server_connect_errors), every
  // SYN sent to one as a connection attempt (the first and each redispatch), and the
  // connections it answered with its SYN-ACK with the milliseconds from our SYN to it.
  std::array<OwnedCount, kMaxServers> server_errors_total;
  std::array<OwnedCount, kMaxServers> server_attempts;
  std::array<OwnedCount, kMaxServers> server_connects;
  std::array<OwnedCount, kMaxServers> server_connect_ms;
};

// The ethdev's own counters of one interface (rte_eth_stats), for metrics.
struct InterfaceStats {
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_missed = 0;  // dropped by the device: RX queues full
  std::uint64_t rx_errors = 0;
  std::uint64_t tx_errors = 0;
  std::uint64_t rx_nombuf = 0;  // RX mbuf allocation failures
};

// The mbuf pool shared by every port and worker.
struct MbufPoolStats {
  std::uint64_t size = 0;       // mbufs
  std::uint64_t available = 0;  // free, per-lcore caches included
  std::uint64_t element_bytes = 0;
};

}  // namespace postern::dataplane
