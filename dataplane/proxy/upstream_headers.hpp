// accept-proxy (DESIGN.md step 5): an upstream proxy's PROXY v1/v2 header, collected from the
// in-order payload of one or more segments into one of a fixed pool of buffers until the
// decoder has all of it. Pure C++ like the rest of proxy/: the worker supplies the bytes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "proxy/proxy_decode.hpp"

namespace postern::dataplane::proxy {

class UpstreamHeaders {
 public:
  // Room for the longest header the decoder accepts.
  static constexpr std::uint16_t kBufferSize = static_cast<std::uint16_t>(kV2MaxLen);
  static constexpr std::uint16_t kNone = 0xffff;

  enum class Status : std::uint8_t {
    kNeedMore,   // held; more segments to come
    kComplete,   // `decoded` is the header; `in_segment` bytes of this payload belonged to it
    kMalformed,  // not a PROXY header, or one the closing sender can no longer complete
    kNoBuffer,   // every buffer is held by other flows
  };
  struct Result {
    Status status = Status::kNeedMore;
    DecodeResult decoded;
    std::uint16_t in_segment = 0;
  };

  explicit UpstreamHeaders(std::uint32_t buffers);

  // A flow's collection so far is two numbers it keeps: `buffer` (which buffer holds it, or
  // kNone) and `have` (how many bytes it holds).
  //
  // Adds `len` payload bytes of an in-order segment whose first `offset` bytes were collected
  // already from an earlier copy (offset < len). `fin`: the sender closes after this segment,
  // so a header not complete now never will be. A complete or failed header gives its buffer
  // back.
  Result add(std::uint16_t& buffer, std::uint16_t& have, const std::uint8_t* payload,
             std::uint16_t len, std::uint16_t offset, bool fin) noexcept;
  // The flow ends: its buffer, if any, goes back at once.
  void release(std::uint16_t& buffer) noexcept;

  std::size_t free() const noexcept { return free_.size(); }

 private:
  std::vector<std::array<std::uint8_t, kBufferSize>> buffers_;
  std::vector<std::uint16_t> free_;
};

}  // namespace postern::dataplane::proxy
