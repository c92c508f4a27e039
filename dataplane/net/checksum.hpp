// Internet checksum helpers. Rewrites update checksums incrementally (RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m')); segments Postern creates get a full sum (RFC 1071).
#pragma once

#include <cstddef>
#include <cstdint>

namespace postern::dataplane {

// All values are taken exactly as they sit in the packet (network byte order), which the
// ones'-complement sum does not care about as long as both sides agree.
constexpr std::uint16_t csum_fold(std::uint32_t sum) noexcept {
  sum = (sum & 0xffffU) + (sum >> 16);
  sum = (sum & 0xffffU) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// Checksum after one 16-bit word of the covered data changed from `from` to `to`.
constexpr std::uint16_t csum_replace16(std::uint16_t check, std::uint16_t from,
                                       std::uint16_t to) noexcept {
  std::uint32_t sum = static_cast<std::uint16_t>(~check);
  sum += static_cast<std::uint16_t>(~from);
  sum += to;
  return static_cast<std::uint16_t>(~csum_fold(sum));
}

// Checksum after a 32-bit field (an address, a sequence number) changed.
constexpr std::uint16_t csum_replace32(std::uint16_t check, std::uint32_t from,
                                       std::uint32_t to) noexcept {
  std::uint32_t sum = static_cast<std::uint16_t>(~check);
  sum += static_cast<std::uint16_t>(~from) + static_cast<std::uint16_t>(~(from >> 16));
  sum += (to & 0xffffU) + (to >> 16);
  return static_cast<std::uint16_t>(~csum_fold(sum));
}

// Ones'-complement sum of `len` bytes (not folded, not inverted), `sum` carried in.
std::uint32_t csum_partial(const void* data, std::size_t len, std::uint32_t sum) noexcept;

// Full IPv4 header checksum of the `ihl_bytes` header at `ip` (its check field is ignored).
std::uint16_t ipv4_header_checksum(const void* ip, std::size_t ihl_bytes) noexcept;

// Full TCP checksum over pseudo-header and segment; addresses in network order.
std::uint16_t tcp4_checksum(std::uint32_t src_be, std::uint32_t dst_be, const void* tcp,
                            std::size_t tcp_len) noexcept;

// Whether a received TCP segment's checksum is right: pseudo-header and segment, its check
// field included, sum to all ones (either zero of ones' complement passes, RFC 1624 section 3).
bool tcp4_checksum_ok(std::uint32_t src_be, std::uint32_t dst_be, const void* tcp,
                      std::size_t tcp_len) noexcept;

}  // namespace postern::dataplane
