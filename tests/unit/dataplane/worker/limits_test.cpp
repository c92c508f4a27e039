// Resource limits refuse new work and never disturb established flows: maxconn, a full flow
// table, no usable server.
#include <gtest/gtest.h>

#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

Bytes syn(std::uint16_t port, std::uint16_t dport = 143) {
  return TcpPacket()
      .eth(kClientMac, kPortClientMac)
      .from("198.18.0.2", port)
      .to("198.18.0.100", dport)
      .seq(100)
      .flags(kSyn)
      .build();
}

void maxconn_two(dataplane::Snapshot& s) {
  s.listeners[0].maxconn = 2;
}
void all_disabled(dataplane::Snapshot& s) {
  s.servers[0].disabled = true;
  s.servers[1].weight = 0;
}
void backup_second(dataplane::Snapshot& s) {
  s.servers[1].backup = true;
}

TEST(Limits, ListenerMaxconnRefusesWithRstAndKeepsExistingFlows) {
  WorkerHarness h(1024, &maxconn_two);
  h.resolve_servers();
  h.receive(syn(1), 0);
  h.receive(syn(2), 0);
  EXPECT_EQ(h.take().size(), 2U);
  h.receive(syn(3), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
  EXPECT_EQ(h.worker().flows().size(), 2U);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kMaxconn), 1U);
}

TEST(Limits, FullFlowTableRefusesNewConnections) {
  WorkerHarness h(4);
  h.resolve_servers();
  for (std::uint16_t p = 1; p <= 4; ++p) {
    h.receive(syn(p), 0);
  }
  EXPECT_EQ(h.take().size(), 4U);
  h.receive(syn(5), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kFlowTableFull), 1U);
  // An existing flow still forwards.
  h.receive(syn(1), 0);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 1);
}

TEST(Limits, DisabledAndWeightZeroServersTakeNothing) {
  WorkerHarness h(1024, &all_disabled);
  h.resolve_servers();
  h.receive(syn(1), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNoServer), 1U);
}

TEST(Limits, BackupServerOnlyWhenNoNormalServerIsUsable) {
  WorkerHarness h(1024, &backup_second);
  h.resolve_servers();
  for (std::uint16_t p = 1; p <= 3; ++p) {
    h.receive(syn(p), 0);
    auto out = h.take();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(ip_str(out[0].d.dst), "198.19.0.10");
  }
}

}  // namespace
}  // namespace postern::test
