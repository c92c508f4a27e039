// Keys for SipHash, drawn once per table or per worker at start.
#include "net/siphash.hpp"

#include <cctype>
#include <fstream>
#include <random>
#include <string>

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

SipKey boot_sip_key() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  std::uint64_t half[2] = {0, 0};
  int digits = 0;
  for (const char c : id) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      continue;
    }
    const std::uint64_t v = std::isdigit(static_cast<unsigned char>(c)) != 0
                                ? static_cast<std::uint64_t>(c - '0')
                                : static_cast<std::uint64_t>(std::tolower(c) - 'a' + 10);
    std::uint64_t& h = half[digits / 16];
    h = (h << 4) | v;
    if (++digits == 32) {
      break;
    }
  }
  if (digits != 32) {
    return random_sip_key();
  }
  // Not the id itself: a one-way function of it, under two fixed keys of Postern's own.
  const SipKey a{0x706f737465726e31ULL, 0x6973656372657431ULL};
  const SipKey b{0x706f737465726e32ULL, 0x6973656372657432ULL};
  return SipKey{siphash<2, 4>(a, half[0], half[1]), siphash<2, 4>(b, half[0], half[1])};
}

}  // namespace postern::dataplane
