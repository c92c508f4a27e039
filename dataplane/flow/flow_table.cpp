// Open addressing with linear probing and backward-shift deletion (no tombstones, so lookups
// stay short however long the table runs). Load stays at or below one half: two keys per flow
// in at least four slots per flow.
#include "flow/flow_table.hpp"

#include <bit>

namespace postern::dataplane {

std::uint64_t flow_hash(const FlowKey& key, const FlowHashKey& secret) noexcept {
  // The 12 key bytes as SipHash reads them: one little-endian word, then the last four bytes
  // with the message length in the top byte.
  return siphash<1, 3>(
      secret, static_cast<std::uint64_t>(key.dst_ip) << 32 | key.src_ip,
      std::uint64_t{12} << 56 | static_cast<std::uint64_t>(key.dst_port) << 16 | key.src_port);
}

FlowTable::FlowTable(std::uint32_t capacity) : FlowTable(capacity, random_sip_key()) {}

FlowTable::FlowTable(std::uint32_t capacity, const FlowHashKey& secret)
    : flows_(capacity), secret_(secret) {
  const std::uint64_t slots = std::bit_ceil(static_cast<std::uint64_t>(capacity) * 4);
  slots_.resize(slots);
  mask_ = static_cast<std::uint32_t>(slots - 1);
  for (std::uint32_t i = capacity; i-- > 0;) {
    flows_[i].free_next = free_head_;
    free_head_ = i;
  }
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
  flows_[i].in_use = true;
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
  f.in_use = false;
  f.free_next = free_head_;
  free_head_ = index;
  --used_;
}

}  // namespace postern::dataplane
