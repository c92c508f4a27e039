// Server choice as the wire shows it: smooth weighted round-robin (weights 3:1 interleave
// s1 s1 s2 s1, never s1 s1 s1 s2), and a server at its maxconn skipped until a flow ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::splice::kClosedLingerMs;

void weights_3_1(dataplane::Snapshot& s) {
  s.servers[0].weight = 3;
  s.servers[1].weight = 1;
}

void s1_maxconn_1(dataplane::Snapshot& s) {
  s.servers[0].maxconn = 1;
}

// A new connection from `port`; returns the server its SYN went to.
std::string connect_from(WorkerHarness& h, std::uint16_t port) {
  Session s(h, port);
  const auto out = s.send_client(s.client().seq(100).flags(kSyn));
  EXPECT_EQ(out.size(), 1U);
  if (out.size() != 1U) {
    return {};
  }
  EXPECT_EQ(out[0].d.flags, kSyn);
  expect_valid_tcp(out[0].d);
  return ip_str(out[0].d.dst);
}

TEST(Balance, WeightsThreeToOneGiveASmoothInterleave) {
  WorkerHarness h(1024, &weights_3_1);
  h.resolve_servers();
  const std::string s1 = "198.19.0.10";
  const std::string s2 = "198.19.0.11";
  std::vector<std::string> seen;
  for (std::uint16_t p = 1; p <= 8; ++p) {
    seen.push_back(connect_from(h, static_cast<std::uint16_t>(50000 + p)));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{s1, s1, s2, s1, s1, s1, s2, s1}));
  EXPECT_EQ(h.worker().slots().server_total[0].get(), 6U);
  EXPECT_EQ(h.worker().slots().server_total[1].get(), 2U);
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 6U);
  EXPECT_EQ(h.worker().slots().server_active[1].get(), 2U);
}

TEST(Balance, ServerAtMaxconnIsSkippedUntilItsFlowIsReleased) {
  WorkerHarness h(1024, &s1_maxconn_1);
  h.resolve_servers();
  Session a(h, 50001);
  a.syn();
  EXPECT_EQ(ip_str(a.server_ip), "198.19.0.10");
  EXPECT_EQ(connect_from(h, 50002), "198.19.0.11");
  EXPECT_EQ(connect_from(h, 50003), "198.19.0.11");
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 1U);
  EXPECT_EQ(h.worker().slots().server_active[1].get(), 2U);

  // The first connection runs, then the client aborts it.
  a.synack();
  a.handshake_ack();
  a.send_client(a.client().seq(a.client_isn + 1).ack(a.server_isn + 1).flags(kRst | kAck));
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 0U);
  // s1 is usable again; the smooth schedule owes s2 one pick first.
  const std::string d = connect_from(h, 50004);
  const std::string e = connect_from(h, 50005);
  EXPECT_NE(d, e);
  EXPECT_TRUE(d == "198.19.0.10" || e == "198.19.0.10");
  EXPECT_EQ(h.worker().slots().server_active[0].get(), 1U);
  // And full again.
  EXPECT_EQ(connect_from(h, 50006), "198.19.0.11");
}

}  // namespace
}  // namespace postern::test
