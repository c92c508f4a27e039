// Per-worker counters: plain integers owned by one worker, summed by the control thread at
// scrape time. Every drop has a named reason.
#pragma once

#include <array>
#include <cstdint>

namespace postern::dataplane {

#define POSTERN_DROP_REASONS(X)                     \
  X(kFrameTooShort, "frame_too_short")              \
  X(kUnsupportedEtherType, "unsupported_ethertype") \
  X(kBadIpHeader, "bad_ip_header")                  \
  X(kBadIpChecksum, "bad_ip_checksum")              \
  X(kIpFragment, "ip_fragment")                     \
  X(kTtlExpired, "ttl_expired")                     \
  X(kNotForUs, "not_for_us")                        \
  X(kUnsupportedProtocol, "unsupported_protocol")   \
  X(kBadTcpHeader, "bad_tcp_header")                \
  X(kBadArp, "bad_arp")                             \
  X(kIcmpIgnored, "icmp_ignored")                   \
  X(kNoListener, "no_listener")                     \
  X(kNoServer, "no_server")                         \
  X(kMaxconn, "maxconn")                            \
  X(kFlowTableFull, "flow_table_full")              \
  X(kPortsExhausted, "source_ports_exhausted")      \
  X(kNoFlow, "no_flow")                             \
  X(kNeighbourQueueFull, "neighbour_queue_full")    \
  X(kNeighbourUnresolved, "neighbour_unresolved")   \
  X(kTxFull, "tx_full")                             \
  X(kMbufExhausted, "mbuf_exhausted")               \
  X(kProxyHeaderBad, "proxy_header_malformed")      \
  X(kProxyHeaderTimeout, "proxy_header_timeout")    \
  X(kProxyBufferFull, "proxy_buffers_exhausted")    \
  X(kHandoffFull, "handoff_ring_full")              \
  X(kIpv6, "ipv6_not_enabled")

enum class DropReason : std::uint8_t {
#define POSTERN_X(id, name) id,
  POSTERN_DROP_REASONS(POSTERN_X)
#undef POSTERN_X
      kCount
};

inline constexpr std::array<const char*, static_cast<std::size_t>(DropReason::kCount)>
    kDropReasonNames = {
#define POSTERN_X(id, name) name,
        POSTERN_DROP_REASONS(POSTERN_X)
#undef POSTERN_X
};

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
