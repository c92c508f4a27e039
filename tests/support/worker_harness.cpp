// Worker harness set-up.
#include "support/worker_harness.hpp"

#include <rte_byteorder.h>

#include <cstring>
#include <string>

namespace postern::test {

WorkerHarness::WorkerHarness(std::uint32_t flows, void (*tweak)(dataplane::Snapshot&),
                             const dataplane::SeqOffsets* offsets) {
  if (offsets != nullptr) {
    offsets_ = *offsets;
  }
  test_pool();
  settings_.workers = 1;
  settings_.flows = flows;
  dataplane::InterfaceSettings c;
  c.name = "client";
  c.ip = ip("198.18.0.1");
  c.prefix_len = 24;
  c.port_id = 0;
  std::memcpy(c.mac.addr_bytes, kPortClientMac.b, 6);
  dataplane::InterfaceSettings s;
  s.name = "servers";
  s.ip = ip("198.19.0.1");
  s.prefix_len = 24;
  s.port_id = 1;
  std::memcpy(s.mac.addr_bytes, kPortServerMac.b, 6);
  settings_.interfaces = {c, s};
  settings_.source_addresses = {ip("198.19.0.1")};

  snap_ = std::make_unique<dataplane::Snapshot>();
  snap_->generation = 1;
  snap_->vips = {ip("198.18.0.100")};
  dataplane::ListenerSlot imap;
  imap.name = "imap";
  imap.servers = {0, 1};
  imap.timeout_connect_ms = 5000;
  imap.timeout_client_ms = 60000;
  imap.timeout_server_ms = 60000;
  dataplane::ListenerSlot pop = imap;
  pop.name = "plain";
  pop.servers = {2};
  snap_->listeners = {imap, pop};
  auto server = [](const char* name, const char* addr, std::uint16_t port, bool proxy) {
    dataplane::ServerSlot sv;
    sv.name = name;
    sv.ip = ip(addr);
    sv.port = rte_cpu_to_be_16(port);
    sv.send_proxy = proxy;
    sv.port_id = 1;
    sv.next_hop = sv.ip;
    return sv;
  };
  snap_->servers = {server("imap/s1", "198.19.0.10", 143, true),
                    server("imap/s2", "198.19.0.11", 143, true),
                    server("plain/s1", "198.19.0.10", 110, false)};
  snap_->binds = {{0, 143, 0, false}, {0, 110, 1, false}};
  // Tests open many handshakes from the one client address and leave them half-open: the
  // per-source limit is off unless a test is about it.
  snap_->defense.half_open_per_source = 0;
  if (tweak != nullptr) {
    tweak(*snap_);
  }
  live_ = std::make_unique<dataplane::ServerLive[]>(dataplane::kMaxServers);
  snap_->live = live_.get();
  published_.store(snap_.get());
  static int rings = 0;
  const std::string n = std::to_string(rings++);
  probe_commands_ = rte_ring_create_elem(("hcmd" + n).c_str(), sizeof(dataplane::ProbeCommand), 64,
                                         SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  probe_events_ = rte_ring_create_elem(("hevt" + n).c_str(), sizeof(dataplane::ProbeEvent), 1024,
                                       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);

  session_log_ =
      rte_ring_create_elem(("hlog" + n).c_str(), sizeof(dataplane::SessionRecord),
                           dataplane::kLogRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);

  dataplane::WorkerDeps deps;
  deps.id = 0;
  deps.settings = &settings_;
  deps.pool = test_pool();
  deps.snapshot = &published_;
  deps.tx = &WorkerHarness::capture;
  deps.tx_ctx = this;
  deps.offsets = &offsets_;
  deps.probe_commands = probe_commands_;
  deps.probe_events = probe_events_;
  deps.session_log = session_log_;
  worker_ = std::make_unique<dataplane::Worker>(deps);
  worker_->set_now_ms(now_);
}

WorkerHarness::~WorkerHarness() {
  worker_.reset();
  rte_ring_free(probe_commands_);
  rte_ring_free(probe_events_);
  rte_ring_free(session_log_);
}

std::vector<dataplane::SessionRecord> WorkerHarness::records() {
  std::vector<dataplane::SessionRecord> out(64);
  const unsigned n = rte_ring_dequeue_burst_elem(session_log_, out.data(),
                                                 sizeof(dataplane::SessionRecord), 64, nullptr);
  out.resize(n);
  return out;
}

void WorkerHarness::command(const dataplane::ProbeCommand& c) {
  dataplane::ProbeCommand copy = c;
  rte_ring_enqueue_elem(probe_commands_, &copy, sizeof copy);
  worker_->housekeeping();
}

std::vector<dataplane::ProbeEvent> WorkerHarness::events() {
  std::vector<dataplane::ProbeEvent> out(64);
  const unsigned n = rte_ring_dequeue_burst_elem(probe_events_, out.data(),
                                                 sizeof(dataplane::ProbeEvent), 64, nullptr);
  out.resize(n);
  return out;
}

std::uint16_t WorkerHarness::capture(void* ctx, std::uint16_t port, std::uint16_t, rte_mbuf** pkts,
                                     std::uint16_t n) {
  auto* self = static_cast<WorkerHarness*>(ctx);
  if (self->discard_) {
    rte_pktmbuf_free_bulk(pkts, n);
    self->discarded_ += n;
    return n;
  }
  for (std::uint16_t i = 0; i < n; ++i) {
    Bytes b = from_mbuf(pkts[i]);
    self->sent_.push_back({port, b, decode(b)});
    rte_pktmbuf_free(pkts[i]);
  }
  return n;
}

void WorkerHarness::receive(const Bytes& frame, std::uint16_t port, std::uint64_t ol_flags) {
  rte_mbuf* m = to_mbuf(frame, port);
  m->ol_flags |= ol_flags;
  worker_->handle(m);
  worker_->flush();
}

void WorkerHarness::republish(void (*tweak)(dataplane::Snapshot&)) {
  auto next = std::make_unique<dataplane::Snapshot>(*snap_);
  ++next->generation;
  tweak(*next);
  published_.store(next.get());
  old_snaps_.push_back(std::move(snap_));
  snap_ = std::move(next);
  worker_->poll_snapshot();
  worker_->flush();
}

void WorkerHarness::advance(std::uint64_t ms) {
  now_ += ms;
  worker_->set_now_ms(now_);
  worker_->housekeeping();
}

void WorkerHarness::resolve_servers() {
  receive(arp_packet(2, kServer1Mac, "198.19.0.10", kPortServerMac, "198.19.0.1"), 1);
  receive(arp_packet(2, kServer2Mac, "198.19.0.11", kPortServerMac, "198.19.0.1"), 1);
  take();
}

std::vector<Sent> WorkerHarness::take() {
  std::vector<Sent> out;
  out.swap(sent_);
  return out;
}

}  // namespace postern::test
