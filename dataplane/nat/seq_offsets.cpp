// Keyed hashing for server-side ISNs and timestamp offsets: SipHash-2-4 rounds over the
// 4-tuple (Aumasson and Bernstein, 2012), called once per new connection, never per packet.
#include "nat/seq_offsets.hpp"

#include <bit>
#include <random>

namespace postern::dataplane {
namespace {

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void absorb(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

SeqOffsets::SeqOffsets() {
  std::random_device rd;
  for (auto& k : key_) {
    k = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
}

SeqOffsets SeqOffsets::none() {
  SeqOffsets s(std::array<std::uint64_t, 2>{0, 0});
  s.none_ = true;
  return s;
}

std::uint64_t SeqOffsets::hash(std::uint64_t a, std::uint64_t b) const noexcept {
  SipState s{key_[0] ^ 0x736f6d6570736575ULL, key_[1] ^ 0x646f72616e646f6dULL,
             key_[0] ^ 0x6c7967656e657261ULL, key_[1] ^ 0x7465646279746573ULL};
  s.absorb(a);
  s.absorb(b);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) {
    s.round();
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

Seq SeqOffsets::isn(const FlowKey& k, std::uint64_t now_ms) const noexcept {
  const std::uint64_t addrs = (static_cast<std::uint64_t>(k.src_ip) << 32) | k.dst_ip;
  const std::uint64_t ports = (static_cast<std::uint64_t>(k.src_port) << 16) | k.dst_port;
  // 250 ticks of 4 us per millisecond.
  return Seq(static_cast<std::uint32_t>(now_ms * 250 + hash(addrs, ports)));
}

std::uint32_t SeqOffsets::ts_clock(std::uint32_t local_ip, std::uint32_t server_ip,
                                   std::uint64_t now_ms) const noexcept {
  const std::uint64_t addrs = (static_cast<std::uint64_t>(local_ip) << 32) | server_ip;
  return static_cast<std::uint32_t>(now_ms + hash(addrs, 0x7473));
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
