// PROXY protocol vocabulary shared by the v1 and v2 codecs: the address block a header
// carries, the limits this implementation enforces and the verdicts of the decoders.
// Spec: haproxy doc/proxy-protocol.txt ("the spec" below).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace postern::dataplane::proxy {

// The v2 family/protocol byte (spec 2.2, "14th byte"), reused for v1 where TCP4/TCP6/UNKNOWN
// map to the same three values. kUnspec means "use the connection's own endpoints".
enum class Family : uint8_t {
  kUnspec = 0x00,
  kTcp4 = 0x11,  // AF_INET << 4 | STREAM
  kTcp6 = 0x21,  // AF_INET6 << 4 | STREAM
};

// What getpeername()/getsockname() would have returned to the server (spec 2).
struct Addresses {
  Family family = Family::kUnspec;
  std::array<uint8_t, 16> src{};  // network order; IPv4 uses the first 4 bytes
  std::array<uint8_t, 16> dst{};
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;

  bool operator==(const Addresses&) const noexcept = default;
};

// Spec 2.1: the longest v1 line, "PROXY UNKNOWN <ipv6> <ipv6> 65535 65535\r\n".
inline constexpr size_t kV1MaxLen = 107;
// Spec 2.2: signature (12) + ver_cmd + fam + len (2).
inline constexpr size_t kV2FixedLen = 16;
inline constexpr size_t kV2SignatureLen = 12;
inline constexpr size_t kV2Tcp4Len = kV2FixedLen + 12;  // 2*4 + 2*2 address bytes
inline constexpr size_t kV2Tcp6Len = kV2FixedLen + 36;  // 2*16 + 2*2 address bytes
// Our bound on a whole v2 header, in both directions. The spec lets len reach 65535, but it
// wants headers to fit one 536-byte segment (spec 2) and AF_UNIX addresses plus every
// registered TLV stay far below 1 KiB; anything longer is refused rather than buffered.
inline constexpr size_t kV2MaxLen = 1024;
// Spec 2.2.5: a unique ID is "up to 128 bytes".
inline constexpr size_t kUniqueIdMaxLen = 128;

// Registered TLV types (spec 2.2) that this codec reads or writes.
enum class TlvType : uint8_t {
  kAlpn = 0x01,
  kAuthority = 0x02,
  kCrc32c = 0x03,
  kNoop = 0x04,
  kUniqueId = 0x05,
};

// One value per way a header can be refused, so a drop counter names its cause.
enum class DecodeStatus : uint8_t {
  kOk,
  kNeedMore,      // a valid prefix so far: wait for more bytes
  kBadSignature,  // neither "PROXY" nor the v2 signature
  kBadVersion,    // v2 signature with a version other than 2
  kBadCommand,    // v2 command other than LOCAL or PROXY
  kBadFamily,     // v2 family above AF_UNIX or protocol above DGRAM
  kBadLength,     // v2 len below the address block, above kV2MaxLen, or cutting a TLV
  kBadTlv,        // a registered TLV breaking its rule (CRC32C not 4 bytes, ID > 128, twice)
  kBadCrc32c,     // CRC32C TLV present and not matching the header
  kV1TooLong,     // no CRLF within kV1MaxLen bytes
  kV1BadFormat,   // wrong protocol word, field count or spacing, LF without CR
  kV1BadAddress,  // address or port not canonical for the announced family
};
inline constexpr size_t kDecodeStatusCount = static_cast<size_t>(DecodeStatus::kV1BadAddress) + 1;

const char* to_string(DecodeStatus status) noexcept;

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  uint8_t version = 0;  // 1 or 2 once the signature is recognised
  // LOCAL command (v2) or UNKNOWN (v1): keep the connection's own endpoints. A v2 PROXY header
  // with a family we do not carry also leaves addresses.family at kUnspec (spec 2.2 lets a
  // receiver fall back to UNSPEC for valid combinations it does not implement).
  bool is_local = false;
  bool crc32c_verified = false;  // a CRC32C TLV was present and matched
  size_t consumed = 0;           // header bytes to strip; set only with kOk
  Addresses addresses{};
  // PP2_TYPE_UNIQUE_ID value, pointing into the decoded buffer; nullptr when absent. An empty
  // TLV (length 0, which the spec's "up to 128 bytes" allows) gives a pointer and length 0.
  const uint8_t* unique_id = nullptr;
  size_t unique_id_len = 0;

  bool ok() const noexcept { return status == DecodeStatus::kOk; }
};

}  // namespace postern::dataplane::proxy
