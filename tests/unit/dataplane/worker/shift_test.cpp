// The sequence shift at its edges: none at all without send-proxy; SACK blocks from the server
// mapped into client space and clamped at the client's ISN + 1 (a block over Postern's own
// header bytes is removed), at any option alignment; client SACK blocks left alone, since
// server sequence numbers are never shifted.
#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <cstring>
#include <string>

#include "session.hpp"

namespace postern::test {
namespace {

using Blocks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

TEST(Shift, PlainListenerForwardsWithoutHeaderOrShiftInEitherDirection) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h, 40000, 110);
  const Decoded syn = s.syn();
  expect_valid_tcp(syn);
  EXPECT_EQ(ip_str(syn.dst), "198.19.0.10");
  EXPECT_EQ(syn.dport, 110);
  EXPECT_EQ(syn.seq, s.client_isn);
  const Decoded synack = s.synack();
  EXPECT_EQ(synack.sport, 110);
  EXPECT_EQ(synack.ack, s.client_isn + 1);

  auto out = s.handshake_ack();
  ASSERT_EQ(out.size(), 1U);  // no header segment
  EXPECT_EQ(out[0].d.seq, s.client_isn + 1);
  EXPECT_EQ(out[0].d.ack, s.server_isn + 1);
  expect_valid_tcp(out[0].d);

  // Server greeting with a SACK block: ack and block reach the client as sent.
  out = s.send_server(s.server()
                          .seq(s.server_isn + 1)
                          .ack(s.client_isn + 1)
                          .flags(kAck | kPsh)
                          .sack({{s.client_isn + 10, s.client_isn + 20}})
                          .payload("+OK POP3\r\n"));
  ASSERT_EQ(out.size(), 1U);
  Decoded d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.src), kVipAddr);
  EXPECT_EQ(d.sport, 110);
  EXPECT_EQ(d.seq, s.server_isn + 1);
  EXPECT_EQ(d.ack, s.client_isn + 1);
  EXPECT_EQ(d.sack, (Blocks{{s.client_isn + 10, s.client_isn + 20}}));
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "+OK POP3\r\n");

  out = s.send_client(s.client()
                          .seq(s.client_isn + 1)
                          .ack(s.server_isn + 11)
                          .flags(kAck | kPsh)
                          .payload("USER a\r\n"));
  ASSERT_EQ(out.size(), 1U);
  d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(ip_str(d.dst), "198.19.0.10");
  EXPECT_EQ(d.dport, 110);
  EXPECT_EQ(d.seq, s.client_isn + 1);
  EXPECT_EQ(d.ack, s.server_isn + 11);

  out = s.send_server(s.server().seq(s.server_isn + 11).ack(s.client_isn + 9).flags(kAck));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].d.ack, s.client_isn + 9);
  EXPECT_EQ(h.worker().counters().proxy_headers_sent, 0U);

  // Nothing to retransmit either.
  h.advance(1000);
  EXPECT_TRUE(h.take().empty());
}

// Server space: [ISN+1, ISN+29) is the header, ISN+29 is the client's first byte.
TEST(Shift, ServerSackBlocksAreMappedToClientSpaceAndClampedAtIsn) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const std::uint32_t first = s.client_isn + 1;
  const auto out = s.send_server(s.server()
                                     .seq(s.server_isn + 1)
                                     .ack(first + kHeaderLen)
                                     .flags(kAck)
                                     .sack({{first + 4, first + 20},                  // header
                                            {first + 20, first + kHeaderLen + 6},     // straddles
                                            {s.client_isn - 100, s.client_isn - 50},  // below
                                            {first + kHeaderLen + 10, first + kHeaderLen + 30}}));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(d.ack, first);
  // The header block and the one below the ISN are gone; the option shrank by 16 bytes.
  EXPECT_EQ(d.sack, (Blocks{{first, first + 6}, {first + 10, first + 30}}));
}

TEST(Shift, ServerSackAtAnOddOptionOffsetKeepsTheChecksumExact) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const std::uint32_t first = s.client_isn + 1;
  // NOP, then SACK (kind 5, length 18, two blocks): the edges start at option byte 3.
  Bytes opts = {1, 5, 18};
  auto put = [&opts](std::uint32_t v) {  // network byte order
    for (int shift = 24; shift >= 0; shift -= 8) {
      opts.push_back(static_cast<std::uint8_t>(v >> shift));
    }
  };
  put(first + 8);
  put(first + kHeaderLen + 3);
  put(0x00020005);  // the shift borrows from the high 16 bits: 0x0001ffe9
  put(0x00020010);
  const auto out = s.send_server(s.server()
                                     .seq(s.server_isn + 1)
                                     .ack(first + kHeaderLen)
                                     .flags(kAck)
                                     .raw_options(opts)
                                     .payload("x"));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(d.sack, (Blocks{{first, first + 3}, {0x0001ffe9U, 0x0001fff4U}}));
  EXPECT_EQ(d.options[0], 1);
  EXPECT_EQ(d.options[1], 5);
}

TEST(Shift, ClientSackBlocksAreNotTouched) {
  WorkerHarness h;
  h.resolve_servers();
  Session s(h);
  s.establish();
  const auto out = s.send_client(s.client()
                                     .seq(s.client_isn + 1)
                                     .ack(s.server_isn + 1)
                                     .flags(kAck)
                                     .timestamp(120, 900)
                                     .sack({{s.server_isn + 50, s.server_isn + 100},
                                            {s.server_isn + 200, s.server_isn + 300}}));
  ASSERT_EQ(out.size(), 1U);
  const Decoded& d = out[0].d;
  expect_valid_tcp(d);
  EXPECT_EQ(d.seq, s.client_isn + 1 + kHeaderLen);
  EXPECT_EQ(d.ack, s.server_isn + 1);
  EXPECT_EQ(d.sack, (Blocks{{s.server_isn + 50, s.server_isn + 100},
                            {s.server_isn + 200, s.server_isn + 300}}));
  EXPECT_EQ(d.ts_val, 120U);
}

}  // namespace
}  // namespace postern::test
