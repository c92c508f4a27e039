// Getting a connection to a server: a RST answering the SYN re-dispatches like an unanswered
// SYN does, up to `retries`; `timeout connect` in SynSent and SynReceived; SYN retransmissions;
// a client port reused once the old flow has closed.
#include <gtest/gtest.h>

#include <cstring>

#include "proxy/proxy_decode.hpp"
#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::splice::kClosedLingerMs;

constexpr std::uint32_t kConnectMs = 5000;  // the harness's `timeout connect`

void no_retries(dataplane::Snapshot& s) {
  s.listeners[0].retries = 0;
}

// Linux's answer from a closed port: RST|ACK, seq 0, acknowledging the SYN.
TcpPacket refusal(const Session& s) {
  return s.server().seq(0).ack(s.client_isn + 1).flags(kRst | kAck);
}

TEST(Connect, ServerRstToTheSynIsRedispatchedToTheOtherServer) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Decoded first = s.syn();
  EXPECT_EQ(ip_str(first.dst), "198.19.0.10");
  const auto out = s.send_server(refusal(s));
  ASSERT_EQ(out.size(), 1U);  // the new SYN; nothing to the client
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kSourceAddr);
  EXPECT_EQ(d.sport, first.sport);
  EXPECT_EQ(ip_str(d.dst), "198.19.0.11");
  EXPECT_EQ(d.dport, 143);
  EXPECT_EQ(d.flags, kSyn);
  EXPECT_EQ(d.seq, s.client_isn);
  EXPECT_EQ(d.ack, 0U);
  EXPECT_EQ(d.window, first.window);
  EXPECT_EQ(d.options, first.options);  // the client's SYN options, as it wrote them
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kServer2Mac.b, 6));
  EXPECT_EQ(h.worker().counters().syn_redispatched, 1U);
  EXPECT_EQ(h.worker().counters().connect_failures, 1U);
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 0U);
  EXPECT_EQ(h.worker().slots().server_active[1].get(), 1U);

  // The second server answers: the connection proceeds with it.
  s.server_ip = d.dst;
  const Decoded synack = s.synack();
  expect_valid_tcp(synack);
  EXPECT_EQ(ip_str(synack.src), kVipAddr);
  EXPECT_EQ(synack.sport, 143);
  EXPECT_EQ(synack.dport, s.client_port);
  EXPECT_EQ(synack.seq, s.server_isn);
  EXPECT_EQ(synack.ack, s.client_isn + 1);
  const auto hs = s.handshake_ack();
  ASSERT_EQ(hs.size(), 2U);
  EXPECT_EQ(ip_str(hs[0].d.dst), "198.19.0.11");
  EXPECT_EQ(hs[0].d.payload.size(), kHeaderLen);
}

TEST(Connect, ServerRstsUntilRetriesAreExhaustedThenTheClientGetsTheRst) {
  WorkerHarness h;  // retries 3 (the listener default), two servers
  h.resolve_servers();
  Session s(h);
  s.syn();
  const char* expected_next[] = {"198.19.0.11", "198.19.0.10", "198.19.0.11"};
  for (const char* next : expected_next) {
    const auto out = s.send_server(refusal(s));
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].port, 1);
    EXPECT_EQ(out[0].d.flags, kSyn);
    EXPECT_EQ(ip_str(out[0].d.dst), next);
    EXPECT_EQ(out[0].d.sport, s.local_port);
    EXPECT_EQ(out[0].d.seq, s.client_isn);
    expect_valid_tcp(out[0].d);
    s.server_ip = out[0].d.dst;
  }
  const auto out = s.send_server(refusal(s));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 0);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(d.sport, 143);
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(d.dport, s.client_port);
  EXPECT_EQ(d.flags, kRst | kAck);
  EXPECT_EQ(d.seq, 0U);
  EXPECT_EQ(d.ack, s.client_isn + 1);  // acknowledges the SYN: acceptable in SYN-SENT
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(h.worker().counters().syn_redispatched, 3U);
  EXPECT_EQ(h.worker().counters().connect_failures, 4U);
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(h.worker().slots().server_active[0].get() + h.worker().slots().server_active[1].get(),
            0U);
}

// RFC 9293 section 3.10.7.3 (SYN-SENT): a RST is acceptable only if its ACK acknowledges the
// SYN; otherwise it is dropped. worker.cpp from_server takes any RST in kSynSent as a refusal
// (counts a connect failure, re-dispatches, or passes it to the client and closes the flow).
TEST(Connect, RstNotAcknowledgingTheSynIsIgnoredInSynSent) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  EXPECT_TRUE(s.send_server(s.server().seq(0).ack(s.client_isn + 77).flags(kRst | kAck)).empty());
  EXPECT_TRUE(s.send_server(s.server().seq(123).flags(kRst)).empty());
  EXPECT_EQ(h.worker().counters().syn_redispatched, 0U);
  EXPECT_EQ(h.worker().counters().connect_failures, 0U);
  // The real SYN-ACK still gets through.
  const Decoded synack = s.synack();
  EXPECT_EQ(synack.flags, kSyn | kAck);
  EXPECT_EQ(ip_str(synack.dst), kClientAddr);
}

TEST(Connect, ConnectTimeoutWithoutRetriesResetsTheClient) {
  WorkerHarness h(1024, &no_retries);
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(kConnectMs - 10);
  EXPECT_TRUE(h.take().empty());
  h.advance(20);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);  // the server never answered: nothing to reset there
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 0);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(d.sport, 143);
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(d.dport, s.client_port);
  EXPECT_NE(d.flags & kRst, 0);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(h.worker().counters().connect_failures, 1U);
  EXPECT_EQ(h.worker().counters().syn_redispatched, 0U);
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

// The client is in SYN-SENT: RFC 9293 section 3.10.7.3 drops a RST without ACK there ("If the
// ACK bit is off ... If the RST bit is set ... Otherwise (no ACK) drop the segment"; Linux
// tcp_rcv_synsent_state_process does the same). reset_both (worker.cpp) always builds the
// client RST with with_ack = false and seq = server_isn + 1 (0 + 1 here: no SYN-ACK was seen),
// so the client ignores it and keeps retransmitting its SYN.
TEST(Connect, ConnectTimeoutRstAcknowledgesTheClientsSyn) {
  WorkerHarness h(1024, &no_retries);
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(kConnectMs + 10);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
  EXPECT_EQ(out[0].d.ack, s.client_isn + 1);
  expect_valid_tcp(out[0].d);
}

TEST(Connect, SynReceivedTimesOutWhenTheClientNeverAcks) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(1000);
  s.synack();
  h.advance(kConnectMs - 10);  // measured from the SYN-ACK
  EXPECT_TRUE(h.take().empty());
  h.advance(20);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 2U);
  const Decoded c = only_on(out, 0).d;
  expect_valid_tcp(c);
  EXPECT_EQ(ip_str(c.src), kVipAddr);
  EXPECT_EQ(c.sport, 143);
  EXPECT_EQ(ip_str(c.dst), kClientAddr);
  EXPECT_EQ(c.dport, s.client_port);
  EXPECT_NE(c.flags & kRst, 0);
  EXPECT_EQ(c.seq, s.server_isn + 1);  // RCV.NXT of a client that got the SYN-ACK
  const Decoded v = only_on(out, 1).d;
  expect_valid_tcp(v);
  EXPECT_EQ(ip_str(v.src), kSourceAddr);
  EXPECT_EQ(v.sport, s.local_port);
  EXPECT_EQ(ip_str(v.dst), "198.19.0.10");
  EXPECT_EQ(v.dport, 143);
  EXPECT_EQ(v.flags, kRst);
  EXPECT_EQ(v.seq, s.client_isn + 1);  // RCV.NXT of the server in SYN-RECEIVED
  EXPECT_EQ(0, std::memcmp(v.dst_mac.b, kServer1Mac.b, 6));
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

// A client whose SYN-ACK was lost is still in SYN-SENT and drops a RST without ACK (RFC 9293
// 3.10.7.3). RST|ACK with seq = server ISN + 1 and ack = client ISN + 1 is accepted in
// SYN-SENT (the ACK acknowledges the SYN) and in ESTABLISHED (seq = RCV.NXT) alike.
TEST(Connect, SynReceivedTimeoutRstIsAcceptableToAClientStillInSynSent) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  s.synack();
  h.advance(kConnectMs + 10);
  const Decoded c = only_on(h.take(), 0).d;
  EXPECT_EQ(c.flags, kRst | kAck);
  EXPECT_EQ(c.seq, s.server_isn + 1);
  EXPECT_EQ(c.ack, s.client_isn + 1);
}

TEST(Connect, RetransmittedSynGoesToTheSameServerFromTheSameLocalPort) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Decoded first = s.syn();
  h.advance(1000);
  const auto out = s.send_client(s.client()
                                     .seq(s.client_isn)
                                     .flags(kSyn)
                                     .mss(1460)
                                     .sack_permitted()
                                     .timestamp(1111, 0)
                                     .wscale(7));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kSourceAddr);
  EXPECT_EQ(d.sport, first.sport);
  EXPECT_EQ(d.dst, first.dst);
  EXPECT_EQ(d.dport, 143);
  EXPECT_EQ(d.seq, s.client_isn);
  EXPECT_EQ(d.flags, kSyn);
  EXPECT_EQ(d.ts_val, 1111U);
  EXPECT_EQ(d.ttl, 63);
  EXPECT_EQ(h.worker().flows().size(), 1U);
  EXPECT_EQ(h.worker().counters().flows_created, 1U);
  EXPECT_EQ(h.worker().slots().server_total[0].get(), 1U);
  EXPECT_EQ(h.worker().slots().server_total[1].get(), 0U);
}

// DESIGN.md step 6: "a SYN with no SYN-ACK within `timeout connect` is re-dispatched" (HAProxy:
// timeout connect bounds the connection attempt). from_client calls idle_update() for every
// segment, the client's own SYN retransmissions included, and arm() measures the SynSent
// deadline from last_seen_ms, so each retransmission restarts the clock: with Linux's 1, 2, 4 s
// SYN back-off and a 5 s timeout the re-dispatch comes at 12 s instead of 5 s.
TEST(Connect, ClientSynRetransmissionsDoNotPostponeTheConnectTimeout) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Decoded first = s.syn();
  auto retransmit = [&] {
    s.send_client(s.client()
                      .seq(s.client_isn)
                      .flags(kSyn)
                      .mss(1460)
                      .sack_permitted()
                      .timestamp(111, 0)
                      .wscale(7));
  };
  h.advance(1000);
  retransmit();
  h.advance(2000);
  retransmit();
  h.advance(kConnectMs - 3000 + 10);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kSyn);
  EXPECT_NE(out[0].d.dst, first.dst);
  EXPECT_EQ(h.worker().counters().syn_redispatched, 1U);
}

// A SYN with another ISN on the same 4-tuple while the first attempt is still unanswered is a
// new attempt (the client gave up on the first and reused the port). The server may already
// hold the first SYN (its SYN-ACK lost), and Linux resets a request that sees a SYN with
// another sequence number; so the server keeps seeing the first attempt's ISN, and only the
// offset to the client's space moves: the SYN-ACK acknowledges the new ISN for the client,
// the header and the client's bytes follow the first ISN towards the server.
TEST(Connect, SynWithANewIsnInSynSentRestartsTheAttempt) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(1000);
  const auto out = s.send_client(
      s.client().seq(7000).flags(kSyn).mss(1460).sack_permitted().timestamp(2222, 0).wscale(7));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, 1000U) << "the server sees the first attempt's SYN again";
  const auto sa = s.send_server(
      s.server().seq(s.server_isn).ack(1001).flags(kSyn | kAck).mss(1460).timestamp(900, 2222));
  ASSERT_EQ(sa.size(), 1U);
  EXPECT_EQ(sa[0].d.ack, 7001U) << "the client sees its new ISN acknowledged";
  const auto hs = tcp_only(
      s.send_client(s.client().seq(7001).ack(s.server_isn + 1).flags(kAck).timestamp(2223, 900)));
  ASSERT_EQ(hs.size(), 2U);
  EXPECT_EQ(hs[0].d.seq, 1001U);
  EXPECT_EQ(hs[0].d.payload.size(), kHeaderLen);
  EXPECT_EQ(hs[1].d.seq, 1001U + kHeaderLen);
  const auto data = tcp_only(s.send_client(
      s.client().seq(7001).ack(s.server_isn + 1).flags(kAck | kPsh).payload("a1 LOGIN\r\n")));
  ASSERT_EQ(data.size(), 1U);
  EXPECT_EQ(data[0].d.seq, 1001U + kHeaderLen);
}

TEST(Connect, ClientReusingItsPortAfterTheOldFlowClosedGetsAFreshConnection) {
  WorkerHarness h;
  h.resolve_servers();
  Session old_conn(h);
  old_conn.establish();
  const std::uint32_t ci = old_conn.client_isn;
  const std::uint32_t si = old_conn.server_isn;
  old_conn.send_server(old_conn.server().seq(si + 1).ack(ci + 1 + kHeaderLen).flags(kAck));
  old_conn.send_client(old_conn.client().seq(ci + 1).ack(si + 1).flags(kFin | kAck));
  old_conn.send_server(old_conn.server().seq(si + 1).ack(ci + 2 + kHeaderLen).flags(kFin | kAck));
  old_conn.send_client(old_conn.client().seq(ci + 2).ack(si + 2).flags(kAck));
  ASSERT_EQ(h.worker().counters().flows_closed, 1U);
  ASSERT_EQ(h.worker().flows().size(), 1U);  // closed, lingering

  h.advance(500);
  Session fresh(h, old_conn.client_port, 143, 777777, 8000000);
  const Decoded syn = fresh.syn();
  expect_valid_tcp(syn);
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_EQ(syn.seq, 777777U);
  EXPECT_EQ(ip_str(syn.dst), "198.19.0.11");  // round-robin moved on
  EXPECT_NE(syn.sport, old_conn.local_port);  // FIFO: the old port rests
  EXPECT_EQ(h.worker().flows().size(), 1U);
  EXPECT_EQ(h.worker().counters().flows_created, 2U);

  const Decoded synack = fresh.synack();
  EXPECT_EQ(synack.ack, 777778U);
  const auto hs = fresh.handshake_ack();
  ASSERT_EQ(hs.size(), 2U);
  EXPECT_EQ(hs[0].d.seq, 777778U);
  EXPECT_EQ(hs[0].d.ack, 8000001U);
  const auto r = dataplane::proxy::decode(hs[0].d.payload.data(), hs[0].d.payload.size());
  ASSERT_EQ(r.status, dataplane::proxy::DecodeStatus::kOk);
  EXPECT_EQ(r.addresses.src_port, old_conn.client_port);
  EXPECT_EQ(hs[1].d.seq, 777778U + kHeaderLen);

  // The old server-side key is gone: a late segment from the first server reaches no
  // client and is answered with a RST at the sequence number it acknowledged.
  const auto late =
      old_conn.send_server(old_conn.server().seq(si + 2).ack(ci + 2 + kHeaderLen).flags(kAck));
  ASSERT_EQ(late.size(), 1U);
  EXPECT_EQ(late[0].port, 1);
  EXPECT_EQ(late[0].d.flags, kRst);
  EXPECT_EQ(late[0].d.seq, ci + 2 + kHeaderLen);
}

}  // namespace
}  // namespace postern::test
