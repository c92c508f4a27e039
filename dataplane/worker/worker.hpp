// The worker: one per worker lcore, owning its flow table, timers, neighbour cache, source
// ports and counters, and stringing the stages of the packet walk together over bursts.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "flow/flow_table.hpp"
#include "flow/timer_wheel.hpp"
#include "nat/port_allocator.hpp"
#include "net/frame.hpp"
#include "net/neighbour.hpp"
#include "proxy/proxy_protocol.hpp"
#include "worker/balancer.hpp"
#include "worker/counters.hpp"
#include "worker/settings.hpp"
#include "worker/snapshot.hpp"

namespace postern::dataplane {

inline constexpr std::uint16_t kBurst = 32;
inline constexpr std::uint32_t kMaxPorts = 8;
// How long a closed flow lingers to absorb retransmitted FINs and final ACKs.
inline constexpr std::uint64_t kClosedLingerMs = 2000;
// First retransmission of Postern's header (Linux's TCP_RTO_MIN is 200 ms), doubled each time.
inline constexpr std::uint64_t kHeaderRtoMs = 200;
inline constexpr std::uint8_t kHeaderMaxRetransmits = 7;
// accept-proxy: time allowed for the upstream proxy's header to arrive.
inline constexpr std::uint64_t kAcceptProxyTimeoutMs = 5000;
// Room for the longest upstream header the decoder accepts (proxy::kV2MaxLen).
// How far from the expected sequence number a RST may be and still end the flow (RFC 5961
// leaves the window to the receiver; 1 MiB covers any window a mail session scales to).
inline constexpr std::int32_t kRstWindow = 1 << 20;
inline constexpr std::uint16_t kProxyBufferSize = static_cast<std::uint16_t>(proxy::kV2MaxLen);
inline constexpr std::uint32_t kProxyBuffers = 4096;  // concurrent headers being read, per worker

// Sends a burst on (port, queue); returns how many the device took. Production uses
// rte_eth_tx_burst; unit tests capture frames.
using TxBurstFn = std::uint16_t (*)(void* ctx, std::uint16_t port, std::uint16_t queue,
                                    rte_mbuf** pkts, std::uint16_t n);

struct WorkerDeps {
  std::uint32_t id = 0;
  const Settings* settings = nullptr;
  rte_mempool* pool = nullptr;  // for segments Postern writes
  const std::atomic<const Snapshot*>* snapshot = nullptr;
  TxBurstFn tx = nullptr;
  void* tx_ctx = nullptr;
  std::uint16_t queue = 0;  // this worker's RX/TX queue on every port
};

class alignas(64) Worker {
 public:
  explicit Worker(const WorkerDeps& deps);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Hand-off rings: frames another worker received for a flow this worker owns.
  void set_peers(std::vector<Worker*> peers, rte_ring* inbox);
  rte_ring* inbox() const { return inbox_; }

  // The poll loop (runs until `stop`); `quiescent` is called once per iteration.
  void run(const std::atomic<bool>& stop, void (*quiescent)(void*), void* qctx);

  // Processes one received frame (takes ownership of the mbuf).
  void handle(rte_mbuf* m) noexcept;
  // Handles the frames other workers handed over.
  void drain_inbox() noexcept;
  // Timers, neighbour probes and the TX drain: what the loop does between bursts.
  void housekeeping() noexcept;
  void flush() noexcept;
  void set_now_ms(std::uint64_t now) noexcept { now_ms_ = now; }
  std::uint64_t now_ms() const noexcept { return now_ms_; }
  // Announces every local address with gratuitous ARP.
  void announce() noexcept;

  const WorkerCounters& counters() const { return counters_; }
  const FlowTable& flows() const { return flows_; }
  // Per-listener / per-server active connection counts (for metrics).
  std::uint64_t listener_active(std::uint16_t l) const {
    return l < listener_active_.size() ? listener_active_[l] : 0;
  }
  std::uint64_t server_active(std::uint16_t s) const {
    return s < server_active_.size() ? server_active_[s] : 0;
  }
  std::uint64_t server_total(std::uint16_t s) const {
    return s < server_total_.size() ? server_total_[s] : 0;
  }

 private:
  struct TxQueue {
    std::array<rte_mbuf*, kBurst> pkts{};
    std::uint16_t n = 0;
  };

  void adopt_snapshot() noexcept;
  void handle_arp(rte_mbuf* m, FrameView& v) noexcept;
  void handle_icmp(rte_mbuf* m, FrameView& v) noexcept;
  void handle_tcp(rte_mbuf* m, FrameView& v) noexcept;
  void new_connection(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept;
  void from_client(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void from_server(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void accept_proxy_data(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void on_timer(std::uint32_t fi) noexcept;
  void arm(std::uint32_t fi) noexcept;
  void close_flow(std::uint32_t fi) noexcept;
  void release_flow(std::uint32_t fi) noexcept;
  bool redispatch(std::uint32_t fi) noexcept;

  // Output.
  void send(std::uint16_t port, rte_mbuf* m) noexcept;
  void send_to_server(std::uint32_t fi, rte_mbuf* m) noexcept;
  void send_to_client(const Flow& f, rte_mbuf* m) noexcept;
  void send_header(std::uint32_t fi) noexcept;
  void send_syn(std::uint32_t fi) noexcept;
  void reset_both(std::uint32_t fi) noexcept;
  void reply_rst(rte_mbuf* m, FrameView& v) noexcept;
  void send_arp(std::uint16_t port, std::uint16_t op, std::uint32_t sender_ip,
                const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept;
  rte_mbuf* alloc() noexcept;
  void drop(rte_mbuf* m, DropReason r) noexcept;

  bool is_local_address(std::uint32_t ip) const noexcept;
  const InterfaceSettings* iface_for_port(std::uint16_t port) const noexcept;
  std::uint32_t owner_of_local_port(std::uint16_t port_be) const noexcept;
  void idle_update(Flow& f) noexcept { f.last_seen_ms = now_ms_; }

  WorkerDeps deps_;
  const Settings& settings_;
  const Snapshot* snap_ = nullptr;
  std::uint32_t snap_gen_ = 0;
  std::uint64_t now_ms_ = 0;

  FlowTable flows_;
  TimerWheel timers_;
  NeighbourCache neighbours_;
  Balancer balancer_;
  std::vector<PortAllocator> ports_;  // one per source address
  std::uint32_t next_source_ = 0;
  std::vector<std::uint64_t> listener_active_;
  std::vector<std::uint64_t> server_active_;
  std::vector<std::uint64_t> server_total_;
  std::uint64_t active_ = 0;
  std::array<std::int16_t, RTE_MAX_ETHPORTS> iface_by_port_{};
  std::array<TxQueue, kMaxPorts> tx_{};
  std::vector<std::array<std::uint8_t, kProxyBufferSize>> proxy_bufs_;
  std::vector<std::uint16_t> proxy_free_;
  std::vector<Worker*> peers_;
  rte_ring* inbox_ = nullptr;
  bool from_peer_ = false;  // the frame being handled came through the hand-off ring
  WorkerCounters counters_;
};

}  // namespace postern::dataplane
