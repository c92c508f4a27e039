// Postern's log texts against Debian's HAProxy 2.6: every datagram HAProxy sent in
// fixtures/haproxy-2.6-logs.txt (captured by fixtures/capture_haproxy_logs.sh, in UTC+14) is
// framed again from its message and must come out byte for byte; tcplog lines are built from
// the fields of each captured case; records map to HAProxy's termination states and counts.
#include "postern/control/log_format.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "postern/control/session_log.hpp"

namespace postern::control::logging {
namespace {

using config::LogFormat;

std::string source_dir() {
  const char* env = std::getenv("POSTERN_SOURCE_DIR");
  return env != nullptr ? env : POSTERN_SOURCE_DIR_DEFAULT;
}

struct Row {
  std::string name;    // the capture's case, "-" for messages of no case
  std::string target;  // the `log` line's options
  std::string datagram;
};

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1 && s[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<Row> fixture_rows() {
  std::ifstream in(source_dir() + "/tests/unit/control/fixtures/haproxy-2.6-logs.txt");
  EXPECT_TRUE(in) << "fixture missing";
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const auto t1 = line.find('\t');
    const auto t2 = line.find('\t', t1 + 1);
    rows.push_back(
        {line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), unescape(line.substr(t2 + 1))});
  }
  return rows;
}

// The fixtures' zone, UTC+14 with no summer time, in POSIX form (no tzdata needed).
class Kiritimati : public ::testing::Test {
 protected:
  Kiritimati() {
    setenv("TZ", "<+14>-14", 1);
    tzset();
  }
};

std::int64_t local_unix(int year, int mon, int day, int h, int m, int s) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  tm.tm_isdst = 0;
  return static_cast<std::int64_t>(std::mktime(&tm));
}

int month_of(const std::string& name) {
  static const std::string months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  return static_cast<int>(months.find(name) / 3);
}

// "2026-12-01T03:30:19.844796+14:00" or "Dec  1 03:30:19" inside a datagram, as unix us.
std::int64_t datagram_time(const std::string& d) {
  std::smatch m;
  if (std::regex_search(d, m,
                        std::regex(R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6}))"))) {
    return local_unix(std::stoi(m[1]), std::stoi(m[2]) - 1, std::stoi(m[3]), std::stoi(m[4]),
                      std::stoi(m[5]), std::stoi(m[6])) *
               1000000 +
           std::stoi(m[7]);
  }
  if (std::regex_search(d, m, std::regex(R"(^<\d+>(\w{3}) ([ \d]\d) (\d\d):(\d\d):(\d\d) )"))) {
    return local_unix(2026, month_of(m[1]), std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4]),
                      std::stoi(m[5])) *
           1000000;
  }
  return 0;
}

// A target line's options ("format rfc5424 local1", "len 80 local0", "local2 info err").
Framing framing_of(const std::string& target) {
  Framing f;
  std::istringstream words(target);
  std::vector<std::string> rest;
  for (std::string w; words >> w;) {
    if (w == "format") {
      words >> w;
      f.format = *config::parse_log_format(w);
    } else if (w == "len") {
      words >> f.len;
    } else {
      rest.push_back(w);
    }
  }
  f.facility = *config::syslog_facility_code(rest.at(0));
  if (rest.size() > 1) {
    f.max_level = *config::syslog_level_code(rest[1]);
  }
  if (rest.size() > 2) {
    f.min_level = *config::syslog_level_code(rest[2]);
  }
  return f;
}

// The message inside a datagram, its header taken off by the format's shape.
std::string message_of(const std::string& d, LogFormat format) {
  static const std::map<LogFormat, std::regex> kHeaders = {
      {LogFormat::kLocal, std::regex(R"(^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+ )?\S+\[\d+\]: )")},
      {LogFormat::kRfc3164, std::regex(R"(^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ \S+\[\d+\]: )")},
      {LogFormat::kRfc5424, std::regex(R"(^<\d+>1 \S+ \S+ \S+ \d+ - - )")},
      {LogFormat::kPriority, std::regex(R"(^<\d+>)")},
      {LogFormat::kShort, std::regex(R"(^<\d+>)")},
      {LogFormat::kTimed, std::regex(R"(^<\d+>\S+ )")},
      {LogFormat::kIso, std::regex(R"(^\S+ )")},
      {LogFormat::kRaw, std::regex("^")},
  };
  std::smatch m;
  EXPECT_TRUE(std::regex_search(d, m, kHeaders.at(format))) << d;
  std::string body = d.substr(static_cast<std::size_t>(m.length(0)));
  if (!body.empty() && body.back() == '\n') {
    body.pop_back();
  }
  return body;
}

// HAProxy's level for each kind of message in the capture.
std::uint8_t level_of(const std::string& message) {
  if (message.starts_with("Server ")) {
    return 1;  // alert: DOWN with no server left
  }
  if (message.starts_with("proxy ")) {
    return 0;  // emerg: no server available
  }
  if (message.starts_with("Proxy ")) {
    return 4;  // warning: a proxy stopped
  }
  return 6;  // info: traffic
}

TEST_F(Kiritimati, EveryCapturedDatagramIsFramedAgainByteForByte) {
  const std::vector<Row> rows = fixture_rows();
  std::string message;  // the last whole message: `len 80` rows carry it cut
  std::size_t checked = 0;
  for (const Row& r : rows) {
    if (r.target.starts_with("stdout")) {
      continue;
    }
    SCOPED_TRACE(r.name + " | " + r.target + " | " + r.datagram);
    Framing f = framing_of(r.target);
    if (r.name == "reload") {
      f.host = "vm";  // log-send-hostname vm, log-tag pst: a local target gets rfc3164's host
      f.tag = "pst";
    } else {
      f.tag = "haproxy";
    }
    std::smatch pid;
    if (std::regex_search(r.datagram, pid, std::regex(R"((?:\[|\w )(\d+)(?:\]: | - - ))"))) {
      f.pid = static_cast<std::uint32_t>(std::stoul(pid[1]));
    }
    if (f.len == config::kLogLenDefault) {
      message = message_of(r.datagram, f.format);
    }
    const std::uint8_t level = level_of(message);
    ASSERT_GE(effective_level(f, level), 0);
    EXPECT_EQ(frame(f, level, datagram_time(r.datagram), message), r.datagram);
    ++checked;
  }
  EXPECT_GE(checked, 200U);
}

TEST_F(Kiritimati, ATargetSendsNothingAboveItsLevel) {
  // "local0 notice" got the alert and emerg messages of the capture, never a traffic line.
  const std::vector<Row> rows = fixture_rows();
  std::size_t notice_rows = 0;
  for (const Row& r : rows) {
    if (r.target == "local0 notice") {
      ++notice_rows;
      EXPECT_LT(level_of(message_of(r.datagram, LogFormat::kLocal)), 6);
    }
  }
  EXPECT_EQ(notice_rows, 2U);
  const Framing notice = framing_of("local0 notice");
  EXPECT_EQ(effective_level(notice, 6), -1);
  EXPECT_EQ(effective_level(notice, 5), 5);
  const Framing raised = framing_of("local2 info err");
  EXPECT_EQ(effective_level(raised, 0), 3) << "more severe than minlevel: sent at minlevel";
  EXPECT_EQ(effective_level(raised, 6), 6);
}

TEST_F(Kiritimati, LenCutsTheMessageAndKeepsTheNewline) {
  Framing f;
  f.format = LogFormat::kRaw;
  f.len = 80;
  const std::string out = frame(f, 6, 0, std::string(200, 'x'));
  EXPECT_EQ(out.size(), 81U) << "80 bytes of message, then the newline, as HAProxy 2.6 sends";
  EXPECT_EQ(out.back(), '\n');
  f.len = 1024;
  EXPECT_EQ(frame(f, 6, 0, "short"), "short\n");
}

// "[01/Dec/2026:03:30:21.293]" in a line, as unix ms in the fixtures' zone.
std::int64_t accept_ms_of(const std::string& line) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(
      line, m, std::regex(R"(\[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)\.(\d{3})\])")));
  return local_unix(std::stoi(m[3]), month_of(m[2]), std::stoi(m[1]), std::stoi(m[4]),
                    std::stoi(m[5]), std::stoi(m[6])) *
             1000 +
         std::stoi(m[7]);
}

std::string raw_line(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& r : rows) {
    if (r.name == name && r.target == "format raw local0") {
      return r.datagram.substr(0, r.datagram.size() - 1);
    }
  }
  ADD_FAILURE() << "no case " << name;
  return {};
}

TEST_F(Kiritimati, TcplogLinesOfEveryCapturedCase) {
  struct Case {
    std::string name;
    TcpLogLine line;
  };
  auto make = [](std::uint16_t port, std::string_view fe, std::string_view be, std::string_view srv,
                 std::int64_t tw, std::int64_t tc, std::int64_t tt, std::uint64_t bytes,
                 const char* ts, std::uint64_t ac, std::uint64_t fc, std::uint64_t bc,
                 std::uint64_t sc, std::uint32_t rc, bool plus) {
    TcpLogLine l;
    l.client = "127.0.0.1";
    l.client_port = port;
    l.frontend = fe;
    l.backend = be;
    l.server = srv;
    l.tw = tw;
    l.tc = tc;
    l.tt = tt;
    l.bytes = bytes;
    l.ts[0] = ts[0];
    l.ts[1] = ts[1];
    l.ac = ac;
    l.fc = fc;
    l.bc = bc;
    l.sc = sc;
    l.rc = rc;
    l.redispatched = plus;
    return l;
  };
  const std::vector<Case> cases = {
      {"normal", make(41000, "imap", "imap", "s1", 1, 0, 2, 29, "--", 1, 1, 0, 0, 0, false)},
      {"concurrent", make(41001, "imap", "imap", "s1", 1, 0, 0, 20, "--", 2, 2, 1, 1, 0, false)},
      {"client_rst", make(41002, "imap", "imap", "s1", 1, 0, 100, 20, "CD", 1, 1, 0, 0, 0, false)},
      {"server_rst",
       make(41003, "srvrst", "srvrst", "s1", 1, 0, 1, 20, "SD", 1, 1, 0, 0, 0, false)},
      {"nosrv", make(41005, "nosrv", "nosrv", "", -1, -1, 0, 0, "SC", 2, 1, 0, 0, 0, false)},
      {"refused",
       make(41004, "refused", "refused", "s1", 1, -1, 2002, 0, "SC", 5, 1, 0, 0, 2, false)},
      {"idle_server",
       make(41008, "idlesrv", "idlesrv", "s1", 1, 0, 1001, 20, "sD", 4, 1, 0, 0, 0, false)},
      {"idle_equal",
       make(41009, "idleeq", "idleeq", "s1", 1, 0, 1001, 20, "cD", 3, 1, 0, 0, 0, false)},
      {"blackhole",
       make(41006, "blackhole", "blackhole", "s1", 1, -1, 2002, 0, "sC", 2, 1, 0, 0, 1, false)},
      {"frontend", make(41014, "fe", "be", "s1", 1, 0, 0, 20, "--", 3, 1, 0, 0, 0, false)},
      {"redispatch",
       make(41013, "redisp", "redisp", "good", 1, 0, 5007, 20, "cD", 1, 1, 0, 0, 1, true)},
  };
  const std::vector<Row> rows = fixture_rows();
  for (Case c : cases) {
    SCOPED_TRACE(c.name);
    const std::string want = raw_line(rows, c.name);
    c.line.accept_unix_ms = accept_ms_of(want);
    EXPECT_EQ(tcplog_line(c.line), want);
  }
  for (const auto& [name, message] :
       {std::pair{"proxy_bad",
                  "Received something which does not look like a PROXY protocol header"},
        {"proxy_timeout", "Timeout while waiting for PROXY protocol header"}}) {
    const std::string want = raw_line(rows, name);
    const auto port = static_cast<std::uint16_t>(std::stoi(want.substr(10, 5)));
    EXPECT_EQ(
        connection_error_line("127.0.0.1", port, accept_ms_of(want), "upstream", "1", message),
        want);
  }
}

// Records as workers write them, into lines.
class Records : public Kiritimati {
 protected:
  Records() {
    snap_.listeners.resize(2);
    snap_.listeners[0].name = "imap";
    snap_.listeners[1].name = "fe";
    snap_.servers.resize(2);
    snap_.servers[0].name = "imap/s1";
    snap_.servers[1].name = "be/s2";
    imap_.frontend = "imap";
    imap_.backend = "imap";
    imap_.bind = "1";
    fe_.frontend = "fe";
    fe_.backend = "be";
    fe_.bind = "2";
  }

  dataplane::SessionRecord record(std::uint16_t server) const {
    dataplane::SessionRecord r;
    const std::uint8_t ip[4] = {192, 0, 2, 7};
    std::memcpy(r.client, ip, 4);
    r.client_port = 50123;
    r.server = server;
    r.connect_ms = 0;
    r.total_ms = 12;
    r.bytes_to_client = 29;
    r.bytes_from_client = 6;
    r.active = 1;
    r.listener_active = 1;
    return r;
  }

  dataplane::Snapshot snap_;
  ListenerLog imap_;
  ListenerLog fe_;
  const std::int64_t accept_ = local_unix(2026, 11, 1, 3, 30, 21) * 1000 + 293;
};

TEST_F(Records, ASessionsLineNamesItsFrontendBackendAndServer) {
  dataplane::SessionRecord r = record(1);
  r.listener = 1;
  OtherCounts others;
  others.active = 2;
  others.listener_active = 1;
  others.server_active = 1;
  EXPECT_EQ(session_line(r, fe_, snap_, others, accept_),
            "192.0.2.7:50123 [01/Dec/2026:03:30:21.293] fe be/s2 0/0/12 29 -- 3/2/1/1/0 0/0");
}

TEST_F(Records, TerminationStatesRetriesAndNosrv) {
  dataplane::SessionRecord r = record(0);
  r.end = {dataplane::EndCause::kServerAbort, dataplane::EndPhase::kConnect};
  r.connect_ms = -1;
  r.bytes_to_client = 0;
  r.retries = 2;
  r.flags = dataplane::kRecordRedispatched;
  EXPECT_EQ(session_line(r, imap_, snap_, {}, accept_),
            "192.0.2.7:50123 [01/Dec/2026:03:30:21.293] imap imap/s1 0/-1/12 0 SC 1/1/0/0/+2 0/0");
  r = record(dataplane::kNoServerSlot);
  r.end = {dataplane::EndCause::kServerAbort, dataplane::EndPhase::kConnect};
  r.connect_ms = -1;
  r.total_ms = 0;
  r.bytes_to_client = 0;
  EXPECT_EQ(session_line(r, imap_, snap_, {}, accept_),
            "192.0.2.7:50123 [01/Dec/2026:03:30:21.293] imap imap/<NOSRV> -1/-1/0 0 SC 1/1/0/0/0 "
            "0/0");
  r = record(0);
  r.end = {dataplane::EndCause::kClientTimeout, dataplane::EndPhase::kData};
  EXPECT_EQ(session_line(r, imap_, snap_, {}, accept_)->substr(56, 11), "0/0/12 29 c")
      << *session_line(r, imap_, snap_, {}, accept_);
}

TEST_F(Records, AnUpstreamHeaderThatFailsGivesHaproxysConnectionErrorLine) {
  dataplane::SessionRecord r = record(1);
  r.listener = 1;
  r.bytes_from_client = 0;
  r.end = {dataplane::EndCause::kProxy, dataplane::EndPhase::kRequest};
  fe_.dontlognull = true;  // bytes arrived, they were just not a header: still logged
  EXPECT_EQ(session_line(r, fe_, snap_, {}, accept_),
            "192.0.2.7:50123 [01/Dec/2026:03:30:21.293] fe/2: Received something which does not "
            "look like a PROXY protocol header");
  r.end = {dataplane::EndCause::kClientTimeout, dataplane::EndPhase::kRequest};
  EXPECT_EQ(session_line(r, fe_, snap_, {}, accept_), std::nullopt) << "dontlognull";
  fe_.dontlognull = false;
  EXPECT_EQ(session_line(r, fe_, snap_, {}, accept_),
            "192.0.2.7:50123 [01/Dec/2026:03:30:21.293] fe/2: Timeout while waiting for PROXY "
            "protocol header");
}

TEST_F(Records, DontlognullKeepsOutSessionsWhereTheClientSentNothing) {
  dataplane::SessionRecord r = record(0);
  imap_.dontlognull = true;
  EXPECT_NE(session_line(r, imap_, snap_, {}, accept_), std::nullopt);
  r.bytes_from_client = 0;  // the server greeted, the client left: HAProxy's req.total == 0
  EXPECT_EQ(session_line(r, imap_, snap_, {}, accept_), std::nullopt);
  imap_.dontlognull = false;
  EXPECT_NE(session_line(r, imap_, snap_, {}, accept_), std::nullopt);
}

TEST_F(Records, AnIpv6ClientFromAnUpstreamHeader) {
  dataplane::SessionRecord r = record(0);
  const std::uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(r.client, ip, 16);
  r.flags = dataplane::kRecordClientV6;
  EXPECT_TRUE(session_line(r, imap_, snap_, {}, accept_)->starts_with("2001:db8::1:50123 ["));
}

TEST(LogMessages, TheListenerAMessageIsAbout) {
  EXPECT_EQ(message_listener("Server imap4/dc1 is DOWN, reason: Layer4 timeout"), "imap4");
  EXPECT_EQ(message_listener("Backup Server imap4/b1 is UP"), "imap4");
  EXPECT_EQ(message_listener("proxy imap4 has no server available!"), "imap4");
  EXPECT_EQ(message_listener("Reloaded: generation 2"), "");
}

}  // namespace
}  // namespace postern::control::logging
