// Idle expiry of established flows: after max(timeout client, timeout server) without a packet
// both ends are reset and the flow is released after the closed linger; any packet before the
// deadline moves it (the wheel re-arms lazily when the old deadline comes).
#include <gtest/gtest.h>

#include <cstring>

#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::splice::kClosedLingerMs;

constexpr std::uint64_t kIdleMs = 60000;  // max(30 s client, 60 s server)

void client_30s_server_60s(dataplane::Snapshot& s) {
  s.listeners[0].timeout_client_ms = 30000;
  s.listeners[0].timeout_server_ms = 60000;
}

// Established, header acknowledged by the server, nothing else exchanged.
void open_quiet(Session& s) {
  s.h.resolve_servers();
  s.establish();
  s.send_server(s.server().seq(s.server_isn + 1).ack(s.client_isn + 1 + kHeaderLen).flags(kAck));
}

TEST(Idle, EstablishedFlowExpiresAfterTheLongerTimeoutAndBothSidesAreReset) {
  WorkerHarness h(1024, &client_30s_server_60s);
  Session s(h);
  open_quiet(s);
  h.advance(30010);  // timeout client alone is not enough
  EXPECT_TRUE(tcp_only(h.take()).empty());
  h.advance(kIdleMs - 30010 - 10);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().flows_expired, 0U);
  h.advance(20);
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);

  const Decoded c = only_on(out, 0).d;
  expect_valid_tcp(c);
  EXPECT_EQ(ip_str(c.src), kVipAddr);
  EXPECT_EQ(c.sport, 143);
  EXPECT_EQ(ip_str(c.dst), kClientAddr);
  EXPECT_EQ(c.dport, s.client_port);
  EXPECT_NE(c.flags & kRst, 0);
  EXPECT_EQ(c.seq, s.server_isn + 1);  // the client's RCV.NXT: the server sent no data
  EXPECT_TRUE(c.payload.empty());
  EXPECT_EQ(0, std::memcmp(c.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(0, std::memcmp(c.src_mac.b, kPortClientMac.b, 6));

  const Decoded v = only_on(out, 1).d;
  expect_valid_tcp(v);
  EXPECT_EQ(ip_str(v.src), kSourceAddr);
  EXPECT_EQ(v.sport, s.local_port);
  EXPECT_EQ(ip_str(v.dst), "198.19.0.10");
  EXPECT_EQ(v.dport, 143);
  EXPECT_NE(v.flags & kRst, 0);
  EXPECT_TRUE(v.payload.empty());
  EXPECT_EQ(0, std::memcmp(v.dst_mac.b, kServer1Mac.b, 6));
  EXPECT_EQ(0, std::memcmp(v.src_mac.b, kPortServerMac.b, 6));

  EXPECT_EQ(h.worker().counters().flows_expired, 1U);
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  EXPECT_EQ(h.worker().flows().size(), 1U);  // lingering
  h.advance(kClosedLingerMs - 20);
  EXPECT_EQ(h.worker().flows().size(), 1U);
  h.advance(40);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_TRUE(tcp_only(h.take()).empty());
}

TEST(Idle, ActivityBeforeTheDeadlinePostponesExpiry) {
  WorkerHarness h(1024, &client_30s_server_60s);
  Session s(h);
  open_quiet(s);
  h.advance(50000);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  // The client speaks at 50 s: the deadline moves to 110 s.
  auto out = s.send_client(s.client()
                               .seq(s.client_isn + 1)
                               .ack(s.server_isn + 1)
                               .flags(kAck | kPsh)
                               .payload("a NOOP\r\n"));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, s.client_isn + 1 + kHeaderLen);
  h.advance(10010);  // 60.01 s: the old deadline passes and re-arms
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().flows_expired, 0U);
  // The server speaks at 100 s: the deadline moves to 160 s.
  h.advance(39990);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  out = s.send_server(s.server()
                          .seq(s.server_isn + 1)
                          .ack(s.client_isn + 1 + kHeaderLen + 8)
                          .flags(kAck | kPsh)
                          .payload("a OK\r\n"));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, s.client_isn + 9);
  h.advance(kIdleMs - 10);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().flows_expired, 0U);
  EXPECT_EQ(h.worker().flows().size(), 1U);
  h.advance(20);
  EXPECT_EQ(tcp_only(h.take()).size(), 2U);
  EXPECT_EQ(h.worker().counters().flows_expired, 1U);
}

// RFC 9293 section 3.10.7.4 with RFC 5961 section 3.2: in a synchronized state a RST is
// accepted only when its seq is exactly RCV.NXT (in window: challenge ACK; outside: dropped).
// reset_both (worker.cpp) always uses server_isn + 1 towards the client and client_isn + 1
// towards the server, so as soon as the server has greeted (every mail protocol does) and the
// PROXY header has been acknowledged, both RSTs fall below RCV.NXT and both peers drop them:
// the expiry leaves two half-open connections behind. The values each side expects are in the
// segments Postern forwarded last (the latest ACK from each side; the shift applied on the
// server side).
TEST(Idle, ResetsCarryTheSequenceNumbersEachPeerExpects) {
  WorkerHarness h(1024, &client_30s_server_60s);
  Session s(h);
  s.h.resolve_servers();
  s.establish();
  s.send_server(s.server()
                    .seq(s.server_isn + 1)
                    .ack(s.client_isn + 1 + kHeaderLen)
                    .flags(kAck | kPsh)
                    .payload("* OK ready\r\n"));  // 12 bytes
  s.send_client(s.client()
                    .seq(s.client_isn + 1)
                    .ack(s.server_isn + 13)
                    .flags(kAck | kPsh)
                    .payload("a NOOP\r\n\r"));  // 9 bytes
  s.send_server(
      s.server().seq(s.server_isn + 13).ack(s.client_isn + 1 + kHeaderLen + 9).flags(kAck));
  h.advance(kIdleMs + 10);
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(only_on(out, 0).d.seq, s.server_isn + 13);
  EXPECT_EQ(only_on(out, 1).d.seq, s.client_isn + 1 + kHeaderLen + 9);
}

}  // namespace
}  // namespace postern::test
