// The `defense:` section's words and ranges (issue 9), shared by the YAML reader and writer so
// what is dumped reads back the same.
#pragma once

#include <cstdint>

#include "health_check.hpp"
#include "postern/config/model.hpp"

namespace postern::config {

inline constexpr Word<SynProxy> kSynProxyWords[] = {
    {"auto", SynProxy::kAuto},
    {"on", SynProxy::kOn},
    {"off", SynProxy::kOff},
};

inline constexpr Word<Refuse> kRefuseWords[] = {
    {"rst", Refuse::kRst},
    {"drop", Refuse::kDrop},
};

// RFC 9293 3.7.1: every host takes 536-byte segments; 9000 is a jumbo frame's payload bound.
inline constexpr std::uint32_t kSynProxyMssMin = 536;
inline constexpr std::uint32_t kSynProxyMssMax = 9000;
inline constexpr Millis kHalfOpenTimeoutMin = 1000;
inline constexpr Millis kHalfOpenTimeoutMax = 60000;
// More than half the pool held back would starve the flows it is there to protect.
inline constexpr std::uint32_t kMbufReserveMax = 50;

}  // namespace postern::config
