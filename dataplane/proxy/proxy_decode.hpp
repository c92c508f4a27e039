// Entry point for `bind accept-proxy`: decodes whichever PROXY header version the sender
// chose, as spec 2.2 recommends for receivers facing both v1 and v2 senders.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proxy/proxy_protocol.hpp"
#include "proxy/proxy_v1.hpp"
#include "proxy/proxy_v2.hpp"

namespace postern::dataplane::proxy {

// The first byte tells the versions apart: 'P' starts "PROXY" (v1), '\r' the v2 signature;
// anything else is kBadSignature at once. Never guesses whether a header is present: a
// listener configured for the protocol must get one (spec 5).
DecodeResult decode(const uint8_t* data, size_t len) noexcept;

}  // namespace postern::dataplane::proxy
