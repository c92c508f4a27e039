// Local source ports for full NAT, per worker and per source address. A worker owns the ports
// p with p % workers == worker, so a server's reply can be steered back to its owner from the
// port alone. Freed ports go to the back of a FIFO: the longest-unused port is reused first,
// which keeps clear of the server's TIME_WAIT for the same 4-tuple as long as possible.
#pragma once

#include <cstdint>
#include <vector>

namespace postern::dataplane {

class PortAllocator {
 public:
  static constexpr std::uint16_t kFirstPort = 1024;
  // The ports above are health checks' (postern/dataplane/probe.hpp kProbeFirstPort).
  static constexpr std::uint16_t kLastPort = 61439;

  PortAllocator(std::uint32_t worker, std::uint32_t workers);

  // A free port in host order, or 0 when exhausted.
  std::uint16_t take() noexcept;
  void give_back(std::uint16_t port) noexcept;
  std::uint32_t available() const noexcept { return count_; }

 private:
  std::vector<std::uint16_t> ring_;
  std::uint32_t head_ = 0;
  std::uint32_t count_ = 0;
};

}  // namespace postern::dataplane
