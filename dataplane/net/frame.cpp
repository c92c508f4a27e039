// Frame classification and IPv4/TCP header validation (RFC 791, RFC 9293 section 3.1).
#include "net/frame.hpp"

#include <rte_byteorder.h>

#include "net/checksum.hpp"

namespace postern::dataplane {

FrameKind parse_frame(std::uint8_t* data, std::uint16_t len, FrameView& v,
                      DropReason& reason) noexcept {
  v = FrameView{};
  v.data = data;
  v.len = len;
  if (len < sizeof(rte_ether_hdr)) {
    reason = DropReason::kFrameTooShort;
    return FrameKind::kDrop;
  }
  v.eth = reinterpret_cast<rte_ether_hdr*>(data);
  const std::uint16_t type = rte_be_to_cpu_16(v.eth->ether_type);
  const std::uint16_t l3_avail = static_cast<std::uint16_t>(len - sizeof(rte_ether_hdr));
  std::uint8_t* l3 = data + sizeof(rte_ether_hdr);

  if (type == RTE_ETHER_TYPE_ARP) {
    if (l3_avail < sizeof(rte_arp_hdr)) {
      reason = DropReason::kFrameTooShort;
      return FrameKind::kDrop;
    }
    v.arp = reinterpret_cast<rte_arp_hdr*>(l3);
    if (v.arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        v.arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        v.arp->arp_hlen != RTE_ETHER_ADDR_LEN || v.arp->arp_plen != 4) {
      reason = DropReason::kBadArp;
      return FrameKind::kDrop;
    }
    return FrameKind::kArp;
  }
  if (type == RTE_ETHER_TYPE_IPV6) {
    reason = DropReason::kIpv6;
    return FrameKind::kDrop;
  }
  if (type != RTE_ETHER_TYPE_IPV4) {
    reason = DropReason::kUnsupportedEtherType;
    return FrameKind::kDrop;
  }
  if (l3_avail < sizeof(rte_ipv4_hdr)) {
    reason = DropReason::kFrameTooShort;
    return FrameKind::kDrop;
  }
  v.ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
  const std::uint16_t ihl = static_cast<std::uint16_t>((v.ip->version_ihl & 0x0f) * 4);
  v.ip_len = rte_be_to_cpu_16(v.ip->total_length);
  if ((v.ip->version_ihl >> 4) != 4 || ihl < 20) {
    reason = DropReason::kBadIpHeader;
    return FrameKind::kDrop;
  }
  // A total length shorter than the header, or longer than what arrived (a truncated
  // datagram; the header checksum cannot be read either when IHL runs past the frame).
  if (v.ip_len < ihl || v.ip_len > l3_avail) {
    reason = DropReason::kIpBadLength;
    return FrameKind::kDrop;
  }
  if (ipv4_header_checksum(v.ip, ihl) != v.ip->hdr_checksum) {
    reason = DropReason::kBadIpChecksum;
    return FrameKind::kDrop;
  }
  // MF set or a non-zero offset: a fragment. Postern neither reassembles nor forwards them.
  if ((rte_be_to_cpu_16(v.ip->fragment_offset) & 0x3fff) != 0) {
    reason = DropReason::kIpFragment;
    return FrameKind::kDrop;
  }
  // No mail client sends IP options, and source or record route are attack vectors (RFC 7126
  // section 4); nothing past this point has to handle an IHL above 5.
  if (ihl != sizeof(rte_ipv4_hdr)) {
    reason = DropReason::kIpOptions;
    return FrameKind::kDrop;
  }
  // Ethernet pads short frames; from here on the frame ends where the IP datagram ends.
  v.len = static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + v.ip_len);
  v.l4_len = static_cast<std::uint16_t>(v.ip_len - ihl);
  std::uint8_t* l4 = l3 + ihl;

  if (v.ip->next_proto_id == IPPROTO_TCP) {
    if (v.l4_len < sizeof(rte_tcp_hdr)) {
      reason = DropReason::kBadTcpHeader;
      return FrameKind::kDrop;
    }
    v.tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
    v.tcp_hlen = static_cast<std::uint16_t>((v.tcp->data_off >> 4) * 4);
    if (v.tcp_hlen < 20 || v.tcp_hlen > v.l4_len) {
      reason = DropReason::kBadTcpHeader;
      return FrameKind::kDrop;
    }
    v.payload_len = static_cast<std::uint16_t>(v.l4_len - v.tcp_hlen);
    return FrameKind::kTcp4;
  }
  if (v.ip->next_proto_id == IPPROTO_ICMP) {
    if (v.l4_len < sizeof(rte_icmp_hdr)) {
      reason = DropReason::kFrameTooShort;
      return FrameKind::kDrop;
    }
    v.icmp = reinterpret_cast<rte_icmp_hdr*>(l4);
    return FrameKind::kIcmp4;
  }
  reason = DropReason::kUnsupportedProtocol;
  return FrameKind::kDrop;
}

std::uint8_t* write_ipv4_headers(std::uint8_t* out, const rte_ether_addr& src_mac,
                                 const rte_ether_addr& dst_mac, std::uint32_t src_ip,
                                 std::uint32_t dst_ip, std::uint8_t proto, std::uint16_t l4_len,
                                 std::uint8_t tos) noexcept {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(out);
  eth->src_addr = src_mac;
  eth->dst_addr = dst_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = tos;
  ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(sizeof(rte_ipv4_hdr) + l4_len));
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = proto;
  ip->src_addr = src_ip;
  ip->dst_addr = dst_ip;
  ip->hdr_checksum = ipv4_header_checksum(ip, sizeof(rte_ipv4_hdr));
  return reinterpret_cast<std::uint8_t*>(ip + 1);
}

}  // namespace postern::dataplane
