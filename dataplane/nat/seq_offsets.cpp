// Keyed hashing for server-side ISNs and timestamp offsets: SipHash-2-4 over the 4-tuple,
// once per new connection, never per packet.
#include "nat/seq_offsets.hpp"

namespace postern::dataplane {
SeqOffsets SeqOffsets::none() {
  SeqOffsets s(std::array<std::uint64_t, 2>{0, 0});
  s.none_ = true;
  return s;
}

Seq SeqOffsets::isn(const FlowKey& k, std::uint64_t now_ms) const noexcept {
  const std::uint64_t addrs = (static_cast<std::uint64_t>(k.src_ip) << 32) | k.dst_ip;
  const std::uint64_t ports = (static_cast<std::uint64_t>(k.src_port) << 16) | k.dst_port;
  // 250 ticks of 4 us per millisecond.
  return Seq(static_cast<std::uint32_t>(now_ms * 250 + siphash<2, 4>(key_, addrs, ports)));
}

std::uint32_t SeqOffsets::ts_clock(std::uint32_t local_ip, std::uint32_t server_ip,
                                   std::uint64_t now_ms) const noexcept {
  const std::uint64_t addrs = (static_cast<std::uint64_t>(local_ip) << 32) | server_ip;
  return static_cast<std::uint32_t>(now_ms + siphash<2, 4>(key_, addrs, 0x7473));
}

void SeqOffsets::assign(Flow& f, bool syn_has_ts, std::uint32_t syn_ts_val,
                        std::uint64_t now_ms) const noexcept {
  if (none_) {
    f.isn_off = 0;
    f.ts_off = 0;
    return;
  }
  f.isn_off = static_cast<std::uint32_t>(isn(f.server_key(), now_ms) - f.client_isn);
  f.ts_off = syn_has_ts ? ts_clock(f.local_ip, f.server_ip, now_ms) - syn_ts_val : 0;
}

}  // namespace postern::dataplane
