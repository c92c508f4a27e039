// `bind ... accept-proxy`: the upstream proxy's header is consumed (even split across
// segments), replaced by Postern's own v2 header naming the original addresses, and the
// stream is shifted by the difference in length.
#include <gtest/gtest.h>

#include <cstring>

#include "proxy/proxy_decode.hpp"
#include "proxy/proxy_v2.hpp"
#include "session.hpp"
#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

constexpr std::uint32_t kIsn = 2000;
constexpr std::uint32_t kSrvIsn = 9000;
constexpr std::uint16_t kPort = 41000;

void accept_proxy_on_143(dataplane::Snapshot& s) {
  s.binds[0].accept_proxy = true;
}

Bytes from_client(std::uint32_t seq, std::uint8_t flags, std::string_view data = {},
                  std::uint16_t port = kPort) {
  return TcpPacket()
      .eth(kClientMac, kPortClientMac)
      .from("198.18.0.2", port)
      .to("198.18.0.100", 143)
      .seq(seq)
      .ack(kSrvIsn + 1)
      .flags(flags)
      .payload(data)
      .build();
}

// Handshake through Postern; returns the server-side local port.
std::uint16_t handshake(WorkerHarness& h, std::uint16_t port = kPort) {
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", port)
                .to("198.18.0.100", 143)
                .seq(kIsn)
                .flags(kSyn)
                .build(),
            0);
  const Decoded syn = h.take().at(0).d;
  const std::uint16_t lport = syn.sport;
  h.receive(TcpPacket()
                .eth(syn.dst == ip("198.19.0.11") ? kServer2Mac : kServer1Mac, kPortServerMac)
                .from(ip_str(syn.dst).c_str(), 143)
                .to("198.19.0.1", lport)
                .seq(kSrvIsn)
                .ack(kIsn + 1)
                .flags(kSyn | kAck)
                .build(),
            1);
  h.take();
  h.receive(from_client(kIsn + 1, kAck, {}, port), 0);
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

const std::string kV1 = "PROXY TCP4 203.0.113.7 198.18.0.100 4444 143\r\n";  // 46 bytes

// The upstream sends its header segment again after Postern consumed it (its ACK was slow,
// or lost): the server must never see those bytes, which would land where our header sits.
TEST(AcceptProxy, AnUpstreamHeaderSentAgainNeverReachesTheServer) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  h.receive(from_client(kIsn + 1, kAck | kPsh, kV1), 0);
  ASSERT_EQ(h.take().size(), 1U);  // our header
  h.receive(from_client(kIsn + 1, kAck | kPsh, kV1), 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyHeaderRepeated), 1U);
  // Sent again together with new bytes: only the new bytes go, right after our header.
  h.receive(from_client(kIsn + 1, kAck | kPsh, kV1 + "a1 NOOP\r\n"), 0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(std::string(out[0].d.payload.begin(), out[0].d.payload.end()), "a1 NOOP\r\n");
  EXPECT_EQ(out[0].d.seq, kIsn + 1 + 28);
  expect_valid_tcp(out[0].d);
}

// The wait for the upstream header runs from the handshake: a byte a second does not extend it.
TEST(AcceptProxy, TheHeaderWaitIsAbsolute) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  for (std::uint32_t i = 0; i < 4; ++i) {
    h.advance(1000);
    h.receive(from_client(kIsn + 1 + i, kAck | kPsh, kV1.substr(i, 1)), 0);
    EXPECT_TRUE(tcp_only(h.take()).empty());
  }
  h.advance(1010);  // 5.01 s after the handshake
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 2U);
  EXPECT_NE(out[0].d.flags & kRst, 0);
  EXPECT_NE(out[1].d.flags & kRst, 0);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyHeaderTimeout), 1U);
}

// A FIN that arrives with the end of the header is the client's: it follows our header.
TEST(AcceptProxy, AFinWithTheHeaderIsKept) {
  for (const std::string rest : {"", "QUIT\r\n"}) {
    SCOPED_TRACE(rest.empty() ? "FIN right after the header" : "data and FIN after the header");
    WorkerHarness h(1024, &accept_proxy_on_143);
    h.resolve_servers();
    handshake(h);
    h.receive(from_client(kIsn + 1, kAck | kPsh, kV1.substr(0, 10)), 0);
    EXPECT_TRUE(h.take().empty());
    h.receive(from_client(kIsn + 11, kAck | kPsh | kFin, kV1.substr(10) + rest), 0);
    const auto out = h.take();
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0].d.payload.size(), 28U);
    EXPECT_NE(out[1].d.flags & kFin, 0);
    EXPECT_EQ(out[1].d.seq, kIsn + 1 + 28);
    EXPECT_EQ(std::string(out[1].d.payload.begin(), out[1].d.payload.end()), rest);
    expect_valid_tcp(out[1].d);
  }
}

// A FIN before the header is complete: it can never complete, so both sides are reset.
TEST(AcceptProxy, AFinBeforeTheHeaderIsCompleteResetsBoth) {
  WorkerHarness h(1024, &accept_proxy_on_143);
  h.resolve_servers();
  handshake(h);
  h.receive(from_client(kIsn + 1, kAck | kPsh, kV1.substr(0, 10)), 0);
  h.receive(from_client(kIsn + 11, kAck | kFin), 0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 2U);
  EXPECT_NE(out[0].d.flags & kRst, 0);
  EXPECT_NE(out[1].d.flags & kRst, 0);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyHeaderBad), 1U);
}

// Header buffers are few; connections that trickle their header keep one only until their
// deadline, then it serves the next connection at once (not after the closed flow lingers).
TEST(AcceptProxy, TricklingHeadersCannotHoldBuffersPastTheirDeadline) {
  WorkerHarness h(8, &accept_proxy_on_143);  // 8 flows, so 8 header buffers
  h.resolve_servers();
  for (std::uint16_t i = 0; i < 8; ++i) {
    handshake(h, static_cast<std::uint16_t>(kPort + i));
    h.receive(from_client(kIsn + 1, kAck | kPsh, kV1.substr(0, 5), kPort + i), 0);
  }
  h.take();
  EXPECT_EQ(h.worker().header_buffers_free(), 0U);
  h.advance(dataplane::splice::kAcceptProxyTimeoutMs + 10);
  h.take();
  EXPECT_EQ(h.worker().header_buffers_free(), 8U) << "back at the deadline, not after the linger";
  // The 8 flows linger (closed) and fill the table; once they go, a new one finds a buffer.
  h.advance(dataplane::splice::kClosedLingerMs + 10);
  handshake(h, 50000);
  h.receive(from_client(kIsn + 1, kAck | kPsh, kV1, 50000), 0);
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.payload.size(), 28U);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kProxyBufferFull), 0U);
}

}  // namespace
}  // namespace postern::test
