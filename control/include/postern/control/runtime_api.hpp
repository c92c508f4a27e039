// The runtime API: HAProxy's CLI on a UNIX stream socket (`stats socket` in haproxy.cfg's
// `global`, `admin.socket` in YAML), for what operators script: show info / stat / servers
// state, set server ... state|weight, get weight, enable/disable server, plus Postern's own
// `show health` and `reload`. The formats and the command interpreter are plain functions over
// the admin view, so unit tests run them without a daemon; the socket side serves clients on
// a thread of its own and hands every command that changes something to the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "postern/config/model.hpp"
#include "postern/control/admin_view.hpp"

namespace postern::control::api {

// What the formats need of the configuration besides the view; the daemon sets it at start and
// at every reload.
struct Names {
  // listener name -> the name its servers go by (a folded frontend's `default_backend`; a
  // `listen` section's own name).
  std::map<std::string, std::string> backend_of;
  std::map<std::string, std::string> algo_of;  // listener name -> "roundrobin" | "static-rr"
  std::uint32_t global_maxconn = 0;            // 0: not set
};
Names names_of(const config::Config& cfg);

// One client's state.
struct Session {
  config::ApiLevel level = config::ApiLevel::kAdmin;
  bool prompt = false;                      // interactive mode (`prompt`)
  bool quit = false;                        // `quit`, or the end of a non-interactive line
  std::optional<std::uint64_t> timeout_ms;  // `set timeout cli N` (seconds on the wire)
};

// "cmd1; cmd2" -> {"cmd1", "cmd2"}; a backslash keeps the next character (`\;`).
std::vector<std::string> split_commands(std::string_view line);
// A command's words, split on blanks (a backslash keeps the next character).
std::vector<std::string> split_words(std::string_view command);

// What one rendering reads.
struct Context {
  const admin::AdminView& view;
  const admin::Sample& sample;
  const Names& names;
  std::uint64_t now_unix_s = 0;
  std::uint32_t pid = 0;
};

// `show stat`: HAProxy 2.6's CSV, header and column positions included.
std::string show_stat(const Context& c);
// `show info`: "Name: value" lines, HAProxy's names for what applies to Postern.
std::string show_info(const Context& c);
// `show servers state [backend]`: format 1. An unknown backend: false, `out` is the error.
bool show_servers_state(const Context& c, const std::string& backend, std::string& out);
// `show health`: Postern's own per-server check detail.
std::string show_health(const Context& c);
std::string help_text();

// A `show servers state` line as the server-state file holds it.
struct StateLine {
  std::string backend;
  std::string server;
  std::uint32_t admin_bits = 0;  // srv_admin_state
  std::uint32_t uweight = 0;
  std::uint32_t iweight = 0;
};
// Reads a server-state file (format 1); lines it cannot read are skipped, as HAProxy does.
std::vector<StateLine> parse_server_state(std::string_view text);
// Where listener `l`'s state file is (load-server-state-from-file); empty: none.
std::string server_state_path(const config::Config& cfg, const config::Listener& l);
// At start: the admin states and weights the state files hold, applied through `op` on the
// main thread. Returns what it did, one line per server (for the log).
std::vector<std::string> load_server_state(const config::Config& cfg, admin::Operator& op);

// Runs commands for a session. Reads the view on the calling thread; every command that
// changes something goes through `on_main`, which runs it on the main thread and waits.
class Interpreter {
 public:
  // Runs a function on the main thread and waits; false: the daemon is stopping.
  using OnMain = std::function<bool(const std::function<void()>&)>;
  Interpreter(admin::Operator& op, OnMain on_main, std::function<Names()> names);
  // One command's answer: every line ended by LF, without the empty line ending an answer.
  std::string run(const std::string& command, Session& s);
  // A whole input line: its commands' answers, each followed by the empty line, and in
  // prompt mode the `> ` prompt after.
  std::string run_line(const std::string& line, Session& s);

 private:
  std::string set_server(const std::vector<std::string>& w, Session& s);
  std::string set_weight(const std::string& target, const std::string& value);
  std::string set_state(const std::string& target, admin::AdminState state);
  const admin::ServerView* find(const admin::AdminView& v, const std::string& target,
                                std::string& error) const;
  Context context(const admin::AdminView& v, const admin::Sample& s, const Names& n) const;

  admin::Operator& op_;
  OnMain on_main_;
  std::function<Names()> names_;
};

// The sockets, served by one thread of their own (never a worker's).
class SocketServer {
 public:
  explicit SocketServer(admin::Operator& op);
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  // Binds every socket (mode, owner, level), then serves; false and `error` if one fails.
  bool start(const config::Config& cfg, std::string& error);
  void stop();
  // Main thread: the configuration's names for the formats (at start and after reloads).
  void set_names(Names n);
  // Main thread, every loop: runs the commands clients queued.
  void run_pending();

 private:
  struct Listen {
    int fd = -1;
    std::string path;
    config::ApiLevel level = config::ApiLevel::kOperator;
  };
  void serve();
  bool on_main(const std::function<void()>& f);

  admin::Operator& op_;
  Interpreter interp_;
  std::vector<Listen> listens_;
  std::uint64_t timeout_ms_ = 10000;
  std::uint32_t maxconn_ = 10;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  Names names_;
  std::deque<std::packaged_task<void()>> pending_;
};

}  // namespace postern::control::api
