// The flow table against a reference map under random inserts, lookups and releases
// (backward-shift deletion must never lose a key that is still present).
#include "flow/flow_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

namespace postern::dataplane {
namespace {

TEST(FlowTable, BothKeysFindTheFlowWithTheirSide) {
  FlowTable t(16);
  const std::uint32_t i = t.allocate();
  Flow& f = t.at(i);
  f.client_ip = 1;
  f.vip_ip = 2;
  f.client_port = 3;
  f.vip_port = 4;
  f.server_ip = 5;
  f.local_ip = 6;
  f.server_port = 7;
  f.local_port = 8;
  ASSERT_TRUE(t.insert(f.client_key(), i, FlowSide::kClient));
  ASSERT_TRUE(t.insert(f.server_key(), i, FlowSide::kServer));
  EXPECT_FALSE(t.insert(f.client_key(), i, FlowSide::kClient));
  EXPECT_EQ(t.lookup(f.client_key()).index, i);
  EXPECT_EQ(t.lookup(f.client_key()).side, FlowSide::kClient);
  EXPECT_EQ(t.lookup(f.server_key()).side, FlowSide::kServer);
  t.release(i);
  EXPECT_FALSE(t.lookup(f.client_key()).found());
  EXPECT_FALSE(t.lookup(f.server_key()).found());
  EXPECT_EQ(t.size(), 0U);
}

TEST(FlowTable, PoolExhaustionReturnsNoIndex) {
  FlowTable t(3);
  EXPECT_NE(t.allocate(), kNoIndex);
  EXPECT_NE(t.allocate(), kNoIndex);
  EXPECT_NE(t.allocate(), kNoIndex);
  EXPECT_EQ(t.allocate(), kNoIndex);
}

TEST(FlowTable, RandomOperationsMatchReferenceMap) {
  FlowTable t(4096);
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t>, std::uint32_t>
      ref;
  std::vector<std::uint32_t> live;
  std::mt19937 rng(42);
  for (int op = 0; op < 200000; ++op) {
    if (live.size() < 4000 && (rng() % 3 != 0 || live.empty())) {
      const std::uint32_t i = t.allocate();
      ASSERT_NE(i, kNoIndex);
      Flow& f = t.at(i);
      // Few distinct values force long probe runs and collisions.
      f.client_ip = rng() % 64;
      f.vip_ip = 7;
      f.client_port = static_cast<std::uint16_t>(rng() % 4096);
      f.vip_port = 143;
      const auto k = std::make_tuple(f.client_ip, f.vip_ip, f.client_port, f.vip_port);
      if (ref.count(k) != 0U) {
        // A colliding key: the insert fails and releasing the new flow must leave the
        // existing flow's key in place.
        EXPECT_FALSE(t.insert(f.client_key(), i, FlowSide::kClient));
        t.release(i);
        continue;
      }
      ASSERT_TRUE(t.insert(f.client_key(), i, FlowSide::kClient));
      ref[k] = i;
      live.push_back(i);
    } else {
      const std::size_t n = rng() % live.size();
      const std::uint32_t i = live[n];
      const Flow& f = t.at(i);
      ref.erase(std::make_tuple(f.client_ip, f.vip_ip, f.client_port, f.vip_port));
      t.release(i);
      live[n] = live.back();
      live.pop_back();
    }
    if (op % 1000 == 0) {
      for (const auto& [k, i] : ref) {
        const FlowKey key{std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k)};
        ASSERT_EQ(t.lookup(key).index, i);
      }
    }
  }
}

}  // namespace
}  // namespace postern::dataplane
