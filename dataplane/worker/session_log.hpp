// What a worker puts in a session's log record besides what the flow holds: the bytes each
// side took, read from the acknowledgements (no counting per segment), and the hand-off to
// the control thread's ring, which never waits.
#pragma once

#include <rte_ring.h>

#include <cstdint>

#include "flow/flow.hpp"
#include "postern/dataplane/counters.hpp"
#include "postern/dataplane/log_record.hpp"

namespace postern::dataplane {

// Bytes of `ack` past `first` (the first byte of the stream), less the FIN's sequence number
// once it is acknowledged. Modulo 2^32: a session that moved 4 GiB or more one way reads low.
inline std::uint64_t acked_bytes(Seq ack, Seq first, bool fin_acked) noexcept {
  const std::uint32_t n = ack.value() - first.value();
  if (n > 0x80000000U) {
    return 0;  // an acknowledgement from before the first byte (the handshake's)
  }
  return fin_acked && n != 0 ? n - 1 : n;
}

// The bytes an acknowledgement newly takes as it moves from `was` to `now`, counted from
// `first` (the stream's first byte), less the FIN when this is the acknowledgement that took
// it. For the byte counters (bytes in/out), fed packet by packet: a retransmitted segment is
// acknowledged once, so it is counted once, and no distance wraps as the stream grows.
inline std::uint64_t newly_acked(Seq was, Seq now, Seq first, bool takes_fin) noexcept {
  const Seq from = before(was, first) ? first : was;
  if (!after(now, from)) {
    return 0;
  }
  const auto n = static_cast<std::uint32_t>(now - from);
  return takes_fin ? n - 1 : n;
}

// HAProxy's %B: the server's bytes the client acknowledged.
inline std::uint64_t bytes_to_client(const Flow& f) noexcept {
  if (!f.has(kFlowSynAcked)) {
    return 0;
  }
  return acked_bytes(f.client_acked, f.server_isn + 1, f.has(kFlowServerFinAcked));
}

// The client's bytes the server acknowledged, our header left out (dontlognull).
inline std::uint64_t bytes_from_client(const Flow& f) noexcept {
  if (!f.has(kFlowHeaderSent)) {
    return 0;
  }
  return acked_bytes(f.server_acked, f.header_end(), f.has(kFlowClientFinAcked));
}

// Single producer (the worker), single consumer (the control thread). A full ring drops the
// record and counts it: logging must never hold a packet up.
inline bool put_session_record(rte_ring* ring, const SessionRecord& r,
                               WorkerCounters& counters) noexcept {
  SessionRecord copy = r;  // DPDK 22.11 takes a non-const pointer
  if (rte_ring_sp_enqueue_elem(ring, &copy, sizeof copy) != 0) {
    ++counters.logs_dropped;
    return false;
  }
  ++counters.logs_queued;
  return true;
}

}  // namespace postern::dataplane
