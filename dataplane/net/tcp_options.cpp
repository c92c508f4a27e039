// TCP option parsing and SACK block rewriting.
#include "net/tcp_options.hpp"

#include <rte_byteorder.h>

#include <cstring>

#include "net/bytes.hpp"
#include "net/checksum.hpp"

namespace postern::dataplane {
namespace {

// Kind, length, then 8-byte blocks of left and right edge: 2 + 8n bytes, n from 1 to 4 as
// the options area allows (RFC 2018 section 3). Any other length is left as it came.
constexpr std::uint8_t kSackBlockLen = 8;
bool is_sack_length(std::uint8_t olen) noexcept {
  return olen >= 2 + kSackBlockLen && (olen - 2) % kSackBlockLen == 0;
}

// Rewrites the SACK option of `olen` bytes at `opts[at]`. The TCP checksum is patched with
// the sums of the bytes the option covers before and after (RFC 1624 eqn. 3 over a run of
// words rather than one). The options area starts at byte 20 of the TCP header, so an even
// offset into it is a word boundary of the header; the run starts on the word boundary at
// or below the option, so an option at an odd offset sums exactly too. An odd run end is
// padded with zero on both sums, which leaves their difference exact.
void rewrite_sack(std::uint8_t* opts, std::uint16_t at, std::uint8_t olen, std::int32_t delta,
                  Seq floor, std::uint16_t& check) noexcept {
  const auto run_from = static_cast<std::uint16_t>(at & ~1U);
  const auto run_len = static_cast<std::uint16_t>(at + olen - run_from);
  const std::uint16_t sum_before = csum_fold(csum_partial(opts + run_from, run_len, 0));

  // Blocks are read at `in` and written back at `out`, which trails it once one is removed.
  std::uint8_t* const end = opts + at + olen;
  std::uint8_t* out = opts + at + 2;
  for (const std::uint8_t* in = out; in < end; in += kSackBlockLen) {
    const Seq left = Seq(load_be32(in)) - delta;
    const Seq right = Seq(load_be32(in + 4)) - delta;
    // Everything it reports lies below `floor`: Postern's own bytes, which the client never
    // sent (a D-SACK of a retransmitted header, RFC 2883). Reporting it would be a lie.
    if (before_eq(right, floor)) {
      continue;
    }
    store_be32(out, (before(left, floor) ? floor : left).value());
    store_be32(out + 4, right.value());
    out += kSackBlockLen;
  }
  const auto kept_len = static_cast<std::uint8_t>(out - (opts + at));
  if (kept_len == 2) {
    std::memset(opts + at, kTcpOptNop, olen);
  } else if (kept_len < olen) {
    opts[at + 1] = kept_len;
    std::memset(out, kTcpOptNop, static_cast<std::size_t>(end - out));
  }

  const std::uint16_t sum_after = csum_fold(csum_partial(opts + run_from, run_len, 0));
  check = csum_replace16(check, sum_before, sum_after);
}

}  // namespace

TcpOptions parse_tcp_options(const std::uint8_t* opts, std::uint16_t len) noexcept {
  TcpOptions o;
  walk_tcp_options(opts, len, [&](std::uint16_t i, std::uint8_t kind, std::uint8_t olen) {
    switch (kind) {
      case kTcpOptMss:
        if (olen == 4) {
          o.mss = static_cast<std::uint16_t>((opts[i + 2] << 8) | opts[i + 3]);
        }
        break;
      case kTcpOptWscale:
        if (olen == 3) {
          o.wscale = opts[i + 2];
        }
        break;
      case kTcpOptSackPermitted:
        o.sack_permitted = olen == 2;
        break;
      case kTcpOptSack:
        o.has_sack = true;
        break;
      case kTcpOptTimestamp:
        if (olen == 10) {
          o.has_timestamp = true;
          o.ts_val = load_be32(opts + i + 2);
          o.ts_ecr = load_be32(opts + i + 6);
        }
        break;
      default:
        break;
    }
    return true;
  });
  return o;
}

void shift_sack_blocks(std::uint8_t* opts, std::uint16_t len, std::int32_t delta, Seq floor,
                       std::uint16_t& check) noexcept {
  walk_tcp_options(opts, len, [&](std::uint16_t i, std::uint8_t kind, std::uint8_t olen) {
    if (kind == kTcpOptSack && is_sack_length(olen)) {
      rewrite_sack(opts, i, olen, delta, floor, check);
    }
    return true;
  });
}

}  // namespace postern::dataplane
