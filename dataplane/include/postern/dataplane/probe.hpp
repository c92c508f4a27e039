// Health checks are packets (DESIGN.md "Threads and cores"): the control thread's health
// engine asks a worker to open a TCP connection to a server, send some bytes and close it;
// the worker runs that connection's TCP itself (dataplane/health/) and reports what
// happens. Fixed-size messages over one pair of rings per worker: commands from the control
// thread to the worker, events back. Part of the dataplane's public header set.
//
// A check connection lives in a slot of the worker's probe table. The engine chooses the
// slot (it keeps each worker's free slots) and may reuse it only after the worker's kFreed
// event for it: that event is always the slot's last.
#pragma once

#include <cstddef>
#include <cstdint>

#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {

inline constexpr std::uint16_t kProbeSlots = 512;  // concurrent check connections per worker
inline constexpr std::uint16_t kProbeChunk = 448;  // bytes carried by one message
// Local ports [kProbeFirstPort, 65535] are for check connections, ports below for flows; a
// worker uses those with port % workers == its id, so replies find it as flows' replies do.
inline constexpr std::uint16_t kProbeFirstPort = 61440;

enum class ProbeOp : std::uint8_t {
  kOpen,   // connect `slot` from src_ip to dst_ip:dst_port (via port_id, next_hop)
  kSend,   // queue `len` bytes of `data`; with `fin` a FIN follows them
  kClose,  // FIN after whatever is queued (if not sent already)
  kAbort,  // free the slot at once, with a RST if connected (never after a PROXY header)
  // Not about a probe: every flow to server `server` is reset on both sides
  // (`on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`).
  kShutdownServer,
};

struct ProbeCommand {
  ProbeOp op = ProbeOp::kOpen;
  bool fin = false;
  std::uint16_t slot = 0;
  std::uint16_t server = 0;    // the server slot (kShutdownServer; kOpen: for the record)
  std::uint16_t len = 0;       // kSend: bytes in `data`
  std::uint16_t dst_port = 0;  // network order
  std::uint8_t port_id = 0;    // egress DPDK port
  std::uint8_t pad_ = 0;
  std::uint32_t src_ip = 0;    // network order: one of the dataplane's source addresses
  std::uint32_t dst_ip = 0;    // network order
  std::uint32_t next_hop = 0;  // network order: the server or the gateway towards it
  std::uint8_t data[kProbeChunk] = {};
};

enum class ProbeEventKind : std::uint8_t {
  kConnected,    // the server's SYN-ACK came, our ACK went
  kData,         // `len` in-order bytes from the server
  kPeerClosed,   // the server's FIN, after all its data
  kReset,        // a RST from the server (before kConnected: the port is closed)
  kUnreachable,  // the SYN could not go (no port, next hop unresolved) or ICMP unreachable
  kFreed,        // the slot is free again; always the slot's last event
};

struct ProbeEvent {
  ProbeEventKind kind = ProbeEventKind::kFreed;
  std::uint8_t pad_ = 0;
  std::uint16_t slot = 0;
  std::uint16_t len = 0;
  std::uint16_t pad2_ = 0;
  std::uint8_t data[kProbeChunk] = {};
};

static_assert(sizeof(ProbeCommand) % 4 == 0 && sizeof(ProbeEvent) % 4 == 0,
              "rte_ring elements are whole 32-bit words");

}  // namespace postern::dataplane
