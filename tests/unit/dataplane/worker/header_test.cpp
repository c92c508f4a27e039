// Postern's own PROXY v2 segment beyond the plain handshake: sent before client data when the
// handshake ACK was lost, its TCP timestamp option following what was negotiated and what the
// client sent last, and the retransmission limit after which the connection is reset.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "proxy/proxy_decode.hpp"
#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::splice::kClosedLingerMs;
using dataplane::splice::kHeaderMaxRetransmits;
using dataplane::splice::kHeaderRtoMs;

TEST(Header, DataInTheFirstClientSegmentFollowsTheHeaderShifted) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  s.synack();
  // The handshake ACK was lost; the client's first segment carries data.
  const std::string cmd = "a CAPABILITY\r\n";
  const auto out = s.send_client(s.client()
                                     .seq(s.client_isn + 1)
                                     .ack(s.server_isn + 1)
                                     .flags(kAck | kPsh)
                                     .window(777)
                                     .timestamp(113, 900)
                                     .payload(cmd));
  ASSERT_EQ(out.size(), 2U);
  const Decoded& hd = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(hd);
  EXPECT_EQ(ip_str(hd.src), kSourceAddr);
  EXPECT_EQ(hd.sport, s.local_port);
  EXPECT_EQ(ip_str(hd.dst), "198.19.0.10");
  EXPECT_EQ(hd.dport, 143);
  EXPECT_EQ(hd.seq, s.client_isn + 1);
  EXPECT_EQ(hd.ack, s.server_isn + 1);
  EXPECT_EQ(hd.flags, kPsh | kAck);
  EXPECT_EQ(hd.window, 777);
  EXPECT_TRUE(hd.has_ts);
  EXPECT_EQ(hd.ts_val, 113U);
  EXPECT_EQ(hd.ts_ecr, 900U);
  ASSERT_EQ(hd.payload.size(), kHeaderLen);
  const auto r = dataplane::proxy::decode(hd.payload.data(), hd.payload.size());
  ASSERT_EQ(r.status, dataplane::proxy::DecodeStatus::kOk);
  EXPECT_EQ(r.addresses.src_port, s.client_port);
  EXPECT_EQ(r.addresses.dst_port, 143);

  const Decoded& data = out[1].d;
  EXPECT_EQ(out[1].port, 1);
  expect_valid_tcp(data);
  EXPECT_EQ(data.sport, s.local_port);
  EXPECT_EQ(data.seq, s.client_isn + 1 + kHeaderLen);
  EXPECT_EQ(data.ack, s.server_isn + 1);
  EXPECT_EQ(data.flags, kAck | kPsh);
  EXPECT_EQ(std::string(data.payload.begin(), data.payload.end()), cmd);
  EXPECT_EQ(data.ts_val, 113U);
  EXPECT_EQ(h.worker().counters().proxy_headers_sent, 1U);

  // The server acknowledges header and command: the client sees its own bytes acknowledged.
  const auto back = s.send_server(s.server()
                                      .seq(s.server_isn + 1)
                                      .ack(s.client_isn + 1 + kHeaderLen + 14)
                                      .flags(kAck)
                                      .timestamp(950, 113));
  ASSERT_EQ(back.size(), 1U);
  expect_valid_tcp(back[0].d);
  EXPECT_EQ(back[0].d.ack, s.client_isn + 15);
}

TEST(Header, CarriesNoTimestampWhenTheServerDeclinedTimestamps) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Decoded syn = s.syn();
  EXPECT_TRUE(syn.has_ts);
  const Decoded synack = s.synack(false);
  EXPECT_FALSE(synack.has_ts);
  const auto out = s.handshake_ack(false);
  ASSERT_EQ(out.size(), 2U);
  const Decoded& hd = out[0].d;
  expect_valid_tcp(hd);
  EXPECT_EQ(hd.seq, s.client_isn + 1);
  EXPECT_EQ(hd.flags, kPsh | kAck);
  EXPECT_FALSE(hd.has_ts);
  EXPECT_TRUE(hd.options.empty());  // no NOP padding either: a bare 20-byte header
  EXPECT_EQ(hd.window, 502);
  EXPECT_EQ(hd.payload.size(), kHeaderLen);
  EXPECT_EQ(out[1].d.seq, s.client_isn + 1 + kHeaderLen);
  EXPECT_FALSE(out[1].d.has_ts);
}

TEST(Header, RetransmissionCarriesTheClientsLatestTimestampAndWindow) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const auto first = s.establish();
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(first[0].d.ts_val, 112U);
  h.advance(50);
  // The server greets without acknowledging the header (it never arrived).
  const auto greet = s.send_server(s.server()
                                       .seq(s.server_isn + 1)
                                       .ack(s.client_isn + 1)
                                       .flags(kAck | kPsh)
                                       .timestamp(905, 112)
                                       .payload("* OK\r\n"));
  ASSERT_EQ(greet.size(), 1U);
  EXPECT_EQ(greet[0].d.ack, s.client_isn + 1);
  h.advance(50);
  const auto ack = s.send_client(s.client()
                                     .seq(s.client_isn + 1)
                                     .ack(s.server_isn + 7)
                                     .flags(kAck)
                                     .window(600)
                                     .timestamp(150, 905));
  ASSERT_EQ(ack.size(), 1U);
  EXPECT_EQ(ack[0].d.seq, s.client_isn + 1 + kHeaderLen);
  h.advance(kHeaderRtoMs - 100 + 10);  // first retransmission
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  const Decoded& hd = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  expect_valid_tcp(hd);
  EXPECT_EQ(hd.seq, s.client_isn + 1);
  EXPECT_EQ(hd.flags, kPsh | kAck);
  EXPECT_EQ(hd.payload, first[0].d.payload);
  EXPECT_TRUE(hd.has_ts);
  EXPECT_EQ(hd.ts_val, 150U);  // never older than what the server has already seen
  EXPECT_EQ(hd.ts_ecr, 905U);
  EXPECT_EQ(hd.window, 600);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 1U);
}

TEST(Header, RetransmissionGivesUpAfterTheLimitAndResetsBothSides) {
  WorkerHarness h;  // idle timeout 60 s: later than the last retransmission's deadline
  h.resolve_servers();
  Session s(h);
  const auto est = s.establish();
  ASSERT_EQ(est.size(), 2U);
  const Bytes header = est[0].d.payload;
  const std::uint64_t t0 = h.now();
  std::vector<std::uint64_t> resent_at;
  std::vector<Sent> resets;
  for (int i = 0; i < 1200 && resets.empty(); ++i) {
    h.advance(50);
    for (const auto& sent : tcp_only(h.take())) {
      if ((sent.d.flags & kRst) != 0) {
        resets.push_back(sent);
      } else {
        EXPECT_EQ(sent.port, 1);
        EXPECT_EQ(sent.d.payload, header);
        EXPECT_EQ(sent.d.seq, s.client_isn + 1);
        expect_valid_tcp(sent.d);
        resent_at.push_back(h.now() - t0);
      }
    }
  }
  // RTO 200 ms, doubled each time: 200, 600, 1400, 3000, 6200, 12600, 25400; give up at 51000.
  const std::vector<std::uint64_t> expected = {200, 600, 1400, 3000, 6200, 12600, 25400};
  EXPECT_EQ(resent_at, expected);
  EXPECT_EQ(resent_at.size(), kHeaderMaxRetransmits);
  EXPECT_EQ(h.now() - t0, 51000U);
  ASSERT_EQ(resets.size(), 2U);
  const Decoded c = only_on(resets, 0).d;
  expect_valid_tcp(c);
  EXPECT_EQ(ip_str(c.src), kVipAddr);
  EXPECT_EQ(c.sport, 143);
  EXPECT_EQ(ip_str(c.dst), kClientAddr);
  EXPECT_EQ(c.dport, s.client_port);
  // RST|ACK: the ACK of the client's SYN is what a client still in SYN-SENT needs; an
  // established client checks only the sequence number.
  EXPECT_EQ(c.flags, kRst | kAck);
  EXPECT_EQ(c.seq, s.server_isn + 1);
  EXPECT_EQ(c.ack, s.client_isn + 1);
  const Decoded v = only_on(resets, 1).d;
  expect_valid_tcp(v);
  EXPECT_EQ(ip_str(v.src), kSourceAddr);
  EXPECT_EQ(v.sport, s.local_port);
  EXPECT_EQ(ip_str(v.dst), "198.19.0.10");
  EXPECT_EQ(v.flags, kRst);
  EXPECT_EQ(v.seq, s.client_isn + 1);  // the server never took the header: RCV.NXT = ISN + 1
  EXPECT_EQ(h.worker().counters().connect_failures, 1U);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, kHeaderMaxRetransmits);
  EXPECT_EQ(h.worker().counters().flows_expired, 0U);
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
  h.advance(kClosedLingerMs + 10);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_TRUE(tcp_only(h.take()).empty());
}

}  // namespace
}  // namespace postern::test
