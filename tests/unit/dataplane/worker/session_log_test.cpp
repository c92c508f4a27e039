// A worker's session log records: one per session as it ends (or as its SYN is refused),
// with what the tcplog line needs; a full ring drops records and counts them, never waits.
#include "worker/session_log.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::EndCause;
using dataplane::EndPhase;
using dataplane::SessionRecord;

std::string client_of(const SessionRecord& r) {
  char out[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, r.client, out, sizeof out);
  return out;
}

TEST(SessionLog, AFullRingDropsAndCountsRecords) {
  test_pool();  // starts EAL
  rte_ring* ring = rte_ring_create_elem("logfull", sizeof(SessionRecord), 8, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
  ASSERT_NE(ring, nullptr);
  dataplane::WorkerCounters c;
  SessionRecord r;
  unsigned queued = 0;
  for (std::uint16_t i = 0; i < 20; ++i) {
    r.client_port = i;
    queued += dataplane::put_session_record(ring, r, c) ? 1 : 0;
  }
  EXPECT_EQ(queued, 8U);
  EXPECT_EQ(c.logs_queued, 8U);
  EXPECT_EQ(c.logs_dropped, 12U);
  // The reader takes the first ones, in order; room again for new ones.
  SessionRecord out[8];
  ASSERT_EQ(rte_ring_dequeue_burst_elem(ring, out, sizeof(SessionRecord), 8, nullptr), 8U);
  EXPECT_EQ(out[0].client_port, 0);
  EXPECT_EQ(out[7].client_port, 7);
  EXPECT_TRUE(dataplane::put_session_record(ring, r, c));
  rte_ring_free(ring);
}

TEST(SessionLog, ASessionResetByTheClientGivesOneRecord) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  EXPECT_TRUE(h.records().empty()) << "nothing while the session runs";
  h.advance(25);
  s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck));
  const auto records = h.records();
  ASSERT_EQ(records.size(), 1U);
  const SessionRecord& r = records[0];
  EXPECT_EQ(client_of(r), kClientAddr);
  EXPECT_EQ(r.client_port, 40000);
  EXPECT_EQ(r.listener, 0);
  EXPECT_EQ(r.server, 0);
  EXPECT_EQ(r.end, (dataplane::SessionEnd{EndCause::kClientAbort, EndPhase::kData}));
  EXPECT_EQ(r.bytes_to_client, 6U);
  EXPECT_EQ(r.bytes_from_client, 8U);
  EXPECT_EQ(r.connect_ms, 0);
  EXPECT_EQ(r.total_ms, 25U);
  EXPECT_EQ(r.active, 1U);
  EXPECT_EQ(r.listener_active, 1U);
  EXPECT_EQ(r.server_active, 0U);
  EXPECT_EQ(r.retries, 0);
  h.advance(dataplane::splice::kClosedLingerMs + 10);
  EXPECT_TRUE(h.records().empty()) << "releasing the lingering flow writes nothing more";
  EXPECT_EQ(h.worker().counters().logs_queued, 1U);
  EXPECT_EQ(h.worker().counters().logs_dropped, 0U);
}

TEST(SessionLog, ASynNoServerCanTakeGivesANosrvRecord) {
  WorkerHarness h;
  h.resolve_servers();
  h.live(0).up = 0;
  h.live(1).up = 0;
  Session s(h, 40001);
  s.send_client(s.client().seq(s.client_isn).flags(kSyn));
  const auto records = h.records();
  ASSERT_EQ(records.size(), 1U);
  EXPECT_EQ(records[0].server, dataplane::kNoServerSlot);
  EXPECT_EQ(records[0].end, (dataplane::SessionEnd{EndCause::kServerAbort, EndPhase::kConnect}));
  EXPECT_EQ(records[0].client_port, 40001);
  EXPECT_EQ(records[0].connect_ms, -1);
}

}  // namespace
}  // namespace postern::test
