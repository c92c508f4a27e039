// TCP option walking: timestamps (RFC 7323 section 3), SACK (RFC 2018), MSS and window
// scale, and the in-place SACK rewrite the sequence shift needs.
#pragma once

#include <cstdint>

#include "net/seq.hpp"

namespace postern::dataplane {

// Option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018, RFC 7413).
inline constexpr std::uint8_t kTcpOptEnd = 0;
inline constexpr std::uint8_t kTcpOptNop = 1;
inline constexpr std::uint8_t kTcpOptMss = 2;
inline constexpr std::uint8_t kTcpOptWscale = 3;
inline constexpr std::uint8_t kTcpOptSackPermitted = 4;
inline constexpr std::uint8_t kTcpOptSack = 5;
inline constexpr std::uint8_t kTcpOptTimestamp = 8;
inline constexpr std::uint8_t kTcpOptFastOpen = 34;
inline constexpr std::uint8_t kTcpOptExperimental = 254;

// Walks an options area the way every reader here does: END stops, NOPs are skipped, and for
// every other option `fn(offset, kind, length)` is called (length >= 2 and inside the area;
// `fn` returns false to stop). Returns false when the walk met a malformed option (a kind with
// no length byte left, a length below 2 or running past the area), true otherwise.
template <typename Fn>
bool walk_tcp_options(const std::uint8_t* opts, std::uint16_t len, Fn&& fn) noexcept {
  std::uint16_t i = 0;
  while (i < len) {
    const std::uint8_t kind = opts[i];
    if (kind == kTcpOptEnd) {
      return true;
    }
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      return false;
    }
    const std::uint8_t olen = opts[i + 1];
    if (olen < 2 || i + olen > len) {
      return false;
    }
    if (!fn(i, kind, olen)) {
      return true;
    }
    i = static_cast<std::uint16_t>(i + olen);
  }
  return true;
}

struct TcpOptions {
  bool has_timestamp = false;
  bool sack_permitted = false;
  bool has_sack = false;
  std::uint32_t ts_val = 0;  // host order
  std::uint32_t ts_ecr = 0;
  std::uint16_t mss = 0;     // 0: absent
  std::int16_t wscale = -1;  // -1: absent
};

// Reads the options area; malformed lengths stop the walk (what follows is ignored, as
// Linux's tcp_parse_options does).
TcpOptions parse_tcp_options(const std::uint8_t* opts, std::uint16_t len) noexcept;

// Maps the SACK blocks of a server->client segment into the client's sequence space:
// subtracts `delta` from both edges of every block, then a block whose right edge is at or
// below `floor` (it covers only Postern's injected header, e.g. a D-SACK of it, RFC 2883)
// is removed, and a block straddling `floor` starts at `floor`. Removal compacts the blocks
// left, shortens the option by 8 bytes per block and fills the freed bytes with NOPs; with
// no block left the whole option becomes NOPs. The options area keeps its length. SACK
// options of a length other than 2 + 8n are left alone, and a malformed option length ends
// the walk. Updates the TCP checksum `check` incrementally, whatever the option's offset.
void shift_sack_blocks(std::uint8_t* opts, std::uint16_t len, std::int32_t delta, Seq floor,
                       std::uint16_t& check) noexcept;

}  // namespace postern::dataplane
