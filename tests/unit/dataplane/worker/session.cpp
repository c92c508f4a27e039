// Session: the client and server ends of one connection through the harness.
#include "session.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::test {

Session::Session(WorkerHarness& harness, std::uint16_t cport, std::uint16_t vport,
                 std::uint32_t cisn, std::uint32_t sisn)
    : h(harness), client_port(cport), vip_port(vport), client_isn(cisn), server_isn(sisn) {}

Mac Session::server_mac() const {
  return server_ip == ip("198.19.0.11") ? kServer2Mac : kServer1Mac;
}

TcpPacket Session::client() const {
  TcpPacket p;
  p.eth(kClientMac, kPortClientMac).from(kClientAddr, client_port).to(kVipAddr, vip_port);
  return p;
}

TcpPacket Session::server() const {
  const std::string addr = ip_str(server_ip);
  TcpPacket p;
  p.eth(server_mac(), kPortServerMac).from(addr.c_str(), server_port).to(kSourceAddr, local_port);
  return p;
}

std::vector<Sent> Session::send_client(const TcpPacket& p) {
  h.receive(p.build(), 0);
  return h.take();
}

std::vector<Sent> Session::send_server(const TcpPacket& p) {
  h.receive(p.build(), 1);
  return h.take();
}

Decoded Session::syn() {
  const auto out = send_client(
      client().seq(client_isn).flags(kSyn).mss(1460).sack_permitted().timestamp(111, 0).wscale(7));
  EXPECT_EQ(out.size(), 1U);
  if (out.empty()) {
    return {};
  }
  server_ip = out[0].d.dst;
  server_port = out[0].d.dport;
  local_port = out[0].d.sport;
  return out[0].d;
}

Decoded Session::synack(bool timestamps) {
  TcpPacket p = server();
  p.seq(server_isn).ack(client_isn + 1).flags(kSyn | kAck).mss(1460).sack_permitted();
  if (timestamps) {
    p.timestamp(900, 111);
  }
  p.wscale(7);
  const auto out = send_server(p);
  EXPECT_EQ(out.size(), 1U);
  return out.empty() ? Decoded{} : out[0].d;
}

std::vector<Sent> Session::handshake_ack(bool timestamps) {
  TcpPacket p = client();
  p.seq(client_isn + 1).ack(server_isn + 1).flags(kAck).window(502);
  if (timestamps) {
    p.timestamp(112, 900);
  }
  return send_client(p);
}

std::vector<Sent> Session::establish() {
  syn();
  synack();
  return handshake_ack();
}

void Session::greet() {
  h.resolve_servers();
  establish();
  send_server(server()
                  .seq(server_isn + 1)
                  .ack(client_isn + 1 + kHeaderLen)
                  .flags(kAck | kPsh)
                  .payload("* OK\r\n"));
  send_client(
      client().seq(client_isn + 1).ack(server_isn + 7).flags(kAck | kPsh).payload("a NOOP\r\n"));
  send_server(server().seq(server_isn + 7).ack(client_isn + 1 + kHeaderLen + 8).flags(kAck));
}

Sent only_on(const std::vector<Sent>& out, std::uint16_t port) {
  std::vector<Sent> matching;
  for (const auto& s : out) {
    if (s.port == port) {
      matching.push_back(s);
    }
  }
  EXPECT_EQ(matching.size(), 1U) << "frames on port " << port;
  return matching.size() == 1 ? matching[0] : Sent{port, {}, {}};
}

std::vector<Sent> tcp_only(const std::vector<Sent>& out) {
  std::vector<Sent> tcp;
  for (const auto& s : out) {
    if (!s.d.is_arp) {
      tcp.push_back(s);
    }
  }
  return tcp;
}

void expect_valid_tcp(const Decoded& d) {
  EXPECT_TRUE(d.is_tcp);
  EXPECT_TRUE(d.ip_checksum_ok);
  EXPECT_TRUE(d.tcp_checksum_ok);
}

}  // namespace postern::test
