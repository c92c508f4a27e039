// The runtime API's command interpreter and its UNIX sockets: HAProxy's CLI framing
// (`cmd1; cmd2` on one line, `prompt` for interactive mode, every answer ended by an empty
// line) served by one thread of its own; commands that change something run on the main
// thread, between two turns of its loop.
#include "postern/control/runtime_api.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <sstream>

namespace postern::control::api {
namespace {

constexpr const char* kPermissionDenied = "Permission denied\n";
constexpr const char* kSetServerUsage = "usage: set server <backend>/<server> state | weight\n";

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

bool parse_uint(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 12) {
    return false;
  }
  out = 0;
  for (const char ch : s) {
    if (ch < '0' || ch > '9') {
      return false;
    }
    out = out * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return true;
}

// The help rows whose command starts with the same word, or all of them: HAProxy's answer to
// an unknown command suggests the nearest ones.
std::string suggestions(const std::string& first_word) {
  const std::string help = help_text();
  std::istringstream in(help);
  std::string line;
  std::getline(in, line);  // the title
  std::string near;
  std::string all;
  while (std::getline(in, line)) {
    all += line + "\n";
    if (line.compare(0, 2 + first_word.size() + 1, "  " + first_word + " ") == 0) {
      near += line + "\n";
    }
  }
  return near.empty() ? all : near;
}

}  // namespace

std::vector<std::string> split_commands(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (ch == '\\' && i + 1 < line.size()) {
      cur += ch;
      cur += line[++i];
    } else if (ch == ';') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  for (auto& c : out) {
    const auto b = c.find_first_not_of(" \t\r");
    const auto e = c.find_last_not_of(" \t\r");
    c = b == std::string::npos ? std::string() : c.substr(b, e - b + 1);
  }
  return out;
}

std::vector<std::string> split_words(std::string_view command) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char ch = command[i];
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
      if (in_word) {
        out.push_back(cur);
        cur.clear();
        in_word = false;
      }
      continue;
    }
    in_word = true;
    if (ch == '\\' && i + 1 < command.size()) {
      cur += command[++i];
    } else {
      cur += ch;
    }
  }
  if (in_word) {
    out.push_back(cur);
  }
  return out;
}

Interpreter::Interpreter(admin::Operator& op, OnMain on_main, std::function<Names()> names)
    : op_(op), on_main_(std::move(on_main)), names_(std::move(names)) {}

Context Interpreter::context(const admin::AdminView& v, const admin::Sample& s,
                             const Names& n) const {
  return Context{v, s, n, static_cast<std::uint64_t>(std::time(nullptr)),
                 static_cast<std::uint32_t>(getpid())};
}

const admin::ServerView* Interpreter::find(const admin::AdminView& v, const std::string& target,
                                           std::string& error) const {
  const auto slash = target.find('/');
  if (slash == std::string::npos) {
    error = "Require 'backend/server'.\n";
    return nullptr;
  }
  const std::string backend = target.substr(0, slash);
  const std::string server = target.substr(slash + 1);
  const Names names = names_();
  const admin::ListenerView* listener = nullptr;
  for (const auto& l : v.listeners) {
    if (l.retired) {
      continue;
    }
    const auto it = names.backend_of.find(l.name);
    const std::string be = it == names.backend_of.end() ? l.name : it->second;
    if (be == backend || l.name == backend) {
      listener = &l;
      break;
    }
  }
  if (listener == nullptr) {
    error = "No such backend.\n";
    return nullptr;
  }
  const admin::ServerView* s = v.find_server(listener->name, server);
  if (s == nullptr || s->retired) {
    error = "No such server.\n";
    return nullptr;
  }
  return s;
}

std::string Interpreter::set_state(const std::string& target, admin::AdminState state) {
  const auto v = op_.view();
  std::string error;
  const admin::ServerView* s = v ? find(*v, target, error) : nullptr;
  if (s == nullptr) {
    return error;
  }
  const std::uint16_t slot = s->slot;
  bool ok = false;
  if (!on_main_([&] { ok = op_.set_admin(slot, state, error); })) {
    return "Postern is stopping.\n";
  }
  return ok ? std::string() : error + "\n";
}

// HAProxy's server_parse_weight_change_request(): N (0..256) or N% of the initial weight;
// static-rr only takes 0% and 100%.
std::string Interpreter::set_weight(const std::string& target, const std::string& value) {
  const auto v = op_.view();
  std::string error;
  const admin::ServerView* s = v ? find(*v, target, error) : nullptr;
  if (s == nullptr) {
    return error;
  }
  std::string digits = value;
  const bool relative = !digits.empty() && digits.back() == '%';
  if (relative) {
    digits.pop_back();
  }
  std::uint64_t n = 0;
  if (!parse_uint(digits, n)) {
    return "Empty weight string empty or preceded by garbage";
  }
  std::uint64_t weight = n;
  if (relative) {
    weight = (static_cast<std::uint64_t>(s->weight) * n + 50) / 100;
    if (weight > 256) {
      return "Relative weight too high.\n";
    }
  } else if (n > 256) {
    return "Absolute weight can only be between 0 and 256 inclusive.\n";
  }
  const Names names = names_();
  const auto algo = names.algo_of.find(s->listener);
  if (algo != names.algo_of.end() && algo->second == "static-rr" && weight != 0 &&
      weight != s->weight) {
    return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n";
  }
  const std::uint16_t slot = s->slot;
  bool ok = false;
  if (!on_main_([&] { ok = op_.set_weight(slot, static_cast<std::uint32_t>(weight), error); })) {
    return "Postern is stopping.\n";
  }
  return ok ? std::string() : error + "\n";
}

std::string Interpreter::set_server(const std::vector<std::string>& w, Session& s) {
  // set server B/S state X | weight W
  if (w.size() < 4) {
    return kSetServerUsage;
  }
  if (s.level != config::ApiLevel::kAdmin) {
    return kPermissionDenied;
  }
  if (w[3] == "state") {
    const std::string st = w.size() > 4 ? w[4] : "";
    if (st == "ready") {
      return set_state(w[2], admin::AdminState::kReady);
    }
    if (st == "drain") {
      return set_state(w[2], admin::AdminState::kDrain);
    }
    if (st == "maint") {
      return set_state(w[2], admin::AdminState::kMaint);
    }
    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
  }
  if (w[3] == "weight") {
    return set_weight(w[2], w.size() > 4 ? w[4] : "");
  }
  return kSetServerUsage;
}

std::string Interpreter::run(const std::string& command, Session& s) {
  const std::vector<std::string> w = split_words(command);
  if (w.empty()) {
    return {};
  }
  const auto is = [&w](std::initializer_list<const char*> words) {
    if (w.size() < words.size()) {
      return false;
    }
    std::size_t i = 0;
    for (const char* word : words) {
      if (w[i++] != word) {
        return false;
      }
    }
    return true;
  };
  const bool admin = s.level == config::ApiLevel::kAdmin;

  if (is({"help"})) {
    return help_text();
  }
  if (is({"prompt"})) {
    s.prompt = !s.prompt;
    return {};
  }
  if (is({"quit"})) {
    s.quit = true;
    return {};
  }
  if (is({"show", "info"}) || is({"show", "stat"}) || is({"show", "servers", "state"}) ||
      is({"show", "health"}) || is({"show", "backend"})) {
    const auto v = op_.view();
    if (!v) {
      return "Postern is starting.\n";
    }
    const admin::Sample sample = op_.sample();
    const Names names = names_();
    const Context c = context(*v, sample, names);
    if (w[1] == "info") {
      return show_info(c);
    }
    if (w[1] == "stat") {
      return show_stat(c);
    }
    if (w[1] == "health") {
      return show_health(c);
    }
    if (w[1] == "backend") {
      std::string out = "# name\n";
      for (const auto& l : v->listeners) {
        if (!l.retired) {
          const auto it = names.backend_of.find(l.name);
          out += (it == names.backend_of.end() ? l.name : it->second) + "\n";
        }
      }
      return out;
    }
    std::string out;
    show_servers_state(c, w.size() > 3 ? w[3] : std::string(), out);
    return out;
  }
  if (is({"get", "weight"})) {
    if (w.size() < 3) {
      return "Require 'backend/server'.\n";
    }
    const auto v = op_.view();
    std::string error;
    const admin::ServerView* sv = v ? find(*v, w[2], error) : nullptr;
    if (sv == nullptr) {
      return error;
    }
    return std::to_string(sv->uweight) + " (initial " + std::to_string(sv->weight) + ")\n";
  }
  if (is({"set", "server"})) {
    return set_server(w, s);
  }
  if (is({"set", "weight"})) {
    if (!admin) {
      return kPermissionDenied;
    }
    if (w.size() < 4) {
      return "Require 'backend/server' and 'weight' or 'weight%'.\n";
    }
    return set_weight(w[2], w[3]);
  }
  if (is({"enable", "server"}) || is({"disable", "server"})) {
    if (!admin) {
      return kPermissionDenied;
    }
    if (w.size() < 3) {
      return "Require 'backend/server'.\n";
    }
    if (w[0] == "disable") {
      return set_state(w[2], admin::AdminState::kMaint);
    }
    // `enable server` lifts maintenance only; a draining server keeps draining.
    const auto v = op_.view();
    std::string error;
    const admin::ServerView* sv = v ? find(*v, w[2], error) : nullptr;
    if (sv == nullptr) {
      return error;
    }
    if (sv->admin != admin::AdminState::kMaint) {
      return {};
    }
    return set_state(w[2], admin::AdminState::kReady);
  }
  if (is({"set", "timeout"})) {
    if (w.size() < 3 || w[2] != "cli") {
      return "'set timeout' only supports 'cli'.\n";
    }
    std::uint64_t sec = 0;
    if (w.size() < 4 || !parse_uint(w[3], sec)) {
      return "Expects an integer value.\n";
    }
    s.timeout_ms = sec * 1000;
    return {};
  }
  if (is({"reload"})) {
    if (!admin) {
      return kPermissionDenied;
    }
    std::string result;
    bool ok = false;
    if (!on_main_([&] { ok = op_.reload(result); })) {
      return "Postern is stopping.\n";
    }
    // HAProxy 2.7's master CLI answers `reload` this way: Success=1|0, then the messages.
    std::string out = ok ? "Success=1\n--\n" : "Success=0\n--\n";
    out += result;
    if (!out.empty() && out.back() != '\n') {
      out += '\n';
    }
    return out;
  }
  return "Unknown command, but maybe one of the following ones is a better match:\n" +
         suggestions(w[0]);
}

std::string Interpreter::run_line(const std::string& line, Session& s) {
  std::string out;
  for (const std::string& cmd : split_commands(line)) {
    if (s.quit) {
      break;
    }
    out += run(cmd, s);
    if (!s.quit) {
      out += '\n';
    }
  }
  if (s.prompt && !s.quit) {
    out += "> ";
  } else if (!s.prompt) {
    s.quit = true;  // non-interactive: one line, then the connection closes
  }
  return out;
}

SocketServer::SocketServer(admin::Operator& op)
    : op_(op),
      interp_(
          op, [this](const std::function<void()>& f) { return on_main(f); },
          [this] {
            std::lock_guard<std::mutex> g(mu_);
            return names_;
          }) {}

SocketServer::~SocketServer() {
  stop();
}

void SocketServer::set_names(Names n) {
  std::lock_guard<std::mutex> g(mu_);
  names_ = std::move(n);
}

bool SocketServer::on_main(const std::function<void()>& f) {
  std::packaged_task<void()> task(f);
  auto done = task.get_future();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stop_) {
      return false;
    }
    pending_.push_back(std::move(task));
  }
  while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stop_) {
      // The main loop has ended; it runs what is left in stop() before this returns.
      done.wait();
      break;
    }
  }
  return true;
}

void SocketServer::run_pending() {
  std::deque<std::packaged_task<void()>> tasks;
  {
    std::lock_guard<std::mutex> g(mu_);
    tasks.swap(pending_);
  }
  for (auto& t : tasks) {
    t();
  }
}

bool SocketServer::start(const config::Config& cfg, std::string& error) {
  std::vector<config::StatsSocket> sockets = cfg.global.stats_sockets;
  if (cfg.admin && !cfg.admin->socket.empty()) {
    config::StatsSocket s;
    s.path = cfg.admin->socket;
    s.level = config::ApiLevel::kAdmin;
    s.mode = 0600;
    sockets.push_back(s);
  }
  if (cfg.global.stats_timeout) {
    timeout_ms_ = static_cast<std::uint64_t>(*cfg.global.stats_timeout);
  }
  if (cfg.global.stats_maxconn) {
    maxconn_ = std::max<std::uint32_t>(*cfg.global.stats_maxconn, 1);
  }
  set_names(names_of(cfg));
  for (const auto& s : sockets) {
    sockaddr_un addr{};
    if (s.path.size() >= sizeof addr.sun_path) {
      error = "stats socket " + s.path + ": path too long";
      return false;
    }
    struct stat st {};
    if (lstat(s.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      unlink(s.path.c_str());  // left by a process that is gone, as HAProxy replaces it
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::string("stats socket: ") + std::strerror(errno);
      return false;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, s.path.c_str(), s.path.size());
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(fd, 16) != 0) {
      error = "stats socket " + s.path + ": " + std::strerror(errno);
      close(fd);
      return false;
    }
    if (s.mode && chmod(s.path.c_str(), static_cast<mode_t>(*s.mode)) != 0) {
      error = "stats socket " + s.path + ": mode: " + std::strerror(errno);
      close(fd);
      return false;
    }
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (s.uid) {
      uid = static_cast<uid_t>(*s.uid);
    } else if (!s.user.empty()) {
      const passwd* pw = getpwnam(s.user.c_str());
      if (pw == nullptr) {
        error = "stats socket " + s.path + ": unknown user " + s.user;
        close(fd);
        return false;
      }
      uid = pw->pw_uid;
    }
    if (s.gid) {
      gid = static_cast<gid_t>(*s.gid);
    } else if (!s.group.empty()) {
      const group* gr = getgrnam(s.group.c_str());
      if (gr == nullptr) {
        error = "stats socket " + s.path + ": unknown group " + s.group;
        close(fd);
        return false;
      }
      gid = gr->gr_gid;
    }
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
        chown(s.path.c_str(), uid, gid) != 0) {
      error = "stats socket " + s.path + ": owner: " + std::strerror(errno);
      close(fd);
      return false;
    }
    listens_.push_back(Listen{fd, s.path, s.level});
  }
  if (!listens_.empty()) {
    thread_ = std::thread([this] { serve(); });
  }
  return true;
}

void SocketServer::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;  // no command is queued after this
  }
  // A client waiting for the main thread gets its command run here, on the (now idle) main
  // thread, so the serving thread can finish.
  run_pending();
  if (thread_.joinable()) {
    thread_.join();
  }
  for (auto& l : listens_) {
    close(l.fd);
    unlink(l.path.c_str());
  }
  listens_.clear();
}

namespace {

struct Client {
  int fd = -1;
  Session session;
  std::string in;
  std::uint64_t last_ms = 0;
};

// Writes everything (the socket is non-blocking: waits for room, up to 10 s).
bool write_all(int fd, const std::string& out) {
  std::size_t done = 0;
  const std::uint64_t deadline = steady_ms() + 10000;
  while (done < out.size()) {
    const ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (steady_ms() > deadline) {
        return false;
      }
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

void SocketServer::serve() {
  std::vector<Client> clients;
  while (!stop_) {
    std::vector<pollfd> fds;
    const bool room = clients.size() < maxconn_;
    for (const auto& l : listens_) {
      fds.push_back(pollfd{l.fd, static_cast<short>(room ? POLLIN : 0), 0});
    }
    for (const auto& c : clients) {
      fds.push_back(pollfd{c.fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 100);
    const std::uint64_t now = steady_ms();
    for (std::size_t i = 0; i < listens_.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) {
        continue;
      }
      while (clients.size() < maxconn_) {
        const int fd = accept4(listens_[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          break;
        }
        Client c;
        c.fd = fd;
        c.session.level = listens_[i].level;
        c.last_ms = now;
        clients.push_back(std::move(c));
      }
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const std::size_t at = listens_.size() + i;
      bool closed = false;
      if (at < fds.size() && (fds[at].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          c.last_ms = now;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          closed = true;
          if (!c.in.empty()) {
            c.in += '\n';  // a last line without its LF still runs
          }
        }
      }
      std::size_t eol = 0;
      while (!c.session.quit && (eol = c.in.find('\n')) != std::string::npos) {
        std::string line = c.in.substr(0, eol);
        c.in.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        if (!write_all(c.fd, interp_.run_line(line, c.session))) {
          c.session.quit = true;
        }
      }
      const std::uint64_t timeout = c.session.timeout_ms.value_or(timeout_ms_);
      if (closed || c.session.quit || c.in.size() > 65536 ||
          (timeout != 0 && now > c.last_ms + timeout)) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(clients, [](const Client& c) { return c.fd < 0; });
  }
  for (auto& c : clients) {
    close(c.fd);
  }
}

}  // namespace postern::control::api
