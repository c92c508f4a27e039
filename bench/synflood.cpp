// synflood: the SYN flood of tests/e2e/syn_flood_test.sh. From inside a lab's client namespace it
// sends TCP SYNs to one VIP:port from many spoofed source addresses (a prefix, random or in
// turn), each with a random ISN and the options a Linux client sends (MSS, SACK permitted,
// timestamps, window scale), as raw Ethernet frames on one interface (AF_PACKET, sendmmsg
// batches, qdisc bypassed). Frames are built once and patched per packet. Bounded by --count
// and --seconds, both required; --rate caps the rate. Prints what it sent. Plain Linux, no DPDK.
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int kUsage = 2;
constexpr std::size_t kEthLen = 14;
constexpr std::size_t kIpLen = 20;
// Linux's SYN options, in its order (tcp_options_write): MSS 1460, SACK permitted, timestamps,
// NOP, window scale 7 (RFC 9293 3.2, RFC 2018, RFC 7323).
constexpr std::size_t kTcpLen = 40;
constexpr std::size_t kFrameLen = kEthLen + kIpLen + kTcpLen;
constexpr std::size_t kMaxBatch = 1024;

constexpr const char* kUsageText =
    "usage: synflood --interface IF --dst-mac MAC --dst IPV4 --dport PORT\n"
    "                --count N --seconds S [--rate PPS] [--sources PREFIX/LEN]\n"
    "                [--sequential] [--batch N] [--seed N]\n"
    "Sends N SYNs at most, for S seconds at most (both required), from addresses in PREFIX\n"
    "(default 100.64.0.0/10) on IF, which must be in a network namespace of its own (not\n"
    "PID 1's; one named by ip netns). --sequential takes addresses and ports in turn\n"
    "instead of at random. Prints one line: sent=N errors=N seconds=S pps=R ...\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "synflood: %s\n%s", why.c_str(), kUsageText);
  std::exit(kUsage);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "synflood: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text) {
  std::array<std::uint8_t, 6> mac{};
  if (text.size() != 17) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') {
      return std::nullopt;
    }
    const auto* first = text.data() + i * 3;
    const auto [ptr, ec] = std::from_chars(first, first + 2, mac[i], 16);
    if (ec != std::errc{} || ptr != first + 2) {
      return std::nullopt;
    }
  }
  return mac;
}

std::optional<std::uint32_t> parse_ipv4(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
    return std::nullopt;
  }
  return ntohl(a.s_addr);
}

// The generator must never flood the host's own network: it runs only in a network namespace
// other than the init one. The plain test is /proc/1/ns/net; where that is unreadable (a
// sandbox without ptrace rights over PID 1) the namespace must be one `ip netns` named
// (/run/netns), and never the init namespace's fixed inode (PROC_NET_INIT_INO, 0xEFFFFFF9,
// on kernels that have one).
bool in_own_namespace() {
  constexpr ino_t kInitNetInode = 0xEFFFFFF9U;
  struct stat self {};
  if (stat("/proc/self/ns/net", &self) != 0 || self.st_ino == kInitNetInode) {
    return false;
  }
  struct stat init {};
  if (stat("/proc/1/ns/net", &init) == 0) {
    return self.st_dev != init.st_dev || self.st_ino != init.st_ino;
  }
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) {
    return false;
  }
  bool named = false;
  while (const dirent* e = readdir(dir)) {
    struct stat ns {};
    const std::string path = std::string("/run/netns/") + e->d_name;
    if (e->d_name[0] != '.' && stat(path.c_str(), &ns) == 0 && ns.st_dev == self.st_dev &&
        ns.st_ino == self.st_ino) {
      named = true;
      break;
    }
  }
  closedir(dir);
  return named;
}

// splitmix64: fast, and good enough to spread addresses, ports and ISNs.
struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
  }
};

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8U);
  p[1] = static_cast<std::uint8_t>(v);
}

void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16U));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

// The Internet checksum (RFC 1071) over big-endian 16-bit words, added to `sum`.
std::uint32_t add_words(std::uint32_t sum, const std::uint8_t* p, std::size_t len) {
  for (std::size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<std::uint32_t>(p[i] << 8U | p[i + 1]);
  }
  return sum;
}

std::uint16_t fold(std::uint32_t sum) {
  while ((sum >> 16U) != 0) {
    sum = (sum & 0xffffU) + (sum >> 16U);
  }
  return static_cast<std::uint16_t>(~sum);
}

struct Options {
  std::string interface;
  std::array<std::uint8_t, 6> dst_mac{};
  std::uint32_t dst = 0;
  std::uint16_t dport = 0;
  std::uint64_t count = 0;
  double seconds = 0;
  double rate = 0;                    // 0: as fast as the interface takes them
  std::uint32_t prefix = 0x64400000;  // 100.64.0.0
  unsigned prefix_len = 10;
  bool sequential = false;
  std::size_t batch = 64;
  std::uint64_t seed = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  bool have_mac = false;
  bool have_dst = false;
  bool have_count = false;
  bool have_seconds = false;
  o.seed = now_ns();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--sequential") {
      o.sequential = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsageText, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      usage(std::string(arg) + " needs a value (or is unknown)");
    }
    const std::string value = argv[++i];
    const auto bad = [&] { usage("bad value for " + std::string(arg) + ": " + value); };
    if (arg == "--interface") {
      o.interface = value;
    } else if (arg == "--dst-mac") {
      const auto mac = parse_mac(value);
      if (!mac) {
        bad();
      }
      o.dst_mac = *mac;
      have_mac = true;
    } else if (arg == "--dst") {
      const auto a = parse_ipv4(value);
      if (!a) {
        bad();
      }
      o.dst = *a;
      have_dst = true;
    } else if (arg == "--dport") {
      const auto p = parse_number<std::uint16_t>(value);
      if (!p || *p == 0) {
        bad();
      }
      o.dport = *p;
    } else if (arg == "--count") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n || *n == 0) {
        bad();
      }
      o.count = *n;
      have_count = true;
    } else if (arg == "--seconds" || arg == "--rate") {
      char* end = nullptr;
      const double d = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(d > 0)) {
        bad();
      }
      (arg == "--seconds" ? o.seconds : o.rate) = d;
      have_seconds = have_seconds || arg == "--seconds";
    } else if (arg == "--sources") {
      const auto slash = value.find('/');
      const auto a = parse_ipv4(value.substr(0, slash));
      const auto len = slash == std::string::npos
                           ? std::nullopt
                           : parse_number<unsigned>(std::string_view(value).substr(slash + 1));
      if (!a || !len || *len < 8 || *len > 32) {
        bad();
      }
      o.prefix_len = *len;
      o.prefix = *len == 32 ? *a : *a & ~(0xffffffffU >> *len);
    } else if (arg == "--batch") {
      const auto n = parse_number<std::size_t>(value);
      if (!n || *n == 0 || *n > kMaxBatch) {
        bad();
      }
      o.batch = *n;
    } else if (arg == "--seed") {
      const auto n = parse_number<std::uint64_t>(value);
      if (!n) {
        bad();
      }
      o.seed = *n;
    } else {
      usage("unknown option " + std::string(arg));
    }
  }
  if (o.interface.empty() || !have_mac || !have_dst || o.dport == 0) {
    usage("--interface, --dst-mac, --dst and --dport are required");
  }
  if (!have_count || !have_seconds) {
    usage("--count and --seconds are both required: a flood is always bounded");
  }
  return o;
}

// The SYN template: everything but the per-packet fields (source address and port, ISN, IP ID,
// TSval, and so both checksums).
std::array<std::uint8_t, kFrameLen> make_template(const Options& o,
                                                  const std::array<std::uint8_t, 6>& src_mac) {
  std::array<std::uint8_t, kFrameLen> f{};
  std::memcpy(f.data(), o.dst_mac.data(), 6);
  std::memcpy(f.data() + 6, src_mac.data(), 6);
  put16(f.data() + 12, 0x0800);
  std::uint8_t* ip = f.data() + kEthLen;
  ip[0] = 0x45;
  put16(ip + 2, kIpLen + kTcpLen);
  put16(ip + 6, 0x4000);  // DF, as Linux sets it
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  put32(ip + 16, o.dst);
  std::uint8_t* tcp = ip + kIpLen;
  put16(tcp + 2, o.dport);
  tcp[12] = static_cast<std::uint8_t>((kTcpLen / 4) << 4U);
  tcp[13] = 0x02;          // SYN
  put16(tcp + 14, 64240);  // Linux's initial window for a 1460-byte MSS
  const std::uint8_t options[20] = {2, 4,  0x05, 0xb4,        // MSS 1460
                                    4, 2,                     // SACK permitted
                                    8, 10, 0,    0,    0, 0,  // timestamps: TSval patched,
                                    0, 0,  0,    0,           //   TSecr 0
                                    1,                        // NOP
                                    3, 3,  7};                // window scale 7
  std::memcpy(tcp + 20, options, sizeof options);
  return f;
}

struct Sender {
  int fd = -1;
  int ifindex = 0;
};

Sender open_sender(const Options& o, std::array<std::uint8_t, 6>& src_mac) {
  Sender s;
  // Protocol 0: this socket only sends; it never takes a copy of the frames the interface
  // receives (the balancer's SYN-ACKs to the spoofed addresses land here too).
  s.fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (s.fd < 0) {
    die("socket(AF_PACKET)");
  }
  ifreq ifr{};
  if (o.interface.size() >= sizeof ifr.ifr_name) {
    usage("interface name too long");
  }
  std::memcpy(ifr.ifr_name, o.interface.c_str(), o.interface.size());
  if (ioctl(s.fd, SIOCGIFINDEX, &ifr) != 0) {
    die(("interface " + o.interface).c_str());
  }
  s.ifindex = ifr.ifr_ifindex;
  if (ioctl(s.fd, SIOCGIFHWADDR, &ifr) != 0) {
    die("SIOCGIFHWADDR");
  }
  std::memcpy(src_mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;
  sll.sll_ifindex = s.ifindex;
  if (bind(s.fd, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) != 0) {
    die("bind(AF_PACKET)");
  }
  // Straight to the driver: the interface's queueing discipline would only add a lock and a
  // queue per frame.
  const int one = 1;
  if (setsockopt(s.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
    die("PACKET_QDISC_BYPASS");
  }
  const int sndbuf = 4 << 20;
  setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!in_own_namespace()) {
    std::fprintf(stderr,
                 "synflood: refusing to run in the init network namespace (or /proc/1/ns/net "
                 "is unreadable): run it inside a lab namespace (ip netns exec NAME-cli ...)\n");
    return 1;
  }
  std::array<std::uint8_t, 6> src_mac{};
  const Sender s = open_sender(o, src_mac);
  const auto tmpl = make_template(o, src_mac);

  // The batch: frames patched in place, one iovec and one mmsghdr each.
  std::vector<std::array<std::uint8_t, kFrameLen>> frames(o.batch, tmpl);
  std::vector<iovec> iov(o.batch);
  std::vector<mmsghdr> msgs(o.batch);
  for (std::size_t i = 0; i < o.batch; ++i) {
    iov[i] = {frames[i].data(), kFrameLen};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  Random rng{o.seed};
  const std::uint32_t host_mask = o.prefix_len == 32 ? 0 : 0xffffffffU >> o.prefix_len;
  std::uint64_t seq_index = 0;
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;
  const std::uint64_t t0 = now_ns();
  const auto limit_ns = static_cast<std::uint64_t>(o.seconds * 1e9);
  const char* stopped_by = "count";
  // The TSval clock: milliseconds since start plus a random offset, as Linux's per-connection
  // offsets look (RFC 7323 5.4).
  const auto ts_base = static_cast<std::uint32_t>(rng.next());

  while (sent < o.count) {
    const std::uint64_t now = now_ns();
    const std::uint64_t elapsed = now - t0;
    if (elapsed >= limit_ns) {
      stopped_by = "seconds";
      break;
    }
    if (g_stop != 0) {
      stopped_by = "signal";
      break;
    }
    std::uint64_t n = std::min<std::uint64_t>(o.batch, o.count - sent);
    if (o.rate > 0) {
      const auto allowed = static_cast<std::uint64_t>(o.rate * static_cast<double>(elapsed) / 1e9);
      if (allowed <= sent) {
        const timespec pause{0, 100000};  // 0.1 ms
        nanosleep(&pause, nullptr);
        continue;
      }
      n = std::min(n, allowed - sent);
    }
    const auto tsval = static_cast<std::uint32_t>(ts_base + elapsed / 1000000);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint8_t* ip = frames[i].data() + kEthLen;
      std::uint8_t* tcp = ip + kIpLen;
      std::uint32_t src = 0;
      std::uint16_t sport = 0;
      const std::uint64_t r = rng.next();
      if (o.sequential) {
        src = o.prefix | static_cast<std::uint32_t>(seq_index & host_mask);
        sport =
            static_cast<std::uint16_t>(1024 + (seq_index / (std::uint64_t{host_mask} + 1)) % 64512);
        ++seq_index;
      } else {
        src = o.prefix | (static_cast<std::uint32_t>(r) & host_mask);
        sport = static_cast<std::uint16_t>(1024 + (r >> 32U) % 64512);
      }
      put16(ip + 4, static_cast<std::uint16_t>(r >> 48U));  // IP ID
      put32(ip + 12, src);
      put16(ip + 10, 0);
      put16(ip + 10, fold(add_words(0, ip, kIpLen)));
      put16(tcp, sport);
      put32(tcp + 4, static_cast<std::uint32_t>(rng.next()));  // ISN
      put32(tcp + 28, tsval);
      put16(tcp + 16, 0);
      // Pseudo-header (RFC 9293 3.1): source, destination, protocol, TCP length.
      std::uint32_t sum = add_words(0, ip + 12, 8);
      sum += IPPROTO_TCP + kTcpLen;
      put16(tcp + 16, fold(add_words(sum, tcp, kTcpLen)));
    }
    std::uint64_t done = 0;
    while (done < n) {
      const int rc = sendmmsg(s.fd, msgs.data() + done, static_cast<unsigned>(n - done), 0);
      if (rc < 0) {
        if (errno == EINTR) {
          if (g_stop != 0) {
            break;
          }
          continue;
        }
        // ENOBUFS and the like: the interface is full; this frame is lost, not sent.
        ++errors;
        ++done;
        continue;
      }
      done += static_cast<std::uint64_t>(rc);
      sent += static_cast<std::uint64_t>(rc);
    }
  }
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  std::printf(
      "sent=%llu errors=%llu seconds=%.3f pps=%.0f stopped_by=%s sources=%u.%u.%u.%u/%u "
      "dst=%u.%u.%u.%u:%u\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(errors), secs,
      secs > 0 ? static_cast<double>(sent) / secs : 0.0, stopped_by, o.prefix >> 24U,
      (o.prefix >> 16U) & 0xffU, (o.prefix >> 8U) & 0xffU, o.prefix & 0xffU, o.prefix_len,
      o.dst >> 24U, (o.dst >> 16U) & 0xffU, (o.dst >> 8U) & 0xffU, o.dst & 0xffU, o.dport);
  close(s.fd);
  return 0;
}
