// The timer wheel: every deadline fires once, on time, and a poll loop that calls advance()
// with nothing due pays nothing (visited() counts the entries advance() looks at).
#include "flow/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace postern::dataplane {
namespace {

constexpr std::uint64_t kRotationMs = TimerWheel::kTickMs * TimerWheel::kSlots;

// Records when each flow fired.
struct Fired {
  std::map<std::uint32_t, std::vector<std::uint64_t>> at;
  std::uint64_t now = 0;
  void operator()(std::uint32_t i) { at[i].push_back(now); }
};

TEST(TimerWheel, FiresAtDeadlineAcrossRotations) {
  FlowTable t(8);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  const std::uint32_t b = t.allocate();
  w.schedule(a, 100);
  w.schedule(b, 60000);  // several rotations away
  std::vector<std::uint32_t> fired;
  auto fire = [&](std::uint32_t i) { fired.push_back(i); };
  w.advance(99, fire);
  EXPECT_TRUE(fired.empty());
  w.advance(100, fire);
  ASSERT_EQ(fired.size(), 1U);
  EXPECT_EQ(fired[0], a);
  for (std::uint64_t now = 200; now < 60000; now += 250) {
    w.advance(now, fire);
  }
  EXPECT_EQ(fired.size(), 1U);
  w.advance(60001, fire);
  ASSERT_EQ(fired.size(), 2U);
  EXPECT_EQ(fired[1], b);
  EXPECT_FALSE(w.armed(b));
}

TEST(TimerWheel, CancelAndRescheduleInsideCallback) {
  FlowTable t(8);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  const std::uint32_t b = t.allocate();
  w.schedule(a, 10);
  w.schedule(b, 10);
  w.cancel(b);
  int count = 0;
  w.advance(20, [&](std::uint32_t i) {
    ++count;
    if (count == 1) {
      w.schedule(i, 50);  // re-arm from the callback
    }
  });
  EXPECT_EQ(count, 1);
  w.advance(60, [&](std::uint32_t) { ++count; });
  EXPECT_EQ(count, 2);
}

TEST(TimerWheel, NothingDueCostsNothingWithinATick) {
  FlowTable t(4096);
  const std::uint64_t start = 1000000;  // a tick boundary
  TimerWheel w(t, start);
  std::mt19937 rng(7);
  for (int n = 0; n < 4000; ++n) {
    // From later in this very tick to four rotations away.
    w.schedule(t.allocate(), start + 2 + rng() % (4 * kRotationMs));
  }
  Fired fired;
  for (int n = 0; n < 100000; ++n) {
    fired.now = start + 1;
    w.advance(start + 1, fired);
  }
  EXPECT_TRUE(fired.at.empty());
  EXPECT_EQ(w.visited(), 0U);
}

TEST(TimerWheel, EachSlotIsWalkedOncePerRotation) {
  FlowTable t(2048);
  TimerWheel w(t, 0);
  // All more than two rotations away: every entry is looked at once per rotation, however
  // often advance() runs.
  std::mt19937 rng(3);
  for (int n = 0; n < 2000; ++n) {
    w.schedule(t.allocate(), 2 * kRotationMs + 4 + rng() % kRotationMs);
  }
  Fired fired;
  for (std::uint64_t now = 0; now <= kRotationMs; ++now) {  // ticks 1 to kSlots
    fired.now = now;
    for (int again = 0; again < 3; ++again) {
      w.advance(now, fired);
    }
  }
  EXPECT_TRUE(fired.at.empty());
  EXPECT_EQ(w.visited(), 2000U);
}

TEST(TimerWheel, DueEntriesFireExactlyOnceOnTime) {
  FlowTable t(1024);
  TimerWheel w(t, 0);
  std::mt19937 rng(11);
  std::map<std::uint32_t, std::uint64_t> deadline;
  for (int n = 0; n < 1000; ++n) {
    const std::uint32_t i = t.allocate();
    deadline[i] = 1 + rng() % (3 * kRotationMs);
    w.schedule(i, deadline[i]);
  }
  Fired fired;
  for (std::uint64_t now = 0; now <= 3 * kRotationMs + 10; ++now) {
    fired.now = now;
    w.advance(now, fired);
    w.advance(now, fired);
  }
  ASSERT_EQ(fired.at.size(), deadline.size());
  for (const auto& [i, when] : fired.at) {
    ASSERT_EQ(when.size(), 1U) << "flow " << i;
    EXPECT_EQ(when[0], deadline[i]) << "flow " << i;
    EXPECT_FALSE(w.armed(i));
  }
  // Each entry is seen once per rotation it waits, once more when due within its tick.
  EXPECT_LE(w.visited(), 1000U * 5);
}

TEST(TimerWheel, CoarseStepsFireLessThanATickLateAtMost) {
  FlowTable t(1024);
  TimerWheel w(t, 0);
  std::mt19937 rng(5);
  std::map<std::uint32_t, std::uint64_t> deadline;
  for (int n = 0; n < 1000; ++n) {
    const std::uint32_t i = t.allocate();
    deadline[i] = rng() % (2 * kRotationMs);
    w.schedule(i, deadline[i]);
  }
  Fired fired;
  // A loop slower than the tick: every 7 ms.
  for (std::uint64_t now = 0; now <= 2 * kRotationMs + 7; now += 7) {
    fired.now = now;
    w.advance(now, fired);
  }
  ASSERT_EQ(fired.at.size(), deadline.size());
  for (const auto& [i, when] : fired.at) {
    ASSERT_EQ(when.size(), 1U);
    EXPECT_GE(when[0], deadline[i]);
    EXPECT_LT(when[0], deadline[i] + 7);
  }
}

TEST(TimerWheel, LongDeadlineIsSeenOncePerRotation) {
  FlowTable t(4);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  const std::uint64_t deadline = 5 * kRotationMs + 100;  // the first ms of its tick
  w.schedule(a, deadline);
  Fired fired;
  for (std::uint64_t now = 1; now <= deadline + 50; ++now) {
    fired.now = now;
    w.advance(now, fired);
  }
  ASSERT_EQ(fired.at[a].size(), 1U);
  EXPECT_EQ(fired.at[a][0], deadline);
  // Its slot came round six times: five rotations early, then due.
  EXPECT_EQ(w.visited(), 6U);
}

TEST(TimerWheel, PeriodicRearmFromTheCallback) {
  FlowTable t(4);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  w.schedule(a, 10);
  std::vector<std::uint64_t> at;
  std::uint64_t now = 0;
  auto fire = [&](std::uint32_t i) {
    at.push_back(now);
    if (at.size() < 5) {
      w.schedule(i, now + 3);  // within the same tick or the next one
    }
  };
  for (now = 0; now < 100; ++now) {
    w.advance(now, fire);
  }
  EXPECT_EQ(at, (std::vector<std::uint64_t>{10, 13, 16, 19, 22}));
  EXPECT_FALSE(w.armed(a));
}

TEST(TimerWheel, CancelInsideTheCallbackDisarms) {
  FlowTable t(4);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  w.schedule(a, 10);
  int count = 0;
  w.advance(10, [&](std::uint32_t i) {
    ++count;
    w.schedule(i, 11);
    w.cancel(i);
  });
  w.advance(50, [&](std::uint32_t) { ++count; });
  EXPECT_EQ(count, 1);
  EXPECT_FALSE(w.armed(a));
}

TEST(TimerWheel, DeadlineInThePastFiresOnTheNextAdvance) {
  FlowTable t(4);
  TimerWheel w(t, 0);
  Fired fired;
  for (std::uint64_t now = 0; now <= 1000; ++now) {
    fired.now = now;
    w.advance(now, fired);
  }
  const std::uint32_t a = t.allocate();
  const std::uint32_t b = t.allocate();
  w.schedule(a, 200);   // many ticks ago
  w.schedule(b, 1000);  // this very ms
  EXPECT_TRUE(w.armed(a));
  w.advance(1000, fired);
  EXPECT_EQ(fired.at[a], (std::vector<std::uint64_t>{1000}));
  EXPECT_EQ(fired.at[b], (std::vector<std::uint64_t>{1000}));
}

TEST(TimerWheel, RearmToThePastFromTheCallbackWaitsForTheNextAdvance) {
  FlowTable t(4);
  TimerWheel w(t, 0);
  const std::uint32_t a = t.allocate();
  w.schedule(a, 8);
  int count = 0;
  auto fire = [&](std::uint32_t i) {
    if (++count < 3) {
      w.schedule(i, 0);
    }
  };
  w.advance(8, fire);
  EXPECT_EQ(count, 1);  // not again inside the same advance()
  w.advance(8, fire);
  EXPECT_EQ(count, 2);
  w.advance(9, fire);
  EXPECT_EQ(count, 3);
  w.advance(20, fire);
  EXPECT_EQ(count, 3);
}

TEST(TimerWheel, LongStallFiresEverythingOnceWithinOneRotationOfWork) {
  FlowTable t(1024);
  TimerWheel w(t, 0);
  std::mt19937 rng(9);
  for (int n = 0; n < 1000; ++n) {
    w.schedule(t.allocate(), rng() % (3 * kRotationMs));
  }
  Fired fired;
  fired.now = 10 * kRotationMs;
  w.advance(fired.now, fired);
  EXPECT_EQ(fired.at.size(), 1000U);
  for (const auto& [i, when] : fired.at) {
    EXPECT_EQ(when.size(), 1U);
  }
  EXPECT_EQ(w.visited(), 1000U);
}

}  // namespace
}  // namespace postern::dataplane
