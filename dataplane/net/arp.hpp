// ARP frames (RFC 826): requests, replies and announcements (gratuitous ARP, RFC 5227
// section 2.3) that Postern sends for the addresses it owns and the next hops it resolves.
#pragma once

#include <rte_arp.h>
#include <rte_ether.h>

#include <cstdint>

namespace postern::dataplane {

// Writes an ARP frame from `src_mac`/`sender_ip` into `out`. A request is broadcast and asks
// for `target_ip`; an announcement is a request whose target is the sender's own address;
// a reply goes to `target_mac`. Returns the frame length, 0 if `cap` is too small.
std::uint16_t build_arp(std::uint8_t* out, std::uint16_t cap, std::uint16_t op,
                        const rte_ether_addr& src_mac, std::uint32_t sender_ip,
                        const rte_ether_addr& target_mac, std::uint32_t target_ip) noexcept;

inline std::uint16_t build_arp_announcement(std::uint8_t* out, std::uint16_t cap,
                                            const rte_ether_addr& src_mac,
                                            std::uint32_t ip) noexcept {
  return build_arp(out, cap, RTE_ARP_OP_REQUEST, src_mac, ip, rte_ether_addr{}, ip);
}

}  // namespace postern::dataplane
