// The worker: one per worker lcore, the thin shell around the stages of the packet walk. It
// owns the mbufs, the TX queues, the flow table and timers, the neighbour cache, the source
// ports and the counters; it classifies each frame (net/), asks the splice state machine
// (flow/) what a segment means, rewrites it (nat/) and sends it, and hands frames over to
// the worker that owns their flow.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <vector>

#include "flow/flow_table.hpp"
#include "flow/tcp_splice.hpp"
#include "flow/timer_wheel.hpp"
#include "health/probe.hpp"
#include "nat/port_allocator.hpp"
#include "nat/seq_offsets.hpp"
#include "net/frame.hpp"
#include "net/icmp.hpp"
#include "net/neighbour.hpp"
#include "postern/dataplane/counters.hpp"
#include "postern/dataplane/probe.hpp"
#include "postern/dataplane/settings.hpp"
#include "postern/dataplane/snapshot.hpp"
#include "proxy/upstream_headers.hpp"
#include "synproxy/cookie.hpp"
#include "synproxy/half_open.hpp"
#include "synproxy/recent.hpp"
#include "synproxy/segments.hpp"
#include "worker/balancer.hpp"

namespace postern::dataplane {

inline constexpr std::uint16_t kBurst = 32;
inline constexpr std::uint32_t kMaxPorts = 8;
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
  // Server-side ISNs and timestamp clocks; null: a secret key of the worker's own.
  const SeqOffsets* offsets = nullptr;
  // Health checks (postern/dataplane/probe.hpp): commands in, events out; null: none.
  rte_ring* probe_commands = nullptr;
  rte_ring* probe_events = nullptr;
  // Session log records (postern/dataplane/log_record.hpp) out; null: none kept.
  rte_ring* session_log = nullptr;
  // The SYN cookies' secret, the same for every worker; null: the machine's boot key.
  const SipKey* cookie_key = nullptr;
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

  // What the loop does, step by step (tests and the benchmark drive these directly).
  // Before the first poll: takes the published snapshot and announces every local address.
  void start() noexcept;
  // Takes a newly published snapshot, announcing VIPs it adds.
  void poll_snapshot() noexcept;
  // Processes one received frame (takes ownership of the mbuf).
  void handle(rte_mbuf* m) noexcept;
  // Handles the frames other workers handed over; returns how many.
  unsigned drain_inbox() noexcept;
  // Poll-loop accounting, at the start of each turn (TSC `tsc`): the turn before counts as
  // busy if it found frames, its TSC time goes to busy_cycles, and once a second busy_ppm
  // takes the share of that second spent busy.
  void account_turn(std::uint64_t tsc, bool found_work) noexcept;
  // Timers, neighbour probes and the TX drain: what the loop does between bursts.
  void housekeeping() noexcept;
  void flush() noexcept;
  void set_now_ms(std::uint64_t now) noexcept { now_ms_ = now; }
  std::uint64_t now_ms() const noexcept { return now_ms_; }

  const WorkerCounters& counters() const { return counters_; }
  const WorkerSlots& slots() const { return *slots_; }
  const FlowTable& flows() const { return flows_; }
  const ProbeTable& probes() const { return *probes_; }
  // accept-proxy header buffers not held by a flow.
  std::size_t header_buffers_free() const { return upstream_.free(); }
  // Frames held in the neighbour cache until their next hop resolves (tests count mbufs).
  std::uint32_t frames_waiting() const { return neighbours_.waiting(); }

 private:
  struct TxQueue {
    std::array<rte_mbuf*, kBurst> pkts{};
    std::uint16_t n = 0;
  };

  // Input, in the order of the walk.
  void handle_arp(rte_mbuf* m, FrameView& v) noexcept;
  void handle_icmp(rte_mbuf* m, FrameView& v) noexcept;
  void forward_icmp_error(rte_mbuf* m, FrameView& v, const IcmpQuote& q,
                          const FlowRef& ref) noexcept;
  void ttl_expired(rte_mbuf* m, FrameView& v) noexcept;
  void handle_tcp(rte_mbuf* m, FrameView& v) noexcept;
  // The segment's TCP checksum is wrong, by the port's verdict or by summing it here.
  [[gnu::cold, gnu::noinline]] static bool tcp_checksum_bad(const rte_mbuf* m,
                                                            const FrameView& v) noexcept;
  // The same for a segment without SYN, FIN or RST (handle_tcp sums those first of all).
  static bool unsummed_checksum_bad(const rte_mbuf* m, const FrameView& v) noexcept;
  void new_connection(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept;
  // Admission, a server, a source port and a flow for a client whose SYN is `syn`: the flow,
  // inserted and counted, in kSynSent; kNoIndex when refused (then `m` is answered or freed).
  std::uint32_t open_flow(rte_mbuf* m, FrameView& v, const BindEntry& bind,
                          const splice::Segment& syn) noexcept;
  // Refuses a new connection: counts `r`, then a RST or silence as `defense.refuse` says.
  void refuse(rte_mbuf* m, FrameView& v, DropReason r) noexcept;
  // SYN proxy (worker/syn_proxy.cpp).
  bool syn_proxy_on(const ListenerSlot& l) noexcept;
  bool cookie_may_answer() const noexcept;
  bool cookie_flood() const noexcept;
  void answer_with_cookie(rte_mbuf* m, FrameView& v) noexcept;
  void open_by_cookie(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept;
  void proxy_server_answered(std::uint32_t fi) noexcept;
  void proxy_complete_handshake(std::uint32_t fi) noexcept;
  void enter_half_open(Flow& f) noexcept;
  void leave_half_open(Flow& f) noexcept;
  void syn_proxy_tick() noexcept;
  void resend_synacks() noexcept;
  void from_client(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void from_server(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void read_upstream_header(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept;
  void on_timer(std::uint32_t fi) noexcept;

  // What an Action asks for besides moving the segment.
  void send_header_for(std::uint32_t fi, const splice::Action& a) noexcept;
  void settle(std::uint32_t fi, const splice::Action& a) noexcept;
  bool redispatch(std::uint32_t fi) noexcept;
  void connect_failed(const Flow& f) noexcept;
  void take_probe_commands() noexcept;
  // The probe table's outputs: a frame towards a server, an event for the health engine.
  void probe_frame(std::uint8_t port_id, std::uint32_t next_hop, const std::uint8_t* frame,
                   std::uint16_t len) noexcept;
  bool probe_event(const ProbeEvent& e) noexcept;
  auto probe_out() noexcept {
    return [this](std::uint8_t port_id, std::uint32_t next_hop, const std::uint8_t* frame,
                  std::uint16_t len) { probe_frame(port_id, next_hop, frame, len); };
  }
  auto probe_emit() noexcept {
    return [this](const ProbeEvent& e) { return probe_event(e); };
  }
  void shutdown_step() noexcept;
  void release_flow(std::uint32_t fi) noexcept;
  void log_session(const Flow& f) noexcept;
  void log_refused(const FrameView& v, std::uint16_t listener, EndCause cause) noexcept;
  void put_record(const SessionRecord& r) noexcept;
  void give_back_header_buffer(Flow& f) noexcept;
  void hand_over(rte_mbuf* m, std::uint32_t owner) noexcept;
  // Exhaustion (worker/exhaustion.cpp): the resource checks made before a flow is created
  // for a new connection; true when it was refused (through refuse()).
  bool refused_for_resources(rte_mbuf* m, FrameView& v, std::uint16_t listener,
                             std::uint16_t server) noexcept;
  bool mbuf_reserve_reached() noexcept;

  // Output.
  void send(std::uint16_t port, rte_mbuf* m) noexcept;
  // Sends a frame answering one that arrived on `port` back out of it, from the port's MAC.
  void reply(std::uint16_t port, rte_mbuf* m) noexcept;
  void send_to_server(std::uint32_t fi, rte_mbuf* m) noexcept;
  // Towards a next hop behind `port_id`, its MAC from the neighbour cache (resolved first if
  // need be); `slot` caches the cache entry's place.
  void send_via(std::uint8_t port_id, std::uint32_t next_hop, std::uint32_t& slot,
                rte_mbuf* m) noexcept;
  void send_to_client(const Flow& f, rte_mbuf* m) noexcept;
  void send_header(std::uint32_t fi) noexcept;
  void send_syn(std::uint32_t fi) noexcept;
  void reset_both(std::uint32_t fi) noexcept;
  void reply_rst(rte_mbuf* m, FrameView& v) noexcept;
  void send_arp(std::uint16_t port, std::uint16_t op, std::uint32_t sender_ip,
                const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept;
  void announce(std::uint32_t ip) noexcept;
  void resolve_servers() noexcept;
  rte_mbuf* alloc() noexcept;
  void drop(rte_mbuf* m, DropReason r) noexcept;

  bool is_local_address(std::uint32_t ip) const noexcept;
  const InterfaceSettings* iface_for_port(std::uint16_t port) const noexcept;
  std::uint32_t owner_of_local_port(std::uint16_t port_be) const noexcept;
  bool server_full(const Snapshot& s, std::uint16_t sv) const noexcept;

  WorkerDeps deps_;
  const Settings& settings_;
  const Snapshot* snap_ = nullptr;
  std::uint64_t now_ms_ = 0;

  FlowTable flows_;
  TimerWheel timers_;
  NeighbourCache neighbours_;
  Balancer balancer_;
  IcmpRateLimit icmp_limit_;
  SeqOffsets own_offsets_;
  const SeqOffsets& offsets_;
  std::unique_ptr<ProbeTable> probes_;  // health-check connections
  std::vector<PortAllocator> ports_;    // one per source address
  std::uint32_t next_source_ = 0;
  std::unique_ptr<WorkerSlots> slots_;
  std::uint64_t active_ = 0;
  std::array<std::int16_t, RTE_MAX_ETHPORTS> iface_by_port_{};
  std::array<TxQueue, kMaxPorts> tx_{};
  proxy::UpstreamHeaders upstream_;
  std::vector<Worker*> peers_;
  rte_ring* inbox_ = nullptr;
  bool from_peer_ = false;  // the frame being handled came through the hand-off ring
  bool started_ = false;    // start() ran: later snapshots announce the VIPs they add
  std::bitset<kMaxServers> shutdown_servers_;  // servers whose flows are being reset
  std::uint32_t shutdowns_pending_ = 0;
  std::uint32_t shutdown_cursor_ = 0;
  WorkerCounters counters_;
  // SYN proxy and half-open flows.
  synproxy::Cookies cookies_;
  std::unique_ptr<synproxy::HalfOpenSources> half_open_sources_;
  std::uint32_t half_open_ = 0;        // flows with Flow::half_open
  bool proxy_auto_on_ = false;         // `auto` has switched the SYN proxy on
  std::uint64_t last_cookie_ms_ = 0;   // when the last cookie went out (0: never)
  std::uint64_t proxy_second_ms_ = 0;  // start of the current one-second window
  std::uint32_t cookies_second_ = 0;   // cookies sent in it
  std::uint32_t valid_second_ = 0;     // and cookies that came back
  std::uint32_t calm_seconds_ = 0;     // seconds in a row with few unanswered cookies
  // The last time a second's unanswered cookies reached syn_proxy_above (0: never).
  std::uint64_t flood_seen_ms_ = 0;
  // The cookies sent lately, oldest first: one whose client has not come back a second later is
  // sent again, up to kCookieResends times a second apart (its client's ACK may have been
  // lost, and a mail client waits for the server to speak). While a flood is on, only cookies
  // for known sources (addresses that completed a handshake lately) are kept and sent again:
  // a flood's SYN-ACKs go once, and a returning client still recovers from a lost ACK.
  struct SentCookie {
    FlowKey key;  // as the client's segments arrive
    synproxy::SynAck synack;
    Seq client_isn;
    rte_ether_addr client_mac;
    std::uint8_t port = 0;
    std::uint8_t resends_left = 0;
    std::uint64_t sent_ms = 0;
  };
  static constexpr std::uint32_t kSentCookies = 16384;
  void remember_synack(const SentCookie& sc) noexcept;
  std::unique_ptr<std::array<SentCookie, kSentCookies>> sent_cookies_;
  std::uint64_t sent_head_ = 0;  // oldest entry not yet looked at again
  std::uint64_t sent_tail_ = 0;  // next entry to write
  // Client addresses that completed a handshake lately (only a real host can).
  std::unique_ptr<synproxy::RecentSet> known_sources_;
  // The pool's free count, sampled at most once per millisecond of the worker's clock:
  // rte_mempool_avail_count walks every lcore's cache.
  std::uint64_t mbuf_sample_ms_ = UINT64_MAX;
  bool mbuf_low_ = false;
  std::uint64_t tsc_hz_;
  std::uint64_t turn_tsc_ = 0;     // when the current loop turn began
  std::uint64_t window_tsc_ = 0;   // when the current busy_ppm second began
  std::uint64_t window_busy_ = 0;  // busy_cycles then
};

}  // namespace postern::dataplane
