// The health-check TCP client against a scripted server: every frame the table sends is
// decoded with the builder's own full checksum sums, every event the engine would see is
// recorded, and time is a number the test moves. The server's ISN wraps during the exchange.
#include "health/probe.hpp"

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <array>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/frame.hpp"
#include "net/icmp.hpp"
#include "support/packet_builder.hpp"

namespace postern::dataplane {
namespace {

using test::Bytes;
using test::Decoded;
using test::ip;
using test::kAck;
using test::kFin;
using test::kPsh;
using test::kRst;
using test::kSyn;
using test::TcpPacket;

constexpr const char* kLocal = "198.19.0.1";
constexpr const char* kServer = "198.19.0.10";
constexpr const char* kGateway = "198.19.0.254";
constexpr const char* kOther = "198.19.0.11";
constexpr std::uint16_t kImap = 143;
constexpr std::uint8_t kPortId = 1;
constexpr std::uint32_t kServerIsn = 0xfffffff0;  // its bytes wrap past 2^32
constexpr std::uint32_t kSrv = kServerIsn + 1;    // the server's first byte
constexpr std::uint64_t kT0 = 1000000;
constexpr std::uint64_t kNever = ~std::uint64_t{0};
const std::array<std::uint64_t, 2> kKey = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

constexpr std::string_view kGreeting =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE] Dovecot ready.\r\n";
constexpr std::string_view kLogout = "a LOGOUT\r\n";
constexpr std::string_view kBye = "* BYE Logging out\r\na OK Logout completed.\r\n";

struct Sent {
  std::uint8_t port_id = 0;
  std::uint32_t next_hop = 0;
  Decoded d;
};

std::string payload_of(const Decoded& d) {
  return {d.payload.begin(), d.payload.end()};
}

// The events as the engine would read them: "connected data[...] peer-closed freed".
std::string describe(const std::vector<ProbeEvent>& events) {
  std::string s;
  for (const ProbeEvent& e : events) {
    if (!s.empty()) {
      s += ' ';
    }
    switch (e.kind) {
      case ProbeEventKind::kConnected:
        s += "connected";
        break;
      case ProbeEventKind::kData:
        s += "data[" + std::string(reinterpret_cast<const char*>(e.data), e.len) + "]";
        break;
      case ProbeEventKind::kPeerClosed:
        s += "peer-closed";
        break;
      case ProbeEventKind::kReset:
        s += "reset";
        break;
      case ProbeEventKind::kUnreachable:
        s += "unreachable";
        break;
      case ProbeEventKind::kFreed:
        s += "freed";
        break;
    }
  }
  return s;
}

// The bytes of all kData events, in order.
std::string data_of(const std::vector<ProbeEvent>& events) {
  std::string s;
  for (const ProbeEvent& e : events) {
    if (e.kind == ProbeEventKind::kData) {
      s.append(reinterpret_cast<const char*>(e.data), e.len);
    }
  }
  return s;
}

// A worker's probe table with its output captured: frames decoded, events recorded until
// `room` runs out (the engine's ring is full).
class Probes {
  // The callbacks the worker would pass; defined first so the members below can use them.
  auto out() {
    return [this](std::uint8_t port_id, std::uint32_t hop, const std::uint8_t* f, std::uint16_t n) {
      EXPECT_LE(n, ProbeTable::kFrameMax);
      Sent s;
      s.port_id = port_id;
      s.next_hop = hop;
      s.d = test::decode(Bytes(f, f + n));
      out_.push_back(s);
    };
  }
  auto emit() {
    return [this](const ProbeEvent& e) {
      if (room == 0) {
        return false;
      }
      if (room != kUnlimited) {
        --room;
      }
      events_.push_back(e);
      return true;
    };
  }

 public:
  static constexpr int kUnlimited = INT_MAX;

  explicit Probes(std::uint32_t worker = 0, std::uint32_t workers = 1)
      : offsets_(kKey), table_(std::make_unique<ProbeTable>(worker, workers, offsets_)) {}

  ProbeTable& table() { return *table_; }
  int room = kUnlimited;

  void command(const ProbeCommand& c, std::uint64_t now) { table_->command(c, now, out(), emit()); }
  void open(std::uint16_t slot, std::uint64_t now, const char* server = kServer) {
    ProbeCommand c;
    c.op = ProbeOp::kOpen;
    c.slot = slot;
    c.src_ip = ip(kLocal);
    c.dst_ip = ip(server);
    c.dst_port = rte_cpu_to_be_16(kImap);
    c.port_id = kPortId;
    c.next_hop = ip(kGateway);
    command(c, now);
  }
  void send(std::uint16_t slot, std::string_view data, bool fin, std::uint64_t now) {
    ProbeCommand c;
    c.op = ProbeOp::kSend;
    c.slot = slot;
    c.fin = fin;
    c.len = static_cast<std::uint16_t>(data.size());
    std::memcpy(c.data, data.data(), data.size());
    command(c, now);
  }
  void op(ProbeOp o, std::uint16_t slot, std::uint64_t now) {
    ProbeCommand c;
    c.op = o;
    c.slot = slot;
    command(c, now);
  }
  bool segment(const TcpPacket& p, std::uint64_t now) {
    Bytes b = p.build();
    FrameView v;
    DropReason reason{};
    EXPECT_EQ(parse_frame(b.data(), static_cast<std::uint16_t>(b.size()), v, reason),
              FrameKind::kTcp4);
    return table_->segment(v, now, out(), emit());
  }
  void tick(std::uint64_t now) { table_->tick(now, out(), emit()); }
  bool icmp(const Bytes& frame, std::uint64_t now) {
    Bytes b = frame;
    FrameView v;
    DropReason reason{};
    EXPECT_EQ(parse_frame(b.data(), static_cast<std::uint16_t>(b.size()), v, reason),
              FrameKind::kIcmp4);
    IcmpQuote q;
    EXPECT_TRUE(parse_icmp_error(v, q));
    return table_->icmp_error(q, now, emit());
  }

  std::vector<Sent> take_out() { return std::exchange(out_, {}); }
  std::vector<ProbeEvent> take_events() { return std::exchange(events_, {}); }
  const std::vector<ProbeEvent>& events() const { return events_; }

  Seq isn(std::uint16_t local_port, std::uint64_t now, const char* server = kServer) const {
    return offsets_.isn(
        FlowKey{ip(server), ip(kLocal), rte_cpu_to_be_16(kImap), rte_cpu_to_be_16(local_port)},
        now);
  }

 private:
  SeqOffsets offsets_;
  std::unique_ptr<ProbeTable> table_;
  std::vector<Sent> out_;
  std::vector<ProbeEvent> events_;
};

// A frame of ours: addressed as the command said, zero MACs for the worker to fill, every
// checksum right by full recomputation.
void expect_ours(const Sent& s, std::uint16_t local_port) {
  EXPECT_EQ(s.port_id, kPortId);
  EXPECT_EQ(s.next_hop, ip(kGateway));
  ASSERT_TRUE(s.d.is_tcp);
  EXPECT_TRUE(s.d.ip_checksum_ok);
  EXPECT_TRUE(s.d.tcp_checksum_ok);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(s.d.src_mac.b[i], 0);
    EXPECT_EQ(s.d.dst_mac.b[i], 0);
  }
  EXPECT_EQ(s.d.src, ip(kLocal));
  EXPECT_EQ(s.d.dst, ip(kServer));
  EXPECT_EQ(s.d.sport, local_port);
  EXPECT_EQ(s.d.dport, kImap);
  EXPECT_EQ(s.d.ttl, 64);
  EXPECT_EQ(s.d.window, ProbeTable::kWindow);
}

// One segment of ours, field by field.
void expect_seg(const Sent& s, std::uint16_t local_port, std::uint8_t flags, std::uint32_t seq,
                std::uint32_t ack, std::string_view payload = {}) {
  expect_ours(s, local_port);
  EXPECT_EQ(s.d.flags, flags);
  EXPECT_EQ(s.d.seq, seq);
  EXPECT_EQ(s.d.ack, (flags & kAck) != 0 ? ack : 0U);
  EXPECT_EQ(payload_of(s.d), payload);
}

// A probe past its handshake: our first byte is `our`, the server's kSrv.
struct Conn {
  std::uint16_t port = 0;
  std::uint32_t iss = 0;
  std::uint32_t our = 0;
};

TcpPacket from_server(const Conn& c) {
  return TcpPacket().from(kServer, kImap).to(kLocal, c.port);
}

Conn connect(Probes& p, std::uint16_t slot, std::uint64_t now, std::uint16_t mss = 1460,
             std::uint16_t window = 65160) {
  Conn c;
  p.open(slot, now);
  std::vector<Sent> syn = p.take_out();
  EXPECT_EQ(syn.size(), 1U);
  if (syn.empty()) {
    return c;
  }
  c.port = syn[0].d.sport;
  c.iss = syn[0].d.seq;
  c.our = c.iss + 1;
  EXPECT_TRUE(p.segment(
      from_server(c).seq(kServerIsn).ack(c.our).flags(kSyn | kAck).mss(mss).window(window),
      now + 1));
  std::vector<Sent> ack = p.take_out();
  EXPECT_EQ(ack.size(), 1U);
  if (!ack.empty()) {
    expect_seg(ack[0], c.port, kAck, c.our, kSrv);
  }
  EXPECT_EQ(describe(p.take_events()), "connected");
  return c;
}

// ---- Opening ----

TEST(ProbeOpen, SendsAnMssOnlySynFromTheWorkersShareWithItsKeyedIsn) {
  Probes p(1, 3);
  p.open(7, kT0);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  const Decoded& syn = out[0].d;
  const std::uint16_t port = syn.sport;
  expect_seg(out[0], port, kSyn, p.isn(port, kT0).value(), 0);
  EXPECT_GE(port, kProbeFirstPort);
  EXPECT_EQ(port % 3, 1);
  EXPECT_EQ(p.table().local_port(7), port);
  // MSS 1460 and nothing else: no window scale, SACK or timestamps.
  EXPECT_EQ(syn.options, (Bytes{2, 4, 0x05, 0xb4}));
  EXPECT_FALSE(syn.has_ts);
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_TRUE(p.table().busy(7));
  EXPECT_EQ(p.table().stats().opens, 1U);
}

TEST(ProbeOpen, TheIsnGrowsWithTheClockSoAServerInTimeWaitTakesTheNextSyn) {
  // One port, so the second check reuses the 4-tuple of the first.
  Probes p(0, 4096);
  ASSERT_EQ(p.table().ports(), 1U);
  const Conn c = connect(p, 0, kT0);
  p.send(0, kLogout, true, kT0 + 10);
  p.take_out();
  EXPECT_TRUE(p.segment(from_server(c)
                            .seq(kSrv)
                            .ack(c.our + static_cast<std::uint32_t>(kLogout.size()) + 1)
                            .flags(kAck | kFin),
                        kT0 + 20));
  p.take_out();
  EXPECT_EQ(describe(p.take_events()), "peer-closed freed");
  p.open(0, kT0 + 500);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.sport, c.port);
  // The server closed first and holds TIME_WAIT with RCV.NXT just past our FIN.
  EXPECT_TRUE(
      after(Seq(out[0].d.seq), Seq(c.our + static_cast<std::uint32_t>(kLogout.size()) + 1)));
}

TEST(ProbeOpen, BytesQueuedBeforeTheHandshakeFollowItsAck) {
  Probes p;
  p.open(0, kT0);
  std::vector<Sent> syn = p.take_out();
  ASSERT_EQ(syn.size(), 1U);
  const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
  // A PROXY v2 LOCAL header is what a check usually queues first; any bytes do here.
  p.send(0, "PROXYHDR", false, kT0 + 1);
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_TRUE(
      p.segment(from_server(c).seq(kServerIsn).ack(c.our).flags(kSyn | kAck).mss(1460), kT0 + 2));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 2U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv);
  expect_seg(out[1], c.port, kPsh | kAck, c.our, kSrv, "PROXYHDR");
  EXPECT_EQ(describe(p.take_events()), "connected");
}

TEST(ProbeOpen, AnAckOfSomethingElseInSynSentIsAnsweredWithAResetAtItsAck) {
  // A connection the server still holds on this 4-tuple answers our SYN with its own ACK
  // (RFC 9293 section 3.10.7.3): <SEQ=SEG.ACK><CTL=RST> clears it; our SYN goes again.
  Probes p;
  p.open(0, kT0);
  std::vector<Sent> syn = p.take_out();
  ASSERT_EQ(syn.size(), 1U);
  const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
  EXPECT_TRUE(p.segment(from_server(c).seq(5000).ack(c.iss - 1000).flags(kAck), kT0 + 1));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kRst, c.iss - 1000, 0);
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_TRUE(p.table().busy(0));
  p.tick(kT0 + ProbeTable::kSynRtoMs);
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kSyn, c.iss, 0);
}

TEST(ProbeOpen, ALostSynAckMeansTheSynAgainAfterOneSecondThenTwoThenFour) {
  Probes p;
  p.open(0, kT0);
  std::vector<Sent> syn = p.take_out();
  ASSERT_EQ(syn.size(), 1U);
  const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
  EXPECT_EQ(p.table().next_due(), kT0 + 1000);
  for (const std::uint64_t at : {kT0 + 1000, kT0 + 3000, kT0 + 7000}) {
    SCOPED_TRACE(at - kT0);
    p.tick(at - 1);
    EXPECT_TRUE(p.take_out().empty());
    p.tick(at);
    std::vector<Sent> out = p.take_out();
    ASSERT_EQ(out.size(), 1U);
    expect_seg(out[0], c.port, kSyn, c.iss, 0);
    EXPECT_EQ(out[0].d.options, (Bytes{2, 4, 0x05, 0xb4}));
  }
  EXPECT_EQ(p.table().stats().retransmits, 3U);
  EXPECT_TRUE(p.segment(from_server(c).seq(kServerIsn).ack(c.our).flags(kSyn | kAck), kT0 + 7100));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv);
  EXPECT_EQ(describe(p.take_events()), "connected");
  // Connected: no SYN timer any more.
  p.tick(kT0 + 15000);
  EXPECT_TRUE(p.take_out().empty());
}

TEST(ProbeOpen, ResetsInSynSent) {
  struct Row {
    const char* what;
    std::uint8_t flags;
    std::int64_t ack_from_iss;  // the RST's ack relative to our ISN
    const char* events;
  };
  const std::vector<Row> rows = {
      {"RST|ACK of our SYN: the port is closed", kRst | kAck, 1, "reset freed"},
      {"a RST without ACK could be anyone's", kRst, 0, ""},
      {"a RST|ACK of something else", kRst | kAck, 5, ""},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Probes p;
    p.open(0, kT0);
    std::vector<Sent> syn = p.take_out();
    ASSERT_EQ(syn.size(), 1U);
    const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
    EXPECT_TRUE(p.segment(from_server(c)
                              .seq(0)
                              .ack(static_cast<std::uint32_t>(c.iss + r.ack_from_iss))
                              .flags(r.flags),
                          kT0 + 1));
    EXPECT_TRUE(p.take_out().empty()) << "never a segment in answer to a RST";
    EXPECT_EQ(describe(p.take_events()), r.events);
    const bool freed = std::string_view(r.events).find("freed") != std::string_view::npos;
    EXPECT_EQ(p.table().busy(0), !freed);
    EXPECT_EQ(p.table().free_ports(), p.table().ports() - (freed ? 0 : 1));
  }
}

// ---- An IMAP check from end to end ----

TEST(ProbeExchange, GreetingLogoutWithFinThenTheServersByeAndFinFreeTheSlotAtOnce) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kPsh | kAck).payload(kGreeting),
                        kT0 + 5));
  const auto greeting_end = kSrv + static_cast<std::uint32_t>(kGreeting.size());
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, greeting_end);
  EXPECT_EQ(describe(p.take_events()), "data[" + std::string(kGreeting) + "]");

  // The request and our FIN: one segment, FIN on the bytes.
  p.send(0, kLogout, true, kT0 + 6);
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kFin | kPsh | kAck, c.our, greeting_end, kLogout);
  const auto our_fin_end = c.our + static_cast<std::uint32_t>(kLogout.size()) + 1;

  // The server acknowledges it all, answers and closes.
  EXPECT_TRUE(p.segment(
      from_server(c).seq(greeting_end).ack(our_fin_end).flags(kFin | kPsh | kAck).payload(kBye),
      kT0 + 8));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, our_fin_end,
             greeting_end + static_cast<std::uint32_t>(kBye.size()) + 1);
  EXPECT_EQ(describe(p.take_events()), "data[" + std::string(kBye) + "] peer-closed freed");
  EXPECT_FALSE(p.table().busy(0));
  EXPECT_EQ(p.table().free_ports(), p.table().ports());
  // No timer of it is left: the next tick finds nothing to do, and nothing later.
  p.tick(p.table().next_due());
  EXPECT_EQ(p.table().next_due(), kNever);
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_TRUE(p.take_events().empty());
  // A straggler to the freed port is no probe's: the worker answers it as a host would.
  EXPECT_FALSE(
      p.segment(from_server(c).seq(greeting_end).ack(our_fin_end).flags(kAck | kFin), kT0 + 9));
}

TEST(ProbeExchange, TheServerClosesFirstThenOurFinEndsIt) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kFin | kPsh | kAck).payload(kBye),
                        kT0 + 5));
  const auto fin_end = kSrv + static_cast<std::uint32_t>(kBye.size()) + 1;
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, fin_end);
  EXPECT_EQ(describe(p.take_events()), "data[" + std::string(kBye) + "] peer-closed");
  EXPECT_TRUE(p.table().busy(0));

  // The server's FIN again (our ACK lost): acknowledged again, not reported twice.
  EXPECT_TRUE(p.segment(from_server(c).seq(fin_end - 1).ack(c.our).flags(kFin | kAck), kT0 + 6));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, fin_end);
  EXPECT_TRUE(p.take_events().empty());

  p.op(ProbeOp::kClose, 0, kT0 + 7);
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kFin | kAck, c.our, fin_end);
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_TRUE(p.segment(from_server(c).seq(fin_end).ack(c.our + 1).flags(kAck), kT0 + 8));
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_EQ(describe(p.take_events()), "freed");
}

TEST(ProbeExchange, AGreetingInThreeSegmentsInAnyOrder) {
  // Each arrival is answered by one ACK of all the bytes in order so far: a duplicate ACK
  // while a gap is open, the whole run once it fills.
  const std::string greeting(kGreeting);
  const std::uint32_t cut[] = {0, 17, 49, static_cast<std::uint32_t>(greeting.size())};
  const std::vector<std::vector<int>> orders = {
      {0, 1, 2}, {0, 2, 1}, {1, 2, 0}, {2, 1, 0}, {1, 0, 2}, {2, 0, 1},
  };
  for (const std::vector<int>& order : orders) {
    SCOPED_TRACE(::testing::Message() << order[0] << order[1] << order[2]);
    Probes p;
    const Conn c = connect(p, 0, kT0);
    std::set<int> have;
    std::uint32_t in_order = 0;
    std::string delivered;
    for (const int part : order) {
      const std::uint32_t from = cut[part];
      const std::uint32_t to = cut[part + 1];
      EXPECT_TRUE(p.segment(from_server(c)
                                .seq(kSrv + from)
                                .ack(c.our)
                                .flags(kPsh | kAck)
                                .payload(greeting.substr(from, to - from)),
                            kT0 + 10));
      have.insert(part);
      while (in_order < 3 && have.count(static_cast<int>(in_order)) != 0) {
        ++in_order;
      }
      std::vector<Sent> out = p.take_out();
      ASSERT_EQ(out.size(), 1U);
      expect_seg(out[0], c.port, kAck, c.our, kSrv + cut[in_order]);
      delivered += data_of(p.take_events());
      EXPECT_EQ(delivered, greeting.substr(0, cut[in_order]));
    }
    EXPECT_EQ(delivered, greeting);
  }
}

TEST(ProbeExchange, AFinAheadOfAGapIsTakenWhenTheGapFills) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const std::string bye(kBye);
  EXPECT_TRUE(p.segment(
      from_server(c).seq(kSrv + 10).ack(c.our).flags(kFin | kPsh | kAck).payload(bye.substr(10)),
      kT0 + 5));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv);
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kAck).payload(bye.substr(0, 10)),
                        kT0 + 6));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + static_cast<std::uint32_t>(bye.size()) + 1);
  EXPECT_EQ(describe(p.take_events()), "data[" + bye + "] peer-closed");
}

TEST(ProbeExchange, RetransmittedBytesAreAcknowledgedAndNeverDeliveredTwice) {
  struct Row {
    const char* what;
    std::uint32_t seq_off;
    std::string payload;
    std::uint32_t ack_off;
    std::string delivered;
  };
  const std::vector<Row> rows = {
      {"the same segment again", 0, "abcdef", 6, ""},
      {"its tail again with new bytes after it", 3, "defghi", 9, "ghi"},
      {"an older piece of it", 0, "abc", 6, ""},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Probes p;
    const Conn c = connect(p, 0, kT0);
    EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kPsh | kAck).payload("abcdef"),
                          kT0 + 5));
    p.take_out();
    EXPECT_EQ(describe(p.take_events()), "data[abcdef]");
    EXPECT_TRUE(p.segment(
        from_server(c).seq(kSrv + r.seq_off).ack(c.our).flags(kPsh | kAck).payload(r.payload),
        kT0 + 6));
    std::vector<Sent> out = p.take_out();
    ASSERT_EQ(out.size(), 1U);
    expect_seg(out[0], c.port, kAck, c.our, kSrv + r.ack_off);
    EXPECT_EQ(data_of(p.take_events()), r.delivered);
  }
}

TEST(ProbeExchange, LongAnswersGoToTheEngineInChunksOfAtMostOneMessage) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  std::string big(1000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kAck).payload(big), kT0 + 5));
  std::vector<ProbeEvent> ev = p.take_events();
  ASSERT_EQ(ev.size(), 3U);
  EXPECT_EQ(ev[0].len, kProbeChunk);
  EXPECT_EQ(ev[1].len, kProbeChunk);
  EXPECT_EQ(ev[2].len, 1000 - 2 * kProbeChunk);
  EXPECT_EQ(data_of(ev), big);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + 1000);
}

// ---- The engine's ring is full ----

TEST(ProbeRingFull, BytesThatFindNoRoomAreNotAcknowledgedAndTheRetransmissionIsTaken) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const TcpPacket greeting =
      from_server(c).seq(kSrv).ack(c.our).flags(kPsh | kAck).payload(kGreeting);
  p.room = 0;
  EXPECT_TRUE(p.segment(greeting, kT0 + 5));
  EXPECT_TRUE(p.take_out().empty()) << "no ACK for bytes the engine did not get";
  EXPECT_TRUE(p.take_events().empty());
  p.room = Probes::kUnlimited;
  EXPECT_TRUE(p.segment(greeting, kT0 + 300));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + static_cast<std::uint32_t>(kGreeting.size()));
  EXPECT_EQ(describe(p.take_events()), "data[" + std::string(kGreeting) + "]");
}

TEST(ProbeRingFull, WhatWentIsAcknowledgedAndTheRestComesAgain) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const std::string big(1000, 'q');
  const TcpPacket seg = from_server(c).seq(kSrv).ack(c.our).flags(kPsh | kAck).payload(big);
  p.room = 1;
  EXPECT_TRUE(p.segment(seg, kT0 + 5));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + kProbeChunk);
  EXPECT_EQ(data_of(p.take_events()), big.substr(0, kProbeChunk));
  p.room = Probes::kUnlimited;
  EXPECT_TRUE(p.segment(seg, kT0 + 300));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + 1000);
  EXPECT_EQ(data_of(p.take_events()), big.substr(kProbeChunk));
}

TEST(ProbeRingFull, NoConnectedMeansNoAckAndTheSynAckIsTakenWhenItComesAgain) {
  Probes p;
  p.open(0, kT0);
  std::vector<Sent> syn = p.take_out();
  ASSERT_EQ(syn.size(), 1U);
  const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
  const TcpPacket syn_ack = from_server(c).seq(kServerIsn).ack(c.our).flags(kSyn | kAck);
  p.room = 0;
  EXPECT_TRUE(p.segment(syn_ack, kT0 + 1));
  EXPECT_TRUE(p.take_out().empty());
  p.room = Probes::kUnlimited;
  EXPECT_TRUE(p.segment(syn_ack, kT0 + 1001));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv);
  EXPECT_EQ(describe(p.take_events()), "connected");
}

TEST(ProbeRingFull, AFinThatFindsNoRoomIsTakenWhenItComesAgain) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const TcpPacket fin = from_server(c).seq(kSrv).ack(c.our).flags(kFin | kAck);
  p.room = 0;
  EXPECT_TRUE(p.segment(fin, kT0 + 5));
  EXPECT_TRUE(p.take_out().empty());
  p.room = Probes::kUnlimited;
  EXPECT_TRUE(p.segment(fin, kT0 + 300));
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv + 1);
  EXPECT_EQ(describe(p.take_events()), "peer-closed");
}

TEST(ProbeRingFull, TheLastEventsWaitForRoomAndTheSlotStaysTakenUntilThen) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  p.room = 1;  // room for the reset, not for kFreed
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kRst | kAck), kT0 + 5));
  EXPECT_EQ(describe(p.take_events()), "reset");
  EXPECT_TRUE(p.table().busy(0));
  EXPECT_EQ(p.table().free_ports(), p.table().ports() - 1);
  // Segments to the port are still the probe's (absorbed), commands are ignored.
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our).flags(kAck), kT0 + 6));
  p.send(0, kLogout, true, kT0 + 6);
  EXPECT_TRUE(p.take_out().empty());
  p.tick(kT0 + 7);
  EXPECT_TRUE(p.take_events().empty());
  p.room = Probes::kUnlimited;
  p.tick(kT0 + 8);
  EXPECT_EQ(describe(p.take_events()), "freed");
  EXPECT_FALSE(p.table().busy(0));
  EXPECT_EQ(p.table().free_ports(), p.table().ports());
  p.tick(kT0 + 100000);
  EXPECT_TRUE(p.take_events().empty()) << "exactly one kFreed";
}

// ---- Resets once connected (RFC 5961 section 3.2) ----

TEST(ProbeReset, OnlyAResetAtRcvNxtEndsAConnection) {
  struct Row {
    const char* what;
    std::int64_t seq_off;  // from RCV.NXT
    bool challenge_ack;
    const char* events;
  };
  const std::vector<Row> rows = {
      {"exactly at RCV.NXT", 0, false, "reset freed"},
      {"in the window: a challenge ACK", 100, true, ""},
      {"at the window's last byte", ProbeTable::kWindow - 1, true, ""},
      {"beyond the window", ProbeTable::kWindow + 5000, false, ""},
      {"before RCV.NXT", -1, false, ""},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Probes p;
    const Conn c = connect(p, 0, kT0);
    EXPECT_TRUE(p.segment(
        from_server(c).seq(static_cast<std::uint32_t>(kSrv + r.seq_off)).flags(kRst), kT0 + 5));
    std::vector<Sent> out = p.take_out();
    if (r.challenge_ack) {
      ASSERT_EQ(out.size(), 1U);
      expect_seg(out[0], c.port, kAck, c.our, kSrv);
    } else {
      EXPECT_TRUE(out.empty());
    }
    EXPECT_EQ(describe(p.take_events()), r.events);
  }
}

// ---- Bounds on a probe's life; never a RST after bytes ----

TEST(ProbeLife, AServerThatNeverClosesIsLeftAfterTheLingerWithoutAReset) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const std::uint64_t fin_at = kT0 + 10;
  p.send(0, kLogout, true, fin_at);
  p.take_out();
  // Everything acknowledged, and the server says no more.
  const auto end = c.our + static_cast<std::uint32_t>(kLogout.size()) + 1;
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(end).flags(kAck), kT0 + 12));
  EXPECT_TRUE(p.take_out().empty());
  p.tick(fin_at + ProbeTable::kLingerMs - 1);
  EXPECT_TRUE(p.take_events().empty());
  p.tick(fin_at + ProbeTable::kLingerMs);
  EXPECT_TRUE(p.take_out().empty()) << "no RST: smtpd dies of one after a PROXY header";
  EXPECT_EQ(describe(p.take_events()), "freed");
  EXPECT_EQ(p.table().stats().expired, 1U);
  EXPECT_EQ(p.table().stats().rsts_sent, 0U);
}

TEST(ProbeLife, UnacknowledgedBytesGoAgainAt200MsDoublingUntilTheLinger) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const std::uint64_t t = kT0 + 10;
  p.send(0, kLogout, true, t);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  std::vector<std::uint64_t> resent;
  for (std::uint64_t now = t; now <= t + ProbeTable::kLingerMs; now += 10) {
    p.tick(now);
    for (const Sent& s : p.take_out()) {
      EXPECT_EQ(s.d.flags & kRst, 0);
      expect_seg(s, c.port, kFin | kPsh | kAck, c.our, kSrv, kLogout);
      resent.push_back(now - t);
    }
  }
  EXPECT_EQ(resent, (std::vector<std::uint64_t>{200, 600, 1400, 3000, 6200}));
  EXPECT_EQ(describe(p.take_events()), "freed");
}

TEST(ProbeLife, AProbeTheEngineNeverClosesIsFreedAtTheLifeBoundWithoutASegment) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  p.send(0, "PROXYHDR", false, kT0 + 2);
  p.take_out();
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our + 8).flags(kAck), kT0 + 3));
  p.tick(kT0 + ProbeTable::kLifeMs - 1);
  EXPECT_TRUE(p.take_events().empty());
  p.tick(kT0 + ProbeTable::kLifeMs);
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_EQ(describe(p.take_events()), "freed");
}

TEST(ProbeLife, ASynNobodyAnswersGoesFiveTimesThenTheSlotIsFreed) {
  Probes p;
  p.open(0, kT0);
  p.take_out();
  std::vector<std::uint64_t> sent;
  for (std::uint64_t now = kT0; now <= kT0 + ProbeTable::kLifeMs; now += 100) {
    p.tick(now);
    for (const Sent& s : p.take_out()) {
      EXPECT_EQ(s.d.flags, kSyn);
      sent.push_back(now - kT0);
    }
  }
  EXPECT_EQ(sent, (std::vector<std::uint64_t>{1000, 3000, 7000, 15000, 31000}));
  EXPECT_EQ(describe(p.take_events()), "freed");
}

TEST(ProbeLife, TickLooksAtNothingBeforeTheEarliestDeadline) {
  Probes p;
  EXPECT_EQ(p.table().next_due(), kNever);
  connect(p, 0, kT0);
  // The SYN's timer stopped with the SYN-ACK; the table's earliest deadline is only ever
  // early, and a tick at it finds the next one.
  EXPECT_EQ(p.table().next_due(), kT0 + ProbeTable::kSynRtoMs);
  p.tick(kT0 + ProbeTable::kSynRtoMs);
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_EQ(p.table().next_due(), kT0 + ProbeTable::kLifeMs);
  p.send(0, kLogout, false, kT0 + 2000);
  p.take_out();
  EXPECT_EQ(p.table().next_due(), kT0 + 2000 + ProbeTable::kRtoMs);
}

// ---- Aborts ----

TEST(ProbeAbort, ResetOnlyWhenConnectedAndNothingOfOursWent) {
  struct Row {
    const char* what;
    bool connect;
    std::string sent;      // bytes sent (and acknowledged) before the abort
    std::uint8_t segment;  // what the abort sends, 0: nothing
  };
  const std::vector<Row> rows = {
      {"before the handshake: nothing", false, "", 0},
      {"connected, no byte sent: RST", true, "", kRst | kAck},
      {"after a header: FIN, never RST", true, "PROXYHDR", kFin | kAck},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Probes p;
    Conn c;
    if (r.connect) {
      c = connect(p, 0, kT0);
    } else {
      p.open(0, kT0);
      std::vector<Sent> syn = p.take_out();
      ASSERT_EQ(syn.size(), 1U);
      c = Conn{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
    }
    const auto next = c.our + static_cast<std::uint32_t>(r.sent.size());
    if (!r.sent.empty()) {
      p.send(0, r.sent, false, kT0 + 2);
      p.take_out();
      EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(next).flags(kAck), kT0 + 3));
    }
    p.op(ProbeOp::kAbort, 0, kT0 + 4);
    std::vector<Sent> out = p.take_out();
    if (r.segment == 0) {
      EXPECT_TRUE(out.empty());
    } else {
      ASSERT_EQ(out.size(), 1U);
      expect_seg(out[0], c.port, r.segment, next, kSrv);
    }
    EXPECT_EQ(describe(p.take_events()), "freed");
    EXPECT_FALSE(p.table().busy(0));
    // The server's late answer is no probe's any more.
    EXPECT_FALSE(p.segment(from_server(c).seq(kServerIsn).ack(c.our).flags(kSyn | kAck), kT0 + 5));
    // A second abort crossed the kFreed: nothing happens.
    p.op(ProbeOp::kAbort, 0, kT0 + 6);
    EXPECT_TRUE(p.take_events().empty());
    EXPECT_EQ(p.table().stats().refused, 0U);
  }
}

// ---- Sending: buffer, segments, window ----

TEST(ProbeSend, BytesGoInSegmentsOfTheServersMssWithinItsWindow) {
  Probes p;
  const Conn c = connect(p, 0, kT0, 536, 1000);
  std::string request;
  for (int i = 0; i < 4; ++i) {
    const std::string part(kProbeChunk, static_cast<char>('a' + i));
    request += part;
    p.send(0, part, false, kT0 + 2);
  }
  // 1792 bytes queued; the window takes 1000 of them: 536 + 464.
  std::vector<Sent> out = p.take_out();
  std::string sent;
  for (const Sent& s : out) {
    EXPECT_LE(s.d.payload.size(), 536U);
    sent += payload_of(s.d);
  }
  EXPECT_EQ(sent, request.substr(0, 1000));
  // The server takes 1000 and opens its window: the rest goes.
  EXPECT_TRUE(
      p.segment(from_server(c).seq(kSrv).ack(c.our + 1000).window(4000).flags(kAck), kT0 + 3));
  out = p.take_out();
  sent.clear();
  for (const Sent& s : out) {
    EXPECT_LE(s.d.payload.size(), 536U);
    sent += payload_of(s.d);
  }
  EXPECT_EQ(sent, request.substr(1000));
  EXPECT_EQ(out.back().d.flags, kPsh | kAck);
}

TEST(ProbeSend, AClosedWindowIsProbedOneByteAtATime) {
  Probes p;
  const Conn c = connect(p, 0, kT0, 1460, 0);
  p.send(0, kLogout, true, kT0 + 2);
  EXPECT_TRUE(p.take_out().empty());
  p.tick(kT0 + 2 + ProbeTable::kRtoMs);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv, kLogout.substr(0, 1));
  // The window opens: the rest and the FIN.
  EXPECT_TRUE(
      p.segment(from_server(c).seq(kSrv).ack(c.our + 1).window(8000).flags(kAck), kT0 + 300));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kFin | kPsh | kAck, c.our + 1, kSrv, kLogout.substr(1));
}

TEST(ProbeSend, ATimeoutSendsOneSegmentFromTheFirstUnacknowledgedByte) {
  Probes p;
  const Conn c = connect(p, 0, kT0, 536);
  const std::string a(kProbeChunk, 'a');
  const std::string b(kProbeChunk, 'b');
  p.send(0, a, false, kT0 + 2);
  p.send(0, b, false, kT0 + 2);
  EXPECT_EQ(p.take_out().size(), 2U);  // 448, then 448
  p.tick(kT0 + 2 + ProbeTable::kRtoMs);
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kAck, c.our, kSrv, (a + b).substr(0, 536));
  EXPECT_EQ(p.table().stats().retransmits, 1U);
  // Its ACK clocks out the rest; the timer starts over at 200 ms.
  EXPECT_TRUE(p.segment(from_server(c).seq(kSrv).ack(c.our + 536).flags(kAck), kT0 + 300));
  out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kPsh | kAck, c.our + 536, kSrv, (a + b).substr(536));
  EXPECT_EQ(p.table().next_due(), kT0 + 300 + ProbeTable::kRtoMs);
}

TEST(ProbeSend, MoreThanTheBufferEndsTheCheckWithAFinAfterWhatWent) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const std::string part(kProbeChunk, 'x');
  for (int i = 0; i < 4; ++i) {
    p.send(0, part, false, kT0 + 2);
  }
  EXPECT_EQ(p.take_out().size(), 4U);  // sent, not acknowledged: 1792 bytes held
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_EQ(p.table().stats().refused, 0U);
  p.send(0, part, false, kT0 + 3);  // 5 * 448 > 2048
  std::vector<Sent> out = p.take_out();
  ASSERT_EQ(out.size(), 1U);
  expect_seg(out[0], c.port, kFin | kAck, c.our + 4 * kProbeChunk, kSrv);
  EXPECT_EQ(describe(p.take_events()), "freed");
  EXPECT_EQ(p.table().stats().refused, 1U);
}

TEST(ProbeSend, CommandsOutsideTheContractAreRefused) {
  Probes p;
  connect(p, 0, kT0);
  p.open(0, kT0 + 1);  // busy slot
  p.open(kProbeSlots, kT0 + 1);
  p.send(0, kLogout, true, kT0 + 2);
  p.take_out();
  p.send(0, "more", false, kT0 + 3);  // after our FIN
  EXPECT_EQ(p.table().stats().refused, 3U);
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_TRUE(p.take_events().empty());
  // kShutdownServer is the worker's.
  p.op(ProbeOp::kShutdownServer, 0, kT0 + 4);
  EXPECT_EQ(p.table().stats().refused, 3U);
}

// ---- Ports and slots ----

TEST(ProbePorts, PortsComeBackLongestUnusedFirst) {
  Probes p;
  EXPECT_EQ(p.table().ports(), 65536U - kProbeFirstPort);
  p.open(0, kT0);
  EXPECT_EQ(p.table().local_port(0), kProbeFirstPort);
  p.op(ProbeOp::kAbort, 0, kT0 + 1);
  p.open(0, kT0 + 2);
  EXPECT_EQ(p.table().local_port(0), kProbeFirstPort + 1);
  EXPECT_EQ(describe(p.take_events()), "freed");
}

TEST(ProbePorts, WhenTheSharesRunOutAnOpenIsUnreachableAndAFreedSlotIsReused) {
  // 16 workers: 256 ports each, fewer than the 512 slots.
  Probes p(3, 16);
  const std::uint32_t n = p.table().ports();
  ASSERT_EQ(n, 256U);
  std::set<std::uint16_t> ports;
  for (std::uint16_t slot = 0; slot < n; ++slot) {
    p.open(slot, kT0);
    const std::uint16_t port = p.table().local_port(slot);
    EXPECT_EQ(port % 16, 3);
    ports.insert(port);
  }
  EXPECT_EQ(ports.size(), n);
  EXPECT_EQ(p.take_out().size(), n);
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_EQ(p.table().free_ports(), 0U);

  p.open(400, kT0 + 1);
  EXPECT_TRUE(p.take_out().empty());
  std::vector<ProbeEvent> ev = p.take_events();
  EXPECT_EQ(describe(ev), "unreachable freed");
  for (const ProbeEvent& e : ev) {
    EXPECT_EQ(e.slot, 400);
  }
  EXPECT_FALSE(p.table().busy(400));
  EXPECT_EQ(p.table().stats().unreachable, 1U);

  // Slot 5 ends; its port is the only free one and goes to the next open.
  const std::uint16_t port5 = p.table().local_port(5);
  p.op(ProbeOp::kAbort, 5, kT0 + 2);
  ev = p.take_events();
  ASSERT_EQ(ev.size(), 1U);
  EXPECT_EQ(ev[0].slot, 5);
  p.open(400, kT0 + 3);
  EXPECT_EQ(p.table().local_port(400), port5);
  p.open(5, kT0 + 3);  // slot 5 is free again, ports are not
  EXPECT_EQ(describe(p.take_events()), "unreachable freed");
}

TEST(ProbePorts, TwoWorkersShareThePortsAndEachTakesOnlyItsOwn) {
  Probes w0(0, 2);
  Probes w1(1, 2);
  EXPECT_EQ(w0.table().ports() + w1.table().ports(), 65536U - kProbeFirstPort);
  const Conn c0 = connect(w0, 0, kT0);
  const Conn c1 = connect(w1, 0, kT0);
  EXPECT_EQ(c0.port % 2, 0);
  EXPECT_EQ(c1.port % 2, 1);
  // A segment for worker 1's probe reaching worker 0 is not worker 0's.
  EXPECT_FALSE(w0.segment(from_server(c1).seq(kSrv).ack(c1.our).flags(kAck), kT0 + 5));
  EXPECT_TRUE(w1.segment(from_server(c1).seq(kSrv).ack(c1.our).flags(kAck), kT0 + 5));
}

TEST(ProbePorts, SegmentsOfNoProbeAreLeftToTheWorker) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  struct Row {
    const char* what;
    TcpPacket packet;
  };
  const std::vector<Row> rows = {
      {"another server", TcpPacket().from(kOther, kImap).to(kLocal, c.port).flags(kAck)},
      {"another server port", TcpPacket().from(kServer, 993).to(kLocal, c.port).flags(kAck)},
      {"another local address", TcpPacket().from(kServer, kImap).to(kOther, c.port).flags(kAck)},
      {"a flow's port", TcpPacket().from(kServer, kImap).to(kLocal, 40000).flags(kAck)},
      {"a free probe port", TcpPacket()
                                .from(kServer, kImap)
                                .to(kLocal, static_cast<std::uint16_t>(c.port + 1))
                                .flags(kAck)},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    EXPECT_FALSE(p.segment(r.packet, kT0 + 5));
  }
  EXPECT_TRUE(p.take_out().empty());
  EXPECT_TRUE(p.take_events().empty());
}

// ---- Unreachable ----

TEST(ProbeUnreachable, AnIcmpUnreachableQuotingOurSynEndsTheProbe) {
  struct Row {
    const char* what;
    std::uint8_t type;
    std::uint8_t code;
    std::int64_t seq_off;  // quoted seq from our ISN
    const char* events;
  };
  const std::vector<Row> rows = {
      {"port unreachable", 3, 3, 0, "unreachable freed"},
      {"host unreachable", 3, 1, 0, "unreachable freed"},
      {"fragmentation needed is not unreachability", 3, 4, 0, ""},
      {"time exceeded is a soft error", 11, 0, 0, ""},
      {"a quote of nothing we sent (RFC 5927)", 3, 3, 12345, ""},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Probes p;
    p.open(0, kT0);
    std::vector<Sent> syn = p.take_out();
    ASSERT_EQ(syn.size(), 1U);
    const Conn c{syn[0].d.sport, syn[0].d.seq, syn[0].d.seq + 1};
    const Bytes err = test::IcmpError()
                          .from(kGateway)
                          .to(kLocal)
                          .type(r.type, r.code)
                          .quote(TcpPacket()
                                     .from(kLocal, c.port)
                                     .to(kServer, kImap)
                                     .seq(static_cast<std::uint32_t>(c.iss + r.seq_off))
                                     .flags(kSyn))
                          .build();
    EXPECT_TRUE(p.icmp(err, kT0 + 1));
    EXPECT_EQ(describe(p.take_events()), r.events);
  }
}

TEST(ProbeUnreachable, OnceConnectedAnIcmpUnreachableIsASoftError) {
  Probes p;
  const Conn c = connect(p, 0, kT0);
  const Bytes err =
      test::IcmpError()
          .from(kGateway)
          .to(kLocal)
          .type(3, 1)
          .quote(TcpPacket().from(kLocal, c.port).to(kServer, kImap).seq(c.our).flags(kAck))
          .build();
  EXPECT_TRUE(p.icmp(err, kT0 + 1));
  EXPECT_TRUE(p.take_events().empty());
  EXPECT_TRUE(p.table().busy(0));
  // A quote about another server is not ours.
  const Bytes other =
      test::IcmpError()
          .from(kGateway)
          .to(kLocal)
          .type(3, 1)
          .quote(TcpPacket().from(kLocal, c.port).to(kOther, kImap).seq(c.iss).flags(kSyn))
          .build();
  EXPECT_FALSE(p.icmp(other, kT0 + 1));
}

TEST(ProbeUnreachable, TheWorkerReportsAFrameThatCouldNotGo) {
  Probes p;
  p.open(0, kT0);
  const std::uint16_t port = p.table().local_port(0);
  std::vector<ProbeEvent> events;
  auto emit = [&events](const ProbeEvent& e) {
    events.push_back(e);
    return true;
  };
  EXPECT_FALSE(p.table().unreachable(static_cast<std::uint16_t>(port + 1), kT0 + 1, emit));
  EXPECT_TRUE(p.table().unreachable(port, kT0 + 1, emit));
  EXPECT_EQ(describe(events), "unreachable freed");
  EXPECT_FALSE(p.table().busy(0));
  EXPECT_EQ(p.table().stats().unreachable, 1U);
}

// ---- Whatever the server sends ----

// Random commands, server segments near the numbers in use (and far from them), ticks and a
// ring that is sometimes full. Whatever happens: every frame's checksums are right, no slot
// hears of anything after its kFreed, each open ends in exactly one kFreed, and no RST of
// ours follows a byte of ours on that connection.
TEST(ProbeFuzz, EveryProbeEndsInOneFreedAndNoResetFollowsOurBytes) {
  constexpr std::uint16_t kSlots = 8;
  std::mt19937 rng(20261130);
  auto pick = [&rng](std::uint32_t n) {
    return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng);
  };
  Probes p(0, 1);
  struct Life {
    bool open = false;
    bool connected = false;
    bool peer_closed = false;
    std::uint16_t port = 0;
    std::uint32_t server_isn = 0;
  };
  std::array<Life, kSlots> life{};
  struct Wire {
    std::uint32_t our_next = 0;  // just past the last byte/flag we sent
    std::uint32_t acked = 0;     // the last ACK we sent
    bool bytes_sent = false;
  };
  std::map<std::uint16_t, Wire> wire;  // by local port
  std::uint64_t now = kT0;
  std::uint32_t opens = 0;
  std::uint32_t freed = 0;
  std::uint32_t data_events = 0;
  std::uint32_t peer_closed = 0;

  auto check = [&]() {
    for (const Sent& s : p.take_out()) {
      ASSERT_TRUE(s.d.is_tcp);
      ASSERT_TRUE(s.d.ip_checksum_ok);
      ASSERT_TRUE(s.d.tcp_checksum_ok);
      Wire& w = wire[s.d.sport];
      if ((s.d.flags & kSyn) != 0) {
        w = Wire{};
      }
      if ((s.d.flags & kRst) != 0) {
        EXPECT_FALSE(w.bytes_sent) << "a RST after our bytes on port " << s.d.sport;
      }
      if (!s.d.payload.empty()) {
        w.bytes_sent = true;
      }
      const std::uint32_t end = s.d.seq + static_cast<std::uint32_t>(s.d.payload.size()) +
                                ((s.d.flags & (kSyn | kFin)) != 0 ? 1 : 0);
      if ((s.d.flags & kSyn) != 0 ||
          ((s.d.flags & kRst) == 0 && static_cast<std::int32_t>(end - w.our_next) > 0)) {
        w.our_next = end;
      }
      if ((s.d.flags & kAck) != 0) {
        w.acked = s.d.ack;
      }
    }
    for (const ProbeEvent& e : p.take_events()) {
      ASSERT_LT(e.slot, kSlots);
      Life& l = life[e.slot];
      ASSERT_TRUE(l.open) << "an event after kFreed";
      switch (e.kind) {
        case ProbeEventKind::kConnected:
          EXPECT_FALSE(l.connected);
          l.connected = true;
          break;
        case ProbeEventKind::kData:
          ++data_events;
          EXPECT_TRUE(l.connected);
          EXPECT_FALSE(l.peer_closed);
          EXPECT_LE(e.len, kProbeChunk);
          break;
        case ProbeEventKind::kPeerClosed:
          EXPECT_TRUE(l.connected);
          EXPECT_FALSE(l.peer_closed);
          l.peer_closed = true;
          ++peer_closed;
          break;
        case ProbeEventKind::kReset:
        case ProbeEventKind::kUnreachable:
          break;
        case ProbeEventKind::kFreed:
          l.open = false;
          ++freed;
          break;
      }
    }
  };

  for (int step = 0; step < 100000; ++step) {
    now += pick(40);
    p.room = pick(10) == 0 ? static_cast<int>(pick(2)) : Probes::kUnlimited;
    const auto slot = static_cast<std::uint16_t>(pick(kSlots));
    Life& l = life[slot];
    const std::uint32_t what = pick(10);
    if (!l.open && !p.table().busy(slot)) {
      if (what < 3) {
        p.open(slot, now);
        l = Life{};
        l.open = true;
        l.port = p.table().local_port(slot);
        l.server_isn = static_cast<std::uint32_t>(rng());
        ++opens;
      }
    } else if (what == 0) {
      const std::string data(pick(300), static_cast<char>('a' + pick(26)));
      p.send(slot, data, pick(3) == 0, now);
    } else if (what == 1) {
      p.op(pick(4) == 0 ? ProbeOp::kAbort : ProbeOp::kClose, slot, now);
    } else if (l.port != 0) {
      const Wire& w = wire[l.port];
      static constexpr std::uint8_t kFlags[] = {
          kSyn | kAck, kAck,        kPsh | kAck, kFin | kAck, kFin | kPsh | kAck,
          kRst,        kRst | kAck, kSyn,        0,
      };
      const std::uint8_t flags =
          !l.connected && pick(2) == 0 ? kSyn | kAck : kFlags[pick(sizeof kFlags)];
      std::uint32_t seq = (flags & kSyn) != 0 ? l.server_isn : w.acked;
      std::uint32_t ack = w.our_next;
      if (pick(3) == 0) {
        seq += pick(3000) - 1000;
      }
      if (pick(4) == 0) {
        ack -= pick(3000);
      }
      if (pick(50) == 0) {
        seq = static_cast<std::uint32_t>(rng());
        ack = static_cast<std::uint32_t>(rng());
      }
      std::string payload;
      if ((flags & (kSyn | kRst)) == 0 && pick(2) == 0) {
        payload.assign(pick(1400), static_cast<char>('A' + pick(26)));
      }
      p.segment(TcpPacket()
                    .from(kServer, kImap)
                    .to(kLocal, l.port)
                    .seq(seq)
                    .ack(ack)
                    .flags(flags)
                    .window(static_cast<std::uint16_t>(pick(3) == 0 ? pick(600) : 65000))
                    .mss(static_cast<std::uint16_t>(pick(2) == 0 ? 1460 : pick(2000)))
                    .payload(payload),
                now);
    }
    p.tick(now);
    check();
    if (::testing::Test::HasFatalFailure()) {
      return;
    }
  }
  // Time runs out for everything still open.
  p.room = Probes::kUnlimited;
  now += ProbeTable::kLifeMs;
  p.tick(now);
  check();
  for (std::uint16_t slot = 0; slot < kSlots; ++slot) {
    EXPECT_FALSE(p.table().busy(slot));
    EXPECT_FALSE(life[slot].open);
  }
  EXPECT_EQ(freed, opens);
  EXPECT_EQ(p.table().free_ports(), p.table().ports());
  EXPECT_GT(p.table().stats().connected, 1000U);
  // The script reaches every part of the machine, not only its entrance.
  EXPECT_GT(data_events, 1000U);
  EXPECT_GT(peer_closed, 1000U);
  EXPECT_GT(p.table().stats().resets, 1000U);
  EXPECT_GT(p.table().stats().retransmits, 1000U);
}

}  // namespace
}  // namespace postern::dataplane
