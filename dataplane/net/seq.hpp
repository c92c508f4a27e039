// TCP sequence numbers as their own type: arithmetic modulo 2^32 and comparisons by signed
// distance (RFC 9293 section 3.4), so nobody compares them with `<` by accident.
#pragma once

#include <cstdint>

namespace postern::dataplane {

class Seq {
 public:
  constexpr Seq() = default;
  constexpr explicit Seq(std::uint32_t v) : v_(v) {}
  constexpr std::uint32_t value() const { return v_; }

  // A shift may be negative (accept-proxy replaces a longer header with a shorter one).
  constexpr Seq operator+(std::int32_t d) const { return Seq(v_ + static_cast<std::uint32_t>(d)); }
  constexpr Seq operator-(std::int32_t d) const { return Seq(v_ - static_cast<std::uint32_t>(d)); }
  // Signed distance from b to a: positive when a is after b.
  friend constexpr std::int32_t operator-(Seq a, Seq b) {
    return static_cast<std::int32_t>(a.v_ - b.v_);
  }
  friend constexpr bool operator==(Seq a, Seq b) { return a.v_ == b.v_; }
  friend constexpr bool before(Seq a, Seq b) { return (a - b) < 0; }
  friend constexpr bool after(Seq a, Seq b) { return (a - b) > 0; }
  friend constexpr bool before_eq(Seq a, Seq b) { return (a - b) <= 0; }
  friend constexpr bool after_eq(Seq a, Seq b) { return (a - b) >= 0; }

 private:
  std::uint32_t v_ = 0;
};

}  // namespace postern::dataplane
