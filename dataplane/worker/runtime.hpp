// The running dataplane: EAL, ports, mempool, workers on their lcores, and snapshot
// publication with RCU (rte_rcu_qsbr) so an old snapshot is freed only after every worker
// has passed a quiescent point. Used by the control thread only.
#pragma once

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <memory>
#include <vector>

#include "worker/settings.hpp"
#include "worker/snapshot.hpp"
#include "worker/worker.hpp"

namespace postern::dataplane {

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

  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

 private:
  static int worker_main(void* arg);

  Settings settings_;
  rte_mempool* pool_ = nullptr;
  std::atomic<const Snapshot*> published_{nullptr};
  std::unique_ptr<Snapshot> current_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<rte_ring*> rings_;
  std::vector<unsigned> lcores_;
  std::atomic<bool> stop_{false};
  bool running_ = false;
  bool ports_up_ = false;
};

}  // namespace postern::dataplane
