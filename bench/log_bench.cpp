// How many session log lines the control thread formats per second: SessionRecord -> tcplog
// line -> syslog datagram (rfc3164 framing), and the same sent to a UDP socket on the
// loopback with nobody reading (what a dead syslog costs). Prints figures; asserts nothing.
// `build/bench/log_bench [RECORDS]`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "postern/control/log_format.hpp"
#include "postern/control/session_log.hpp"

using namespace postern;

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  dataplane::Snapshot snap;
  snap.listeners.resize(1);
  snap.listeners[0].name = "imap";
  snap.servers.resize(1);
  snap.servers[0].name = "imap/dovecot1";
  control::logging::ListenerLog ll;
  ll.frontend = "imap";
  ll.backend = "imap";
  dataplane::SessionRecord r;
  const std::uint8_t ip[4] = {198, 18, 0, 2};
  std::memcpy(r.client, ip, 4);
  r.server = 0;
  r.connect_ms = 1;
  r.total_ms = 5007;
  r.bytes_to_client = 1234;
  r.bytes_from_client = 56;
  r.active = 10;
  r.listener_active = 10;
  control::logging::Framing f;
  f.format = config::LogFormat::kRfc3164;
  f.pid = 4242;
  const std::int64_t t0 = control::logging::unix_now_us();

  using clock = std::chrono::steady_clock;
  std::size_t bytes = 0;
  auto start = clock::now();
  for (long i = 0; i < n; ++i) {
    r.client_port = static_cast<std::uint16_t>(1024 + i % 60000);
    const auto line = control::logging::session_line(r, ll, snap, {}, t0 / 1000 + i);
    bytes += control::logging::frame(f, 6, t0 + i, *line).size();
  }
  double s = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("format: %ld lines in %.3f s: %.0f lines/s (%.0f bytes each)\n", n, s, n / s,
              static_cast<double>(bytes) / static_cast<double>(n));

  // Sent to a UDP port nobody reads: the kernel drops them after the socket's queue.
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);  // discard: nothing listens
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long failed = 0;
  start = clock::now();
  for (long i = 0; i < n; ++i) {
    r.client_port = static_cast<std::uint16_t>(1024 + i % 60000);
    const auto line = control::logging::session_line(r, ll, snap, {}, t0 / 1000 + i);
    const std::string d = control::logging::frame(f, 6, t0 + i, *line);
    if (sendto(fd, d.data(), d.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to) !=
        static_cast<ssize_t>(d.size())) {
      ++failed;
    }
  }
  s = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("format + sendto (UDP, no reader): %ld lines in %.3f s: %.0f lines/s, %ld not sent\n",
              n, s, n / s, failed);
  close(fd);
  return 0;
}
