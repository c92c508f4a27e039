// Malformed and odd traffic (issue 9) through a real worker: what leaves it (nothing, a RST,
// or the rewritten segment) and the drop reason an operator reads in postern_drops_total.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <string>

#include "nat/rewrite.hpp"
#include "net/checksum.hpp"
#include "net/frame.hpp"
#include "session.hpp"

namespace postern::test {
namespace {

using dataplane::DropReason;

constexpr std::size_t kIp = 14;  // the IPv4 header's offset in a frame
constexpr std::uint8_t kUrg = 0x20;
constexpr std::uint8_t kOptTfo = 34;

std::uint64_t dropped(WorkerHarness& h, DropReason r) {
  return h.worker().counters().dropped(r);
}

std::uint64_t all_drops(WorkerHarness& h) {
  std::uint64_t n = 0;
  for (auto d : h.worker().counters().drops) {
    n += d;
  }
  return n;
}

std::size_t ihl_of(const Bytes& f) {
  return static_cast<std::size_t>(f[kIp] & 0x0f) * 4;
}

void fix_ip_checksum(Bytes& f) {
  if (kIp + ihl_of(f) > f.size()) {
    return;  // a header longer than the frame: dropped before its checksum is read
  }
  f[kIp + 10] = 0;
  f[kIp + 11] = 0;
  const std::uint16_t c = dataplane::ipv4_header_checksum(f.data() + kIp, ihl_of(f));
  std::memcpy(f.data() + kIp + 10, &c, 2);
}

void fix_tcp_checksum(Bytes& f) {
  const std::size_t tcp = kIp + ihl_of(f);
  const std::size_t total = static_cast<std::size_t>(f[kIp + 2] << 8 | f[kIp + 3]);
  std::uint32_t src;
  std::uint32_t dst;
  std::memcpy(&src, f.data() + kIp + 12, 4);
  std::memcpy(&dst, f.data() + kIp + 16, 4);
  const std::uint16_t c = dataplane::tcp4_checksum(src, dst, f.data() + tcp, total - ihl_of(f));
  std::memcpy(f.data() + tcp + 16, &c, 2);
}

void set_total_length(Bytes& f, std::size_t len) {
  f[kIp + 2] = static_cast<std::uint8_t>(len >> 8);
  f[kIp + 3] = static_cast<std::uint8_t>(len & 0xff);
}

// Fast Open options (kind 34) left in an options area.
bool has_tfo(const Bytes& opts) {
  for (std::size_t i = 0; i < opts.size();) {
    if (opts[i] == 0) {
      return false;
    }
    if (opts[i] == 1) {
      ++i;
      continue;
    }
    if (opts[i] == kOptTfo) {
      return true;
    }
    if (i + 1 >= opts.size() || opts[i + 1] < 2) {
      return false;
    }
    i += opts[i + 1];
  }
  return false;
}

std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}

TcpPacket client_syn(const Session& s) {
  return s.client().seq(s.client_isn).flags(kSyn).mss(1460);
}

// Ethernet, IPv4 or TCP header cut short, one byte at a time: nothing leaves, and each cut
// is counted where an operator would look for it.
TEST(Hostile, TruncatedFramesAreDroppedUnderTheirReason) {
  WorkerHarness h;
  Session s(h);
  const Bytes good = client_syn(s).build();  // 14 + 20 + 24 bytes

  h.receive(Bytes(good.begin(), good.begin() + 10), 0);  // Ethernet cut
  EXPECT_EQ(dropped(h, DropReason::kFrameTooShort), 1U);
  h.receive(Bytes(good.begin(), good.begin() + 14 + 12), 0);  // IPv4 header cut
  EXPECT_EQ(dropped(h, DropReason::kFrameTooShort), 2U);
  // TCP header cut: the IPv4 total length says more than arrived.
  h.receive(Bytes(good.begin(), good.begin() + 14 + 20 + 12), 0);
  EXPECT_EQ(dropped(h, DropReason::kIpBadLength), 1U);
  // TCP header cut consistently: the datagram itself holds 12 bytes of TCP.
  Bytes short_tcp(good.begin(), good.begin() + 14 + 20 + 12);
  set_total_length(short_tcp, 20 + 12);
  fix_ip_checksum(short_tcp);
  h.receive(short_tcp, 0);
  EXPECT_EQ(dropped(h, DropReason::kBadTcpHeader), 1U);

  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(all_drops(h), 4U);
}

TEST(Hostile, BadIhlAndBadTotalLengthAreTwoReasons) {
  WorkerHarness h;
  Session s(h);
  const Bytes good = client_syn(s).build();
  const auto with = [&](auto edit) {
    Bytes f = good;
    edit(f);
    fix_ip_checksum(f);
    h.receive(f, 0);
  };
  with([](Bytes& f) { f[kIp] = 0x44; });  // IHL 4: 16 bytes, less than a header
  with([](Bytes& f) { f[kIp] = 0x65; });  // version 6 under the IPv4 EtherType
  EXPECT_EQ(dropped(h, DropReason::kBadIpHeader), 2U);
  with([](Bytes& f) { set_total_length(f, 19); });                     // shorter than the header
  with([&](Bytes& f) { set_total_length(f, good.size() - 14 + 1); });  // past the frame
  // IHL 15 (60 bytes) in a 44-byte datagram: the header runs past the total length.
  with([](Bytes& f) { f[kIp] = 0x4f; });
  EXPECT_EQ(dropped(h, DropReason::kIpBadLength), 3U);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(all_drops(h), 5U);
}

// Record route (RFC 791 section 3.1, type 7) in a SYN and in a segment of an established
// flow: dropped before anything reads the TCP header behind it.
TEST(Hostile, IpOptionsAreDropped) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const auto with_record_route = [](const TcpPacket& p) {
    Bytes f = p.build();
    const Bytes rr = {7, 7, 4, 0, 0, 0, 0, 0};  // type, length 7, pointer, one empty slot, EOL
    f.insert(f.begin() + kIp + 20, rr.begin(), rr.end());
    f[kIp] = 0x47;
    set_total_length(f, f.size() - kIp);
    fix_ip_checksum(f);
    return f;
  };
  h.receive(with_record_route(client_syn(s)), 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(dropped(h, DropReason::kIpOptions), 1U);

  s.greet();
  h.receive(with_record_route(
                s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kAck).payload("x")),
            0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(dropped(h, DropReason::kIpOptions), 2U);
  EXPECT_EQ(all_drops(h), 2U);
}

TEST(Hostile, FirstMiddleAndLastFragmentsAreDropped) {
  WorkerHarness h;
  Session s(h);
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(0x2000)).empty());        // MF, offset 0
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(0x2000 | 185)).empty());  // MF, 1480 bytes in
  EXPECT_TRUE(s.send_client(client_syn(s).fragment(370)).empty());           // last: offset only
  EXPECT_EQ(dropped(h, DropReason::kIpFragment), 3U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

TEST(Hostile, TcpDataOffsetBelowFiveOrPastTheSegmentIsDropped) {
  WorkerHarness h;
  Session s(h);
  for (std::uint8_t off : {0, 4, 15}) {  // 15: 60 bytes of header in a 24-byte segment
    Bytes f = client_syn(s).build();
    f[kIp + 20 + 12] = static_cast<std::uint8_t>(off << 4);
    fix_tcp_checksum(f);
    h.receive(f, 0);
  }
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(dropped(h, DropReason::kBadTcpHeader), 3U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
}

// A SYN whose options no host would accept is dropped, not passed to a server nor answered.
TEST(Hostile, MalformedSynOptionsAreDropped) {
  const std::vector<std::pair<const char*, Bytes>> cases = {
      {"MSS with length 0", {2, 0}},
      {"MSS with length 1", {2, 1}},
      {"MSS with length 3", {2, 3, 5}},
      {"window scale with length 4", {3, 4, 7, 0}},
      {"window scale shift 15", {3, 3, 15}},
      {"SACK-permitted with length 3", {4, 3, 0}},
      {"timestamps with length 8", {8, 8, 0, 0, 0, 1, 0, 0}},
      {"timestamps running past the header", {8, 10, 0, 0, 0, 1}},
      {"unknown kind running past the header", {30, 40, 0, 0}},
      {"a kind with no length byte", {1, 1, 1, 2}},
  };
  WorkerHarness h;
  h.resolve_servers();
  std::uint16_t port = 41000;
  for (const auto& [what, opts] : cases) {
    Session s(h, port++);
    EXPECT_TRUE(s.send_client(client_syn(s).raw_options(opts)).empty()) << what;
  }
  EXPECT_EQ(dropped(h, DropReason::kBadTcpOptions), cases.size());
  EXPECT_EQ(h.worker().flows().size(), 0U);
  // Well-formed options Postern does not know (MPTCP's kind 30) are no reason to drop.
  Session ok(h, port);
  const auto out = ok.send_client(client_syn(ok).raw_options({30, 4, 0, 0}).wscale(14));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(all_drops(h), cases.size());
}

// After the handshake malformed options are the end hosts' business: the segment goes on,
// rewritten, and the SACK and timestamp walks stop at the header's end.
TEST(Hostile, MalformedOptionsAfterTheHandshakeAreForwardedAsTheyCame) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  const Bytes bad = {5, 40, 0, 0, 0, 1, 0, 0};  // SACK option claiming 40 bytes in 8
  const auto out = s.send_server(s.server()
                                     .seq(s.server_isn + 7)
                                     .ack(s.client_isn + 1 + kHeaderLen + 8)
                                     .flags(kAck)
                                     .raw_options(bad));
  const Sent c = only_on(out, 0);
  expect_valid_tcp(c.d);
  EXPECT_EQ(c.d.ack, s.client_isn + 9);
  EXPECT_EQ(c.d.options, bad);
  const auto in = s.send_client(s.client()
                                    .seq(s.client_isn + 9)
                                    .ack(s.server_isn + 7)
                                    .flags(kAck)
                                    .raw_options({8, 10, 1, 2}));
  const Sent sv = only_on(in, 1);
  expect_valid_tcp(sv.d);
  EXPECT_EQ(sv.d.seq, s.client_isn + 9 + kHeaderLen);
  EXPECT_EQ(sv.d.options, (Bytes{8, 10, 1, 2}));
  EXPECT_EQ(all_drops(h), 0U);
}

// The timestamp rewrite (a flow with a timestamp offset) on segments whose options end in
// the middle of an option: nothing is read or written past the header (the frame is exactly
// as long as its bytes, so the sanitizer build catches a stray read), and the segment is left
// with valid checksums and its options as they came.
TEST(Hostile, TimestampRewriteStopsAtTheEndOfTheHeader) {
  const std::vector<Bytes> cases = {
      {8, 10, 0, 0, 0, 1},              // timestamps running past the header
      {1, 1, 8, 10},                    // the NOP NOP TS layout, cut after its length byte
      {1, 1, 1, 8},                     // a kind with no length byte
      {3, 3, 7, 8, 40, 0, 0, 0},        // a length past the header after a good option
      {8, 10, 0, 0, 0, 1, 0, 0, 0, 2},  // well formed: shifted
  };
  for (const Bytes& opts : cases) {
    Bytes f = TcpPacket()
                  .from("198.18.0.2", 40000)
                  .to("198.18.0.100", 143)
                  .seq(1000)
                  .ack(2000)
                  .flags(kAck)
                  .raw_options(opts)
                  .build();
    dataplane::FrameView v;
    dataplane::DropReason reason = dataplane::DropReason::kCount;
    ASSERT_EQ(dataplane::parse_frame(f.data(), static_cast<std::uint16_t>(f.size()), v, reason),
              dataplane::FrameKind::kTcp4);
    const Bytes before(f.begin() + 14 + 20 + 20, f.end());
    dataplane::Flow flow;
    flow.local_ip = ip(kSourceAddr);
    flow.server_ip = ip("198.19.0.10");
    flow.local_port = 0x1234;
    flow.server_port = 0x8f00;
    flow.ts_off = 5;
    flow.set(dataplane::kFlowTimestamps);
    dataplane::rewrite_to_server(v, flow);
    const Decoded d = decode(f);
    expect_valid_tcp(d);
    if (opts.size() == 10) {
      EXPECT_TRUE(d.has_ts);
      EXPECT_EQ(d.ts_val, 1U + 5);
    } else {
      EXPECT_EQ(Bytes(f.begin() + 14 + 20 + 20, f.end()), before);
    }
  }
}

// TCP Fast Open (RFC 7413): the SYN's data must not reach the server before our header. The
// server sees a plain SYN; the client sends its data again after the handshake, as a Fast
// Open client does when the SYN-ACK acknowledges the SYN only, and it lands after the header.
TEST(Hostile, SynDataIsStrippedAndArrivesAfterTheHeader) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Bytes tfo = {kOptTfo, 10, 1, 2, 3, 4, 5, 6, 7, 8};  // a cookie of 8 bytes
  const auto syn_out = s.send_client(
      client_syn(s).sack_permitted().timestamp(111, 0).wscale(7).raw_options(tfo).payload(
          "a LOGIN u p\r\n"));
  const Sent syn = only_on(syn_out, 1);
  expect_valid_tcp(syn.d);
  EXPECT_EQ(syn.d.flags, kSyn);
  EXPECT_TRUE(syn.d.payload.empty());
  EXPECT_FALSE(has_tfo(syn.d.options));
  EXPECT_TRUE(syn.d.has_ts);
  EXPECT_EQ(syn.d.ts_val, 111U);
  EXPECT_EQ(syn.frame.size(), 14U + 20 + 20 + syn.d.options.size());  // IPv4 length follows
  EXPECT_EQ(h.worker().counters().syn_data_stripped, 1U);
  s.server_ip = syn.d.dst;
  s.server_port = syn.d.dport;
  s.local_port = syn.d.sport;

  // A retransmission of the same SYN with data is stripped too.
  const Sent again =
      only_on(s.send_client(client_syn(s).raw_options(tfo).payload("a LOGIN u p\r\n")), 1);
  EXPECT_TRUE(again.d.payload.empty());
  EXPECT_FALSE(has_tfo(again.d.options));
  expect_valid_tcp(again.d);
  EXPECT_EQ(h.worker().counters().syn_data_stripped, 2U);

  s.synack();
  const auto hs = s.handshake_ack();
  ASSERT_EQ(hs.size(), 2U);
  EXPECT_EQ(hs[0].d.seq, s.client_isn + 1);  // our header first
  EXPECT_EQ(hs[0].d.payload.size(), kHeaderLen);
  const auto data = s.send_client(s.client()
                                      .seq(s.client_isn + 1)
                                      .ack(s.server_isn + 1)
                                      .flags(kAck | kPsh)
                                      .payload("a LOGIN u p\r\n"));
  const Sent d = only_on(data, 1);
  expect_valid_tcp(d.d);
  EXPECT_EQ(d.d.seq, s.client_isn + 1 + kHeaderLen);
  EXPECT_EQ(text(d.d.payload), "a LOGIN u p\r\n");
  EXPECT_EQ(all_drops(h), 0U);
}

// A Fast Open cookie request (the option with no cookie, no data) is blanked as well, so the
// server never hands out cookies; it is not counted as stripped data.
TEST(Hostile, FastOpenCookieRequestIsBlanked) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  const Sent syn = only_on(s.send_client(client_syn(s).raw_options({kOptTfo, 2})), 1);
  expect_valid_tcp(syn.d);
  EXPECT_FALSE(has_tfo(syn.d.options));
  EXPECT_EQ(h.worker().counters().syn_data_stripped, 0U);
}

// A SYN without ACK from the server side while our SYN is outstanding: never a reply to it.
TEST(Hostile, SimultaneousOpenIsDroppedAndTheFlowGoesOn) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.syn();
  EXPECT_TRUE(s.send_server(s.server().seq(777).flags(kSyn).mss(1460)).empty());
  EXPECT_EQ(dropped(h, DropReason::kSimultaneousOpen), 1U);
  const Decoded sa = s.synack();
  expect_valid_tcp(sa);
  EXPECT_EQ(sa.flags, kSyn | kAck);
  EXPECT_EQ(sa.ack, s.client_isn + 1);
  const auto hs = s.handshake_ack();
  ASSERT_EQ(hs.size(), 2U);
  EXPECT_EQ(hs[0].d.payload.size(), kHeaderLen);
  EXPECT_EQ(all_drops(h), 1U);
}

// Zero window probes are ordinary segments: shifted and passed on both ways.
TEST(Hostile, ZeroWindowProbesAreForwardedWithTheShift) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  const std::uint32_t client_nxt = s.client_isn + 9;
  // The server closes its window; the client probes with one byte of new data.
  only_on(s.send_server(
              s.server().seq(s.server_isn + 7).ack(client_nxt + kHeaderLen).flags(kAck).window(0)),
          0);
  const Sent probe = only_on(
      s.send_client(s.client().seq(client_nxt).ack(s.server_isn + 7).flags(kAck).payload("b")), 1);
  expect_valid_tcp(probe.d);
  EXPECT_EQ(probe.d.seq, client_nxt + kHeaderLen);
  EXPECT_EQ(text(probe.d.payload), "b");
  // The server's own probe: SND.UNA - 1, no data (as Linux sends it).
  const Sent back = only_on(
      s.send_server(
          s.server().seq(s.server_isn + 6).ack(client_nxt + kHeaderLen).flags(kAck).window(0)),
      0);
  expect_valid_tcp(back.d);
  EXPECT_EQ(back.d.seq, s.server_isn + 6);
  EXPECT_EQ(back.d.ack, client_nxt);
  EXPECT_EQ(back.d.window, 0U);
  EXPECT_EQ(all_drops(h), 0U);
}

// Urgent data: the pointer is an offset from the segment's own sequence number (RFC 9293
// section 3.8.5), so it stays as it is while the sequence number moves; URG stays set.
TEST(Hostile, UrgentDataIsForwardedWithPointerAndFlagKept) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  Bytes f = s.client()
                .seq(s.client_isn + 9)
                .ack(s.server_isn + 7)
                .flags(kAck | kPsh | kUrg)
                .payload("ab\xff")
                .build();
  f[kIp + 20 + 18] = 0;
  f[kIp + 20 + 19] = 3;
  fix_tcp_checksum(f);
  h.receive(f, 0);
  const Sent out = only_on(h.take(), 1);
  expect_valid_tcp(out.d);
  EXPECT_EQ(out.d.flags, kAck | kPsh | kUrg);
  EXPECT_EQ(out.d.seq, s.client_isn + 9 + kHeaderLen);
  EXPECT_EQ(out.frame[kIp + 20 + 18], 0);
  EXPECT_EQ(out.frame[kIp + 20 + 19], 3);
  EXPECT_EQ(text(out.d.payload), "ab\xff");
  EXPECT_EQ(all_drops(h), 0U);
}

// RFC 5961 section 5: a pure ACK of data the other side never sent is dropped instead of
// passed on, so two desynchronized ends cannot bounce ACKs through Postern forever;
// duplicate ACKs are ordinary and go on.
TEST(Hostile, AcksOfDataNeverSentAreDroppedDuplicatesGoOn) {
  WorkerHarness h;
  Session s(h);
  s.greet();  // the server sent 6 bytes, the client 8 after our 28
  const std::uint32_t server_nxt = s.server_isn + 7;
  const std::uint32_t client_nxt_seen = s.client_isn + 1 + kHeaderLen + 8;

  EXPECT_TRUE(
      s.send_client(s.client().seq(s.client_isn + 9).ack(server_nxt + 1000).flags(kAck)).empty());
  EXPECT_TRUE(
      s.send_server(s.server().seq(server_nxt).ack(client_nxt_seen + 500).flags(kAck)).empty());
  EXPECT_EQ(dropped(h, DropReason::kAckOutOfWindow), 2U);

  // Duplicates, and an acknowledgement of exactly what was sent, go on.
  for (int i = 0; i < 3; ++i) {
    const Sent c =
        only_on(s.send_client(s.client().seq(s.client_isn + 9).ack(server_nxt).flags(kAck)), 1);
    EXPECT_EQ(c.d.ack, server_nxt);
    const Sent v =
        only_on(s.send_server(s.server().seq(server_nxt).ack(client_nxt_seen).flags(kAck)), 0);
    EXPECT_EQ(v.d.ack, s.client_isn + 9);
  }
  // Once the server has sent more, the client may acknowledge it.
  only_on(s.send_server(
              s.server().seq(server_nxt).ack(client_nxt_seen).flags(kAck | kPsh).payload("12345")),
          0);
  const Sent c =
      only_on(s.send_client(s.client().seq(s.client_isn + 9).ack(server_nxt + 5).flags(kAck)), 1);
  expect_valid_tcp(c.d);
  EXPECT_EQ(c.d.ack, server_nxt + 5);
  EXPECT_EQ(dropped(h, DropReason::kAckOutOfWindow), 2U);
  EXPECT_EQ(all_drops(h), 2U);
}

// After a RST the other end no longer has the connection: while the closed flow lingers its
// stragglers are absorbed, never answered; once it is released a segment gets a RST, as a
// host would answer it.
TEST(Hostile, SegmentsAfterAResetAreAbsorbedThenAnsweredOnceReleased) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  only_on(s.send_client(s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kRst | kAck)),
          1);
  const TcpPacket late =
      s.client().seq(s.client_isn + 9).ack(s.server_isn + 7).flags(kAck | kPsh).payload("c\r\n");
  EXPECT_TRUE(s.send_client(late).empty());
  EXPECT_TRUE(s.send_server(s.server()
                                .seq(s.server_isn + 7)
                                .ack(s.client_isn + 1 + kHeaderLen + 8)
                                .flags(kAck | kPsh)
                                .payload("* BYE\r\n"))
                  .empty());
  EXPECT_EQ(dropped(h, DropReason::kFlowClosed), 2U);
  EXPECT_EQ(h.worker().counters().rst_sent, 0U);

  h.advance(dataplane::splice::kClosedLingerMs + 10);
  ASSERT_EQ(h.worker().flows().size(), 0U);
  const Sent rst = only_on(s.send_client(late), 0);
  expect_valid_tcp(rst.d);
  EXPECT_EQ(rst.d.flags, kRst);
  EXPECT_EQ(rst.d.seq, s.server_isn + 7);
  EXPECT_EQ(dropped(h, DropReason::kNoFlow), 1U);
}

// After both FINs were acknowledged, the end that closed first may be in TIME-WAIT and the
// other may not have had the final ACK: a retransmitted FIN goes on so it can be answered,
// but data past a FIN never does.
TEST(Hostile, AfterFinsARetransmittedFinGoesOnDataPastItDoesNot) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  const std::uint32_t c_fin = s.client_isn + 9;  // client space
  const std::uint32_t s_fin = s.server_isn + 7;
  s.send_client(s.client().seq(c_fin).ack(s_fin).flags(kAck | kFin));
  s.send_server(s.server().seq(s_fin).ack(c_fin + kHeaderLen + 1).flags(kAck | kFin));
  s.send_client(s.client().seq(c_fin + 1).ack(s_fin + 1).flags(kAck));
  ASSERT_EQ(h.worker().counters().flows_closed, 1U);

  const Sent fin = only_on(
      s.send_server(s.server().seq(s_fin).ack(c_fin + kHeaderLen + 1).flags(kAck | kFin)), 0);
  expect_valid_tcp(fin.d);
  EXPECT_EQ(fin.d.flags, kAck | kFin);
  EXPECT_EQ(fin.d.ack, c_fin + 1);
  EXPECT_TRUE(
      s.send_client(s.client().seq(c_fin + 1).ack(s_fin + 1).flags(kAck).payload("zz")).empty());
  EXPECT_EQ(dropped(h, DropReason::kFlowClosed), 1U);
}

void syn_proxy_on(dataplane::Snapshot& s) {
  for (auto& l : s.listeners) {
    l.syn_proxy = dataplane::SynProxyMode::kOn;
  }
}

// With the SYN proxy on, a SYN with data gets a cookie that acknowledges the SYN only; the
// server's SYN carries neither the data nor Fast Open; and in the flow the ACK check works in
// the client's spaces (the cookie's sequence numbers) as in the server's.
TEST(Hostile, WithTheSynProxyOnSynDataNeverReachesTheServerAndAckStormsAreDropped) {
  WorkerHarness h(1024, syn_proxy_on);
  h.resolve_servers();
  Session s(h);
  const Sent cookie = only_on(
      s.send_client(client_syn(s).raw_options({kOptTfo, 6, 1, 2, 3, 4}).payload("a LOGIN\r\n")), 0);
  EXPECT_EQ(cookie.d.flags, kSyn | kAck);
  EXPECT_EQ(cookie.d.ack, s.client_isn + 1);  // the data is not acknowledged
  EXPECT_FALSE(has_tfo(cookie.d.options));
  const std::uint32_t c0 = cookie.d.seq;  // the client's view of the server's ISN
  const Sent syn =
      only_on(s.send_client(s.client().seq(s.client_isn + 1).ack(c0 + 1).flags(kAck)), 1);
  EXPECT_EQ(syn.d.flags, kSyn);
  EXPECT_TRUE(syn.d.payload.empty());
  EXPECT_FALSE(has_tfo(syn.d.options));
  s.server_ip = syn.d.dst;
  s.server_port = syn.d.dport;
  s.local_port = syn.d.sport;
  s.send_server(s.server().seq(s.server_isn).ack(s.client_isn + 1).flags(kSyn | kAck).mss(1400));
  const Sent banner = only_on(s.send_server(s.server()
                                                .seq(s.server_isn + 1)
                                                .ack(s.client_isn + 1 + kHeaderLen)
                                                .flags(kAck | kPsh)
                                                .payload("* OK\r\n")),
                              0);
  EXPECT_EQ(banner.d.seq, c0 + 1);

  EXPECT_TRUE(
      s.send_client(s.client().seq(s.client_isn + 1).ack(c0 + 7 + 1000).flags(kAck)).empty());
  EXPECT_TRUE(
      s.send_server(
           s.server().seq(s.server_isn + 7).ack(s.client_isn + 1 + kHeaderLen + 500).flags(kAck))
          .empty());
  EXPECT_EQ(dropped(h, DropReason::kAckOutOfWindow), 2U);
  const Sent ok =
      only_on(s.send_client(s.client().seq(s.client_isn + 1).ack(c0 + 7).flags(kAck)), 1);
  expect_valid_tcp(ok.d);
  EXPECT_EQ(ok.d.ack, s.server_isn + 7);
  const Sent dup =
      only_on(s.send_server(
                  s.server().seq(s.server_isn + 7).ack(s.client_isn + 1 + kHeaderLen).flags(kAck)),
              0);
  EXPECT_EQ(dup.d.ack, s.client_isn + 1);
  EXPECT_EQ(dropped(h, DropReason::kAckOutOfWindow), 2U);
}

// Land attacks: a segment whose source is its own destination, or any address of Postern's.
// Never answered, never a flow.
// A frame whose TCP checksum is off by one (the IPv4 header stays right).
Bytes corrupted(const TcpPacket& p) {
  Bytes f = p.build();
  const std::size_t at = kIp + ihl_of(f) + 16;
  f[at + 1] = static_cast<std::uint8_t>(f[at + 1] ^ 0x01);
  return f;
}

TEST(Hostile, ACorruptedRstOrFinIsDroppedAndTheFlowGoesOn) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  const std::uint32_t cseq = s.client_isn + 9;
  const std::uint32_t sack = s.server_isn + 7;
  h.receive(corrupted(s.client().seq(cseq).ack(sack).flags(kRst | kAck)), 0);
  h.receive(corrupted(s.client().seq(cseq).ack(sack).flags(kFin | kAck)), 0);
  h.receive(corrupted(s.server().seq(sack).ack(s.client_isn + 1 + kHeaderLen + 8).flags(kRst)), 1);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 3U);
  EXPECT_EQ(all_drops(h), 3U);
  // The connection is as it was: the client's next bytes reach the server.
  const Sent fwd = only_on(
      s.send_client(s.client().seq(cseq).ack(sack).flags(kAck | kPsh).payload("b NOOP\r\n")), 1);
  EXPECT_EQ(fwd.d.payload.size(), 8U);
  EXPECT_EQ(h.worker().counters().flows_closed, 0U);
}

TEST(Hostile, ACorruptedSynOpensNothingAndIsNotAnswered) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  h.receive(corrupted(s.client().seq(s.client_isn).flags(kSyn).mss(1460)), 0);
  // Also to a port nobody listens on, which a good SYN would get a RST for.
  h.receive(corrupted(s.client().to(kVipAddr, 9).seq(7).flags(kSyn)), 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 2U);
  EXPECT_EQ(h.worker().counters().rst_sent, 0U);
}

TEST(Hostile, ACorruptedSegmentForNoFlowIsNotAnsweredWithARst) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    for (auto& l : s.listeners) {
      l.syn_proxy = dataplane::SynProxyMode::kOn;
    }
  });
  h.resolve_servers();
  Session s(h);
  // A cookie ACK whose checksum is wrong: answered with a RST, it would end a real handshake.
  const Sent synack = only_on(s.send_client(s.client().seq(s.client_isn).flags(kSyn).mss(1460)), 0);
  h.receive(corrupted(s.client().seq(s.client_isn + 1).ack(synack.d.seq + 1).flags(kAck)), 0);
  // And a data segment for no connection, from either side.
  h.receive(corrupted(s.client().seq(5).ack(6).flags(kAck | kPsh).payload("x")), 0);
  TcpPacket srv;
  srv.eth(kServer1Mac, kPortServerMac)
      .from("198.19.0.10", 143)
      .to(kSourceAddr, 20000)
      .seq(1)
      .ack(2)
      .flags(kAck);
  h.receive(corrupted(srv), 1);
  EXPECT_TRUE(tcp_only(h.take()).empty());
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 3U);
  EXPECT_EQ(dropped(h, DropReason::kSynCookieInvalid), 0U);
  EXPECT_EQ(dropped(h, DropReason::kNoFlow), 0U);
  // The client's real ACK still opens the connection.
  EXPECT_EQ(
      only_on(s.send_client(s.client().seq(s.client_isn + 1).ack(synack.d.seq + 1).flags(kAck)), 1)
          .d.flags,
      kSyn);
}

TEST(Hostile, ACorruptedDataSegmentGoesOnWithItsChecksumStillWrong) {
  WorkerHarness h;
  Session s(h);
  s.greet();
  h.receive(corrupted(s.client()
                          .seq(s.client_isn + 9)
                          .ack(s.server_isn + 7)
                          .flags(kAck | kPsh)
                          .payload("b NOOP\r\n")),
            0);
  const Sent fwd = only_on(h.take(), 1);
  // Patched incrementally, the error travels with the segment: the server's kernel drops it,
  // as the client's would have, and the client sends it again.
  EXPECT_TRUE(fwd.d.ip_checksum_ok);
  EXPECT_FALSE(fwd.d.tcp_checksum_ok);
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 0U);
}

TEST(Hostile, ThePortsChecksumVerdictIsTakenWhenItHasOne) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  // A right checksum the port calls bad: dropped, as a NIC that checked it says.
  h.receive(s.client().seq(s.client_isn).flags(kSyn).mss(1460).build(), 0,
            RTE_MBUF_F_RX_L4_CKSUM_BAD);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 1U);
  // A port that checked it and found it good is not second-guessed.
  h.receive(corrupted(s.client().seq(s.client_isn).flags(kSyn).mss(1460)), 0,
            RTE_MBUF_F_RX_L4_CKSUM_GOOD);
  EXPECT_EQ(only_on(h.take(), 1).d.flags, kSyn);
  EXPECT_EQ(dropped(h, DropReason::kBadTcpChecksum), 1U);
}

TEST(Hostile, LandAttacksAreDroppedUnanswered) {
  WorkerHarness h;
  h.resolve_servers();
  const auto syn_from = [&](const char* src, const char* dst) {
    TcpPacket p;
    p.eth(kClientMac, kPortClientMac).from(src, 143).to(dst, 143).seq(1).flags(kSyn).mss(1460);
    h.receive(p.build(), 0);
  };
  syn_from(kVipAddr, kVipAddr);
  syn_from(kSourceAddr, kVipAddr);
  syn_from("198.18.0.1", kVipAddr);  // the client-side interface's address
  syn_from("198.18.0.2", "198.18.0.2");
  TcpPacket ack;
  ack.eth(kClientMac, kPortClientMac)
      .from(kVipAddr, 143)
      .to(kVipAddr, 143)
      .seq(1)
      .ack(1)
      .flags(kAck);
  h.receive(ack.build(), 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(dropped(h, DropReason::kLand), 5U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(h.worker().counters().rst_sent, 0U);
}

// Broadcast, multicast and reserved sources never get an answer (a RST to a broadcast
// address would go to a whole segment); nor does TCP sent to a group address.
TEST(Hostile, MartianSourcesAndGroupDestinationsAreDroppedUnanswered) {
  WorkerHarness h;
  h.resolve_servers();
  const Mac group_mac{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  const Mac broadcast_mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  const auto send = [&](const char* src, const char* dst, Mac smac, Mac dmac, std::uint8_t fl) {
    TcpPacket p;
    p.eth(smac, dmac).from(src, 40000).to(dst, 143).seq(1).ack((fl & kAck) != 0 ? 1 : 0).flags(fl);
    h.receive(p.build(), 0);
  };
  for (const char* src :
       {"255.255.255.255", "224.0.0.5", "239.1.2.3", "240.0.0.1", "0.0.0.1", "127.0.0.1"}) {
    send(src, kVipAddr, kClientMac, kPortClientMac, kSyn);
    send(src, kVipAddr, kClientMac, kPortClientMac, kAck);  // would be no_flow: a RST
  }
  send(kClientAddr, kVipAddr, group_mac, kPortClientMac, kSyn);
  EXPECT_EQ(dropped(h, DropReason::kMartianSource), 13U);
  send(kClientAddr, "224.0.0.1", kClientMac, kPortClientMac, kSyn);
  send(kClientAddr, "255.255.255.255", kClientMac, broadcast_mac, kSyn);
  send(kClientAddr, kVipAddr, kClientMac, broadcast_mac, kSyn);  // a unicast VIP, L2 broadcast
  send(kClientAddr, kVipAddr, kClientMac, group_mac, kAck);
  EXPECT_EQ(dropped(h, DropReason::kMartianDestination), 4U);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().rst_sent, 0U);
  EXPECT_EQ(h.worker().flows().size(), 0U);
  EXPECT_EQ(all_drops(h), 17U);
}

}  // namespace
}  // namespace postern::test
