// SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) over two 64-bit
// words, with the number of compression and finalization rounds a parameter: the flow
// table's index uses SipHash-1-3 per packet, Postern's ISNs SipHash-2-4 per connection. The
// caller lays the message out (for 12 bytes: the first 8 as one word, the last 4 with the
// length, 12, in the top byte, as the reference implementation reads them).
#pragma once

#include <bit>
#include <cstdint>
#include <initializer_list>

namespace postern::dataplane {

struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

// A fresh key from std::random_device, which libstdc++ on Linux takes from the CPU's or the
// kernel's entropy source. Not rte_rand(): its generator is seeded from the TSC and its
// outputs give its state away.
SipKey random_sip_key();

// A key that stays the same for as long as the machine runs and changes at every boot, as the
// kernel's own ISN secret: derived from the kernel's boot id (which no remote peer can read),
// so a restarted Postern goes on with the sequence numbers it used before. A random key when
// the boot id cannot be read.
SipKey boot_sip_key();

template <int kCompress, int kFinalize>
constexpr std::uint64_t siphash(const SipKey& key, std::uint64_t m0, std::uint64_t m1) noexcept {
  std::uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL;
  std::uint64_t v1 = key.k1 ^ 0x646f72616e646f6dULL;
  std::uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL;
  std::uint64_t v3 = key.k1 ^ 0x7465646279746573ULL;
  auto round = [&] {
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
  };
  for (const std::uint64_t m : {m0, m1}) {
    v3 ^= m;
    for (int i = 0; i < kCompress; ++i) {
      round();
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (int i = 0; i < kFinalize; ++i) {
    round();
  }
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace postern::dataplane
