// Server-side ISNs and timestamp clocks of Postern's own (DESIGN.md step 1): the server sees
// sequence numbers and TSvals that grow per server-side 4-tuple whatever the clients send, and
// every number that comes back is mapped into the client's space: ACKs, SACK blocks, TSecr.
#include <gtest/gtest.h>

#include <string>

#include "session.hpp"

namespace postern::test {
namespace {

using Blocks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

const dataplane::SeqOffsets kKeyed(std::array<std::uint64_t, 2>{0x0123456789abcdefULL, 42});

struct Opened {
  std::uint32_t isn;  // the server-side ISN Postern chose (its SYN's seq)
  std::uint32_t ts;   // the server-side TSval of its SYN
  std::uint16_t local_port;
  std::uint32_t server_ip;
};

// The client's SYN (ISN `isn`, TSval `tsval`) through Postern; what the server received.
Opened open(WorkerHarness& h, std::uint16_t cport, std::uint32_t isn, std::uint32_t tsval) {
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from(kClientAddr, cport)
                .to(kVipAddr, 143)
                .seq(isn)
                .flags(kSyn)
                .mss(1460)
                .sack_permitted()
                .timestamp(tsval, 0)
                .wscale(7)
                .build(),
            0);
  const auto out = tcp_only(h.take());
  EXPECT_EQ(out.size(), 1U);
  if (out.empty()) {
    return {};
  }
  expect_valid_tcp(out[0].d);
  EXPECT_TRUE(out[0].d.has_ts);
  return {out[0].d.seq, out[0].d.ts_val, out[0].d.sport, out[0].d.dst};
}

TcpPacket from_server(const Opened& o) {
  TcpPacket p;
  const std::string addr = ip_str(o.server_ip);
  p.eth(o.server_ip == ip("198.19.0.11") ? kServer2Mac : kServer1Mac, kPortServerMac)
      .from(addr.c_str(), 143)
      .to(kSourceAddr, o.local_port);
  return p;
}

TcpPacket from_client(std::uint16_t cport) {
  TcpPacket p;
  p.eth(kClientMac, kPortClientMac).from(kClientAddr, cport).to(kVipAddr, 143);
  return p;
}

TEST(Offsets, EveryNumberIsMappedBetweenTheClientsSpaceAndTheServersView) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  constexpr std::uint32_t kIsn = 1000;
  constexpr std::uint32_t kSrv = 5000000;
  const Opened o = open(h, 40000, kIsn, 111);
  EXPECT_NE(o.isn, kIsn);
  EXPECT_NE(o.ts, 111U);
  const std::uint32_t ts_off = o.ts - 111;

  // SYN-ACK: the client sees its own ISN acknowledged and its own TSval echoed.
  auto out = tcp_only(h.take());
  h.receive(from_server(o)
                .seq(kSrv)
                .ack(o.isn + 1)
                .flags(kSyn | kAck)
                .mss(1460)
                .sack_permitted()
                .timestamp(900, o.ts)
                .wscale(7)
                .build(),
            1);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, kIsn + 1);
  EXPECT_EQ(out[0].d.ts_ecr, 111U);
  EXPECT_EQ(out[0].d.ts_val, 900U) << "the server's own clock is not ours to change";
  expect_valid_tcp(out[0].d);

  // Handshake ACK: our header at the server-side ISN + 1, then the ACK after it; TSvals in the
  // server's clock.
  h.receive(from_client(40000).seq(kIsn + 1).ack(kSrv + 1).flags(kAck).timestamp(112, 900).build(),
            0);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].d.seq, o.isn + 1);
  EXPECT_EQ(out[0].d.ack, kSrv + 1);
  EXPECT_EQ(out[0].d.payload.size(), kHeaderLen);
  EXPECT_EQ(out[0].d.ts_val, 112 + ts_off);
  EXPECT_EQ(out[0].d.ts_ecr, 900U);
  EXPECT_EQ(out[1].d.seq, o.isn + 1 + kHeaderLen);
  EXPECT_EQ(out[1].d.ts_val, 112 + ts_off);
  for (const auto& s : out) {
    expect_valid_tcp(s.d);
  }

  // Client data, then the server's ACK with a SACK block and a D-SACK-free block beyond.
  h.receive(from_client(40000)
                .seq(kIsn + 1)
                .ack(kSrv + 1)
                .flags(kAck | kPsh)
                .timestamp(113, 900)
                .payload("a1 NOOP\r\n")
                .build(),
            0);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.seq, o.isn + 1 + kHeaderLen);
  EXPECT_EQ(out[0].d.ts_val, 113 + ts_off);
  expect_valid_tcp(out[0].d);
  const std::uint32_t after_header = o.isn + 1 + kHeaderLen;
  h.receive(from_server(o)
                .seq(kSrv + 1)
                .ack(after_header + 9)
                .flags(kAck)
                .timestamp(901, 113 + ts_off)
                .sack({{after_header + 20, after_header + 30}})
                .build(),
            1);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, kIsn + 1 + 9);
  EXPECT_EQ(out[0].d.sack, (Blocks{{kIsn + 1 + 20, kIsn + 1 + 30}}));
  EXPECT_EQ(out[0].d.ts_ecr, 113U);
  expect_valid_tcp(out[0].d);

  // The client's SACK blocks are in the server's own space: untouched.
  h.receive(from_client(40000)
                .seq(kIsn + 10)
                .ack(kSrv + 1)
                .flags(kAck)
                .timestamp(114, 901)
                .sack({{kSrv + 100, kSrv + 200}})
                .build(),
            0);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.sack, (Blocks{{kSrv + 100, kSrv + 200}}));
  EXPECT_EQ(out[0].d.ts_ecr, 901U);
  expect_valid_tcp(out[0].d);
}

// What makes a server in TIME_WAIT take the next SYN on a 4-tuple (RFC 6191): the server side
// of Postern's connections to one server carries timestamps from one clock, growing with
// time, whatever the clients' own clocks say.
TEST(Offsets, TimestampsTowardsAServerGrowWhateverTheClientsSend) {
  WorkerHarness h(
      1024, [](dataplane::Snapshot& s) { s.listeners[0].servers = {0}; }, &kKeyed);
  h.resolve_servers();
  const Opened a = open(h, 40001, 0xf0000000U, 4000000000U);
  h.advance(5);
  const Opened b = open(h, 40002, 7, 3);  // a client whose ISN and clock are far behind
  EXPECT_EQ(a.server_ip, b.server_ip);
  EXPECT_GT(static_cast<std::int32_t>(b.ts - a.ts), 0);
  EXPECT_GE(static_cast<std::int32_t>(b.ts - a.ts), 5);
}

TEST(Offsets, ARedispatchedSynCarriesTheNewServersOwnIsn) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  const Opened first = open(h, 40003, 1000, 111);
  h.advance(5001);  // timeout connect: the SYN goes to the other server
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  const Decoded& syn = out[0].d;
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_NE(syn.dst, first.server_ip);
  EXPECT_NE(syn.seq, first.isn);
  expect_valid_tcp(syn);
  // The new server's SYN-ACK acknowledges that ISN, and the client sees its own.
  const Opened second{syn.seq, syn.ts_val, syn.sport, syn.dst};
  h.receive(from_server(second)
                .seq(77)
                .ack(syn.seq + 1)
                .flags(kSyn | kAck)
                .timestamp(5, syn.ts_val)
                .build(),
            1);
  const auto sa = tcp_only(h.take());
  ASSERT_EQ(sa.size(), 1U);
  EXPECT_EQ(sa[0].d.ack, 1001U);
  EXPECT_EQ(sa[0].d.ts_ecr, 111U);
}

TEST(Offsets, ResetsLandInEachReceiversSpace) {
  WorkerHarness h(1024, nullptr, &kKeyed);
  h.resolve_servers();
  const Opened o = open(h, 40004, 1000, 111);
  h.receive(from_server(o).seq(5000).ack(o.isn + 1).flags(kSyn | kAck).timestamp(900, o.ts).build(),
            1);
  h.receive(from_client(40004).seq(1001).ack(5001).flags(kAck).timestamp(112, 900).build(), 0);
  h.receive(
      from_server(o).seq(5001).ack(o.isn + 1 + kHeaderLen).flags(kAck).timestamp(901, 0).build(),
      1);
  h.take();
  h.advance(60000 + 10);  // idle: both sides are reset
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);
  for (const auto& s : out) {
    EXPECT_NE(s.d.flags & kRst, 0);
    expect_valid_tcp(s.d);
    if (s.port == 0) {
      EXPECT_EQ(s.d.seq, 5001U);  // the client's RCV.NXT: the server's own space
    } else {
      EXPECT_EQ(s.d.seq, o.isn + 1 + kHeaderLen);  // the server's RCV.NXT: its view
    }
  }
}

// The default key is the machine's per boot: another Postern process (a restart) computes the
// same ISN and timestamp clock for a 4-tuple at a given time, so the servers' TIME_WAITs from
// before the restart take its SYNs too.
TEST(Offsets, APosternRestartedOnTheSameBootGoesOnWithTheSameIsns) {
  const dataplane::SeqOffsets before;
  const dataplane::SeqOffsets after;
  const dataplane::FlowKey k{ip("198.19.0.10"), ip("198.19.0.1"), 143, 61442};
  EXPECT_EQ(before.isn(k, 123456).value(), after.isn(k, 123456).value());
  EXPECT_EQ(before.ts_clock(k.dst_ip, k.src_ip, 99), after.ts_clock(k.dst_ip, k.src_ip, 99));
  EXPECT_NE(before.isn(k, 123456).value(), kKeyed.isn(k, 123456).value());
}

}  // namespace
}  // namespace postern::test
