// Timing wheel list maintenance.
#include "flow/timer_wheel.hpp"

namespace postern::dataplane {

TimerWheel::TimerWheel(FlowTable& table, std::uint64_t now_ms)
    : table_(table), heads_(kSlots + 1, kNoIndex), tick_(now_ms / kTickMs) {}

bool TimerWheel::armed(std::uint32_t index) const noexcept {
  return table_.at(index).timer_slot != kNoIndex;
}

void TimerWheel::link(std::uint32_t index, std::uint32_t list) noexcept {
  Flow& f = table_.at(index);
  f.timer_slot = list;
  f.timer_prev = kNoIndex;
  f.timer_next = heads_[list];
  if (f.timer_next != kNoIndex) {
    table_.at(f.timer_next).timer_prev = index;
  }
  heads_[list] = index;
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
  table_.at(index).timer_deadline = deadline_ms;
  const std::uint64_t tick = deadline_ms / kTickMs;
  if (tick > tick_) {
    link(index, slot_of(tick));
    return;
  }
  // The current tick's slot has been walked already, and a past tick's will not be again
  // before a rotation: both go on the due list, which the next advance() looks at.
  link(index, kDueList);
  if (deadline_ms < due_min_) {
    due_min_ = deadline_ms;
  }
}

void TimerWheel::cancel(std::uint32_t index) noexcept {
  unlink(index);
}

}  // namespace postern::dataplane
