// What metrics read of a worker: per listener and server the connections taken, the payload
// bytes each way as the other side acknowledges them (never Postern's own header, a
// retransmission once), connection attempts and errors, connect times
// from our SYN to the server's SYN-ACK on the worker's clock; and the poll-loop accounting.
#include <gtest/gtest.h>
#include <rte_cycles.h>

#include "session.hpp"

namespace postern::test {
namespace {

TcpPacket refusal(const Session& s) {
  return s.server().seq(0).ack(s.client_isn + 1).flags(kRst | kAck);
}

TEST(Counters, PayloadBytesEachWayConnectTimeAndTheConnectionCount) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(3);  // the server answers 3 ms after our SYN
  s.synack();
  s.handshake_ack();  // our 28-byte header goes out: not client bytes
  s.send_server(s.server()
                    .seq(s.server_isn + 1)
                    .ack(s.client_isn + 1 + kHeaderLen)
                    .flags(kAck | kPsh)
                    .payload("* OK ready\r\n"));
  s.send_client(s.client()
                    .seq(s.client_isn + 1)
                    .ack(s.server_isn + 13)
                    .flags(kAck | kPsh)
                    .payload("a LOGIN u p\r\n"));
  const dataplane::WorkerSlots& slots = h.worker().slots();
  EXPECT_EQ(slots.server_traffic[0].bytes_out.get(), 12U) << "the client took the greeting";
  EXPECT_EQ(slots.server_traffic[0].bytes_in.get(), 0U) << "LOGIN is not acknowledged yet";
  // The server acknowledges LOGIN; the client sends it again anyway (a spurious
  // retransmission), and the server acknowledges it again: counted once.
  const std::uint32_t login_end = s.client_isn + 1 + kHeaderLen + 13;
  s.send_server(s.server().seq(s.server_isn + 13).ack(login_end).flags(kAck));
  s.send_client(s.client()
                    .seq(s.client_isn + 1)
                    .ack(s.server_isn + 13)
                    .flags(kAck | kPsh)
                    .payload("a LOGIN u p\r\n"));
  s.send_server(s.server().seq(s.server_isn + 13).ack(login_end).flags(kAck));
  // The client closes; the server's acknowledgement of the FIN is no byte.
  s.send_client(s.client().seq(s.client_isn + 14).ack(s.server_isn + 13).flags(kAck | kFin));
  s.send_server(s.server().seq(s.server_isn + 13).ack(login_end + 1).flags(kAck));

  EXPECT_EQ(slots.server_traffic[0].bytes_in.get(), 13U);
  EXPECT_EQ(slots.server_traffic[0].bytes_out.get(), 12U);
  EXPECT_EQ(slots.server_traffic[1].bytes_in.get(), 0U);
  EXPECT_EQ(slots.listener_total[0].get(), 1U);
  EXPECT_EQ(slots.server_attempts[0].get(), 1U);
  EXPECT_EQ(slots.server_connects[0].get(), 1U);
  EXPECT_EQ(slots.server_connect_ms[0].get(), 3U);
  EXPECT_EQ(slots.server_errors_total[0].get(), 0U);
}

TEST(Counters, ARefusalIsAnErrorAndTheRedispatchAnotherAttempt) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Decoded first = s.syn();
  h.advance(2);
  const auto out = s.send_server(refusal(s));  // dc1 refuses: the SYN goes to dc2
  ASSERT_EQ(out.size(), 1U);
  s.server_ip = out[0].d.dst;
  h.advance(1);
  s.synack();  // 1 ms after the redispatched SYN, not 3 after the first

  const dataplane::WorkerSlots& slots = h.worker().slots();
  EXPECT_EQ(slots.listener_total[0].get(), 1U);  // one client connection
  EXPECT_EQ(slots.server_errors_total[0].get(), 1U);
  EXPECT_EQ(slots.server_connect_errors[0].get(), 1U);  // observe layer4's count too
  EXPECT_EQ(slots.server_attempts[0].get(), 1U);
  EXPECT_EQ(slots.server_attempts[1].get(), 1U);
  EXPECT_EQ(slots.server_connects[0].get(), 0U);
  EXPECT_EQ(slots.server_connects[1].get(), 1U);
  EXPECT_EQ(slots.server_connect_ms[1].get(), 1U);
  (void)first;
}

TEST(Counters, ARetryToTheSameServerIsAnotherAttempt) {
  WorkerHarness h(1024, [](dataplane::Snapshot& snap) { snap.listeners[0].servers = {0}; });
  h.resolve_servers();
  Session s(h);
  s.syn();
  ASSERT_EQ(s.send_server(refusal(s)).size(), 1U);  // the same server once more
  const dataplane::WorkerSlots& slots = h.worker().slots();
  EXPECT_EQ(slots.server_attempts[0].get(), 2U);
  EXPECT_EQ(slots.server_errors_total[0].get(), 1U);
  EXPECT_EQ(slots.server_total[0].get(), 1U);
}

TEST(Counters, FlowTableOccupancyIsPublishedByHousekeeping) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  h.advance(1);
  EXPECT_EQ(h.worker().counters().flow_table_used, 1U);
  EXPECT_EQ(h.worker().counters().active_flows, 1U);
}

TEST(Counters, LoopTurnsThatFoundPacketsMakeTheBusyRatio) {
  WorkerHarness h;
  dataplane::Worker& w = h.worker();
  const std::uint64_t hz = rte_get_tsc_hz();
  const std::uint64_t t0 = 1000 * hz;
  w.account_turn(t0, false);  // the turn before t0: idle, and the second starts now
  const std::uint64_t base_busy = w.counters().busy_cycles;
  // A second of 100 turns, a quarter of the time in turns that found packets.
  std::uint64_t t = t0;
  for (int i = 0; i < 100; ++i) {
    const bool busy = i % 4 == 0;
    t += hz / 100;
    w.account_turn(t, busy);
  }
  EXPECT_EQ(w.counters().loops_busy, 25U);
  EXPECT_GE(w.counters().loops_idle, 75U);
  EXPECT_EQ(w.counters().busy_cycles - base_busy, 25 * (hz / 100));
  EXPECT_NEAR(static_cast<double>(w.counters().busy_ppm), 250000.0, 100.0);
}

}  // namespace
}  // namespace postern::test
