// Header views over one Ethernet frame: classification and IPv4/TCP validation. The views
// are DPDK's wire structs over plain bytes, so the same code runs on mbufs, on byte vectors
// in unit tests and in the benchmark.
#pragma once

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <cstdint>

#include "postern/dataplane/drop_reason.hpp"

namespace postern::dataplane {

enum class FrameKind : std::uint8_t { kTcp4, kArp, kIcmp4, kDrop };

struct FrameView {
  std::uint8_t* data = nullptr;
  std::uint16_t len = 0;  // bytes of the frame (Ethernet trailer padding excluded once parsed)
  rte_ether_hdr* eth = nullptr;
  rte_ipv4_hdr* ip = nullptr;
  rte_tcp_hdr* tcp = nullptr;
  rte_arp_hdr* arp = nullptr;
  rte_icmp_hdr* icmp = nullptr;
  std::uint16_t ip_len = 0;    // IPv4 total length
  std::uint16_t l4_len = 0;    // bytes after the IP header
  std::uint16_t tcp_hlen = 0;  // TCP header with options
  std::uint16_t payload_len = 0;

  std::uint8_t* tcp_options() const { return reinterpret_cast<std::uint8_t*>(tcp + 1); }
  std::uint16_t tcp_options_len() const { return static_cast<std::uint16_t>(tcp_hlen - 20); }
  std::uint8_t* payload() const { return reinterpret_cast<std::uint8_t*>(tcp) + tcp_hlen; }
};

// Parses and validates; on kDrop `reason` says why. Accepts only what a host would accept:
// IPv4 header length and total length consistent, header checksum correct, no fragments, no
// IP options, TCP data offset within the segment. TTL is checked by the forwarding code.
FrameKind parse_frame(std::uint8_t* data, std::uint16_t len, FrameView& v,
                      DropReason& reason) noexcept;

// Writes the Ethernet and IPv4 headers of a datagram Postern originates (no IP options, DF,
// ID 0 as an atomic datagram, RFC 6864 section 4.1; TTL 64) carrying `l4_len` bytes of
// `proto`, header checksum included. Returns where the payload goes. `out` must have room.
std::uint8_t* write_ipv4_headers(std::uint8_t* out, const rte_ether_addr& src_mac,
                                 const rte_ether_addr& dst_mac, std::uint32_t src_ip,
                                 std::uint32_t dst_ip, std::uint8_t proto, std::uint16_t l4_len,
                                 std::uint8_t tos = 0) noexcept;

}  // namespace postern::dataplane
