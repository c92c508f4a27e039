// Half-open flows per client address, for `defense.half_open_per_source`: a count-min sketch
// (two rows of 16-bit counters under independent keyed hashes) of fixed size, so a flood
// from millions of addresses costs no memory and no allocation. A count may read high when
// two addresses share both counters (then that source is limited a little early), never low.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "net/siphash.hpp"

namespace postern::dataplane::synproxy {

class HalfOpenSources {
 public:
  static constexpr std::uint32_t kSlots = 1U << 15;

  explicit HalfOpenSources(const SipKey& key) : key_(key) {}

  std::uint32_t count(std::uint32_t ip) const noexcept {
    const auto [a, b] = slots(ip);
    return std::min(row_a_[a], row_b_[b]);
  }
  void add(std::uint32_t ip) noexcept {
    const auto [a, b] = slots(ip);
    if (row_a_[a] != 0xffff) {
      ++row_a_[a];
    }
    if (row_b_[b] != 0xffff) {
      ++row_b_[b];
    }
  }
  void remove(std::uint32_t ip) noexcept {
    const auto [a, b] = slots(ip);
    if (row_a_[a] != 0) {
      --row_a_[a];
    }
    if (row_b_[b] != 0) {
      --row_b_[b];
    }
  }

 private:
  struct Pair {
    std::uint32_t a;
    std::uint32_t b;
  };
  Pair slots(std::uint32_t ip) const noexcept {
    const std::uint64_t h = siphash<1, 3>(key_, ip, 0x686f);
    return {static_cast<std::uint32_t>(h) & (kSlots - 1),
            static_cast<std::uint32_t>(h >> 32) & (kSlots - 1)};
  }
  SipKey key_;
  std::array<std::uint16_t, kSlots> row_a_{};
  std::array<std::uint16_t, kSlots> row_b_{};
};

}  // namespace postern::dataplane::synproxy
