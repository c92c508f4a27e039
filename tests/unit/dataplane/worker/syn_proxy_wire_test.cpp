// The SYN proxy (issue 9) as the client's NIC sees it: once a cookie has opened the server side,
// the server's segments reach the client's own MAC address, as every forwarded segment does.
// tests/e2e/syn_flood_test.sh found the opposite: every login a cookie opened hung without its
// greeting, which left Postern towards 00:00:00:00:00:00 (the handshake ACK Postern completes
// for the client carried no MAC, and the flow learnt the client's MAC from it).
#include <gtest/gtest.h>

#include <cstring>

#include "session.hpp"

namespace postern::test {
namespace {

void proxy_on(dataplane::Snapshot& s) {
  for (auto& l : s.listeners) {
    l.syn_proxy = dataplane::SynProxyMode::kOn;
  }
}

bool same(const Mac& a, const Mac& b) {
  return std::memcmp(a.b, b.b, sizeof a.b) == 0;
}

TEST(SynProxyWire, TheServersSegmentsGoToTheClientsMac) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  Session s(h);
  const Sent synack = only_on(s.send_client(s.client()
                                                .seq(s.client_isn)
                                                .flags(kSyn)
                                                .mss(1460)
                                                .sack_permitted()
                                                .wscale(7)
                                                .timestamp(111, 0)),
                              0);
  EXPECT_TRUE(same(synack.d.dst_mac, kClientMac));
  const std::uint32_t cookie = synack.d.seq;
  // The client's ACK proves its address: the server side opens.
  const Sent syn = only_on(s.send_client(s.client()
                                             .seq(s.client_isn + 1)
                                             .ack(cookie + 1)
                                             .flags(kAck)
                                             .window(502)
                                             .timestamp(112, synack.d.ts_val)),
                           1);
  ASSERT_EQ(syn.d.flags, kSyn);
  s.server_ip = syn.d.dst;
  s.server_port = syn.d.dport;
  s.local_port = syn.d.sport;
  // The server's SYN-ACK: Postern completes the handshake towards the server itself.
  const auto to_server = s.send_server(s.server()
                                           .seq(s.server_isn)
                                           .ack(s.client_isn + 1)
                                           .flags(kSyn | kAck)
                                           .mss(1400)
                                           .sack_permitted()
                                           .timestamp(900, 112)
                                           .wscale(7));
  ASSERT_FALSE(to_server.empty());
  // The greeting: towards the client's MAC from the client-side port's own.
  const Sent banner = only_on(s.send_server(s.server()
                                                .seq(s.server_isn + 1)
                                                .ack(s.client_isn + 1 + kHeaderLen)
                                                .flags(kAck | kPsh)
                                                .window(1000)
                                                .timestamp(950, 112)
                                                .payload("* OK\r\n")),
                              0);
  expect_valid_tcp(banner.d);
  EXPECT_EQ(banner.d.seq, cookie + 1);
  EXPECT_TRUE(same(banner.d.dst_mac, kClientMac));
  EXPECT_TRUE(same(banner.d.src_mac, kPortClientMac));
}

}  // namespace
}  // namespace postern::test
