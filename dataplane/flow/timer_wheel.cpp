// Timing wheel list maintenance.
#include "flow/timer_wheel.hpp"

namespace postern::dataplane {

TimerWheel::TimerWheel(FlowTable& table, std::uint64_t now_ms)
    : table_(table), heads_(kSlots, kNoIndex), current_tick_(now_ms / kTickMs) {}

bool TimerWheel::armed(std::uint32_t index) const noexcept {
  return table_.at(index).timer_slot != kNoIndex;
}

void TimerWheel::unlink(std::uint32_t index) noexcept {
  Flow& f = table_.at(index);
  if (f.timer_slot == kNoIndex) {
    return;
  }
  if (f.timer_prev != kNoIndex) {
    table_.at(f.timer_prev).timer_next = f.timer_next;
  } else {
    heads_[f.timer_slot] = f.timer_next;
  }
  if (f.timer_next != kNoIndex) {
    table_.at(f.timer_next).timer_prev = f.timer_prev;
  }
  f.timer_next = kNoIndex;
  f.timer_prev = kNoIndex;
  f.timer_slot = kNoIndex;
}

void TimerWheel::schedule(std::uint32_t index, std::uint64_t deadline_ms) noexcept {
  unlink(index);
  Flow& f = table_.at(index);
  // A deadline already past goes into the slot being processed next, not behind it.
  const std::uint64_t earliest = current_tick_ * kTickMs;
  const std::uint32_t slot = slot_of(deadline_ms < earliest ? earliest : deadline_ms);
  f.timer_deadline = deadline_ms;
  f.timer_slot = slot;
  f.timer_prev = kNoIndex;
  f.timer_next = heads_[slot];
  if (f.timer_next != kNoIndex) {
    table_.at(f.timer_next).timer_prev = index;
  }
  heads_[slot] = index;
}

void TimerWheel::cancel(std::uint32_t index) noexcept {
  unlink(index);
}

}  // namespace postern::dataplane
