// Version dispatch for the PROXY header decoders (spec 2.2, "Identifying the protocol
// version is easy").
#include "proxy/proxy_decode.hpp"

namespace postern::dataplane::proxy {

DecodeResult decode(const uint8_t* data, size_t len) noexcept {
  if (len == 0) {
    return DecodeResult{};
  }
  if (data[0] == 'P') {
    return decode_v1(data, len);
  }
  if (data[0] == kV2Signature[0]) {
    return decode_v2(data, len);
  }
  DecodeResult result;
  result.status = DecodeStatus::kBadSignature;
  return result;
}

}  // namespace postern::dataplane::proxy
