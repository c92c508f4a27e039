// What the health engine's verdicts do in the worker: a DOWN server takes no new connection
// (backups take over, then RST), `slowstart` shares weight, `shutdown-sessions` resets a
// server's flows and no other, and the connection errors `observe layer4` reads.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "session.hpp"

namespace postern::test {
namespace {

// Sends a SYN from `port` and returns where it went ("" for a RST back to the client).
std::string connect_from(WorkerHarness& h, std::uint16_t port) {
  h.receive(TcpPacket()
                .eth(kClientMac, kPortClientMac)
                .from(kClientAddr, port)
                .to(kVipAddr, 143)
                .seq(1)
                .flags(kSyn)
                .build(),
            0);
  const auto out = tcp_only(h.take());
  if (out.size() != 1U) {
    ADD_FAILURE() << out.size() << " frames";
    return "?";
  }
  return out[0].port == 1 ? ip_str(out[0].d.dst) : "";
}

TEST(Health, ADownServerTakesNoNewConnectionsAndBackupsTakeOverAtLast) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) {
    dataplane::ServerSlot backup = s.servers[1];
    backup.name = "imap/b";
    backup.ip = ip("198.19.0.12");
    backup.next_hop = backup.ip;
    backup.backup = true;
    s.servers.push_back(backup);
    s.listeners[0].servers.push_back(3);
  });
  h.resolve_servers();
  h.receive(arp_packet(2, mac(0x23), "198.19.0.12", kPortServerMac, "198.19.0.1"), 1);
  h.take();
  h.live(0).up = 0;
  for (std::uint16_t p = 40000; p < 40004; ++p) {
    EXPECT_EQ(connect_from(h, p), "198.19.0.11");
  }
  h.live(1).up = 0;
  EXPECT_EQ(connect_from(h, 40010), "198.19.0.12") << "every active server down: the backup";
  h.live(3).up = 0;
  EXPECT_EQ(connect_from(h, 40011), "") << "none usable: RST";
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNoServer), 1U);
  h.live(0).up = 1;
  EXPECT_EQ(connect_from(h, 40012), "198.19.0.10") << "back up: takes connections again";
}

// A server coming up under `slowstart` gets a growing share: at 25 % of weight 100 it takes
// one connection in five against a full-weight peer.
TEST(Health, SlowstartGivesARampingServerItsShareOfTheWeight) {
  WorkerHarness w(1024, [](dataplane::Snapshot& s) {
    s.servers[0].weight = 100;
    s.servers[1].weight = 100;
  });
  w.resolve_servers();
  w.live(0).weight_pct = 25;
  std::map<std::string, int> m;
  for (std::uint16_t p = 0; p < 125; ++p) {
    ++m[connect_from(w, static_cast<std::uint16_t>(42000 + p))];
  }
  EXPECT_EQ(m["198.19.0.10"], 25);
  EXPECT_EQ(m["198.19.0.11"], 100);
}

TEST(Health, ShutdownSessionsResetsTheServersFlowsAndNoOthers) {
  WorkerHarness h;
  h.resolve_servers();
  Session a(h, 43000);
  Session b(h, 43001);
  Session c(h, 43002);
  a.establish();
  b.establish();
  c.establish();
  ASSERT_EQ(ip_str(a.server_ip), "198.19.0.10");
  ASSERT_EQ(ip_str(b.server_ip), "198.19.0.11");
  ASSERT_EQ(ip_str(c.server_ip), "198.19.0.10");
  dataplane::ProbeCommand cmd;
  cmd.op = dataplane::ProbeOp::kShutdownServer;
  cmd.server = 0;
  h.command(cmd);
  const auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 4U) << "a RST to the client and one to the server, for each of 2 flows";
  for (const auto& s : out) {
    EXPECT_NE(s.d.flags & kRst, 0);
    expect_valid_tcp(s.d);
    EXPECT_NE(s.port == 0 ? s.d.dport : s.d.sport, s.port == 0 ? b.client_port : b.local_port)
        << "b's flow, on the other server, is not touched";
  }
  EXPECT_EQ(h.worker().counters().sessions_shutdown, 2U);
  // b's flow goes on.
  const auto more = tcp_only(b.send_client(b.client()
                                               .seq(b.client_isn + 1)
                                               .ack(b.server_isn + 1)
                                               .flags(kAck | kPsh)
                                               .payload("a1 NOOP\r\n")));
  ASSERT_EQ(more.size(), 1U);
  EXPECT_EQ(more[0].port, 1);
}

TEST(Health, ConnectErrorsAreCountedPerServerUntilItTakesAConnection) {
  WorkerHarness h(1024, [](dataplane::Snapshot& s) { s.listeners[0].servers = {0}; });
  h.resolve_servers();
  const auto& errors = h.worker().slots().server_connect_errors;
  Session s(h, 44000);
  s.syn();
  h.advance(5001);  // timeout connect: an error, the SYN goes again (single server)
  h.take();
  EXPECT_EQ(errors[0].get(), 1U);
  // A RST from the server to the repeated SYN: a second error.
  s.send_server(s.server().seq(0).ack(s.client_isn + 1).flags(kRst | kAck));
  EXPECT_EQ(errors[0].get(), 2U);
  // Another client gets through, header acknowledged: the count starts again.
  Session ok(h, 44001);
  ok.establish();
  EXPECT_EQ(errors[0].get(), 2U) << "not before the server acknowledged our header";
  ok.send_server(
      ok.server().seq(ok.server_isn + 1).ack(ok.client_isn + 1 + kHeaderLen).flags(kAck));
  EXPECT_EQ(errors[0].get(), 0U);
}

// A check connection through the worker: the health engine's commands come in on the ring,
// the probe's segments go out through the neighbour cache like the flows', the server's
// replies are taken before the "no flow" RST, and the events go back on the ring.
TEST(Health, ACheckConnectionRunsThroughTheWorker) {
  WorkerHarness h;
  h.resolve_servers();
  dataplane::ProbeCommand open;
  open.op = dataplane::ProbeOp::kOpen;
  open.slot = 3;
  open.src_ip = ip(kSourceAddr);
  open.dst_ip = ip("198.19.0.10");
  open.dst_port = rte_cpu_to_be_16(143);
  open.port_id = 1;
  open.next_hop = open.dst_ip;
  h.command(open);
  auto out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  const Decoded syn = out[0].d;
  EXPECT_EQ(out[0].port, 1);
  EXPECT_EQ(syn.flags, kSyn);
  EXPECT_GE(syn.sport, dataplane::kProbeFirstPort);
  EXPECT_EQ(0, std::memcmp(syn.dst_mac.b, kServer1Mac.b, 6));
  expect_valid_tcp(syn);
  auto from_server = [&](std::uint32_t seq, std::uint8_t flags, std::string_view data = {}) {
    return TcpPacket()
        .eth(kServer1Mac, kPortServerMac)
        .from("198.19.0.10", 143)
        .to(kSourceAddr, syn.sport)
        .seq(seq)
        .ack(syn.seq + 1)
        .flags(flags)
        .payload(data)
        .build();
  };
  h.receive(from_server(7000, kSyn | kAck), 1);
  h.receive(from_server(7001, kAck | kPsh, "* OK ready\r\n"), 1);
  out = tcp_only(h.take());
  EXPECT_EQ(out.size(), 2U) << "our handshake ACK and the ACK of the greeting";
  auto ev = h.events();
  ASSERT_EQ(ev.size(), 2U);
  EXPECT_EQ(ev[0].kind, dataplane::ProbeEventKind::kConnected);
  EXPECT_EQ(ev[1].kind, dataplane::ProbeEventKind::kData);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ev[1].data), ev[1].len), "* OK ready\r\n");
  EXPECT_EQ(ev[1].slot, 3);
  EXPECT_EQ(h.worker().counters().dropped(dataplane::DropReason::kNoFlow), 0U);
  // The engine says goodbye politely: LOGOUT and FIN together, never a RST.
  dataplane::ProbeCommand bye;
  bye.op = dataplane::ProbeOp::kSend;
  bye.slot = 3;
  bye.fin = true;
  const std::string logout = "a LOGOUT\r\n";
  bye.len = static_cast<std::uint16_t>(logout.size());
  std::memcpy(bye.data, logout.data(), logout.size());
  h.command(bye);
  out = tcp_only(h.take());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(std::string(out[0].d.payload.begin(), out[0].d.payload.end()), logout);
  EXPECT_NE(out[0].d.flags & kFin, 0);
  EXPECT_EQ(out[0].d.flags & kRst, 0);
}

}  // namespace
}  // namespace postern::test
