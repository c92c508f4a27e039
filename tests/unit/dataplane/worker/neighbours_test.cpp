// ARP and ICMP as a host answers them, for interface addresses, VIPs and source addresses.
#include <gtest/gtest.h>

#include <cstring>

#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

TEST(Neighbours, ArpRequestForVipIsAnsweredWithPortMac) {
  WorkerHarness h;
  h.receive(arp_packet(1, kClientMac, "198.18.0.2", Mac{}, "198.18.0.100"), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_arp);
  EXPECT_EQ(out[0].d.arp_op, 2);
  EXPECT_EQ(ip_str(out[0].d.arp_sip), "198.18.0.100");
  EXPECT_EQ(ip_str(out[0].d.arp_tip), "198.18.0.2");
  EXPECT_EQ(0, std::memcmp(out[0].d.arp_sha.b, kPortClientMac.b, 6));
  EXPECT_EQ(0, std::memcmp(out[0].d.dst_mac.b, kClientMac.b, 6));
}

TEST(Neighbours, ArpForSomeoneElseIsIgnored) {
  WorkerHarness h;
  h.receive(arp_packet(1, kClientMac, "198.18.0.2", Mac{}, "198.18.0.77"), 0);
  EXPECT_TRUE(h.take().empty());
}

TEST(Neighbours, PingOfVipIsAnswered) {
  WorkerHarness h;
  h.receive(icmp_echo(kClientMac, kPortClientMac, "198.18.0.2", "198.18.0.100", 7, 1, "ping"), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_icmp);
  EXPECT_EQ(out[0].d.icmp_type, 0);
  EXPECT_TRUE(out[0].d.icmp_checksum_ok);
  EXPECT_TRUE(out[0].d.ip_checksum_ok);
  EXPECT_EQ(ip_str(out[0].d.src), "198.18.0.100");
  EXPECT_EQ(ip_str(out[0].d.dst), "198.18.0.2");
}

TEST(Neighbours, UnresolvedServerIsProbedThenPendingFramesDropped) {
  WorkerHarness h;
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 110)
                .seq(1)
                .flags(kSyn)
                .build(),
            0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_TRUE(out[0].d.is_arp);
  int probes = 0;
  // Stay below `timeout connect` (5 s), after which the SYN itself is sent again.
  for (int i = 0; i < 4; ++i) {
    h.advance(1100);
    for (const auto& s : h.take()) {
      probes += s.d.is_arp ? 1 : 0;
    }
  }
  EXPECT_EQ(probes, 2);  // three probes in all, then the queued SYN is given up
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNeighbourUnresolved), 1U);
}

TEST(Neighbours, BadIpChecksumIsCountedAndDropped) {
  WorkerHarness h;
  Bytes f = TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 143)
                .flags(kSyn)
                .build();
  f[24] ^= 0xff;
  h.receive(f, 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kBadIpChecksum), 1U);
}

TEST(Neighbours, TruncatedAndGarbageFramesNeverCrash) {
  WorkerHarness h;
  const Bytes good = TcpPacket()
                         .eth(kClientMac, kPortClientMac)
                         .from("198.18.0.2", 40000)
                         .to("198.18.0.100", 143)
                         .flags(kSyn)
                         .timestamp(1, 2)
                         .build();
  for (std::size_t n = 0; n < good.size(); ++n) {
    h.receive(Bytes(good.begin(), good.begin() + static_cast<long>(n)), 0);
  }
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    Bytes f = good;
    for (int k = 0; k < 4; ++k) {
      x = x * 1103515245 + 12345;
      f[(x >> 8) % f.size()] = static_cast<std::uint8_t>(x >> 24);
    }
    h.receive(f, static_cast<std::uint16_t>(i & 1));
  }
  h.take();
  SUCCEED();
}

}  // namespace
}  // namespace postern::test
