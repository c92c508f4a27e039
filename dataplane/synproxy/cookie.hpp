// SYN cookies (issue 9): the SYN-ACK's sequence number carries what Postern would otherwise
// keep for a half-open connection, so a SYN costs no state and only a client that receives
// the SYN-ACK at its claimed address can complete the handshake. The layout is the classic
// one (Bernstein's, as Linux's syncookies.c lays it out; written here from that description):
//
//   cookie = H1(4-tuple) + client ISN + (t << 24) + ((H2(4-tuple, t, ISN) + mss index) mod 2^24)
//
// where t is a 64-second counter (8 bits) and H1, H2 are keyed SipHash values. Checking an ACK
// recovers t (it must be this period or the one before), then the MSS index, which must be a
// valid one: a forged ACK passes with probability about 2^-21 per try. Unlike Linux's, H2 also
// covers the client's ISN, so an ACK whose sequence number is off fails too.
//
// The options the client offered that the cookie has no room for (window scale, SACK) travel
// in the low six bits of the SYN-ACK's TSval, which the client echoes in every TSecr; without
// timestamps they are not offered back, as Linux does.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "flow/flow.hpp"
#include "net/seq.hpp"
#include "net/siphash.hpp"

namespace postern::dataplane::synproxy {

// The MSS values a cookie can say: the client's MSS is rounded down to one of them.
inline constexpr std::array<std::uint16_t, 8> kMssTable = {536,  1200, 1300, 1380,
                                                           1400, 1440, 1452, 1460};
// The cookie's clock: 64 s periods; a cookie is good in its period and the next one.
inline constexpr std::uint64_t kPeriodMs = 64000;

// What a cookie and the timestamp bits bring back from the client's SYN.
struct SynOptions {
  std::uint16_t mss = 536;  // rounded down to kMssTable
  std::int8_t wscale = -1;  // -1: not offered (or not recoverable without timestamps)
  bool sack = false;
  bool timestamps = false;
};

class Cookies {
 public:
  explicit Cookies(const SipKey& key) : key_(key) {}

  // The index into kMssTable of the largest value not above `mss` (0 when absent).
  static std::uint8_t mss_index(std::uint16_t mss) noexcept;

  // The SYN-ACK's ISN for a client SYN on `client_side` (the key of the client's segments:
  // client -> VIP) with ISN `client_isn`.
  Seq make(const FlowKey& client_side, Seq client_isn, std::uint8_t mss_index,
           std::uint64_t now_ms) const noexcept;

  // Checks the acknowledgement of a client segment that should complete a handshake Postern
  // answered with a cookie (`ack` = cookie + 1, `seq` = client ISN + 1). Returns the MSS
  // index, or nothing for a forged or expired cookie.
  std::optional<std::uint8_t> check(const FlowKey& client_side, Seq seq, Seq ack,
                                    std::uint64_t now_ms) const noexcept;

  // The SYN-ACK's TSval: a millisecond clock whose low six bits carry the client's window
  // scale (4 bits, 15: none) and SACK (bit 4).
  static std::uint32_t ts_encode(std::uint32_t clock, std::int8_t wscale, bool sack) noexcept;
  // Reads them back from the TSecr of the client's ACK.
  static void ts_decode(std::uint32_t ts_ecr, SynOptions& o) noexcept;

 private:
  std::uint32_t h1(const FlowKey& k) const noexcept;
  std::uint32_t h2(const FlowKey& k, std::uint32_t period, std::uint32_t client_isn) const noexcept;
  SipKey key_;
};

}  // namespace postern::dataplane::synproxy
