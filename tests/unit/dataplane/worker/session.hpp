// One TCP connection driven through a WorkerHarness: frames from the client and from the
// server with their addresses already filled in, and the three handshake steps, so a test
// states only the fields it is about.
#pragma once

#include <cstdint>
#include <vector>

#include "support/worker_harness.hpp"

namespace postern::test {

inline constexpr const char* kClientAddr = "198.18.0.2";
inline constexpr const char* kVipAddr = "198.18.0.100";
inline constexpr const char* kSourceAddr = "198.19.0.1";
// The PROXY v2 header Postern writes for TCP over IPv4: 16 fixed + 12 address bytes.
inline constexpr std::uint32_t kHeaderLen = 28;

struct Session {
  explicit Session(WorkerHarness& harness, std::uint16_t client_port = 40000,
                   std::uint16_t vip_port = 143, std::uint32_t client_isn = 1000,
                   std::uint32_t server_isn = 5000000);

  // Client -> VIP:vip_port, as it arrives on port 0.
  TcpPacket client() const;
  // The chosen server -> source address:local port, as it arrives on port 1 (after syn()).
  TcpPacket server() const;

  // Feeds the frame in and returns everything Postern sent because of it.
  std::vector<Sent> send_client(const TcpPacket& p);
  std::vector<Sent> send_server(const TcpPacket& p);

  // The client's SYN (MSS 1460, SACK-permitted, TSval 111, wscale 7). Expects exactly one
  // frame out and learns the server and the local port from it.
  Decoded syn();
  // The server's SYN-ACK (MSS, SACK-permitted, wscale, and TSval 900 / TSecr 111 when
  // `timestamps`). Expects exactly one frame out, towards the client.
  Decoded synack(bool timestamps = true);
  // The client's handshake ACK (window 502, TSval 112 / TSecr 900 when `timestamps`).
  std::vector<Sent> handshake_ack(bool timestamps = true);
  // All three; returns what the handshake ACK produced (header then ACK under send-proxy).
  std::vector<Sent> establish();
  // establish(), then past the greeting: the server acknowledges the header and sends
  // "* OK\r\n" (6 bytes), the client sends "a NOOP\r\n" (8 bytes), the server acknowledges it.
  void greet();

  Mac server_mac() const;

  WorkerHarness& h;
  std::uint16_t client_port;
  std::uint16_t vip_port;
  std::uint32_t client_isn;
  std::uint32_t server_isn;
  std::uint32_t server_ip = 0;  // network order, learnt from the forwarded SYN
  std::uint16_t server_port = 0;
  std::uint16_t local_port = 0;
};

// The single frame sent on `port`; fails the test (and returns an empty frame) otherwise.
Sent only_on(const std::vector<Sent>& out, std::uint16_t port);

// `out` without ARP frames (the neighbour cache re-probes servers after 30 s of a test clock).
std::vector<Sent> tcp_only(const std::vector<Sent>& out);

// The checks every frame Postern emits must pass: IPv4, TCP, both checksums by recomputation.
void expect_valid_tcp(const Decoded& d);

}  // namespace postern::test
