// Two workers sharing the ports: each owns the source ports p with p % 2 == its id, so a
// server's reply that arrives at the other worker is handed over through the owner's ring,
// and ARP learnt by one worker reaches the other's cache.
#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_ring.h>

#include <cstring>

#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

struct Captured {
  std::vector<Sent> sent;
};

std::uint16_t capture(void* ctx, std::uint16_t port, std::uint16_t, rte_mbuf** pkts,
                      std::uint16_t n) {
  auto* c = static_cast<Captured*>(ctx);
  for (std::uint16_t i = 0; i < n; ++i) {
    Bytes b = from_mbuf(pkts[i]);
    c->sent.push_back({port, b, decode(b)});
    rte_pktmbuf_free(pkts[i]);
  }
  return n;
}

TEST(MultiWorker, ServerReplyReachesTheWorkerThatOwnsTheSourcePort) {
  test_pool();
  dataplane::Settings settings;
  settings.workers = 2;
  settings.flows = 256;
  dataplane::InterfaceSettings c;
  c.ip = ip("198.18.0.1");
  c.prefix_len = 24;
  c.port_id = 0;
  std::memcpy(c.mac.addr_bytes, kPortClientMac.b, 6);
  dataplane::InterfaceSettings s = c;
  s.ip = ip("198.19.0.1");
  s.port_id = 1;
  std::memcpy(s.mac.addr_bytes, kPortServerMac.b, 6);
  settings.interfaces = {c, s};
  settings.source_addresses = {ip("198.19.0.1")};

  dataplane::Snapshot snap;
  snap.generation = 1;
  snap.vips = {ip("198.18.0.100")};
  dataplane::ListenerSlot l;
  l.servers = {0};
  snap.listeners = {l};
  dataplane::ServerSlot sv;
  sv.ip = ip("198.19.0.10");
  sv.port = rte_cpu_to_be_16(143);
  sv.port_id = 1;
  sv.next_hop = sv.ip;
  snap.servers = {sv};
  snap.binds = {{0, 143, 0, false}};
  std::atomic<const dataplane::Snapshot*> published{&snap};

  Captured out[2];
  std::vector<std::unique_ptr<dataplane::Worker>> workers;
  std::vector<rte_ring*> rings;
  for (std::uint32_t w = 0; w < 2; ++w) {
    dataplane::WorkerDeps d;
    d.id = w;
    d.settings = &settings;
    d.pool = test_pool();
    d.snapshot = &published;
    d.tx = &capture;
    d.tx_ctx = &out[w];
    d.queue = static_cast<std::uint16_t>(w);
    workers.push_back(std::make_unique<dataplane::Worker>(d));
    rings.push_back(rte_ring_create(("mw_inbox" + std::to_string(w)).c_str(), 64, SOCKET_ID_ANY,
                                    RING_F_SC_DEQ));
    ASSERT_NE(rings.back(), nullptr);
  }
  std::vector<dataplane::Worker*> peers{workers[0].get(), workers[1].get()};
  workers[0]->set_peers(peers, rings[0]);
  workers[1]->set_peers(peers, rings[1]);

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
  ASSERT_EQ(out[0].sent.size(), 1U);
  const Decoded syn = out[0].sent[0].d;
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
  EXPECT_TRUE(out[1].sent.empty());
  workers[0]->drain_inbox();
  workers[0]->flush();
  ASSERT_EQ(out[0].sent.size(), 2U);
  EXPECT_EQ(out[0].sent[1].port, 0);
  EXPECT_EQ(out[0].sent[1].d.flags, kSyn | kAck);
  EXPECT_EQ(ip_str(out[0].sent[1].d.src), "198.18.0.100");
  // Three frames came in (the ARP, the SYN, the SYN-ACK): each counted once, by the worker
  // that received it, however many workers handled it.
  EXPECT_EQ(workers[0]->counters().rx_packets + workers[1]->counters().rx_packets, 3U);
  EXPECT_EQ(workers[1]->counters().handoff_sent, 1U);

  workers.clear();
  for (auto* r : rings) {
    rte_ring_free(r);
  }
}

}  // namespace
}  // namespace postern::test
