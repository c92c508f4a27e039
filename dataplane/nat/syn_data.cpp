// SYN data and Fast Open option removal (RFC 7413).
#include "nat/syn_data.hpp"

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include <cstring>

#include "net/checksum.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kOptEnd = 0;
constexpr std::uint8_t kOptNop = 1;
constexpr std::uint8_t kOptFastOpen = 34;
constexpr std::uint8_t kOptExperimental = 254;
constexpr std::uint8_t kFastOpenExId[2] = {0xf9, 0x89};

bool is_fast_open(const std::uint8_t* opt, std::uint8_t olen) noexcept {
  return opt[0] == kOptFastOpen || (opt[0] == kOptExperimental && olen >= 4 &&
                                    opt[2] == kFastOpenExId[0] && opt[3] == kFastOpenExId[1]);
}

// NOPs over every Fast Open option; true if there was one. A malformed length ends the walk.
bool blank_fast_open(std::uint8_t* opts, std::uint16_t len) noexcept {
  bool changed = false;
  std::uint16_t i = 0;
  while (i < len) {
    const std::uint8_t kind = opts[i];
    if (kind == kOptEnd) {
      break;
    }
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      break;
    }
    const std::uint8_t olen = opts[i + 1];
    if (olen < 2 || i + olen > len) {
      break;
    }
    if (is_fast_open(opts + i, olen)) {
      std::memset(opts + i, kOptNop, olen);
      changed = true;
    }
    i = static_cast<std::uint16_t>(i + olen);
  }
  return changed;
}

}  // namespace

std::uint16_t strip_syn_data(FrameView& v) noexcept {
  if ((v.tcp->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) != RTE_TCP_SYN_FLAG) {
    return 0;
  }
  const bool options_changed = blank_fast_open(v.tcp_options(), v.tcp_options_len());
  const std::uint16_t cut = v.payload_len;
  if (cut != 0) {
    const auto ihl = static_cast<std::uint16_t>((v.ip->version_ihl & 0x0f) * 4);
    v.payload_len = 0;
    v.l4_len = static_cast<std::uint16_t>(v.l4_len - cut);
    v.ip_len = static_cast<std::uint16_t>(v.ip_len - cut);
    v.len = static_cast<std::uint16_t>(v.len - cut);
    v.ip->total_length = rte_cpu_to_be_16(v.ip_len);
    v.ip->hdr_checksum = ipv4_header_checksum(v.ip, ihl);
  }
  if (options_changed || cut != 0) {
    // A rare segment: summed in full rather than patched.
    v.tcp->cksum = tcp4_checksum(v.ip->src_addr, v.ip->dst_addr, v.tcp, v.l4_len);
  }
  return cut;
}

}  // namespace postern::dataplane
