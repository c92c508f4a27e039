// A client's SYN with data (TCP Fast Open, RFC 7413) made plain before it goes on: the data
// must never reach the server ahead of Postern's PROXY header, and the server must not hand
// out Fast Open cookies for a connection it does not see first-hand. Runs at the first step
// of the walk, before the SYN is remembered or rewritten.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "net/frame.hpp"

namespace postern::dataplane {

// For a SYN without ACK: replaces every Fast Open option (kind 34, and the experimental
// kind 254 with ExID 0xF989, RFC 7413 section 4.1.1) with NOPs and removes the payload,
// fixing the IPv4 total length and both checksums; `v` then describes the shorter frame.
// Returns how many payload bytes were removed from the end of the frame (0: none, though
// the options may have changed). The client sends the data again after the handshake, as
// RFC 7413 section 3 has it when the server acknowledges the SYN only. Other segments are
// left alone.
std::uint16_t strip_syn_data(FrameView& v) noexcept;

// The worker's hook: the same on the frame in `m`, whose tail is trimmed to match. Returns 1
// when payload was removed (for the syn_data_stripped counter), else 0.
inline std::uint64_t strip_syn_data(rte_mbuf* m, FrameView& v) noexcept {
  const std::uint16_t cut = strip_syn_data(v);
  if (cut == 0) {
    return 0;
  }
  rte_pktmbuf_trim(m, cut);
  return 1;
}

}  // namespace postern::dataplane
