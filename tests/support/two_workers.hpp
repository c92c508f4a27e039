// Two workers sharing the client and server ports, as `dataplane.workers: 2` runs them: each
// owns the source ports p with p % 2 == its id and has a hand-off ring of its own, so a
// server's segment that reaches the other worker goes through the owner's ring. Listener on
// 198.18.0.100:143 with one server, 198.19.0.10; everything each worker sends is captured.
#pragma once

#include <rte_ring.h>

#include <atomic>
#include <memory>
#include <vector>

#include "support/worker_harness.hpp"

namespace postern::test {

class TwoWorkers {
 public:
  // `ring` slots per hand-off ring (a power of two; it holds ring - 1 frames).
  explicit TwoWorkers(unsigned ring = 64);
  ~TwoWorkers();  // drains both rings (their frames go back to the pool) and frees them
  TwoWorkers(const TwoWorkers&) = delete;
  TwoWorkers& operator=(const TwoWorkers&) = delete;

  dataplane::Worker& worker(unsigned w) { return *workers_[w]; }
  // What worker `w` has sent so far (flush() first), and the same emptied.
  const std::vector<Sent>& sent(unsigned w) const { return out_[w].sent; }
  std::vector<Sent> take(unsigned w);

 private:
  struct Captured {
    std::vector<Sent> sent;
  };
  static std::uint16_t capture(void* ctx, std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts,
                               std::uint16_t n);

  dataplane::Settings settings_;
  dataplane::Snapshot snap_;
  std::atomic<const dataplane::Snapshot*> published_{nullptr};
  Captured out_[2];
  std::vector<std::unique_ptr<dataplane::Worker>> workers_;
  std::vector<rte_ring*> rings_;
};

}  // namespace postern::test
