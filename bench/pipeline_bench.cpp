// The synthetic pipeline benchmark: replays test fixtures through one worker (no ports: frames
// come from a mempool and what the worker sends is freed) and prints ns/packet and Mpps for
// the splice's hot paths, against a baseline measured in the same run that does only what
// every packet costs anyway (mbuf allocation, frame copy, free).
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "flow/timer_wheel.hpp"
#include "net/checksum.hpp"
#include "support/eal_env.hpp"
#include "support/packet_builder.hpp"
#include "support/worker_harness.hpp"

namespace {

using postern::test::Bytes;
using postern::test::TcpPacket;
using postern::test::WorkerHarness;
namespace pt = postern::test;

constexpr int kRounds = 5;

double now_ns() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

// Best of kRounds of `n` iterations of `body(i)`, in ns per iteration.
template <typename Body>
double measure(int n, Body&& body) {
  double best = 1e30;
  for (int r = 0; r < kRounds; ++r) {
    const double t0 = now_ns();
    for (int i = 0; i < n; ++i) {
      body(i);
    }
    const double per = (now_ns() - t0) / n;
    best = per < best ? per : best;
  }
  return best;
}

rte_mbuf* frame_mbuf(const Bytes& f, std::uint16_t port) {
  rte_mbuf* m = rte_pktmbuf_alloc(pt::test_pool());
  std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())), f.data(), f.size());
  m->port = port;
  return m;
}

void report(const char* name, double ns, double baseline) {
  std::printf("%-44s %8.1f ns/packet %8.2f Mpps   %5.2fx baseline\n", name, ns, 1e3 / ns,
              ns / baseline);
}

}  // namespace

int main() {
  // Keyed server-side ISNs and timestamp clocks, as in production: every segment is moved
  // between the client's space and the server's view (seq or ack, SACK, TSval or TSecr).
  const postern::dataplane::SeqOffsets offsets(std::array<std::uint64_t, 2>{0x5eed, 0xc0ffee});
  WorkerHarness h(1U << 20, nullptr, &offsets);
  h.resolve_servers();
  // One established flow with the header acknowledged, as most packets find it.
  const std::uint32_t cisn = 1000;
  const std::uint32_t sisn = 50000;
  h.receive(TcpPacket()
                .eth(pt::kClientMac, pt::kPortClientMac)
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 143)
                .seq(cisn)
                .flags(pt::kSyn)
                .timestamp(1, 0)
                .sack_permitted()
                .build(),
            0);
  const pt::Decoded syn = h.take().at(0).d;
  const std::uint16_t lport = syn.sport;
  // The server's view of the client's bytes starts at Postern's ISN.
  const std::uint32_t view = syn.seq - cisn;
  const std::uint32_t ts_off = syn.ts_val - 1;
  h.receive(TcpPacket()
                .eth(pt::kServer1Mac, pt::kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", lport)
                .seq(sisn)
                .ack(view + cisn + 1)
                .flags(pt::kSyn | pt::kAck)
                .timestamp(5, 1 + ts_off)
                .sack_permitted()
                .build(),
            1);
  h.receive(TcpPacket()
                .eth(pt::kClientMac, pt::kPortClientMac)
                .from("198.18.0.2", 40000)
                .to("198.18.0.100", 143)
                .seq(cisn + 1)
                .ack(sisn + 1)
                .flags(pt::kAck)
                .timestamp(2, 5)
                .build(),
            0);
  h.receive(TcpPacket()
                .eth(pt::kServer1Mac, pt::kPortServerMac)
                .from("198.19.0.10", 143)
                .to("198.19.0.1", lport)
                .seq(sisn + 1)
                .ack(view + cisn + 1 + 28)
                .flags(pt::kAck)
                .timestamp(6, 2 + ts_off)
                .build(),
            1);
  h.take();
  h.discard_output(true);

  const std::string payload(64, 'x');
  const Bytes to_server = TcpPacket()
                              .eth(pt::kClientMac, pt::kPortClientMac)
                              .from("198.18.0.2", 40000)
                              .to("198.18.0.100", 143)
                              .seq(cisn + 1)
                              .ack(sisn + 1)
                              .flags(pt::kAck | pt::kPsh)
                              .timestamp(3, 6)
                              .payload(payload)
                              .build();
  const Bytes to_client = TcpPacket()
                              .eth(pt::kServer1Mac, pt::kPortServerMac)
                              .from("198.19.0.10", 143)
                              .to("198.19.0.1", lport)
                              .seq(sisn + 1)
                              .ack(view + cisn + 1 + 28 + 64)
                              .flags(pt::kAck | pt::kPsh)
                              .timestamp(7, 3 + ts_off)
                              .payload(payload)
                              .build();
  const Bytes sacked = TcpPacket()
                           .eth(pt::kServer1Mac, pt::kPortServerMac)
                           .from("198.19.0.10", 143)
                           .to("198.19.0.1", lport)
                           .seq(sisn + 1)
                           .ack(view + cisn + 1 + 28)
                           .flags(pt::kAck)
                           .timestamp(7, 3 + ts_off)
                           .sack({{view + cisn + 1 + 28 + 100, view + cisn + 1 + 28 + 200}})
                           .build();

  constexpr int kPackets = 2000000;
  auto& w = h.worker();
  const double base = measure(kPackets, [&](int) { rte_pktmbuf_free(frame_mbuf(to_server, 0)); });
  std::printf("baseline (mbuf alloc + 118-byte copy + free) %8.1f ns/packet\n", base);
  // Frames through the worker, flushed every burst as the loop does.
  auto through_worker = [&](const Bytes& frame, std::uint16_t port) {
    return measure(kPackets, [&](int i) {
      w.handle(frame_mbuf(frame, port));
      if ((i & 31) == 31) {
        w.flush();
      }
    });
  };
  report("client->server data (seq shift, NAT)", through_worker(to_server, 0), base);
  report("server->client data (ack map, NAT)", through_worker(to_client, 1), base);
  report("server->client ACK with SACK block", through_worker(sacked, 1), base);
  // What summing a TCP checksum in software costs (Postern sums SYN, FIN and RST segments and
  // those it answers; data segments are left to their endpoint): a SYN's 40 bytes and a full
  // 1,460-byte segment's 1,492, against the data path above.
  {
    std::vector<std::uint8_t> seg(1492);
    for (std::size_t i = 0; i < seg.size(); ++i) {
      seg[i] = static_cast<std::uint8_t>(i * 31 + 7);
    }
    volatile bool sink = false;
    for (const std::size_t len : {std::size_t{40}, seg.size()}) {
      const double ns = measure(kPackets, [&](int i) {
        sink = postern::dataplane::tcp4_checksum_ok(0x0a000001U + static_cast<std::uint32_t>(i),
                                                    0x0a000002U, seg.data(), len);
      });
      std::printf("TCP checksum summed in software, %4zu bytes  %8.1f ns\n", len, ns);
    }
    (void)sink;
  }

  // New connections: distinct client addresses and ports, a SYN each (flow insert under two
  // keys, server choice, source port, rewrite). The table holds them all.
  constexpr int kSyns = 50000;
  std::vector<Bytes> syns;
  for (int i = 0; i < kSyns; ++i) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    syns.push_back(TcpPacket()
                       .eth(pt::kClientMac, pt::kPortClientMac)
                       .from(addr, static_cast<std::uint16_t>(20000 + (i % 30000)))
                       .to("198.18.0.100", 143)
                       .seq(static_cast<std::uint32_t>(i))
                       .flags(pt::kSyn)
                       .mss(1460)
                       .timestamp(1, 0)
                       .sack_permitted()
                       .build());
  }
  double syn_ns = 1e30;
  for (int r = 0; r < kRounds; ++r) {
    WorkerHarness fresh(1U << 17);
    fresh.resolve_servers();
    fresh.discard_output(true);
    const double t0 = now_ns();
    for (int i = 0; i < kSyns; ++i) {
      fresh.worker().handle(frame_mbuf(syns[static_cast<std::size_t>(i)], 0));
      if ((i & 31) == 31) {
        fresh.worker().flush();
      }
    }
    const double per = (now_ns() - t0) / kSyns;
    syn_ns = per < syn_ns ? per : syn_ns;
  }
  report("new connection (SYN: flow insert x2, WRR)", syn_ns, base);
  std::printf("new connections per second per worker: %.2f M\n", 1e3 / syn_ns);

  // The SYN proxy: the same SYNs answered with cookies (no state), then the ACKs that prove
  // the clients, each opening a flow and sending the server its SYN.
  auto proxy_on = [](postern::dataplane::Snapshot& s) {
    for (auto& l : s.listeners) {
      l.syn_proxy = postern::dataplane::SynProxyMode::kOn;
    }
  };
  std::vector<Bytes> acks;
  {
    WorkerHarness collect(1U << 17, proxy_on);
    collect.resolve_servers();
    collect.take();
    for (int i = 0; i < kSyns; ++i) {
      collect.receive(syns[static_cast<std::size_t>(i)], 0);
      const auto out = collect.take();
      const pt::Decoded syn = pt::decode(syns[static_cast<std::size_t>(i)]);
      acks.push_back(TcpPacket()
                         .eth(pt::kClientMac, pt::kPortClientMac)
                         .from(pt::ip_str(syn.src).c_str(), syn.sport)
                         .to("198.18.0.100", 143)
                         .seq(syn.seq + 1)
                         .ack(out.empty() ? 0 : out[0].d.seq + 1)
                         .flags(pt::kAck)
                         .timestamp(2, out.empty() ? 0 : out[0].d.ts_val)
                         .build());
    }
  }
  double cookie_ns = 1e30;
  double open_ns = 1e30;
  for (int r = 0; r < kRounds; ++r) {
    WorkerHarness fresh(1U << 17, proxy_on);
    fresh.resolve_servers();
    fresh.discard_output(true);
    double t0 = now_ns();
    for (int i = 0; i < kSyns; ++i) {
      fresh.worker().handle(frame_mbuf(syns[static_cast<std::size_t>(i)], 0));
      if ((i & 31) == 31) {
        fresh.worker().flush();
      }
    }
    cookie_ns = std::min(cookie_ns, (now_ns() - t0) / kSyns);
    t0 = now_ns();
    for (int i = 0; i < kSyns; ++i) {
      fresh.worker().handle(frame_mbuf(acks[static_cast<std::size_t>(i)], 0));
      if ((i & 31) == 31) {
        fresh.worker().flush();
      }
    }
    open_ns = std::min(open_ns, (now_ns() - t0) / kSyns);
    if (fresh.worker().counters().syn_cookies_valid != static_cast<std::uint64_t>(kSyns)) {
      std::printf("SYN proxy: only %llu of %d cookies checked\n",
                  static_cast<unsigned long long>(fresh.worker().counters().syn_cookies_valid),
                  kSyns);
    }
  }
  report("SYN proxy: SYN answered with a cookie", cookie_ns, base);
  report("SYN proxy: cookie ACK opens the flow", open_ns, base);
  std::printf("SYN proxy: spoofed SYNs answered per second per worker: %.2f M\n", 1e3 / cookie_ns);
  std::printf("Flow state: %zu bytes per flow, %zu bytes of index per flow\n",
              sizeof(postern::dataplane::Flow), static_cast<std::size_t>(4 * 16));

  // The timer wheel as the poll loop drives it: advance() on every turn, a million flows
  // armed one to two minutes ahead, the clock moving 1 ms every 1,000 turns.
  {
    using postern::dataplane::FlowTable;
    using postern::dataplane::TimerWheel;
    constexpr std::uint32_t kArmed = 1U << 20;
    constexpr int kTurns = 4000000;
    FlowTable table(kArmed);
    TimerWheel wheel(table, 0);
    std::mt19937 rng(1);
    for (std::uint32_t n = 0; n < kArmed; ++n) {
      wheel.schedule(table.allocate(), 60000 + rng() % 60000);
    }
    std::uint64_t fired = 0;
    auto turn = [&](int i) {
      wheel.advance(static_cast<std::uint64_t>(i) / 1000, [&](std::uint32_t) { ++fired; });
    };
    const std::uint64_t visited0 = wheel.visited();
    const double t0 = now_ns();
    for (int i = 0; i < kTurns; ++i) {
      turn(i);
    }
    const double per = (now_ns() - t0) / kTurns;
    std::printf("timer wheel advance() per loop turn (1M armed) %6.1f ns, %.3f entries visited\n",
                per, static_cast<double>(wheel.visited() - visited0) / kTurns);
  }
  return 0;
}
