// A worker wired to captured output: two interfaces (port 0 towards clients, port 1 towards
// servers), a snapshot with listeners and servers, a fake clock. Frames go in as bytes and
// come out as bytes.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <vector>

#include "postern/dataplane/probe.hpp"
#include "support/eal_env.hpp"
#include "support/packet_builder.hpp"
#include "worker/worker.hpp"

namespace postern::test {

inline const Mac kClientMac = mac(0x10);
inline const Mac kRouterMac = mac(0x11);
inline const Mac kPortClientMac = mac(0x01);
inline const Mac kPortServerMac = mac(0x02);
inline const Mac kServer1Mac = mac(0x21);
inline const Mac kServer2Mac = mac(0x22);

struct Sent {
  std::uint16_t port;
  Bytes frame;
  Decoded d;
};

class WorkerHarness {
 public:
  // Listener "imap" on 198.18.0.100:143 with servers 198.19.0.10 and .11 (send-proxy-v2),
  // listener "plain" on :110 without the header; `tweak` may edit the snapshot first.
  // `offsets` gives the server-side ISNs and timestamp clocks; by default none (the server
  // sees the client's own ISN and TSval), so tests read sequence numbers directly.
  explicit WorkerHarness(std::uint32_t flows = 1024, void (*tweak)(dataplane::Snapshot&) = nullptr,
                         const dataplane::SeqOffsets* offsets = nullptr);
  ~WorkerHarness();

  // `ol_flags`: the port's offload verdicts on the frame (RTE_MBUF_F_RX_*), none by default.
  void receive(const Bytes& frame, std::uint16_t port, std::uint64_t ol_flags = 0);
  // A reload: a copy of the snapshot, next generation, edited by `tweak`, published and taken
  // up by the worker (the old one stays alive, as RCU keeps it until the worker moves on).
  void republish(void (*tweak)(dataplane::Snapshot&));
  // Advances the fake clock and runs timers.
  void advance(std::uint64_t ms);
  // Teaches the worker both servers' MACs (as ARP replies would).
  void resolve_servers();
  std::vector<Sent> take();  // everything sent since the last take()
  // Benchmarks: free what the worker sends instead of recording it; count it only.
  void discard_output(bool on) { discard_ = on; }
  std::uint64_t discarded() const { return discarded_; }

  // Health checks: a command through the worker's ring (taken at the next housekeeping), the
  // events it sent back, and the per-server state the health engine would write.
  void command(const dataplane::ProbeCommand& c);
  std::vector<dataplane::ProbeEvent> events();
  dataplane::ServerLive& live(std::uint16_t server) { return live_[server]; }
  // Session log records the worker queued since the last call.
  std::vector<dataplane::SessionRecord> records();

  dataplane::Worker& worker() { return *worker_; }
  dataplane::Snapshot& snapshot() { return *snap_; }
  std::uint64_t now() const { return now_; }

 private:
  static std::uint16_t capture(void* ctx, std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts,
                               std::uint16_t n);

  dataplane::Settings settings_;
  dataplane::SeqOffsets offsets_ = dataplane::SeqOffsets::none();
  std::unique_ptr<dataplane::Snapshot> snap_;
  std::vector<std::unique_ptr<dataplane::Snapshot>> old_snaps_;
  std::unique_ptr<dataplane::ServerLive[]> live_;
  rte_ring* probe_commands_ = nullptr;
  rte_ring* probe_events_ = nullptr;
  rte_ring* session_log_ = nullptr;
  std::atomic<const dataplane::Snapshot*> published_{nullptr};
  std::unique_ptr<dataplane::Worker> worker_;
  std::vector<Sent> sent_;
  bool discard_ = false;
  std::uint64_t discarded_ = 0;
  std::uint64_t now_ = 1000000;
};

}  // namespace postern::test
