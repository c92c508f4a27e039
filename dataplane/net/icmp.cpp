// ICMPv4 errors quoting TCP (RFC 792, RFC 1191, RFC 1812 section 4.3.2), echo replies and
// the rate limit on ICMP Postern originates.
#include "net/icmp.hpp"

#include <netinet/in.h>
#include <rte_byteorder.h>

#include <algorithm>
#include <cstring>

#include "net/bytes.hpp"
#include "net/checksum.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint16_t kIcmpHeaderLen = 8;
constexpr std::uint16_t kQuotedTcpMin = 8;  // ports and sequence number (RFC 792)
constexpr std::uint16_t kQuotedAckEnd = 12;
constexpr std::uint16_t kQuotedCheckEnd = 18;
constexpr std::uint16_t kTcpCheckOffset = 16;
// RFC 1812 section 4.3.2.3: the error datagram, IP header included, stays within 576 bytes.
constexpr std::uint16_t kErrorDatagramMax = 576;
constexpr std::uint8_t kTtl = 64;
// RFC 1812 section 4.3.2.5: errors SHOULD carry precedence 6, internetwork control.
constexpr std::uint8_t kTosInternetworkControl = 0xc0;

std::uint16_t ihl_bytes(const rte_ipv4_hdr* ip) noexcept {
  return static_cast<std::uint16_t>((ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * 4U);
}

std::uint16_t icmp_checksum(const std::uint8_t* msg, std::uint16_t len) noexcept {
  // The checksum field (bytes 2-3) counts as zero.
  std::uint32_t sum = csum_partial(msg, 2, 0);
  sum = csum_partial(msg + 4, len - 4U, sum);
  return static_cast<std::uint16_t>(~csum_fold(sum));
}

// Queries (echo, timestamp, information, address mask) may be answered with an error; every
// other type, unknown ones included, is treated as an error (RFC 1122 section 3.2.2).
bool is_icmp_query(std::uint8_t type) noexcept {
  switch (type) {
    case kIcmpEchoReply:
    case kIcmpEchoRequest:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 18:
      return true;
    default:
      return false;
  }
}

// An address that names one host: not 0/8 ("this network"), 127/8, 224/4 or 240/4 (which
// holds the limited broadcast). Directed broadcasts need the subnet and are the caller's.
bool is_single_host(rte_be32_t addr) noexcept {
  const std::uint8_t first = static_cast<std::uint8_t>(rte_be_to_cpu_32(addr) >> 24);
  return first != 0 && first != 127 && first < 224;
}

}  // namespace

bool parse_icmp_error(const FrameView& v, IcmpQuote& q) noexcept {
  q = IcmpQuote{};
  if (v.ip == nullptr || v.icmp == nullptr || v.l4_len < kIcmpHeaderLen) {
    return false;
  }
  const std::uint8_t type = v.icmp->icmp_type;
  if (type != kIcmpDestUnreachable && type != kIcmpTimeExceeded && type != kIcmpParameterProblem) {
    return false;
  }
  auto* msg = reinterpret_cast<std::uint8_t*>(v.icmp);
  // A corrupted error is dropped, as a host would (Linux's icmp_rcv): translating it would
  // give it a good checksum and pass the corruption on as a real error.
  if (csum_fold(csum_partial(msg, v.l4_len, 0)) != 0xffff) {
    return false;
  }
  std::uint16_t avail = static_cast<std::uint16_t>(v.l4_len - kIcmpHeaderLen);
  // RFC 4884: a non-zero byte 5 gives the quoted datagram's length in 32-bit words, and
  // extensions follow it. A length the message cannot hold is taken for the older format.
  const std::uint16_t rfc4884_len = static_cast<std::uint16_t>(msg[5] * 4U);
  if (rfc4884_len != 0 && rfc4884_len <= avail) {
    avail = rfc4884_len;
  }
  if (avail < sizeof(rte_ipv4_hdr)) {
    return false;
  }
  auto* qip = reinterpret_cast<rte_ipv4_hdr*>(msg + kIcmpHeaderLen);
  const std::uint16_t ihl = ihl_bytes(qip);
  if ((qip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || ihl > avail ||
      qip->next_proto_id != IPPROTO_TCP) {
    return false;
  }
  // A later fragment quotes payload, not the TCP header.
  if ((rte_be_to_cpu_16(qip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) != 0) {
    return false;
  }
  // The quote may be shorter than the datagram it comes from, never longer: bytes past the
  // quoted total length are padding and must not be taken for a TCP checksum.
  const std::uint16_t total = rte_be_to_cpu_16(qip->total_length);
  if (total < ihl) {
    return false;
  }
  const auto tcp_len = static_cast<std::uint16_t>(std::min<std::uint16_t>(avail, total) - ihl);
  if (tcp_len < kQuotedTcpMin) {
    return false;
  }
  q.type = type;
  q.code = v.icmp->icmp_code;
  q.ip = qip;
  q.ip_hlen = ihl;
  q.tcp = msg + kIcmpHeaderLen + ihl;
  q.tcp_len = tcp_len;
  q.src = qip->src_addr;
  q.dst = qip->dst_addr;
  q.sport = load16(q.tcp);
  q.dport = load16(q.tcp + 2);
  q.seq = Seq(rte_be_to_cpu_32(load32(q.tcp + 4)));
  q.has_ack = tcp_len >= kQuotedAckEnd;
  q.has_tcp_checksum = tcp_len >= kQuotedCheckEnd;
  return true;
}

void translate_icmp_error(FrameView& v, const IcmpQuote& q, const IcmpTranslation& t) noexcept {
  std::uint8_t* tcp = q.tcp;
  std::uint16_t check = q.has_tcp_checksum ? load16(tcp + kTcpCheckOffset) : 0;

  // Quoted TCP: the pseudo-header addresses, ports and numbers all enter its checksum.
  const std::uint32_t old_src = q.ip->src_addr;
  const std::uint32_t old_dst = q.ip->dst_addr;
  check = csum_replace32(check, old_src, t.quoted_src);
  check = csum_replace32(check, old_dst, t.quoted_dst);
  const std::uint16_t old_sport = load16(tcp);
  const std::uint16_t old_dport = load16(tcp + 2);
  check = csum_replace16(check, old_sport, t.quoted_sport);
  check = csum_replace16(check, old_dport, t.quoted_dport);
  store16(tcp, t.quoted_sport);
  store16(tcp + 2, t.quoted_dport);
  const std::uint32_t old_seq = load32(tcp + 4);
  const std::uint32_t new_seq =
      rte_cpu_to_be_32((Seq(rte_be_to_cpu_32(old_seq)) + t.seq_shift).value());
  check = csum_replace32(check, old_seq, new_seq);
  store32(tcp + 4, new_seq);
  if (q.has_ack) {
    const std::uint32_t old_ack = load32(tcp + 8);
    const std::uint32_t new_ack =
        rte_cpu_to_be_32((Seq(rte_be_to_cpu_32(old_ack)) + t.ack_shift).value());
    check = csum_replace32(check, old_ack, new_ack);
    store32(tcp + 8, new_ack);
  }
  if (q.has_tcp_checksum) {
    store16(tcp + kTcpCheckOffset, check);
  }

  // Quoted IP header: a fresh checksum, whatever the quote carried (see parse_icmp_error).
  q.ip->src_addr = t.quoted_src;
  q.ip->dst_addr = t.quoted_dst;
  q.ip->hdr_checksum = ipv4_header_checksum(q.ip, q.ip_hlen);

  // Outer header: Postern sends the error on this side.
  v.ip->src_addr = t.outer_src;
  v.ip->dst_addr = t.outer_dst;
  v.ip->time_to_live = kTtl;
  v.ip->hdr_checksum = ipv4_header_checksum(v.ip, ihl_bytes(v.ip));

  // The quote changed in several places: sum the message again rather than patch it.
  auto* msg = reinterpret_cast<std::uint8_t*>(v.icmp);
  v.icmp->icmp_cksum = icmp_checksum(msg, v.l4_len);
}

std::uint16_t build_icmp_error(std::uint8_t* out, std::uint16_t cap, const rte_ether_addr& src_mac,
                               const rte_ether_addr& dst_mac, rte_be32_t src_ip, std::uint8_t type,
                               std::uint8_t code, const FrameView& offending) noexcept {
  const rte_ipv4_hdr* oip = offending.ip;
  if (oip == nullptr || offending.eth == nullptr) {
    return 0;
  }
  // RFC 1122 section 3.2.2: never about a link-layer broadcast or multicast, a non-initial
  // fragment, a broadcast or multicast destination, a source that is no single host, or an
  // ICMP error.
  if (rte_is_multicast_ether_addr(&offending.eth->dst_addr) != 0 ||
      (rte_be_to_cpu_16(oip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) != 0 ||
      !is_single_host(oip->src_addr) || rte_be_to_cpu_32(oip->dst_addr) >= 0xe0000000U) {
    return 0;
  }
  const std::uint16_t oihl = ihl_bytes(oip);
  if (oip->next_proto_id == IPPROTO_ICMP) {
    if (offending.ip_len <= oihl) {
      return 0;
    }
    const auto* l4 = reinterpret_cast<const std::uint8_t*>(oip) + oihl;
    if (!is_icmp_query(*l4)) {
      return 0;
    }
  }
  constexpr std::uint16_t kHeaders = sizeof(rte_ipv4_hdr) + kIcmpHeaderLen;
  const std::uint16_t quote =
      std::min<std::uint16_t>(offending.ip_len, kErrorDatagramMax - kHeaders);
  const auto ip_len = static_cast<std::uint16_t>(kHeaders + quote);
  const auto frame_len = static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + ip_len);
  if (out == nullptr || cap < frame_len) {
    return 0;
  }

  std::uint8_t* msg = write_ipv4_headers(out, src_mac, dst_mac, src_ip, oip->src_addr, IPPROTO_ICMP,
                                         static_cast<std::uint16_t>(ip_len - sizeof(rte_ipv4_hdr)),
                                         kTosInternetworkControl);
  msg[0] = type;
  msg[1] = code;
  std::memset(msg + 2, 0, kIcmpHeaderLen - 2);
  std::memcpy(msg + kIcmpHeaderLen, oip, quote);
  store16(msg + 2, icmp_checksum(msg, static_cast<std::uint16_t>(kIcmpHeaderLen + quote)));
  return frame_len;
}

std::uint16_t make_echo_reply(FrameView& v) noexcept {
  if (v.ip == nullptr || v.icmp == nullptr || v.icmp->icmp_type != kIcmpEchoRequest) {
    return 0;
  }
  // A request whose checksum is wrong is discarded, as hosts do: answering it would send a
  // reply with the same wrong checksum.
  auto* msg = reinterpret_cast<std::uint8_t*>(v.icmp);
  if (csum_fold(csum_partial(msg, v.l4_len, 0)) != 0xffff) {
    return 0;
  }
  const rte_ether_addr mac = v.eth->src_addr;
  v.eth->src_addr = v.eth->dst_addr;
  v.eth->dst_addr = mac;
  const rte_be32_t src = v.ip->src_addr;
  v.ip->src_addr = v.ip->dst_addr;
  v.ip->dst_addr = src;
  v.ip->time_to_live = kTtl;
  v.ip->hdr_checksum = ipv4_header_checksum(v.ip, ihl_bytes(v.ip));
  // Recomputed rather than updated (the message was just summed anyway): an update gives
  // 0x0000 where the sum of the rest is zero, which receivers reject, not 0xffff.
  v.icmp->icmp_type = kIcmpEchoReply;
  v.icmp->icmp_cksum = icmp_checksum(msg, v.l4_len);
  return v.len;
}

IcmpRateLimit::IcmpRateLimit(std::uint32_t per_second, std::uint32_t burst) noexcept
    : per_second_(per_second), capacity_(std::uint64_t{burst} * kUnit), credit_(capacity_) {}

bool IcmpRateLimit::allow(std::uint64_t now_ms) noexcept {
  if (now_ms > last_ms_) {
    // R tokens a second are R * kUnit credit per 1000 ms, R credit per millisecond.
    const std::uint64_t elapsed = now_ms - last_ms_;
    last_ms_ = now_ms;
    const std::uint64_t room = capacity_ - credit_;
    if (per_second_ != 0) {
      // Compare before multiplying: a long quiet spell must not overflow.
      credit_ = elapsed >= room / per_second_ + 1 ? capacity_ : credit_ + elapsed * per_second_;
    }
  }
  if (credit_ < kUnit) {
    return false;
  }
  credit_ -= kUnit;
  return true;
}

}  // namespace postern::dataplane
