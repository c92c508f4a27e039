// FIFO of free ports.
#include "nat/port_allocator.hpp"

#include "postern/dataplane/probe.hpp"

namespace postern::dataplane {

static_assert(PortAllocator::kLastPort + 1 == kProbeFirstPort, "flows' and checks' ports meet");

PortAllocator::PortAllocator(std::uint32_t worker, std::uint32_t workers) {
  for (std::uint32_t p = kFirstPort; p <= kLastPort; ++p) {
    if (p % workers == worker) {
      ring_.push_back(static_cast<std::uint16_t>(p));
    }
  }
  count_ = static_cast<std::uint32_t>(ring_.size());
}

std::uint16_t PortAllocator::take() noexcept {
  if (count_ == 0) {
    return 0;
  }
  const std::uint16_t p = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --count_;
  return p;
}

void PortAllocator::give_back(std::uint16_t port) noexcept {
  if (count_ == ring_.size()) {
    return;
  }
  ring_[(head_ + count_) % ring_.size()] = port;
  ++count_;
}

}  // namespace postern::dataplane
