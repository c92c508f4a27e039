// A hashed timing wheel over the flow pool: one intrusive list per tick slot. Deadlines past
// one rotation stay in their slot and are skipped until due, so any timeout fits. Flows re-arm
// lazily: a packet only updates last_seen_ms, and an expiring flow whose real deadline moved
// is re-inserted instead of closed, so the hot path never touches the wheel.
#pragma once

#include <cstdint>
#include <vector>

#include "flow/flow_table.hpp"

namespace postern::dataplane {

class TimerWheel {
 public:
  static constexpr std::uint64_t kTickMs = 4;
  static constexpr std::uint32_t kSlots = 4096;  // ~16 s per rotation

  explicit TimerWheel(FlowTable& table, std::uint64_t now_ms = 0);

  // (Re)arms the flow to fire at `deadline_ms`.
  void schedule(std::uint32_t index, std::uint64_t deadline_ms) noexcept;
  void cancel(std::uint32_t index) noexcept;
  bool armed(std::uint32_t index) const noexcept;

  // Calls fire(index) for every flow whose deadline is <= now_ms, in slot order. The callback
  // may schedule or cancel the flow it was given (the flow is unlinked before the call).
  template <typename Fire>
  void advance(std::uint64_t now_ms, Fire&& fire) noexcept;

 private:
  std::uint32_t slot_of(std::uint64_t deadline_ms) const noexcept {
    return static_cast<std::uint32_t>((deadline_ms / kTickMs) % kSlots);
  }
  void unlink(std::uint32_t index) noexcept;

  FlowTable& table_;
  std::vector<std::uint32_t> heads_;
  std::uint64_t current_tick_;
};

template <typename Fire>
void TimerWheel::advance(std::uint64_t now_ms, Fire&& fire) noexcept {
  const std::uint64_t target = now_ms / kTickMs;
  // After a long stall, one rotation visits every slot once; more would only repeat.
  if (target > current_tick_ + kSlots) {
    current_tick_ = target - kSlots;
  }
  while (current_tick_ <= target) {
    const std::uint32_t slot = static_cast<std::uint32_t>(current_tick_ % kSlots);
    std::uint32_t i = heads_[slot];
    while (i != kNoIndex) {
      Flow& f = table_.at(i);
      const std::uint32_t next = f.timer_next;
      if (f.timer_deadline <= now_ms) {
        unlink(i);
        fire(i);
      }
      i = next;
    }
    if (current_tick_ == target) {
      break;
    }
    ++current_tick_;
  }
}

}  // namespace postern::dataplane
