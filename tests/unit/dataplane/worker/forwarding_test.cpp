// IPv4 as a forwarding hop sees it: TTL decremented on every spliced segment and expired
// segments dropped, fragments refused (Postern neither reassembles nor forwards them), and the
// Ethernet trailer padding of minimum-size frames never carried on as TCP payload.
#include <gtest/gtest.h>

#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::DropReason;

TcpPacket client_syn(const Session& s) {
  return s.client().seq(s.client_isn).flags(kSyn).mss(1460);
}

// Nothing is forwarded with TTL 0: such segments are dropped and answered with "time
// exceeded" (ICMP type 11), from either side, on new and established flows alike.
TEST(Forwarding, SegmentsArrivingWithTtlOneOrZeroAreDroppedAndAnswered) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  auto only_time_exceeded = [](const std::vector<Sent>& out, std::uint16_t port) {
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].port, port);
    EXPECT_TRUE(out[0].d.is_icmp);
    EXPECT_EQ(out[0].d.icmp_type, 11);
  };
  only_time_exceeded(s.send_client(client_syn(s).ttl(1)), 0);
  only_time_exceeded(s.send_client(client_syn(s).ttl(0)), 0);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kTtlExpired), 2U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(h.worker().counters().flows_created, 0U);

  // On an established flow too, from either side.
  s.establish();
  only_time_exceeded(s.send_server(s.server()
                                       .seq(s.server_isn + 1)
                                       .ack(s.client_isn + 1 + kHeaderLen)
                                       .flags(kAck | kPsh)
                                       .ttl(1)
                                       .payload("* OK\r\n")),
                     1);
  only_time_exceeded(
      s.send_client(s.client().seq(s.client_isn + 1).ack(s.server_isn + 1).flags(kAck).ttl(1)), 0);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kTtlExpired), 4U);
  EXPECT_EQ(h.worker().counters().icmp_errors_sent, 4U);
}

TEST(Forwarding, SplicedSegmentsLeaveWithTtlDecrementedAndOwnSegmentsWith64) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  auto out = s.send_client(client_syn(s).ttl(2));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ttl, 1);
  expect_valid_tcp(out[0].d);
  s.server_ip = out[0].d.dst;
  s.server_port = out[0].d.dport;
  s.local_port = out[0].d.sport;

  out = s.send_server(
      s.server().seq(s.server_isn).ack(s.client_isn + 1).flags(kSyn | kAck).mss(1460).ttl(128));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ttl, 127);
  expect_valid_tcp(out[0].d);

  out = s.send_client(s.client().seq(s.client_isn + 1).ack(s.server_isn + 1).flags(kAck).ttl(37));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].d.ttl, 64);  // the header segment is Postern's own
  EXPECT_EQ(out[1].d.ttl, 36);
  expect_valid_tcp(out[0].d);
  expect_valid_tcp(out[1].d);
}

TEST(Forwarding, IpFragmentsAreDropped) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(0x2000)).empty());           // MF, offset 0
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(0x0004)).empty());           // offset 32 bytes
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(0x4000 | 0x2000)).empty());  // DF + MF
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kIpFragment), 3U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  // Not a fragment, with or without DF: accepted.
  auto out = s.send_client(client_syn(s).fragment(0));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kSyn);
}

TEST(Forwarding, EthernetPaddingIsNotForwardedAsPayload) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  // A pure ACK without options: 54 bytes, padded by the sender's NIC to the 60-byte minimum.
  Bytes frame = s.client().seq(s.client_isn + 1).ack(s.server_isn + 1).flags(kAck).build();
  ASSERT_EQ(frame.size(), 54U);
  frame.resize(60, 0xa5);
  h.receive(frame, 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].frame.size(), 54U);
  EXPECT_TRUE(out[0].d.payload.empty());
  EXPECT_EQ(out[0].d.seq, s.client_isn + 1 + kHeaderLen);
  expect_valid_tcp(out[0].d);

  frame = s.server().seq(s.server_isn + 1).ack(s.client_isn + 1 + kHeaderLen).flags(kAck).build();
  frame.resize(60, 0x5a);
  h.receive(frame, 1);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].frame.size(), 54U);
  EXPECT_TRUE(out[0].d.payload.empty());
  EXPECT_EQ(out[0].d.ack, s.client_isn + 1);
  expect_valid_tcp(out[0].d);
}

}  // namespace
}  // namespace postern::test
