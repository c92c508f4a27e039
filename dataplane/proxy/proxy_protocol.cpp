// Names of the decoder verdicts, for drop-reason counters and logs.
#include "proxy/proxy_protocol.hpp"

namespace postern::dataplane::proxy {

const char* to_string(DecodeStatus status) noexcept {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kNeedMore:
      return "need_more";
    case DecodeStatus::kBadSignature:
      return "bad_signature";
    case DecodeStatus::kBadVersion:
      return "bad_version";
    case DecodeStatus::kBadCommand:
      return "bad_command";
    case DecodeStatus::kBadFamily:
      return "bad_family";
    case DecodeStatus::kBadLength:
      return "bad_length";
    case DecodeStatus::kBadTlv:
      return "bad_tlv";
    case DecodeStatus::kBadCrc32c:
      return "bad_crc32c";
    case DecodeStatus::kV1TooLong:
      return "v1_too_long";
    case DecodeStatus::kV1BadFormat:
      return "v1_bad_format";
    case DecodeStatus::kV1BadAddress:
      return "v1_bad_address";
  }
  return "unknown";
}

}  // namespace postern::dataplane::proxy
