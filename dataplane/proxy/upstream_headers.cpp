// Upstream header collection over a fixed pool: no allocation after construction.
#include "proxy/upstream_headers.hpp"

#include <algorithm>
#include <cstring>

namespace postern::dataplane::proxy {

UpstreamHeaders::UpstreamHeaders(std::uint32_t buffers) : buffers_(buffers) {
  free_.reserve(buffers);
  for (std::size_t i = buffers; i-- > 0;) {
    free_.push_back(static_cast<std::uint16_t>(i));
  }
}

void UpstreamHeaders::release(std::uint16_t& buffer) noexcept {
  if (buffer != kNone) {
    free_.push_back(buffer);
    buffer = kNone;
  }
}

UpstreamHeaders::Result UpstreamHeaders::add(std::uint16_t& buffer, std::uint16_t& have,
                                             const std::uint8_t* payload, std::uint16_t len,
                                             std::uint16_t offset, bool fin) noexcept {
  Result r;
  if (buffer == kNone) {
    if (free_.empty()) {
      r.status = Status::kNoBuffer;
      return r;
    }
    buffer = free_.back();
    free_.pop_back();
    have = 0;
  }
  auto& buf = buffers_[buffer];
  const auto fresh =
      static_cast<std::uint16_t>(std::min<std::int32_t>(len - offset, kBufferSize - have));
  std::memcpy(buf.data() + have, payload + offset, fresh);
  const std::uint16_t had = have;
  have = static_cast<std::uint16_t>(have + fresh);
  r.decoded = decode(buf.data(), have);
  if (r.decoded.status == DecodeStatus::kNeedMore && have < kBufferSize && !fin) {
    return r;
  }
  release(buffer);
  if (r.decoded.status != DecodeStatus::kOk) {
    r.status = Status::kMalformed;
    return r;
  }
  r.status = Status::kComplete;
  r.in_segment = static_cast<std::uint16_t>(r.decoded.consumed - had + offset);
  return r;
}

}  // namespace postern::dataplane::proxy
