// Why a packet was dropped: one named reason per drop, counted per worker. Lowest of the
// dataplane's headers, so every stage of the walk (net/ upwards) can name its drops.
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
  X(kBadTcpChecksum, "bad_tcp_checksum")            \
  X(kBadSynAck, "syn_ack_mismatch")                 \
  X(kBadArp, "bad_arp")                             \
  X(kIcmpIgnored, "icmp_ignored")                   \
  X(kIcmpNoFlow, "icmp_error_no_flow")              \
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
  X(kMbufReserve, "mbuf_reserve")                   \
  X(kProxyHeaderBad, "proxy_header_malformed")      \
  X(kProxyHeaderTimeout, "proxy_header_timeout")    \
  X(kProxyBufferFull, "proxy_buffers_exhausted")    \
  X(kProxyHeaderRepeated, "proxy_header_repeated")  \
  X(kHandoffFull, "handoff_ring_full")              \
  X(kIpv6, "ipv6_not_enabled")                      \
  X(kSynCookieInvalid, "syn_cookie_invalid")        \
  X(kSynProxyPending, "syn_proxy_pending")          \
  X(kHalfOpenPerSource, "half_open_per_source")     \
  X(kHalfOpenTimeout, "half_open_timeout")          \
  X(kIpBadLength, "ip_bad_length")                  \
  X(kIpOptions, "ip_options")                       \
  X(kBadTcpOptions, "bad_tcp_options")              \
  X(kSimultaneousOpen, "simultaneous_open")         \
  X(kAckOutOfWindow, "ack_out_of_window")           \
  X(kFlowClosed, "flow_closed")                     \
  X(kLand, "land")                                  \
  X(kMartianSource, "martian_source")               \
  X(kMartianDestination, "martian_destination")

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

}  // namespace postern::dataplane
