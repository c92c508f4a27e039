// conn_rate: a connection-rate load tool for server-speaks-first protocols, in two modes.
//   client: keeps N connections in flight through a balancer; each reads the greeting until the
//           server closes, checks it and closes; prints connections/s, failures and latency.
//   server: accepts, reads a PROXY v2 header if asked, writes a greeting and closes first, so
//           the server holds TIME_WAIT as mail servers do after LOGOUT or QUIT.
// tests/e2e/timewait_test.sh drives both through Postern or HAProxy. Plain Linux epoll, one
// thread; IPv4 and IPv6.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kUsage = 2;
// Linux keeps TIME_WAIT for 60 s (TCP_TIMEWAIT_LEN): a peer 4-tuple accepted again sooner met
// the previous connection's TIME_WAIT.
constexpr std::int64_t kTimeWaitMs = 60000;
// A connection slower than this lost at least one SYN (the first retransmission is at 1 s).
constexpr std::int64_t kSlowUs = 1000000;
// The PROXY v2 signature (proxy-protocol.txt section 2.2).
constexpr unsigned char kProxySig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "conn_rate: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

constexpr const char* kUsageText =
    "usage: conn_rate --connect ADDR:PORT [--concurrency N] [--duration S] [--rate R]\n"
    "                 [--connections N] [--expect-prefix TEXT] [--source A,B,...]\n"
    "                 [--timeout S]\n"
    "       conn_rate --serve ADDR:PORT [--proxy-v2] [--greeting TEXT]\n"
    "ADDR is IPv4 or [IPv6]. The client prints one line of figures and exits 1 if any\n"
    "connection failed; the server prints its counts on SIGTERM or SIGINT.\n";

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "conn_rate: %s\n%s", why, kUsageText);
  std::exit(kUsage);
}

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

// "1.2.3.4" or "1.2.3.4:PORT", "[::1]" or "[::1]:PORT"; `port` is used when none is given.
std::optional<Address> parse_address(std::string_view text, bool want_port) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = text.rfind(':');
    host = std::string(colon == std::string_view::npos ? text : text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
    }
  }
  if (want_port == port_text.empty()) {
    return std::nullopt;
  }
  unsigned long port = 0;
  if (want_port) {
    char* end = nullptr;
    const std::string p(port_text);
    port = std::strtoul(p.c_str(), &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
      return std::nullopt;
    }
  }
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    a.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return a;
}

std::string to_string(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
  port = ntohs(v6->sin6_port);
  std::string out = "[";
  out += host;
  out += "]:";
  out += std::to_string(port);
  return out;
}

double parse_number(const char* text, const char* option) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || v < 0) {
    usage((std::string("bad value for ") + option).c_str());
  }
  return v;
}

int epoll_or_die() {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    die("epoll_create1");
  }
  return ep;
}

// ---------------------------------------------------------------------------------------------
// Client

struct ClientOptions {
  Address target;
  std::vector<Address> sources;
  int concurrency = 100;
  double duration_s = 10;
  double rate = 0;                // new connections per second, 0: as fast as they complete
  std::uint64_t connections = 0;  // stop starting after this many, 0: no limit
  double timeout_s = 30;
  std::string expect_prefix;
};

enum class Outcome { kOk, kRefused, kReset, kTimeout, kBadGreeting, kNoLocalPort, kOther };

struct Conn {
  int fd = -1;
  std::int64_t started_us = 0;
  std::string greeting;  // the first bytes, enough to check the prefix
};

class Client {
 public:
  explicit Client(const ClientOptions& o) : o_(o), conns_(static_cast<std::size_t>(o.concurrency)) {
    ep_ = epoll_or_die();
    for (std::size_t slot = conns_.size(); slot-- > 0;) {
      free_.push_back(slot);
    }
  }

  int run() {
    const std::int64_t start = now_us();
    const std::int64_t stop_starting = start + static_cast<std::int64_t>(o_.duration_s * 1e6);
    window_end_us_ = stop_starting;
    std::int64_t last_scan = start;
    std::vector<epoll_event> events(static_cast<std::size_t>(o_.concurrency));
    for (;;) {
      const std::int64_t now = now_us();
      const bool starting =
          now < stop_starting && (o_.connections == 0 || started_ < o_.connections);
      if (starting) {
        fill(now, start);
      } else {
        if (window_end_us_ > now) {
          window_end_us_ = now;  // the count reached before the duration
        }
        if (in_flight_ == 0) {
          break;
        }
      }
      if (now - last_scan >= 50000) {
        expire(now);
        last_scan = now;
      }
      // A rate limit needs the loop again within a millisecond; otherwise events drive it.
      const int wait_ms = o_.rate > 0 && starting ? 1 : 50;
      const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), wait_ms);
      if (n < 0 && errno != EINTR) {
        die("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        on_readable(static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64));
      }
    }
    report(now_us() - start, window_end_us_ - start);
    return failures() == 0 ? 0 : 1;
  }

 private:
  std::uint64_t failures() const {
    std::uint64_t n = 0;
    for (std::size_t i = 1; i < std::size(outcomes_); ++i) {
      n += outcomes_[i];
    }
    return n;
  }

  // Starts connections until N are in flight (or the rate allows no more yet).
  void fill(std::int64_t now, std::int64_t start) {
    while (!free_.empty() && (o_.connections == 0 || started_ < o_.connections)) {
      if (o_.rate > 0 && static_cast<double>(started_) >= o_.rate * (now - start) / 1e6) {
        return;
      }
      const std::size_t slot = free_.back();
      free_.pop_back();
      open(slot, now);
    }
  }

  void open(std::size_t slot, std::int64_t now) {
    Conn& c = conns_[slot];
    c = Conn{};
    c.started_us = now;
    ++started_;
    const int fd = socket(o_.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      die("socket");
    }
    if (!o_.sources.empty()) {
      const Address& src = o_.sources[next_source_];
      next_source_ = (next_source_ + 1) % o_.sources.size();
      // The port is chosen at connect() for the whole 4-tuple, not reserved by bind(): each
      // source address then has its whole port range towards every destination.
      const int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (bind(fd, src.sa(), src.len) < 0) {
        die("bind (--source)");
      }
    }
    if (connect(fd, o_.target.sa(), o_.target.len) < 0 && errno != EINPROGRESS) {
      const Outcome why = errno == EADDRNOTAVAIL  ? Outcome::kNoLocalPort
                          : errno == ECONNREFUSED ? Outcome::kRefused
                                                  : Outcome::kOther;
      close(fd);
      count(why, now);
      free_.push_back(slot);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = slot;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      die("epoll_ctl");
    }
    c.fd = fd;
    ++in_flight_;
  }

  void on_readable(std::size_t slot) {
    Conn& c = conns_[slot];
    if (c.fd < 0) {
      return;
    }
    char buf[4096];
    for (;;) {
      const ssize_t n = read(c.fd, buf, sizeof buf);
      if (n > 0) {
        if (c.greeting.size() < o_.expect_prefix.size()) {
          c.greeting.append(buf,
                            std::min<std::size_t>(static_cast<std::size_t>(n),
                                                  o_.expect_prefix.size() - c.greeting.size()));
        }
        continue;
      }
      if (n == 0) {
        const bool good =
            c.greeting.size() == o_.expect_prefix.size() && c.greeting == o_.expect_prefix;
        finish(slot, good ? Outcome::kOk : Outcome::kBadGreeting);
        return;
      }
      if (errno == EAGAIN || errno == EINTR) {
        return;
      }
      finish(slot, errno == ECONNREFUSED ? Outcome::kRefused
                   : errno == ECONNRESET ? Outcome::kReset
                   : errno == ETIMEDOUT  ? Outcome::kTimeout
                                         : Outcome::kOther);
      return;
    }
  }

  void expire(std::int64_t now) {
    const auto limit = static_cast<std::int64_t>(o_.timeout_s * 1e6);
    for (std::size_t slot = 0; slot < conns_.size(); ++slot) {
      if (conns_[slot].fd >= 0 && now - conns_[slot].started_us > limit) {
        finish(slot, Outcome::kTimeout);
      }
    }
  }

  void finish(std::size_t slot, Outcome why) {
    Conn& c = conns_[slot];
    const std::int64_t now = now_us();
    const std::int64_t took = now - c.started_us;
    if (why == Outcome::kOk) {
      latencies_us_.push_back(took);
    }
    if (took > kSlowUs && slow_shown_ < 10) {
      ++slow_shown_;
      sockaddr_storage local{};
      socklen_t len = sizeof local;
      getsockname(c.fd, reinterpret_cast<sockaddr*>(&local), &len);
      std::fprintf(stderr, "conn_rate: slow: %s took %.0f ms (%s)\n", to_string(local).c_str(),
                   static_cast<double>(took) / 1e3, name(why));
    }
    if (took > kSlowUs) {
      ++slow_;
    }
    close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    --in_flight_;
    free_.push_back(slot);
    count(why, now);
  }

  void count(Outcome why, std::int64_t now) {
    ++outcomes_[static_cast<std::size_t>(why)];
    if (why == Outcome::kOk && now <= window_end_us_) {
      ++ok_in_window_;
    }
  }

  static const char* name(Outcome o) {
    switch (o) {
      case Outcome::kOk:
        return "ok";
      case Outcome::kRefused:
        return "refused";
      case Outcome::kReset:
        return "reset";
      case Outcome::kTimeout:
        return "timeout";
      case Outcome::kBadGreeting:
        return "bad greeting";
      case Outcome::kNoLocalPort:
        return "no local port";
      case Outcome::kOther:
        break;
    }
    return "other error";
  }

  void report(std::int64_t elapsed_us, std::int64_t window_us) {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto pct = [&](double p) -> double {
      if (latencies_us_.empty()) {
        return 0;
      }
      const auto i = static_cast<std::size_t>(p * static_cast<double>(latencies_us_.size() - 1));
      return static_cast<double>(latencies_us_[i]) / 1e3;
    };
    const double max_ms =
        latencies_us_.empty() ? 0 : static_cast<double>(latencies_us_.back()) / 1e3;
    const double seconds = static_cast<double>(elapsed_us) / 1e6;
    const auto ok = outcomes_[static_cast<std::size_t>(Outcome::kOk)];
    // The rate counts what completed while new connections were being started; stragglers
    // waited for afterwards count in conns and latency, not in the rate.
    const double window_s = static_cast<double>(window_us) / 1e6;
    const double rate = window_s > 0 ? static_cast<double>(ok_in_window_) / window_s : 0;
    std::printf(
        "conns=%llu rate=%.0f/s failed=%llu refused=%llu reset=%llu timeout=%llu "
        "bad_greeting=%llu no_local_port=%llu other=%llu p50_ms=%.2f p99_ms=%.2f max_ms=%.1f "
        "over_1s=%llu seconds=%.2f concurrency=%d\n",
        static_cast<unsigned long long>(ok), rate, static_cast<unsigned long long>(failures()),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kRefused)]),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kReset)]),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kTimeout)]),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kBadGreeting)]),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kNoLocalPort)]),
        static_cast<unsigned long long>(outcomes_[static_cast<std::size_t>(Outcome::kOther)]),
        pct(0.5), pct(0.99), max_ms, static_cast<unsigned long long>(slow_), seconds,
        o_.concurrency);
  }

  const ClientOptions& o_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::size_t> free_;  // slots with no connection
  std::size_t in_flight_ = 0;
  std::size_t next_source_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t outcomes_[7] = {};
  std::uint64_t slow_ = 0;
  int slow_shown_ = 0;
  std::int64_t window_end_us_ = 0;
  std::uint64_t ok_in_window_ = 0;
  std::vector<std::int64_t> latencies_us_;
};

// ---------------------------------------------------------------------------------------------
// Server

struct ServerOptions {
  Address listen;
  bool proxy_v2 = false;
  std::string greeting = "* OK conn_rate ready";
};

struct Peer {
  int fd = -1;
  std::int64_t accepted_us = 0;
  unsigned char header[16 + 216];  // v2 fixed part + the largest address block we accept
  std::size_t have = 0;
};

class Server {
 public:
  explicit Server(const ServerOptions& o) : o_(o) {
    greeting_ = o.greeting + "\r\n";
    ep_ = epoll_or_die();
  }

  int run() {
    listen_fd_ = socket(o_.listen.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
      die("socket");
    }
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd_, o_.listen.sa(), o_.listen.len) < 0) {
      die("bind");
    }
    if (listen(listen_fd_, 4096) < 0) {
      die("listen");
    }
    add(listen_fd_, kListenTag);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
      die("signalfd");
    }
    add(sfd, kSignalTag);
    std::fprintf(stderr, "conn_rate: serving %s%s\n", to_string(o_.listen.ss).c_str(),
                 o_.proxy_v2 ? " (PROXY v2 header first)" : "");
    std::vector<epoll_event> events(256);
    for (;;) {
      const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0 && errno != EINTR) {
        die("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
        if (tag == kSignalTag) {
          report();
          return 0;
        }
        if (tag == kListenTag) {
          accept_all();
        } else {
          on_readable(static_cast<int>(tag));
        }
      }
      const std::int64_t now = now_us();
      if (waiting_ > 0 && now - last_scan_us_ > 100000) {
        expire_headers(now);
        last_scan_us_ = now;
      }
    }
  }

 private:
  static constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
  static constexpr std::uint64_t kSignalTag = ~std::uint64_t{0} - 1;
  static constexpr std::int64_t kHeaderTimeoutUs = 10000000;

  void add(int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      die("epoll_ctl");
    }
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
          return;
        }
        die("accept4");
      }
      const std::int64_t now = now_us();
      note_peer(peer, now);
      if (!o_.proxy_v2) {
        greet_and_close(fd);
        continue;
      }
      if (static_cast<std::size_t>(fd) >= peers_.size()) {
        peers_.resize(static_cast<std::size_t>(fd) + 1);
      }
      Peer& p = peers_[static_cast<std::size_t>(fd)];
      p.fd = fd;
      p.accepted_us = now;
      p.have = 0;
      add(fd, static_cast<std::uint64_t>(fd));
      ++waiting_;
    }
  }

  // Remembers when each peer address:port was last accepted: a server-side 4-tuple (the
  // listening address is fixed) accepted again within 60 s met its own TIME_WAIT.
  void note_peer(const sockaddr_storage& peer, std::int64_t now_us) {
    std::uint64_t key = 0;
    if (peer.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
      key = static_cast<std::uint64_t>(ntohl(v4->sin_addr.s_addr)) << 16 | ntohs(v4->sin_port);
    } else {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      std::uint64_t low = 0;
      std::memcpy(&low, v6->sin6_addr.s6_addr + 8, 8);
      key = low ^ ntohs(v6->sin6_port);
    }
    const std::int64_t now_ms = now_us / 1000;
    const auto [it, fresh] = last_seen_ms_.try_emplace(key, now_ms);
    if (!fresh) {
      const std::int64_t gap = now_ms - it->second;
      if (gap < kTimeWaitMs) {
        ++reused_;
        min_gap_ms_ = reused_ == 1 ? gap : std::min(min_gap_ms_, gap);
      }
      it->second = now_ms;
    }
    ++accepted_;
  }

  void on_readable(int fd) {
    Peer& p = peers_[static_cast<std::size_t>(fd)];
    // Read exactly the header and no more: bytes left unread at close() make the kernel send
    // RST instead of FIN (RFC 2525 2.17), and the server would then hold no TIME_WAIT.
    for (;;) {
      std::size_t want = 16;
      if (p.have >= 16) {
        want = 16 + (static_cast<std::size_t>(p.header[14]) << 8 | p.header[15]);
      }
      if (want > sizeof p.header) {
        reject(fd);
        return;
      }
      if (p.have == want) {
        break;
      }
      const ssize_t n = read(fd, p.header + p.have, want - p.have);
      if (n > 0) {
        p.have += static_cast<std::size_t>(n);
        if (p.have >= 16 && !plausible_header(p.header)) {
          reject(fd);
          return;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
      }
      reject(fd);  // EOF or an error before the whole header
      return;
    }
    drop(fd);
    ++headers_ok_;
    greet_and_close(fd);
  }

  // Signature, version 2, command LOCAL or PROXY, and an address block as long as its family
  // needs (proxy-protocol.txt section 2.2).
  static bool plausible_header(const unsigned char* h) {
    if (std::memcmp(h, kProxySig, sizeof kProxySig) != 0 || (h[12] & 0xf0) != 0x20 ||
        (h[12] & 0x0f) > 1) {
      return false;
    }
    const std::size_t len = static_cast<std::size_t>(h[14]) << 8 | h[15];
    switch (h[13]) {
      case 0x11:  // TCP over IPv4
        return len >= 12;
      case 0x21:  // TCP over IPv6
        return len >= 36;
      case 0x00:  // UNSPEC (LOCAL)
        return (h[12] & 0x0f) == 0;
      default:
        return false;
    }
  }

  void greet_and_close(int fd) {
    // A few bytes into an empty send buffer: the write completes at once.
    const ssize_t n = write(fd, greeting_.data(), greeting_.size());
    if (n != static_cast<ssize_t>(greeting_.size())) {
      ++write_failed_;
    }
    close(fd);  // the server closes first and holds TIME_WAIT
    ++served_;
  }

  void drop(int fd) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    peers_[static_cast<std::size_t>(fd)].fd = -1;
    --waiting_;
  }

  void reject(int fd) {
    drop(fd);
    close(fd);
    ++bad_header_;
  }

  void expire_headers(std::int64_t now) {
    for (const Peer& p : peers_) {
      if (p.fd >= 0 && now - p.accepted_us > kHeaderTimeoutUs) {
        reject(p.fd);
      }
    }
  }

  void report() {
    std::printf(
        "served=%llu accepted=%llu headers=%llu bad_header=%llu write_failed=%llu peers=%zu "
        "reused_within_60s=%llu min_reuse_ms=%lld\n",
        static_cast<unsigned long long>(served_), static_cast<unsigned long long>(accepted_),
        static_cast<unsigned long long>(headers_ok_), static_cast<unsigned long long>(bad_header_),
        static_cast<unsigned long long>(write_failed_), last_seen_ms_.size(),
        static_cast<unsigned long long>(reused_),
        static_cast<long long>(reused_ > 0 ? min_gap_ms_ : -1));
    std::fflush(stdout);
  }

  const ServerOptions& o_;
  std::string greeting_;
  int ep_ = -1;
  int listen_fd_ = -1;
  std::vector<Peer> peers_;  // by file descriptor, while the header is read
  std::size_t waiting_ = 0;
  std::int64_t last_scan_us_ = 0;
  std::unordered_map<std::uint64_t, std::int64_t> last_seen_ms_;
  std::uint64_t accepted_ = 0;
  std::uint64_t served_ = 0;
  std::uint64_t headers_ok_ = 0;
  std::uint64_t bad_header_ = 0;
  std::uint64_t write_failed_ = 0;
  std::uint64_t reused_ = 0;
  std::int64_t min_gap_ms_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  ClientOptions client;
  ServerOptions server;
  bool serve = false;
  bool connect_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage((std::string(arg) + " needs a value").c_str());
      }
      return argv[++i];
    };
    if (arg == "--connect" || arg == "--serve") {
      const char* text = value();
      const auto a = parse_address(text, true);
      if (!a) {
        usage((std::string("bad ADDR:PORT '") + text + "'").c_str());
      }
      if (arg == "--serve") {
        serve = true;
        server.listen = *a;
      } else {
        connect_given = true;
        client.target = *a;
      }
    } else if (arg == "--concurrency") {
      client.concurrency = static_cast<int>(parse_number(value(), "--concurrency"));
    } else if (arg == "--duration") {
      client.duration_s = parse_number(value(), "--duration");
    } else if (arg == "--connections") {
      client.connections = static_cast<std::uint64_t>(parse_number(value(), "--connections"));
    } else if (arg == "--rate") {
      client.rate = parse_number(value(), "--rate");
    } else if (arg == "--timeout") {
      client.timeout_s = parse_number(value(), "--timeout");
    } else if (arg == "--expect-prefix") {
      client.expect_prefix = value();
    } else if (arg == "--source") {
      std::string_view list = value();
      while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string_view one = list.substr(0, comma);
        const auto a = parse_address(one, false);
        if (!a) {
          usage((std::string("bad source address '") + std::string(one) + "'").c_str());
        }
        client.sources.push_back(*a);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
    } else if (arg == "--proxy-v2") {
      server.proxy_v2 = true;
    } else if (arg == "--greeting") {
      server.greeting = value();
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsageText, stdout);
      return 0;
    } else {
      usage((std::string("unknown argument '") + std::string(arg) + "'").c_str());
    }
  }
  if (serve == connect_given) {
    usage("give exactly one of --connect and --serve");
  }
  if (serve) {
    return Server(server).run();
  }
  if (client.concurrency < 1) {
    usage("--concurrency must be at least 1");
  }
  for (const Address& s : client.sources) {
    if (s.family() != client.target.family()) {
      usage("--source addresses must be of the --connect address's family");
    }
  }
  return Client(client).run();
}
