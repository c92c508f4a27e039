// The flow table against a reference map under random inserts, lookups and releases
// (backward-shift deletion must never lose a key that is still present), and its keyed hash:
// SipHash-1-3 as specified, and keys crafted to collide under one secret do not under another.
#include "flow/flow_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <tuple>

namespace postern::dataplane {
namespace {

constexpr FlowHashKey kKeyA{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
constexpr FlowHashKey kKeyB{0x1111111111111111ULL, 0x2222222222222222ULL};

// SipHash-c-d over any bytes, written from the paper's description, byte by byte: the
// reference the table's 12-byte specialisation is checked against.
std::uint64_t reference_siphash(const std::uint8_t* in, std::size_t len, std::uint64_t k0,
                                std::uint64_t k1, int c, int d) {
  std::uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  auto rot = [](std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  auto sip_round = [&] {
    v[0] += v[1];
    v[1] = rot(v[1], 13) ^ v[0];
    v[0] = rot(v[0], 32);
    v[2] += v[3];
    v[3] = rot(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rot(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rot(v[1], 17) ^ v[2];
    v[2] = rot(v[2], 32);
  };
  auto absorb = [&](std::uint64_t m) {
    v[3] ^= m;
    for (int r = 0; r < c; ++r) {
      sip_round();
    }
    v[0] ^= m;
  };
  std::size_t pos = 0;
  for (; pos + 8 <= len; pos += 8) {
    std::uint64_t m = 0;
    for (int b = 7; b >= 0; --b) {
      m = m << 8 | in[pos + static_cast<std::size_t>(b)];
    }
    absorb(m);
  }
  std::uint64_t last = static_cast<std::uint64_t>(len & 0xff) << 56;
  for (std::size_t b = 0; pos + b < len; ++b) {
    last |= static_cast<std::uint64_t>(in[pos + b]) << (8 * b);
  }
  absorb(last);
  v[2] ^= 0xff;
  for (int r = 0; r < d; ++r) {
    sip_round();
  }
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

FlowKey key_of_bytes(const std::uint8_t (&b)[12]) {
  FlowKey k;
  std::memcpy(&k.src_ip, b, 4);
  std::memcpy(&k.dst_ip, b + 4, 4);
  std::memcpy(&k.src_port, b + 8, 2);
  std::memcpy(&k.dst_port, b + 10, 2);
  return k;
}

// Client tuples towards one VIP:port, as an attacker controlling some addresses would send.
FlowKey client_tuple(std::uint32_t n) {
  return {0x0a000000U | (n >> 16), 0x640012c6U, static_cast<std::uint16_t>(n & 0xffff), 0x8f00};
}

// `count` keys that all share one home slot in `t`, found by trying tuples in order: what an
// attacker who knew the table's hash would send.
std::vector<FlowKey> crafted_collisions(const FlowTable& t, std::size_t count) {
  std::map<std::uint32_t, std::vector<FlowKey>> by_home;
  for (std::uint32_t n = 0;; ++n) {
    const FlowKey k = client_tuple(n);
    auto& run = by_home[t.home(k)];
    run.push_back(k);
    if (run.size() == count) {
      return run;
    }
  }
}

std::size_t distinct_homes(const FlowTable& t, const std::vector<FlowKey>& keys) {
  std::set<std::uint32_t> homes;
  for (const FlowKey& k : keys) {
    homes.insert(t.home(k));
  }
  return homes.size();
}

TEST(FlowHash, ReferenceSipHashMatchesThePapersTestVector) {
  // SipHash paper, appendix A: SipHash-2-4, key 00..0f, message 00..0e.
  std::uint8_t msg[15];
  for (std::uint8_t i = 0; i < 15; ++i) {
    msg[i] = i;
  }
  EXPECT_EQ(reference_siphash(msg, 15, 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, 2, 4),
            0xa129ca6149be45e5ULL);
}

TEST(FlowHash, IsSipHash13OfTheKeyBytes) {
  // CPython 3.11 hashes bytes with SipHash-1-3; with PYTHONHASHSEED=0 its key is zero:
  // `PYTHONHASHSEED=0 python3 -c 'print(hex(hash(bytes(range(12))) % 2**64))'`.
  const std::uint8_t counting[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  EXPECT_EQ(flow_hash(key_of_bytes(counting), FlowHashKey{}), 0xa6baf4fb0f9fe1c2ULL);
  EXPECT_EQ(reference_siphash(counting, 12, 0, 0, 1, 3), 0xa6baf4fb0f9fe1c2ULL);
  std::mt19937_64 rng(1);
  for (int n = 0; n < 1000; ++n) {
    std::uint8_t b[12];
    for (std::uint8_t& x : b) {
      x = static_cast<std::uint8_t>(rng());
    }
    const FlowHashKey secret{rng(), rng()};
    ASSERT_EQ(flow_hash(key_of_bytes(b), secret),
              reference_siphash(b, 12, secret.k0, secret.k1, 1, 3));
  }
}

TEST(FlowHash, SameKeySameHomeWithinATable) {
  const FlowTable t(1024, kKeyA);
  const FlowTable same_secret(1024, kKeyA);
  for (std::uint32_t n = 0; n < 1000; ++n) {
    const FlowKey k = client_tuple(n * 7919);
    ASSERT_EQ(t.home(k), t.home(k));
    ASSERT_EQ(t.home(k), same_secret.home(k));
    ASSERT_LT(t.home(k), t.index_slots());
  }
}

TEST(FlowHash, KeysCraftedForOneSecretSpreadUnderAnother) {
  const FlowTable a(1024, kKeyA);  // 4096 index slots
  const FlowTable b(1024, kKeyB);
  const std::vector<FlowKey> attack = crafted_collisions(a, 200);
  EXPECT_EQ(distinct_homes(a, attack), 1U);
  // 200 keys in 4096 slots: about 195 distinct homes when spread at random.
  EXPECT_GT(distinct_homes(b, attack), 180U);
}

TEST(FlowHash, TablesWithoutAGivenSecretEachDrawTheirOwn) {
  const FlowTable a(1024);
  const FlowTable b(1024);
  const std::vector<FlowKey> attack = crafted_collisions(a, 200);
  EXPECT_GT(distinct_homes(b, attack), 180U);
}

TEST(FlowTable, CollidingRunSurvivesBackwardShiftDeletes) {
  // Keys that all share one home slot near the end of the index, so their probe run wraps
  // round to the start, mixed with keys homed inside that run; then deletes in random order.
  FlowTable t(64, kKeyA);  // 256 index slots
  std::vector<FlowKey> keys;
  std::vector<FlowKey> others;
  for (std::uint32_t n = 0; keys.size() < 40 || others.size() < 40; ++n) {
    const FlowKey k = client_tuple(n);
    const std::uint32_t h = t.home(k);
    if (h == t.index_slots() - 3 && keys.size() < 40) {
      keys.push_back(k);
    } else if ((h >= t.index_slots() - 2 || h < 30) && others.size() < 40) {
      others.push_back(k);
    }
  }
  keys.insert(keys.end(), others.begin(), others.end());
  std::mt19937 rng(4);
  std::shuffle(keys.begin(), keys.end(), rng);
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(t.insert(keys[i], i, FlowSide::kServer));
  }
  std::vector<std::uint32_t> order(keys.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), rng);
  std::set<std::uint32_t> gone;
  for (const std::uint32_t victim : order) {
    t.erase_key(keys[victim], victim);
    gone.insert(victim);
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
      const FlowRef r = t.lookup(keys[i]);
      if (gone.count(i) != 0U) {
        ASSERT_FALSE(r.found()) << "key " << i;
      } else {
        ASSERT_EQ(r.index, i) << "key " << i << " after deleting " << victim;
        ASSERT_EQ(r.side, FlowSide::kServer);
      }
    }
  }
}

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
  FlowTable t(4096, kKeyA);
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
