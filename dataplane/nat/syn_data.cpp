// SYN data and Fast Open option removal (RFC 7413).
#include "nat/syn_data.hpp"

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include <cstring>

#include "net/checksum.hpp"
#include "net/tcp_options.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kFastOpenExId[2] = {0xf9, 0x89};

bool is_fast_open(const std::uint8_t* opt, std::uint8_t olen) noexcept {
  return opt[0] == kTcpOptFastOpen || (opt[0] == kTcpOptExperimental && olen >= 4 &&
                                       opt[2] == kFastOpenExId[0] && opt[3] == kFastOpenExId[1]);
}

// NOPs over every Fast Open option; true if there was one. A malformed length ends the walk.
bool blank_fast_open(std::uint8_t* opts, std::uint16_t len) noexcept {
  bool changed = false;
  walk_tcp_options(opts, len, [&](std::uint16_t i, std::uint8_t, std::uint8_t olen) {
    if (is_fast_open(opts + i, olen)) {
      std::memset(opts + i, kTcpOptNop, olen);
      changed = true;
    }
    return true;
  });
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
