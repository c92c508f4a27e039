// What the packet-path fuzzer (tests/fuzz/packet_path_fuzz.cpp) found, each as the frames a
// user would see: a neighbour learnt on the wrong port, echo replies with a wrong checksum or
// a borrowed source MAC, RSTs and cookie SYN-ACKs from a borrowed source MAC, and a
// misaligned frame after an odd-length accept-proxy header was cut.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "nat/rewrite.hpp"
#include "net/frame.hpp"
#include "session.hpp"
#include "support/worker_harness.hpp"

namespace postern::test {
namespace {

const Mac kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

bool same(const Mac& a, const Mac& b) {
  return std::memcmp(a.b, b.b, 6) == 0;
}

TEST(FuzzFindings, AnArpFromAServerOnTheClientPortLeavesItsEntryOnTheServerPort) {
  WorkerHarness h;
  // The SYN waits for 198.19.0.10's MAC (plain/s1, nobody resolved it yet).
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 110)
                .seq(1)
                .flags(kSyn)
                .build(),
            0);
  ASSERT_EQ(h.take().size(), 1U);  // the ARP request for the server
  // The server's address asks for ours on the client port: a different neighbour.
  const Mac stranger = mac(0x66);
  h.receive(arp_packet(1, stranger, "198.19.0.10", Mac{}, "198.18.0.1"), 0);
  for (const Sent& s : h.take()) {
    EXPECT_FALSE(s.d.is_tcp) << "the waiting SYN left by port " << s.port;
  }
  // The real server answers on the server port: the SYN goes there, to its MAC.
  h.receive(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].port, 1);
  EXPECT_TRUE(out[0].d.is_tcp);
  EXPECT_TRUE(same(out[0].d.src_mac, kPortServerMac));
  EXPECT_TRUE(same(out[0].d.dst_mac, kServer1Mac));
}

TEST(FuzzFindings, AnEchoRequestWithAWrongChecksumIsNotAnswered) {
  WorkerHarness h;
  Bytes ping = icmp_echo(kClientMac, kPortClientMac, "198.18.0.2", "198.18.0.100", 7, 1, "ping");
  ping[36] ^= 0x01;  // the ICMP checksum
  h.receive(ping, 0);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kIcmpIgnored), 1U);
  EXPECT_EQ(h.worker().counters().icmp_echo_replies, 0U);
}

TEST(FuzzFindings, AnEchoReplyWhoseMessageSumsToZeroCarriesChecksumFFFF) {
  WorkerHarness h;
  // Identifier 0, sequence 0, no data: the reply is all zeros but for its checksum, which
  // must be 0xffff (an update from the request's would give 0x0000, which receivers reject).
  h.receive(icmp_echo(kClientMac, kPortClientMac, "198.18.0.2", "198.18.0.100", 0, 0, ""), 0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_icmp);
  EXPECT_EQ(out[0].d.icmp_type, 0);
  EXPECT_TRUE(out[0].d.icmp_checksum_ok);
  EXPECT_EQ(out[0].frame[36], 0xff);
  EXPECT_EQ(out[0].frame[37], 0xff);
}

TEST(FuzzFindings, AnEchoRequestToABroadcastMacIsAnsweredFromThePortMac) {
  WorkerHarness h;
  h.receive(icmp_echo(kClientMac, kBroadcast, "198.18.0.2", "198.18.0.100", 7, 1, "ping"), 0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_icmp);
  EXPECT_TRUE(same(out[0].d.src_mac, kPortClientMac));
  EXPECT_TRUE(same(out[0].d.dst_mac, kClientMac));
}

// TCP in a broadcast frame is dropped unanswered (martian_destination); a unicast frame for
// another MAC (a switch flooding an unknown destination) is what can still borrow one.
TEST(FuzzFindings, ARstForASegmentSentToAnotherMacComesFromThePortMac) {
  WorkerHarness h;
  h.receive(TcpPacket()
                .eth(kClientMac, mac(0x77))
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 143)
                .seq(5)
                .ack(7)
                .flags(kAck)
                .build(),
            0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_tcp);
  EXPECT_EQ(out[0].d.flags & kRst, kRst);
  EXPECT_TRUE(same(out[0].d.src_mac, kPortClientMac));
  EXPECT_TRUE(same(out[0].d.dst_mac, kClientMac));
}

TEST(FuzzFindings, ACookieSynAckForASynSentToAnotherMacComesFromThePortMac) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    s.listeners[0].syn_proxy = dataplane::SynProxyMode::kOn;
  });
  h.receive(TcpPacket()
                .eth(kClientMac, mac(0x77))
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 143)
                .seq(1000)
                .flags(kSyn)
                .mss(1460)
                .build(),
            0);
  const auto out = h.take();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(out[0].d.is_tcp);
  EXPECT_EQ(out[0].d.flags & (kSyn | kAck), kSyn | kAck);
  EXPECT_TRUE(same(out[0].d.src_mac, kPortClientMac));
  EXPECT_TRUE(same(out[0].d.dst_mac, kClientMac));
}

TEST(FuzzFindings, CuttingAnOddCountKeepsTheFrameTwoByteAligned) {
  // 45 bytes of a PROXY v1 header then "a1 NOOP\r\n", at an even address as in an mbuf.
  const std::string header = "PROXY TCP4 192.0.2.7 198.18.0.100 51000 993\r\n";
  ASSERT_EQ(header.size() % 2, 1U);
  const Bytes frame = TcpPacket()
                          .eth(kClientMac, kPortClientMac)
                          .from("198.18.0.2", 40000)
                          .to("198.18.0.100", 993)
                          .seq(1001)
                          .ack(2001)
                          .flags(kAck | kPsh)
                          .payload(header + "a1 NOOP\r\n")
                          .build();
  alignas(64) std::uint8_t buf[256] = {};
  std::memcpy(buf, frame.data(), frame.size());
  dataplane::FrameView v;
  dataplane::DropReason reason = dataplane::DropReason::kCount;
  ASSERT_EQ(dataplane::parse_frame(buf, static_cast<std::uint16_t>(frame.size()), v, reason),
            dataplane::FrameKind::kTcp4);
  dataplane::cut_payload_front(v, static_cast<std::uint16_t>(header.size()));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data) % 2, 0U);
  EXPECT_EQ(v.len, frame.size() - header.size());
  const Decoded d = decode(Bytes(v.data, v.data + v.len));
  ASSERT_TRUE(d.is_tcp);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.tcp_checksum_ok);
  EXPECT_EQ(std::string(d.payload.begin(), d.payload.end()), "a1 NOOP\r\n");
  EXPECT_EQ(d.seq, 1001U + header.size());
  EXPECT_EQ(ip_str(d.src), "198.18.0.2");
  EXPECT_EQ(d.dport, 993);
}

}  // namespace
}  // namespace postern::test
