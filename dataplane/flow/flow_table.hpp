// Per-worker flow table: a fixed pool of flows and an open-addressing index holding each
// flow under both of its keys. Sized once at start; no allocation afterwards. The index is
// keyed with a secret, so nobody outside can choose client addresses and ports that pile up
// in one probe run.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "flow/flow.hpp"
#include "net/siphash.hpp"

namespace postern::dataplane {

enum class FlowSide : std::uint8_t { kClient = 0, kServer = 1 };

struct FlowRef {
  std::uint32_t index = kNoIndex;
  FlowSide side = FlowSide::kClient;
  bool found() const { return index != kNoIndex; }
};

// The secret of a table's hash: SipHash's 128-bit key.
using FlowHashKey = SipKey;

// SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) of the key's
// 12 bytes as they lie in memory. A PRF: without the secret, which keys share a home slot
// cannot be predicted, nor learnt from one collision as with a linear or CRC hash (a CRC's
// collisions are the same under every seed). Python's and Rust's hash tables use it too.
std::uint64_t flow_hash(const FlowKey& key, const FlowHashKey& secret) noexcept;

class FlowTable {
 public:
  // A table with its own random hash key.
  explicit FlowTable(std::uint32_t capacity);
  // A table with a given key: tests that need the same homes on every run.
  FlowTable(std::uint32_t capacity, const FlowHashKey& secret);

  std::uint32_t capacity() const { return static_cast<std::uint32_t>(flows_.size()); }
  std::uint32_t size() const { return used_; }
  Flow& at(std::uint32_t index) { return flows_[index]; }
  const Flow& at(std::uint32_t index) const { return flows_[index]; }

  FlowRef lookup(const FlowKey& key) const noexcept;
  // Takes a free flow, or kNoIndex when the pool is empty. The flow is not indexed yet.
  std::uint32_t allocate() noexcept;
  // Indexes the flow under one key; false if the key is already present.
  bool insert(const FlowKey& key, std::uint32_t index, FlowSide side) noexcept;
  // Removes `key` if it is indexed for flow `index`.
  void erase_key(const FlowKey& key, std::uint32_t index) noexcept;
  // Removes both keys and returns the flow to the pool.
  void release(std::uint32_t index) noexcept;

  // The slot where the key's probe run starts.
  std::uint32_t home(const FlowKey& key) const noexcept {
    return static_cast<std::uint32_t>(flow_hash(key, secret_)) & mask_;
  }
  std::uint32_t index_slots() const { return mask_ + 1; }

 private:
  struct Slot {
    FlowKey key;
    std::uint32_t value = kEmpty;  // (index << 1) | side
  };
  static constexpr std::uint32_t kEmpty = 0xffffffffU;

  std::vector<Flow> flows_;
  std::vector<Slot> slots_;
  std::uint32_t mask_ = 0;
  std::uint32_t free_head_ = kNoIndex;
  std::uint32_t used_ = 0;
  FlowHashKey secret_;
};

}  // namespace postern::dataplane
