// The runtime API against what Debian's HAProxy 2.6.12 answered for the same configuration
// (fixtures/runtime_api/haproxy.cfg: one `listen imap`, s1 and s2 checked and UP, s3 a backup
// without check), and its framing: `cmd1; cmd2`, prompt mode, the errors operators' scripts see.
#include "postern/control/runtime_api.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace postern::control::api {
namespace {

std::string fixture(const std::string& name) {
  const char* dir = std::getenv("POSTERN_SOURCE_DIR");
  const std::string path = std::string(dir != nullptr ? dir : POSTERN_SOURCE_DIR_DEFAULT) +
                           "/tests/unit/control/fixtures/runtime_api/" + name;
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    out.push_back(l);
  }
  return out;
}

std::vector<std::string> fields(const std::string& row) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : row) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// The state HAProxy was in when the fixtures were taken, 6 s after start.
admin::AdminView imap_view() {
  admin::AdminView v;
  v.built_ms = 103000;
  v.start_unix_s = 1000;
  v.workers = 2;
  v.node = "vm";
  admin::ListenerView l;
  l.slot = 0;
  l.name = "imap";
  l.binds = {"127.0.0.1:19143"};
  l.servers = {0, 1, 2};
  v.listeners.push_back(l);
  for (std::uint16_t i = 0; i < 3; ++i) {
    admin::ServerView s;
    s.slot = i;
    s.server = "s" + std::to_string(i + 1);
    s.listener = "imap";
    s.name = "imap/" + s.server;
    s.address = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(19001 + i);
    s.weight = s.uweight = i == 1 ? 50 : 1;
    s.backup = i == 2;
    health::ServerHealth& h = s.health;
    h.name = s.name;
    h.checked = i != 2;
    h.up = true;
    h.rise = 2;
    h.fall = 3;
    h.health = i == 2 ? 2 : 4;
    h.status = i == 2 ? health::CheckStatus::kIni : health::CheckStatus::kL4Ok;
    h.duration_ms = i == 2 ? -1 : 0;
    h.last_change_ms = 97000;
    v.servers.push_back(s);
  }
  return v;
}

admin::Sample empty_sample() {
  admin::Sample s;
  s.server_active.assign(3, 0);
  s.server_total.assign(3, 0);
  s.listener_active.assign(1, 0);
  return s;
}

Names imap_names() {
  Names n;
  n.backend_of["imap"] = "imap";
  n.algo_of["imap"] = "roundrobin";
  n.global_maxconn = 9985;  // what HAProxy derived from the ulimit on the capturing machine
  return n;
}

TEST(RuntimeApiStat, HeaderIsHaproxys) {
  const auto v = imap_view();
  const auto sample = empty_sample();
  const auto names = imap_names();
  const auto ours = lines(show_stat(Context{v, sample, names, 1003, 1}));
  const auto theirs = lines(fixture("show_stat.csv"));
  ASSERT_FALSE(ours.empty());
  EXPECT_EQ(ours[0], theirs[0]);
  EXPECT_EQ(fields(ours[0]).size(), 129U);  // 128 columns and the trailing comma
}

// Every row, column by column, as HAProxy wrote it; the columns Postern cannot know the way
// HAProxy does are listed.
TEST(RuntimeApiStat, RowsMatchHaproxyColumnByColumn) {
  const auto v = imap_view();
  const auto sample = empty_sample();
  const auto names = imap_names();
  const auto ours = lines(show_stat(Context{v, sample, names, 1003, 1}));
  const auto theirs = lines(fixture("show_stat.csv"));
  ASSERT_EQ(ours.size(), 6U);  // header, FRONTEND, s1, s2, s3, BACKEND
  ASSERT_GE(theirs.size(), 6U);
  const auto header = fields(theirs[0].substr(2));
  // need_conn_est: HAProxy's idle-connection bookkeeping, meaningless for a TCP splice.
  const std::set<std::string> skip = {"need_conn_est"};
  for (std::size_t r = 1; r < 6; ++r) {
    const auto a = fields(ours[r]);
    const auto b = fields(theirs[r]);
    ASSERT_EQ(a.size(), b.size()) << "row " << r;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i < header.size() && skip.count(header[i]) != 0) {
        continue;
      }
      EXPECT_EQ(a[i], b[i]) << "row " << b[1] << " column " << i << " ("
                            << (i < header.size() ? header[i] : "") << ")";
    }
  }
}

TEST(RuntimeApiStat, DrainMaintAndWeightShowAsHaproxyShowsThem) {
  auto v = imap_view();
  v.servers[0].admin = admin::AdminState::kDrain;
  v.servers[0].health.drain = true;
  v.servers[2].admin = admin::AdminState::kMaint;
  v.servers[2].health.disabled = true;
  v.servers[1].uweight = 20;
  const auto sample = empty_sample();
  const auto names = imap_names();
  const auto rows = lines(show_stat(Context{v, sample, names, 1003, 1}));
  const auto s1 = fields(rows[2]);
  const auto s2 = fields(rows[3]);
  const auto s3 = fields(rows[4]);
  const auto be = fields(rows[5]);
  EXPECT_EQ(s1[17], "DRAIN");
  EXPECT_EQ(s1[18], "1");  // HAProxy keeps a draining server's weight in the column
  EXPECT_EQ(s2[18], "20");
  EXPECT_EQ(s2[99], "20");
  EXPECT_EQ(s3[17], "MAINT");
  EXPECT_EQ(s3[18], "1");  // and a server's in MAINT (seen with HAProxy 2.6 in the e2e test)
  EXPECT_EQ(be[17], "UP");
  EXPECT_EQ(be[18], "20");  // only s2 takes connections
  EXPECT_EQ(be[19], "1");
  EXPECT_EQ(be[20], "0");
}

TEST(RuntimeApiStat, CountsFromTheSample) {
  const auto v = imap_view();
  auto sample = empty_sample();
  sample.server_active = {2, 1, 0};
  sample.server_total = {7, 5, 0};
  sample.listener_active = {3};
  const auto names = imap_names();
  const auto rows = lines(show_stat(Context{v, sample, names, 1003, 1}));
  EXPECT_EQ(fields(rows[1])[4], "3");   // FRONTEND scur
  EXPECT_EQ(fields(rows[1])[7], "12");  // FRONTEND stot
  EXPECT_EQ(fields(rows[2])[4], "2");   // s1 scur
  EXPECT_EQ(fields(rows[2])[7], "7");   // s1 stot
  EXPECT_EQ(fields(rows[3])[30], "5");  // s2 lbtot
  EXPECT_EQ(fields(rows[5])[7], "12");  // BACKEND stot
}

// The traffic columns, by name: bytes each way, failed connects, SYNs sent and the average
// SYN to SYN-ACK time, per server and summed for the listener.
TEST(RuntimeApiStat, TrafficColumnsFromTheSample) {
  const auto v = imap_view();
  auto sample = empty_sample();
  sample.server_total = {7, 5, 0};
  sample.server_bytes_in = {1000, 24, 0};
  sample.server_bytes_out = {50000, 6, 0};
  sample.server_errors = {0, 2, 1};
  sample.server_attempts = {7, 7, 1};
  sample.server_connects = {7, 5, 0};
  sample.server_connect_ms = {14, 11, 0};
  const auto names = imap_names();
  const auto rows = lines(show_stat(Context{v, sample, names, 1003, 1}));
  const auto header = fields(rows[0].substr(2));
  const auto cell = [&](std::size_t row, const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    return fields(rows[row])[static_cast<std::size_t>(it - header.begin())];
  };
  EXPECT_EQ(cell(1, "bin"), "1024");  // FRONTEND
  EXPECT_EQ(cell(1, "bout"), "50006");
  EXPECT_EQ(cell(2, "bin"), "1000");  // s1
  EXPECT_EQ(cell(2, "bout"), "50000");
  EXPECT_EQ(cell(2, "ctime"), "2");
  EXPECT_EQ(cell(3, "econ"), "2");  // s2
  EXPECT_EQ(cell(3, "connect"), "7");
  EXPECT_EQ(cell(4, "ctime"), "0");   // s3: never connected
  EXPECT_EQ(cell(5, "bin"), "1024");  // BACKEND
  EXPECT_EQ(cell(5, "econ"), "3");
  EXPECT_EQ(cell(5, "connect"), "15");
  EXPECT_EQ(cell(5, "ctime"), "2");  // 25 ms over 12 connects
}

TEST(RuntimeApiServersState, MatchesHaproxyLineForLine) {
  const auto v = imap_view();
  const auto sample = empty_sample();
  const auto names = imap_names();
  std::string out;
  ASSERT_TRUE(show_servers_state(Context{v, sample, names, 1003, 1}, "", out));
  EXPECT_EQ(out, fixture("show_servers_state.txt").substr(0, out.size()));
  EXPECT_EQ(out + "\n", fixture("show_servers_state.txt"));
  ASSERT_TRUE(show_servers_state(Context{v, sample, names, 1003, 1}, "imap", out));
  EXPECT_FALSE(show_servers_state(Context{v, sample, names, 1003, 1}, "nope", out));
  EXPECT_EQ(out, "Can't find backend.\n");
}

// What HAProxy 2.6 wrote after `state drain` on s1, `state maint` on s2 and `weight 0` on s3.
TEST(RuntimeApiServersState, DrainMaintWeightAsHaproxyWroteThem) {
  auto v = imap_view();
  v.built_ms = 98000;
  v.servers[0].admin = admin::AdminState::kDrain;
  v.servers[0].health.drain = true;
  v.servers[1].admin = admin::AdminState::kMaint;
  v.servers[1].health.disabled = true;
  v.servers[1].health.up = false;
  v.servers[1].health.health = 0;
  v.servers[2].uweight = 0;
  v.servers[2].health.last_change_ms = 91000;
  const auto sample = empty_sample();
  const auto names = imap_names();
  std::string out;
  ASSERT_TRUE(show_servers_state(Context{v, sample, names, 1003, 1}, "", out));
  const auto l = lines(out);
  ASSERT_EQ(l.size(), 5U);
  EXPECT_EQ(l[2], "2 imap 1 s1 127.0.0.1 2 8 1 1 1 6 3 4 6 0 0 0 - 19001 - 0 0 - - 0");
  EXPECT_EQ(l[3], "2 imap 2 s2 127.0.0.1 0 1 50 50 1 6 3 0 14 0 0 0 - 19002 - 0 0 - - 0");
  EXPECT_EQ(l[4], "2 imap 3 s3 127.0.0.1 2 0 0 1 7 1 0 2 0 0 0 0 - 19003 - 0 0 - - 0");
}

TEST(RuntimeApiInfo, FieldNamesAreHaproxysInHaproxysOrder) {
  const auto v = imap_view();
  const auto sample = empty_sample();
  const auto names = imap_names();
  const auto ours = lines(show_info(Context{v, sample, names, 1003, 42}));
  std::vector<std::string> theirs;
  for (const auto& l : lines(fixture("show_info.txt"))) {
    if (!l.empty()) {
      theirs.push_back(l.substr(0, l.find(':')));
    }
  }
  std::size_t at = 0;
  std::map<std::string, std::string> got;
  for (const auto& l : ours) {
    const auto colon = l.find(": ");
    ASSERT_NE(colon, std::string::npos) << l;
    const std::string key = l.substr(0, colon);
    got[key] = l.substr(colon + 2);
    const auto it = std::find(theirs.begin() + static_cast<std::ptrdiff_t>(at), theirs.end(), key);
    ASSERT_NE(it, theirs.end()) << key << " is not HAProxy's, or out of its order";
    at = static_cast<std::size_t>(it - theirs.begin());
  }
  EXPECT_EQ(got["Pid"], "42");
  EXPECT_EQ(got["Uptime"], "0d 0h00m03s");
  EXPECT_EQ(got["Uptime_sec"], "3");
  EXPECT_EQ(got["Nbthread"], "2");
  EXPECT_EQ(got["node"], "vm");
  for (const char* key : {"Name", "Version", "Release_date", "CurrConns", "CumConns", "Maxconn",
                          "Maxpipes", "PipesUsed", "Tasks", "Run_queue", "Nbproc", "Process_num"}) {
    EXPECT_EQ(got.count(key), 1U) << key << " (hatop reads it)";
  }
}

TEST(RuntimeApiParse, SplitsCommandsAndWords) {
  EXPECT_EQ(split_commands("show info;show stat"),
            (std::vector<std::string>{"show info", "show stat"}));
  EXPECT_EQ(split_commands(" set server a/b state drain ;  get weight a/b\r"),
            (std::vector<std::string>{"set server a/b state drain", "get weight a/b"}));
  EXPECT_EQ(split_commands("a\\;b"), (std::vector<std::string>{"a\\;b"}));
  EXPECT_EQ(split_words("set  server\ta/b   weight 50%"),
            (std::vector<std::string>{"set", "server", "a/b", "weight", "50%"}));
  EXPECT_EQ(split_words("a\\ b c"), (std::vector<std::string>{"a b", "c"}));
  EXPECT_TRUE(split_words("   ").empty());
}

// An operator over a view, recording what the interpreter asked for.
class FakeOperator final : public admin::Operator {
 public:
  FakeOperator() : view_(std::make_shared<admin::AdminView>(imap_view())) {}
  std::shared_ptr<const admin::AdminView> view() const override { return view_; }
  admin::Sample sample() const override { return empty_sample(); }
  bool set_admin(std::uint16_t slot, admin::AdminState state, std::string&) override {
    auto next = std::make_shared<admin::AdminView>(*view_);
    next->servers[slot].admin = state;
    view_ = next;
    calls.push_back("admin " + std::to_string(slot) + " " +
                    std::to_string(static_cast<int>(state)));
    return true;
  }
  bool set_weight(std::uint16_t slot, std::uint32_t weight, std::string&) override {
    auto next = std::make_shared<admin::AdminView>(*view_);
    next->servers[slot].uweight = weight;
    view_ = next;
    calls.push_back("weight " + std::to_string(slot) + " " + std::to_string(weight));
    return true;
  }
  bool reload(std::string& result) override {
    calls.push_back("reload");
    if (fail_reload) {
      result =
          "/etc/postern/haproxy.cfg:12: unknown keyword 'sever' in 'listen' section\n"
          "reload refused: the running configuration keeps serving";
      return false;
    }
    result = "reloaded: generation 2";
    return true;
  }
  std::vector<std::string> calls;
  bool fail_reload = false;

 private:
  std::shared_ptr<const admin::AdminView> view_;
};

struct Harness {
  FakeOperator op;
  Interpreter interp{op,
                     [](const std::function<void()>& f) {
                       f();
                       return true;
                     },
                     [] { return imap_names(); }};
  std::string line(const std::string& text, Session& s) { return interp.run_line(text, s); }
};

TEST(RuntimeApiCommands, ErrorsAreHaproxys) {
  Harness h;
  Session s;
  EXPECT_EQ(h.interp.run("set server imap/zz state drain", s), "No such server.\n");
  EXPECT_EQ(h.interp.run("set server nope/s1 state drain", s), "No such backend.\n");
  EXPECT_EQ(h.interp.run("get weight imap", s), "Require 'backend/server'.\n");
  EXPECT_EQ(h.interp.run("set server imap/s1 state foo", s),
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n");
  EXPECT_EQ(h.interp.run("set weight imap/s1 300", s),
            "Absolute weight can only be between 0 and 256 inclusive.\n");
  EXPECT_EQ(h.interp.run("set server imap/s1 weight abc", s),
            "Empty weight string empty or preceded by garbage");
  EXPECT_EQ(h.interp.run("enable server imap/zz", s), "No such server.\n");
  EXPECT_EQ(h.interp.run("show servers state nope", s), "Can't find backend.\n");
  EXPECT_EQ(h.interp.run("foo", s).rfind(
                "Unknown command, but maybe one of the following ones is a better match:\n", 0),
            0U);
  EXPECT_TRUE(h.op.calls.empty());
}

TEST(RuntimeApiCommands, StatesAndWeights) {
  Harness h;
  Session s;
  EXPECT_EQ(h.interp.run("get weight imap/s2", s), "50 (initial 50)\n");
  EXPECT_EQ(h.interp.run("set server imap/s1 state drain", s), "");
  EXPECT_EQ(h.interp.run("set server imap/s2 state maint", s), "");
  EXPECT_EQ(h.interp.run("set server imap/s3 state ready", s), "");
  EXPECT_EQ(h.interp.run("disable server imap/s3", s), "");
  EXPECT_EQ(h.interp.run("enable server imap/s3", s), "");
  EXPECT_EQ(h.interp.run("enable server imap/s1", s), "");  // draining: stays so
  EXPECT_EQ(h.interp.run("set server imap/s3 weight 20", s), "");
  EXPECT_EQ(h.interp.run("set weight imap/s2 50%", s), "");
  EXPECT_EQ(h.interp.run("get weight imap/s2", s), "25 (initial 50)\n");
  EXPECT_EQ(h.op.calls,
            (std::vector<std::string>{"admin 0 1", "admin 1 2", "admin 2 0", "admin 2 2",
                                      "admin 2 0", "weight 2 20", "weight 1 25"}));
}

TEST(RuntimeApiCommands, LevelsBelowAdminCannotWrite) {
  Harness h;
  Session s;
  s.level = config::ApiLevel::kOperator;
  EXPECT_EQ(h.interp.run("set server imap/s1 state drain", s), "Permission denied\n");
  EXPECT_EQ(h.interp.run("disable server imap/s1", s), "Permission denied\n");
  EXPECT_EQ(h.interp.run("set weight imap/s1 2", s), "Permission denied\n");
  EXPECT_EQ(h.interp.run("reload", s), "Permission denied\n");
  EXPECT_EQ(h.interp.run("get weight imap/s1", s), "1 (initial 1)\n");
  EXPECT_TRUE(h.op.calls.empty());
}

TEST(RuntimeApiCommands, ReloadSaysWhetherItWorked) {
  Harness h;
  Session s;
  EXPECT_EQ(h.interp.run("reload", s), "Success=1\n--\nreloaded: generation 2\n");
  h.op.fail_reload = true;
  EXPECT_EQ(h.interp.run("reload", s),
            "Success=0\n--\n/etc/postern/haproxy.cfg:12: unknown keyword 'sever' in 'listen' "
            "section\nreload refused: the running configuration keeps serving\n");
}

// Byte for byte what HAProxy 2.6 sent for the same input.
TEST(RuntimeApiFraming, NonInteractiveLineAsHaproxy) {
  Harness h;
  Session s;
  EXPECT_EQ(h.line("set server imap/s1 state ready; get weight imap/s1", s), "\n1 (initial 1)\n\n");
  EXPECT_TRUE(s.quit);  // one line, then the connection closes
}

TEST(RuntimeApiFraming, PromptModeAsHaproxy) {
  Harness h;
  Session s;
  std::string out = h.line("prompt", s);
  out += h.line("get weight imap/s1", s);  // the server strips CR before this
  out += h.line("foo", s);
  EXPECT_FALSE(s.quit);
  out += h.line("quit", s);
  EXPECT_TRUE(s.quit);
  const std::string unknown = h.interp.run("foo", s);
  EXPECT_EQ(out, "\n> 1 (initial 1)\n\n> " + unknown + "\n> ");
}

// --- the socket itself
// ----------------------------------------------------------------------------

// A SocketServer on a temporary path, with a "main thread" running what clients queue.
struct SocketLab {
  explicit SocketLab(config::Config cfg) {
    path = "/tmp/postern-api-test-" + std::to_string(getpid()) + ".sock";
    if (cfg.global.stats_sockets.empty()) {
      config::StatsSocket sock;
      sock.level = config::ApiLevel::kAdmin;
      sock.mode = 0600;
      cfg.global.stats_sockets.push_back(sock);
    }
    for (auto& sock : cfg.global.stats_sockets) {
      sock.path = path;
    }
    std::string error;
    started = server.start(cfg, error);
    EXPECT_TRUE(started) << error;
    main = std::thread([this] {
      while (!done) {
        server.run_pending();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  ~SocketLab() {
    done = true;
    main.join();
    server.stop();
  }
  int connect_client() const {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }
  // Sends `input`, reads until the server closes (or `limit_ms` passes).
  std::string talk(const std::string& input, int limit_ms = 5000) const {
    const int fd = connect_client();
    EXPECT_EQ(send(fd, input.data(), input.size(), 0), static_cast<ssize_t>(input.size()));
    std::string out = read_all(fd, limit_ms);
    close(fd);
    return out;
  }
  // Reads until the answer ends with the prompt (or `limit_ms` passes).
  static std::string read_prompt(int fd, int limit_ms) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    while (std::chrono::steady_clock::now() < deadline && !out.ends_with("> ")) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        continue;
      }
      char buf[4096];
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  static std::string read_all(int fd, int limit_ms) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        continue;
      }
      char buf[4096];
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        return out;  // closed by the server
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    out += "<still open>";
    return out;
  }

  FakeOperator op;
  SocketServer server{op};
  std::string path;
  bool started = false;
  std::atomic<bool> done{false};
  std::thread main;
};

config::Config imap_config() {
  config::Config cfg;
  config::Listener l;
  l.name = "imap";
  cfg.listeners.push_back(l);
  return cfg;
}

TEST(RuntimeApiSocket, NonInteractiveLineThenClosed) {
  SocketLab lab(imap_config());
  ASSERT_TRUE(lab.started);
  EXPECT_EQ(lab.talk("set server imap/s1 state drain; get weight imap/s2\r\n"),
            "\n50 (initial 50)\n\n");
  EXPECT_EQ(lab.op.calls, std::vector<std::string>{"admin 0 1"});  // run on the main thread
  struct stat st {};
  ASSERT_EQ(stat(lab.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST(RuntimeApiSocket, PromptModeStaysOpenUntilQuit) {
  SocketLab lab(imap_config());
  ASSERT_TRUE(lab.started);
  EXPECT_EQ(lab.talk("prompt\nget weight imap/s1\r\nquit\n"), "\n> 1 (initial 1)\n\n> ");
}

TEST(RuntimeApiSocket, LevelOperatorCannotWrite) {
  config::Config cfg = imap_config();
  config::StatsSocket sock;
  sock.level = config::ApiLevel::kOperator;
  cfg.global.stats_sockets.push_back(sock);
  SocketLab lab(cfg);
  ASSERT_TRUE(lab.started);
  EXPECT_EQ(lab.talk("disable server imap/s1\n"), "Permission denied\n\n");
  EXPECT_TRUE(lab.op.calls.empty());
}

TEST(RuntimeApiSocket, StatsTimeoutClosesAnIdleClient) {
  config::Config cfg = imap_config();
  cfg.global.stats_timeout = 300;
  SocketLab lab(cfg);
  ASSERT_TRUE(lab.started);
  const int fd = lab.connect_client();
  const std::string prompt = "prompt\n";
  ASSERT_EQ(send(fd, prompt.data(), prompt.size(), 0), static_cast<ssize_t>(prompt.size()));
  EXPECT_EQ(SocketLab::read_all(fd, 3000), "\n> ");  // then closed, well before 3 s
  close(fd);
}

TEST(RuntimeApiSocket, StatsMaxconnHoldsFurtherClientsBack) {
  config::Config cfg = imap_config();
  cfg.global.stats_maxconn = 1;
  SocketLab lab(cfg);
  ASSERT_TRUE(lab.started);
  const int first = lab.connect_client();
  const std::string prompt = "prompt\n";
  ASSERT_EQ(send(first, prompt.data(), prompt.size(), 0), static_cast<ssize_t>(prompt.size()));
  ASSERT_EQ(SocketLab::read_prompt(first, 5000), "\n> ");
  const int second = lab.connect_client();  // in the backlog
  const std::string cmd = "get weight imap/s1\n";
  ASSERT_EQ(send(second, cmd.data(), cmd.size(), 0), static_cast<ssize_t>(cmd.size()));
  EXPECT_EQ(SocketLab::read_all(second, 300), "<still open>");  // not served yet
  close(first);
  EXPECT_EQ(SocketLab::read_all(second, 3000), "1 (initial 1)\n\n");
  close(second);
}

TEST(RuntimeApiSocket, YamlAdminSocketIsLevelAdminMode0600) {
  FakeOperator op;
  SocketServer server(op);
  config::Config cfg = imap_config();
  config::Admin admin;
  admin.socket = "/tmp/postern-api-yaml-" + std::to_string(getpid()) + ".sock";
  cfg.admin = admin;
  std::string error;
  ASSERT_TRUE(server.start(cfg, error)) << error;
  struct stat st {};
  ASSERT_EQ(stat(admin.socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  std::atomic<bool> done{false};
  std::thread main([&] {
    while (!done) {
      server.run_pending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, admin.socket.c_str(), admin.socket.size());
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const std::string cmd = "disable server imap/s3\n";
  ASSERT_EQ(send(fd, cmd.data(), cmd.size(), 0), static_cast<ssize_t>(cmd.size()));
  EXPECT_EQ(SocketLab::read_all(fd, 5000), "\n");
  close(fd);
  done = true;
  main.join();
  server.stop();
  EXPECT_EQ(op.calls, std::vector<std::string>{"admin 2 2"});
  EXPECT_NE(stat(admin.socket.c_str(), &st), 0);  // removed at stop
}

TEST(RuntimeApiStateFile, ReadsWhatShowServersStateWrote) {
  const auto l = parse_server_state(fixture("show_servers_state.txt"));
  ASSERT_EQ(l.size(), 3U);
  EXPECT_EQ(l[1].backend, "imap");
  EXPECT_EQ(l[1].server, "s2");
  EXPECT_EQ(l[1].uweight, 50U);
  EXPECT_EQ(l[1].iweight, 50U);
  const auto drained = parse_server_state(
      "1\n# be_id ...\n2 imap 1 s1 127.0.0.1 2 8 1 1 1 6 3 4 6 0 0 0 - 19001 "
      "- 0 0 - - 0\nshort line\n");
  ASSERT_EQ(drained.size(), 1U);
  EXPECT_EQ(drained[0].admin_bits, 8U);
}

TEST(RuntimeApiStateFile, PathsAsHaproxyBuildsThem) {
  config::Config cfg;
  cfg.global.server_state_base = "/var/lib/postern";
  cfg.global.server_state_file = "state";
  config::Listener a;
  a.name = "imap";
  a.load_server_state = config::ServerStateLoad::kGlobal;
  config::Listener b;
  b.name = "smtp_fe";
  b.backend = "smtp";
  b.load_server_state = config::ServerStateLoad::kLocal;
  config::Listener c;
  c.name = "pop";
  EXPECT_EQ(server_state_path(cfg, a), "/var/lib/postern/state");
  EXPECT_EQ(server_state_path(cfg, b), "/var/lib/postern/smtp");
  b.server_state_file_name = "/tmp/x";
  EXPECT_EQ(server_state_path(cfg, b), "/tmp/x");
  EXPECT_EQ(server_state_path(cfg, c), "");
}

}  // namespace
}  // namespace postern::control::api
