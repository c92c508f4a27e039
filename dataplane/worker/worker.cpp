// The packet walk of DESIGN.md, per worker: classify, answer ARP and ping, look the flow up
// under the arriving key, rewrite, shift, inject the PROXY header, and keep time.
#include "worker/worker.hpp"

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include <cstring>

#include "nat/splice.hpp"
#include "net/checksum.hpp"
#include "net/tcp_options.hpp"
#include "proxy/proxy_decode.hpp"
#include "proxy/proxy_v2.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr std::uint8_t kAck = RTE_TCP_ACK_FLAG;
constexpr std::uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr std::uint8_t kRst = RTE_TCP_RST_FLAG;

Seq seg_seq(const FrameView& v) {
  return Seq(rte_be_to_cpu_32(v.tcp->sent_seq));
}

// Records a segment's acknowledgement if it moves forward.
void note_ack(Seq& acked, const FrameView& v) {
  const Seq ack(rte_be_to_cpu_32(v.tcp->recv_ack));
  if ((v.tcp->tcp_flags & RTE_TCP_ACK_FLAG) != 0 && after(ack, acked)) {
    acked = ack;
  }
}
Seq seg_ack(const FrameView& v) {
  return Seq(rte_be_to_cpu_32(v.tcp->recv_ack));
}

std::uint64_t tsc_ms() noexcept {
  static const std::uint64_t hz = rte_get_tsc_hz();
  return rte_get_tsc_cycles() / (hz / 1000);
}

// Keeps what a re-dispatched SYN must repeat: the client's ISN, window and options, and
// whether it offered timestamps and SACK (confirmed or cleared by the SYN-ACK).
void remember_syn(Flow& f, const FrameView& v) {
  f.client_isn = seg_seq(v);
  f.syn_win = v.tcp->rx_win;
  f.syn_opts_len = static_cast<std::uint8_t>(v.tcp_options_len());
  std::memcpy(f.syn_opts, v.tcp_options(), f.syn_opts_len);
  const TcpOptions o = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
  f.clear(kFlowTimestamps);
  f.clear(kFlowSack);
  if (o.has_timestamp) {
    f.set(kFlowTimestamps);
  }
  if (o.sack_permitted) {
    f.set(kFlowSack);
  }
}

// RFC 5961 3.2: a RST is believed only near the sequence number its receiver expects. A
// blind RST (a guessed 4-tuple, a random sequence number) still goes on, for the end host
// to judge, but does not make Postern forget a connection that may well survive it.
bool plausible_rst(Seq seq, Seq expected) {
  const std::int32_t d = seq - expected;
  return d > -kRstWindow && d < kRstWindow;
}

}  // namespace

Worker::Worker(const WorkerDeps& deps)
    : deps_(deps),
      settings_(*deps.settings),
      flows_(deps.settings->flows),
      timers_(flows_, 0),
      proxy_bufs_(std::min<std::uint32_t>(deps.settings->flows, kProxyBuffers)) {
  for (std::size_t i = 0; i < settings_.source_addresses.size(); ++i) {
    ports_.emplace_back(deps.id, settings_.workers);
  }
  iface_by_port_.fill(-1);
  for (std::size_t i = 0; i < settings_.interfaces.size(); ++i) {
    iface_by_port_[settings_.interfaces[i].port_id] = static_cast<std::int16_t>(i);
  }
  for (std::size_t i = proxy_bufs_.size(); i-- > 0;) {
    proxy_free_.push_back(static_cast<std::uint16_t>(i));
  }
  adopt_snapshot();
}

void Worker::set_peers(std::vector<Worker*> peers, rte_ring* inbox) {
  peers_ = std::move(peers);
  inbox_ = inbox;
}

void Worker::adopt_snapshot() noexcept {
  const Snapshot* s = deps_.snapshot->load(std::memory_order_acquire);
  if (s == snap_) {
    return;
  }
  snap_ = s;
  if (s == nullptr || s->generation == snap_gen_) {
    return;
  }
  // Per-server state follows the snapshot. The control thread keeps every listener's and
  // server's index across reloads (removed ones stay as retired slots while they drain), so
  // the counts of open flows stay with the entity they belong to.
  snap_gen_ = s->generation;
  balancer_.reset(*s);
  listener_active_.resize(s->listeners.size(), 0);
  server_active_.resize(s->servers.size(), 0);
  server_total_.resize(s->servers.size(), 0);
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
  const InterfaceSettings* ifc = iface_for_port(f.client_port_id);
  eth->src_addr = ifc->mac;
  eth->dst_addr = f.client_mac;
  send(f.client_port_id, m);
}

void Worker::send_to_server(std::uint32_t fi, rte_mbuf* m) noexcept {
  Flow& f = flows_.at(fi);
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  const InterfaceSettings* ifc = iface_for_port(f.server_port_id);
  eth->src_addr = ifc->mac;
  if (rte_is_zero_ether_addr(&f.server_mac)) {
    const std::uint32_t hop = snap_->servers[f.server].next_hop;
    if (const rte_ether_addr* mac = neighbours_.lookup(hop)) {
      f.server_mac = *mac;
    } else {
      switch (neighbours_.enqueue(hop, f.server_port_id, m, now_ms_)) {
        case NeighbourCache::QueueResult::kQueuedProbe:
          send_arp(f.server_port_id, RTE_ARP_OP_REQUEST, ifc->ip, rte_ether_addr{}, hop);
          return;
        case NeighbourCache::QueueResult::kQueued:
          return;
        case NeighbourCache::QueueResult::kFull:
          drop(m, DropReason::kNeighbourQueueFull);
          return;
      }
    }
  }
  eth->dst_addr = f.server_mac;
  send(f.server_port_id, m);
}

void Worker::send_arp(std::uint16_t port, std::uint16_t op, std::uint32_t sender_ip,
                      const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept {
  const InterfaceSettings* ifc = iface_for_port(port);
  rte_mbuf* m = alloc();
  if (ifc == nullptr || m == nullptr) {
    rte_pktmbuf_free(m);
    return;
  }
  constexpr std::uint16_t kLen = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, kLen));
  const bool request = op == RTE_ARP_OP_REQUEST;
  eth->src_addr = ifc->mac;
  if (request) {
    std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  } else {
    eth->dst_addr = target_mac;
  }
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(op);
  arp->arp_data.arp_sha = ifc->mac;
  arp->arp_data.arp_sip = sender_ip;
  arp->arp_data.arp_tha = request ? rte_ether_addr{} : target_mac;
  arp->arp_data.arp_tip = target_ip;
  if (request) {
    ++counters_.arp_requests_sent;
  } else {
    ++counters_.arp_replies_sent;
  }
  send(port, m);
}

void Worker::announce() noexcept {
  // Gratuitous ARP (RFC 5227 section 3): each address on the interfaces whose subnet holds it,
  // or on every interface when none does (a VIP outside every subnet).
  const rte_ether_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  auto announce_ip = [&](std::uint32_t ip) {
    bool any = false;
    for (const auto& ifc : settings_.interfaces) {
      if (ifc.on_link(ip)) {
        send_arp(ifc.port_id, RTE_ARP_OP_REQUEST, ip, bcast, ip);
        any = true;
      }
    }
    if (!any) {
      for (const auto& ifc : settings_.interfaces) {
        send_arp(ifc.port_id, RTE_ARP_OP_REQUEST, ip, bcast, ip);
      }
    }
  };
  for (const auto& ifc : settings_.interfaces) {
    announce_ip(ifc.ip);
  }
  for (auto a : settings_.source_addresses) {
    announce_ip(a);
  }
  if (snap_ != nullptr) {
    for (auto v : snap_->vips) {
      announce_ip(v);
    }
  }
  flush();
}

void Worker::send_header(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;  // the retransmission timer tries again
  }
  const InterfaceSettings* ifc = iface_for_port(f.server_port_id);
  const L2Addresses l2{ifc->mac, f.server_mac};
  char* buf = rte_pktmbuf_append(m, rte_pktmbuf_tailroom(m));
  const std::uint16_t len =
      build_header_segment(reinterpret_cast<std::uint8_t*>(buf), rte_pktmbuf_data_len(m), f, l2);
  rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - len));
  send_to_server(fi, m);
}

void Worker::send_syn(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;
  }
  const InterfaceSettings* ifc = iface_for_port(f.server_port_id);
  const L2Addresses l2{ifc->mac, f.server_mac};
  char* buf = rte_pktmbuf_append(m, rte_pktmbuf_tailroom(m));
  const std::uint16_t len =
      build_syn(reinterpret_cast<std::uint8_t*>(buf), rte_pktmbuf_data_len(m), f, l2);
  rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - len));
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
  send(port, m);
}

void Worker::reset_both(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  // Each RST carries the sequence number its receiver last acknowledged, its RCV.NXT, so it
  // lands inside the window (RFC 9293 3.10.7.4, RFC 5961 3.2). The client's also ACKs its
  // SYN, which a client still in SYN-SENT requires before it accepts a RST (3.10.7.3); in
  // synchronized states the ACK field of a RST is not examined.
  const bool server_spoke = f.state != FlowState::kSynSent;
  if (rte_mbuf* m = alloc()) {
    const InterfaceSettings* ifc = iface_for_port(f.client_port_id);
    char* buf = rte_pktmbuf_append(m, 64);
    const std::uint16_t len = build_rst(
        reinterpret_cast<std::uint8_t*>(buf), 64, {ifc->mac, f.client_mac}, f.vip_ip, f.vip_port,
        f.client_ip, f.client_port, server_spoke ? f.client_acked : Seq(0), f.client_isn + 1, true);
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(64 - len));
    ++counters_.rst_sent;
    send(f.client_port_id, m);
  }
  if (server_spoke) {
    if (rte_mbuf* m = alloc()) {
      const InterfaceSettings* ifc = iface_for_port(f.server_port_id);
      char* buf = rte_pktmbuf_append(m, 64);
      const std::uint16_t len =
          build_rst(reinterpret_cast<std::uint8_t*>(buf), 64, {ifc->mac, f.server_mac}, f.local_ip,
                    f.local_port, f.server_ip, f.server_port, f.server_acked, Seq(0), false);
      rte_pktmbuf_trim(m, static_cast<std::uint16_t>(64 - len));
      ++counters_.rst_sent;
      send_to_server(fi, m);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Input

void Worker::handle(rte_mbuf* m) noexcept {
  ++counters_.rx_packets;
  counters_.rx_bytes += rte_pktmbuf_pkt_len(m);
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
  if (v.icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || !is_local_address(v.ip->dst_addr)) {
    drop(m, DropReason::kIcmpIgnored);
    return;
  }
  // Echo reply in place (RFC 792): swap addresses, type 0, checksum adjusted for the type.
  const rte_ether_addr mac = v.eth->src_addr;
  v.eth->src_addr = v.eth->dst_addr;
  v.eth->dst_addr = mac;
  const std::uint32_t src = v.ip->src_addr;
  v.ip->src_addr = v.ip->dst_addr;
  v.ip->dst_addr = src;
  v.ip->time_to_live = 64;
  v.ip->hdr_checksum = ipv4_header_checksum(v.ip, (v.ip->version_ihl & 0x0f) * 4U);
  const std::uint16_t old_word =
      rte_cpu_to_be_16(static_cast<std::uint16_t>((v.icmp->icmp_type << 8) | v.icmp->icmp_code));
  v.icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  const std::uint16_t new_word =
      rte_cpu_to_be_16(static_cast<std::uint16_t>((v.icmp->icmp_type << 8) | v.icmp->icmp_code));
  v.icmp->icmp_cksum = csum_replace16(v.icmp->icmp_cksum, old_word, new_word);
  rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  ++counters_.icmp_echo_replies;
  send(m->port, m);
}

void Worker::handle_tcp(rte_mbuf* m, FrameView& v) noexcept {
  // Ethernet padding would otherwise travel on as TCP payload after a rewrite.
  if (rte_pktmbuf_data_len(m) > v.len) {
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.len));
  }
  if (v.ip->time_to_live <= 1) {
    drop(m, DropReason::kTtlExpired);
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
      if (rte_ring_enqueue(peers_[owner]->inbox_, m) != 0) {
        drop(m, DropReason::kHandoffFull);
      }
      return;
    }
  }
  if (snap_ == nullptr || !snap_->is_vip(v.ip->dst_addr)) {
    if (!is_local_address(v.ip->dst_addr)) {
      drop(m, DropReason::kNotForUs);
      return;
    }
    // A server still talking on a connection Postern has forgotten: reset it, as a host
    // would (RFC 9293 3.10.7.1), so it does not retransmit until its own timeout.
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
    new_connection(m, v, *bind);
    return;
  }
  // A segment for a connection we do not know: answer as a host would.
  counters_.drop(DropReason::kNoFlow);
  reply_rst(m, v);
}

void Worker::new_connection(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept {
  const Snapshot& s = *snap_;
  const ListenerSlot& l = s.listeners[bind.listener];
  const std::uint32_t workers = settings_.workers;
  // maxconn is shared out evenly between workers: no cross-worker counting on the hot path.
  if ((s.global_maxconn != 0 && active_ * workers >= s.global_maxconn) ||
      (l.maxconn != 0 && listener_active_[bind.listener] * workers >= l.maxconn)) {
    counters_.drop(DropReason::kMaxconn);
    reply_rst(m, v);
    return;
  }
  auto full = [&](std::uint16_t sv) {
    const std::uint32_t mc = s.servers[sv].maxconn;
    return mc != 0 && server_active_[sv] * workers >= mc;
  };
  const std::uint16_t server = balancer_.pick(s, bind.listener, kNoServer, full);
  if (server == kNoServer) {
    counters_.drop(DropReason::kNoServer);
    reply_rst(m, v);
    return;
  }
  if (ports_.empty()) {
    counters_.drop(DropReason::kPortsExhausted);
    reply_rst(m, v);
    return;
  }
  std::uint32_t src_index = 0;
  std::uint16_t lport = 0;
  for (std::size_t tries = 0; tries < ports_.size() && lport == 0; ++tries) {
    src_index = next_source_;
    next_source_ = (next_source_ + 1) % ports_.size();
    lport = ports_[src_index].take();
  }
  if (lport == 0) {
    counters_.drop(DropReason::kPortsExhausted);
    reply_rst(m, v);
    return;
  }
  const std::uint32_t fi = flows_.allocate();
  if (fi == kNoIndex) {
    ports_[src_index].give_back(lport);
    counters_.drop(DropReason::kFlowTableFull);
    reply_rst(m, v);
    return;
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
  f.listener = bind.listener;
  f.server = server;
  f.client_port_id = static_cast<std::uint8_t>(m->port);
  f.server_port_id = sv.port_id;
  f.client_mac = v.eth->src_addr;
  remember_syn(f, v);
  f.state = FlowState::kSynSent;
  f.retries_left = l.retries;
  f.connect_ms = l.timeout_connect_ms;
  f.idle_ms = std::max(l.timeout_client_ms, l.timeout_server_ms);
  f.fin_ms = l.timeout_fin_ms;
  f.last_seen_ms = now_ms_;
  if (sv.send_proxy) {
    f.set(kFlowSendProxy);
  }
  if (bind.accept_proxy) {
    f.set(kFlowAcceptProxy);
  }
  if (!flows_.insert(f.client_key(), fi, FlowSide::kClient) ||
      !flows_.insert(f.server_key(), fi, FlowSide::kServer)) {
    // Only a reused local port could collide; refuse rather than corrupt another flow.
    flows_.release(fi);
    ports_[src_index].give_back(lport);
    counters_.drop(DropReason::kPortsExhausted);
    reply_rst(m, v);
    return;
  }
  ++active_;
  ++listener_active_[f.listener];
  ++server_active_[server];
  ++server_total_[server];
  ++counters_.flows_created;
  rewrite_to_server(v, f);
  send_to_server(fi, m);
  arm(fi);
}

void Worker::from_client(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  const std::uint8_t fl = v.tcp->tcp_flags;
  // SYN retransmissions do not postpone `timeout connect`: it runs from the first SYN.
  if (f.state != FlowState::kSynSent) {
    idle_update(f);
  }
  if (f.state == FlowState::kClosed && (fl & kRst) == 0 && (fl & kSyn) != 0) {
    // The client reuses its port for a new connection while the old flow lingers: let the
    // old one go and treat this SYN as new.
    release_flow(fi);
    handle_tcp(m, v);
    return;
  }
  if ((fl & kRst) != 0) {
    // Where the server expects the client's next byte, in client space.
    const bool believed = f.state == FlowState::kSynSent || f.state == FlowState::kSynReceived ||
                          plausible_rst(seg_seq(v) + f.delta, f.server_acked);
    rewrite_to_server(v, f);
    send_to_server(fi, m);
    if (believed) {
      close_flow(fi);
    }
    return;
  }
  if (f.state == FlowState::kClosed) {
    // Stragglers of a closed flow (a FIN crossing a RST, final ACKs) pass through but change
    // nothing: the flow stays closed and goes when its linger ends.
    rewrite_to_server(v, f);
    send_to_server(fi, m);
    return;
  }
  note_ack(f.client_acked, v);
  if (f.state == FlowState::kSynSent) {
    // A retransmitted SYN follows the first one to the server. A SYN with another ISN is a
    // new attempt by the client: remember its ISN and options, as a re-dispatch resends them.
    if ((fl & kSyn) != 0) {
      if (seg_seq(v) != f.client_isn) {
        remember_syn(f, v);
      }
      rewrite_to_server(v, f);
      send_to_server(fi, m);
    } else {
      drop(m, DropReason::kNoFlow);
    }
    return;
  }
  if (f.has(kFlowHeaderUnacked) || f.state == FlowState::kSynReceived) {
    // The header segment repeats the client's latest timestamp and window (RFC 7323 section
    // 3.2: a segment must carry a TSval no older than the ones before it).
    f.client_win = v.tcp->rx_win;
    if (f.has(kFlowTimestamps)) {
      const TcpOptions o = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
      if (o.has_timestamp) {
        f.ts_val = o.ts_val;
        f.ts_ecr = o.ts_ecr;
      }
    }
  }
  if (f.state == FlowState::kSynReceived && (fl & kAck) != 0 && (fl & kSyn) == 0) {
    if (f.has(kFlowAcceptProxy)) {
      f.state = FlowState::kAwaitHeader;
      arm(fi);
    } else {
      f.state = FlowState::kEstablished;
      if (f.has(kFlowSendProxy)) {
        // Mail servers speak first: the header goes out now, on the handshake ACK, before
        // the client segment that completed the handshake (DESIGN.md step 3).
        f.hdr_len = flow_header_length(f);
        f.delta = f.hdr_len;
        f.set(kFlowHeaderSent);
        f.set(kFlowHeaderUnacked);
        f.rtx_count = 0;
        f.rtx_at_ms = now_ms_ + kHeaderRtoMs;
        send_header(fi);
        ++counters_.proxy_headers_sent;
        arm(fi);
      }
    }
  }
  if (f.state == FlowState::kAwaitHeader) {
    accept_proxy_data(m, v, fi);
    return;
  }
  if ((fl & kFin) != 0 && !f.has(kFlowClientFin)) {
    f.set(kFlowClientFin);
    f.client_fin_seq = seg_seq(v) + static_cast<std::int32_t>(v.payload_len);
    f.state = FlowState::kClosing;
  }
  if ((fl & kAck) != 0 && f.has(kFlowServerFin) && !f.has(kFlowServerFinAcked) &&
      after(seg_ack(v), f.server_fin_seq)) {
    f.set(kFlowServerFinAcked);
  }
  rewrite_to_server(v, f);
  send_to_server(fi, m);
  if (f.has(kFlowClientFinAcked) && f.has(kFlowServerFinAcked)) {
    close_flow(fi);
  }
}

void Worker::from_server(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  const std::uint8_t fl = v.tcp->tcp_flags;
  if ((fl & kRst) != 0) {
    if (f.state == FlowState::kSynSent) {
      // In SYN-SENT a RST counts only if it acknowledges our SYN (RFC 9293 3.10.7.3);
      // anything else is stale or forged.
      if ((fl & kAck) == 0 || seg_ack(v) != f.client_isn + 1) {
        drop(m, DropReason::kBadTcpHeader);
        return;
      }
      // Refused by this server: like an unanswered SYN, try the next one if allowed.
      ++counters_.connect_failures;
      if (redispatch(fi)) {
        rte_pktmbuf_free(m);
        return;
      }
    }
    const bool believed =
        f.state == FlowState::kSynSent || plausible_rst(seg_seq(v), f.client_acked);
    rewrite_to_client(v, f);
    send_to_client(f, m);
    if (believed) {
      close_flow(fi);
    }
    return;
  }
  idle_update(f);
  if (f.state == FlowState::kClosed) {
    rewrite_to_client(v, f);
    send_to_client(f, m);
    return;
  }
  note_ack(f.server_acked, v);
  if ((fl & kSyn) != 0) {
    if ((fl & kAck) == 0) {
      drop(m, DropReason::kBadTcpHeader);  // a SYN towards our source port: not a reply
      return;
    }
    if (f.state == FlowState::kSynSent) {
      f.server_isn = seg_seq(v);
      // Until the client says otherwise it expects what follows the SYN-ACK.
      f.client_acked = f.server_isn + 1;
      f.server_acked = seg_ack(v);
      const TcpOptions o = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
      if (!o.has_timestamp) {
        f.clear(kFlowTimestamps);
      }
      if (!o.sack_permitted) {
        f.clear(kFlowSack);
      }
      f.state = FlowState::kSynReceived;
      arm(fi);
    }
    rewrite_to_client(v, f);
    send_to_client(f, m);
    return;
  }
  if (f.state == FlowState::kSynSent) {
    drop(m, DropReason::kNoFlow);
    return;
  }
  if ((fl & kAck) != 0 && f.has(kFlowHeaderUnacked)) {
    const Seq ack = seg_ack(v);
    const Seq header_end = f.client_isn + 1 + static_cast<std::int32_t>(f.hdr_len);
    if (after_eq(ack, header_end)) {
      f.clear(kFlowHeaderUnacked);
      f.rtx_at_ms = 0;
    } else if (ack == f.client_isn + 1 && v.payload_len == 0 && !f.has(kFlowFastRetransmitted)) {
      // A pure ACK stopping at the client's ISN + 1 after the handshake: the server received
      // later client bytes but not the header, the only thing that can be missing. Resend at
      // once (RFC 5681 fast retransmit, on the first duplicate), once per timer period: the
      // dozens of duplicates that follow a burst must not each resend it.
      f.set(kFlowFastRetransmitted);
      send_header(fi);
      ++counters_.proxy_retransmits;
    }
  }
  if ((fl & kFin) != 0 && !f.has(kFlowServerFin)) {
    f.set(kFlowServerFin);
    f.server_fin_seq = seg_seq(v) + static_cast<std::int32_t>(v.payload_len);
    f.state = FlowState::kClosing;
  }
  if ((fl & kAck) != 0 && f.has(kFlowClientFin) && !f.has(kFlowClientFinAcked) &&
      after(map_ack_to_client(seg_ack(v), f), f.client_fin_seq)) {
    f.set(kFlowClientFinAcked);
  }
  rewrite_to_client(v, f);
  send_to_client(f, m);
  if (f.has(kFlowClientFinAcked) && f.has(kFlowServerFinAcked)) {
    close_flow(fi);
  }
}

void Worker::accept_proxy_data(rte_mbuf* m, FrameView& v, std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  if (v.payload_len == 0) {
    // The handshake ACK: the server completes its handshake, no bytes move yet.
    rewrite_to_server(v, f);
    send_to_server(fi, m);
    return;
  }
  if (f.proxy_buf == 0xffff) {
    if (proxy_free_.empty()) {
      counters_.drop(DropReason::kProxyBufferFull);
      rte_pktmbuf_free(m);
      reset_both(fi);
      close_flow(fi);
      return;
    }
    f.proxy_buf = proxy_free_.back();
    proxy_free_.pop_back();
    f.proxy_have = 0;
  }
  auto& buf = proxy_bufs_[f.proxy_buf];
  // Take only in-order bytes: the segment must start where the buffered header ends.
  const Seq expected = f.client_isn + 1 + static_cast<std::int32_t>(f.proxy_have);
  const std::int32_t offset = expected - seg_seq(v);
  if (offset < 0 || offset >= v.payload_len) {
    rte_pktmbuf_free(m);  // a gap or a pure retransmission: the client sends again
    return;
  }
  const std::uint16_t fresh = static_cast<std::uint16_t>(
      std::min<std::int32_t>(v.payload_len - offset, kProxyBufferSize - f.proxy_have));
  std::memcpy(buf.data() + f.proxy_have, v.payload() + offset, fresh);
  f.proxy_have = static_cast<std::uint16_t>(f.proxy_have + fresh);
  const proxy::DecodeResult r = proxy::decode(buf.data(), f.proxy_have);
  if (r.status == proxy::DecodeStatus::kNeedMore && f.proxy_have < kProxyBufferSize) {
    rte_pktmbuf_free(m);  // acknowledged later, when the server acknowledges our header
    return;
  }
  if (r.status != proxy::DecodeStatus::kOk) {
    counters_.drop(DropReason::kProxyHeaderBad);
    rte_pktmbuf_free(m);
    reset_both(fi);
    close_flow(fi);
    return;
  }
  ++counters_.proxy_headers_received;
  // LOCAL, UNKNOWN and families PROXY v2 cannot carry over TCP keep the connection's own
  // addresses (the spec's rule for receivers, section 2.2).
  if (r.addresses.family == proxy::Family::kTcp4 || r.addresses.family == proxy::Family::kTcp6) {
    f.origin_v6 = r.addresses.family == proxy::Family::kTcp6;
    std::memcpy(f.origin_src, r.addresses.src.data(), sizeof f.origin_src);
    std::memcpy(f.origin_dst, r.addresses.dst.data(), sizeof f.origin_dst);
    f.origin_src_port = rte_cpu_to_be_16(r.addresses.src_port);
    f.origin_dst_port = rte_cpu_to_be_16(r.addresses.dst_port);
  }
  const auto in_len = static_cast<std::int32_t>(r.consumed);
  f.hdr_len = f.has(kFlowSendProxy) ? flow_header_length(f) : 0;
  f.delta = static_cast<std::int32_t>(f.hdr_len) - in_len;
  f.set(kFlowHeaderSent);
  f.state = FlowState::kEstablished;
  proxy_free_.push_back(f.proxy_buf);
  f.proxy_buf = 0xffff;
  if (f.hdr_len != 0) {
    f.set(kFlowHeaderUnacked);
    f.rtx_count = 0;
    f.rtx_at_ms = now_ms_ + kHeaderRtoMs;
    send_header(fi);
    ++counters_.proxy_headers_sent;
  }
  arm(fi);
  // Bytes of this segment past the header are client data: cut the header part off and
  // forward the rest (shifted like everything after it).
  const std::int32_t header_in_seg = in_len - (f.proxy_have - fresh) + offset;
  const std::int32_t rest = v.payload_len - header_in_seg;
  if (rest <= 0) {
    rte_pktmbuf_free(m);
    return;
  }
  const auto hdrs = static_cast<std::uint16_t>(v.payload() - v.data);
  std::memmove(v.data + header_in_seg, v.data, hdrs);
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(header_in_seg));
  FrameView w;
  DropReason reason = DropReason::kCount;
  std::uint8_t* d = rte_pktmbuf_mtod(m, std::uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(d + sizeof(rte_ether_hdr));
  ip->total_length = rte_cpu_to_be_16(
      static_cast<std::uint16_t>(rte_be_to_cpu_16(ip->total_length) - header_in_seg));
  ip->hdr_checksum = ipv4_header_checksum(ip, (ip->version_ihl & 0x0f) * 4U);
  if (parse_frame(d, rte_pktmbuf_data_len(m), w, reason) != FrameKind::kTcp4) {
    drop(m, reason);
    return;
  }
  w.tcp->sent_seq =
      rte_cpu_to_be_32((seg_seq(w) + static_cast<std::int32_t>(header_in_seg)).value());
  w.tcp->cksum = tcp4_checksum(w.ip->src_addr, w.ip->dst_addr, w.tcp, w.l4_len);
  rewrite_to_server(w, f);
  send_to_server(fi, m);
}

// ---------------------------------------------------------------------------------------
// Time

void Worker::arm(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  std::uint64_t deadline;
  switch (f.state) {
    case FlowState::kSynSent:
      deadline = f.last_seen_ms + f.connect_ms;
      break;
    case FlowState::kSynReceived:
      deadline = f.last_seen_ms + f.connect_ms;
      break;
    case FlowState::kAwaitHeader:
      deadline = f.last_seen_ms + kAcceptProxyTimeoutMs;
      break;
    case FlowState::kClosed:
      deadline = f.last_seen_ms + kClosedLingerMs;
      break;
    default:
      deadline = f.last_seen_ms + f.idle_limit_ms();
      break;
  }
  if (f.rtx_at_ms != 0 && f.rtx_at_ms < deadline) {
    deadline = f.rtx_at_ms;
  }
  timers_.schedule(fi, deadline);
}

bool Worker::redispatch(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  if (f.retries_left == 0 || snap_ == nullptr || f.listener >= snap_->listeners.size() ||
      snap_->listeners[f.listener].retired) {
    return false;
  }
  --f.retries_left;
  const Snapshot& s = *snap_;
  const std::uint32_t workers = settings_.workers;
  auto full = [&](std::uint16_t sv) {
    const std::uint32_t mc = s.servers[sv].maxconn;
    return mc != 0 && server_active_[sv] * workers >= mc;
  };
  // Every retry goes to the next usable server, `option redispatch` or not (HAProxy without
  // it retries the same server): the client never saw a SYN-ACK, so nothing is lost by
  // moving on, and a server that ignored one SYN is the likeliest to ignore the next. With
  // a single server the same one is tried again.
  std::uint16_t next = f.server;
  if (s.listeners[f.listener].servers.size() > 1) {
    const std::uint16_t other = balancer_.pick(s, f.listener, f.server, full);
    if (other != kNoServer) {
      next = other;
    }
  }
  if (next != f.server) {
    flows_.erase_key(f.server_key(), fi);
    --server_active_[f.server];
    f.server = next;
    f.server_ip = s.servers[next].ip;
    f.server_port = s.servers[next].port;
    f.server_port_id = s.servers[next].port_id;
    f.server_mac = rte_ether_addr{};
    f.clear(kFlowSendProxy);
    if (s.servers[next].send_proxy) {
      f.set(kFlowSendProxy);
    }
    ++server_active_[next];
    ++server_total_[next];
    if (!flows_.insert(f.server_key(), fi, FlowSide::kServer)) {
      return false;
    }
  }
  ++counters_.syn_redispatched;
  f.last_seen_ms = now_ms_;
  send_syn(fi);
  arm(fi);
  return true;
}

void Worker::on_timer(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  if (f.state == FlowState::kClosed) {
    if (now_ms_ >= f.last_seen_ms + kClosedLingerMs) {
      release_flow(fi);
    } else {
      arm(fi);
    }
    return;
  }
  if (f.has(kFlowHeaderUnacked) && f.rtx_at_ms != 0 && now_ms_ >= f.rtx_at_ms) {
    if (f.rtx_count >= kHeaderMaxRetransmits) {
      // The server never took the header: give up on the connection as a whole.
      ++counters_.connect_failures;
      reset_both(fi);
      close_flow(fi);
      return;
    }
    ++f.rtx_count;
    f.rtx_at_ms = now_ms_ + (kHeaderRtoMs << f.rtx_count);
    f.clear(kFlowFastRetransmitted);
    send_header(fi);
    ++counters_.proxy_retransmits;
  }
  const std::uint64_t idle = now_ms_ - f.last_seen_ms;
  switch (f.state) {
    case FlowState::kSynSent:
      if (idle >= f.connect_ms) {
        ++counters_.connect_failures;
        if (!redispatch(fi)) {
          reset_both(fi);
          close_flow(fi);
        }
        return;
      }
      break;
    case FlowState::kSynReceived:
      if (idle >= f.connect_ms) {
        ++counters_.connect_failures;
        reset_both(fi);
        close_flow(fi);
        return;
      }
      break;
    case FlowState::kAwaitHeader:
      if (idle >= kAcceptProxyTimeoutMs) {
        counters_.drop(DropReason::kProxyHeaderTimeout);
        reset_both(fi);
        close_flow(fi);
        return;
      }
      break;
    default:
      if (idle >= f.idle_limit_ms()) {
        ++counters_.flows_expired;
        reset_both(fi);
        close_flow(fi);
        return;
      }
      break;
  }
  arm(fi);
}

void Worker::close_flow(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  if (f.state != FlowState::kClosed) {
    f.state = FlowState::kClosed;
    f.rtx_at_ms = 0;
    f.clear(kFlowHeaderUnacked);
    ++counters_.flows_closed;
    // A closed flow only lingers for stragglers: it no longer counts towards maxconn.
    // After a reload indices may name other entities; counts never wrap, whatever they name.
    if (f.listener < listener_active_.size() && listener_active_[f.listener] > 0) {
      --listener_active_[f.listener];
    }
    if (f.server < server_active_.size() && server_active_[f.server] > 0) {
      --server_active_[f.server];
    }
    --active_;
  }
  f.last_seen_ms = now_ms_;
  arm(fi);
}

void Worker::release_flow(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  timers_.cancel(fi);
  if (f.proxy_buf != 0xffff) {
    proxy_free_.push_back(f.proxy_buf);
  }
  for (std::size_t i = 0; i < settings_.source_addresses.size(); ++i) {
    if (settings_.source_addresses[i] == f.local_ip) {
      ports_[i].give_back(rte_be_to_cpu_16(f.local_port));
    }
  }
  flows_.release(fi);
}

void Worker::housekeeping() noexcept {
  timers_.advance(now_ms_, [this](std::uint32_t fi) { on_timer(fi); });
  neighbours_.tick(
      now_ms_,
      [this](std::uint32_t ip, std::uint8_t port) {
        const InterfaceSettings* ifc = iface_for_port(port);
        if (ifc != nullptr) {
          send_arp(port, RTE_ARP_OP_REQUEST, ifc->ip, rte_ether_addr{}, ip);
        }
      },
      [this](rte_mbuf* m) { drop(m, DropReason::kNeighbourUnresolved); });
  counters_.active_flows = active_;
  flush();
}

void Worker::drain_inbox() noexcept {
  if (inbox_ == nullptr) {
    return;
  }
  std::array<rte_mbuf*, kBurst> burst{};
  const unsigned n =
      rte_ring_dequeue_burst(inbox_, reinterpret_cast<void**>(burst.data()), kBurst, nullptr);
  from_peer_ = true;
  for (unsigned i = 0; i < n; ++i) {
    handle(burst[i]);
  }
  from_peer_ = false;
}

void Worker::run(const std::atomic<bool>& stop, void (*quiescent)(void*), void* qctx) {
  std::array<rte_mbuf*, kBurst> burst{};
  now_ms_ = tsc_ms();
  if (deps_.id == 0) {
    announce();
  }
  while (!stop.load(std::memory_order_relaxed)) {
    now_ms_ = tsc_ms();
    adopt_snapshot();
    for (const auto& ifc : settings_.interfaces) {
      const std::uint16_t n = rte_eth_rx_burst(ifc.port_id, deps_.queue, burst.data(), kBurst);
      for (std::uint16_t i = 0; i < n; ++i) {
        if (i + 1 < n) {
          rte_prefetch0(rte_pktmbuf_mtod(burst[i + 1], void*));
        }
        handle(burst[i]);
      }
    }
    drain_inbox();
    housekeeping();
    if (quiescent != nullptr) {
      quiescent(qctx);
    }
  }
  flush();
}

}  // namespace postern::dataplane
