// Test frame construction and decoding, independent of the code under test: checksums here
// are computed from scratch with a plain RFC 1071 loop.
#include "support/packet_builder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace postern::test {
namespace {

std::uint16_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    acc += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  }
  if ((n & 1) != 0) {
    acc += static_cast<std::uint32_t>(p[n - 1] << 8);
  }
  while ((acc >> 16) != 0) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<std::uint16_t>(acc);
}

std::uint16_t tcp_sum(const std::uint8_t* ip_hdr, const std::uint8_t* tcp, std::size_t len) {
  std::uint8_t pseudo[12];
  std::memcpy(pseudo, ip_hdr + 12, 8);
  pseudo[8] = 0;
  pseudo[9] = 6;
  pseudo[10] = static_cast<std::uint8_t>(len >> 8);
  pseudo[11] = static_cast<std::uint8_t>(len);
  std::uint32_t acc = sum16(pseudo, 12);
  acc = sum16(tcp, len, acc);
  return static_cast<std::uint16_t>(acc);
}

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  put16(b, at, static_cast<std::uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<std::uint16_t>(v));
}
std::uint16_t get16(const Bytes& b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t get32(const Bytes& b, std::size_t at) {
  return (static_cast<std::uint32_t>(get16(b, at)) << 16) | get16(b, at + 2);
}

// The datagram an ICMP error quotes, every checksum verdict from a full sum.
void decode_quote(const Bytes& b, std::size_t icmp_at, std::size_t icmp_len, Decoded& d) {
  if ((d.icmp_type != 3 && d.icmp_type != 11 && d.icmp_type != 12) || icmp_len < 8 + 20 + 8) {
    return;
  }
  const std::size_t q = icmp_at + 8;
  const std::size_t qihl = static_cast<std::size_t>(b[q] & 0x0f) * 4;
  if ((b[q] >> 4) != 4 || qihl < 20 || 8 + qihl + 8 > icmp_len) {
    return;
  }
  d.has_quote = true;
  d.quote.assign(b.begin() + static_cast<long>(q),
                 b.begin() + static_cast<long>(icmp_at + icmp_len));
  d.quoted_ttl = b[q + 8];
  d.quoted_proto = b[q + 9];
  std::memcpy(&d.quoted_src, b.data() + q + 12, 4);
  std::memcpy(&d.quoted_dst, b.data() + q + 16, 4);
  d.quoted_ip_checksum_ok = sum16(b.data() + q, qihl) == 0xffff;
  const std::size_t t = q + qihl;
  const std::size_t tcp_len = icmp_len - 8 - qihl;
  d.quoted_sport = get16(b, t);
  d.quoted_dport = get16(b, t + 2);
  d.quoted_seq = get32(b, t + 4);
  d.has_quoted_ack = tcp_len >= 12;
  if (d.has_quoted_ack) {
    d.quoted_ack = get32(b, t + 8);
  }
  d.has_quoted_tcp_check = tcp_len >= 18;
  if (d.has_quoted_tcp_check) {
    d.quoted_tcp_check = get16(b, t + 16);
  }
  const std::size_t total = get16(b, q + 2);
  d.whole_segment_quoted = total == qihl + tcp_len;
  if (d.whole_segment_quoted && d.quoted_proto == 6) {
    d.quoted_tcp_checksum_ok = tcp_sum(b.data() + q, b.data() + t, tcp_len) == 0xffff;
  }
}

}  // namespace

std::uint32_t ip(const char* dotted) {
  in_addr a{};
  inet_pton(AF_INET, dotted, &a);
  return a.s_addr;
}

std::string ip_str(std::uint32_t be) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{};
  a.s_addr = be;
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Mac mac(std::uint8_t last) {
  return Mac{{0x02, 0x00, 0x00, 0x00, 0x00, last}};
}

TcpPacket& TcpPacket::eth(Mac src, Mac dst) {
  src_mac_ = src;
  dst_mac_ = dst;
  return *this;
}
TcpPacket& TcpPacket::from(const char* addr, std::uint16_t port) {
  src_ = ip(addr);
  sport_ = port;
  return *this;
}
TcpPacket& TcpPacket::to(const char* addr, std::uint16_t port) {
  dst_ = ip(addr);
  dport_ = port;
  return *this;
}
TcpPacket& TcpPacket::seq(std::uint32_t v) {
  seq_ = v;
  return *this;
}
TcpPacket& TcpPacket::ack(std::uint32_t v) {
  ack_ = v;
  return *this;
}
TcpPacket& TcpPacket::flags(std::uint8_t f) {
  flags_ = f;
  return *this;
}
TcpPacket& TcpPacket::window(std::uint16_t w) {
  window_ = w;
  return *this;
}
TcpPacket& TcpPacket::ttl(std::uint8_t t) {
  ttl_ = t;
  return *this;
}
TcpPacket& TcpPacket::mss(std::uint16_t m) {
  options_.insert(options_.end(),
                  {2, 4, static_cast<std::uint8_t>(m >> 8), static_cast<std::uint8_t>(m)});
  return *this;
}
TcpPacket& TcpPacket::wscale(std::uint8_t s) {
  options_.insert(options_.end(), {1, 3, 3, s});
  return *this;
}
TcpPacket& TcpPacket::sack_permitted() {
  options_.insert(options_.end(), {1, 1, 4, 2});
  return *this;
}
TcpPacket& TcpPacket::timestamp(std::uint32_t val, std::uint32_t ecr) {
  const std::size_t at = options_.size();
  options_.insert(options_.end(), {1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0});
  put32(options_, at + 4, val);
  put32(options_, at + 8, ecr);
  return *this;
}
TcpPacket& TcpPacket::sack(std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks) {
  const std::size_t at = options_.size();
  options_.insert(options_.end(), {1, 1, 5, static_cast<std::uint8_t>(2 + 8 * blocks.size())});
  options_.resize(options_.size() + 8 * blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    put32(options_, at + 4 + 8 * i, blocks[i].first);
    put32(options_, at + 8 + 8 * i, blocks[i].second);
  }
  return *this;
}
TcpPacket& TcpPacket::raw_options(const Bytes& bytes) {
  options_.insert(options_.end(), bytes.begin(), bytes.end());
  return *this;
}
TcpPacket& TcpPacket::fragment(std::uint16_t flags_and_offset) {
  fragment_ = flags_and_offset;
  return *this;
}
TcpPacket& TcpPacket::payload(std::string_view data) {
  payload_.assign(data.begin(), data.end());
  return *this;
}
TcpPacket& TcpPacket::payload(const Bytes& data) {
  payload_ = data;
  return *this;
}

Bytes TcpPacket::build() const {
  Bytes opts = options_;
  while (opts.size() % 4 != 0) {
    opts.push_back(1);
  }
  const std::size_t tcp_len = 20 + opts.size() + payload_.size();
  Bytes b(14 + 20 + tcp_len, 0);
  std::memcpy(b.data(), dst_mac_.b, 6);
  std::memcpy(b.data() + 6, src_mac_.b, 6);
  put16(b, 12, 0x0800);
  b[14] = 0x45;
  put16(b, 16, static_cast<std::uint16_t>(20 + tcp_len));
  put16(b, 20, fragment_);
  b[22] = ttl_;
  b[23] = 6;
  std::memcpy(b.data() + 26, &src_, 4);
  std::memcpy(b.data() + 30, &dst_, 4);
  put16(b, 24, static_cast<std::uint16_t>(~sum16(b.data() + 14, 20)));
  const std::size_t t = 34;
  put16(b, t, sport_);
  put16(b, t + 2, dport_);
  put32(b, t + 4, seq_);
  put32(b, t + 8, ack_);
  b[t + 12] = static_cast<std::uint8_t>(((20 + opts.size()) / 4) << 4);
  b[t + 13] = flags_;
  put16(b, t + 14, window_);
  // std::copy, not memcpy: an empty vector's data() may be null (UB for memcpy, UBSan stops).
  std::copy(opts.begin(), opts.end(), b.begin() + static_cast<long>(t + 20));
  std::copy(payload_.begin(), payload_.end(), b.begin() + static_cast<long>(t + 20 + opts.size()));
  put16(b, t + 16, static_cast<std::uint16_t>(~tcp_sum(b.data() + 14, b.data() + t, tcp_len)));
  return b;
}

Bytes arp_packet(std::uint16_t op, Mac sha, const char* sip, Mac tha, const char* tip) {
  Bytes b(42, 0);
  if (op == 1) {
    std::memset(b.data(), 0xff, 6);
  } else {
    std::memcpy(b.data(), tha.b, 6);
  }
  std::memcpy(b.data() + 6, sha.b, 6);
  put16(b, 12, 0x0806);
  put16(b, 14, 1);
  put16(b, 16, 0x0800);
  b[18] = 6;
  b[19] = 4;
  put16(b, 20, op);
  std::memcpy(b.data() + 22, sha.b, 6);
  const std::uint32_t s = ip(sip);
  std::memcpy(b.data() + 28, &s, 4);
  std::memcpy(b.data() + 32, tha.b, 6);
  const std::uint32_t t = ip(tip);
  std::memcpy(b.data() + 38, &t, 4);
  return b;
}

IcmpError& IcmpError::eth(Mac src, Mac dst) {
  src_mac_ = src;
  dst_mac_ = dst;
  return *this;
}
IcmpError& IcmpError::from(const char* addr) {
  src_ = ip(addr);
  return *this;
}
IcmpError& IcmpError::to(const char* addr) {
  dst_ = ip(addr);
  return *this;
}
IcmpError& IcmpError::type(std::uint8_t type, std::uint8_t code) {
  type_ = type;
  code_ = code;
  return *this;
}
IcmpError& IcmpError::ttl(std::uint8_t t) {
  ttl_ = t;
  return *this;
}
IcmpError& IcmpError::rest(std::uint32_t word) {
  rest_ = word;
  return *this;
}
IcmpError& IcmpError::quote(const TcpPacket& offending) {
  datagram_ = ip_datagram(offending.build());
  return *this;
}
IcmpError& IcmpError::quote_raw(const Bytes& datagram) {
  datagram_ = datagram;
  return *this;
}
IcmpError& IcmpError::quote_len(std::size_t n) {
  quote_len_ = n;
  return *this;
}

Bytes IcmpError::build() const {
  const std::size_t quoted = std::min(quote_len_, datagram_.size());
  const std::size_t icmp_len = 8 + quoted;
  Bytes b(14 + 20 + icmp_len, 0);
  std::memcpy(b.data(), dst_mac_.b, 6);
  std::memcpy(b.data() + 6, src_mac_.b, 6);
  put16(b, 12, 0x0800);
  b[14] = 0x45;
  put16(b, 16, static_cast<std::uint16_t>(20 + icmp_len));
  b[22] = ttl_;
  b[23] = 1;
  std::memcpy(b.data() + 26, &src_, 4);
  std::memcpy(b.data() + 30, &dst_, 4);
  put16(b, 24, static_cast<std::uint16_t>(~sum16(b.data() + 14, 20)));
  b[34] = type_;
  b[35] = code_;
  put32(b, 38, rest_);
  std::copy(datagram_.begin(), datagram_.begin() + static_cast<long>(quoted), b.begin() + 42);
  put16(b, 36, static_cast<std::uint16_t>(~sum16(b.data() + 34, icmp_len)));
  return b;
}

Bytes ip_datagram(const Bytes& frame) {
  return Bytes(frame.begin() + 14, frame.end());
}

Bytes icmp_echo(Mac src_mac, Mac dst_mac, const char* src, const char* dst, std::uint16_t id,
                std::uint16_t seq, std::string_view data) {
  const std::size_t icmp_len = 8 + data.size();
  Bytes b(14 + 20 + icmp_len, 0);
  std::memcpy(b.data(), dst_mac.b, 6);
  std::memcpy(b.data() + 6, src_mac.b, 6);
  put16(b, 12, 0x0800);
  b[14] = 0x45;
  put16(b, 16, static_cast<std::uint16_t>(20 + icmp_len));
  b[22] = 64;
  b[23] = 1;
  const std::uint32_t s = ip(src);
  const std::uint32_t d = ip(dst);
  std::memcpy(b.data() + 26, &s, 4);
  std::memcpy(b.data() + 30, &d, 4);
  put16(b, 24, static_cast<std::uint16_t>(~sum16(b.data() + 14, 20)));
  b[34] = 8;
  put16(b, 38, id);
  put16(b, 40, seq);
  std::copy(data.begin(), data.end(), b.begin() + 42);
  put16(b, 36, static_cast<std::uint16_t>(~sum16(b.data() + 34, icmp_len)));
  return b;
}

Decoded decode(const Bytes& b) {
  Decoded d;
  if (b.size() < 14) {
    return d;
  }
  std::memcpy(d.dst_mac.b, b.data(), 6);
  std::memcpy(d.src_mac.b, b.data() + 6, 6);
  const std::uint16_t type = get16(b, 12);
  if (type == 0x0806 && b.size() >= 42) {
    d.is_arp = true;
    d.arp_op = get16(b, 20);
    std::memcpy(d.arp_sha.b, b.data() + 22, 6);
    std::memcpy(&d.arp_sip, b.data() + 28, 4);
    std::memcpy(&d.arp_tip, b.data() + 38, 4);
    return d;
  }
  if (type != 0x0800 || b.size() < 34) {
    return d;
  }
  const std::size_t ihl = (b[14] & 0x0f) * 4U;
  const std::uint16_t total = get16(b, 16);
  if (ihl < 20 || total < ihl || 14U + total > b.size()) {
    return d;  // not a well-formed IPv4 datagram (fuzzed input)
  }
  d.ttl = b[22];
  std::memcpy(&d.src, b.data() + 26, 4);
  std::memcpy(&d.dst, b.data() + 30, 4);
  d.ip_checksum_ok = sum16(b.data() + 14, ihl) == 0xffff;
  const std::size_t t = 14 + ihl;
  const std::size_t l4 = total - ihl;
  if (b[23] == 1) {
    d.is_icmp = true;
    d.icmp_type = b[t];
    d.icmp_code = b[t + 1];
    d.icmp_checksum_ok = sum16(b.data() + t, l4) == 0xffff;
    if (l4 >= 8) {
      d.icmp_rest = get32(b, t + 4);
    }
    decode_quote(b, t, l4, d);
    return d;
  }
  if (b[23] != 6 || l4 < 20 || (b[t + 12] >> 4) * 4U < 20 || (b[t + 12] >> 4) * 4U > l4) {
    return d;
  }
  d.is_tcp = true;
  d.sport = get16(b, t);
  d.dport = get16(b, t + 2);
  d.seq = get32(b, t + 4);
  d.ack = get32(b, t + 8);
  const std::size_t thl = (b[t + 12] >> 4) * 4U;
  d.flags = b[t + 13];
  d.window = get16(b, t + 14);
  d.tcp_checksum_ok = tcp_sum(b.data() + 14, b.data() + t, l4) == 0xffff;
  d.options.assign(b.begin() + static_cast<long>(t + 20), b.begin() + static_cast<long>(t + thl));
  d.payload.assign(b.begin() + static_cast<long>(t + thl), b.begin() + static_cast<long>(t + l4));
  for (std::size_t i = 0; i < d.options.size();) {
    const std::uint8_t kind = d.options[i];
    if (kind == 0) {
      break;
    }
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= d.options.size() || d.options[i + 1] < 2 ||
        i + d.options[i + 1] > d.options.size()) {
      break;  // a malformed length ends the walk, as a receiver's does
    }
    const std::uint8_t len = d.options[i + 1];
    if (kind == 8) {
      d.has_ts = true;
      d.ts_val = get32(d.options, i + 2);
      d.ts_ecr = get32(d.options, i + 6);
    } else if (kind == 5) {
      for (std::size_t k = i + 2; k + 8 <= i + len; k += 8) {
        d.sack.emplace_back(get32(d.options, k), get32(d.options, k + 4));
      }
    }
    i += len;
  }
  return d;
}

}  // namespace postern::test
