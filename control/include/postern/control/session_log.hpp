// Postern's log, sent where the configuration's `log` lines say (HAProxy's targets and
// framings): one `option tcplog` line per session from the records the workers queue
// (postern/dataplane/log_record.hpp), and the control thread's own events (server state
// changes, reloads). Runs on the control thread only; every socket is non-blocking, so a
// dead syslog loses lines (counted) but never holds the loop up.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postern/config/log_target.hpp"
#include "postern/config/model.hpp"
#include "postern/control/log_format.hpp"
#include "postern/dataplane/log_record.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::dataplane {
class Runtime;
}

namespace postern::control::logging {

// Connections the other workers count when a record is read: a record carries its own
// worker's counts, the line shows the process's.
struct OtherCounts {
  std::uint64_t active = 0;
  std::uint64_t listener_active = 0;
  std::uint64_t server_active = 0;
};

// What a record says about its listener, resolved from the configuration.
struct ListenerLog {
  std::string frontend;  // %ft
  std::string backend;   // %b
  std::string bind;      // HAProxy's bind name in connection error lines
  bool dontlognull = false;
  std::vector<std::size_t> targets;  // indices into SessionLog's targets
};

// The line for a record, or nothing when `option dontlognull` keeps it out (no byte from the
// client; a malformed upstream header is still logged, as HAProxy does).
std::optional<std::string> session_line(const dataplane::SessionRecord& r,
                                        const ListenerLog& listener,
                                        const dataplane::Snapshot& snap, const OtherCounts& others,
                                        std::int64_t accept_unix_ms);

// The listener a health message is about ("Server imap/s1 is DOWN", "proxy imap has ...").
std::string_view message_listener(std::string_view message);

class SessionLog {
 public:
  SessionLog() = default;
  SessionLog(const SessionLog&) = delete;
  SessionLog& operator=(const SessionLog&) = delete;
  ~SessionLog();

  // Opens the targets of `cfg` for the listeners of `snap` (slots matched by name). Called
  // at start and after every reload; the sockets of the previous configuration are closed.
  void configure(const config::Config& cfg, const dataplane::Snapshot& snap,
                 std::string_view system_hostname);

  // Formats and sends every record the workers queued (at most `max_per_worker` each).
  std::size_t drain(dataplane::Runtime& rt, std::size_t max_per_worker = 4096);

  // One session's line to its listener's targets.
  void session(const dataplane::SessionRecord& r, const dataplane::Snapshot& snap,
               const OtherCounts& others, std::int64_t now_unix_us);

  // A message at syslog `level`: to the targets of the listener it names, else the global
  // ones.
  void event(std::uint8_t level, std::string_view message, std::int64_t now_unix_us);

  bool enabled() const { return !targets_.empty(); }
  std::uint64_t lines() const { return lines_; }                  // formatted
  std::uint64_t send_failures() const { return send_failures_; }  // datagrams lost
  std::uint64_t skipped() const { return skipped_; }              // dontlognull

 private:
  struct Target {
    std::string key;
    config::LogAddress address;
    Framing framing;
    int fd = -1;
    sockaddr_storage to{};
    socklen_t to_len = 0;
  };

  std::size_t target_for(const config::LogTarget& t, const config::Global& g,
                         std::string_view host);
  void send(Target& t, std::uint8_t level, std::string_view tag, std::int64_t now_unix_us,
            std::string_view message);
  void close_all();

  std::vector<Target> targets_;
  std::vector<std::size_t> global_;
  std::vector<ListenerLog> listeners_;  // by snapshot slot
  std::vector<std::string> tags_;       // by snapshot slot
  std::string global_tag_ = "postern";
  std::uint64_t lines_ = 0;
  std::uint64_t send_failures_ = 0;
  std::uint64_t skipped_ = 0;
};

// Wall-clock microseconds now.
std::int64_t unix_now_us();

}  // namespace postern::control::logging
