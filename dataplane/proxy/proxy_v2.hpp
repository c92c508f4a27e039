// PROXY protocol v2 (binary) codec: the worker writes this header into the segment it sends
// a server on the handshake ACK; the decoder serves `bind accept-proxy`. Spec section 2.2.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "proxy/proxy_protocol.hpp"

namespace postern::dataplane::proxy {

// Spec 2.2: "\r\n\r\n\0\r\nQUIT\n", deliberately unparseable by HTTP, SMTP, IMAP, POP...
inline constexpr std::array<uint8_t, kV2SignatureLen> kV2Signature = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// Optional TLVs (spec 2.2.3-2.2.5). Emitted in the order CRC32C, UNIQUE_ID, NOOP; the first
// two match HAProxy's `proxy-v2-options crc32c,unique-id` byte for byte.
struct V2Options {
  const uint8_t* unique_id = nullptr;  // PP2_TYPE_UNIQUE_ID value, sent when unique_id_len > 0
  size_t unique_id_len = 0;            // at most kUniqueIdMaxLen
  // When non-zero, a PP2_TYPE_NOOP TLV pads the whole header to exactly this many bytes. A TLV
  // takes at least 3 bytes (spec 2.2.4), so a gap of 1 or 2 bytes cannot be filled.
  size_t pad_to = 0;
  bool crc32c = false;  // append PP2_TYPE_CRC32C over the finished header
};

// Whole header length encode_v2 would write, or 0 if the addresses or options are invalid
// (family kUnspec, unique ID too long or without bytes, pad_to unreachable, over kV2MaxLen).
// Lets the worker know the sequence shift before it touches the packet.
size_t v2_length(const Addresses& addresses, const V2Options& options) noexcept;

// Length of the LOCAL header encode_v2_local would write, or 0 if the options are invalid.
size_t v2_local_length(const V2Options& options) noexcept;

// PROXY command with TCP over IPv4 (28 bytes before TLVs) or IPv6 (52 bytes). Returns the
// bytes written, or 0 (and writes nothing) if they do not fit in cap or the input is invalid.
size_t encode_v2(const Addresses& addresses, const V2Options& options, uint8_t* out,
                 size_t cap) noexcept;

// LOCAL command, family UNSPEC, no addresses (16 bytes before TLVs): what a health check
// sends so the server uses the real endpoints (spec 2.2, command \x0).
size_t encode_v2_local(const V2Options& options, uint8_t* out, size_t cap) noexcept;

// Decodes one v2 header at the start of [data, data + len). Bytes past the header are not
// read. See DecodeStatus for every verdict; kNeedMore only while the bytes so far are a
// prefix of a header this decoder could accept.
DecodeResult decode_v2(const uint8_t* data, size_t len) noexcept;

}  // namespace postern::dataplane::proxy
