// `bind ... accept-proxy`: the upstream proxy's header is consumed (even split across
// segments), replaced by Postern's own v2 header naming the original addresses, and the
// stream is shifted by the difference in length.
#include <gtest/gtest.h>

#include <cstring>

#include "proxy/proxy_decode.hpp"
#include "proxy/proxy_v2.hpp"
#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

constexpr std::uint32_t kIsn = 2000;
constexpr std::uint32_t kSrvIsn = 9000;
constexpr std::uint16_t kPort = 41000;

void accept_proxy_on_143(dataplane::Snapshot& s) {
  s.binds[0].accept_proxy = true;
}

Bytes from_client(std::uint32_t seq, std::uint8_t flags, std::string_view data = {}) {
  return TcpPacket()
      .eth(kClientMac, kPortClientMac)
      .from("198.18.0.2", kPort)
      .to("198.18.0.100", 143)
      .seq(seq)
      .ack(kSrvIsn + 1)
      .flags(flags)
      .payload(data)
      .build();
}

// Handshake through Postern; returns the server-side local port.
std::uint16_t handshake(WorkerHarness& h) {
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", kPort)
                .to("198.18.0.100", 143)
                .seq(kIsn)
                .flags(kSyn)
                .build(),
            0);
  const std::uint16_t lport = h.take().at(0).d.sport;
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", lport)
                .seq(kSrvIsn)
                .ack(kIsn + 1)
                .flags(kSyn | kAck)
                .build(),
            1);
  h.take();
  h.receive(from_client(kIsn + 1, kAck), 0);
  auto out = h.take();
  EXPECT_EQ(out.size(), 1U);  // the handshake ACK only: no header before the upstream's
  return lport;
}

std::uint32_t v4(const std::array<std::uint8_t, 16>& a) {
  std::uint32_t v;
  std::memcpy(&v, a.data(), 4);
  return v;
}

TEST(AcceptProxy, V1HeaderSplitAcrossSegmentsIsReplacedByV2) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  const std::string v1 = "PROXY TCP4 203.0.113.7 198.18.0.100 4444 143\r\n";
  h.receive(from_client(kIsn + 1, kAck | kPsh, v1.substr(0, 20)), 0);
  EXPECT_TRUE(h.take().empty());  // partial: held back
  h.receive(from_client(kIsn + 1 + 20, kAck | kPsh, v1.substr(20) + "EHLO x\r\n"), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 2U);
  const Decoded& hdr = out[0].d;
  EXPECT_EQ(hdr.seq, kIsn + 1);
  ASSERT_EQ(hdr.payload.size(), 28U);
  const auto r = dataplane::proxy::decode(hdr.payload.data(), hdr.payload.size());
  ASSERT_EQ(r.status, dataplane::proxy::DecodeStatus::kOk);
  EXPECT_EQ(ip_str(v4(r.addresses.src)), "203.0.113.7");
  EXPECT_EQ(r.addresses.src_port, 4444);
  EXPECT_EQ(ip_str(v4(r.addresses.dst)), "198.18.0.100");
  // The data after the upstream header follows ours, without the consumed bytes.
  const Decoded& data = out[1].d;
  EXPECT_EQ(std::string(data.payload.begin(), data.payload.end()), "EHLO x\r\n");
  EXPECT_EQ(data.seq, kIsn + 1 + 28);
  EXPECT_TRUE(data.tcp_checksum_ok);
  EXPECT_TRUE(data.ip_checksum_ok);
  // The server's ACK of our header + data maps to the client's header + data.
  h.receive(TcpPacket()
                .eth(kServer1Mac, kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", out[0].d.sport)
                .seq(kSrvIsn + 1)
                .ack(kIsn + 1 + 28 + 8)
                .flags(kAck)
                .build(),
            1);
  out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, kIsn + 1 + v1.size() + 8);
  EXPECT_EQ(h.worker().counters().proxy_headers_received, 1U);
}

TEST(AcceptProxy, UpstreamIpv6AddressesReachTheServerInA52ByteHeader) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  dataplane::proxy::Addresses up;
  up.family = dataplane::proxy::Family::kTcp6;
  up.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  up.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  up.src_port = 5555;
  up.dst_port = 143;
  std::uint8_t hdr[64];
  const std::size_t n = dataplane::proxy::encode_v2(up, {}, hdr, sizeof hdr);
  ASSERT_EQ(n, 52U);
  h.receive(from_client(kIsn + 1, kAck | kPsh, std::string_view(reinterpret_cast<char*>(hdr), n)),
            0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  const auto r = dataplane::proxy::decode(out[0].d.payload.data(), out[0].d.payload.size());
  ASSERT_EQ(r.status, dataplane::proxy::DecodeStatus::kOk);
  EXPECT_EQ(r.addresses, up);
  EXPECT_EQ(out[0].d.payload.size(), 52U);
}

TEST(AcceptProxy, MalformedHeaderResetsBothSides) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  h.receive(from_client(kIsn + 1, kAck | kPsh, "HELLO THERE\r\n"), 0);
  auto out = h.take();
  ASSERT_EQ(out.size(), 2U);
  for (const auto& s : out) {
    EXPECT_NE(s.d.flags & kRst, 0);
    EXPECT_TRUE(s.d.tcp_checksum_ok);
  }
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyHeaderBad), 1U);
}

TEST(AcceptProxy, MissingHeaderTimesOut) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  h.advance(dataplane::splice::kAcceptProxyTimeoutMs + 10);
  auto out = h.take();
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyHeaderTimeout), 1U);
}

}  // namespace
}  // namespace postern::test
