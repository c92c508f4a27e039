// libFuzzer target for the runtime API's input side (control/src/runtime_api.cpp): the line
// framing (`cmd1; cmd2`, backslash escapes), the word splitter, the command interpreter over a
// small admin view, and the server-state file reader. Input is a client's byte stream: each
// LF-ended line goes to Interpreter::run_line with one session, as the socket server does.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "postern/control/runtime_api.hpp"

namespace postern::control {
namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// One listener "imap" with two servers, the second a backup.
admin::AdminView small_view() {
  admin::AdminView v;
  v.built_ms = 1000;
  v.start_unix_s = 1000;
  v.workers = 1;
  v.node = "fuzz";
  admin::ListenerView l;
  l.slot = 0;
  l.name = "imap";
  l.binds = {"127.0.0.1:143"};
  l.servers = {0, 1};
  v.listeners.push_back(l);
  for (std::uint16_t i = 0; i < 2; ++i) {
    admin::ServerView s;
    s.slot = i;
    s.server = "s" + std::to_string(i + 1);
    s.listener = "imap";
    s.name = "imap/" + s.server;
    s.address = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(1143 + i);
    s.weight = s.uweight = 1;
    s.backup = i == 1;
    s.health.name = s.name;
    s.health.checked = true;
    s.health.up = true;
    s.health.rise = 2;
    s.health.fall = 3;
    s.health.health = 4;
    v.servers.push_back(s);
  }
  return v;
}

// Applies what the interpreter asks to its own copy of the view, as the daemon would.
class FuzzOperator final : public admin::Operator {
 public:
  std::shared_ptr<const admin::AdminView> view() const override { return view_; }
  admin::Sample sample() const override {
    admin::Sample s;
    s.server_active.assign(2, 0);
    s.server_total.assign(2, 0);
    s.listener_active.assign(1, 0);
    return s;
  }
  bool set_admin(std::uint16_t slot, admin::AdminState state, std::string&) override {
    check(slot < view_->servers.size());
    auto next = std::make_shared<admin::AdminView>(*view_);
    next->servers[slot].admin = state;
    view_ = next;
    return true;
  }
  bool set_weight(std::uint16_t slot, std::uint32_t weight, std::string&) override {
    check(slot < view_->servers.size() && weight <= 256);
    auto next = std::make_shared<admin::AdminView>(*view_);
    next->servers[slot].uweight = weight;
    view_ = next;
    return true;
  }
  bool reload(std::string& result) override {
    result = "reloaded: generation 2";
    return true;
  }

 private:
  std::shared_ptr<const admin::AdminView> view_ = std::make_shared<admin::AdminView>(small_view());
};

api::Names small_names() {
  api::Names n;
  n.backend_of["imap"] = "imap";
  n.algo_of["imap"] = "roundrobin";
  n.global_maxconn = 1000;
  return n;
}

}  // namespace
}  // namespace postern::control

using namespace postern::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (const std::string& command : api::split_commands(input)) {
    for (const std::string& word : api::split_words(command)) {
      check(!word.empty());
    }
  }
  (void)api::parse_server_state(input);

  FuzzOperator op;
  api::Interpreter interp(
      op,
      [](const std::function<void()>& f) {
        f();
        return true;
      },
      [] { return small_names(); });
  api::Session session;
  size_t start = 0;
  while (start < input.size() && !session.quit) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) {
      end = input.size();
    }
    (void)interp.run_line(std::string(input.substr(start, end - start)), session);
    start = end + 1;
  }
  return 0;
}
