// The text of Postern's log messages, as HAProxy writes them: the `option tcplog` line, the
// error line of a connection whose upstream PROXY header failed, and the syslog framing of any
// message for one `log` target (its format, facility, level and `len`). Pure functions over
// plain values; the session logger (session_log.hpp) feeds them and sends the result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "postern/config/log_target.hpp"

namespace postern::control::logging {

// One tcplog line's fields (configuration.txt 8.2.2):
// %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
struct TcpLogLine {
  std::string client;                            // %ci, as text
  std::uint16_t client_port = 0;                 // %cp
  std::int64_t accept_unix_ms = 0;               // %t, written in local time
  std::string_view frontend;                     // %ft
  std::string_view backend;                      // %b
  std::string_view server;                       // %s; empty: <NOSRV>
  std::int64_t tw = 0;                           // %Tw (-1: never queued for a server)
  std::int64_t tc = 0;                           // %Tc (-1: never connected)
  std::int64_t tt = 0;                           // %Tt
  std::uint64_t bytes = 0;                       // %B: bytes the server sent the client
  char ts[2] = {'-', '-'};                       // %ts
  std::uint64_t ac = 0, fc = 0, bc = 0, sc = 0;  // connections still counted
  std::uint32_t rc = 0;                          // %rc, with a '+' when redispatched
  bool redispatched = false;
  std::uint64_t sq = 0, bq = 0;  // queues: Postern never queues
};

std::string tcplog_line(const TcpLogLine& l);

// HAProxy's line for a connection that failed before a session existed (an upstream PROXY
// header malformed or late): "%ci:%cp [%t] %ft/%bind: message".
std::string connection_error_line(std::string_view client, std::uint16_t client_port,
                                  std::int64_t accept_unix_ms, std::string_view frontend,
                                  std::string_view bind, std::string_view message);

// HAProxy's date in a log line's [%t]: "01/Dec/2026:03:30:21.293", local time.
std::string accept_date(std::int64_t unix_ms);

// How one `log` target frames what it sends.
struct Framing {
  config::LogFormat format = config::LogFormat::kLocal;
  std::uint8_t facility = 16;  // local0
  std::uint8_t max_level = 7;  // messages above it (less severe) are not sent
  std::uint8_t min_level = 0;  // messages below it (more severe) go out at it
  std::uint32_t len = config::kLogLenDefault;
  std::string tag = "postern";
  std::string host;  // rfc3164/rfc5424 header's host name; empty: "localhost" / "-"
  std::uint32_t pid = 0;
};

// The level a message of `level` goes out at through `f`, or -1 when `f` does not send it.
int effective_level(const Framing& f, std::uint8_t level);

// One datagram (or one stdout line): header and message cut to `len` bytes, then a newline.
// `now_unix_us` dates the header.
std::string frame(const Framing& f, std::uint8_t level, std::int64_t now_unix_us,
                  std::string_view message);

}  // namespace postern::control::logging
