// Interop with a real HAProxy 2.6 on loopback: its send-proxy/send-proxy-v2 headers must decode
// with our decoder and equal our encoder's bytes, and its accept-proxy must take our headers
// (CRC32C included). A real subprocess and sockets, every wait bounded so nothing can hang.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/proxy_decode.hpp"
#include "support/proxy_addresses.hpp"
#include "support/proxy_hex.hpp"

namespace postern::dataplane::proxy {
namespace {

using Clock = std::chrono::steady_clock;
using test::to_hex;

constexpr auto kStepTimeout = std::chrono::seconds(5);
constexpr const char* kDefaultHaproxy = "/usr/sbin/haproxy";
// IMAP-flavoured client bytes; they must reach the server unchanged after the header.
constexpr const char* kClientBytes = "a001 NOOP\r\n";

// ---- Sockets with deadlines ----

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

struct Endpoint {
  int family = AF_INET;
  std::string ip;
  uint16_t port = 0;
};

sockaddr_storage to_sockaddr(const Endpoint& e, socklen_t* len) {
  sockaddr_storage ss{};
  if (e.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(e.port);
    inet_pton(AF_INET, e.ip.c_str(), &sin->sin_addr);
    *len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(e.port);
    inet_pton(AF_INET6, e.ip.c_str(), &sin6->sin6_addr);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

Endpoint local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  Endpoint e;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return e;
  }
  char text[INET6_ADDRSTRLEN] = {};
  e.family = ss.ss_family;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    e.port = ntohs(sin->sin_port);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    e.port = ntohs(sin6->sin6_port);
  }
  e.ip = text;
  return e;
}

// A non-blocking TCP socket bound to ip:port (port 0: the kernel picks).
Fd bound_socket(const Endpoint& e) {
  Fd fd(::socket(e.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return fd;
  }
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = 0;
  const sockaddr_storage ss = to_sockaddr(e, &len);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    fd.reset();
  }
  return fd;
}

Fd listener_on(int family, const std::string& ip) {
  Fd fd = bound_socket({family, ip, 0});
  if (fd.valid() && ::listen(fd.get(), 16) != 0) {
    fd.reset();
  }
  return fd;
}

// A port nobody listens on right now, for HAProxy to bind: taken from the kernel, released.
uint16_t free_port(int family, const std::string& ip) {
  Fd fd = bound_socket({family, ip, 0});
  return fd.valid() ? local_endpoint(fd.get()).port : 0;
}

bool ipv6_loopback_works() {
  return bound_socket({AF_INET6, "::1", 0}).valid();
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool wait_for(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) {
      return true;
    }
    if (n == 0 || errno != EINTR) {
      return false;
    }
  }
}

// Connects from `from` (port 0: ephemeral) to `to`, within the deadline.
Fd connect_from(const Endpoint& from, const Endpoint& to, Clock::time_point deadline) {
  Fd fd = bound_socket(from);
  if (!fd.valid()) {
    return fd;
  }
  socklen_t len = 0;
  const sockaddr_storage ss = to_sockaddr(to, &len);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS || !wait_for(fd.get(), POLLOUT, deadline)) {
      return Fd{};
    }
    int error = 0;
    socklen_t error_len = sizeof(error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_len);
    if (error != 0) {
      return Fd{};
    }
  }
  return fd;
}

bool send_all(int fd, const std::vector<uint8_t>& bytes, Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

Fd accept_within(int listener, Clock::time_point deadline) {
  if (!wait_for(listener, POLLIN, deadline)) {
    return Fd{};
  }
  return Fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

bool ends_with(const std::vector<uint8_t>& bytes, const std::string& tail) {
  return bytes.size() >= tail.size() &&
         std::memcmp(bytes.data() + bytes.size() - tail.size(), tail.data(), tail.size()) == 0;
}

// Reads until the stream ends with `tail`, the peer closes, or the deadline passes.
std::vector<uint8_t> read_until_tail(int fd, const std::string& tail, Clock::time_point deadline) {
  std::vector<uint8_t> bytes;
  uint8_t chunk[2048];
  while (!ends_with(bytes, tail) && wait_for(fd, POLLIN, deadline)) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      bytes.insert(bytes.end(), chunk, chunk + n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;
    }
  }
  return bytes;
}

// True once the peer has closed or reset the connection, within the deadline.
bool peer_closed(int fd, Clock::time_point deadline) {
  uint8_t chunk[256];
  while (wait_for(fd, POLLIN, deadline)) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      return true;
    }
  }
  return false;
}

// ---- HAProxy subprocess ----

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/postern-haproxy-XXXXXX";
    if (::mkdtemp(pattern) != nullptr) {
      path_ = pattern;
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Owns one `haproxy -db -f CFG` child. The destructor stops it (SIGTERM, then SIGKILL after a
// bounded wait) so a failing assertion never leaves a process behind; PR_SET_PDEATHSIG covers
// the test binary itself dying.
class HaproxyProcess {
 public:
  HaproxyProcess() = default;
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;
  ~HaproxyProcess() { stop(); }

  bool start(const std::string& binary, const std::string& config, const std::string& log) {
    std::vector<std::string> args = {binary, "-db", "-f", config};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      return false;
    }
    if (pid == 0) {
      // Child: async-signal-safe calls only until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(126);
      }
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out >= 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    return true;
  }

  // False once the child has exited (and reaps it).
  bool running() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < deadline) {
      if (!running()) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Whether a socket is in LISTEN state on this port, from /proc/net/tcp{,6}: checking this way
// opens no connection, so HAProxy never relays a probe to the capture server.
bool port_listening(int family, uint16_t port) {
  std::ifstream table(family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6");
  char suffix[8];
  std::snprintf(suffix, sizeof(suffix), ":%04X", port);
  std::string line;
  std::getline(table, line);  // column titles
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() > 5 && local.compare(local.size() - 5, 5, suffix) == 0) {
      return true;
    }
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One HAProxy per test, with every listener the tests use; captures are our "servers".
class HaproxyInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* configured = std::getenv("POSTERN_HAPROXY");
    const std::string binary = configured != nullptr ? configured : kDefaultHaproxy;
    ASSERT_EQ(::access(binary.c_str(), X_OK), 0)
        << "HAProxy is required for this test and was not found at " << binary
        << ". The project setup script installs it (Debian package 'haproxy'); "
           "POSTERN_HAPROXY=/path/to/haproxy selects another binary.";
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed: " << std::strerror(errno);

    capture4_ = listener_on(AF_INET, "127.0.0.1");
    ASSERT_TRUE(capture4_.valid()) << std::strerror(errno);
    ipv6_ = ipv6_loopback_works();
    if (ipv6_) {
      capture6_ = listener_on(AF_INET6, "::1");
      ASSERT_TRUE(capture6_.valid()) << std::strerror(errno);
    }
    const uint16_t capture4_port = local_endpoint(capture4_.get()).port;

    std::ostringstream cfg;
    cfg << "global\n"
        << "    maxconn 100\n"
        << "    noreuseport\n"
        << "defaults\n"
        << "    mode tcp\n"
        << "    timeout connect 2s\n"
        << "    timeout client 5s\n"
        << "    timeout server 5s\n";
    const auto add_listen = [&](const char* name, int family, const char* bind_options,
                                const char* extra, const char* server_options) {
      const bool v6 = family == AF_INET6;
      const uint16_t port = free_port(family, v6 ? "::1" : "127.0.0.1");
      const uint16_t capture_port = v6 ? local_endpoint(capture6_.get()).port : capture4_port;
      cfg << "listen " << name << "\n"
          << "    bind " << (v6 ? "[::1]" : "127.0.0.1") << ":" << port << bind_options << "\n"
          << extra << "    server s " << (v6 ? "[::1]" : "127.0.0.1") << ":" << capture_port << " "
          << server_options << "\n";
      listeners_.push_back({family, port});
      return port;
    };
    v2_port_ = add_listen("v2", AF_INET, "", "", "send-proxy-v2");
    v2_tlv_port_ = add_listen("v2_tlv", AF_INET, "", "    unique-id-format mx-%cp\n",
                              "send-proxy-v2 proxy-v2-options crc32c,unique-id");
    v1_port_ = add_listen("v1", AF_INET, "", "", "send-proxy");
    // Relays the header it accepted: its own send-proxy-v2 shows what it understood, and
    // fc_pp_unique_id hands our UNIQUE_ID TLV through.
    accept_port_ =
        add_listen("accept", AF_INET, " accept-proxy", "    unique-id-format %[fc_pp_unique_id]\n",
                   "send-proxy-v2 proxy-v2-options crc32c,unique-id");
    if (ipv6_) {
      v2_port6_ = add_listen("v2_ipv6", AF_INET6, "", "", "send-proxy-v2");
      v1_port6_ = add_listen("v1_ipv6", AF_INET6, "", "", "send-proxy");
    }
    config_path_ = dir_.path() + "/haproxy.cfg";
    log_path_ = dir_.path() + "/haproxy.log";
    std::ofstream(config_path_) << cfg.str();

    ASSERT_TRUE(haproxy_.start(binary, config_path_, log_path_)) << std::strerror(errno);
    const auto deadline = Clock::now() + kStepTimeout;
    for (const Listener& l : listeners_) {
      while (!port_listening(l.family, l.port)) {
        ASSERT_TRUE(haproxy_.running()) << "haproxy exited at start:\n"
                                        << read_file(log_path_) << "\nconfig:\n"
                                        << cfg.str();
        ASSERT_LT(Clock::now(), deadline)
            << "haproxy did not listen on port " << l.port << " within 5 s:\n"
            << read_file(log_path_);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  void TearDown() override {
    haproxy_.stop();
    if (HasFailure()) {
      std::cerr << "---- haproxy config\n"
                << read_file(config_path_) << "---- haproxy output\n"
                << read_file(log_path_) << "----\n";
    }
  }

  struct Exchange {
    Endpoint client;                // the client socket's own address and port
    std::vector<uint8_t> received;  // everything the capture server got
    DecodeResult decoded;           // decode(received), pointing into `received`
  };

  // Client at `from` connects to HAProxy at `to`, sends `bytes`, and the capture server
  // collects what HAProxy relays, up to our client bytes at the end.
  Exchange relay(const Endpoint& from, const Endpoint& to, const std::vector<uint8_t>& bytes) {
    Exchange ex;
    const auto deadline = Clock::now() + kStepTimeout;
    Fd client = connect_from(from, to, deadline);
    EXPECT_TRUE(client.valid()) << "connect to " << to.ip << ":" << to.port << ": "
                                << std::strerror(errno);
    if (!client.valid()) {
      return ex;
    }
    ex.client = local_endpoint(client.get());
    EXPECT_TRUE(send_all(client.get(), bytes, deadline));
    const int listener = to.family == AF_INET6 ? capture6_.get() : capture4_.get();
    Fd server = accept_within(listener, deadline);
    EXPECT_TRUE(server.valid()) << "haproxy never connected to the capture server";
    if (!server.valid()) {
      return ex;
    }
    ex.received = read_until_tail(server.get(), kClientBytes, deadline);
    ex.decoded = decode(ex.received.data(), ex.received.size());
    return ex;
  }

  static std::vector<uint8_t> client_bytes() { return test::text_bytes(kClientBytes); }

  // The client bytes must follow the header unchanged and be all that follows it.
  static void expect_client_bytes_follow(const Exchange& ex) {
    ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
    const std::vector<uint8_t> rest(ex.received.begin() + ex.decoded.consumed, ex.received.end());
    EXPECT_EQ(rest, client_bytes());
  }

  static Addresses addresses_of(const Endpoint& src, const Endpoint& dst) {
    return src.family == AF_INET ? test::tcp4(src.ip.c_str(), src.port, dst.ip.c_str(), dst.port)
                                 : test::tcp6(src.ip.c_str(), src.port, dst.ip.c_str(), dst.port);
  }

  struct Listener {
    int family;
    uint16_t port;
  };

  TempDir dir_;
  Fd capture4_;
  Fd capture6_;
  bool ipv6_ = false;
  std::vector<Listener> listeners_;
  uint16_t v2_port_ = 0;
  uint16_t v2_tlv_port_ = 0;
  uint16_t v1_port_ = 0;
  uint16_t accept_port_ = 0;
  uint16_t v2_port6_ = 0;
  uint16_t v1_port6_ = 0;
  std::string config_path_;
  std::string log_path_;
  HaproxyProcess haproxy_;  // declared last: stopped first, before the sockets close
};

// ---- HAProxy as sender, our codec as receiver and as a second sender ----

TEST_F(HaproxyInterop, SendProxyV2Tcp4MatchesOurCodec) {
  const Endpoint vip{AF_INET, "127.0.0.1", v2_port_};
  const Exchange ex = relay({AF_INET, "127.0.0.2", 0}, vip, client_bytes());
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  EXPECT_EQ(ex.decoded.version, 2);
  EXPECT_FALSE(ex.decoded.is_local);
  EXPECT_EQ(ex.decoded.consumed, kV2Tcp4Len);  // PEERS.md: 28 bytes, no TLVs
  const Addresses expected = addresses_of(ex.client, vip);
  EXPECT_EQ(ex.client.ip, "127.0.0.2");
  EXPECT_EQ(ex.decoded.addresses, expected);

  uint8_t ours[kV2MaxLen];
  const size_t n = encode_v2(expected, {}, ours, sizeof(ours));
  EXPECT_EQ(to_hex(ours, n), to_hex(ex.received.data(), ex.decoded.consumed));
  expect_client_bytes_follow(ex);
}

TEST_F(HaproxyInterop, SendProxyV2Tcp6MatchesOurCodec) {
  if (!ipv6_) {
    GTEST_SKIP() << "::1 cannot be bound on this machine";
  }
  const Endpoint vip{AF_INET6, "::1", v2_port6_};
  const Exchange ex = relay({AF_INET6, "::1", 0}, vip, client_bytes());
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  EXPECT_EQ(ex.decoded.consumed, kV2Tcp6Len);  // PEERS.md: 52 bytes
  const Addresses expected = addresses_of(ex.client, vip);
  EXPECT_EQ(ex.decoded.addresses, expected);

  uint8_t ours[kV2MaxLen];
  const size_t n = encode_v2(expected, {}, ours, sizeof(ours));
  EXPECT_EQ(to_hex(ours, n), to_hex(ex.received.data(), ex.decoded.consumed));
  expect_client_bytes_follow(ex);
}

// `proxy-v2-options crc32c,unique-id`: HAProxy's checksum passes our verification, and our
// encoder writes the same TLVs in the same order, byte for byte.
TEST_F(HaproxyInterop, SendProxyV2Crc32cAndUniqueIdMatchOurCodec) {
  const Endpoint vip{AF_INET, "127.0.0.1", v2_tlv_port_};
  const Exchange ex = relay({AF_INET, "127.0.0.3", 0}, vip, client_bytes());
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  EXPECT_TRUE(ex.decoded.crc32c_verified);
  const std::string id = "mx-" + std::to_string(ex.client.port);  // unique-id-format mx-%cp
  ASSERT_EQ(ex.decoded.unique_id_len, id.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ex.decoded.unique_id), id.size()), id);
  const Addresses expected = addresses_of(ex.client, vip);
  EXPECT_EQ(ex.decoded.addresses, expected);

  V2Options options;
  options.crc32c = true;
  options.unique_id = reinterpret_cast<const uint8_t*>(id.data());
  options.unique_id_len = id.size();
  uint8_t ours[kV2MaxLen];
  const size_t n = encode_v2(expected, options, ours, sizeof(ours));
  EXPECT_EQ(to_hex(ours, n), to_hex(ex.received.data(), ex.decoded.consumed));
  expect_client_bytes_follow(ex);
}

TEST_F(HaproxyInterop, SendProxyV1MatchesOurCodec) {
  const Endpoint vip{AF_INET, "127.0.0.1", v1_port_};
  const Exchange ex = relay({AF_INET, "127.0.0.4", 0}, vip, client_bytes());
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  EXPECT_EQ(ex.decoded.version, 1);
  const Addresses expected = addresses_of(ex.client, vip);
  EXPECT_EQ(ex.decoded.addresses, expected);
  uint8_t ours[kV1MaxLen];
  const size_t n = encode_v1(expected, ours, sizeof(ours));
  EXPECT_EQ(std::string(ours, ours + n),
            std::string(ex.received.begin(), ex.received.begin() + ex.decoded.consumed));
  expect_client_bytes_follow(ex);
}

TEST_F(HaproxyInterop, SendProxyV1Tcp6MatchesOurCodec) {
  if (!ipv6_) {
    GTEST_SKIP() << "::1 cannot be bound on this machine";
  }
  const Endpoint vip{AF_INET6, "::1", v1_port6_};
  const Exchange ex = relay({AF_INET6, "::1", 0}, vip, client_bytes());
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  const Addresses expected = addresses_of(ex.client, vip);
  EXPECT_EQ(ex.decoded.addresses, expected);
  uint8_t ours[kV1MaxLen];
  const size_t n = encode_v1(expected, ours, sizeof(ours));
  EXPECT_EQ(std::string(ours, ours + n),
            std::string(ex.received.begin(), ex.received.begin() + ex.decoded.consumed));
  expect_client_bytes_follow(ex);
}

// ---- Our encoder as sender, HAProxy's accept-proxy as receiver ----

TEST_F(HaproxyInterop, AcceptProxyTakesOurV2HeadersWithTlvs) {
  const char* kId = "postern-7f3a";
  const Addresses claims[] = {
      test::tcp4("203.0.113.7", 4242, "198.51.100.9", 143),
      test::tcp6("2001:db8::7", 50000, "2001:db8:25::25", 25),
  };
  for (const Addresses& claim : claims) {
    for (bool crc : {false, true}) {
      SCOPED_TRACE(test::describe(claim) + (crc ? " crc32c" : ""));
      V2Options options;
      options.crc32c = crc;
      options.unique_id = reinterpret_cast<const uint8_t*>(kId);
      options.unique_id_len = std::strlen(kId);
      options.pad_to = 128;
      std::vector<uint8_t> header(kV2MaxLen);
      header.resize(encode_v2(claim, options, header.data(), header.size()));
      ASSERT_EQ(header.size(), 128u);
      const Exchange ex = relay({AF_INET, "127.0.0.5", 0}, {AF_INET, "127.0.0.1", accept_port_},
                                test::concat(header, client_bytes()));
      ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
      // HAProxy relays the addresses it took from our header, and our ID through
      // fc_pp_unique_id, under its own CRC32C.
      EXPECT_EQ(ex.decoded.addresses, claim);
      EXPECT_TRUE(ex.decoded.crc32c_verified);
      ASSERT_EQ(ex.decoded.unique_id_len, std::strlen(kId));
      EXPECT_EQ(std::memcmp(ex.decoded.unique_id, kId, std::strlen(kId)), 0);
      expect_client_bytes_follow(ex);
    }
  }
}

TEST_F(HaproxyInterop, AcceptProxyTakesOurV1Lines) {
  const Addresses claims[] = {
      test::tcp4("203.0.113.8", 1, "198.51.100.10", 993),
      test::tcp6("2001:db8::8", 65535, "::ffff:198.51.100.10", 587),
  };
  for (const Addresses& claim : claims) {
    SCOPED_TRACE(test::describe(claim));
    std::vector<uint8_t> line(kV1MaxLen);
    line.resize(encode_v1(claim, line.data(), line.size()));
    const Exchange ex = relay({AF_INET, "127.0.0.6", 0}, {AF_INET, "127.0.0.1", accept_port_},
                              test::concat(line, client_bytes()));
    ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
    EXPECT_EQ(ex.decoded.addresses, claim);
    expect_client_bytes_follow(ex);
  }
}

// Spec 2.2: LOCAL makes the receiver use the real endpoints, which HAProxy then relays.
TEST_F(HaproxyInterop, AcceptProxyTakesOurLocalHeader) {
  V2Options options;
  options.crc32c = true;
  std::vector<uint8_t> header(kV2MaxLen);
  header.resize(encode_v2_local(options, header.data(), header.size()));
  const Endpoint vip{AF_INET, "127.0.0.1", accept_port_};
  const Exchange ex = relay({AF_INET, "127.0.0.7", 0}, vip, test::concat(header, client_bytes()));
  ASSERT_TRUE(ex.decoded.ok()) << to_string(ex.decoded.status) << ": " << to_hex(ex.received);
  EXPECT_EQ(ex.decoded.addresses, addresses_of(ex.client, vip));
  expect_client_bytes_follow(ex);
}

// Spec 2.2.3: "the receiver MUST treat the TCP connection providing the header as invalid".
// A flipped address bit must make HAProxy drop the client, never reach the server.
TEST_F(HaproxyInterop, AcceptProxyRejectsOurHeaderWithAFlippedBit) {
  V2Options options;
  options.crc32c = true;
  std::vector<uint8_t> header(kV2MaxLen);
  header.resize(encode_v2(test::tcp4("203.0.113.9", 4343, "198.51.100.9", 143), options,
                          header.data(), header.size()));
  header[19] ^= 0x01;  // last byte of the source address
  ASSERT_EQ(decode(header.data(), header.size()).status, DecodeStatus::kBadCrc32c);

  const auto deadline = Clock::now() + kStepTimeout;
  Fd client =
      connect_from({AF_INET, "127.0.0.8", 0}, {AF_INET, "127.0.0.1", accept_port_}, deadline);
  ASSERT_TRUE(client.valid()) << std::strerror(errno);
  ASSERT_TRUE(send_all(client.get(), test::concat(header, client_bytes()), deadline));
  EXPECT_TRUE(peer_closed(client.get(), deadline)) << "haproxy kept a connection with a bad CRC";
  const auto quiet = Clock::now() + std::chrono::milliseconds(300);
  EXPECT_FALSE(wait_for(capture4_.get(), POLLIN, quiet)) << "haproxy relayed a bad header";
}

}  // namespace
}  // namespace postern::dataplane::proxy
