// The SYN proxy (issue 9): SYNs answered with cookies, the server side opened only by a client
// ACK that proves its address, the client's options carried to the server, and every later
// segment translated between the cookie's spaces and the server's; the half-open flows that
// switch `auto` on; the per-source limit and the half-open timeout.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "net/tcp_options.hpp"
#include "session.hpp"
#include "synproxy/cookie.hpp"
#include "synproxy/recent.hpp"

namespace postern::test {
namespace {

using dataplane::DropReason;
using dataplane::SynProxyMode;
namespace synproxy = dataplane::synproxy;

dataplane::TcpOptions options_of(const Decoded& d) {
  return dataplane::parse_tcp_options(d.options.data(),
                                      static_cast<std::uint16_t>(d.options.size()));
}

void proxy_on(dataplane::Snapshot& s) {
  for (auto& l : s.listeners) {
    l.syn_proxy = SynProxyMode::kOn;
  }
}

// One client through the SYN proxy: its SYN, Postern's SYN-ACK, its ACK, the server's side.
struct ProxiedSession {
  explicit ProxiedSession(WorkerHarness& h, std::uint16_t port = 40000) : s(h, port) {}

  // The client's SYN; returns Postern's SYN-ACK (the only frame out).
  Decoded syn(bool timestamps = true) {
    TcpPacket p = s.client().seq(s.client_isn).flags(kSyn).mss(1460).sack_permitted().wscale(7);
    if (timestamps) {
      p.timestamp(111, 0);
    }
    const Sent out = only_on(s.send_client(p), 0);
    cookie = out.d.seq;
    our_ts = out.d.ts_val;
    return out.d;
  }
  // The client's handshake ACK; returns what went out (the SYN to the server).
  std::vector<Sent> ack(bool timestamps = true) {
    TcpPacket p = s.client().seq(s.client_isn + 1).ack(cookie + 1).flags(kAck).window(502);
    if (timestamps) {
      p.timestamp(112, our_ts);
    }
    const auto out = s.send_client(p);
    if (out.size() == 1) {
      s.server_ip = out[0].d.dst;
      s.server_port = out[0].d.dport;
      s.local_port = out[0].d.sport;
    }
    return out;
  }
  // The server's SYN-ACK (ISN s.server_isn, TSval 900, window scale `wscale`).
  std::vector<Sent> synack(std::uint8_t wscale = 7, bool timestamps = true) {
    TcpPacket p = s.server();
    p.seq(s.server_isn).ack(s.client_isn + 1).flags(kSyn | kAck).mss(1400).sack_permitted();
    if (timestamps) {
      p.timestamp(900, 112);
    }
    p.wscale(wscale);
    return s.send_server(p);
  }

  Session s;
  std::uint32_t cookie = 0;
  std::uint32_t our_ts = 0;
};

TEST(SynCookies, RoundTripAndForgeries) {
  const synproxy::Cookies c(dataplane::SipKey{1, 2});
  const dataplane::FlowKey k{ip("198.18.0.2"), ip("198.18.0.100"), 0x4000, 0x8f00};
  const std::uint64_t t0 = 10 * synproxy::kPeriodMs + 5;
  for (std::uint8_t mi = 0; mi < synproxy::kMssTable.size(); ++mi) {
    const dataplane::Seq cookie = c.make(k, dataplane::Seq(1000), mi, t0);
    const auto got = c.check(k, dataplane::Seq(1001), cookie + 1, t0);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, mi);
    // Good in the next period, not in the one after; never for another ISN or 4-tuple.
    EXPECT_TRUE(c.check(k, dataplane::Seq(1001), cookie + 1, t0 + synproxy::kPeriodMs));
    EXPECT_FALSE(c.check(k, dataplane::Seq(1001), cookie + 1, t0 + 2 * synproxy::kPeriodMs));
    EXPECT_FALSE(c.check(k, dataplane::Seq(1002), cookie + 1, t0));
    dataplane::FlowKey other = k;
    other.src_port = 0x4001;
    EXPECT_FALSE(c.check(other, dataplane::Seq(1001), cookie + 1, t0));
    // (An ACK one off the cookie reads as a neighbouring MSS index, as in Linux's layout:
    // whoever can send it has seen the cookie, so nothing is gained.)
  }
  // Another key makes other cookies.
  const synproxy::Cookies d(dataplane::SipKey{1, 3});
  EXPECT_NE(c.make(k, dataplane::Seq(7), 3, t0), d.make(k, dataplane::Seq(7), 3, t0));
  // Forged ACKs: of 100,000 random guesses, about 100000 / 2^21 pass by chance; allow 3.
  int passed = 0;
  std::uint32_t x = 99;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1664525 + 1013904223;
    passed += c.check(k, dataplane::Seq(1001), dataplane::Seq(x), t0) ? 1 : 0;
  }
  EXPECT_LE(passed, 3);
}

TEST(RecentSet, KnowsWhatWasAddedForgetsTheOldestAndNeverGrows) {
  const dataplane::SipKey key{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  auto set = std::make_unique<synproxy::RecentSet>(key);
  for (std::uint64_t a = 1; a <= 1000; ++a) {
    set->add(a);
  }
  int known = 0;
  for (std::uint64_t a = 1; a <= 1000; ++a) {
    known += set->contains(a) ? 1 : 0;
  }
  // 1,000 keys in 16,384 slots: a few collide, and a collision keeps the newer one.
  EXPECT_GE(known, 960);
  for (std::uint64_t a = 1000001; a <= 1100000; ++a) {
    ASSERT_FALSE(set->contains(a)) << a;  // never added: a 64-bit fingerprint would have to match
  }
  // A flood of new keys takes every slot; the first thousand are (nearly all) forgotten.
  for (std::uint64_t a = 2000000; a < 2000000 + 8 * synproxy::RecentSet::kSlots; ++a) {
    set->add(a);
  }
  known = 0;
  for (std::uint64_t a = 1; a <= 1000; ++a) {
    known += set->contains(a) ? 1 : 0;
  }
  EXPECT_LE(known, 5);
  EXPECT_EQ(sizeof(synproxy::RecentSet), 8 * synproxy::RecentSet::kSlots + sizeof(key));
}

TEST(SynCookies, MssTableAndTimestampBits) {
  EXPECT_EQ(synproxy::kMssTable[synproxy::Cookies::mss_index(1460)], 1460);
  EXPECT_EQ(synproxy::kMssTable[synproxy::Cookies::mss_index(1459)], 1452);
  EXPECT_EQ(synproxy::kMssTable[synproxy::Cookies::mss_index(9000)], 1460);
  EXPECT_EQ(synproxy::kMssTable[synproxy::Cookies::mss_index(100)], 536);
  for (const std::int8_t ws : {-1, 0, 7, 14}) {
    for (const bool sack : {false, true}) {
      const std::uint32_t clock = 123456789;
      const std::uint32_t ts = synproxy::Cookies::ts_encode(clock, ws, sack);
      EXPECT_LE(ts, clock);
      EXPECT_GT(ts, clock - 128);
      synproxy::SynOptions o;
      synproxy::Cookies::ts_decode(ts, o);
      EXPECT_EQ(o.wscale, ws);
      EXPECT_EQ(o.sack, sack);
    }
  }
}

TEST(SynProxy, AnswersTheSynItselfAndKeepsNoState) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  const Decoded sa = p.syn();
  expect_valid_tcp(sa);
  EXPECT_EQ(ip_str(sa.src), kVipAddr);
  EXPECT_EQ(ip_str(sa.dst), kClientAddr);
  EXPECT_EQ(sa.sport, 143);
  EXPECT_EQ(sa.dport, 40000);
  EXPECT_EQ(sa.flags, kSyn | kAck);
  EXPECT_EQ(sa.ack, p.s.client_isn + 1);
  EXPECT_TRUE(sa.has_ts);
  EXPECT_EQ(sa.ts_ecr, 111U);
  const auto o = options_of(sa);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_TRUE(o.sack_permitted);
  EXPECT_EQ(o.wscale, 7);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(h.worker().counters().syn_cookies_sent, 1U);
  EXPECT_EQ(h.worker().counters().flows_created, 0U);
}

TEST(SynProxy, TheProvenClientReachesTheServerWithItsOptionsHeaderFirst) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  // The ACK opens the server side: a SYN with the client's ISN and options.
  const Sent syn = only_on(p.ack(), 1);
  expect_valid_tcp(syn.d);
  EXPECT_EQ(syn.d.flags, kSyn);
  EXPECT_EQ(syn.d.seq, p.s.client_isn);
  EXPECT_EQ(ip_str(syn.d.src), kSourceAddr);
  const auto so = options_of(syn.d);
  EXPECT_EQ(so.mss, 1460);
  EXPECT_TRUE(so.sack_permitted);
  EXPECT_EQ(so.wscale, 7);
  EXPECT_TRUE(so.has_timestamp);
  EXPECT_EQ(so.ts_val, 112U);
  EXPECT_EQ(h.worker().counters().syn_cookies_valid, 1U);
  EXPECT_EQ(h.worker().counters().flows_created, 1U);

  // The server answers: the client hears nothing of it; the server gets our header and the
  // handshake ACK, in its own spaces.
  const auto out = p.synack();
  ASSERT_EQ(out.size(), 2U);
  for (const auto& o : out) {
    EXPECT_EQ(o.port, 1);
    expect_valid_tcp(o.d);
    EXPECT_EQ(o.d.ack, p.s.server_isn + 1);
    EXPECT_EQ(o.d.ts_ecr, 900U);
    EXPECT_EQ(o.d.ts_val, 112U);
  }
  EXPECT_EQ(out[0].d.seq, p.s.client_isn + 1);
  EXPECT_EQ(out[0].d.payload.size(), kHeaderLen);
  EXPECT_EQ(out[1].d.seq, p.s.client_isn + 1 + kHeaderLen);
  EXPECT_TRUE(out[1].d.payload.empty());
  EXPECT_EQ(out[1].d.window, 502);  // the server scales it by 7 as the client does

  // The banner: in the cookie's sequence space and timestamp clock, window in our scale.
  const auto banner = only_on(p.s.send_server(p.s.server()
                                                  .seq(p.s.server_isn + 1)
                                                  .ack(p.s.client_isn + 1 + kHeaderLen)
                                                  .flags(kAck | kPsh)
                                                  .window(1000)
                                                  .timestamp(950, 112)
                                                  .payload("* OK\r\n")),
                              0);
  expect_valid_tcp(banner.d);
  EXPECT_EQ(std::memcmp(banner.d.dst_mac.b, kClientMac.b, 6), 0) << "to the client's MAC";
  EXPECT_EQ(banner.d.seq, p.cookie + 1);
  EXPECT_EQ(banner.d.ack, p.s.client_isn + 1);
  EXPECT_EQ(banner.d.ts_val, p.our_ts + 50);
  EXPECT_EQ(banner.d.ts_ecr, 112U);
  EXPECT_EQ(banner.d.window, 1000);  // 7 both sides: unchanged

  // The client's command, acknowledging the banner in its space.
  const auto cmd = only_on(p.s.send_client(p.s.client()
                                               .seq(p.s.client_isn + 1)
                                               .ack(p.cookie + 7)
                                               .flags(kAck | kPsh)
                                               .timestamp(113, p.our_ts + 50)
                                               .sack({{p.cookie + 20, p.cookie + 30}})
                                               .payload("a NOOP\r\n")),
                           1);
  expect_valid_tcp(cmd.d);
  EXPECT_EQ(cmd.d.seq, p.s.client_isn + 1 + kHeaderLen);
  EXPECT_EQ(cmd.d.ack, p.s.server_isn + 7);
  EXPECT_EQ(cmd.d.ts_val, 113U);
  EXPECT_EQ(cmd.d.ts_ecr, 950U);
  ASSERT_EQ(cmd.d.sack.size(), 1U);
  EXPECT_EQ(cmd.d.sack[0].first, p.s.server_isn + 20);
  EXPECT_EQ(cmd.d.sack[0].second, p.s.server_isn + 30);
  EXPECT_EQ(std::string(cmd.d.payload.begin(), cmd.d.payload.end()), "a NOOP\r\n");
}

TEST(SynProxy, ServerWindowsAreTranslatedIntoTheAnnouncedScale) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  p.synack(2);  // the server scales by 2, the client was told 7
  const auto banner = only_on(p.s.send_server(p.s.server()
                                                  .seq(p.s.server_isn + 1)
                                                  .ack(p.s.client_isn + 1 + kHeaderLen)
                                                  .flags(kAck)
                                                  .window(1000)
                                                  .timestamp(950, 112)
                                                  .payload("* OK\r\n")),
                              0);
  expect_valid_tcp(banner.d);
  EXPECT_EQ(banner.d.window, (1000U << 2) >> 7);
}

TEST(SynProxy, ServerWithoutWindowScalingGetsTheClientsWindowsScaled) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  TcpPacket sa = p.s.server();
  sa.seq(p.s.server_isn).ack(p.s.client_isn + 1).flags(kSyn | kAck).mss(1400).timestamp(900, 112);
  const auto out = p.s.send_server(sa);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[1].d.window, 502U << 7);  // the server reads it unscaled
  const auto banner = only_on(p.s.send_server(p.s.server()
                                                  .seq(p.s.server_isn + 1)
                                                  .ack(p.s.client_isn + 1 + kHeaderLen)
                                                  .flags(kAck)
                                                  .window(29200)
                                                  .timestamp(950, 112)
                                                  .payload("* OK\r\n")),
                              0);
  EXPECT_EQ(banner.d.window, 29200U >> 7);
}

TEST(SynProxy, AClientWithoutTimestampsGetsOnlyTheMss) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  const Decoded sa = p.syn(false);
  EXPECT_FALSE(sa.has_ts);
  const auto o = options_of(sa);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.sack_permitted);
  EXPECT_EQ(o.wscale, -1);
  const Sent syn = only_on(p.ack(false), 1);
  const auto so = options_of(syn.d);
  EXPECT_EQ(so.mss, 1460);
  EXPECT_FALSE(so.has_timestamp);
  EXPECT_FALSE(so.sack_permitted);
  EXPECT_EQ(so.wscale, -1);
  const auto out = p.synack(7, false);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_FALSE(out[0].d.has_ts);
}

TEST(SynProxy, AForgedAckIsResetAndOpensNothing) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.cookie += 12345;  // a guess
  const Sent rst = only_on(p.ack(), 0);
  EXPECT_EQ(rst.d.flags & kRst, kRst);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kSynCookieInvalid), 1U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  // A cookie that has expired is refused the same way.
  ProxiedSession q(h, 40001);
  q.syn();
  h.advance(2 * synproxy::kPeriodMs + 1000);
  h.take();  // both SYN-ACKs were sent once more a second after the first
  ProxiedSession r(h, 40002);
  r.syn();  // cookies are still being sent: an unknown ACK is checked
  only_on(q.ack(), 0);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kSynCookieInvalid), 2U);
}

TEST(SynProxy, ClientBytesBeforeTheServerAnswersAreHeldBack) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  const auto out = p.s.send_client(p.s.client()
                                       .seq(p.s.client_isn + 1)
                                       .ack(p.cookie + 1)
                                       .flags(kAck | kPsh)
                                       .timestamp(113, p.our_ts)
                                       .payload("EHLO x\r\n"));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kSynProxyPending), 1U);
}

TEST(SynProxy, ARefusingServerIsRedispatchedAndTheLastRefusalResetsTheClientInItsSpace) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    proxy_on(s);
    s.listeners[0].retries = 1;
  });
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  const std::uint32_t first = p.s.server_ip;
  // Refused: the next server gets the same SYN.
  const Sent again =
      only_on(p.s.send_server(p.s.server().seq(0).ack(p.s.client_isn + 1).flags(kRst | kAck)), 1);
  EXPECT_EQ(again.d.flags, kSyn);
  EXPECT_NE(again.d.dst, first);
  EXPECT_TRUE(options_of(again.d).has_timestamp);
  p.s.server_ip = again.d.dst;
  // Refused again, no retries left: the client gets a RST at the cookie's RCV.NXT.
  const Sent rst =
      only_on(p.s.send_server(p.s.server().seq(0).ack(p.s.client_isn + 1).flags(kRst | kAck)), 0);
  EXPECT_EQ(rst.d.flags & kRst, kRst);
  EXPECT_EQ(rst.d.seq, p.cookie + 1);
  EXPECT_EQ(ip_str(rst.d.src), kVipAddr);
}

TEST(SynProxy, AServerSynAckRepeatedIsAnsweredForTheClient) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    proxy_on(s);
    s.servers[0].send_proxy = false;
    s.servers[1].send_proxy = false;
  });
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  const Sent ack = only_on(p.synack(), 1);
  EXPECT_EQ(ack.d.flags, kAck);
  EXPECT_EQ(ack.d.seq, p.s.client_isn + 1);
  EXPECT_EQ(ack.d.ack, p.s.server_isn + 1);
  const Sent again = only_on(p.synack(), 1);
  EXPECT_EQ(again.d.flags, kAck);
  EXPECT_EQ(again.d.ack, p.s.server_isn + 1);
}

TEST(SynProxy, AutoSwitchesOnAboveTheHalfOpenThresholdAndOffWhenCalm) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    s.defense.syn_proxy_above = 3;
    s.defense.half_open_timeout_ms = 5000;
  });
  h.resolve_servers();
  // Three handshakes the clients never finish.
  for (std::uint16_t port = 41000; port < 41003; ++port) {
    Session s(h, port);
    s.syn();
    s.synack();
  }
  h.advance(1);
  EXPECT_EQ(h.worker().counters().half_open_flows, 3U);
  EXPECT_EQ(h.worker().counters().syn_proxy_active, 0U);
  // The fourth SYN finds three half-open: a cookie answers it.
  ProxiedSession p(h, 41003);
  const Decoded sa = p.syn();
  EXPECT_EQ(sa.flags, kSyn | kAck);
  h.advance(1);
  EXPECT_EQ(h.worker().counters().syn_proxy_active, 1U);
  // The half-open flows time out (5 s after their SYN-ACK, both ends reset) and no cookie goes
  // unanswered: after ten calm seconds a SYN is forwarded again.
  for (int i = 0; i < 13; ++i) {
    h.advance(1000);
  }
  h.take();
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenTimeout), 3U);
  EXPECT_EQ(h.worker().counters().half_open_flows, 0U);
  // The cookie sent while `auto` had it on was not sent twice: that is what a flood sends.
  EXPECT_EQ(h.worker().counters().syn_cookies_resent, 0U);
  EXPECT_EQ(h.worker().counters().syn_proxy_active, 0U);
  Session s(h, 41010);
  const Decoded fwd = s.syn();
  EXPECT_EQ(fwd.flags, kSyn);
  EXPECT_EQ(ip_str(fwd.src), kSourceAddr);
}

TEST(HalfOpen, TimeoutResetsBothEndsIndependentlyOfTimeoutConnect) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    s.defense.half_open_timeout_ms = 2000;
    s.listeners[0].timeout_connect_ms = 30000;
  });
  h.resolve_servers();
  Session s(h);
  s.syn();
  s.synack();
  h.advance(1900);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  h.advance(200);
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);
  int to_server = 0;
  for (const auto& o : out) {
    EXPECT_EQ(o.d.flags & kRst, kRst);
    to_server += o.port == 1 ? 1 : 0;
  }
  EXPECT_EQ(to_server, 1);  // the server's SYN_RECV entry goes at once
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenTimeout), 1U);
  // A completed handshake is not touched by it.
  Session t(h, 40001);
  t.greet();
  h.advance(5000);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenTimeout), 1U);
}

TEST(HalfOpen, PerSourceLimitRefusesTheThirdAndFreesAsHandshakesComplete) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) { s.defense.half_open_per_source = 2; });
  h.resolve_servers();
  Session a(h, 42000);
  a.syn();
  Session b(h, 42001);
  b.syn();
  const auto refused = h.take();
  Session c(h, 42002);
  const Sent rst = only_on(c.send_client(c.client().seq(7).flags(kSyn)), 0);
  EXPECT_EQ(rst.d.flags & kRst, kRst);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenPerSource), 1U);
  // Another source is not limited by this one.
  const auto other = h.take();
  (void)refused;
  (void)other;
  TcpPacket o;
  o.eth(kClientMac, kPortClientMac).from("198.18.0.3", 42000).to(kVipAddr, 143).seq(9).flags(kSyn);
  h.receive(o.build(), 0);
  const Sent fwd = only_on(h.take(), 1);
  EXPECT_EQ(fwd.d.flags, kSyn);
  // a completes its handshake: the source may open one more.
  a.synack();
  a.handshake_ack();
  Session d(h, 42003);
  const Decoded dsyn = d.syn();
  EXPECT_EQ(dsyn.flags, kSyn);
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenPerSource), 1U);
}

TEST(HalfOpen, DropRefusalSendsNothing) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    s.defense.half_open_per_source = 1;
    s.defense.refuse = dataplane::RefuseMode::kDrop;
  });
  h.resolve_servers();
  Session a(h, 42000);
  a.syn();
  Session b(h, 42001);
  EXPECT_TRUE(b.send_client(b.client().seq(7).flags(kSyn)).empty());
  EXPECT_EQ(h.worker().counters().dropped(DropReason::kHalfOpenPerSource), 1U);
}

TEST(SynProxy, ALostHeaderIsSentAgainOnItsTimer) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  p.syn();
  p.ack();
  ASSERT_EQ(p.synack().size(), 2U);  // header and ACK: the header is lost
  h.advance(dataplane::splice::kHeaderRtoMs + 1);
  const auto again = tcp_only(h.take());
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].port, 1);
  EXPECT_EQ(again[0].d.payload.size(), kHeaderLen);
  EXPECT_EQ(again[0].d.seq, p.s.client_isn + 1);
  EXPECT_EQ(h.worker().counters().proxy_retransmits, 1U);
}

TEST(SynProxy, ASynAckWhoseClientDoesNotComeBackIsSentAgainThreeTimes) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  ProxiedSession p(h);
  const Decoded first = p.syn();
  // The client's ACK is lost: a mail client would wait for the banner for ever. A second later
  // the same SYN-ACK goes again, and again a second after that, three times in all.
  h.advance(999);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  for (std::uint64_t n = 1; n <= 3; ++n) {
    h.advance(n == 1 ? 2 : 1000);
    const auto again = tcp_only(h.take());
    ASSERT_EQ(again.size(), 1U) << "resend " << n;
    expect_valid_tcp(again[0].d);
    EXPECT_EQ(again[0].port, 0);
    EXPECT_EQ(again[0].d.seq, first.seq);
    EXPECT_EQ(again[0].d.ack, first.ack);
    EXPECT_EQ(again[0].d.options, first.options);
    EXPECT_EQ(std::memcmp(again[0].d.dst_mac.b, kClientMac.b, 6), 0);
    EXPECT_EQ(h.worker().counters().syn_cookies_resent, n);
  }
  h.advance(5000);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(h.worker().counters().syn_cookies_resent, 3U);
  // The client's answer to the last one still opens the connection.
  EXPECT_EQ(only_on(p.ack(), 1).d.flags, kSyn);
  // Nothing goes again for a client that came back.
  ProxiedSession q(h, 40001);
  q.syn();
  q.ack();
  h.take();
  for (int i = 0; i < 4; ++i) {
    h.advance(1000);
  }
  for (const auto& o : tcp_only(h.take())) {
    EXPECT_NE(o.d.flags, kSyn | kAck);
  }
  EXPECT_EQ(h.worker().counters().syn_cookies_resent, 3U);
}

// `count` SYNs from spoofed addresses 10.1.0.0/16 (as bench/synflood sends them).
void spoofed_flood(WorkerHarness& h, std::uint32_t count) {
  for (std::uint32_t i = 0; i < count; ++i) {
    TcpPacket syn;
    const std::string src = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    syn.eth(kClientMac, kPortClientMac)
        .from(src.c_str(), static_cast<std::uint16_t>(1024 + i))
        .to(kVipAddr, 143)
        .seq(i)
        .flags(kSyn)
        .mss(1460);
    h.receive(syn.build(), 0);
  }
}

TEST(SynProxy, AFloodsSynAcksGoOnceAndAKnownClientsAreSentAgain) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  // The real client has completed a handshake before: its address is known.
  ProxiedSession before(h, 40000);
  before.syn();
  before.ack();
  h.take();
  spoofed_flood(h, 10000);
  h.take();
  // During the flood the client connects again and its handshake ACK is lost.
  ProxiedSession p(h, 40001);
  const Decoded first = p.syn();
  h.take();
  EXPECT_EQ(h.worker().counters().syn_cookies_sent, 10002U);
  EXPECT_EQ(h.worker().flows().size(), 1U);  // `before`'s; the flood made none
  std::vector<Sent> resent;
  for (int i = 0; i < 400; ++i) {
    spoofed_flood(h, 20);  // the flood goes on
    h.advance(10);
    for (const auto& o : tcp_only(h.take())) {
      if (o.d.ack == first.ack) {
        resent.push_back(o);
      }
    }
  }
  // Only the known client's SYN-ACK, three times; none of the flood's 18,000.
  ASSERT_EQ(resent.size(), 3U);
  EXPECT_EQ(resent[0].d.seq, first.seq);
  EXPECT_EQ(h.worker().counters().syn_cookies_resent, 3U);
  EXPECT_EQ(only_on(p.ack(), 1).d.flags, kSyn);
}

TEST(SynProxy, AnUnknownClientsSynAckIsNotSentTwiceDuringAFlood) {
  WorkerHarness h(1024, proxy_on);
  h.resolve_servers();
  spoofed_flood(h, 5000);
  h.take();
  ProxiedSession p(h, 40001);
  p.syn();
  h.take();
  for (int i = 0; i < 200; ++i) {
    h.advance(10);
  }
  h.take();
  EXPECT_EQ(h.worker().counters().syn_cookies_resent, 0U);
}

}  // namespace
}  // namespace postern::test
