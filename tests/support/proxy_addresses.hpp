// Readable Addresses for PROXY protocol tests: tcp4("192.168.0.1", 56324, ...) instead of
// byte arrays. Uses inet_pton, which is fine in tests but not on the hot path.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>

#include "proxy/proxy_protocol.hpp"

namespace postern::test {

inline dataplane::proxy::Addresses tcp4(const char* src, uint16_t src_port, const char* dst,
                                        uint16_t dst_port) {
  dataplane::proxy::Addresses a;
  a.family = dataplane::proxy::Family::kTcp4;
  if (inet_pton(AF_INET, src, a.src.data()) != 1 || inet_pton(AF_INET, dst, a.dst.data()) != 1) {
    throw std::invalid_argument(std::string("tcp4: bad address ") + src + " / " + dst);
  }
  a.src_port = src_port;
  a.dst_port = dst_port;
  return a;
}

inline dataplane::proxy::Addresses tcp6(const char* src, uint16_t src_port, const char* dst,
                                        uint16_t dst_port) {
  dataplane::proxy::Addresses a;
  a.family = dataplane::proxy::Family::kTcp6;
  if (inet_pton(AF_INET6, src, a.src.data()) != 1 || inet_pton(AF_INET6, dst, a.dst.data()) != 1) {
    throw std::invalid_argument(std::string("tcp6: bad address ") + src + " / " + dst);
  }
  a.src_port = src_port;
  a.dst_port = dst_port;
  return a;
}

// "TCP4 192.168.0.1:56324 -> 192.168.0.11:443" for failure messages.
inline std::string describe(const dataplane::proxy::Addresses& a) {
  using dataplane::proxy::Family;
  if (a.family == Family::kUnspec) {
    return "UNSPEC";
  }
  const int af = a.family == Family::kTcp4 ? AF_INET : AF_INET6;
  char src[INET6_ADDRSTRLEN];
  char dst[INET6_ADDRSTRLEN];
  inet_ntop(af, a.src.data(), src, sizeof(src));
  inet_ntop(af, a.dst.data(), dst, sizeof(dst));
  return std::string(a.family == Family::kTcp4 ? "TCP4 " : "TCP6 ") + src + ":" +
         std::to_string(a.src_port) + " -> " + dst + ":" + std::to_string(a.dst_port);
}

}  // namespace postern::test

namespace postern::dataplane::proxy {

// GoogleTest prints Addresses through ADL in their own namespace.
inline void PrintTo(const Addresses& a, std::ostream* os) {
  *os << postern::test::describe(a);
}
inline void PrintTo(DecodeStatus status, std::ostream* os) {
  *os << to_string(status);
}

}  // namespace postern::dataplane::proxy
