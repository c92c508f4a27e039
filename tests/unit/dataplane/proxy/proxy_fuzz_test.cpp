// Randomized and mutation inputs for the PROXY decoders with a fixed seed: no crash, no read
// past the input (exact-size buffers, so the sanitizer build catches overreads), and
// verdicts consistent with the header contract. Run under -DPOSTERN_SANITIZE=ON to matter.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "proxy/proxy_decode.hpp"
#include "support/proxy_hex.hpp"

namespace postern::dataplane::proxy {
namespace {

constexpr int kRandomInputs = 200000;
constexpr int kMutatedInputs = 300000;

// How often each verdict came up, so a test can show its inputs reach every branch.
using Histogram = std::array<uint64_t, kDecodeStatusCount>;

std::string describe(const Histogram& seen) {
  std::string out;
  for (size_t i = 0; i < seen.size(); ++i) {
    out +=
        std::string(to_string(static_cast<DecodeStatus>(i))) + "=" + std::to_string(seen[i]) + " ";
  }
  return out;
}

// Every verdict but the listed ones came up at least once: the inputs are not all refused
// at the first byte, so the deeper parsers really ran.
void expect_reached(const Histogram& seen, std::initializer_list<DecodeStatus> not_expected) {
  for (size_t i = 0; i < seen.size(); ++i) {
    const auto status = static_cast<DecodeStatus>(i);
    bool skip = false;
    for (DecodeStatus s : not_expected) {
      skip = skip || s == status;
    }
    if (!skip) {
      EXPECT_GT(seen[i], 0u) << to_string(status) << " never reached: " << describe(seen);
    }
  }
}

// Returns "" when the verdict on `input` keeps the decoder's promises, else what broke.
std::string violation(const std::vector<uint8_t>& input, std::mt19937_64& rng, Histogram& seen) {
  const uint8_t* data = input.data();
  const DecodeResult r = decode(data, input.size());
  ++seen[static_cast<size_t>(r.status)];
  if (r.consumed > input.size()) {
    return "consumed past the input";
  }
  if (!r.ok()) {
    if (r.consumed != 0) {
      return "consumed set without kOk";
    }
    return "";
  }
  if (r.version == 1 && (r.consumed < 15 || r.consumed > kV1MaxLen)) {
    return "v1 header length out of range";
  }
  if (r.version == 2 && (r.consumed < kV2FixedLen || r.consumed > kV2MaxLen)) {
    return "v2 header length out of range";
  }
  if (r.version != 1 && r.version != 2) {
    return "kOk without a version";
  }
  if (r.addresses.family != Family::kUnspec && r.addresses.family != Family::kTcp4 &&
      r.addresses.family != Family::kTcp6) {
    return "family outside the enum";
  }
  if (r.is_local && r.addresses.family != Family::kUnspec) {
    return "local header with addresses";
  }
  if (r.unique_id != nullptr &&
      (r.unique_id < data || r.unique_id + r.unique_id_len > data + r.consumed ||
       r.unique_id_len > kUniqueIdMaxLen)) {
    return "unique id outside the header";
  }
  // Bytes after the header never change the verdict.
  std::vector<uint8_t> longer = input;
  for (int i = 0; i < 8; ++i) {
    longer.push_back(static_cast<uint8_t>(rng()));
  }
  const DecodeResult again = decode(longer.data(), longer.size());
  if (again.status != r.status || again.consumed != r.consumed ||
      !(again.addresses == r.addresses)) {
    return "trailing bytes changed the verdict";
  }
  // A strict prefix of an accepted header is only ever "need more".
  const size_t cut = rng() % r.consumed;
  const std::vector<uint8_t> prefix(input.begin(), input.begin() + cut);
  if (decode(prefix.data(), prefix.size()).status != DecodeStatus::kNeedMore) {
    return "prefix of an accepted header refused";
  }
  return "";
}

std::vector<std::vector<uint8_t>> seed_headers() {
  std::vector<std::vector<uint8_t>> seeds;
  Addresses v4;
  v4.family = Family::kTcp4;
  v4.src = {192, 0, 2, 1};
  v4.dst = {198, 51, 100, 7};
  v4.src_port = 40000;
  v4.dst_port = 993;
  Addresses v6;
  v6.family = Family::kTcp6;
  v6.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 2};
  v6.src_port = 1;
  v6.dst_port = 25;
  static const uint8_t kId[] = "conn-0001";
  const Addresses* const kFamilies[] = {&v4, &v6, nullptr};  // nullptr: LOCAL / UNKNOWN
  for (const Addresses* a : kFamilies) {
    for (int variant = 0; variant < 4; ++variant) {
      V2Options options;
      options.crc32c = (variant & 1) != 0;
      if ((variant & 2) != 0) {
        options.unique_id = kId;
        options.unique_id_len = sizeof(kId) - 1;
        options.pad_to = 128;
      }
      std::vector<uint8_t> out(kV2MaxLen);
      out.resize(a != nullptr ? encode_v2(*a, options, out.data(), out.size())
                              : encode_v2_local(options, out.data(), out.size()));
      seeds.push_back(out);
    }
    std::vector<uint8_t> line(kV1MaxLen);
    line.resize(encode_v1(a != nullptr ? *a : Addresses{}, line.data(), line.size()));
    seeds.push_back(line);
  }
  seeds.push_back(test::text_bytes("PROXY TCP6 ::ffff:192.0.2.1 ::1 65535 0\r\n"));
  seeds.push_back(test::text_bytes("PROXY UNKNOWN ffff:: ::ffff 1 2\r\n"));
  return seeds;
}

TEST(ProxyFuzz, RandomInputs) {
  std::mt19937_64 rng(0x0D0A0D0A);
  Histogram seen{};
  static const uint8_t kV1Alphabet[] = "PROXYTCP46UNKW0123456789abcdefABCDEF.: \r\n";
  for (int i = 0; i < kRandomInputs; ++i) {
    const size_t len = rng() % 160;
    std::vector<uint8_t> input(len);
    const int shape = static_cast<int>(rng() % 3);
    for (size_t k = 0; k < len; ++k) {
      input[k] =
          shape == 2 ? kV1Alphabet[rng() % (sizeof(kV1Alphabet) - 1)] : static_cast<uint8_t>(rng());
    }
    // Two thirds start with a signature so the random bytes reach the field parsers.
    if (shape == 1) {
      for (size_t k = 0; k < len && k < kV2SignatureLen; ++k) {
        input[k] = kV2Signature[k];
      }
      if (len > 12 && rng() % 2 == 0) {
        input[12] = static_cast<uint8_t>(0x20 | (rng() % 2));
      }
      if (len > 15 && rng() % 2 == 0) {
        input[14] = 0;
        input[15] = static_cast<uint8_t>(len - 16 - rng() % 4);
      }
    } else if (shape == 2) {
      static const char kPrefix[] = "PROXY ";
      for (size_t k = 0; k < len && k < 6; ++k) {
        input[k] = static_cast<uint8_t>(kPrefix[k]);
      }
    }
    ASSERT_EQ(violation(input, rng, seen), "") << test::to_hex(input);
  }
  expect_reached(seen,
                 {DecodeStatus::kBadTlv, DecodeStatus::kBadCrc32c, DecodeStatus::kV1BadAddress});
}

TEST(ProxyFuzz, MutatedValidHeaders) {
  std::mt19937_64 rng(0x51554954);  // "QUIT"
  Histogram seen{};
  const auto seeds = seed_headers();
  static const uint8_t kInteresting[] = {0x00, 0xFF, 0x0D, 0x0A, ' ',  '0',  '9',  ':',
                                         '.',  0x7F, 0x03, 0x04, 0x05, 0x20, 0x21, 0x11};
  for (int i = 0; i < kMutatedInputs; ++i) {
    std::vector<uint8_t> input = seeds[rng() % seeds.size()];
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations && !input.empty(); ++m) {
      const size_t at = rng() % input.size();
      switch (rng() % 8) {
        case 0:
          input[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          input[at] = static_cast<uint8_t>(rng());
          break;
        case 2:
          input[at] = kInteresting[rng() % sizeof(kInteresting)];
          break;
        case 3:
          input.resize(at);
          break;
        case 4:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at),
                       static_cast<uint8_t>(rng()));
          break;
        case 5:
          input.erase(input.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        case 6:  // the v2 length field, where most interesting lies live
          if (input.size() > 15) {
            input[14] = static_cast<uint8_t>(rng() % 4);
            input[15] = static_cast<uint8_t>(rng());
          }
          break;
        default:
          for (uint64_t k = rng() % 16; k > 0; --k) {
            input.push_back(static_cast<uint8_t>(rng()));
          }
          break;
      }
    }
    input.shrink_to_fit();
    ASSERT_EQ(violation(input, rng, seen), "") << test::to_hex(input);
  }
  expect_reached(seen, {DecodeStatus::kV1TooLong});
}

}  // namespace
}  // namespace postern::dataplane::proxy
