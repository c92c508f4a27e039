// What the SYN proxy remembers about the recent past without keeping state per SYN: a
// direct-mapped table of keyed 64-bit fingerprints. A new entry takes the slot of whatever
// was there, so the table forgets the oldest of two colliding entries and never grows; a
// false "seen" needs two fingerprints equal in all 64 bits. Used for the client addresses
// that have completed a handshake lately (only a real host can).
#pragma once

#include <array>
#include <cstdint>

#include "net/siphash.hpp"

namespace postern::dataplane::synproxy {

class RecentSet {
 public:
  static constexpr unsigned kBits = 14;
  static constexpr std::uint32_t kSlots = 1U << kBits;

  explicit RecentSet(const SipKey& key) : key_(key) {}

  void add(std::uint64_t key) noexcept {
    const std::uint64_t f = fingerprint(key);
    slots_[slot(f)] = f;
  }
  bool contains(std::uint64_t key) const noexcept {
    const std::uint64_t f = fingerprint(key);
    return slots_[slot(f)] == f;
  }

 private:
  // Never 0, which marks an empty slot.
  std::uint64_t fingerprint(std::uint64_t key) const noexcept {
    return siphash<1, 3>(key_, key, 0x7265) | 1U;
  }
  static std::uint32_t slot(std::uint64_t f) noexcept {
    return static_cast<std::uint32_t>(f >> (64 - kBits));
  }
  SipKey key_;
  std::array<std::uint64_t, kSlots> slots_{};
};

}  // namespace postern::dataplane::synproxy
