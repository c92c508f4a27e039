// ICMP through the worker (DESIGN.md step 8): errors that quote a flow's packet reach the other
// end as if they quoted that end's own packet, so path MTU discovery works through Postern;
// segments whose TTL runs out here are answered with "time exceeded" as a router does.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "session.hpp"

namespace postern::test {
namespace {

const dataplane::SeqOffsets kKeyed(std::array<std::uint64_t, 2>{7, 0x1122334455667788ULL});
constexpr std::uint16_t kMtu = 1280;

// An established flow with real server-side offsets; what the server saw of the SYN.
struct Established {
  std::uint32_t server_view_isn;  // Postern's SYN towards the server
};

Established establish(WorkerHarness& h, Session& s) {
  const Decoded syn = s.syn();
  const auto sa = s.send_server(s.server()
                                    .seq(s.server_isn)
                                    .ack(syn.seq + 1)
                                    .flags(kSyn | kAck)
                                    .mss(1460)
                                    .sack_permitted()
                                    .wscale(7));
  EXPECT_EQ(sa.size(), 1U);
  const auto hs =
      tcp_only(s.send_client(s.client().seq(s.client_isn + 1).ack(s.server_isn + 1).flags(kAck)));
  EXPECT_EQ(hs.size(), 2U);
  h.take();
  return {syn.seq};
}

// A 1,400-byte segment of the server's, as it reached the client side (VIP -> client): the
// datagram a router on the client's path would quote.
TcpPacket big_segment_to_client(Session& s, const Established& e) {
  const std::string big(1400, 'x');
  const auto out = tcp_only(s.send_server(s.server()
                                              .seq(s.server_isn + 1)
                                              .ack(e.server_view_isn + 1 + kHeaderLen)
                                              .flags(kAck | kPsh)
                                              .payload(big)));
  EXPECT_EQ(out.size(), 1U);
  TcpPacket quoted;
  quoted.from(kVipAddr, 143).to(kClientAddr, s.client_port).payload(big);
  if (!out.empty()) {
    quoted.seq(out[0].d.seq).ack(out[0].d.ack).flags(out[0].d.flags);
  }
  return quoted;
}

TEST(Icmp, FragmentationNeededFromTheClientSideReachesTheServer) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  Session s(h);
  const Established e = establish(h, s);
  // A large segment of the server's reaches the client side as VIP -> client, and a router
  // on the client's path (198.18.0.254) cannot forward it.
  const TcpPacket quoted = big_segment_to_client(s, e);
  h.receive(IcmpError()
                .eth(kRouterMac, kPortClientMac)
                .from("198.18.0.254")
                .to(kVipAddr)
                .type(3, 4)
                .rest(kMtu)
                .quote(quoted)
                .quote_len(IcmpError::kWholeDatagram)
                .build(),
            0);
  const auto err = h.take();
  ASSERT_EQ(err.size(), 1U);
  const Decoded& d = err[0].d;
  EXPECT_EQ(err[0].port, 1);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, s.server_mac().b, 6));
  ASSERT_TRUE(d.is_icmp && d.has_quote);
  EXPECT_EQ(d.icmp_type, 3);
  EXPECT_EQ(d.icmp_code, 4);
  EXPECT_EQ(d.icmp_rest & 0xffff, kMtu) << "the next-hop MTU is the router's";
  EXPECT_EQ(ip_str(d.src), kSourceAddr);
  EXPECT_EQ(d.dst, s.server_ip);
  // The quote reads as the server's own segment.
  EXPECT_EQ(d.quoted_src, s.server_ip);
  EXPECT_EQ(ip_str(d.quoted_dst), kSourceAddr);
  EXPECT_EQ(d.quoted_sport, 143);
  EXPECT_EQ(d.quoted_dport, s.local_port);
  EXPECT_EQ(d.quoted_seq, s.server_isn + 1);
  ASSERT_TRUE(d.has_quoted_ack);
  EXPECT_EQ(d.quoted_ack, e.server_view_isn + 1 + kHeaderLen);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_TRUE(d.quoted_ip_checksum_ok);
  EXPECT_EQ(h.worker().counters().icmp_errors_forwarded, 1U);
}

TEST(Icmp, AnUnreachableFromTheServerSideReachesTheClientInItsOwnSpace) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  Session s(h);
  const Established e = establish(h, s);
  const auto out = tcp_only(s.send_client(s.client()
                                              .seq(s.client_isn + 1)
                                              .ack(s.server_isn + 1)
                                              .flags(kAck | kPsh)
                                              .payload("a1 LOGIN alice secret\r\n")));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, e.server_view_isn + 1 + kHeaderLen);
  TcpPacket quoted;
  quoted.from(kSourceAddr, s.local_port)
      .to(ip_str(s.server_ip).c_str(), 143)
      .seq(out[0].d.seq)
      .ack(out[0].d.ack)
      .flags(kAck | kPsh);
  h.receive(IcmpError()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.254")
                .to(kSourceAddr)
                .type(3, 1)  // host unreachable
                .quote(quoted)
                .build(),
            1);
  const auto err = h.take();
  ASSERT_EQ(err.size(), 1U);
  const Decoded& d = err[0].d;
  EXPECT_EQ(err[0].port, 0);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(ip_str(d.quoted_src), kClientAddr);
  EXPECT_EQ(ip_str(d.quoted_dst), kVipAddr);
  EXPECT_EQ(d.quoted_sport, s.client_port);
  EXPECT_EQ(d.quoted_dport, 143);
  EXPECT_EQ(d.quoted_seq, s.client_isn + 1) << "the client's own sequence number";
  EXPECT_TRUE(d.icmp_checksum_ok);
}

TEST(Icmp, AnErrorAboutNoFlowOfOursIsDropped) {
  WorkerHarness h;
  TcpPacket quoted;
  quoted.from(kVipAddr, 143).to(kClientAddr, 1234).seq(5);
  h.receive(IcmpError()
                .eth(kRouterMac, kPortClientMac)
                .from("198.18.0.254")
                .to(kVipAddr)
                .type(3, 4)
                .rest(kMtu)
                .quote(quoted)
                .build(),
            0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kIcmpNoFlow), 1U);
}

// Echo requests and errors from addresses no host sends from, or from Postern's own, are
// neither answered nor believed: drop reasons martian_source and land, as for TCP.
TEST(Icmp, MartianAndLandSourcesAreNeitherAnsweredNorBelieved) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  const Mac group{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  for (const char* src : {"127.0.0.1", "0.1.2.3", "224.0.0.1", "255.255.255.255"}) {
    h.receive(icmp_echo(kClientMac, kPortClientMac, src, kVipAddr, 7, 1, "ping"), 0);
  }
  h.receive(icmp_echo(group, kPortClientMac, kClientAddr, kVipAddr, 7, 1, "ping"), 0);
  h.receive(icmp_echo(kClientMac, kPortClientMac, kVipAddr, kVipAddr, 7, 1, "ping"), 0);
  h.receive(icmp_echo(kServer1Mac, kPortServerMac, kSourceAddr, kVipAddr, 7, 1, "ping"), 1);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kMartianSource), 5U);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kLand), 2U);
  EXPECT_EQ(h.worker().counters().icmp_echo_replies, 0U);

  // A "fragmentation needed" about a real flow, forged from loopback: not forwarded.
  Session s(h);
  const Established e = establish(h, s);
  const TcpPacket quoted = big_segment_to_client(s, e);
  IcmpError forged;
  forged.eth(kRouterMac, kPortClientMac)
      .to(kVipAddr)
      .type(3, 4)
      .rest(kMtu)
      .quote(quoted)
      .quote_len(IcmpError::kWholeDatagram);
  h.receive(IcmpError(forged).from("127.0.0.1").build(), 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kMartianSource), 6U);
  // The same from a router is forwarded, and a plain ping is answered.
  h.receive(IcmpError(forged).from("198.18.0.254").build(), 0);
  EXPECT_EQ(only_on(h.take(), 1).d.icmp_type, 3);
  h.receive(icmp_echo(kClientMac, kPortClientMac, kClientAddr, kVipAddr, 7, 1, "ping"), 0);
  EXPECT_EQ(only_on(h.take(), 0).d.icmp_type, 0);
}

TEST(Icmp, ASegmentWhoseTtlRunsOutHereIsAnsweredWithTimeExceeded) {
  WorkerHarness h;
  const Bytes syn = TcpPacket()
                        .eth(kClientMac, kPortClientMac)
                        .from(kClientAddr, 40000)
                        .to(kVipAddr, 143)
                        .seq(1)
                        .flags(kSyn)
                        .ttl(1)
                        .build();
  h.receive(syn, 0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  ASSERT_TRUE(d.is_icmp);
  EXPECT_EQ(d.icmp_type, 11);
  EXPECT_EQ(d.icmp_code, 0);
  EXPECT_EQ(ip_str(d.src), "198.18.0.1") << "from the interface it came in on, as a router";
  EXPECT_EQ(ip_str(d.dst), kClientAddr);
  EXPECT_EQ(0, std::memcmp(d.dst_mac.b, kClientMac.b, 6));
  ASSERT_TRUE(d.has_quote);
  EXPECT_EQ(d.quoted_dport, 143);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kTtlExpired), 1U);
  EXPECT_EQ(h.worker().counters().flows_created, 0U);
  // The rate limit keeps Postern from being a reflector: a flood gets a bounded answer.
  for (int i = 0; i < 1000; ++i) {
    h.receive(syn, 0);
  }
  EXPECT_LE(h.take().size(), dataplane::IcmpRateLimit::kDefaultBurst);
}

}  // namespace
}  // namespace postern::test
