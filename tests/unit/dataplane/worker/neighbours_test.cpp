// ARP and ICMP as a host answers them, for interface addresses, VIPs and source addresses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "session.hpp"
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

// Garbage in never means garbage out: every frame a worker fed truncated and mutated frames
// sends is a valid one, every frame is accounted for, and a real connection works afterwards.
TEST(Neighbours, TruncatedAndGarbageFramesAreCountedAndNeverCorruptOutput) {
  WorkerHarness h;
  h.resolve_servers();
  const Bytes good = TcpPacket()
                         .eth(kClientMac, kPortClientMac)
                         .from("198.18.0.2", 40000)
                         .to("198.18.0.100", 143)
                         .flags(kSyn)
                         .timestamp(1, 2)
                         .build();
  const std::uint64_t rx_before = h.worker().counters().rx_packets;
  std::uint64_t fed = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    h.receive(Bytes(good.begin(), good.begin() + static_cast<long>(n)), 0);
    ++fed;
  }
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kFrameTooShort) +
                h.worker().counters().dropped(dataplane::DropReason::kBadIpHeader) +
                h.worker().counters().dropped(dataplane::DropReason::kIpBadLength) +
                h.worker().counters().dropped(dataplane::DropReason::kBadTcpHeader),
            fed)
      << "every truncated frame is dropped under a reason";
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    Bytes f = good;
    for (int k = 0; k < 4; ++k) {
      x = x * 1103515245 + 12345;
      f[(x >> 8) % f.size()] = static_cast<std::uint8_t>(x >> 24);
    }
    h.receive(f, static_cast<std::uint16_t>(i & 1));
    ++fed;
    // A segment that arrived with a bad TCP checksum keeps it (incremental updates carry the
    // error, RFC 1624), so its receiver drops it; anything else must leave valid.
    const Decoded in = decode(f);
    if (in.is_tcp && !in.tcp_checksum_ok) {
      h.take();
      continue;
    }
    for (const auto& s : h.take()) {
      if (s.d.is_tcp) {
        ASSERT_TRUE(s.d.ip_checksum_ok && s.d.tcp_checksum_ok) << "frame " << i;
      }
    }
  }
  EXPECT_EQ(h.worker().counters().rx_packets - rx_before, fed);
  // The worker still splices a real connection end to end.
  Session s(h, 55555);
  s.syn();
  s.synack();
  const auto out = s.handshake_ack();
  ASSERT_EQ(tcp_only(out).size(), 2U);
  EXPECT_EQ(tcp_only(out)[0].d.payload.size(), kHeaderLen);
}

// Gratuitous ARP (RFC 5227 2.3) at start for every address Postern answers for: interface
// addresses, source addresses and the VIPs of the first snapshot, each on its own subnet. And
// every server's next hop is asked for at once, before a SYN has to wait for it.
TEST(Neighbours, StartAnnouncesEveryAddressAndVipAndResolvesTheServers) {
  WorkerHarness h;
  h.worker().start();
  std::vector<std::pair<std::uint16_t, std::string>> announced;
  std::vector<std::pair<std::uint16_t, std::string>> asked;
  for (const auto& s : h.take()) {
    ASSERT_TRUE(s.d.is_arp);
    EXPECT_EQ(s.d.arp_op, 1);
    EXPECT_EQ(0, std::memcmp(s.d.dst_mac.b, "\xff\xff\xff\xff\xff\xff", 6));
    if (s.d.arp_sip == s.d.arp_tip) {
      announced.emplace_back(s.port, ip_str(s.d.arp_sip));
    } else {
      EXPECT_EQ(ip_str(s.d.arp_sip), "198.19.0.1");
      asked.emplace_back(s.port, ip_str(s.d.arp_tip));
    }
  }
  std::sort(announced.begin(), announced.end());
  const std::vector<std::pair<std::uint16_t, std::string>> want{
      {0, "198.18.0.1"}, {0, "198.18.0.100"}, {1, "198.19.0.1"}, {1, "198.19.0.1"}};
  EXPECT_EQ(announced, want);  // 198.19.0.1 is both the interface and the source address
  EXPECT_EQ(h.worker().counters().arp_announcements_sent, 4U);
  std::sort(asked.begin(), asked.end());
  const std::vector<std::pair<std::uint16_t, std::string>> servers{{1, "198.19.0.10"},
                                                                   {1, "198.19.0.11"}};
  EXPECT_EQ(asked, servers);  // once per next hop, though two servers share .10
}

// A burst of SYNs towards a server whose MAC is still being resolved waits for the reply
// (up to 32 per next hop), then goes out in order.
TEST(Neighbours, ABurstOfSynsWaitsForTheServersMac) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) { s.listeners[0].servers = {0}; });
  for (std::uint16_t i = 0; i < 32; ++i) {
    h.receive(TcpPacket()
                  .eth(kClientMac, kPortClientMac)
                  .from(kClientAddr, static_cast<std::uint16_t>(41000 + i))
                  .to(kVipAddr, 143)
                  .seq(1)
                  .flags(kSyn)
                  .build(),
              0);
  }
  EXPECT_EQ(tcp_only(h.take()).size(), 0U);
  h.receive(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1);
  EXPECT_EQ(tcp_only(h.take()).size(), 32U);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNeighbourQueueFull), 0U);
}

TEST(Neighbours, AReloadThatAddsAVipAnnouncesItAndAnswersForIt) {
  WorkerHarness h;
  h.worker().start();
  h.take();
  h.republish([](dataplane::Snapshot& s) { s.vips.push_back(ip("198.18.0.101")); });
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(ip_str(out[0].d.arp_sip), "198.18.0.101");
  EXPECT_EQ(out[0].port, 0);
  h.receive(arp_packet(1, kClientMac, "198.18.0.2", Mac{}, "198.18.0.101"), 0);
  ASSERT_EQ(h.take().size(), 1U);
  // A reload that adds no address announces nothing.
  h.republish([](dataplane::Snapshot& s) { s.servers[0].weight = 2; });
  EXPECT_TRUE(h.take().empty());
}

// A server whose MAC changes (a replaced NIC, a failover) announces it; established flows
// follow at once, because they read the MAC from the neighbour entry, never from a copy.
TEST(Neighbours, AServerMacChangeReachesEstablishedFlows) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const Mac moved = mac(0x77);
  h.receive(arp_packet(1, moved, ip_str(s.server_ip).c_str(), Mac{}, ip_str(s.server_ip).c_str()),
            1);
  h.take();
  const auto out = s.send_client(s.client()
                                     .seq(s.client_isn + 1)
                                     .ack(s.server_isn + 1)
                                     .flags(kAck | kPsh)
                                     .payload("a1 NOOP\r\n"));
  ASSERT_EQ(tcp_only(out).size(), 1U);
  EXPECT_EQ(0, std::memcmp(tcp_only(out)[0].d.dst_mac.b, moved.b, 6));
}

// Client-bound frames go to the source MAC of the client's latest frame: a gateway that
// changes its MAC is followed with the next frame it forwards.
TEST(Neighbours, TheClientSideFollowsTheLatestSourceMac) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const Mac moved = mac(0x66);
  h.receive(s.client()
                .eth(moved, kPortClientMac)
                .seq(s.client_isn + 1)
                .ack(s.server_isn + 1)
                .flags(kAck)
                .build(),
            0);
  h.take();
  const auto out = s.send_server(s.server()
                                     .seq(s.server_isn + 1)
                                     .ack(s.client_isn + 1 + kHeaderLen)
                                     .flags(kAck | kPsh)
                                     .payload("* OK\r\n"));
  ASSERT_EQ(tcp_only(out).size(), 1U);
  EXPECT_EQ(0, std::memcmp(tcp_only(out)[0].d.dst_mac.b, moved.b, 6));
}

}  // namespace
}  // namespace postern::test
