// Per-worker counters: plain integers owned by one worker, summed by the control thread at
// scrape time. Every drop has a named reason.
#pragma once

#include <array>
#include <cstdint>

namespace postern::dataplane {

#define POSTERN_DROP_REASONS(X)                      \
  X(kFrameTooShort, "frame_too_short")               \
  X(kUnsupportedEtherType, "unsupported_ethertype")  \
  X(kBadIpHeader, "bad_ip_header")                   \
  X(kBadIpChecksum, "bad_ip_checksum")               \
  X(kIpFragment, "ip_fragment")                      \
  X(kTtlExpired, "ttl_expired")                      \
  X(kNotForUs, "not_for_us")                         \
  X(kUnsupportedProtocol, "unsupported_protocol")    \
  X(kBadTcpHeader, "bad_tcp_header")                 \
  X(kBadArp, "bad_arp")                              \
  X(kIcmpIgnored, "icmp_ignored")                    \
  X(kNoListener, "no_listener")                      \
  X(kNoServer, "no_server")                          \
  X(kMaxconn, "maxconn")                             \
  X(kFlowTableFull, "flow_table_full")               \
  X(kPortsExhausted, "source_ports_exhausted")       \
  X(kNoFlow, "no_flow")                              \
  X(kFlowClosed, "flow_closed")                      \
  X(kNeighbourQueueFull, "neighbour_queue_full")     \
  X(kNeighbourUnresolved, "neighbour_unresolved")    \
  X(kNoRoute, "no_route")                            \
  X(kTxFull, "tx_full")                              \
  X(kMbufExhausted, "mbuf_exhausted")                \
  X(kProxyHeaderBad, "proxy_header_malformed")       \
  X(kProxyHeaderTimeout, "proxy_header_timeout")     \
  X(kProxyBufferFull, "proxy_buffers_exhausted")     \
  X(kUntrustedProxySource, "proxy_source_untrusted") \
  X(kHandoffFull, "handoff_ring_full")               \
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

struct alignas(64) WorkerCounters {
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t arp_replies_sent = 0;
  std::uint64_t arp_requests_sent = 0;
  std::uint64_t icmp_echo_replies = 0;
  std::uint64_t rst_sent = 0;
  std::uint64_t flows_created = 0;
  std::uint64_t flows_closed = 0;
  std::uint64_t flows_expired = 0;
  std::uint64_t proxy_headers_sent = 0;
  std::uint64_t proxy_retransmits = 0;
  std::uint64_t proxy_headers_received = 0;
  std::uint64_t syn_redispatched = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t active_flows = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> drops{};

  void drop(DropReason r) noexcept { ++drops[static_cast<std::size_t>(r)]; }
  std::uint64_t dropped(DropReason r) const noexcept { return drops[static_cast<std::size_t>(r)]; }
};

}  // namespace postern::dataplane
