// PROXY protocol v2 encoder and decoder over plain byte buffers: no allocation, no DPDK, so
// the same code runs on mbuf data in the worker and on vectors in tests (spec 2.2).
#include "proxy/proxy_v2.hpp"

#include <cstring>

#include "proxy/crc32c.hpp"

namespace postern::dataplane::proxy {
namespace {

// Spec 2.2, 13th byte: version in the high nibble, command in the low one.
constexpr uint8_t kVersion2 = 0x2;
constexpr uint8_t kCommandLocal = 0x0;
constexpr uint8_t kCommandProxy = 0x1;
// Spec 2.2, 14th byte: highest valid address family (AF_UNIX) and protocol (DGRAM).
constexpr uint8_t kMaxAddressFamily = 0x3;
constexpr uint8_t kMaxTransport = 0x2;

constexpr size_t kTlvHeaderLen = 3;  // type, length_hi, length_lo (spec 2.2)
constexpr size_t kCrc32cValueLen = 4;

uint16_t load_be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((static_cast<unsigned>(p[0]) << 8) | p[1]);
}

uint32_t load_be32(const uint8_t* p) noexcept {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

void store_be16(uint8_t* p, size_t value) noexcept {
  p[0] = static_cast<uint8_t>(value >> 8);
  p[1] = static_cast<uint8_t>(value);
}

void store_be32(uint8_t* p, uint32_t value) noexcept {
  p[0] = static_cast<uint8_t>(value >> 24);
  p[1] = static_cast<uint8_t>(value >> 16);
  p[2] = static_cast<uint8_t>(value >> 8);
  p[3] = static_cast<uint8_t>(value);
}

// Address block size announced by a family/protocol byte (spec 2.2 "In practice, the
// following protocol bytes are expected"); 0 for UNSPEC and for combinations with no
// defined layout.
size_t address_block_len(uint8_t family_byte) noexcept {
  switch (family_byte) {
    case 0x11:  // TCP over IPv4
    case 0x12:  // UDP over IPv4
      return 12;
    case 0x21:  // TCP over IPv6
    case 0x22:  // UDP over IPv6
      return 36;
    case 0x31:  // UNIX stream
    case 0x32:  // UNIX datagram
      return 216;
    default:
      return 0;
  }
}

bool family_byte_valid(uint8_t family_byte) noexcept {
  return (family_byte >> 4) <= kMaxAddressFamily && (family_byte & 0x0F) <= kMaxTransport;
}

// Where each optional TLV lands; total is the whole header length, 0 when impossible.
struct TlvLayout {
  size_t total = 0;
  size_t noop_value_len = 0;
  bool noop = false;
};

TlvLayout plan_tlvs(size_t address_len, const V2Options& options) noexcept {
  TlvLayout layout;
  if (options.unique_id_len > kUniqueIdMaxLen ||
      (options.unique_id_len > 0 && options.unique_id == nullptr)) {
    return layout;
  }
  size_t total = kV2FixedLen + address_len;
  if (options.crc32c) {
    total += kTlvHeaderLen + kCrc32cValueLen;
  }
  if (options.unique_id_len > 0) {
    total += kTlvHeaderLen + options.unique_id_len;
  }
  if (options.pad_to != 0) {
    if (options.pad_to < total) {
      return layout;
    }
    const size_t gap = options.pad_to - total;
    if (gap != 0) {
      // Spec 2.2.4: a NOOP TLV is at least its 3-byte header, so it cannot fill 1 or 2 bytes.
      if (gap < kTlvHeaderLen) {
        return layout;
      }
      layout.noop = true;
      layout.noop_value_len = gap - kTlvHeaderLen;
      total = options.pad_to;
    }
  }
  if (total > kV2MaxLen) {
    return layout;
  }
  layout.total = total;
  return layout;
}

size_t address_len_for(Family family) noexcept {
  switch (family) {
    case Family::kTcp4:
      return 12;
    case Family::kTcp6:
      return 36;
    case Family::kUnspec:
      break;
  }
  return 0;
}

uint8_t* put_tlv_header(uint8_t* p, TlvType type, size_t value_len) noexcept {
  p[0] = static_cast<uint8_t>(type);
  store_be16(p + 1, value_len);
  return p + kTlvHeaderLen;
}

// Writes signature, ver_cmd, fam, len, the address block (if any) and the TLVs.
size_t encode(uint8_t command, const Addresses* addresses, const V2Options& options, uint8_t* out,
              size_t cap) noexcept {
  const Family family = addresses != nullptr ? addresses->family : Family::kUnspec;
  const size_t address_len = address_len_for(family);
  const TlvLayout layout = plan_tlvs(address_len, options);
  if (layout.total == 0 || layout.total > cap || out == nullptr) {
    return 0;
  }
  std::memcpy(out, kV2Signature.data(), kV2SignatureLen);
  out[12] = static_cast<uint8_t>(kVersion2 << 4 | command);
  out[13] = static_cast<uint8_t>(family);
  store_be16(out + 14, layout.total - kV2FixedLen);
  uint8_t* p = out + kV2FixedLen;
  if (family != Family::kUnspec) {
    // Spec 2.2: source address, destination address, source port, destination port.
    const size_t ip_len = family == Family::kTcp4 ? 4 : 16;
    std::memcpy(p, addresses->src.data(), ip_len);
    std::memcpy(p + ip_len, addresses->dst.data(), ip_len);
    store_be16(p + 2 * ip_len, addresses->src_port);
    store_be16(p + 2 * ip_len + 2, addresses->dst_port);
    p += address_len;
  }
  uint8_t* crc_field = nullptr;
  if (options.crc32c) {
    crc_field = put_tlv_header(p, TlvType::kCrc32c, kCrc32cValueLen);
    // Spec 2.2.3: the checksum is computed with its own field zeroed.
    std::memset(crc_field, 0, kCrc32cValueLen);
    p = crc_field + kCrc32cValueLen;
  }
  if (options.unique_id_len > 0) {
    p = put_tlv_header(p, TlvType::kUniqueId, options.unique_id_len);
    std::memcpy(p, options.unique_id, options.unique_id_len);
    p += options.unique_id_len;
  }
  if (layout.noop) {
    p = put_tlv_header(p, TlvType::kNoop, layout.noop_value_len);
    std::memset(p, 0, layout.noop_value_len);
    p += layout.noop_value_len;
  }
  if (crc_field != nullptr) {
    store_be32(crc_field, crc32c(out, layout.total));
  }
  return layout.total;
}

DecodeResult fail(DecodeStatus status) noexcept {
  DecodeResult result;
  result.status = status;
  result.version = 2;
  return result;
}

// CRC32C of the header with the 4 bytes at crc_offset read as zeros (spec 2.2.3), computed
// in three pieces so the caller's const buffer is never written.
uint32_t header_crc32c(const uint8_t* header, size_t total, size_t crc_offset) noexcept {
  static constexpr uint8_t kZeros[kCrc32cValueLen] = {};
  uint32_t crc = crc32c(header, crc_offset);
  crc = crc32c_extend(crc, kZeros, kCrc32cValueLen);
  const size_t after = crc_offset + kCrc32cValueLen;
  return crc32c_extend(crc, header + after, total - after);
}

// Walks the TLVs in [start, total) of a complete header (spec 2.2 "struct pp2_tlv"). Every
// TLV must fit inside the header, as HAProxy requires (reg-test
// connection/proxy_protocol_tlv_validation.vtc); unknown types are skipped.
DecodeStatus parse_tlvs(const uint8_t* header, size_t start, size_t total,
                        DecodeResult& result) noexcept {
  size_t offset = start;
  size_t crc_offset = 0;
  bool has_crc = false;
  bool has_unique_id = false;
  while (offset < total) {
    if (total - offset < kTlvHeaderLen) {
      return DecodeStatus::kBadLength;
    }
    const uint8_t type = header[offset];
    const size_t value_len = load_be16(header + offset + 1);
    const size_t value_offset = offset + kTlvHeaderLen;
    if (value_len > total - value_offset) {
      return DecodeStatus::kBadLength;
    }
    if (type == static_cast<uint8_t>(TlvType::kCrc32c)) {
      // Spec 2.2.3: a 32-bit value. A second one could not be verified meaningfully, since
      // each checksum would cover the other.
      if (value_len != kCrc32cValueLen || has_crc) {
        return DecodeStatus::kBadTlv;
      }
      has_crc = true;
      crc_offset = value_offset;
    } else if (type == static_cast<uint8_t>(TlvType::kUniqueId)) {
      // Spec 2.2.5: "up to 128 bytes"; two IDs for one connection are ambiguous.
      if (value_len > kUniqueIdMaxLen || has_unique_id) {
        return DecodeStatus::kBadTlv;
      }
      has_unique_id = true;
      result.unique_id = header + value_offset;
      result.unique_id_len = value_len;
    }
    offset = value_offset + value_len;
  }
  if (has_crc) {
    if (header_crc32c(header, total, crc_offset) != load_be32(header + crc_offset)) {
      return DecodeStatus::kBadCrc32c;
    }
    result.crc32c_verified = true;
  }
  return DecodeStatus::kOk;
}

}  // namespace

size_t v2_length(const Addresses& addresses, const V2Options& options) noexcept {
  if (addresses.family != Family::kTcp4 && addresses.family != Family::kTcp6) {
    return 0;
  }
  return plan_tlvs(address_len_for(addresses.family), options).total;
}

size_t v2_local_length(const V2Options& options) noexcept {
  return plan_tlvs(0, options).total;
}

size_t encode_v2(const Addresses& addresses, const V2Options& options, uint8_t* out,
                 size_t cap) noexcept {
  if (addresses.family != Family::kTcp4 && addresses.family != Family::kTcp6) {
    return 0;
  }
  return encode(kCommandProxy, &addresses, options, out, cap);
}

size_t encode_v2_local(const V2Options& options, uint8_t* out, size_t cap) noexcept {
  return encode(kCommandLocal, nullptr, options, out, cap);
}

DecodeResult decode_v2(const uint8_t* data, size_t len) noexcept {
  DecodeResult result;
  if (len == 0) {
    return result;
  }
  // Verdicts come as early as the bytes allow, so a sender gets its abort quickly (spec 2.1
  // "abort the connection as soon as possible"); a valid prefix is only ever kNeedMore.
  const size_t signature_seen = len < kV2SignatureLen ? len : kV2SignatureLen;
  if (std::memcmp(data, kV2Signature.data(), signature_seen) != 0) {
    result.status = DecodeStatus::kBadSignature;
    return result;
  }
  result.version = 2;
  if (len <= 12) {
    return result;
  }
  const uint8_t version = data[12] >> 4;
  const uint8_t command = data[12] & 0x0F;
  if (version != kVersion2) {
    return fail(DecodeStatus::kBadVersion);
  }
  if (command != kCommandLocal && command != kCommandProxy) {
    return fail(DecodeStatus::kBadCommand);
  }
  if (len <= 13) {
    return result;
  }
  const uint8_t family_byte = data[13];
  // Spec 2.2: for LOCAL "the family ... is ignored", so only PROXY headers are judged by it.
  const bool family_ok = family_byte_valid(family_byte);
  if (command == kCommandProxy && !family_ok) {
    return fail(DecodeStatus::kBadFamily);
  }
  if (len < kV2FixedLen) {
    return result;
  }
  const size_t body_len = load_be16(data + 14);
  const size_t total = kV2FixedLen + body_len;
  if (total > kV2MaxLen) {
    return fail(DecodeStatus::kBadLength);
  }
  const size_t address_len = address_block_len(family_byte);
  if (command == kCommandProxy && body_len < address_len) {
    return fail(DecodeStatus::kBadLength);
  }
  if (len < total) {
    return result;
  }

  // Spec 2.2: "Receivers MUST always consider this field to skip the appropriate number of
  // bytes". A LOCAL header whose family block does not fit is skipped whole, TLVs included.
  size_t tlv_start = total;
  if (family_ok && body_len >= address_len) {
    tlv_start = kV2FixedLen + address_len;
  }
  const DecodeStatus tlv_status = parse_tlvs(data, tlv_start, total, result);
  if (tlv_status != DecodeStatus::kOk) {
    return fail(tlv_status);
  }

  if (command == kCommandProxy && (family_byte == static_cast<uint8_t>(Family::kTcp4) ||
                                   family_byte == static_cast<uint8_t>(Family::kTcp6))) {
    Addresses& out = result.addresses;
    out.family = static_cast<Family>(family_byte);
    const size_t ip_len = out.family == Family::kTcp4 ? 4 : 16;
    const uint8_t* block = data + kV2FixedLen;
    std::memcpy(out.src.data(), block, ip_len);
    std::memcpy(out.dst.data(), block + ip_len, ip_len);
    out.src_port = load_be16(block + 2 * ip_len);
    out.dst_port = load_be16(block + 2 * ip_len + 2);
  }
  // Other valid PROXY families (UDP, UNIX, UNSPEC) fall back to UNSPEC: spec 2.2 "provided
  // that it automatically falls back to the UNSPEC mode for the valid combinations above that
  // it does not support"; addresses.family stays kUnspec.
  result.is_local = command == kCommandLocal;
  result.consumed = total;
  result.status = DecodeStatus::kOk;
  return result;
}

}  // namespace postern::dataplane::proxy
