// Exhaustion (issue 9): when the flow table, the source ports, the mbuf pool or a neighbour
// queue runs out, or a listener is full, a new connection is refused, with a RST or silently
// as `defense.refuse` says, and counted under its reason; a flow already established keeps
// passing data both ways.
#include <gtest/gtest.h>
#include <rte_mempool.h>

#include <cstring>
#include <string>
#include <utility>

#include "session.hpp"
#include "support/two_workers.hpp"

namespace postern::test {
namespace {

using dataplane::DropReason;
using dataplane::RefuseMode;

Bytes syn_from(const char* client, std::uint16_t port, std::uint16_t dport = 143) {
  return TcpPacket()
      .eth(kClientMac, kPortClientMac)
      .from(client, port)
      .to(kVipAddr, dport)
      .seq(100)
      .flags(kSyn)
      .build();
}

// What a refused SYN got back: under kRst one RST|ACK towards the client, under kDrop nothing.
void expect_refused(const std::vector<Sent>& out, RefuseMode mode) {
  if (mode == RefuseMode::kDrop) {
    EXPECT_TRUE(tcp_only(out).empty());
    return;
  }
  const auto tcp = tcp_only(out);
  ASSERT_EQ(tcp.size(), 1U);
  EXPECT_EQ(tcp[0].port, 0);
  EXPECT_EQ(tcp[0].d.flags, kRst | kAck);
  EXPECT_EQ(tcp[0].d.ack, 101U);
  expect_valid_tcp(tcp[0].d);
}

// After greet(): the client's next bytes reach the server shifted by the header, and the
// server's reach the client.
void expect_data_both_ways(Session& s, std::uint32_t sent_so_far = 8) {
  const std::uint32_t client_seq = s.client_isn + 1 + sent_so_far;
  const auto up = s.send_client(
      s.client().seq(client_seq).ack(s.server_isn + 7).flags(kAck | kPsh).payload("b LIST\r\n"));
  const Sent to_server = only_on(up, 1);
  EXPECT_EQ(to_server.d.payload,
            Bytes(std::string_view("b LIST\r\n").begin(), std::string_view("b LIST\r\n").end()));
  EXPECT_EQ(to_server.d.seq, client_seq + kHeaderLen);
  expect_valid_tcp(to_server.d);
  const auto down = s.send_server(s.server()
                                      .seq(s.server_isn + 7)
                                      .ack(client_seq + kHeaderLen + 8)
                                      .flags(kAck | kPsh)
                                      .payload("b OK\r\n"));
  const Sent to_client = only_on(down, 0);
  EXPECT_EQ(to_client.d.payload,
            Bytes(std::string_view("b OK\r\n").begin(), std::string_view("b OK\r\n").end()));
  EXPECT_EQ(to_client.d.ack, client_seq + 8);
  expect_valid_tcp(to_client.d);
}

class Exhaustion : public ::testing::TestWithParam<RefuseMode> {};

INSTANTIATE_TEST_SUITE_P(RefuseModes, Exhaustion,
                         ::testing::Values(RefuseMode::kRst, RefuseMode::kDrop),
                         [](const auto& info) {
                           return std::string(info.param == RefuseMode::kRst ? "Rst" : "Drop");
                         });

TEST_P(Exhaustion, FullFlowTableRefusesNewSynsAndKeepsTheEstablishedFlow) {
  WorkerHarness h(4);
  h.snapshot().defense.refuse = GetParam();
  Session s(h);
  s.greet();
  for (std::uint16_t p = 1; p <= 3; ++p) {
    h.receive(syn_from("198.18.0.3", p), 0);
  }
  EXPECT_EQ(tcp_only(h.take()).size(), 3U);
  ASSERT_EQ(h.worker().flows().size(), 4U);

  h.receive(syn_from("198.18.0.3", 4), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kFlowTableFull), 1U);
  EXPECT_EQ(h.worker().flows().size(), 4U);
  expect_data_both_ways(s);
}

TEST_P(Exhaustion, SourcePortsUsedUpRefuseNewSynsAndKeepTheEstablishedFlow) {
  WorkerHarness h(65536);
  h.snapshot().defense.refuse = GetParam();
  // Every SYN forwarded: 60,000 half-open flows would switch an `auto` SYN proxy on.
  for (auto& l : h.snapshot().listeners) {
    l.syn_proxy = dataplane::SynProxyMode::kOff;
  }
  Session s(h);
  s.greet();
  // Every other source port of the one source address, taken by SYNs from another client.
  h.discard_output(true);
  std::uint32_t taken = 0;
  for (std::uint32_t p = 1; p < 65536; ++p) {
    h.receive(syn_from("198.18.0.3", static_cast<std::uint16_t>(p)), 0);
    if (h.worker().counters().dropped(DropReason::kPortsExhausted) != 0) {
      break;
    }
    ++taken;
  }
  h.discard_output(false);
  h.take();
  EXPECT_EQ(taken + 1, dataplane::PortAllocator::kLastPort - dataplane::PortAllocator::kFirstPort +
                           1U);  // the session holds the last one
  ASSERT_EQ(h.worker().counters().dropped(DropReason::kPortsExhausted), 1U);

  h.receive(syn_from("198.18.0.4", 5000), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kPortsExhausted), 2U);
  EXPECT_EQ(h.worker().flows().size(), taken + 1);
  expect_data_both_ways(s);
}

void maxconn_one(dataplane::Snapshot& s) {
  s.listeners[0].maxconn = 1;
}

TEST_P(Exhaustion, AFullListenerRefusesAsConfigured) {
  WorkerHarness h(1024, &maxconn_one);
  h.snapshot().defense.refuse = GetParam();
  Session s(h);
  s.greet();
  h.receive(syn_from("198.18.0.3", 1), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMaxconn), 1U);
  expect_data_both_ways(s);
}

void no_usable_server(dataplane::Snapshot& s) {
  s.servers[0].disabled = true;
  s.servers[1].disabled = true;
}

TEST_P(Exhaustion, NoUsableServerRefusesAsConfigured) {
  WorkerHarness h(1024, &no_usable_server);
  h.snapshot().defense.refuse = GetParam();
  h.resolve_servers();
  h.receive(syn_from("198.18.0.3", 1), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kNoServer), 1U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

// A SYN to an address and port nobody listens on is answered as a host answers it, whatever
// `refuse` says: that is not a resource running out.
TEST_P(Exhaustion, NoListenerIsAlwaysARst) {
  WorkerHarness h;
  h.snapshot().defense.refuse = GetParam();
  h.receive(syn_from("198.18.0.3", 1, 993), 0);
  const auto tcp = tcp_only(h.take());
  ASSERT_EQ(tcp.size(), 1U);
  EXPECT_EQ(tcp[0].d.flags, kRst | kAck);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kNoListener), 1U);
}

// ---------------------------------------------------------------------------------------------
// The neighbour queue: SYNs towards a server whose MAC is not known yet wait for its ARP reply,
// at most NeighbourCache::kPendingPerEntry of them.

void plain_server_unresolved(dataplane::Snapshot& s) {
  s.servers[2].ip = ip("198.19.0.12");
  s.servers[2].next_hop = s.servers[2].ip;
}

TEST_P(Exhaustion, AFullNeighbourQueueRefusesNewSynsAndKeepsTheEstablishedFlow) {
  WorkerHarness h(1024, &plain_server_unresolved);
  h.snapshot().defense.refuse = GetParam();
  Session s(h);
  s.greet();  // to a resolved server of "imap"
  constexpr std::uint32_t kQueue = dataplane::NeighbourCache::kPendingPerEntry;
  for (std::uint16_t p = 1; p <= kQueue; ++p) {
    h.receive(syn_from("198.18.0.3", p, 110), 0);
  }
  EXPECT_TRUE(tcp_only(h.take()).empty());  // waiting for 198.19.0.12's MAC
  ASSERT_EQ(h.worker().flows().size(), 1U + kQueue);

  h.receive(syn_from("198.18.0.3", kQueue + 1, 110), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kNeighbourQueueFull), 1U);
  EXPECT_EQ(h.worker().flows().size(), 1U + kQueue);  // no flow, no port held for it
  expect_data_both_ways(s);

  // The server answers ARP: the SYNs that waited go out.
  h.receive(arp_packet(2, mac(0x23), "198.19.0.12", kPortServerMac, "198.19.0.1"), 1);
  const auto released = tcp_only(h.take());
  ASSERT_EQ(released.size(), kQueue);
  for (const Sent& out : released) {
    EXPECT_EQ(out.d.flags, kSyn);
    EXPECT_EQ(ip_str(out.d.dst), "198.19.0.12");
  }
}

// ---------------------------------------------------------------------------------------------
// The mbuf pool: new connections stop while less than `defense.mbuf_reserve` percent of it is
// free; an established flow forwards in the mbufs its segments arrive in.

// Takes mbufs out of the test pool until `left` are free, and gives them all back at the end.
class PoolDrain {
 public:
  explicit PoolDrain(unsigned left) {
    rte_mempool* pool = test_pool();
    while (rte_mempool_avail_count(pool) > left) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) {
        break;
      }
      held_.push_back(m);
    }
  }
  ~PoolDrain() { release(); }
  PoolDrain(const PoolDrain&) = delete;
  PoolDrain& operator=(const PoolDrain&) = delete;
  void release() {
    for (rte_mbuf* m : held_) {
      rte_pktmbuf_free(m);
    }
    held_.clear();
  }

 private:
  std::vector<rte_mbuf*> held_;
};

TEST_P(Exhaustion, BelowTheMbufReserveNewSynsAreRefusedAndEstablishedFlowsGoOn) {
  WorkerHarness h;
  h.snapshot().defense.refuse = GetParam();
  h.snapshot().defense.mbuf_reserve_pct = 10;
  h.resolve_servers();
  Session s(h);
  // Established, the PROXY header sent but not acknowledged yet.
  const auto first = s.establish();
  ASSERT_EQ(first.size(), 2U);
  const Bytes header = first[0].d.payload;
  ASSERT_EQ(header.size(), kHeaderLen);

  rte_mempool* pool = test_pool();
  const unsigned reserve = pool->size / 10;
  PoolDrain drain(reserve / 4);
  ASSERT_LT(rte_mempool_avail_count(pool), reserve);
  h.advance(1);  // the pool is sampled at most once per millisecond

  h.receive(syn_from("198.18.0.3", 1), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufReserve), 1U);
  EXPECT_EQ(h.worker().flows().size(), 1U);

  // The server greets without acknowledging the header; the client answers with data.
  const auto greeting = s.send_server(s.server()
                                          .seq(s.server_isn + 1)
                                          .ack(s.client_isn + 1)
                                          .flags(kAck | kPsh)
                                          .payload("* OK\r\n"));
  EXPECT_EQ(only_on(greeting, 0).d.payload, Bytes({'*', ' ', 'O', 'K', '\r', '\n'}));
  const auto up = s.send_client(s.client()
                                    .seq(s.client_isn + 1)
                                    .ack(s.server_isn + 7)
                                    .flags(kAck | kPsh)
                                    .payload("a NOOP\r\n"));
  EXPECT_EQ(only_on(up, 1).d.seq, s.client_isn + 1 + kHeaderLen);

  // The header's retransmission takes one of the mbufs still free.
  h.advance(dataplane::splice::kHeaderRtoMs + 10);
  const auto rtx = tcp_only(h.take());
  ASSERT_EQ(rtx.size(), 1U);
  EXPECT_EQ(rtx[0].port, 1);
  EXPECT_EQ(rtx[0].d.seq, s.client_isn + 1);
  EXPECT_EQ(rtx[0].d.payload, header);
  expect_valid_tcp(rtx[0].d);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 1U);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufExhausted), 0U);

  // Still below the reserve: still refused.
  h.receive(syn_from("198.18.0.3", 2), 0);
  expect_refused(h.take(), GetParam());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufReserve), 2U);

  // Buffers back: new connections are taken again from the next sample on.
  drain.release();
  h.advance(1);
  h.receive(syn_from("198.18.0.3", 3), 0);
  const auto tcp = tcp_only(h.take());
  ASSERT_EQ(tcp.size(), 1U);
  EXPECT_EQ(tcp[0].port, 1);
  EXPECT_EQ(tcp[0].d.flags, kSyn);
  EXPECT_EQ(h.worker().flows().size(), 2U);
}

// With the SYN proxy on, a SYN is answered with a cookie and holds nothing; the server side is
// opened when the client's ACK proves its address, and that is when the reserve is checked.
TEST_P(Exhaustion, WithTheSynProxyTheProvenClientsAckMeetsTheMbufReserve) {
  WorkerHarness h;
  h.snapshot().defense.refuse = GetParam();
  for (auto& l : h.snapshot().listeners) {
    l.syn_proxy = dataplane::SynProxyMode::kOn;
  }
  h.resolve_servers();
  rte_mempool* pool = test_pool();
  PoolDrain drain(pool->size / 40);
  h.advance(1);
  Session s(h);
  const auto synack = tcp_only(s.send_client(s.client().seq(s.client_isn).flags(kSyn).mss(1460)));
  ASSERT_EQ(synack.size(), 1U);
  EXPECT_EQ(synack[0].port, 0);
  EXPECT_EQ(synack[0].d.flags, kSyn | kAck);
  const std::uint32_t cookie = synack[0].d.seq;
  const auto out =
      tcp_only(s.send_client(s.client().seq(s.client_isn + 1).ack(cookie + 1).flags(kAck)));
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufReserve), 1U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  if (GetParam() == RefuseMode::kDrop) {
    EXPECT_TRUE(out.empty());
    return;
  }
  ASSERT_EQ(out.size(), 1U);  // no SYN towards a server: a RST the client accepts
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].d.flags & kRst, kRst);
  EXPECT_EQ(out[0].d.seq, cookie + 1);
  expect_valid_tcp(out[0].d);
}

// With not one mbuf to spare, a segment of an established flow still goes through: it is
// rewritten and sent in the mbuf it came in.
TEST(ExhaustionPool, AnEstablishedFlowForwardsWithTheWholePoolInUse) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  rte_mempool* pool = test_pool();
  PoolDrain drain(1);  // the one left carries the segment in
  ASSERT_EQ(rte_mempool_avail_count(pool), 1U);
  const auto up = s.send_client(s.client()
                                    .seq(s.client_isn + 9)
                                    .ack(s.server_isn + 7)
                                    .flags(kAck | kPsh)
                                    .payload("b LIST\r\n"));
  EXPECT_EQ(only_on(up, 1).d.seq, s.client_isn + 9 + kHeaderLen);
  ASSERT_EQ(rte_mempool_avail_count(pool), 1U);  // the harness freed it after capture
  const auto down = s.send_server(s.server()
                                      .seq(s.server_isn + 7)
                                      .ack(s.client_isn + 17 + kHeaderLen)
                                      .flags(kAck | kPsh)
                                      .payload("b OK\r\n"));
  EXPECT_EQ(only_on(down, 0).d.ack, s.client_isn + 17);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufExhausted), 0U);
}

TEST(ExhaustionPool, AReserveOfZeroNeverRefuses) {
  WorkerHarness h;
  h.snapshot().defense.mbuf_reserve_pct = 0;
  h.resolve_servers();
  PoolDrain drain(1);
  h.advance(1);
  h.receive(syn_from("198.18.0.3", 1), 0);
  const auto tcp = tcp_only(h.take());
  ASSERT_EQ(tcp.size(), 1U);
  EXPECT_EQ(tcp[0].d.flags, kSyn);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kMbufReserve), 0U);
}

// ---------------------------------------------------------------------------------------------
// The hand-off ring: with two workers, a server's segment that arrives at the worker that does
// not own its source port goes through the owner's ring. A full ring drops it, counted by the
// worker that received it; the owner's own traffic is not touched.

TEST(ExhaustionHandoff, AFullRingDropsWhatItCannotTakeAndTheOwnersFlowsGoOn) {
  constexpr unsigned kRing = 64;  // holds kRing - 1 frames
  TwoWorkers tw(kRing);
  dataplane::Worker& owner = tw.worker(0);
  dataplane::Worker& other = tw.worker(1);

  // Both learn the server's MAC (worker 0 through the hand-off of worker 1's ARP copy).
  other.handle(to_mbuf(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1));
  owner.drain_inbox();
  owner.flush();
  other.flush();
  tw.take(0);
  tw.take(1);

  // Worker 0 splices a connection end to end: its source port is even (worker 0's).
  auto client = [] {
    TcpPacket p;
    p.eth(kClientMac, kPortClientMac).from("198.18.0.2", 40000).to("198.18.0.100", 143);
    return p;
  };
  owner.handle(to_mbuf(client().seq(10).flags(kSyn).build(), 0));
  owner.flush();
  auto sent = tw.take(0);
  ASSERT_EQ(sent.size(), 1U);
  const std::uint16_t lport = sent[0].d.sport;
  const std::uint32_t isn = sent[0].d.seq;  // the server-side ISN is Postern's own
  ASSERT_EQ(lport % 2, 0);
  auto server = [lport] {
    TcpPacket p;
    p.eth(kServer1Mac, kPortServerMac).from("198.19.0.10", 143).to("198.19.0.1", lport);
    return p;
  };
  owner.handle(to_mbuf(server().seq(500).ack(isn + 1).flags(kSyn | kAck).build(), 1));
  owner.handle(to_mbuf(client().seq(11).ack(501).flags(kAck).build(), 0));
  owner.flush();
  ASSERT_EQ(tw.take(0).size(), 2U);  // SYN-ACK to the client, ACK to the server

  // Worker 1 receives server segments for worker 0's ports until the ring is full.
  for (unsigned i = 0; i < kRing; ++i) {
    other.handle(to_mbuf(server().seq(501).ack(isn + 1).flags(kAck).build(), 1));
  }
  other.flush();
  EXPECT_EQ(other.counters().handoff_sent, kRing - 1);
  EXPECT_EQ(other.counters().dropped(DropReason::kHandoffFull), 1U);
  EXPECT_TRUE(tw.take(1).empty());

  // Worker 0's connection is untouched: data both ways, directly on its own queue.
  owner.handle(
      to_mbuf(client().seq(11).ack(501).flags(kAck | kPsh).payload("a1 NOOP\r\n").build(), 0));
  owner.handle(
      to_mbuf(server().seq(501).ack(isn + 10).flags(kAck | kPsh).payload("a1 OK\r\n").build(), 1));
  owner.flush();
  sent = tw.take(0);
  ASSERT_EQ(sent.size(), 2U);
  const Sent up = only_on(sent, 1);
  EXPECT_EQ(up.d.payload.size(), 9U);
  EXPECT_EQ(up.d.seq, isn + 1);
  const Sent down = only_on(sent, 0);
  EXPECT_EQ(down.d.payload.size(), 7U);
  EXPECT_EQ(ip_str(down.d.src), "198.18.0.100");
  EXPECT_EQ(down.d.ack, 20U);

  // Once worker 0 drains its ring, the hand-off works again.
  unsigned drained = 0;
  while (const unsigned n = owner.drain_inbox()) {
    drained += n;
    owner.flush();
  }
  EXPECT_EQ(drained, kRing - 1);
  tw.take(0);
  other.handle(to_mbuf(server().seq(501).ack(isn + 1).flags(kAck).build(), 1));
  EXPECT_EQ(other.counters().handoff_sent, kRing);
  EXPECT_EQ(other.counters().dropped(DropReason::kHandoffFull), 1U);
}

}  // namespace
}  // namespace postern::test
