// The splice end to end inside one worker: handshake through Postern, the PROXY v2 segment on
// the handshake ACK, sequence/ACK/SACK shifting, retransmission of the header, close.
#include <gtest/gtest.h>

#include <cstring>

#include "proxy/proxy_decode.hpp"
#include "session.hpp"
#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

constexpr std::uint32_t kClientIsn = 1000;
constexpr std::uint32_t kServerIsn = 5000000;
constexpr std::uint16_t kClientPort = 40000;

Bytes client_syn(std::uint32_t isn = kClientIsn, std::uint16_t port = kClientPort) {
  return TcpPacket()
      .eth(kClientMac, kPortClientMac)
      .from("198.18.0.2", port)
      .to("198.18.0.100", 143)
      .seq(isn)
      .flags(kSyn)
      .mss(1460)
      .sack_permitted()
      .timestamp(111, 0)
      .wscale(7)
      .build();
}

// Drives a connection to the established state; returns the server-side SYN Postern sent.
struct Conn {
  Decoded syn;     // as the server saw it
  Decoded synack;  // as the client saw it
  Decoded header;  // the PROXY segment
  Decoded hs_ack;  // the client's ACK as forwarded
};

Conn establish(WorkerHarness& h, std::uint32_t client_isn = kClientIsn,
               std::uint32_t server_isn = kServerIsn) {
  Conn c;
  h.receive(client_syn(client_isn), 0);
  auto out = h.take();
  EXPECT_EQ(out.size(), 1U);
  c.syn = out.at(0).d;
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from(ip_str(c.syn.dst).c_str(), 143)
                .to("198.19.0.1", c.syn.sport)
                .seq(server_isn)
                .ack(client_isn + 1)
                .flags(kSyn | kAck)
                .mss(1460)
                .sack_permitted()
                .timestamp(900, 111)
                .wscale(7)
                .build(),
            1);
  out = h.take();
  EXPECT_EQ(out.size(), 1U);
  c.synack = out.at(0).d;
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(client_isn + 1)
                .ack(server_isn + 1)
                .flags(kAck)
                .window(502)
                .timestamp(112, 900)
                .build(),
            0);
  out = h.take();
  EXPECT_EQ(out.size(), 2U);
  c.header = out.at(0).d;
  c.hs_ack = out.at(1).d;
  return c;
}

// The server acknowledges Postern's whole header (and nothing more).
void server_acks_header(WorkerHarness& h, const Conn& c) {
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", c.syn.sport)
                .seq(kServerIsn + 1)
                .ack(kClientIsn + 1 + 28)
                .flags(kAck)
                .build(),
            1);
}

TEST(Splice, SynIsRewrittenToServerWithOptionsUntouched) {
  WorkerHarness h;
  h.resolve_servers();
  h.receive(client_syn(), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  EXPECT_TRUE(d.is_tcp);
  EXPECT_EQ(ip_str(d.src), "198.19.0.1");
  EXPECT_EQ(ip_str(d.dst), "198.19.0.10");
  EXPECT_EQ(d.dport, 143);
  EXPECT_GE(d.sport, 1024);
  EXPECT_EQ(d.seq, kClientIsn);
  EXPECT_EQ(d.flags, kSyn);
  EXPECT_EQ(d.ttl, 63);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.tcp_checksum_ok);
  EXPECT_TRUE(d.has_ts);
  EXPECT_EQ(d.ts_val, 111U);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kServer1Mac.b, 6));
  EXPECT_EQ(0, std::memcmp(d.src_mac.b, kPortServerMac.b, 6));
}

TEST(Splice, FirstSynToUnresolvedServerWaitsForArpAndIsNotLost) {
  WorkerHarness h;
  h.receive(client_syn(), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_arp);
  EXPECT_EQ(out[0].d.arp_op, 1);
  EXPECT_EQ(ip_str(out[0].d.arp_tip), "198.19.0.10");
  EXPECT_EQ(ip_str(out[0].d.arp_sip), "198.19.0.1");
  h.receive(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_TRUE(out[0].d.is_tcp);
  EXPECT_EQ(out[0].d.flags, kSyn);
  EXPECT_EQ(0, std::memcmp(out[0].d.dst_mac.b, kServer1Mac.b, 6));
}

TEST(Splice, HeaderSegmentGoesOutOnHandshakeAck) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  // SYN-ACK back to the client from the VIP, unchanged sequence numbers.
  EXPECT_EQ(ip_str(c.synack.src), "198.18.0.100");
  EXPECT_EQ(c.synack.sport, 143);
  EXPECT_EQ(ip_str(c.synack.dst), "198.18.0.2");
  EXPECT_EQ(c.synack.dport, kClientPort);
  EXPECT_EQ(c.synack.seq, kServerIsn);
  EXPECT_EQ(c.synack.ack, kClientIsn + 1);
  EXPECT_TRUE(c.synack.tcp_checksum_ok);
  EXPECT_EQ(0, std::memcmp(c.synack.dst_mac.b, kClientMac.b, 6));

  // The PROXY segment: seq = client ISN + 1, ack = server ISN + 1, PSH|ACK, the client's
  // window and latest timestamps, a 28-byte v2 header naming client and VIP.
  const Decoded& hd = c.header;
  EXPECT_EQ(ip_str(hd.src), "198.19.0.1");
  EXPECT_EQ(ip_str(hd.dst), "198.19.0.10");
  EXPECT_EQ(hd.sport, c.syn.sport);
  EXPECT_EQ(hd.seq, kClientIsn + 1);
  EXPECT_EQ(hd.ack, kServerIsn + 1);
  EXPECT_EQ(hd.flags, kPsh | kAck);
  EXPECT_EQ(hd.window, 502);
  EXPECT_TRUE(hd.has_ts);
  EXPECT_EQ(hd.ts_val, 112U);
  EXPECT_EQ(hd.ts_ecr, 900U);
  EXPECT_TRUE(hd.ip_checksum_ok);
  EXPECT_TRUE(hd.tcp_checksum_ok);
  ASSERT_EQ(hd.payload.size(), 28U);
  const auto r = dataplane::proxy::decode(hd.payload.data(), hd.payload.size());
  ASSERT_EQ(r.status, dataplane::proxy::DecodeStatus::kOk);
  EXPECT_EQ(r.addresses.src_port, kClientPort);
  EXPECT_EQ(r.addresses.dst_port, 143);
  std::uint32_t src;
  std::uint32_t dst;
  std::memcpy(&src, r.addresses.src.data(), 4);
  std::memcpy(&dst, r.addresses.dst.data(), 4);
  EXPECT_EQ(ip_str(src), "198.18.0.2");
  EXPECT_EQ(ip_str(dst), "198.18.0.100");

  // The handshake ACK follows, shifted by the header length.
  EXPECT_EQ(c.hs_ack.seq, kClientIsn + 1 + 28);
  EXPECT_EQ(c.hs_ack.ack, kServerIsn + 1);
  EXPECT_TRUE(c.hs_ack.tcp_checksum_ok);
}

TEST(Splice, DataShiftsBothWaysAndPartialHeaderAckMapsToIsn) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  const std::uint16_t lport = c.syn.sport;
  // Server acknowledges only part of the header while greeting: the client must see ack
  // ISN + 1, never an acknowledgement of bytes it did not send.
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", lport)
                .seq(kServerIsn + 1)
                .ack(kClientIsn + 1 + 10)
                .flags(kAck | kPsh)
                .payload("* OK ready\r\n")
                .build(),
            1);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, kClientIsn + 1);
  EXPECT_EQ(out[0].d.seq, kServerIsn + 1);
  EXPECT_EQ(std::string(out[0].d.payload.begin(), out[0].d.payload.end()), "* OK ready\r\n");
  EXPECT_TRUE(out[0].d.tcp_checksum_ok);

  // The client sends 20 bytes (an acknowledgement of bytes never sent would be dropped as
  // ack_out_of_window).
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(kClientIsn + 1)
                .ack(kServerIsn + 13)
                .flags(kAck | kPsh)
                .payload("a LOGIN u pw\r\nb NOOP")
                .build(),
            0);
  ASSERT_EQ(h.take().size(), 1U);

  // Full acknowledgement of header + 5 client bytes maps back by 28.
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", lport)
                .seq(kServerIsn + 13)
                .ack(kClientIsn + 1 + 28 + 5)
                .flags(kAck)
                .sack_permitted()
                .sack({{kClientIsn + 1 + 28 + 10, kClientIsn + 1 + 28 + 20}})
                .build(),
            1);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, kClientIsn + 1 + 5);
  ASSERT_EQ(out[0].d.sack.size(), 1U);
  EXPECT_EQ(out[0].d.sack[0].first, kClientIsn + 1 + 10);
  EXPECT_EQ(out[0].d.sack[0].second, kClientIsn + 1 + 20);
  EXPECT_TRUE(out[0].d.tcp_checksum_ok);

  // Client data is shifted forward.
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(kClientIsn + 1)
                .ack(kServerIsn + 13)
                .flags(kAck | kPsh)
                .payload("a LOGIN\r\n")
                .build(),
            0);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, kClientIsn + 1 + 28);
  EXPECT_EQ(out[0].d.ack, kServerIsn + 13);
  EXPECT_TRUE(out[0].d.tcp_checksum_ok);
  EXPECT_TRUE(out[0].d.ip_checksum_ok);
}

TEST(Splice, SequenceShiftAcrossTheWrap) {
  WorkerHarness h;
  h.resolve_servers();
  const std::uint32_t isn = 0xfffffff0U;
  const Conn c = establish(h, isn, 0xfffffffeU);
  EXPECT_EQ(c.header.seq, isn + 1);
  EXPECT_EQ(c.hs_ack.seq, static_cast<std::uint32_t>(isn + 1 + 28));  // wrapped past zero
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", c.syn.sport)
                .seq(0xffffffffU)
                .ack(static_cast<std::uint32_t>(isn + 1 + 28))
                .flags(kAck)
                .build(),
            1);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, isn + 1);
}

TEST(Splice, HeaderIsRetransmittedWithBackoffUntilAcked) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  h.advance(150);
  EXPECT_TRUE(h.take().empty());
  h.advance(60);  // 210 ms: first retransmission (RTO 200 ms)
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.payload, c.header.payload);
  EXPECT_EQ(out[0].d.seq, kClientIsn + 1);
  h.advance(300);  // 510 ms: not yet (next at 210 + 400)
  EXPECT_TRUE(h.take().empty());
  h.advance(110);  // 620 ms
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  // The server acknowledges: no more retransmissions.
  server_acks_header(h, c);
  h.take();
  h.advance(5000);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 2U);
}

TEST(Splice, DuplicateAckAtIsnResendsHeaderAtOnce) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  const Bytes dup = TcpPacket()
                        .eth(kServer1Mac, kPortServerMac)
                        .from("198.19.0.10", 143)
                        .to("198.19.0.1", c.syn.sport)
                        .seq(kServerIsn + 1)
                        .ack(kClientIsn + 1)
                        .flags(kAck)
                        .build();
  // The first duplicate, in the same millisecond as the header went out, resends it.
  h.receive(dup, 1);
  auto out = h.take();
  // The ACK goes on to the client and the header goes again to the server.
  ASSERT_EQ(out.size(), 2U);
  const Sent& to_client = out[0].port == 0 ? out[0] : out[1];
  const Sent& to_server = out[0].port == 1 ? out[0] : out[1];
  EXPECT_EQ(to_client.port, 0);
  EXPECT_EQ(to_client.d.ack, kClientIsn + 1);
  EXPECT_EQ(to_server.port, 1);
  EXPECT_EQ(to_server.d.payload, c.header.payload);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 1U);
  // The duplicates that follow in the same burst only go on to the client.
  for (int i = 0; i < 5; ++i) {
    h.receive(dup, 1);
  }
  out = h.take();
  ASSERT_EQ(out.size(), 5U);
  for (const auto& s : out) {
    EXPECT_EQ(s.port, 0);
  }
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 1U);
  // After the timer's retransmission a new duplicate may trigger one more.
  h.advance(dataplane::splice::kHeaderRtoMs + 1);
  EXPECT_EQ(h.take().size(), 1U);
  h.receive(dup, 1);
  EXPECT_EQ(h.take().size(), 2U);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 3U);
}

TEST(Splice, RoundRobinAlternatesServers) {
  WorkerHarness h;
  h.resolve_servers();
  std::vector<std::string> seen;
  for (std::uint16_t i = 0; i < 4; ++i) {
    h.receive(client_syn(kClientIsn, static_cast<std::uint16_t>(kClientPort + i)), 0);
    auto out = h.take();
    ASSERT_EQ(out.size(), 1U);
    seen.push_back(ip_str(out[0].d.dst));
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_EQ(seen[0], seen[2]);
  EXPECT_EQ(seen[1], seen[3]);
}

TEST(Splice, NoListenerAnswersRst) {
  WorkerHarness h;
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 25)
                .seq(777)
                .flags(kSyn)
                .build(),
            0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 0);
  EXPECT_EQ(out[0].d.flags, kRst | kAck);
  EXPECT_EQ(out[0].d.seq, 0U);
  EXPECT_EQ(out[0].d.ack, 778U);
  EXPECT_EQ(ip_str(out[0].d.src), "198.18.0.100");
  EXPECT_EQ(out[0].d.sport, 25);
  EXPECT_TRUE(out[0].d.tcp_checksum_ok);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNoListener), 1U);
}

TEST(Splice, UnansweredSynIsRedispatchedToTheOtherServer) {
  WorkerHarness h;
  h.resolve_servers();
  h.receive(client_syn(), 0);
  auto first = h.take();
  ASSERT_EQ(first.size(), 1U);
  h.advance(5001);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.flags, kSyn);
  EXPECT_NE(out[0].d.dst, first[0].d.dst);
  EXPECT_EQ(out[0].d.seq, kClientIsn);
  EXPECT_EQ(out[0].d.options, first[0].d.options);
  EXPECT_TRUE(out[0].d.tcp_checksum_ok);
  EXPECT_EQ(h.worker().counters().syn_redispatched, 1U);
}

TEST(Splice, FinBothWaysClosesAndReleasesFlow) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  const std::uint16_t lport = c.syn.sport;
  auto srv = [&](std::uint32_t seq, std::uint32_t ack, std::uint8_t fl) {
    h.receive(TcpPacket()
                  .eth(kServer1Mac, kPortServerMac)
                  .from("198.19.0.10", 143)
                  .to("198.19.0.1", lport)
                  .seq(seq)
                  .ack(ack)
                  .flags(fl)
                  .build(),
              1);
  };
  auto cli = [&](std::uint32_t seq, std::uint32_t ack, std::uint8_t fl) {
    h.receive(TcpPacket()
                  .eth(kClientMac, kPortClientMac)
                  .from("198.18.0.2", kClientPort)
                  .to("198.18.0.100", 143)
                  .seq(seq)
                  .ack(ack)
                  .flags(fl)
                  .build(),
              0);
  };
  srv(kServerIsn + 1, kClientIsn + 1 + 28, kAck);
  cli(kClientIsn + 1, kServerIsn + 1, kFin | kAck);
  srv(kServerIsn + 1, kClientIsn + 1 + 28 + 1, kFin | kAck);
  cli(kClientIsn + 2, kServerIsn + 2, kAck);
  auto out = h.take();
  ASSERT_EQ(out.size(), 4U);
  EXPECT_EQ(out[1].d.seq, kClientIsn + 1 + 28);  // client FIN, shifted
  EXPECT_EQ(out[2].d.ack, kClientIsn + 2);       // server's ACK of it, mapped back
  EXPECT_EQ(h.worker().flows().size(), 1U);
  h.advance(2100);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

TEST(Splice, HalfClosedFlowExpiresAfterTheFinTimeout) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  server_acks_header(h, c);
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(kClientIsn + 1)
                .ack(kServerIsn + 1)
                .flags(kFin | kAck)
                .build(),
            0);
  h.take();
  const std::uint32_t fin_ms = h.snapshot().listeners[0].timeout_fin_ms;
  ASSERT_LT(fin_ms, h.snapshot().listeners[0].timeout_client_ms);
  // Only TCP counts here: the neighbour cache re-probes the server's MAC after 30 s.
  h.advance(fin_ms - 10);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  h.advance(20);
  auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);  // RST to both sides
  EXPECT_NE(out[0].d.flags & kRst, 0);
  EXPECT_NE(out[1].d.flags & kRst, 0);
  EXPECT_EQ(h.worker().counters().flows_expired, 1U);
}

TEST(Splice, BlindRstIsForwardedButDoesNotEndTheFlow) {
  WorkerHarness h;
  h.resolve_servers();
  const Conn c = establish(h);
  server_acks_header(h, c);
  h.take();
  // RFC 5961 3.2: a RST far from the expected sequence number is a guess, not the client.
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(kClientIsn + 0x40000000U)
                .flags(kRst)
                .build(),
            0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);  // the server judges it
  EXPECT_EQ(h.worker().counters().flows_closed, 0U);
  h.advance(dataplane::splice::kClosedLingerMs + 100);
  EXPECT_EQ(h.worker().flows().size(), 1U);
  // The client's real RST, at the sequence number the server expects, ends it.
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kClientPort)
                .to("198.18.0.100", 143)
                .seq(kClientIsn + 1)
                .flags(kRst)
                .build(),
            0);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, kClientIsn + 1 + 28);
  EXPECT_EQ(h.worker().counters().flows_closed, 1U);
}

}  // namespace
}  // namespace postern::test
