// ARP frame writer.
#include "net/arp.hpp"

#include <rte_byteorder.h>

#include <cstring>

namespace postern::dataplane {

std::uint16_t build_arp(std::uint8_t* out, std::uint16_t cap, std::uint16_t op,
                        const rte_ether_addr& src_mac, std::uint32_t sender_ip,
                        const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept {
  constexpr std::uint16_t kLen = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
  if (cap < kLen) {
    return 0;
  }
  auto* eth = reinterpret_cast<rte_ether_hdr*>(out);
  const bool request = op == RTE_ARP_OP_REQUEST;
  eth->src_addr = src_mac;
  if (request) {
    std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  } else {
    eth->dst_addr = target_mac;
  }
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(op);
  arp->arp_data.arp_sha = src_mac;
  arp->arp_data.arp_sip = sender_ip;
  // A request's target hardware address is unknown: zero (RFC 5227 section 2.3 too).
  arp->arp_data.arp_tha = request ? rte_ether_addr{} : target_mac;
  arp->arp_data.arp_tip = target_ip;
  return kLen;
}

}  // namespace postern::dataplane
