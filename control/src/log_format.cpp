// HAProxy's log texts (see log_format.hpp); formats checked against Debian's HAProxy 2.6
// output in tests/unit/control/fixtures/haproxy-2.6-logs.txt.
#include "postern/control/log_format.hpp"

#include <cstdio>
#include <ctime>

namespace postern::control::logging {
namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::tm local(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// RFC 3164's TIMESTAMP: "Dec  1 03:30:19" (the day padded with a space).
std::string rfc3164_time(std::int64_t unix_us) {
  const std::tm tm = local(floor_div(unix_us, 1000000));
  char out[32];
  std::snprintf(out, sizeof out, "%s %2d %02d:%02d:%02d", kMonths[tm.tm_mon], tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return out;
}

// RFC 5424's TIMESTAMP with microseconds and the zone's offset: "2026-12-01T03:30:19.844796+14:00".
std::string iso_time(std::int64_t unix_us) {
  const std::int64_t s = floor_div(unix_us, 1000000);
  const std::tm tm = local(s);
  const int off = static_cast<int>(tm.tm_gmtoff / 60);  // minutes east of UTC
  const int aoff = (off < 0 ? -off : off) % (24 * 60);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld%c%02d:%02d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(unix_us - s * 1000000), off < 0 ? '-' : '+', aoff / 60,
                aoff % 60);
  return out;
}

void append_number(std::string& out, std::int64_t v) {
  out += std::to_string(v);
}

}  // namespace

std::string accept_date(std::int64_t unix_ms) {
  const std::int64_t s = floor_div(unix_ms, 1000);
  const std::tm tm = local(s);
  char out[40];
  std::snprintf(out, sizeof out, "%02d/%s/%04d:%02d:%02d:%02d.%03d", tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms - s * 1000));
  return out;
}

std::string tcplog_line(const TcpLogLine& l) {
  std::string out;
  out.reserve(160);
  out += l.client;
  out += ':';
  append_number(out, l.client_port);
  out += " [";
  out += accept_date(l.accept_unix_ms);
  out += "] ";
  out += l.frontend;
  out += ' ';
  out += l.backend;
  out += '/';
  out += l.server.empty() ? std::string_view("<NOSRV>") : l.server;
  out += ' ';
  append_number(out, l.tw);
  out += '/';
  append_number(out, l.tc);
  out += '/';
  append_number(out, l.tt);
  out += ' ';
  append_number(out, static_cast<std::int64_t>(l.bytes));
  out += ' ';
  out += l.ts[0];
  out += l.ts[1];
  out += ' ';
  for (const std::uint64_t v : {l.ac, l.fc, l.bc, l.sc}) {
    append_number(out, static_cast<std::int64_t>(v));
    out += '/';
  }
  if (l.redispatched) {
    out += '+';
  }
  append_number(out, l.rc);
  out += ' ';
  append_number(out, static_cast<std::int64_t>(l.sq));
  out += '/';
  append_number(out, static_cast<std::int64_t>(l.bq));
  return out;
}

std::string connection_error_line(std::string_view client, std::uint16_t client_port,
                                  std::int64_t accept_unix_ms, std::string_view frontend,
                                  std::string_view bind, std::string_view message) {
  std::string out(client);
  out += ':';
  append_number(out, client_port);
  out += " [";
  out += accept_date(accept_unix_ms);
  out += "] ";
  out += frontend;
  out += '/';
  out += bind;
  out += ": ";
  out += message;
  return out;
}

int effective_level(const Framing& f, std::uint8_t level) {
  if (level > f.max_level) {
    return -1;
  }
  return level < f.min_level ? f.min_level : level;
}

std::string frame(const Framing& f, std::uint8_t level, std::int64_t now_unix_us,
                  std::string_view message) {
  using config::LogFormat;
  const int lv = effective_level(f, level);
  const int pri = f.facility * 8 + (lv < 0 ? level : lv);
  std::string out;
  out.reserve(message.size() + 96);
  auto priority = [&](int value) {
    out += '<';
    out += std::to_string(value);
    out += '>';
  };
  switch (f.format) {
    case LogFormat::kLocal:
    case LogFormat::kRfc3164:
      priority(pri);
      out += rfc3164_time(now_unix_us);
      out += ' ';
      // `local` names no host; rfc3164 always does (HAProxy 2.6 says "localhost" when
      // log-send-hostname is not set).
      if (f.format == LogFormat::kRfc3164 || !f.host.empty()) {
        out += f.host.empty() ? std::string_view("localhost") : std::string_view(f.host);
        out += ' ';
      }
      out += f.tag;
      out += '[';
      out += std::to_string(f.pid);
      out += "]: ";
      break;
    case LogFormat::kRfc5424:
      priority(pri);
      out += "1 ";
      out += iso_time(now_unix_us);
      out += ' ';
      out += f.host.empty() ? std::string_view("-") : std::string_view(f.host);
      out += ' ';
      out += f.tag;
      out += ' ';
      out += std::to_string(f.pid);
      out += " - - ";
      break;
    case LogFormat::kPriority:
      priority(pri);
      break;
    case LogFormat::kShort:
      priority(lv < 0 ? level : lv);
      break;
    case LogFormat::kTimed:
      priority(lv < 0 ? level : lv);
      out += iso_time(now_unix_us);
      out += ' ';
      break;
    case LogFormat::kIso:
      out += iso_time(now_unix_us);
      out += ' ';
      break;
    case LogFormat::kRaw:
      break;
  }
  out += message;
  // `len` bounds header and text; HAProxy 2.6 then adds the newline (an 81-byte datagram
  // under `len 80`, as captured).
  if (f.len != 0 && out.size() > f.len) {
    out.resize(f.len);
  }
  out += '\n';
  return out;
}

}  // namespace postern::control::logging
