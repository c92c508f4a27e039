// Per-worker flow table: a fixed pool of flows and an open-addressing index holding each
// flow under both of its keys. Sized once at start; no allocation afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "flow/flow.hpp"

namespace postern::dataplane {

enum class FlowSide : std::uint8_t { kClient = 0, kServer = 1 };

struct FlowRef {
  std::uint32_t index = kNoIndex;
  FlowSide side = FlowSide::kClient;
  bool found() const { return index != kNoIndex; }
};

class FlowTable {
 public:
  explicit FlowTable(std::uint32_t capacity);

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

 private:
  struct Slot {
    FlowKey key;
    std::uint32_t value = kEmpty;  // (index << 1) | side
  };
  static constexpr std::uint32_t kEmpty = 0xffffffffU;

  std::uint32_t home(const FlowKey& key) const noexcept;

  std::vector<Flow> flows_;
  std::vector<Slot> slots_;
  std::uint32_t mask_ = 0;
  std::uint32_t free_head_ = kNoIndex;
  std::uint32_t used_ = 0;
};

std::uint32_t flow_hash(const FlowKey& key) noexcept;

}  // namespace postern::dataplane
