// A hashed timing wheel over the flow pool: one intrusive list per tick slot. Deadlines past
// one rotation stay in their slot and are skipped until due, so any timeout fits. Flows re-arm
// lazily: a packet only updates last_seen_ms, and an expiring flow whose real deadline moved
// is re-inserted instead of closed, so the hot path never touches the wheel.
#pragma once

#include <cstdint>
#include <vector>

#include "flow/flow_table.hpp"

namespace postern::dataplane {

// advance() runs on every turn of the poll loop, so its cost when nothing is due must be nil.
// A slot's list is walked once, when the wheel enters its tick: what is due fires, what is due
// later in that same tick moves to a short "due" list, what belongs to a later rotation stays.
// Within a tick only the due list is looked at, and only once its earliest deadline has come.
// So a deadline fires on the first advance() at or after it, never a tick late.
class TimerWheel {
 public:
  static constexpr std::uint64_t kTickMs = 4;
  static constexpr std::uint32_t kSlots = 4096;  // ~16 s per rotation

  explicit TimerWheel(FlowTable& table, std::uint64_t now_ms = 0);

  // (Re)arms the flow to fire at `deadline_ms`. A deadline already past fires on the next
  // advance().
  void schedule(std::uint32_t index, std::uint64_t deadline_ms) noexcept;
  void cancel(std::uint32_t index) noexcept;
  bool armed(std::uint32_t index) const noexcept;

  // Calls fire(index) for every flow whose deadline is <= now_ms, earliest tick first. The
  // callback may schedule or cancel the flow it was given (the flow is unlinked before the
  // call), but no other flow. A flow it re-arms to a time already past fires on the next
  // advance(), not in this one.
  template <typename Fire>
  void advance(std::uint64_t now_ms, Fire&& fire) noexcept;

  // Timer entries advance() has looked at since construction: the wheel's whole cost, for
  // tests and the benchmark.
  std::uint64_t visited() const noexcept { return visited_; }

 private:
  static constexpr std::uint32_t kDueList = kSlots;  // index into heads_ after the wheel slots
  static constexpr std::uint64_t kNever = ~std::uint64_t{0};

  std::uint32_t slot_of(std::uint64_t tick) const noexcept {
    return static_cast<std::uint32_t>(tick % kSlots);
  }
  void link(std::uint32_t index, std::uint32_t list) noexcept;
  void unlink(std::uint32_t index) noexcept;
  template <typename Fire>
  void walk_due(std::uint64_t now_ms, Fire& fire) noexcept;
  template <typename Fire>
  void walk_slot(std::uint64_t tick, std::uint64_t now_ms, Fire& fire) noexcept;

  FlowTable& table_;
  std::vector<std::uint32_t> heads_;  // kSlots wheel slots, then the due list
  std::uint64_t tick_;                // the latest tick whose slot has been walked
  std::uint64_t due_min_ = kNever;    // no deadline on the due list is earlier than this
  std::uint64_t visited_ = 0;
};

template <typename Fire>
void TimerWheel::advance(std::uint64_t now_ms, Fire&& fire) noexcept {
  const std::uint64_t target = now_ms / kTickMs;
  if (target <= tick_) {
    if (now_ms >= due_min_) {
      walk_due(now_ms, fire);
    }
    return;
  }
  std::uint64_t from = tick_ + 1;
  // After a long stall, one rotation visits every slot once; more would only repeat.
  if (target - tick_ > kSlots) {
    from = target - kSlots + 1;
  }
  // The new tick first, so that what the callbacks schedule is placed against it.
  tick_ = target;
  // Everything on the due list belongs to a tick now over.
  if (due_min_ != kNever) {
    walk_due(now_ms, fire);
  }
  for (std::uint64_t t = from; t <= target; ++t) {
    walk_slot(t, now_ms, fire);
  }
}

template <typename Fire>
void TimerWheel::walk_due(std::uint64_t now_ms, Fire& fire) noexcept {
  // schedule() from a callback lowers due_min_ for what it adds (at the head, behind us).
  due_min_ = kNever;
  std::uint64_t rest = kNever;
  for (std::uint32_t i = heads_[kDueList]; i != kNoIndex;) {
    Flow& f = table_.at(i);
    const std::uint32_t next = f.timer_next;
    ++visited_;
    if (f.timer_deadline <= now_ms) {
      unlink(i);
      fire(i);
    } else if (f.timer_deadline < rest) {
      rest = f.timer_deadline;
    }
    i = next;
  }
  if (rest < due_min_) {
    due_min_ = rest;
  }
}

template <typename Fire>
void TimerWheel::walk_slot(std::uint64_t tick, std::uint64_t now_ms, Fire& fire) noexcept {
  for (std::uint32_t i = heads_[slot_of(tick)]; i != kNoIndex;) {
    Flow& f = table_.at(i);
    const std::uint32_t next = f.timer_next;
    ++visited_;
    if (f.timer_deadline <= now_ms) {
      unlink(i);
      fire(i);
    } else if (f.timer_deadline / kTickMs <= tick_) {
      // Due later in the current tick: this slot is not walked again before it is due.
      unlink(i);
      link(i, kDueList);
      if (f.timer_deadline < due_min_) {
        due_min_ = f.timer_deadline;
      }
    }
    i = next;
  }
}

}  // namespace postern::dataplane
