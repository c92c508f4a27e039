// Full checksum sums for segments Postern builds itself and for test verification.
#include "net/checksum.hpp"

#include <netinet/in.h>

#include <cstring>

namespace postern::dataplane {

std::uint32_t csum_partial(const void* data, std::size_t len, std::uint32_t sum) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint64_t acc = sum;
  while (len >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    // The odd byte is padded with zero at its end, in memory order (RFC 1071 section 4.1).
    std::uint8_t last[2] = {*p, 0};
    std::uint16_t w;
    std::memcpy(&w, last, 2);
    acc += w;
  }
  while ((acc >> 32) != 0U) {
    acc = (acc & 0xffffffffU) + (acc >> 32);
  }
  return static_cast<std::uint32_t>(acc & 0xffffU) + static_cast<std::uint32_t>(acc >> 16);
}

std::uint16_t ipv4_header_checksum(const void* ip, std::size_t ihl_bytes) noexcept {
  // Sum the header with the check field (bytes 10-11) taken as zero.
  std::uint32_t sum = csum_partial(ip, 10, 0);
  sum = csum_partial(static_cast<const std::uint8_t*>(ip) + 12, ihl_bytes - 12, sum);
  return static_cast<std::uint16_t>(~csum_fold(sum));
}

namespace {

// The sum of the TCP pseudo-header (RFC 9293 section 3.1).
std::uint32_t tcp4_pseudo_sum(std::uint32_t src_be, std::uint32_t dst_be,
                              std::size_t tcp_len) noexcept {
  std::uint8_t pseudo[12];
  std::memcpy(pseudo, &src_be, 4);
  std::memcpy(pseudo + 4, &dst_be, 4);
  pseudo[8] = 0;
  pseudo[9] = IPPROTO_TCP;
  pseudo[10] = static_cast<std::uint8_t>(tcp_len >> 8);
  pseudo[11] = static_cast<std::uint8_t>(tcp_len & 0xff);
  return csum_partial(pseudo, sizeof pseudo, 0);
}

}  // namespace

std::uint16_t tcp4_checksum(std::uint32_t src_be, std::uint32_t dst_be, const void* tcp,
                            std::size_t tcp_len) noexcept {
  std::uint32_t sum = tcp4_pseudo_sum(src_be, dst_be, tcp_len);
  // Skip the check field at offset 16.
  const auto* t = static_cast<const std::uint8_t*>(tcp);
  sum = csum_partial(t, 16, sum);
  sum = csum_partial(t + 18, tcp_len - 18, sum);
  const std::uint16_t c = static_cast<std::uint16_t>(~csum_fold(sum));
  return c;
}

bool tcp4_checksum_ok(std::uint32_t src_be, std::uint32_t dst_be, const void* tcp,
                      std::size_t tcp_len) noexcept {
  return csum_fold(csum_partial(tcp, tcp_len, tcp4_pseudo_sum(src_be, dst_be, tcp_len))) == 0xffffU;
}

}  // namespace postern::dataplane
