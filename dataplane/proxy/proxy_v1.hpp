// PROXY protocol v1 (text) codec: the decoder serves `bind accept-proxy` for senders that
// only speak v1; the encoder serves servers configured for v1 (`send-proxy`). Spec 2.1.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proxy/proxy_protocol.hpp"

namespace postern::dataplane::proxy {

// Writes "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n", or "PROXY UNKNOWN\r\n" for
// kUnspec. IPv6 is written as glibc's inet_ntop() does (RFC 5952 shortening, lower case,
// dotted tail for ::ffff:a.b.c.d), so the line matches HAProxy's `send-proxy` byte for byte.
// Returns the bytes written (at most kV1MaxLen), 0 if cap is too small.
size_t encode_v1(const Addresses& addresses, uint8_t* out, size_t cap) noexcept;

// Decodes one v1 line at the start of [data, data + len). Strict about the spec's canonical
// forms: single spaces, no leading zeros in IPv4 octets or ports, addresses of the announced
// family. IPv6 accepts any RFC 4291 text form (1-4 hex digits per group, one "::", dotted
// IPv4 tail), since real senders print with inet_ntop() rather than 4-digit groups.
DecodeResult decode_v1(const uint8_t* data, size_t len) noexcept;

}  // namespace postern::dataplane::proxy
