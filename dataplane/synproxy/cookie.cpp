// SYN cookie arithmetic (see cookie.hpp).
#include "synproxy/cookie.hpp"

namespace postern::dataplane::synproxy {
namespace {

constexpr std::uint32_t kLow24 = 0xffffffU;
constexpr std::uint32_t kTsBits = 0x3fU;
constexpr std::uint32_t kNoWscale = 0xfU;
constexpr std::uint32_t kSackBit = 0x10U;

std::uint64_t addrs(const FlowKey& k) {
  return (static_cast<std::uint64_t>(k.src_ip) << 32) | k.dst_ip;
}
std::uint64_t ports(const FlowKey& k) {
  return (static_cast<std::uint64_t>(k.src_port) << 16) | k.dst_port;
}

}  // namespace

std::uint8_t Cookies::mss_index(std::uint16_t mss) noexcept {
  std::uint8_t i = 0;
  for (std::uint8_t j = 0; j < kMssTable.size(); ++j) {
    if (kMssTable[j] <= mss) {
      i = j;
    }
  }
  return i;
}

std::uint32_t Cookies::h1(const FlowKey& k) const noexcept {
  return static_cast<std::uint32_t>(siphash<1, 3>(key_, addrs(k), ports(k)));
}

std::uint32_t Cookies::h2(const FlowKey& k, std::uint32_t period,
                          std::uint32_t client_isn) const noexcept {
  // Period and ISN make it a different message from H1's (whose ports word has a zero upper
  // half): an ACK must name the very ISN the SYN-ACK answered.
  return static_cast<std::uint32_t>(
      siphash<1, 3>(key_, addrs(k) ^ (static_cast<std::uint64_t>(period + 1) << 56),
                    (ports(k) << 32) | client_isn));
}

Seq Cookies::make(const FlowKey& k, Seq client_isn, std::uint8_t mss_index,
                  std::uint64_t now_ms) const noexcept {
  const auto t = static_cast<std::uint32_t>(now_ms / kPeriodMs) & 0xffU;
  const std::uint32_t v = h1(k) + client_isn.value() + (t << 24) +
                          ((h2(k, t, client_isn.value()) + mss_index) & kLow24);
  return Seq(v);
}

std::optional<std::uint8_t> Cookies::check(const FlowKey& k, Seq seq, Seq ack,
                                           std::uint64_t now_ms) const noexcept {
  const std::uint32_t client_isn = seq.value() - 1;
  const std::uint32_t v = ack.value() - 1 - h1(k) - client_isn;
  const std::uint32_t t = v >> 24;
  const auto now_t = static_cast<std::uint32_t>(now_ms / kPeriodMs) & 0xffU;
  if (((now_t - t) & 0xffU) > 1) {
    return std::nullopt;  // older than the period before this one, or from the future
  }
  const std::uint32_t index = ((v & kLow24) - h2(k, t, client_isn)) & kLow24;
  if (index >= kMssTable.size()) {
    return std::nullopt;
  }
  return static_cast<std::uint8_t>(index);
}

std::uint32_t Cookies::ts_encode(std::uint32_t clock, std::int8_t wscale, bool sack) noexcept {
  std::uint32_t bits = wscale < 0 ? kNoWscale : static_cast<std::uint32_t>(wscale);
  if (sack) {
    bits |= kSackBit;
  }
  // Never ahead of the clock: the low bits are taken from the period before when they would
  // be, so the client's view of the TSval clock never runs backwards later.
  std::uint32_t ts = (clock & ~kTsBits) | bits;
  if (ts > clock) {
    ts -= kTsBits + 1;
  }
  return ts;
}

void Cookies::ts_decode(std::uint32_t ts_ecr, SynOptions& o) noexcept {
  const std::uint32_t w = ts_ecr & kNoWscale;
  o.wscale = w == kNoWscale ? -1 : static_cast<std::int8_t>(w > 14 ? 14 : w);
  o.sack = (ts_ecr & kSackBit) != 0;
  o.timestamps = true;
}

}  // namespace postern::dataplane::synproxy
