// Runtime bring-up and teardown.
#include "postern/dataplane/runtime.hpp"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "port/port.hpp"
#include "worker/worker.hpp"

namespace postern::dataplane {
namespace {

std::uint16_t eth_tx(void*, std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts,
                     std::uint16_t n) {
  return rte_eth_tx_burst(port, queue, pkts, n);
}

struct WorkerArg {
  Worker* worker;
  const std::atomic<bool>* stop;
  rte_rcu_qsbr* qsbr;
  unsigned thread_id;
};

void report_quiescent(void* ctx) {
  auto* a = static_cast<WorkerArg*>(ctx);
  rte_rcu_qsbr_quiescent(a->qsbr, a->thread_id);
}

}  // namespace

namespace {

rte_ring* make_ring(const std::string& name, unsigned esize, unsigned count) {
  rte_ring* r = rte_ring_create_elem(name.c_str(), esize, count, static_cast<int>(rte_socket_id()),
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (r == nullptr) {
    throw std::runtime_error("cannot create ring " + name);
  }
  return r;
}

}  // namespace

Runtime::Runtime(Settings settings)
    : settings_(std::move(settings)), live_(std::make_unique<ServerLive[]>(kMaxServers)) {
  std::vector<std::string> devices;
  for (const auto& i : settings_.interfaces) {
    devices.push_back(i.device);
  }
  init_eal(settings_.eal_args, devices);

  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (lcores_.size() < settings_.workers) {
      lcores_.push_back(lcore);
    }
  }
  if (lcores_.size() < settings_.workers) {
    throw std::runtime_error("dataplane.workers is " + std::to_string(settings_.workers) +
                             " but EAL has " + std::to_string(lcores_.size()) +
                             " worker lcores (-l gives the main lcore plus one per worker)");
  }
  if (settings_.interfaces.size() > kMaxPorts) {
    throw std::runtime_error("at most " + std::to_string(kMaxPorts) + " interfaces");
  }
  // Mbufs: every RX ring full on every queue and port, the TX rings, per-lcore caches,
  // neighbour queues and headroom for segments Postern writes.
  const unsigned queues = settings_.workers;
  const unsigned nb =
      static_cast<unsigned>(settings_.interfaces.size()) * queues * 2048U + queues * 4096U + 4095U;
  pool_ = rte_pktmbuf_pool_create("postern_mbufs", nb, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  static_cast<int>(rte_socket_id()));
  if (pool_ == nullptr) {
    throw std::runtime_error("cannot create the mbuf pool of " + std::to_string(nb) +
                             " mbufs (raise -m)");
  }
  for (auto& ifc : settings_.interfaces) {
    const PortInfo p = start_port(ifc.device, static_cast<std::uint16_t>(queues), pool_);
    ifc.port_id = p.port_id;
    rte_eth_macaddr_get(p.port_id, &ifc.mac);
  }
  ports_up_ = true;

  const std::size_t qsz = rte_rcu_qsbr_get_memsize(settings_.workers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("postern_qsbr", qsz, RTE_CACHE_LINE_SIZE));
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, settings_.workers) != 0) {
    throw std::runtime_error("cannot set up RCU");
  }
  for (std::uint32_t w = 0; w < settings_.workers; ++w) {
    // One writer and one reader each: the health engine's thread and the worker.
    probe_commands_.push_back(
        make_ring("postern_probe_cmd" + std::to_string(w), sizeof(ProbeCommand), 1024));
    probe_events_.push_back(
        make_ring("postern_probe_evt" + std::to_string(w), sizeof(ProbeEvent), 4096));
    session_logs_.push_back(
        make_ring("postern_log" + std::to_string(w), sizeof(SessionRecord), kLogRingSize));
    WorkerDeps d;
    d.id = w;
    d.settings = &settings_;
    d.pool = pool_;
    d.snapshot = &published_;
    d.tx = &eth_tx;
    d.queue = static_cast<std::uint16_t>(w);
    d.probe_commands = probe_commands_.back();
    d.probe_events = probe_events_.back();
    d.session_log = session_logs_.back();
    workers_.push_back(std::make_unique<Worker>(d));
    const std::string ring_name = "postern_inbox" + std::to_string(w);
    rte_ring* r =
        rte_ring_create(ring_name.c_str(), 4096, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    if (r == nullptr) {
      throw std::runtime_error("cannot create hand-off ring");
    }
    rings_.push_back(r);
  }
  std::vector<Worker*> peers;
  for (auto& w : workers_) {
    peers.push_back(w.get());
  }
  for (std::uint32_t w = 0; w < settings_.workers; ++w) {
    workers_[w]->set_peers(settings_.workers > 1 ? peers : std::vector<Worker*>{}, rings_[w]);
  }
}

Runtime::~Runtime() {
  stop();
  for (auto* r : rings_) {
    rte_ring_free(r);
  }
  for (auto* r : probe_commands_) {
    rte_ring_free(r);
  }
  for (auto* r : probe_events_) {
    rte_ring_free(r);
  }
  for (auto* r : session_logs_) {
    rte_ring_free(r);
  }
  rte_free(qsbr_);
  workers_.clear();
  if (ports_up_) {
    for (const auto& ifc : settings_.interfaces) {
      stop_port(ifc.port_id);
    }
  }
  rte_mempool_free(pool_);
  rte_eal_cleanup();
}

const WorkerCounters& Runtime::counters(std::size_t worker) const {
  return workers_[worker]->counters();
}

const WorkerSlots& Runtime::slots(std::size_t worker) const {
  return workers_[worker]->slots();
}

bool Runtime::send_probe_command(std::size_t worker, const ProbeCommand& c) {
  ProbeCommand copy = c;  // DPDK 22.11 takes a non-const pointer
  return rte_ring_enqueue_elem(probe_commands_[worker], &copy, sizeof copy) == 0;
}

std::size_t Runtime::poll_session_records(std::size_t worker, SessionRecord* out, std::size_t max) {
  return rte_ring_dequeue_burst_elem(session_logs_[worker], out, sizeof(SessionRecord),
                                     static_cast<unsigned>(max), nullptr);
}

std::size_t Runtime::poll_probe_events(std::size_t worker, ProbeEvent* out, std::size_t max) {
  return rte_ring_dequeue_burst_elem(probe_events_[worker], out, sizeof(ProbeEvent),
                                     static_cast<unsigned>(max), nullptr);
}

std::uint64_t Runtime::connect_errors(std::uint16_t server) const {
  std::uint64_t most = 0;
  for (const auto& w : workers_) {
    most = std::max(most, w->slots().server_connect_errors[server].get());
  }
  return most;
}

InterfaceStats Runtime::interface_stats(std::size_t interface) const {
  InterfaceStats out;
  rte_eth_stats st{};
  if (interface < settings_.interfaces.size() &&
      rte_eth_stats_get(settings_.interfaces[interface].port_id, &st) == 0) {
    out.rx_packets = st.ipackets;
    out.tx_packets = st.opackets;
    out.rx_bytes = st.ibytes;
    out.tx_bytes = st.obytes;
    out.rx_missed = st.imissed;
    out.rx_errors = st.ierrors;
    out.tx_errors = st.oerrors;
    out.rx_nombuf = st.rx_nombuf;
  }
  return out;
}

MbufPoolStats Runtime::mbuf_pool() const {
  MbufPoolStats out;
  if (pool_ != nullptr) {
    out.size = pool_->size;
    out.available = rte_mempool_avail_count(pool_);
    out.element_bytes = pool_->header_size + pool_->elt_size + pool_->trailer_size;
  }
  return out;
}

std::uint32_t Runtime::handoff_queued(std::size_t worker) const {
  return worker < rings_.size() ? rte_ring_count(rings_[worker]) : 0;
}

std::uint32_t Runtime::handoff_capacity(std::size_t worker) const {
  return worker < rings_.size() ? rte_ring_get_capacity(rings_[worker]) : 0;
}

std::uint64_t Runtime::tsc_hz() const {
  return rte_get_tsc_hz();
}

void Runtime::publish(std::unique_ptr<Snapshot> next) {
  next->live = live_.get();
  published_.store(next.get(), std::memory_order_release);
  if (running_) {
    // Wait until every worker has reported a quiescent state after the store.
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
  }
  current_ = std::move(next);
}

int Runtime::worker_main(void* arg) {
  auto* a = static_cast<WorkerArg*>(arg);
  rte_rcu_qsbr_thread_register(a->qsbr, a->thread_id);
  rte_rcu_qsbr_thread_online(a->qsbr, a->thread_id);
  a->worker->run(*a->stop, &report_quiescent, a);
  rte_rcu_qsbr_thread_offline(a->qsbr, a->thread_id);
  rte_rcu_qsbr_thread_unregister(a->qsbr, a->thread_id);
  delete a;
  return 0;
}

void Runtime::start() {
  stop_.store(false);
  for (std::uint32_t w = 0; w < settings_.workers; ++w) {
    auto* arg = new WorkerArg{workers_[w].get(), &stop_, qsbr_, w};
    if (rte_eal_remote_launch(&Runtime::worker_main, arg, lcores_[w]) != 0) {
      delete arg;
      throw std::runtime_error("cannot launch worker on lcore " + std::to_string(lcores_[w]));
    }
  }
  running_ = true;
}

void Runtime::stop() {
  if (!running_) {
    return;
  }
  stop_.store(true);
  rte_eal_mp_wait_lcore();
  running_ = false;
}

}  // namespace postern::dataplane
