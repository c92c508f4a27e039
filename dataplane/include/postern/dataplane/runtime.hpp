// The running dataplane: EAL, ports, mempool, workers on their lcores, and snapshot
// publication with RCU (rte_rcu_qsbr) so an old snapshot is freed only after every worker
// has passed a quiescent point. Used by the control thread only; part of the dataplane's
// public header set (the workers themselves stay inside).
#pragma once

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <memory>
#include <vector>

#include "postern/dataplane/counters.hpp"
#include "postern/dataplane/log_record.hpp"
#include "postern/dataplane/probe.hpp"
#include "postern/dataplane/settings.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {

class Worker;

class Runtime {
 public:
  // Starts EAL and every port; throws std::runtime_error with a message naming the cause.
  explicit Runtime(Settings settings);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Settings& settings() const { return settings_; }

  // Publishes a new snapshot; returns once no worker can still see the previous one.
  void publish(std::unique_ptr<Snapshot> next);
  const Snapshot* snapshot() const { return current_.get(); }

  // Launches one worker per worker lcore.
  void start();
  // Stops the workers, drains and stops the ports.
  void stop();

  // What each worker counts, for reports and metrics (read while the workers run).
  std::size_t worker_count() const { return workers_.size(); }
  const WorkerCounters& counters(std::size_t worker) const;
  const WorkerSlots& slots(std::size_t worker) const;

  // Health checks (postern/dataplane/probe.hpp). A command for worker `worker` (false: its
  // ring is full, try again later), and up to `max` of its events.
  bool send_probe_command(std::size_t worker, const ProbeCommand& c);
  std::size_t poll_probe_events(std::size_t worker, ProbeEvent* out, std::size_t max);
  // Session log records (log_record.hpp) a worker wrote: up to `max` of them.
  std::size_t poll_session_records(std::size_t worker, SessionRecord* out, std::size_t max);
  // What workers read of each server's health (kMaxServers entries).
  ServerLive* live() { return live_.get(); }
  // `observe layer4`: the most consecutive connection errors any worker has seen to a server.
  std::uint64_t connect_errors(std::uint16_t server) const;

  // For metrics, read from the control thread while the workers run.
  InterfaceStats interface_stats(std::size_t interface) const;
  MbufPoolStats mbuf_pool() const;
  // Frames waiting in a worker's hand-off ring, and what the ring holds.
  std::uint32_t handoff_queued(std::size_t worker) const;
  std::uint32_t handoff_capacity(std::size_t worker) const;
  std::uint64_t tsc_hz() const;

 private:
  static int worker_main(void* arg);

  Settings settings_;
  rte_mempool* pool_ = nullptr;
  std::atomic<const Snapshot*> published_{nullptr};
  std::unique_ptr<Snapshot> current_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<rte_ring*> rings_;
  std::vector<rte_ring*> probe_commands_;
  std::vector<rte_ring*> probe_events_;
  std::vector<rte_ring*> session_logs_;
  std::unique_ptr<ServerLive[]> live_;
  std::vector<unsigned> lcores_;
  std::atomic<bool> stop_{false};
  bool running_ = false;
  bool ports_up_ = false;
};

}  // namespace postern::dataplane
