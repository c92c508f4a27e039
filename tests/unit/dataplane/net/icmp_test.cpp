// ICMP: errors quoting a flow's packet are translated so the quote reads, byte for byte, as
// the other side's own packet; errors Postern originates quote within 576 bytes; echo
// replies; the rate limit on a fake clock. Checksums are judged by the builder's full sums.
#include "net/icmp.hpp"

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <algorithm>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "net/frame.hpp"
#include "support/packet_builder.hpp"

namespace postern::dataplane {
namespace {

using test::Bytes;
using test::Decoded;
using test::IcmpError;
using test::ip;
using test::kAck;
using test::kPsh;
using test::TcpPacket;

constexpr const char* kClient = "198.18.0.2";
constexpr const char* kVip = "198.18.0.100";
constexpr const char* kClientRouter = "198.18.0.254";
constexpr const char* kLocal = "198.19.0.1";
constexpr const char* kServer = "198.19.0.10";
constexpr const char* kServerRouter = "198.19.0.254";
constexpr std::uint16_t kClientPort = 40000;
constexpr std::uint16_t kVipPort = 143;
constexpr std::uint16_t kLocalPort = 50000;
constexpr std::uint16_t kServerPort = 143;
constexpr std::int32_t kHeaderLen = 28;  // the PROXY v2 header for IPv4
constexpr std::uint16_t kMtu = 1400;

constexpr std::size_t kIpHeader = 20;
constexpr std::size_t kTcpWithTimestamp = 32;  // 20 + NOP NOP + timestamp option

FrameView parse(Bytes& frame) {
  FrameView v;
  DropReason reason{};
  const FrameKind kind =
      parse_frame(frame.data(), static_cast<std::uint16_t>(frame.size()), v, reason);
  EXPECT_NE(kind, FrameKind::kDrop) << static_cast<int>(reason);
  return v;
}

std::string payload_of(std::size_t n) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + i % 26);
  }
  return s;
}

// Client bytes toward the server, shifted by the header (DESIGN.md, packet walk step 3).
TcpPacket local_to_server(std::uint32_t client_seq, std::uint32_t server_ack) {
  return TcpPacket()
      .from(kLocal, kLocalPort)
      .to(kServer, kServerPort)
      .seq(client_seq + kHeaderLen)
      .ack(server_ack)
      .flags(kAck | kPsh)
      .timestamp(1000, 2000)
      .payload(payload_of(60));
}
TcpPacket client_to_vip(std::uint32_t client_seq, std::uint32_t server_ack) {
  return TcpPacket()
      .from(kClient, kClientPort)
      .to(kVip, kVipPort)
      .seq(client_seq)
      .ack(server_ack)
      .flags(kAck | kPsh)
      .timestamp(1000, 2000)
      .payload(payload_of(60));
}
// Server bytes toward the client: sequence numbers as the server sent them, acks shifted back.
TcpPacket vip_to_client(std::uint32_t server_seq, std::uint32_t client_ack) {
  return TcpPacket()
      .from(kVip, kVipPort)
      .to(kClient, kClientPort)
      .seq(server_seq)
      .ack(client_ack)
      .flags(kAck | kPsh)
      .timestamp(3000, 4000)
      .payload(payload_of(1200));
}
TcpPacket server_to_local(std::uint32_t server_seq, std::uint32_t client_ack) {
  return TcpPacket()
      .from(kServer, kServerPort)
      .to(kLocal, kLocalPort)
      .seq(server_seq)
      .ack(client_ack + kHeaderLen)
      .flags(kAck | kPsh)
      .timestamp(3000, 4000)
      .payload(payload_of(1200));
}

// Toward the client the quote becomes client -> VIP, back in the client's sequence space.
IcmpTranslation toward_client() {
  IcmpTranslation t;
  t.outer_src = ip(kVip);
  t.outer_dst = ip(kClient);
  t.quoted_src = ip(kClient);
  t.quoted_dst = ip(kVip);
  t.quoted_sport = rte_cpu_to_be_16(kClientPort);
  t.quoted_dport = rte_cpu_to_be_16(kVipPort);
  t.seq_shift = -kHeaderLen;
  t.ack_shift = 0;
  return t;
}
// Toward the server the quote becomes server -> local, acks in the shifted space.
IcmpTranslation toward_server() {
  IcmpTranslation t;
  t.outer_src = ip(kLocal);
  t.outer_dst = ip(kServer);
  t.quoted_src = ip(kServer);
  t.quoted_dst = ip(kLocal);
  t.quoted_sport = rte_cpu_to_be_16(kServerPort);
  t.quoted_dport = rte_cpu_to_be_16(kLocalPort);
  t.seq_shift = 0;
  t.ack_shift = kHeaderLen;
  return t;
}

struct TranslateCase {
  const char* name;
  std::uint8_t type;
  std::uint8_t code;
  std::uint32_t rest;       // ICMP bytes 4-7, kept through translation
  const char* reporter;     // who sent the error
  const char* reported_to;  // Postern's address it was sent to
  TcpPacket quoted;         // the packet Postern sent, as the error quotes it
  TcpPacket original;       // the receiver's own packet: what the translated quote must read
  std::size_t quote_len;    // bytes of the datagram quoted
  IcmpTranslation t;
};

std::vector<TranslateCase> translate_cases() {
  // 0xfffffff0 + 28 wraps: the shift back to client space crosses 2^32 the other way.
  const std::uint32_t wrap = 0xfffffff0U;
  return {
      {"FragNeededFromServerSideEightTcpBytesAcrossWrap", kIcmpDestUnreachable, kIcmpCodeFragNeeded,
       kMtu, kServerRouter, kLocal, local_to_server(wrap, 5000), client_to_vip(wrap, 5000),
       kIpHeader + 8, toward_client()},
      {"FragNeededFromServerSideFullTcpHeader", kIcmpDestUnreachable, kIcmpCodeFragNeeded, kMtu,
       kServerRouter, kLocal, local_to_server(77777, 5000), client_to_vip(77777, 5000),
       kIpHeader + kTcpWithTimestamp, toward_client()},
      {"FragNeededFromServerSideWholeDatagram", kIcmpDestUnreachable, kIcmpCodeFragNeeded, kMtu,
       kServerRouter, kLocal, local_to_server(wrap + 3, 0x80000000U),
       client_to_vip(wrap + 3, 0x80000000U), IcmpError::kWholeDatagram, toward_client()},
      {"FragNeededFromClientSideWholeDatagramAckAcrossWrap", kIcmpDestUnreachable,
       kIcmpCodeFragNeeded, kMtu, kClientRouter, kVip, vip_to_client(123456, wrap),
       server_to_local(123456, wrap), IcmpError::kWholeDatagram, toward_server()},
      {"FragNeededFromClientSideAckButNoChecksum", kIcmpDestUnreachable, kIcmpCodeFragNeeded, kMtu,
       kClientRouter, kVip, vip_to_client(123456, wrap + 20), server_to_local(123456, wrap + 20),
       kIpHeader + 12, toward_server()},
      {"FragNeededFromClientSideFullTcpHeader", kIcmpDestUnreachable, kIcmpCodeFragNeeded, kMtu,
       kClientRouter, kVip, vip_to_client(0xffffffffU, 99), server_to_local(0xffffffffU, 99),
       kIpHeader + kTcpWithTimestamp, toward_server()},
      {"PortUnreachableFromTheServer", kIcmpDestUnreachable, 3, 0, kServer, kLocal,
       local_to_server(1000, 2000), client_to_vip(1000, 2000), kIpHeader + 8, toward_client()},
      {"HostUnreachableFromServerSideRouter", kIcmpDestUnreachable, 1, 0, kServerRouter, kLocal,
       local_to_server(1000, 2000), client_to_vip(1000, 2000), kIpHeader + kTcpWithTimestamp,
       toward_client()},
      {"TimeExceededNearTheClient", kIcmpTimeExceeded, kIcmpCodeTtlExceeded, 0, kClientRouter, kVip,
       vip_to_client(555, 666), server_to_local(555, 666), IcmpError::kWholeDatagram,
       toward_server()},
      {"ParameterProblemKeepsItsPointer", kIcmpParameterProblem, 0, 0x08000000U, kClientRouter,
       kVip, vip_to_client(555, 666), server_to_local(555, 666), kIpHeader + 8, toward_server()},
  };
}

void PrintTo(const TranslateCase& c, std::ostream* os) {
  *os << c.name;
}

class Translate : public testing::TestWithParam<TranslateCase> {};

TEST_P(Translate, QuoteReadsAsTheReceiversOwnPacket) {
  const TranslateCase& c = GetParam();
  Bytes frame = IcmpError()
                    .from(c.reporter)
                    .to(c.reported_to)
                    .ttl(250)
                    .type(c.type, c.code)
                    .rest(c.rest)
                    .quote(c.quoted)
                    .quote_len(c.quote_len)
                    .build();
  const std::size_t size = frame.size();
  FrameView v = parse(frame);
  IcmpQuote q;
  ASSERT_TRUE(parse_icmp_error(v, q));
  translate_icmp_error(v, q, c.t);
  ASSERT_EQ(frame.size(), size);

  const Decoded d = test::decode(frame);
  ASSERT_TRUE(d.is_icmp);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_EQ(d.src, c.t.outer_src);
  EXPECT_EQ(d.dst, c.t.outer_dst);
  EXPECT_EQ(d.ttl, 64);
  EXPECT_EQ(d.icmp_type, c.type);
  EXPECT_EQ(d.icmp_code, c.code);
  EXPECT_EQ(d.icmp_rest, c.rest);  // the next-hop MTU, the pointer

  ASSERT_TRUE(d.has_quote);
  EXPECT_TRUE(d.quoted_ip_checksum_ok);
  const Bytes original = test::ip_datagram(c.original.build());
  const std::size_t n = std::min(c.quote_len, original.size());
  ASSERT_EQ(d.quote.size(), n);
  // Byte for byte: addresses, ports, numbers, and the quoted checksums as the builder
  // computed them from scratch for the receiver's packet.
  EXPECT_EQ(d.quote, Bytes(original.begin(), original.begin() + static_cast<long>(n)));
  if (n == original.size()) {
    EXPECT_TRUE(d.whole_segment_quoted);
    EXPECT_TRUE(d.quoted_tcp_checksum_ok);
  }
}

INSTANTIATE_TEST_SUITE_P(IcmpError, Translate, testing::ValuesIn(translate_cases()),
                         [](const testing::TestParamInfo<TranslateCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(IcmpParse, FillsTheQuoteFields) {
  struct Row {
    std::size_t quote_len;
    std::uint16_t tcp_len;
    bool has_ack;
    bool has_check;
  };
  const TcpPacket sent = local_to_server(0xfffffff0U, 5000);
  const std::size_t whole = test::ip_datagram(sent.build()).size();
  for (const Row& r :
       {Row{28, 8, false, false}, Row{31, 11, false, false}, Row{32, 12, true, false},
        Row{37, 17, true, false}, Row{38, 18, true, true}, Row{52, 32, true, true},
        Row{IcmpError::kWholeDatagram, static_cast<std::uint16_t>(whole - 20), true, true}}) {
    Bytes frame =
        IcmpError().from(kServerRouter).to(kLocal).quote(sent).quote_len(r.quote_len).build();
    FrameView v = parse(frame);
    IcmpQuote q;
    ASSERT_TRUE(parse_icmp_error(v, q)) << r.quote_len;
    EXPECT_EQ(q.type, kIcmpDestUnreachable);
    EXPECT_EQ(q.code, kIcmpCodeFragNeeded);
    EXPECT_EQ(q.ip_hlen, 20);
    EXPECT_EQ(reinterpret_cast<std::uint8_t*>(q.ip), frame.data() + 14 + 20 + 8);
    EXPECT_EQ(q.tcp, frame.data() + 14 + 20 + 8 + 20);
    EXPECT_EQ(q.tcp_len, r.tcp_len) << r.quote_len;
    EXPECT_EQ(q.src, ip(kLocal));
    EXPECT_EQ(q.dst, ip(kServer));
    EXPECT_EQ(q.sport, rte_cpu_to_be_16(kLocalPort));
    EXPECT_EQ(q.dport, rte_cpu_to_be_16(kServerPort));
    EXPECT_EQ(q.seq, Seq(0xfffffff0U + kHeaderLen));
    EXPECT_EQ(q.has_ack, r.has_ack) << r.quote_len;
    EXPECT_EQ(q.has_tcp_checksum, r.has_check) << r.quote_len;
  }
}

// Routers quote the datagram after decrementing its TTL, often without fixing the checksum.
TEST(IcmpParse, AcceptsAQuoteWithAStaleIpChecksumAndTranslationFixesIt) {
  Bytes frame = IcmpError()
                    .from(kServerRouter)
                    .to(kLocal)
                    .quote(local_to_server(1, 2))
                    .quote_len(IcmpError::kWholeDatagram)
                    .build();
  frame[14 + 20 + 8 + 8] -= 1;  // quoted TTL
  // Keep the ICMP checksum right so only the quoted IP checksum is stale.
  Bytes fixed = IcmpError()
                    .from(kServerRouter)
                    .to(kLocal)
                    .quote_raw(Bytes(frame.begin() + 42, frame.end()))
                    .quote_len(IcmpError::kWholeDatagram)
                    .build();
  ASSERT_FALSE(test::decode(fixed).quoted_ip_checksum_ok);
  FrameView v = parse(fixed);
  IcmpQuote q;
  ASSERT_TRUE(parse_icmp_error(v, q));
  translate_icmp_error(v, q, toward_client());
  const Decoded d = test::decode(fixed);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_TRUE(d.quoted_ip_checksum_ok);
  EXPECT_EQ(d.quoted_ttl, 63);
  EXPECT_TRUE(d.quoted_tcp_checksum_ok);
  EXPECT_EQ(d.quoted_seq, 1U);
}

// A quoted header with IP options: the TCP bytes start after them.
TEST(IcmpParse, QuotedIpOptionsMoveTheTcpBytes) {
  Bytes datagram = test::ip_datagram(local_to_server(1000, 2000).build());
  datagram.insert(datagram.begin() + 20, {1, 1, 1, 0});  // NOP NOP NOP EOL
  datagram[0] = 0x46;
  const auto total = static_cast<std::uint16_t>(datagram.size());
  datagram[2] = static_cast<std::uint8_t>(total >> 8);
  datagram[3] = static_cast<std::uint8_t>(total);
  Bytes frame = IcmpError()
                    .from(kServerRouter)
                    .to(kLocal)
                    .quote_raw(datagram)
                    .quote_len(24 + kTcpWithTimestamp)
                    .build();
  FrameView v = parse(frame);
  IcmpQuote q;
  ASSERT_TRUE(parse_icmp_error(v, q));
  EXPECT_EQ(q.ip_hlen, 24);
  EXPECT_EQ(q.tcp_len, kTcpWithTimestamp);
  EXPECT_EQ(q.seq, Seq(1000 + kHeaderLen));
  translate_icmp_error(v, q, toward_client());
  const Decoded d = test::decode(frame);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_TRUE(d.quoted_ip_checksum_ok);
  EXPECT_EQ(test::ip_str(d.quoted_src), kClient);
  EXPECT_EQ(test::ip_str(d.quoted_dst), kVip);
  EXPECT_EQ(d.quoted_sport, kClientPort);
  EXPECT_EQ(d.quoted_dport, kVipPort);
  EXPECT_EQ(d.quoted_seq, 1000U);
  EXPECT_EQ(d.quoted_ack, 2000U);
  const Bytes original = test::ip_datagram(client_to_vip(1000, 2000).build());
  // The TCP header, checksum included, is the client's own.
  EXPECT_EQ(Bytes(d.quote.begin() + 24, d.quote.end()),
            Bytes(original.begin() + 20, original.begin() + 20 + kTcpWithTimestamp));
}

// RFC 4884: a length in byte 5 bounds the quoted datagram; what follows is an extension.
TEST(IcmpParse, Rfc4884LengthBoundsTheQuote) {
  Bytes frame = IcmpError()
                    .from(kServerRouter)
                    .to(kLocal)
                    .rest((7U << 16) | kMtu)  // 7 words: IP header and 8 TCP bytes
                    .quote(local_to_server(1000, 2000))
                    .quote_len(IcmpError::kWholeDatagram)
                    .build();
  FrameView v = parse(frame);
  IcmpQuote q;
  ASSERT_TRUE(parse_icmp_error(v, q));
  EXPECT_EQ(q.tcp_len, 8);
  EXPECT_FALSE(q.has_ack);
  // Too short to hold a quote: rejected.
  Bytes short_frame = IcmpError()
                          .from(kServerRouter)
                          .to(kLocal)
                          .rest((6U << 16) | kMtu)
                          .quote(local_to_server(1000, 2000))
                          .quote_len(IcmpError::kWholeDatagram)
                          .build();
  FrameView sv = parse(short_frame);
  EXPECT_FALSE(parse_icmp_error(sv, q));
}

struct RejectCase {
  const char* name;
  Bytes frame;
};

Bytes quoting(const Bytes& datagram, std::size_t len, std::uint8_t type = kIcmpDestUnreachable,
              std::uint8_t code = kIcmpCodeFragNeeded) {
  return IcmpError()
      .from(kServerRouter)
      .to(kLocal)
      .type(type, code)
      .quote_raw(datagram)
      .quote_len(len)
      .build();
}

Bytes sent_datagram() {
  return test::ip_datagram(local_to_server(1000, 2000).build());
}

Bytes with_byte(Bytes b, std::size_t at, std::uint8_t value) {
  b[at] = value;
  return b;
}

std::vector<RejectCase> reject_cases() {
  const Bytes d = sent_datagram();
  return {
      {"EchoRequest", test::icmp_echo(test::mac(1), test::mac(2), kClient, kVip, 7, 1, "ping")},
      {"EchoReply",
       with_byte(test::icmp_echo(test::mac(1), test::mac(2), kClient, kVip, 7, 1, ""), 34, 0)},
      {"BadIcmpChecksum", with_byte(quoting(d, 28), 36, 0x5a)},
      {"SourceQuench", quoting(d, 28, 4, 0)},
      {"Redirect", quoting(d, 28, 5, 1)},
      {"TcpQuoteOfSevenBytes", quoting(d, 27)},
      {"IpHeaderOnly", quoting(d, 20)},
      {"NineteenBytes", quoting(d, 19)},
      {"NothingQuoted", quoting(d, 0)},
      {"UdpQuote", quoting(with_byte(d, 9, 17), 28)},
      {"IcmpQuote", quoting(with_byte(d, 9, 1), 28)},
      {"IhlBelowFive", quoting(with_byte(d, 0, 0x44), 28)},
      {"IhlBeyondTheQuote", quoting(with_byte(d, 0, 0x4f), 52)},
      {"IpVersionSix", quoting(with_byte(d, 0, 0x65), 28)},
      {"LaterFragment", quoting(with_byte(d, 7, 0x10), 28)},
      {"TotalLengthBelowHeader", quoting(with_byte(with_byte(d, 2, 0), 3, 19), 28)},
      {"TotalLengthWithoutEightTcpBytes", quoting(with_byte(with_byte(d, 2, 0), 3, 27), 52)},
  };
}

void PrintTo(const RejectCase& c, std::ostream* os) {
  *os << c.name;
}

class Reject : public testing::TestWithParam<RejectCase> {};

TEST_P(Reject, IsNotAnErrorQuotingTcp) {
  Bytes frame = GetParam().frame;
  FrameView v = parse(frame);
  ASSERT_NE(v.icmp, nullptr);
  IcmpQuote q;
  EXPECT_FALSE(parse_icmp_error(v, q));
}

INSTANTIATE_TEST_SUITE_P(IcmpParse, Reject, testing::ValuesIn(reject_cases()),
                         [](const testing::TestParamInfo<RejectCase>& info) {
                           return std::string(info.param.name);
                         });

// --- errors Postern originates ---

rte_ether_addr ether(std::uint8_t last) {
  rte_ether_addr a{};
  const test::Mac m = test::mac(last);
  std::memcpy(a.addr_bytes, m.b, 6);
  return a;
}

TcpPacket expiring_segment(std::size_t payload) {
  return TcpPacket()
      .eth(test::mac(0x11), test::mac(0x22))
      .from(kClient, kClientPort)
      .to(kVip, kVipPort)
      .seq(1)
      .ack(2)
      .flags(kAck | kPsh)
      .ttl(1)
      .payload(payload_of(payload));
}

TEST(IcmpBuild, TimeExceededQuotesSizesWithin576Bytes) {
  struct Row {
    std::size_t payload;
    std::size_t quoted;  // bytes of the offending datagram in the error
  };
  // 548 = 576 - 20 (IP) - 8 (ICMP): the largest quote RFC 1812 4.3.2.3 allows.
  for (const Row& r : {Row{0, 40}, Row{10, 50}, Row{508, 548}, Row{509, 548}, Row{1400, 548}}) {
    Bytes offending = expiring_segment(r.payload).build();
    FrameView v = parse(offending);
    std::uint8_t out[1600];
    const std::uint16_t len = build_icmp_error(out, sizeof out, ether(0x22), ether(0x11), ip(kVip),
                                               kIcmpTimeExceeded, kIcmpCodeTtlExceeded, v);
    ASSERT_EQ(len, 14 + 20 + 8 + r.quoted) << r.payload;
    const Bytes frame(out, out + len);
    const Decoded d = test::decode(frame);
    ASSERT_TRUE(d.is_icmp);
    EXPECT_TRUE(d.ip_checksum_ok);
    EXPECT_TRUE(d.icmp_checksum_ok);
    EXPECT_EQ(d.src_mac.b[5], 0x22);
    EXPECT_EQ(d.dst_mac.b[5], 0x11);
    EXPECT_EQ(test::ip_str(d.src), kVip);
    EXPECT_EQ(test::ip_str(d.dst), kClient);
    EXPECT_EQ(d.ttl, 64);
    EXPECT_EQ(frame[15], 0xc0);  // precedence: internetwork control
    EXPECT_EQ(frame[20], 0x40);  // DF
    EXPECT_EQ((frame[16] << 8) | frame[17], 20 + 8 + r.quoted);
    EXPECT_EQ(d.icmp_type, kIcmpTimeExceeded);
    EXPECT_EQ(d.icmp_code, kIcmpCodeTtlExceeded);
    EXPECT_EQ(d.icmp_rest, 0U);
    ASSERT_TRUE(d.has_quote);
    const Bytes datagram = test::ip_datagram(offending);
    EXPECT_EQ(d.quote, Bytes(datagram.begin(), datagram.begin() + static_cast<long>(r.quoted)));
    EXPECT_EQ(d.quoted_ttl, 1);
    EXPECT_EQ(d.quoted_seq, 1U);
  }
}

TEST(IcmpBuild, ReturnsZeroWhenTheBufferIsTooSmall) {
  Bytes offending = expiring_segment(10).build();
  FrameView v = parse(offending);
  std::uint8_t out[14 + 20 + 8 + 50];
  const auto need = static_cast<std::uint16_t>(sizeof out);
  EXPECT_EQ(build_icmp_error(out, need - 1, ether(1), ether(2), ip(kVip), kIcmpTimeExceeded, 0, v),
            0);
  EXPECT_EQ(build_icmp_error(out, need, ether(1), ether(2), ip(kVip), kIcmpTimeExceeded, 0, v),
            need);
}

// RFC 1122 section 3.2.2: no error about an error, a broadcast or a non-host source.
TEST(IcmpBuild, RefusesWhatRfc1122Forbids) {
  std::uint8_t out[1600];
  auto build = [&out](Bytes frame, auto&& mutate) {
    FrameView v = parse(frame);
    mutate(frame);
    return build_icmp_error(out, sizeof out, ether(1), ether(2), ip(kVip), kIcmpTimeExceeded, 0, v);
  };
  auto unchanged = [](Bytes&) {};
  EXPECT_GT(build(expiring_segment(10).build(), unchanged), 0);
  EXPECT_GT(
      build(test::icmp_echo(test::mac(1), test::mac(2), kClient, kVip, 7, 1, "ping"), unchanged),
      0);
  EXPECT_EQ(
      build(IcmpError().from(kClientRouter).to(kVip).quote(vip_to_client(1, 2)).build(), unchanged),
      0);
  EXPECT_EQ(build(expiring_segment(10).build(), [](Bytes& f) { f[0] = 0xff; }), 0);  // eth group
  EXPECT_EQ(build(expiring_segment(10).build(), [](Bytes& f) { f[20] = 0x20 | 0x01; }), 0);
  struct Addr {
    std::size_t at;  // 26: source, 30: destination
    const char* value;
  };
  for (const Addr& a : {Addr{26, "0.0.0.0"}, Addr{26, "127.0.0.1"}, Addr{26, "224.0.0.5"},
                        Addr{26, "255.255.255.255"}, Addr{26, "240.0.0.1"},
                        Addr{30, "255.255.255.255"}, Addr{30, "239.1.2.3"}}) {
    EXPECT_EQ(build(expiring_segment(10).build(),
                    [&a](Bytes& f) {
                      const std::uint32_t v = ip(a.value);
                      std::memcpy(f.data() + a.at, &v, 4);
                    }),
              0)
        << a.at << " " << a.value;
  }
}

// --- echo ---

TEST(IcmpEcho, ReplyInPlaceTrimsPadding) {
  Bytes frame = test::icmp_echo(test::mac(1), test::mac(2), kClient, kVip, 7, 9, "ping");
  const std::size_t real = frame.size();
  frame.resize(60, 0);  // Ethernet minimum: the NIC hands over padding
  FrameView v = parse(frame);
  const std::uint16_t len = make_echo_reply(v);
  ASSERT_EQ(len, real);
  frame.resize(len);
  const Decoded d = test::decode(frame);
  ASSERT_TRUE(d.is_icmp);
  EXPECT_EQ(d.icmp_type, kIcmpEchoReply);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.icmp_checksum_ok);
  EXPECT_EQ(test::ip_str(d.src), kVip);
  EXPECT_EQ(test::ip_str(d.dst), kClient);
  EXPECT_EQ(d.src_mac.b[5], 2);
  EXPECT_EQ(d.dst_mac.b[5], 1);
  EXPECT_EQ(d.ttl, 64);
  EXPECT_EQ(d.icmp_rest, (7U << 16) | 9U);  // identifier and sequence kept
  EXPECT_EQ(std::string(frame.end() - 4, frame.end()), "ping");
}

TEST(IcmpEcho, LeavesAnythingButARequestAlone) {
  Bytes frame = test::icmp_echo(test::mac(1), test::mac(2), kClient, kVip, 7, 9, "ping");
  frame[34] = kIcmpEchoReply;
  const Bytes before = frame;
  FrameView v = parse(frame);
  EXPECT_EQ(make_echo_reply(v), 0);
  EXPECT_EQ(frame, before);
}

// --- rate limit ---

TEST(IcmpRateLimit, DefaultsAllowABurstOfFiftyThenOnePerMillisecond) {
  IcmpRateLimit limit;
  std::uint64_t now = 5000;
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(limit.allow(now)) << i;
  }
  EXPECT_FALSE(limit.allow(now));
  now += 1;
  EXPECT_TRUE(limit.allow(now));
  EXPECT_FALSE(limit.allow(now));
  now += 10;
  int allowed = 0;
  while (limit.allow(now)) {
    ++allowed;
  }
  EXPECT_EQ(allowed, 10);
  // A long quiet spell refills to the burst, no more (and does not overflow).
  now += 1ULL << 62;
  allowed = 0;
  while (limit.allow(now)) {
    ++allowed;
  }
  EXPECT_EQ(allowed, 50);
}

TEST(IcmpRateLimit, SlowRateCountsFractionsOfATokenAcrossCalls) {
  IcmpRateLimit limit(2, 1);  // one token every 500 ms
  EXPECT_TRUE(limit.allow(0));
  struct Step {
    std::uint64_t now;
    bool allowed;
  };
  for (const Step& s :
       {Step{100, false}, Step{300, false}, Step{499, false}, Step{500, true}, Step{600, false},
        Step{999, false}, Step{1000, true}, Step{5000, true}, Step{5000, false}}) {
    EXPECT_EQ(limit.allow(s.now), s.allowed) << s.now;
  }
}

TEST(IcmpRateLimit, ClockGoingBackAddsNothing) {
  IcmpRateLimit limit(1000, 1);
  EXPECT_TRUE(limit.allow(10000));
  EXPECT_FALSE(limit.allow(5));
  EXPECT_FALSE(limit.allow(10000));
  EXPECT_TRUE(limit.allow(10001));
}

TEST(IcmpRateLimit, ZeroBurstAllowsNothingZeroRateOnlyTheBurst) {
  IcmpRateLimit none(1000, 0);
  EXPECT_FALSE(none.allow(0));
  EXPECT_FALSE(none.allow(1000000));
  IcmpRateLimit once(0, 2);
  EXPECT_TRUE(once.allow(0));
  EXPECT_TRUE(once.allow(1));
  EXPECT_FALSE(once.allow(1000000));
}

}  // namespace
}  // namespace postern::dataplane
