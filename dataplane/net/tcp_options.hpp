// TCP option walking: timestamps (RFC 7323 section 3), SACK (RFC 2018), MSS and window
// scale, and the in-place SACK rewrite the sequence shift needs.
#pragma once

#include <cstdint>

#include "net/seq.hpp"

namespace postern::dataplane {

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

// Subtracts `delta` from both edges of every SACK block, clamping edges below `floor` to
// `floor` (a block that only covered Postern's own injected bytes becomes empty, which the
// receiver ignores). Updates the TCP checksum `check` incrementally.
void shift_sack_blocks(std::uint8_t* opts, std::uint16_t len, std::int32_t delta, Seq floor,
                       std::uint16_t& check) noexcept;

}  // namespace postern::dataplane
