// The worker loop of DESIGN.md's packet walk: classify (net/), look the flow up under the
// arriving key (flow/), let the splice state machine decide (flow/tcp_splice), rewrite and
// shift (nat/), send. This file owns only mbufs, queues, neighbours and the hand-off.
#include "worker/worker.hpp"

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>

#include "nat/rewrite.hpp"
#include "nat/syn_data.hpp"
#include "net/arp.hpp"
#include "net/checksum.hpp"
#include "net/icmp.hpp"
#include "net/screen.hpp"
#include "net/tcp_options.hpp"
#include "worker/session_log.hpp"

namespace postern::dataplane {
namespace {

static_assert(kNoBuffer == proxy::UpstreamHeaders::kNone, "a flow's 'no header buffer' mark");

constexpr std::uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr std::uint8_t kAck = RTE_TCP_ACK_FLAG;
constexpr std::uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr std::uint8_t kRst = RTE_TCP_RST_FLAG;

// The worker's clock, from a TSC reading the loop has taken: session_clock_ms()'s, the clock
// session log records are stamped with.
std::uint64_t tsc_to_ms(std::uint64_t tsc) noexcept {
  static const std::uint64_t hz = rte_get_tsc_hz();
  return tsc / (hz / 1000);
}

// The state machine reads options on SYNs, and timestamps while the header segment may still
// have to repeat the client's latest ones; established segments skip the walk (the rewrite
// finds the timestamp option on its own, Linux's layout first).
bool wants_options(const Flow& f, const FrameView& v) {
  return (v.tcp->tcp_flags & kSyn) != 0 ||
         (f.has(kFlowTimestamps) &&
          (f.has(kFlowHeaderUnacked) || f.state == FlowState::kSynReceived ||
           f.state == FlowState::kAwaitHeader));
}

}  // namespace

Worker::Worker(const WorkerDeps& deps)
    : deps_(deps),
      settings_(*deps.settings),
      flows_(deps.settings->flows),
      timers_(flows_, 0),
      offsets_(deps.offsets != nullptr ? *deps.offsets : own_offsets_),
      probes_(std::make_unique<ProbeTable>(deps.id, deps.settings->workers, offsets_)),
      slots_(std::make_unique<WorkerSlots>()),
      upstream_(std::min<std::uint32_t>(deps.settings->flows, kProxyBuffers)),
      cookies_(deps.cookie_key != nullptr ? *deps.cookie_key : boot_sip_key()),
      half_open_sources_(std::make_unique<synproxy::HalfOpenSources>(random_sip_key())),
      sent_cookies_(std::make_unique<std::array<SentCookie, kSentCookies>>()),
      known_sources_(std::make_unique<synproxy::RecentSet>(random_sip_key())),
      tsc_hz_(rte_get_tsc_hz()) {
  for (std::size_t i = 0; i < settings_.source_addresses.size(); ++i) {
    ports_.emplace_back(deps.id, settings_.workers);
  }
  iface_by_port_.fill(-1);
  for (std::size_t i = 0; i < settings_.interfaces.size(); ++i) {
    iface_by_port_[settings_.interfaces[i].port_id] = static_cast<std::int16_t>(i);
  }
  poll_snapshot();
}

void Worker::set_peers(std::vector<Worker*> peers, rte_ring* inbox) {
  peers_ = std::move(peers);
  inbox_ = inbox;
}

void Worker::poll_snapshot() noexcept {
  const Snapshot* s = deps_.snapshot->load(std::memory_order_acquire);
  if (s == snap_) {
    return;
  }
  const Snapshot* old = snap_;
  snap_ = s;
  if (s == nullptr || (old != nullptr && s->generation == old->generation)) {
    return;
  }
  // Per-server state follows the snapshot. The control thread keeps every listener's and
  // server's index across reloads (removed ones stay as retired slots while they drain), so
  // the counts of open flows stay with the entity they belong to; the counts are sized for
  // the most slots a snapshot may have, so nothing here allocates.
  balancer_.reset(*s);
  if (started_ && deps_.id == 0) {
    resolve_servers();
    // A reload that adds a VIP announces it, as start() announced the first ones. The old
    // snapshot is still alive: the control thread frees it only after our next quiescent
    // report.
    for (const std::uint32_t v : s->vips) {
      if (old == nullptr || !old->is_vip(v)) {
        announce(v);
      }
    }
    flush();
  }
}

void Worker::start() noexcept {
  poll_snapshot();
  started_ = true;
  if (deps_.id != 0) {
    return;  // one worker speaks for the node
  }
  // Gratuitous ARP (RFC 5227 section 2.3) for every address Postern answers for, so peers'
  // caches point here at once.
  for (const auto& ifc : settings_.interfaces) {
    announce(ifc.ip);
  }
  for (const auto a : settings_.source_addresses) {
    announce(a);
  }
  if (snap_ != nullptr) {
    for (const auto v : snap_->vips) {
      announce(v);
    }
  }
  resolve_servers();
  flush();
}

void Worker::resolve_servers() noexcept {
  // Every server's next hop is asked for now, not when the first SYN towards it waits: a
  // burst of connections at start (or after a reload adds servers) finds the MACs known.
  // The other workers learn the replies from the copies this worker hands them.
  if (snap_ == nullptr) {
    return;
  }
  for (const ServerSlot& sv : snap_->servers) {
    const InterfaceSettings* ifc = iface_for_port(sv.port_id);
    if (!sv.retired && ifc != nullptr && neighbours_.resolve(sv.next_hop, sv.port_id, now_ms_)) {
      send_arp(sv.port_id, RTE_ARP_OP_REQUEST, ifc->ip, rte_ether_addr{}, sv.next_hop);
    }
  }
}

const InterfaceSettings* Worker::iface_for_port(std::uint16_t port) const noexcept {
  const std::int16_t i = iface_by_port_[port];
  return i < 0 ? nullptr : &settings_.interfaces[static_cast<std::size_t>(i)];
}

bool Worker::is_local_address(std::uint32_t ip) const noexcept {
  for (const auto& ifc : settings_.interfaces) {
    if (ifc.ip == ip) {
      return true;
    }
  }
  for (auto a : settings_.source_addresses) {
    if (a == ip) {
      return true;
    }
  }
  return snap_ != nullptr && snap_->is_vip(ip);
}

std::uint32_t Worker::owner_of_local_port(std::uint16_t port_be) const noexcept {
  return rte_be_to_cpu_16(port_be) % settings_.workers;
}

bool Worker::server_full(const Snapshot& s, std::uint16_t sv) const noexcept {
  // maxconn is shared out evenly between workers: no cross-worker counting on the hot path.
  const std::uint32_t mc = s.servers[sv].maxconn;
  return mc != 0 && slots_->server_active[sv].get() * settings_.workers >= mc;
}

// ---------------------------------------------------------------------------------------
// Output

rte_mbuf* Worker::alloc() noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(deps_.pool);
  if (m == nullptr) {
    counters_.drop(DropReason::kMbufExhausted);
  }
  return m;
}

void Worker::drop(rte_mbuf* m, DropReason r) noexcept {
  counters_.drop(r);
  rte_pktmbuf_free(m);
}

void Worker::send(std::uint16_t port, rte_mbuf* m) noexcept {
  TxQueue& q = tx_[port];
  q.pkts[q.n++] = m;
  if (q.n == kBurst) {
    flush();
  }
}

void Worker::flush() noexcept {
  for (std::uint16_t p = 0; p < kMaxPorts; ++p) {
    TxQueue& q = tx_[p];
    if (q.n == 0) {
      continue;
    }
    const std::uint16_t sent = deps_.tx(deps_.tx_ctx, p, deps_.queue, q.pkts.data(), q.n);
    for (std::uint16_t i = 0; i < sent; ++i) {
      counters_.tx_bytes += rte_pktmbuf_pkt_len(q.pkts[i]);
    }
    counters_.tx_packets += sent;
    for (std::uint16_t i = sent; i < q.n; ++i) {
      drop(q.pkts[i], DropReason::kTxFull);
    }
    q.n = 0;
  }
}

void Worker::send_to_client(const Flow& f, rte_mbuf* m) noexcept {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  eth->src_addr = iface_for_port(f.client_port_id)->mac;
  eth->dst_addr = f.client_mac;
  send(f.client_port_id, m);
}

void Worker::send_to_server(std::uint32_t fi, rte_mbuf* m) noexcept {
  Flow& f = flows_.at(fi);
  send_via(f.server_port_id, f.next_hop, f.neighbour, m);
}

void Worker::send_via(std::uint8_t port_id, std::uint32_t next_hop, std::uint32_t& slot,
                      rte_mbuf* m) noexcept {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  const InterfaceSettings* ifc = iface_for_port(port_id);
  eth->src_addr = ifc->mac;
  // The MAC is read from the neighbour entry on every send, never copied: a server or gateway
  // whose MAC changes is followed as soon as its ARP is seen. `slot` caches where the entry is.
  const rte_ether_addr* mac = neighbours_.mac_at(slot, next_hop);
  if (mac == nullptr) {
    slot = neighbours_.slot_of(next_hop);
    mac = neighbours_.mac_at(slot, next_hop);
  }
  if (mac == nullptr) {
    switch (neighbours_.enqueue(next_hop, port_id, m, now_ms_)) {
      case NeighbourCache::QueueResult::kQueuedProbe:
        send_arp(port_id, RTE_ARP_OP_REQUEST, ifc->ip, rte_ether_addr{}, next_hop);
        return;
      case NeighbourCache::QueueResult::kQueued:
        return;
      case NeighbourCache::QueueResult::kFull:
        drop(m, DropReason::kNeighbourQueueFull);
        return;
    }
  }
  eth->dst_addr = *mac;
  send(port_id, m);
}

void Worker::send_arp(std::uint16_t port, std::uint16_t op, std::uint32_t sender_ip,
                      const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept {
  const InterfaceSettings* ifc = iface_for_port(port);
  rte_mbuf* m = alloc();
  if (ifc == nullptr || m == nullptr) {
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint16_t len = build_arp(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m),
                                      op, ifc->mac, sender_ip, target_mac, target_ip);
  rte_pktmbuf_append(m, len);
  if (op == RTE_ARP_OP_REQUEST) {
    ++(sender_ip == target_ip ? counters_.arp_announcements_sent : counters_.arp_requests_sent);
  } else {
    ++counters_.arp_replies_sent;
  }
  send(port, m);
}

void Worker::announce(std::uint32_t ip) noexcept {
  // On the interfaces whose subnet holds the address, or on every interface when none does
  // (a VIP outside every subnet).
  bool any = false;
  for (const auto& ifc : settings_.interfaces) {
    if (ifc.on_link(ip)) {
      send_arp(ifc.port_id, RTE_ARP_OP_REQUEST, ip, rte_ether_addr{}, ip);
      any = true;
    }
  }
  if (!any) {
    for (const auto& ifc : settings_.interfaces) {
      send_arp(ifc.port_id, RTE_ARP_OP_REQUEST, ip, rte_ether_addr{}, ip);
    }
  }
}

void Worker::send_header(std::uint32_t fi) noexcept {
  const Flow& f = flows_.at(fi);
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;  // the retransmission timer tries again
  }
  // The MACs are filled in by send_to_server.
  const std::uint16_t len = build_header_segment(rte_pktmbuf_mtod(m, std::uint8_t*),
                                                 rte_pktmbuf_tailroom(m), f, L2Addresses{});
  rte_pktmbuf_append(m, len);
  send_to_server(fi, m);
}

void Worker::send_syn(std::uint32_t fi) noexcept {
  const Flow& f = flows_.at(fi);
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;
  }
  const std::uint16_t len =
      build_syn(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m), f, L2Addresses{});
  rte_pktmbuf_append(m, len);
  send_to_server(fi, m);
}

void Worker::reply_rst(rte_mbuf* m, FrameView& v) noexcept {
  if ((v.tcp->tcp_flags & kRst) != 0) {
    rte_pktmbuf_free(m);  // never answer a RST (RFC 9293 section 3.10.7.1)
    return;
  }
  std::uint8_t frame[128];
  const std::uint16_t len = build_rst_reply(frame, sizeof frame, v);
  const std::uint16_t port = m->port;
  rte_pktmbuf_reset(m);
  std::memcpy(rte_pktmbuf_append(m, len), frame, len);
  ++counters_.rst_sent;
  reply(port, m);
}

void Worker::reply(std::uint16_t port, rte_mbuf* m) noexcept {
  // From the port's own MAC, whatever address the frame answered was sent to (a broadcast
  // one, or another host's that a switch flooded).
  if (const InterfaceSettings* ifc = iface_for_port(port)) {
    rte_pktmbuf_mtod(m, rte_ether_hdr*)->src_addr = ifc->mac;
  }
  send(port, m);
}

void Worker::reset_both(std::uint32_t fi) noexcept {
  const Flow& f = flows_.at(fi);
  // Each RST carries the sequence number its receiver last acknowledged, its RCV.NXT, so it
  // lands inside the window (RFC 9293 3.10.7.4, RFC 5961 3.2). The client's also ACKs its
  // SYN, which a client still in SYN-SENT requires before it accepts a RST (3.10.7.3); in
  // synchronized states the ACK field of a RST is not examined.
  const bool server_spoke = f.has(kFlowSynAcked);
  // A client the SYN proxy let in is established from its own point of view, in the space
  // the cookie gave it: before the server answered it expects the cookie + 1.
  Seq client_rcv_nxt = server_spoke ? f.client_acked : Seq(0);
  if (f.has(kFlowSynProxy)) {
    client_rcv_nxt =
        (server_spoke ? f.client_acked : Seq(1)) + static_cast<std::int32_t>(f.srv_off);
  }
  if (rte_mbuf* m = alloc()) {
    const std::uint16_t len = build_rst(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m),
                                        L2Addresses{}, f.vip_ip, f.vip_port, f.client_ip,
                                        f.client_port, client_rcv_nxt, f.client_isn + 1, true);
    rte_pktmbuf_append(m, len);
    ++counters_.rst_sent;
    send_to_client(f, m);
  }
  if (server_spoke) {
    if (rte_mbuf* m = alloc()) {
      const std::uint16_t len = build_rst(
          rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m), L2Addresses{}, f.local_ip,
          f.local_port, f.server_ip, f.server_port, f.server_acked, Seq(0), false);
      rte_pktmbuf_append(m, len);
      ++counters_.rst_sent;
      send_to_server(fi, m);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Input

void Worker::handle(rte_mbuf* m) noexcept {
  if (!from_peer_) {  // a handed-over frame was counted by the worker that received it
    ++counters_.rx_packets;
    counters_.rx_bytes += rte_pktmbuf_pkt_len(m);
  }
  if (m->nb_segs != 1) {
    drop(m, DropReason::kBadIpHeader);  // jumbo chains are not spliced
    return;
  }
  FrameView v;
  DropReason reason = DropReason::kCount;
  switch (parse_frame(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_data_len(m), v, reason)) {
    case FrameKind::kTcp4:
      handle_tcp(m, v);
      return;
    case FrameKind::kArp:
      handle_arp(m, v);
      return;
    case FrameKind::kIcmp4:
      handle_icmp(m, v);
      return;
    case FrameKind::kDrop:
      drop(m, reason);
      return;
  }
}

void Worker::hand_over(rte_mbuf* m, std::uint32_t owner) noexcept {
  if (rte_ring_enqueue(peers_[owner]->inbox_, m) != 0) {
    drop(m, DropReason::kHandoffFull);
    return;
  }
  ++counters_.handoff_sent;
}

void Worker::handle_arp(rte_mbuf* m, FrameView& v) noexcept {
  const rte_arp_ipv4& a = v.arp->arp_data;
  const std::uint16_t op = rte_be_to_cpu_16(v.arp->arp_opcode);
  const std::uint16_t port = m->port;
  const bool for_us = is_local_address(a.arp_tip);
  // RFC 826: update a known sender; add it only when the packet is addressed to us.
  auto flush_pending = [this](std::uint16_t p, rte_mbuf* pm, const rte_ether_addr& mac) {
    rte_pktmbuf_mtod(pm, rte_ether_hdr*)->dst_addr = mac;
    send(p, pm);
  };
  if (from_peer_) {
    // A copy another worker already answered: only learn from it.
    if (a.arp_sip != 0) {
      neighbours_.learn(a.arp_sip, a.arp_sha, static_cast<std::uint8_t>(port), for_us, now_ms_,
                        flush_pending);
    }
    rte_pktmbuf_free(m);
    return;
  }
  if (a.arp_sip != 0 && !rte_is_zero_ether_addr(&a.arp_sha)) {
    neighbours_.learn(a.arp_sip, a.arp_sha, static_cast<std::uint8_t>(port), for_us, now_ms_,
                      flush_pending);
    // Other workers keep their own caches: give them a copy of every ARP we learn from.
    for (Worker* peer : peers_) {
      if (peer != this && peer->inbox_ != nullptr) {
        rte_mbuf_refcnt_update(m, 1);
        if (rte_ring_enqueue(peer->inbox_, m) != 0) {
          rte_mbuf_refcnt_update(m, -1);
          counters_.drop(DropReason::kHandoffFull);
        }
      }
    }
  }
  if (op == RTE_ARP_OP_REQUEST && for_us && a.arp_sip != a.arp_tip) {
    const std::uint32_t tip = a.arp_tip;
    const std::uint32_t sip = a.arp_sip;
    const rte_ether_addr sha = a.arp_sha;
    rte_pktmbuf_free(m);
    send_arp(port, RTE_ARP_OP_REPLY, tip, sha, sip);
    return;
  }
  rte_pktmbuf_free(m);
}

void Worker::handle_icmp(rte_mbuf* m, FrameView& v) noexcept {
  // Neither answered nor believed: an echo reply to a martian would go to a whole segment,
  // and an error "from" one of Postern's own addresses (or the destination itself) is forged.
  if (martian_source(v)) {
    drop(m, DropReason::kMartianSource);
    return;
  }
  if (v.ip->src_addr == v.ip->dst_addr || is_local_address(v.ip->src_addr)) {
    drop(m, DropReason::kLand);
    return;
  }
  if (v.icmp->icmp_type == kIcmpEchoRequest) {
    if (!is_local_address(v.ip->dst_addr) || !icmp_limit_.allow(now_ms_)) {
      drop(m, DropReason::kIcmpIgnored);
      return;
    }
    const std::uint16_t len = make_echo_reply(v);
    const InterfaceSettings* ifc = iface_for_port(m->port);
    if (len == 0 || ifc == nullptr) {
      drop(m, DropReason::kIcmpIgnored);
      return;
    }
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - len));
    ++counters_.icmp_echo_replies;
    reply(m->port, m);
    return;
  }
  IcmpQuote q;
  if (!is_local_address(v.ip->dst_addr) || !parse_icmp_error(v, q)) {
    drop(m, DropReason::kIcmpIgnored);
    return;
  }
  // An error about a packet Postern sent on one side: the quote, read backwards, is the key
  // of a segment that arrives on that side.
  const FlowRef ref = flows_.lookup(FlowKey{q.dst, q.src, q.dport, q.sport});
  if (!ref.found() && rte_be_to_cpu_16(q.sport) >= kProbeFirstPort &&
      probes_->icmp_error(q, now_ms_, probe_emit())) {
    rte_pktmbuf_free(m);  // about a health check's SYN
    return;
  }
  if (!ref.found()) {
    if (settings_.workers > 1 && !from_peer_ && snap_ != nullptr && !snap_->is_vip(q.src)) {
      // About a server-side packet: the worker that owns the source port owns the flow.
      const std::uint32_t owner = owner_of_local_port(q.sport);
      if (owner != deps_.id && owner < peers_.size() && peers_[owner]->inbox_ != nullptr) {
        hand_over(m, owner);
        return;
      }
    }
    drop(m, DropReason::kIcmpNoFlow);
    return;
  }
  forward_icmp_error(m, v, q, ref);
}

// DESIGN.md step 8: the error goes to the other end as if it quoted that end's own packet,
// addresses and sequence numbers translated like the flow's segments, so path MTU discovery
// and unreachables work through Postern.
void Worker::forward_icmp_error(rte_mbuf* m, FrameView& v, const IcmpQuote& q,
                                const FlowRef& ref) noexcept {
  const std::uint32_t fi = ref.index;
  const Flow& f = flows_.at(fi);
  IcmpTranslation t;
  rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  ++counters_.icmp_errors_forwarded;
  if (ref.side == FlowSide::kClient) {
    // It quotes a server -> client segment, whose seq is the server's own and whose ack is
    // in the client's space.
    t = {f.local_ip,    f.server_ip,  f.server_ip, f.local_ip,
         f.server_port, f.local_port, 0,           f.seq_shift()};
    if (f.has(kFlowSynProxy)) {
      t.seq_shift = -static_cast<std::int32_t>(f.srv_off);
    }
    translate_icmp_error(v, q, t);
    send_to_server(fi, m);
  } else {
    // It quotes a client -> server segment as the server saw it.
    t = {f.vip_ip,      f.client_ip, f.client_ip,    f.vip_ip,
         f.client_port, f.vip_port,  -f.seq_shift(), 0};
    if (f.has(kFlowSynProxy)) {
      t.ack_shift = static_cast<std::int32_t>(f.srv_off);
    }
    translate_icmp_error(v, q, t);
    send_to_client(f, m);
  }
}

// A segment that would leave with TTL 0: dropped, and answered as a router answers (RFC 1812
// 4.3.2.3), from the address of the interface it came in on, within the ICMP rate limit.
void Worker::ttl_expired(rte_mbuf* m, FrameView& v) noexcept {
  counters_.drop(DropReason::kTtlExpired);
  const InterfaceSettings* ifc = iface_for_port(m->port);
  if (ifc == nullptr || !icmp_limit_.allow(now_ms_)) {
    rte_pktmbuf_free(m);
    return;
  }
  std::uint8_t frame[640];
  const std::uint16_t len = build_icmp_error(frame, sizeof frame, ifc->mac, v.eth->src_addr,
                                             ifc->ip, kIcmpTimeExceeded, kIcmpCodeTtlExceeded, v);
  if (len == 0) {
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint16_t port = m->port;
  rte_pktmbuf_reset(m);
  std::memcpy(rte_pktmbuf_append(m, len), frame, len);
  ++counters_.icmp_errors_sent;
  send(port, m);
}

bool Worker::tcp_checksum_bad(const rte_mbuf* m, const FrameView& v) noexcept {
  switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:  // not filled in, but the data is intact
      return false;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      return true;
    default:
      break;  // the port did not check it
  }
  return !tcp4_checksum_ok(v.ip->src_addr, v.ip->dst_addr, v.tcp, v.l4_len);
}

bool Worker::unsummed_checksum_bad(const rte_mbuf* m, const FrameView& v) noexcept {
  return (v.tcp->tcp_flags & (kSyn | kFin | kRst)) == 0 && tcp_checksum_bad(m, v);
}

void Worker::handle_tcp(rte_mbuf* m, FrameView& v) noexcept {
  // Ethernet padding would otherwise travel on as TCP payload after a rewrite.
  if (rte_pktmbuf_data_len(m) > v.len) {
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  }
  if (const DropReason r = screen_tcp(v, [this](std::uint32_t a) { return is_local_address(a); });
      r != DropReason::kCount) {
    drop(m, r);  // martians, land attacks, malformed SYN options: never answered
    return;
  }
  // A SYN, FIN or RST changes what Postern keeps, and a corrupted one would do it although its
  // endpoint drops it: such segments are summed here. Others go on with their checksum as it
  // is (the rewrite patches it incrementally, so an error stays one) for the endpoint to judge.
  if ((v.tcp->tcp_flags & (kSyn | kFin | kRst)) != 0 && tcp_checksum_bad(m, v)) [[unlikely]] {
    drop(m, DropReason::kBadTcpChecksum);
    return;
  }
  if (v.ip->time_to_live <= 1) {
    ttl_expired(m, v);
    return;
  }
  const FlowKey key{v.ip->src_addr, v.ip->dst_addr, v.tcp->src_port, v.tcp->dst_port};
  const FlowRef ref = flows_.lookup(key);
  if (ref.found()) {
    if (ref.side == FlowSide::kClient) {
      from_client(m, v, ref.index);
    } else {
      from_server(m, v, ref.index);
    }
    return;
  }
  // A server's reply for a port another worker owns: hand it over.
  if (settings_.workers > 1 && snap_ != nullptr && !snap_->is_vip(v.ip->dst_addr)) {
    const std::uint32_t owner = owner_of_local_port(v.tcp->dst_port);
    if (owner != deps_.id && owner < peers_.size() && peers_[owner]->inbox_ != nullptr) {
      hand_over(m, owner);
      return;
    }
  }
  if (snap_ == nullptr || !snap_->is_vip(v.ip->dst_addr)) {
    if (!is_local_address(v.ip->dst_addr)) {
      drop(m, DropReason::kNotForUs);
      return;
    }
    if (rte_be_to_cpu_16(v.tcp->dst_port) >= kProbeFirstPort &&
        probes_->segment(v, now_ms_, probe_out(), probe_emit())) {
      rte_pktmbuf_free(m);  // a health check's segment, taken by the probe table
      return;
    }
    // A server still talking on a connection Postern has forgotten: reset it, as a host
    // would (RFC 9293 3.10.7.1), so it does not retransmit until its own timeout.
    if (unsummed_checksum_bad(m, v)) {
      drop(m, DropReason::kBadTcpChecksum);
      return;
    }
    counters_.drop(DropReason::kNoFlow);
    reply_rst(m, v);
    return;
  }
  const std::uint8_t fl = v.tcp->tcp_flags;
  if ((fl & (kSyn | kAck | kRst | kFin)) == kSyn) {
    const BindEntry* bind = snap_->find_bind(v.ip->dst_addr, rte_be_to_cpu_16(v.tcp->dst_port));
    if (bind == nullptr) {
      counters_.drop(DropReason::kNoListener);
      reply_rst(m, v);
      return;
    }
    if (syn_proxy_on(snap_->listeners[bind->listener])) {
      answer_with_cookie(m, v);
      return;
    }
    new_connection(m, v, *bind);
    return;
  }
  // Nothing below is answered before the checksum is known good: a host drops a corrupted
  // segment without a word, and a corrupted cookie ACK would otherwise cost its client a RST.
  if (unsummed_checksum_bad(m, v)) {
    drop(m, DropReason::kBadTcpChecksum);
    return;
  }
  // The ACK that completes a handshake the SYN proxy answered.
  if ((fl & (kSyn | kAck | kRst)) == kAck && cookie_may_answer()) {
    const BindEntry* bind = snap_->find_bind(v.ip->dst_addr, rte_be_to_cpu_16(v.tcp->dst_port));
    if (bind != nullptr) {
      open_by_cookie(m, v, *bind);
      return;
    }
  }
  // A segment for a connection we do not know: answer as a host would.
  counters_.drop(DropReason::kNoFlow);
  reply_rst(m, v);
}

void Worker::new_connection(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept {
  counters_.syn_data_stripped += strip_syn_data(m, v);  // TCP Fast Open: data after our header
  const Defense& d = snap_->defense;
  if (d.half_open_per_source != 0 &&
      half_open_sources_->count(v.ip->src_addr) >= d.half_open_per_source) {
    refuse(m, v, DropReason::kHalfOpenPerSource);
    return;
  }
  const splice::Segment syn = splice::read_segment(v, true);
  const std::uint32_t fi = open_flow(m, v, bind, syn);
  if (fi == kNoIndex) {
    return;
  }
  Flow& f = flows_.at(fi);
  enter_half_open(f);
  rewrite_to_server(v, f);
  send_to_server(fi, m);
  timers_.schedule(fi, splice::deadline(f));
}

void Worker::refuse(rte_mbuf* m, FrameView& v, DropReason r) noexcept {
  counters_.drop(r);
  if (snap_ != nullptr && snap_->defense.refuse == RefuseMode::kDrop) {
    rte_pktmbuf_free(m);
    return;
  }
  reply_rst(m, v);
}

std::uint32_t Worker::open_flow(rte_mbuf* m, FrameView& v, const BindEntry& bind,
                                const splice::Segment& syn) noexcept {
  const Snapshot& s = *snap_;
  const ListenerSlot& l = s.listeners[bind.listener];
  const std::uint32_t workers = settings_.workers;
  if ((s.global_maxconn != 0 && active_ * workers >= s.global_maxconn) ||
      (l.maxconn != 0 && slots_->listener_active[bind.listener].get() * workers >= l.maxconn)) {
    refuse(m, v, DropReason::kMaxconn);
    return kNoIndex;
  }
  const std::uint16_t server = balancer_.pick(s, bind.listener, kNoServer,
                                              [&](std::uint16_t sv) { return server_full(s, sv); });
  if (server == kNoServer) {
    log_refused(v, bind.listener, EndCause::kServerAbort);
    refuse(m, v, DropReason::kNoServer);
    return kNoIndex;
  }
  if (refused_for_resources(m, v, bind.listener, server)) {
    return kNoIndex;
  }
  std::uint32_t src_index = 0;
  std::uint16_t lport = 0;
  for (std::size_t tries = 0; tries < ports_.size() && lport == 0; ++tries) {
    src_index = next_source_;
    next_source_ = (next_source_ + 1) % ports_.size();
    lport = ports_[src_index].take();
  }
  if (lport == 0) {
    log_refused(v, bind.listener, EndCause::kResource);
    refuse(m, v, DropReason::kPortsExhausted);
    return kNoIndex;
  }
  const std::uint32_t fi = flows_.allocate();
  if (fi == kNoIndex) {
    ports_[src_index].give_back(lport);
    log_refused(v, bind.listener, EndCause::kResource);
    refuse(m, v, DropReason::kFlowTableFull);
    return kNoIndex;
  }
  Flow& f = flows_.at(fi);
  const ServerSlot& sv = s.servers[server];
  f.client_ip = v.ip->src_addr;
  f.vip_ip = v.ip->dst_addr;
  f.client_port = v.tcp->src_port;
  f.vip_port = v.tcp->dst_port;
  std::memcpy(f.origin_src, &f.client_ip, 4);
  std::memcpy(f.origin_dst, &f.vip_ip, 4);
  f.origin_src_port = f.client_port;
  f.origin_dst_port = f.vip_port;
  f.local_ip = settings_.source_addresses[src_index];
  f.local_port = rte_cpu_to_be_16(lport);
  f.server_ip = sv.ip;
  f.server_port = sv.port;
  f.next_hop = sv.next_hop;
  f.listener = bind.listener;
  f.server = server;
  f.client_port_id = static_cast<std::uint8_t>(m->port);
  f.server_port_id = sv.port_id;
  f.client_mac = v.eth->src_addr;
  f.retries_left = l.retries;
  f.retries_max = l.retries;
  f.accept_ms = now_ms_;
  f.connect_ms = l.timeout_connect_ms;
  f.idle_ms = std::max(l.timeout_client_ms, l.timeout_server_ms);
  f.fin_ms = l.timeout_fin_ms;
  if (sv.send_proxy) {
    f.set(kFlowSendProxy);
    f.hdr_len = flow_header_length(f);
  }
  if (bind.accept_proxy) {
    f.set(kFlowAcceptProxy);
  }
  splice::start(f, syn, now_ms_);
  if (l.timeout_server_ms < l.timeout_client_ms) {
    f.set(kFlowServerIdleFirst);
  }
  offsets_.assign(f, syn.has_ts, syn.ts_val, now_ms_);
  if (!flows_.insert(f.client_key(), fi, FlowSide::kClient) ||
      !flows_.insert(f.server_key(), fi, FlowSide::kServer)) {
    // Only a reused local port could collide; refuse rather than corrupt another flow.
    flows_.release(fi);
    ports_[src_index].give_back(lport);
    refuse(m, v, DropReason::kPortsExhausted);
    return kNoIndex;
  }
  ++active_;
  slots_->listener_active[f.listener].add(1);
  slots_->server_active[server].add(1);
  slots_->server_total[server].add(1);
  slots_->server_attempts[server].add(1);
  slots_->listener_total[f.listener].add(1);
  ++counters_.flows_created;
  return fi;
}

void Worker::send_header_for(std::uint32_t fi, const splice::Action& a) noexcept {
  if (!a.has(splice::kActSendHeader)) {
    return;
  }
  send_header(fi);
  if (a.has(splice::kActHeaderResend)) {
    ++counters_.proxy_retransmits;
  } else {
    ++counters_.proxy_headers_sent;
  }
}

void Worker::settle(std::uint32_t fi, const splice::Action& a) noexcept {
  Flow& f = flows_.at(fi);
  if (a.has(splice::kActServerOk)) {
    slots_->server_connect_errors[f.server].set(0);
  }
  if (a.has(splice::kActExpired)) {
    ++counters_.flows_expired;
  }
  if (a.has(splice::kActResetBoth)) {
    reset_both(fi);
  }
  if (a.has(splice::kActClose)) {
    // A closed flow only lingers for stragglers: it no longer counts towards maxconn, and
    // its header buffer goes back at once.
    give_back_header_buffer(f);
    leave_half_open(f);
    slots_->listener_active[f.listener].add(-1);
    slots_->server_active[f.server].add(-1);
    --active_;
    ++counters_.flows_closed;
    log_session(f);
  }
  if (a.has(splice::kActArm) || a.has(splice::kActClose)) {
    timers_.schedule(fi, splice::deadline(f));
  }
}

void Worker::from_client(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  // The client's latest hop: a gateway that changes its MAC is followed.
  f.client_mac = v.eth->src_addr;
  // What the client had acknowledged of the server's bytes: bytes out count what it takes.
  const bool out_counting = f.has(kFlowSynAcked);
  const Seq out_was = f.client_acked;
  const bool out_fin_was = f.has(kFlowServerFinAcked);
  counters_.syn_data_stripped += strip_syn_data(m, v);  // a retransmitted SYN, as on the first
  splice::Segment seg = splice::read_segment(v, wants_options(f, v));
  if (f.has(kFlowSynProxy)) {
    if (f.state == FlowState::kSynSent && !seg.rst()) {
      // The server has not answered yet: nothing can go on; the client sends it again.
      drop(m, DropReason::kSynProxyPending);
      return;
    }
    // Into the server's own spaces, which the state machine keeps.
    seg.ack = seg.ack - static_cast<std::int32_t>(f.srv_off);
    seg.ts_ecr -= f.tsp_off;
  }
  const splice::Action a = splice::on_client(f, seg, now_ms_);
  if (f.half_open && f.state != FlowState::kSynSent && f.state != FlowState::kSynReceived) {
    if (f.state != FlowState::kClosed) {
      known_sources_->add(f.client_ip);  // its handshake ACK: a real host
    }
    leave_half_open(f);  // the client completed its handshake (or the flow ended)
  }
  switch (a.verdict) {
    case splice::Verdict::kRestart:
      release_flow(fi);
      handle_tcp(m, v);
      return;
    case splice::Verdict::kDrop:
      drop(m, a.reason);
      return;
    case splice::Verdict::kReadHeader:
      settle(fi, a);
      read_upstream_header(m, v, fi);
      return;
    case splice::Verdict::kForward:
    case splice::Verdict::kNone:
      break;
  }
  // Our header goes before the segment that completed the handshake.
  send_header_for(fi, a);
  if (a.trim != 0) {
    const std::uint8_t* before = v.data;
    cut_payload_front(v, a.trim);
    rte_pktmbuf_adj(m, static_cast<std::uint16_t>(v.data - before));
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  }
  if (f.has(kFlowSynAcked)) {
    const Seq first = f.server_isn + 1;
    slots_->server_traffic[f.server].bytes_out.add(
        static_cast<std::int64_t>(newly_acked(out_counting ? out_was : first, f.client_acked, first,
                                              !out_fin_was && f.has(kFlowServerFinAcked))));
  }
  rewrite_to_server(v, f);
  send_to_server(fi, m);
  settle(fi, a);
}

void Worker::from_server(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  // In SYN-SENT last_seen_ms is when our SYN went out (client retransmissions leave it).
  const bool syn_sent = f.state == FlowState::kSynSent;
  const std::uint64_t syn_ms = f.last_seen_ms;
  // What the server had acknowledged of the client's bytes: bytes in count what it takes.
  const bool in_counting = f.has(kFlowHeaderSent);
  const Seq in_was = f.server_acked;
  const bool in_fin_was = f.has(kFlowClientFinAcked);
  const bool proxied = f.has(kFlowSynProxy);
  if (proxied && !syn_sent && (v.tcp->tcp_flags & (kSyn | kRst)) == kSyn) {
    // The server sends its SYN-ACK again: our handshake ACK was lost. The client never sees
    // the server's SYN-ACKs; Postern answers for it.
    rte_pktmbuf_free(m);
    proxy_complete_handshake(fi);
    return;
  }
  const splice::Action a =
      splice::on_server(f, splice::read_segment(v, wants_options(f, v)), now_ms_);
  if (a.verdict == splice::Verdict::kDrop) {
    drop(m, a.reason);
    return;
  }
  if (syn_sent && f.state == FlowState::kSynReceived) {
    // The SYN-ACK: HAProxy's connect time (Tc), summed for the average.
    slots_->server_connects[f.server].add(1);
    slots_->server_connect_ms[f.server].add(static_cast<std::int64_t>(now_ms_ - syn_ms));
    if (proxied) {
      // The client finished its handshake long ago: finish the server's for it.
      rte_pktmbuf_free(m);
      proxy_server_answered(fi);
      settle(fi, a);
      proxy_complete_handshake(fi);
      return;
    }
    if (f.half_open) {
      f.deadline_ms = now_ms_ + snap_->defense.half_open_timeout_ms;
    }
  }
  if (a.has(splice::kActConnectFailure)) {
    connect_failed(f);
  }
  // Refused by this server: the next one, if allowed, and the client never hears of it.
  if (a.has(splice::kActRedispatch) && redispatch(fi)) {
    rte_pktmbuf_free(m);
    return;
  }
  if (proxied && syn_sent && a.has(splice::kActClose)) {
    // Refused, and no other server: the client, established in the cookie's space, gets a
    // RST it accepts instead of the server's, which answers a SYN it never sent.
    rte_pktmbuf_free(m);
    reset_both(fi);
    settle(fi, a);
    return;
  }
  send_header_for(fi, a);
  if (f.has(kFlowHeaderSent)) {
    const Seq first = f.header_end();
    slots_->server_traffic[f.server].bytes_in.add(
        static_cast<std::int64_t>(newly_acked(in_counting ? in_was : first, f.server_acked, first,
                                              !in_fin_was && f.has(kFlowClientFinAcked))));
  }
  rewrite_to_client(v, f);
  send_to_client(f, m);
  settle(fi, a);
}

void Worker::give_back_header_buffer(Flow& f) noexcept {
  upstream_.release(f.proxy_buf);
}

// accept-proxy: the client is an upstream proxy whose own PROXY header comes first. Its bytes
// are collected in order (proxy/upstream_headers) until the decoder has a whole header; the
// server never sees them. Then our own header goes out and the rest of the segment follows.
void Worker::read_upstream_header(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  const bool fin = (v.tcp->tcp_flags & kFin) != 0;
  const Seq expected = f.client_isn + 1 + static_cast<std::int32_t>(f.proxy_have);
  const std::int32_t offset = expected - Seq(rte_be_to_cpu_32(v.tcp->sent_seq));
  if (offset < 0 || offset > v.payload_len || (offset == v.payload_len && !fin)) {
    rte_pktmbuf_free(m);  // a gap or a pure retransmission: the client sends again
    return;
  }
  using Status = proxy::UpstreamHeaders::Status;
  // A FIN where the header should go on: it can never complete.
  const proxy::UpstreamHeaders::Result r =
      offset == v.payload_len ? proxy::UpstreamHeaders::Result{Status::kMalformed, {}, 0}
                              : upstream_.add(f.proxy_buf, f.proxy_have, v.payload(), v.payload_len,
                                              static_cast<std::uint16_t>(offset), fin);
  switch (r.status) {
    case Status::kNeedMore:
      rte_pktmbuf_free(m);  // acknowledged later, when the server acknowledges our header
      return;
    case Status::kMalformed:
    case Status::kNoBuffer:
      drop(m, r.status == Status::kNoBuffer ? DropReason::kProxyBufferFull
                                            : DropReason::kProxyHeaderBad);
      settle(fi, splice::abort(
                     f, r.status == Status::kNoBuffer ? EndCause::kResource : EndCause::kProxy,
                     now_ms_));
      return;
    case Status::kComplete:
      break;
  }
  ++counters_.proxy_headers_received;
  // LOCAL, UNKNOWN and families PROXY v2 cannot carry over TCP keep the connection's own
  // addresses (the spec's rule for receivers, section 2.2).
  const proxy::Addresses& up = r.decoded.addresses;
  if (up.family == proxy::Family::kTcp4 || up.family == proxy::Family::kTcp6) {
    f.origin_v6 = up.family == proxy::Family::kTcp6;
    std::memcpy(f.origin_src, up.src.data(), sizeof f.origin_src);
    std::memcpy(f.origin_dst, up.dst.data(), sizeof f.origin_dst);
    f.origin_src_port = rte_cpu_to_be_16(up.src_port);
    f.origin_dst_port = rte_cpu_to_be_16(up.dst_port);
  }
  const splice::Action a =
      splice::header_consumed(f, static_cast<std::uint16_t>(r.decoded.consumed),
                              f.has(kFlowSendProxy) ? flow_header_length(f) : 0, now_ms_);
  send_header_for(fi, a);
  settle(fi, a);
  // Bytes of this segment past the header are client data, and a FIN with them is the
  // client's: cut the header part off and handle the rest as an established segment.
  if (r.in_segment >= v.payload_len && !fin) {
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint8_t* before = v.data;
  cut_payload_front(v, r.in_segment);
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(v.data - before));
  rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  from_client(m, v, fi);
}

// ---------------------------------------------------------------------------------------
// Time

bool Worker::redispatch(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  if (f.retries_left == 0 || snap_ == nullptr || f.listener >= snap_->listeners.size() ||
      snap_->listeners[f.listener].retired) {
    return false;
  }
  --f.retries_left;
  const Snapshot& s = *snap_;
  // Every retry goes to the next usable server, `option redispatch` or not (HAProxy without
  // it retries the same server): the client never saw a SYN-ACK, so nothing is lost by
  // moving on, and a server that ignored one SYN is the likeliest to ignore the next. With
  // a single server the same one is tried again.
  std::uint16_t next = f.server;
  if (s.listeners[f.listener].servers.size() > 1) {
    const std::uint16_t other = balancer_.pick(
        s, f.listener, f.server, [&](std::uint16_t sv) { return server_full(s, sv); });
    if (other != kNoServer) {
      next = other;
    }
  }
  splice::restart_handshake(f, now_ms_);
  if (next != f.server) {
    flows_.erase_key(f.server_key(), fi);
    slots_->server_active[f.server].add(-1);
    f.server = next;
    f.set(kFlowRedispatched);
    f.server_ip = s.servers[next].ip;
    f.server_port = s.servers[next].port;
    f.server_port_id = s.servers[next].port_id;
    f.next_hop = s.servers[next].next_hop;
    f.neighbour = NeighbourCache::kNoSlot;
    f.clear(kFlowSendProxy);
    f.hdr_len = 0;
    if (s.servers[next].send_proxy) {
      f.set(kFlowSendProxy);
      f.hdr_len = flow_header_length(f);
    }
    slots_->server_active[next].add(1);
    slots_->server_total[next].add(1);
    // A new server-side 4-tuple: a new ISN and timestamp clock for it.
    const TcpOptions o = parse_tcp_options(f.syn_opts, f.syn_opts_len);
    offsets_.assign(f, o.has_timestamp, o.ts_val, now_ms_);
    if (!flows_.insert(f.server_key(), fi, FlowSide::kServer)) {
      return false;
    }
  }
  ++counters_.syn_redispatched;
  slots_->server_attempts[f.server].add(1);
  send_syn(fi);
  timers_.schedule(fi, splice::deadline(f));
  return true;
}

void Worker::on_timer(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  const splice::Action a = splice::on_timer(f, now_ms_);
  if (a.reason != DropReason::kCount) {
    counters_.drop(a.reason);
  }
  if (a.has(splice::kActRelease)) {
    release_flow(fi);
    return;
  }
  if (a.has(splice::kActConnectFailure)) {
    connect_failed(f);
  }
  if (a.has(splice::kActRedispatch) && redispatch(fi)) {
    return;
  }
  send_header_for(fi, a);
  settle(fi, a);
}

void Worker::connect_failed(const Flow& f) noexcept {
  // Counted against the server that failed, before a redispatch moves the flow on.
  ++counters_.connect_failures;
  slots_->server_connect_errors[f.server].add(1);
  slots_->server_errors_total[f.server].add(1);
}

// ---------------------------------------------------------------------------------------
// Session logs: one record per session, when it closes or its SYN is refused, into this
// worker's ring for the control thread (postern/dataplane/log_record.hpp). Never waits.

void Worker::put_record(const SessionRecord& r) noexcept {
  if (deps_.session_log != nullptr) {
    put_session_record(deps_.session_log, r, counters_);
  }
}

void Worker::log_session(const Flow& f) noexcept {
  SessionRecord r;
  r.accept_ms = f.accept_ms;
  r.total_ms = static_cast<std::uint32_t>(now_ms_ - f.accept_ms);
  r.connect_ms = f.has(kFlowSynAcked) ? static_cast<std::int32_t>(f.synack_ms) : -1;
  r.bytes_to_client = bytes_to_client(f);
  r.bytes_from_client = bytes_from_client(f);
  std::memcpy(r.client, f.origin_src, sizeof r.client);
  r.client_port = rte_be_to_cpu_16(f.origin_src_port);
  r.listener = f.listener;
  r.server = f.server;
  r.end = f.end;
  // HAProxy's counts as the session ends: process and frontend still count it, the backend
  // and the server no longer do (settle has taken it off them).
  r.active = active_ + 1;
  r.listener_active = static_cast<std::uint32_t>(slots_->listener_active[f.listener].get()) + 1;
  r.server_active = static_cast<std::uint32_t>(slots_->server_active[f.server].get());
  r.retries = static_cast<std::uint8_t>(f.retries_max - f.retries_left);
  r.flags = static_cast<std::uint8_t>((f.origin_v6 ? kRecordClientV6 : 0) |
                                      (f.has(kFlowRedispatched) ? kRecordRedispatched : 0));
  put_record(r);
}

void Worker::log_refused(const FrameView& v, std::uint16_t listener, EndCause cause) noexcept {
  SessionRecord r;
  r.accept_ms = now_ms_;
  std::memcpy(r.client, &v.ip->src_addr, 4);
  r.client_port = rte_be_to_cpu_16(v.tcp->src_port);
  r.listener = listener;
  r.end = {cause, EndPhase::kConnect};
  r.active = active_ + 1;
  r.listener_active = static_cast<std::uint32_t>(slots_->listener_active[listener].get()) + 1;
  put_record(r);
}

void Worker::release_flow(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  timers_.cancel(fi);
  give_back_header_buffer(f);
  leave_half_open(f);
  for (std::size_t i = 0; i < settings_.source_addresses.size(); ++i) {
    if (settings_.source_addresses[i] == f.local_ip) {
      ports_[i].give_back(rte_be_to_cpu_16(f.local_port));
    }
  }
  flows_.release(fi);
}

void Worker::housekeeping() noexcept {
  timers_.advance(now_ms_, [this](std::uint32_t fi) { on_timer(fi); });
  take_probe_commands();
  if (probes_->next_due() <= now_ms_) {
    probes_->tick(now_ms_, probe_out(), probe_emit());
  }
  if (shutdowns_pending_ != 0) {
    shutdown_step();
  }
  neighbours_.tick(
      now_ms_,
      [this](std::uint32_t ip, std::uint8_t port) {
        const InterfaceSettings* ifc = iface_for_port(port);
        if (ifc != nullptr) {
          send_arp(port, RTE_ARP_OP_REQUEST, ifc->ip, rte_ether_addr{}, ip);
        }
      },
      [this](rte_mbuf* m) { drop(m, DropReason::kNeighbourUnresolved); });
  syn_proxy_tick();
  counters_.active_flows = active_;
  counters_.flow_table_used = flows_.size();
  flush();
}

void Worker::take_probe_commands() noexcept {
  if (deps_.probe_commands == nullptr) {
    return;
  }
  std::array<ProbeCommand, 8> burst;
  const unsigned n = rte_ring_dequeue_burst_elem(deps_.probe_commands, burst.data(),
                                                 sizeof(ProbeCommand), burst.size(), nullptr);
  for (unsigned i = 0; i < n; ++i) {
    ++counters_.probe_commands;
    const ProbeCommand& c = burst[i];
    if (c.op == ProbeOp::kShutdownServer) {
      if (c.server < kMaxServers && !shutdown_servers_.test(c.server)) {
        shutdown_servers_.set(c.server);
        ++shutdowns_pending_;
      }
      shutdown_cursor_ = 0;  // a full pass from here covers every flow of every server asked
      continue;
    }
    probes_->command(c, now_ms_, probe_out(), probe_emit());
  }
}

// `on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions`: every flow
// of the servers asked for is reset on both sides, as HAProxy kills their sessions. The flow
// table is walked a slice per loop turn so packets keep moving.
void Worker::shutdown_step() noexcept {
  constexpr std::uint32_t kSlice = 4096;
  const std::uint32_t end = std::min(flows_.capacity(), shutdown_cursor_ + kSlice);
  for (std::uint32_t fi = shutdown_cursor_; fi < end; ++fi) {
    Flow& f = flows_.at(fi);
    if (f.in_use && f.state != FlowState::kClosed && shutdown_servers_.test(f.server)) {
      ++counters_.sessions_shutdown;
      settle(fi, splice::abort(f, EndCause::kDown, now_ms_));
    }
  }
  shutdown_cursor_ = end;
  if (shutdown_cursor_ == flows_.capacity()) {
    shutdown_servers_.reset();
    shutdowns_pending_ = 0;
    shutdown_cursor_ = 0;
  }
}

void Worker::probe_frame(std::uint8_t port_id, std::uint32_t next_hop, const std::uint8_t* frame,
                         std::uint16_t len) noexcept {
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;  // the probe's timer sends it again
  }
  std::memcpy(rte_pktmbuf_append(m, len), frame, len);
  std::uint32_t slot = NeighbourCache::kNoSlot;
  send_via(port_id, next_hop, slot, m);
}

bool Worker::probe_event(const ProbeEvent& e) noexcept {
  if (deps_.probe_events == nullptr) {
    return true;  // nobody listens (tests without a health engine)
  }
  ProbeEvent copy = e;  // DPDK 22.11 takes a non-const pointer
  return rte_ring_enqueue_elem(deps_.probe_events, &copy, sizeof copy) == 0;
}

unsigned Worker::drain_inbox() noexcept {
  if (inbox_ == nullptr) {
    return 0;
  }
  std::array<rte_mbuf*, kBurst> burst{};
  const unsigned n =
      rte_ring_dequeue_burst(inbox_, reinterpret_cast<void**>(burst.data()), kBurst, nullptr);
  from_peer_ = true;
  for (unsigned i = 0; i < n; ++i) {
    handle(burst[i]);
  }
  from_peer_ = false;
  return n;
}

void Worker::account_turn(std::uint64_t tsc, bool found_work) noexcept {
  if (found_work) {
    ++counters_.loops_busy;
    counters_.busy_cycles += tsc - turn_tsc_;
  } else {
    ++counters_.loops_idle;
  }
  turn_tsc_ = tsc;
  if (tsc - window_tsc_ >= tsc_hz_) {
    const double busy = static_cast<double>(counters_.busy_cycles - window_busy_);
    counters_.busy_ppm =
        static_cast<std::uint64_t>(busy * 1e6 / static_cast<double>(tsc - window_tsc_));
    window_tsc_ = tsc;
    window_busy_ = counters_.busy_cycles;
  }
}

void Worker::run(const std::atomic<bool>& stop, void (*quiescent)(void*), void* qctx) {
  std::array<rte_mbuf*, kBurst> burst{};
  std::uint64_t tsc = rte_get_tsc_cycles();
  now_ms_ = tsc_to_ms(tsc);
  turn_tsc_ = window_tsc_ = tsc;
  start();
  bool found_work = false;
  while (!stop.load(std::memory_order_relaxed)) {
    tsc = rte_get_tsc_cycles();
    account_turn(tsc, found_work);
    now_ms_ = tsc_to_ms(tsc);
    poll_snapshot();
    found_work = false;
    for (const auto& ifc : settings_.interfaces) {
      const std::uint16_t n = rte_eth_rx_burst(ifc.port_id, deps_.queue, burst.data(), kBurst);
      found_work |= n != 0;
      for (std::uint16_t i = 0; i < n; ++i) {
        if (i + 1 < n) {
          rte_prefetch0(rte_pktmbuf_mtod(burst[i + 1], void*));
        }
        handle(burst[i]);
      }
    }
    found_work |= drain_inbox() != 0;
    housekeeping();
    if (quiescent != nullptr) {
      quiescent(qctx);
    }
  }
  flush();
}

}  // namespace postern::dataplane
