#include "support/two_workers.hpp"

#include <rte_byteorder.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace postern::test {

std::uint16_t TwoWorkers::capture(void* ctx, std::uint16_t port, std::uint16_t, rte_mbuf** pkts,
                                  std::uint16_t n) {
  auto* c = static_cast<Captured*>(ctx);
  for (std::uint16_t i = 0; i < n; ++i) {
    Bytes b = from_mbuf(pkts[i]);
    c->sent.push_back({port, b, decode(b)});
    rte_pktmbuf_free(pkts[i]);
  }
  return n;
}

TwoWorkers::TwoWorkers(unsigned ring) {
  test_pool();
  settings_.workers = 2;
  settings_.flows = 256;
  dataplane::InterfaceSettings c;
  c.ip = ip("198.18.0.1");
  c.prefix_len = 24;
  c.port_id = 0;
  std::memcpy(c.mac.addr_bytes, kPortClientMac.b, 6);
  dataplane::InterfaceSettings s = c;
  s.ip = ip("198.19.0.1");
  s.port_id = 1;
  std::memcpy(s.mac.addr_bytes, kPortServerMac.b, 6);
  settings_.interfaces = {c, s};
  settings_.source_addresses = {ip("198.19.0.1")};

  snap_.generation = 1;
  snap_.vips = {ip("198.18.0.100")};
  dataplane::ListenerSlot l;
  l.servers = {0};
  snap_.listeners = {l};
  dataplane::ServerSlot sv;
  sv.ip = ip("198.19.0.10");
  sv.port = rte_cpu_to_be_16(143);
  sv.port_id = 1;
  sv.next_hop = sv.ip;
  snap_.servers = {sv};
  snap_.binds = {{0, 143, 0, false}};
  published_.store(&snap_);

  // Ring names are global to the EAL: unique per fixture alive at once.
  static unsigned instance = 0;
  const std::string tag = std::to_string(instance++);
  for (std::uint32_t w = 0; w < 2; ++w) {
    dataplane::WorkerDeps d;
    d.id = w;
    d.settings = &settings_;
    d.pool = test_pool();
    d.snapshot = &published_;
    d.tx = &capture;
    d.tx_ctx = &out_[w];
    d.queue = static_cast<std::uint16_t>(w);
    workers_.push_back(std::make_unique<dataplane::Worker>(d));
    rings_.push_back(rte_ring_create(("tw" + tag + "_" + std::to_string(w)).c_str(), ring,
                                     SOCKET_ID_ANY, RING_F_SC_DEQ));
    if (rings_.back() == nullptr) {
      throw std::runtime_error("TwoWorkers: rte_ring_create failed");
    }
  }
  std::vector<dataplane::Worker*> peers{workers_[0].get(), workers_[1].get()};
  workers_[0]->set_peers(peers, rings_[0]);
  workers_[1]->set_peers(peers, rings_[1]);
}

TwoWorkers::~TwoWorkers() {
  for (auto& w : workers_) {
    while (w->drain_inbox() != 0) {
      w->flush();
    }
  }
  workers_.clear();
  for (auto* r : rings_) {
    rte_ring_free(r);
  }
}

std::vector<Sent> TwoWorkers::take(unsigned w) {
  return std::exchange(out_[w].sent, {});
}

}  // namespace postern::test
