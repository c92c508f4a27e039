// Open addressing with linear probing and backward-shift deletion (no tombstones, so lookups
// stay short however long the table runs). Load stays at or below one half: two keys per flow
// in at least four slots per flow.
#include "flow/flow_table.hpp"

#include <bit>

namespace postern::dataplane {

std::uint32_t flow_hash(const FlowKey& key) noexcept {
  // A 64-bit multiply-xorshift mix of the 12 key bytes; ports and addresses all vary.
  std::uint64_t h = (static_cast<std::uint64_t>(key.src_ip) << 32) | key.dst_ip;
  h ^= (static_cast<std::uint64_t>(key.src_port) << 16 | key.dst_port) * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<std::uint32_t>(h);
}

FlowTable::FlowTable(std::uint32_t capacity) : flows_(capacity) {
  const std::uint64_t slots = std::bit_ceil(static_cast<std::uint64_t>(capacity) * 4);
  slots_.resize(slots);
  mask_ = static_cast<std::uint32_t>(slots - 1);
  for (std::uint32_t i = capacity; i-- > 0;) {
    flows_[i].free_next = free_head_;
    free_head_ = i;
  }
}

std::uint32_t FlowTable::home(const FlowKey& key) const noexcept {
  return flow_hash(key) & mask_;
}

FlowRef FlowTable::lookup(const FlowKey& key) const noexcept {
  for (std::uint32_t i = home(key);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.value == kEmpty) {
      return {};
    }
    if (s.key == key) {
      return {s.value >> 1, static_cast<FlowSide>(s.value & 1)};
    }
  }
}

std::uint32_t FlowTable::allocate() noexcept {
  const std::uint32_t i = free_head_;
  if (i == kNoIndex) {
    return kNoIndex;
  }
  free_head_ = flows_[i].free_next;
  flows_[i] = Flow{};
  ++used_;
  return i;
}

bool FlowTable::insert(const FlowKey& key, std::uint32_t index, FlowSide side) noexcept {
  for (std::uint32_t i = home(key);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.value == kEmpty) {
      s.key = key;
      s.value = (index << 1) | static_cast<std::uint32_t>(side);
      return true;
    }
    if (s.key == key) {
      return false;
    }
  }
}

void FlowTable::erase_key(const FlowKey& key, std::uint32_t index) noexcept {
  std::uint32_t i = home(key);
  for (;; i = (i + 1) & mask_) {
    if (slots_[i].value == kEmpty) {
      return;
    }
    if (slots_[i].key == key) {
      break;
    }
  }
  // A key indexed for another flow (a failed insert of a colliding key) is not ours to drop.
  if ((slots_[i].value >> 1) != index) {
    return;
  }
  // Backward shift: pull later entries of the same probe run into the hole when their home
  // slot does not lie cyclically between the hole and their current position.
  std::uint32_t hole = i;
  for (std::uint32_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
    if (slots_[j].value == kEmpty) {
      break;
    }
    const std::uint32_t h = home(slots_[j].key);
    const bool stays = ((j - h) & mask_) < ((j - hole) & mask_);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole].value = kEmpty;
}

void FlowTable::release(std::uint32_t index) noexcept {
  Flow& f = flows_[index];
  erase_key(f.client_key(), index);
  if (f.local_port != 0) {
    erase_key(f.server_key(), index);
  }
  f.free_next = free_head_;
  free_head_ = index;
  --used_;
}

}  // namespace postern::dataplane
