// TCP option parsing and SACK block rewriting.
#include "net/tcp_options.hpp"

#include <rte_byteorder.h>

#include <cstring>

#include "net/checksum.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kOptEnd = 0;
constexpr std::uint8_t kOptNop = 1;
constexpr std::uint8_t kOptMss = 2;
constexpr std::uint8_t kOptWscale = 3;
constexpr std::uint8_t kOptSackPermitted = 4;
constexpr std::uint8_t kOptSack = 5;
constexpr std::uint8_t kOptTimestamp = 8;

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return rte_be_to_cpu_32(v);
}

}  // namespace

TcpOptions parse_tcp_options(const std::uint8_t* opts, std::uint16_t len) noexcept {
  TcpOptions o;
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
    switch (kind) {
      case kOptMss:
        if (olen == 4) {
          o.mss = static_cast<std::uint16_t>((opts[i + 2] << 8) | opts[i + 3]);
        }
        break;
      case kOptWscale:
        if (olen == 3) {
          o.wscale = opts[i + 2];
        }
        break;
      case kOptSackPermitted:
        o.sack_permitted = olen == 2;
        break;
      case kOptSack:
        o.has_sack = true;
        break;
      case kOptTimestamp:
        if (olen == 10) {
          o.has_timestamp = true;
          o.ts_val = load_be32(opts + i + 2);
          o.ts_ecr = load_be32(opts + i + 6);
        }
        break;
      default:
        break;
    }
    i = static_cast<std::uint16_t>(i + olen);
  }
  return o;
}

void shift_sack_blocks(std::uint8_t* opts, std::uint16_t len, std::int32_t delta, Seq floor,
                       std::uint16_t& check) noexcept {
  std::uint16_t i = 0;
  while (i < len) {
    const std::uint8_t kind = opts[i];
    if (kind == kOptEnd) {
      return;
    }
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      return;
    }
    const std::uint8_t olen = opts[i + 1];
    if (olen < 2 || i + olen > len) {
      return;
    }
    if (kind == kOptSack) {
      // Blocks of 8 bytes (left edge, right edge) after kind and length (RFC 2018 section 3).
      for (std::uint16_t b = static_cast<std::uint16_t>(i + 2); b + 4 <= i + olen; b += 4) {
        std::uint32_t raw;
        std::memcpy(&raw, opts + b, 4);
        Seq edge = Seq(rte_be_to_cpu_32(raw)) - delta;
        if (before(edge, floor)) {
          edge = floor;
        }
        const std::uint32_t out = rte_cpu_to_be_32(edge.value());
        // The option area is 32-bit aligned relative to the TCP header only when preceded
        // by NOPs; sum the bytes at their real offsets to stay exact in every case.
        if ((b & 1) == 0) {
          check = csum_replace32(check, raw, out);
        } else {
          // Odd offset relative to the options start, which itself starts at offset 20 (even):
          // the 32-bit value straddles words; fall back to a byte-wise word update.
          std::uint8_t before_bytes[6] = {opts[b - 1], 0, 0, 0, 0, opts[b + 4]};
          std::memcpy(before_bytes + 1, &raw, 4);
          std::uint8_t after_bytes[6] = {opts[b - 1], 0, 0, 0, 0, opts[b + 4]};
          std::memcpy(after_bytes + 1, &out, 4);
          for (int w = 0; w < 6; w += 2) {
            std::uint16_t f;
            std::uint16_t t;
            std::memcpy(&f, before_bytes + w, 2);
            std::memcpy(&t, after_bytes + w, 2);
            check = csum_replace16(check, f, t);
          }
        }
        std::memcpy(opts + b, &out, 4);
      }
    }
    i = static_cast<std::uint16_t>(i + olen);
  }
}

}  // namespace postern::dataplane
