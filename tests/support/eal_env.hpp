// A GoogleTest environment that starts EAL once per test binary, without hugepages, PCI or
// shared config, so unit tests get real mbufs from a real mempool.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "support/packet_builder.hpp"

namespace postern::test {

// Starts EAL on first use and returns the shared test mempool.
rte_mempool* test_pool();

// An mbuf holding `frame`, as if received on `port`.
rte_mbuf* to_mbuf(const Bytes& frame, std::uint16_t port);
Bytes from_mbuf(const rte_mbuf* m);

}  // namespace postern::test
