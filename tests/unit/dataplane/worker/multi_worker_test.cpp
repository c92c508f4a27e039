// Two workers sharing the ports: each owns the source ports p with p % 2 == its id, so a
// server's reply that arrives at the other worker is handed over through the owner's ring,
// and ARP learnt by one worker reaches the other's cache.
#include <gtest/gtest.h>

#include <cstring>

#include "support/two_workers.hpp"

namespace postern::test {
namespace {

TEST(MultiWorker, ServerReplyReachesTheWorkerThatOwnsTheSourcePort) {
  TwoWorkers tw;
  dataplane::Worker* workers[2] = {&tw.worker(0), &tw.worker(1)};

  // Worker 1 hears the server's ARP reply; worker 0 learns it through the hand-off.
  workers[1]->handle(
      to_mbuf(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1));
  workers[0]->drain_inbox();

  // Worker 0 takes the SYN: its source port is even, the server's MAC known.
  workers[0]->handle(to_mbuf(TcpPacket()
                                 .eth(kClientMac, kPortClientMac)
                                 .from("198.18.0.2", 40000)
                                 .to("198.18.0.100", 143)
                                 .seq(10)
                                 .flags(kSyn)
                                 .build(),
                             0));
  workers[0]->flush();
  ASSERT_EQ(tw.sent(0).size(), 1U);
  const Decoded syn = tw.sent(0)[0].d;
  EXPECT_EQ(0, std::memcmp(syn.dst_mac.b, kServer1Mac.b, 6));
  EXPECT_EQ(syn.sport % 2, 0);

  // The SYN-ACK lands on worker 1, which owns no such flow: handed to worker 0.
  workers[1]->handle(to_mbuf(TcpPacket()
                                 .eth(kServer1Mac, kPortServerMac)
                                 .from("198.19.0.10", 143)
                                 .to("198.19.0.1", syn.sport)
                                 .seq(500)
                                 .ack(syn.seq + 1)
                                 .flags(kSyn | kAck)
                                 .build(),
                             1));
  workers[1]->flush();
  EXPECT_TRUE(tw.sent(1).empty());
  workers[0]->drain_inbox();
  workers[0]->flush();
  ASSERT_EQ(tw.sent(0).size(), 2U);
  EXPECT_EQ(tw.sent(0)[1].port, 0);
  EXPECT_EQ(tw.sent(0)[1].d.flags, kSyn | kAck);
  EXPECT_EQ(ip_str(tw.sent(0)[1].d.src), "198.18.0.100");
  // Three frames came in (the ARP, the SYN, the SYN-ACK): each counted once, by the worker
  // that received it, however many workers handled it.
  EXPECT_EQ(workers[0]->counters().rx_packets + workers[1]->counters().rx_packets, 3U);
  EXPECT_EQ(workers[1]->counters().handoff_sent, 1U);
}

}  // namespace
}  // namespace postern::test
