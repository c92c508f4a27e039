// Postern's own initial sequence numbers and timestamp clocks for the server side of each
// flow (DESIGN.md step 1). Mail servers close first and hold TIME_WAIT for the server-side
// 4-tuple; they take a new SYN on it only if its ISN or timestamp is newer than the old
// connection's (RFC 6191). Forwarding the client's own ISN and TSval, which bear no relation
// to the previous client on that 4-tuple, fails about half the time; a kernel's values grow
// per 4-tuple (RFC 6528 ISNs, per-address-pair timestamp offsets), and so do these.
#pragma once

#include <array>
#include <cstdint>

#include "flow/flow.hpp"
#include "net/siphash.hpp"

namespace postern::dataplane {

class SeqOffsets {
 public:
  // The machine's per-boot key (boot_sip_key): every worker, and a Postern restarted on the
  // same boot, computes the same ISN for a 4-tuple at a given time, so a server still in
  // TIME_WAIT from before a restart takes the next SYN on its 4-tuple too.
  SeqOffsets() : key_(boot_sip_key()) {}
  explicit SeqOffsets(const std::array<std::uint64_t, 2>& key) : key_{key[0], key[1]} {}
  // Tests only: the server side sees the client's own ISN and TSval (both offsets 0).
  static SeqOffsets none();

  // RFC 6528 section 3: ISN = M + F(4-tuple, secret), M a 4-microsecond clock.
  Seq isn(const FlowKey& server_side, std::uint64_t now_ms) const noexcept;
  // The server-side TSval of a SYN sent now: a millisecond clock (Linux's TCP timestamp
  // rate) plus an offset per address pair, as Linux's secure_tcp_ts_off().
  std::uint32_t ts_clock(std::uint32_t local_ip, std::uint32_t server_ip,
                         std::uint64_t now_ms) const noexcept;

  // Sets f.isn_off and f.ts_off for the flow's current server-side 4-tuple, given the
  // client's ISN (and SYN TSval when `syn_has_ts`).
  void assign(Flow& f, bool syn_has_ts, std::uint32_t syn_ts_val,
              std::uint64_t now_ms) const noexcept;

 private:
  SipKey key_;
  bool none_ = false;
};

}  // namespace postern::dataplane
