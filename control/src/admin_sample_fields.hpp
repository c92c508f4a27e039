// Counts a Sample may carry or not, depending on what the dataplane counts (per-server bytes,
// the workers' busy ratio, connections per listener): the state document and the status page
// show each one when the Sample has it, and leave it out otherwise.
#pragma once

#include <cstdint>
#include <optional>

namespace postern::control::admin::fields {

template <typename S>
std::optional<std::uint64_t> server_bytes_in(const S& s, std::size_t slot) {
  if constexpr (requires { s.server_bytes_in; }) {
    if (slot < s.server_bytes_in.size()) {
      return s.server_bytes_in[slot];
    }
  }
  return std::nullopt;
}

template <typename S>
std::optional<std::uint64_t> server_bytes_out(const S& s, std::size_t slot) {
  if constexpr (requires { s.server_bytes_out; }) {
    if (slot < s.server_bytes_out.size()) {
      return s.server_bytes_out[slot];
    }
  }
  return std::nullopt;
}

template <typename S>
std::optional<std::uint64_t> listener_total(const S& s, std::size_t slot) {
  if constexpr (requires { s.listener_total; }) {
    if (slot < s.listener_total.size()) {
      return s.listener_total[slot];
    }
  }
  return std::nullopt;
}

// A worker's share of time spent on loop turns that found packets, in parts per million.
template <typename W>
std::optional<std::uint64_t> busy_ppm(const W& w) {
  if constexpr (requires { w.busy_ppm; }) {
    return w.busy_ppm;
  }
  return std::nullopt;
}

}  // namespace postern::control::admin::fields
