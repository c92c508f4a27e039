// Keys for SipHash, drawn once per table or per worker at start.
#include "net/siphash.hpp"

#include <random>

namespace postern::dataplane {

SipKey random_sip_key() {
  std::random_device rd;
  auto word = [&rd] {
    return static_cast<std::uint64_t>(rd()) << 32 | static_cast<std::uint32_t>(rd());
  };
  SipKey k;
  k.k0 = word();
  k.k1 = word();
  return k;
}

}  // namespace postern::dataplane
