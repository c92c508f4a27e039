// EAL for unit tests: `--no-huge -m 256 --no-shconf --no-pci`, one lcore, quiet logs.
#include "support/eal_env.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace postern::test {

rte_mempool* test_pool() {
  static rte_mempool* pool = [] {
    const char* argv[] = {"postern-test", "-l",       "0",           "--no-huge",   "-m",   "256",
                          "--no-shconf",  "--no-pci", "--log-level", "lib.*:error", nullptr};
    if (rte_eal_init(10, const_cast<char**>(argv)) < 0) {
      throw std::runtime_error(std::string("EAL init failed: ") + rte_strerror(rte_errno));
    }
    rte_mempool* p =
        rte_pktmbuf_pool_create("test_pool", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (p == nullptr) {
      throw std::runtime_error("mempool");
    }
    return p;
  }();
  return pool;
}

rte_mbuf* to_mbuf(const Bytes& frame, std::uint16_t port) {
  rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
  if (m == nullptr) {
    throw std::runtime_error("mbuf alloc");
  }
  char* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
  if (!frame.empty()) {  // an empty frame's data() may be null
    std::memcpy(p, frame.data(), frame.size());
  }
  m->port = port;
  return m;
}

Bytes from_mbuf(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const std::uint8_t*);
  return Bytes(p, p + rte_pktmbuf_data_len(m));
}

}  // namespace postern::test
