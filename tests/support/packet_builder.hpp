// A fluent builder for test frames (Ethernet / IPv4 / TCP or ARP) with correct checksums, and
// a decoder for frames the dataplane emits, so tests read as field-by-field expectations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::test {

using Bytes = std::vector<std::uint8_t>;

// "198.18.0.2" -> network-order integer.
std::uint32_t ip(const char* dotted);
std::string ip_str(std::uint32_t be);
struct Mac {
  std::uint8_t b[6];
};
Mac mac(std::uint8_t last);

inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;

class TcpPacket {
 public:
  TcpPacket& eth(Mac src, Mac dst);
  TcpPacket& from(const char* addr, std::uint16_t port);
  TcpPacket& to(const char* addr, std::uint16_t port);
  TcpPacket& seq(std::uint32_t v);
  TcpPacket& ack(std::uint32_t v);
  TcpPacket& flags(std::uint8_t f);
  TcpPacket& window(std::uint16_t w);
  TcpPacket& ttl(std::uint8_t t);
  TcpPacket& mss(std::uint16_t m);
  TcpPacket& wscale(std::uint8_t s);
  TcpPacket& sack_permitted();
  TcpPacket& timestamp(std::uint32_t val, std::uint32_t ecr);
  // SACK blocks (left, right) pairs.
  TcpPacket& sack(std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks);
  // Option bytes appended as given (the builder still pads the area to 32 bits with NOPs).
  TcpPacket& raw_options(const Bytes& bytes);
  // The IPv4 flags + fragment offset field, host order (default 0x4000: DF, not a fragment).
  TcpPacket& fragment(std::uint16_t flags_and_offset);
  TcpPacket& payload(std::string_view data);
  TcpPacket& payload(const Bytes& data);
  Bytes build() const;

 private:
  Mac src_mac_ = mac(0xaa);
  Mac dst_mac_ = mac(0xbb);
  std::uint32_t src_ = 0;
  std::uint32_t dst_ = 0;
  std::uint16_t sport_ = 0;
  std::uint16_t dport_ = 0;
  std::uint32_t seq_ = 0;
  std::uint32_t ack_ = 0;
  std::uint8_t flags_ = 0;
  std::uint16_t window_ = 64240;
  std::uint8_t ttl_ = 64;
  std::uint16_t fragment_ = 0x4000;
  Bytes options_;
  Bytes payload_;
};

Bytes arp_packet(std::uint16_t op, Mac sha, const char* sip, Mac tha, const char* tip);

// An ICMP error (RFC 792) quoting a TcpPacket's IP datagram, by default the IP header and
// the first 8 bytes of TCP, the least a router sends.
class IcmpError {
 public:
  static constexpr std::size_t kWholeDatagram = ~std::size_t{0};

  IcmpError& eth(Mac src, Mac dst);
  IcmpError& from(const char* addr);
  IcmpError& to(const char* addr);
  IcmpError& type(std::uint8_t type, std::uint8_t code);
  IcmpError& ttl(std::uint8_t t);
  // Bytes 4-7 of the ICMP header as a host-order word: the next-hop MTU of "fragmentation
  // needed" (RFC 1191) in its low 16 bits, the parameter problem pointer in its top byte.
  IcmpError& rest(std::uint32_t word);
  IcmpError& quote(const TcpPacket& offending);
  // The quoted datagram as given (for malformed quotes), instead of a TcpPacket's.
  IcmpError& quote_raw(const Bytes& datagram);
  // How many bytes of the quoted datagram the error carries: kWholeDatagram for all of it.
  IcmpError& quote_len(std::size_t n);
  Bytes build() const;

 private:
  Mac src_mac_ = mac(0xaa);
  Mac dst_mac_ = mac(0xbb);
  std::uint32_t src_ = 0;
  std::uint32_t dst_ = 0;
  std::uint8_t type_ = 3;
  std::uint8_t code_ = 4;
  std::uint8_t ttl_ = 64;
  std::uint32_t rest_ = 0;
  Bytes datagram_;
  std::size_t quote_len_ = 28;
};

// The IP datagram of a frame (the frame without its Ethernet header).
Bytes ip_datagram(const Bytes& frame);

// A decoded TCP/IPv4 frame with checksum verdicts computed by full recomputation.
struct Decoded {
  bool is_tcp = false;
  bool is_arp = false;
  bool is_icmp = false;
  Mac src_mac{};
  Mac dst_mac{};
  std::uint32_t src = 0;  // network order
  std::uint32_t dst = 0;
  std::uint16_t sport = 0;  // host order
  std::uint16_t dport = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::uint8_t ttl = 0;
  bool has_ts = false;
  std::uint32_t ts_val = 0;
  std::uint32_t ts_ecr = 0;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sack;
  Bytes options;
  Bytes payload;
  bool ip_checksum_ok = false;
  bool tcp_checksum_ok = false;
  // ARP
  std::uint16_t arp_op = 0;
  std::uint32_t arp_sip = 0;
  std::uint32_t arp_tip = 0;
  Mac arp_sha{};
  // ICMP
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint32_t icmp_rest = 0;  // bytes 4-7, host order (the next-hop MTU in its low 16 bits)
  bool icmp_checksum_ok = false;
  // ICMP errors (types 3, 11, 12) quoting an IPv4 header and at least 8 bytes after it.
  bool has_quote = false;
  Bytes quote;                   // the quoted datagram bytes as they sit in the error
  std::uint32_t quoted_src = 0;  // network order
  std::uint32_t quoted_dst = 0;
  std::uint8_t quoted_ttl = 0;
  std::uint8_t quoted_proto = 0;
  std::uint16_t quoted_sport = 0;  // host order
  std::uint16_t quoted_dport = 0;
  std::uint32_t quoted_seq = 0;
  bool has_quoted_ack = false;
  std::uint32_t quoted_ack = 0;
  bool has_quoted_tcp_check = false;
  std::uint16_t quoted_tcp_check = 0;  // as it sits in the quote, host order
  bool quoted_ip_checksum_ok = false;
  // Only knowable when the whole segment is quoted; otherwise false.
  bool whole_segment_quoted = false;
  bool quoted_tcp_checksum_ok = false;
};

Decoded decode(const Bytes& frame);

Bytes icmp_echo(Mac src_mac, Mac dst_mac, const char* src, const char* dst, std::uint16_t id,
                std::uint16_t seq, std::string_view data);

}  // namespace postern::test
