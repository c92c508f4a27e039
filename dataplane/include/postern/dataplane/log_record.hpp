// One connection's log record: what a worker knows when a session ends (its flow closed, or
// the SYN refused), written to its own ring for the control thread, which turns it into
// HAProxy's `option tcplog` line (control/logging). Fixed size, no pointers, no strings: the
// worker fills it without allocating. Part of the dataplane's public header set.
#pragma once

#include <rte_cycles.h>

#include <cstdint>

namespace postern::dataplane {

// HAProxy's termination state (configuration.txt 8.5), two characters: what ended the session,
// then where it was. The letters are HAProxy's; which events of a TCP splice give which pair
// is documented in docs/configuration.md ("Logging").
enum class EndCause : char {
  kNone = '-',           // both sides closed (FINs), or still running
  kClientAbort = 'C',    // the client reset or closed
  kServerAbort = 'S',    // the server reset, or refused the connection
  kClientTimeout = 'c',  // the client side's inactivity timeout
  kServerTimeout = 's',  // the server side's timeout (connect, inactivity, our header unacked)
  kProxy = 'P',          // Postern ended it (a malformed upstream PROXY header)
  kResource = 'R',       // Postern ran out of something (source ports, flows, header buffers)
  kDown = 'D',           // its server went DOWN (on-marked-down shutdown-sessions)
  kUp = 'U',             // a better server came UP (on-marked-up shutdown-backup-sessions)
};

enum class EndPhase : char {
  kNone = '-',
  kRequest = 'R',  // before the server could be asked: an upstream proxy's header
  kConnect = 'C',  // connecting to the server (SYN sent, or SYN-ACK not yet acknowledged)
  kData = 'D',     // the connection was established
};

struct SessionEnd {
  EndCause cause = EndCause::kNone;
  EndPhase phase = EndPhase::kNone;
  friend bool operator==(const SessionEnd&, const SessionEnd&) = default;
};

inline constexpr std::uint16_t kNoServerSlot = 0xffff;  // `<NOSRV>`

enum SessionRecordFlags : std::uint8_t {
  kRecordClientV6 = 1U << 0,      // `client` is an IPv6 address (an upstream proxy's header)
  kRecordRedispatched = 1U << 1,  // a retry went to another server: HAProxy's "+" before %rc
};

struct SessionRecord {
  std::uint64_t accept_ms = 0;          // the client's first SYN, on the workers' clock
  std::uint64_t bytes_to_client = 0;    // %B: server bytes the client acknowledged
  std::uint64_t bytes_from_client = 0;  // client bytes the server acknowledged (dontlognull)
  // The client as HAProxy's %ci:%cp names it: the connection's source, or what an upstream
  // proxy's header said (accept-proxy). Network order; IPv4 in the first four bytes.
  std::uint8_t client[16] = {};
  std::uint16_t client_port = 0;
  std::uint16_t listener = 0;            // snapshot slot
  std::uint16_t server = kNoServerSlot;  // snapshot slot, or none
  SessionEnd end;
  std::int32_t connect_ms = -1;  // %Tc: SYN to the server's SYN-ACK; -1: never connected
  std::uint32_t total_ms = 0;    // %Tt
  // This worker's counts as the session ends, the session itself included; the control thread
  // adds the other workers' (HAProxy's %ac, %fc, %sc).
  std::uint32_t active = 0;
  std::uint32_t listener_active = 0;
  std::uint32_t server_active = 0;
  std::uint8_t retries = 0;  // %rc
  std::uint8_t flags = 0;    // SessionRecordFlags
  std::uint16_t pad_ = 0;
};

static_assert(sizeof(SessionRecord) % 4 == 0, "rte_ring elements are whole 32-bit words");

// The clock of accept_ms: milliseconds of the TSC, which every worker reads for its timers.
// The control thread reads it too, to place a record's times on the wall clock.
inline std::uint64_t session_clock_ms() noexcept {
  static const std::uint64_t hz = rte_get_tsc_hz();
  return rte_get_tsc_cycles() / (hz / 1000);
}

// Records each worker's ring holds; a full ring drops the record (logs_dropped), never waits.
inline constexpr unsigned kLogRingSize = 8192;

}  // namespace postern::dataplane
