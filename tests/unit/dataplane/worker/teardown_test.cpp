// Tearing a spliced connection down with RST: forwarded both ways in the right sequence space,
// the flow lingers closed for kClosedLingerMs and is then released; what arrives after that is
// answered as a host without a connection answers (RFC 9293 section 3.10.7.1).
#include <gtest/gtest.h>

#include <cstring>

#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::DropReason;
using dataplane::splice::kClosedLingerMs;

// A connection past the greeting: the server acknowledged the header and sent 6 bytes, the
// client sent 8 bytes that the server acknowledged.
struct Greeted {
  explicit Greeted(WorkerHarness& h) : s(h) { s.greet(); }
  Session s;
};

TEST(Teardown, ClientRstIsForwardedShiftedThenFlowLingersAndIsReleased) {
  WorkerHarness h;
  Greeted g(h);
  Session& s = g.s;
  const auto out =
      s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kSourceAddr);
  EXPECT_EQ(d.sport, s.local_port);
  EXPECT_EQ(ip_str(d.dst), "198.19.0.10");
  EXPECT_EQ(d.dport, 143);
  EXPECT_EQ(d.seq, s.client_isn + 9 + kHeaderLen);  // client space -> server space
  EXPECT_EQ(d.ack, s.server_isn + 7);               // server space is not shifted
  EXPECT_EQ(d.flags, kRst | kAck);
  EXPECT_EQ(d.ttl, 63);
  EXPECT_TRUE(d.payload.empty());
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kServer1Mac.b, 6));
  EXPECT_EQ(0, std::memcmp(d.src_mac.b, kPortServerMac.b, 6));

  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  EXPECT_EQ(h.worker().flows().size(), 1U);  // closed, lingering
  h.advance(kClosedLingerMs - 10);
  EXPECT_EQ(h.worker().flows().size(), 1U);
  h.advance(20);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_TRUE(h.take().empty());  // releasing sends nothing
  EXPECT_EQ(h.worker().slots().listener_active[0].get(), 0U);
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 0U);
}

TEST(Teardown, ServerRstIsForwardedWithAckMappedToClientSpace) {
  WorkerHarness h;
  Greeted g(h);
  Session& s = g.s;
  const auto out = s.send_server(
      s.server().seq(s.server_isn + 7).ack(s.client_isn + 1 + kHeaderLen + 8).flags(kRst | kAck));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 0);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(d.sport, 143);
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(d.dport, s.client_port);
  EXPECT_EQ(d.seq, s.server_isn + 7);
  EXPECT_EQ(d.ack, s.client_isn + 9);
  EXPECT_EQ(d.flags, kRst | kAck);
  EXPECT_EQ(d.ttl, 63);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(0, std::memcmp(d.src_mac.b, kPortClientMac.b, 6));
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_TRUE(h.take().empty());
}

TEST(Teardown, ServerRstAckingOnlyPartOfTheHeaderMapsToClientIsn) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const auto out =
      s.send_server(s.server().seq(s.server_isn + 1).ack(s.client_isn + 5).flags(kRst | kAck));
  ASSERT_EQ(out.size(), 1U);
  expect_valid_tcp(out[0].d);
  EXPECT_EQ(out[0].d.ack, s.client_isn + 1);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
}

TEST(Teardown, StrayClientSegmentAfterReleaseIsAnsweredWithRst) {
  WorkerHarness h;
  Greeted g(h);
  Session& s = g.s;
  s.send_server(
      s.server().seq(s.server_isn + 7).ack(s.client_isn + 1 + kHeaderLen + 8).flags(kRst | kAck));
  h.advance(kClosedLingerMs + 10);
  ASSERT_EQ(h.worker().flows().size(), 0U);
  const std::uint64_t rst_before = h.worker().counters().rst_sent;

  // With ACK: <SEQ=SEG.ACK><CTL=RST>.
  auto out = s.send_client(s.client()
                               .seq(s.client_isn + 9)
                               .ack(s.server_isn + 7)
                               .flags(kAck | kPsh)
                               .payload("b LOGOUT\r\n"));
  ASSERT_EQ(out.size(), 1U);
  Decoded d = out[0].d;
  EXPECT_EQ(out[0].port, 0);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(d.sport, 143);
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(d.dport, s.client_port);
  EXPECT_EQ(d.flags, kRst);
  EXPECT_EQ(d.seq, s.server_isn + 7);
  EXPECT_EQ(d.ack, 0U);
  EXPECT_TRUE(d.payload.empty());
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(0, std::memcmp(d.src_mac.b, kPortClientMac.b, 6));

  // Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, the FIN counting in SEG.LEN.
  out = s.send_client(s.client().seq(s.client_isn + 9).flags(kFin).payload("xyz"));
  ASSERT_EQ(out.size(), 1U);
  d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(d.flags, kRst | kAck);
  EXPECT_EQ(d.seq, 0U);
  EXPECT_EQ(d.ack, s.client_isn + 9 + 3 + 1);

  // A RST is never answered.
  EXPECT_TRUE(
      s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck))
          .empty());
  EXPECT_EQ(h.worker().counters().rst_sent, rst_before + 2);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kNoFlow), 3U);
  EXPECT_EQ(h.worker().flows().size(), 0U);  // a stray never creates a flow
}

// RFC 9293 section 3.10.7.1 applies to every segment for which no connection exists; the server
// side is Postern's own source address. A server whose connection Postern forgot (idle
// expiry, linger over) gets a RST, so it learns at once that the peer is gone instead of
// retransmitting until its own timeout.
TEST(Teardown, StrayServerSegmentAfterReleaseIsAnsweredWithRst) {
  WorkerHarness h;
  Greeted g(h);
  Session& s = g.s;
  s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck));
  h.advance(kClosedLingerMs + 10);
  ASSERT_EQ(h.worker().flows().size(), 0U);
  const auto out = s.send_server(s.server()
                                     .seq(s.server_isn + 7)
                                     .ack(s.client_isn + 1 + kHeaderLen + 8)
                                     .flags(kAck | kPsh)
                                     .payload("* BYE\r\n"));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kSourceAddr);
  EXPECT_EQ(d.sport, s.local_port);
  EXPECT_EQ(ip_str(d.dst), "198.19.0.10");
  EXPECT_EQ(d.dport, 143);
  EXPECT_EQ(d.flags, kRst);
  EXPECT_EQ(d.seq, s.client_isn + 1 + kHeaderLen + 8);
}

// A closed flow only absorbs stragglers (flow.hpp: "kClosed ... lingers briefly to absorb
// stragglers"). A FIN that crossed the RST must not bring it back to life: were it taken as
// a first FIN, the flow would stay for the idle timeout, then "expire" (flows_expired, RSTs
// to both sides, flows_closed counted a second time). The client reset the connection, so
// the FIN is absorbed (flow_closed), not passed on.
TEST(Teardown, FinCrossingTheRstDoesNotReviveTheClosedFlow) {
  WorkerHarness h;
  Greeted g(h);
  Session& s = g.s;
  s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck));
  const auto out = s.send_server(
      s.server().seq(s.server_isn + 7).ack(s.client_isn + 1 + kHeaderLen + 8).flags(kFin | kAck));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kFlowClosed), 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  h.advance(120000);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  EXPECT_EQ(h.worker().counters().flows_expired, 0U);
}

}  // namespace
}  // namespace postern::test
