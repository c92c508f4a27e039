// The state document and where it goes: /v1/state, admin.state_file and etcd's PREFIX/NODE/state
// are one JSON text, so every reader sees one schema (docs/configuration.md 5.11). The file is
// replaced atomically by a thread of its own, at once when a state changes and at most once a
// second for counters.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "postern/control/admin_view.hpp"

namespace postern::control::admin {

// The whole document: the node and its configuration, every listener with its servers (state,
// check, weight, connections), today's flat `servers` list, the summed counters and drops, and
// each worker's load.
std::string state_document(const AdminView& view, const Sample& sample);

// What the document says about states, without what moves on its own (counters, connections,
// check durations): a server's state, check status and code, weight, address and last change;
// the listeners; the configuration's generation and hash; reloads. Two views with the same
// fingerprint differ only in measurements.
std::string state_fingerprint(const AdminView& view);

// One server's state alone (its listeners[].servers[] entry without connections and check
// duration), for etcd's per-server keys: it changes only when the server's state does.
struct ServerState {
  std::string listener;
  std::string server;
  std::string json;
};
std::vector<ServerState> server_states(const AdminView& view);

// "UP", "DOWN", "DRAIN", "MAINT": the operator's MAINT and DRAIN win over the checks' verdict.
const char* state_word(const ServerView& s);
// HAProxy's status column: the state with the checks' progress ("UP 1/3" going down, "DOWN 1/2"
// coming up), "no check", or the operator's "DRAIN"/"MAINT".
std::string status_text(const ServerView& s);

// Replaces `path` with `data` so that a reader sees the old content or the new, never a part of
// either: a temporary file beside it, written and fsync'd, renamed over `path`, then the
// directory fsync'd so that the rename itself is on disk. False (and `error`) on failure, with
// the temporary file removed.
bool write_file_atomically(const std::string& path, std::string_view data, std::string& error);

// Keeps admin.state_file current from a thread of its own, so neither rendering nor fsync ever
// delays the main thread's loop. "On every change" means: a change of state (the fingerprint)
// is written as soon as the main thread announces a new view; counters and connections are
// written at most once a second, and only when the text differs from the file's.
class StateFileWriter {
 public:
  using Log = std::function<void(const std::string&)>;
  StateFileWriter(const Operator& op, Log log);
  ~StateFileWriter();
  StateFileWriter(const StateFileWriter&) = delete;
  StateFileWriter& operator=(const StateFileWriter&) = delete;

  // Where to write (empty: nowhere); at start and at every reload. Starts the thread once.
  void set_path(const std::string& path);
  // The main thread published a view: the writer looks at it now.
  void view_changed();
  // Stops the thread, then writes the current document one last time.
  void stop_and_write();

 private:
  void run();
  void write(const std::string& path, bool force);

  const Operator& op_;
  Log log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string path_;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
  // Touched by the writing thread only (and by stop_and_write once it has joined).
  std::string written_path_;
  std::string written_text_;
  std::string written_fingerprint_;
  std::string last_error_;
  std::chrono::steady_clock::time_point written_at_{};
};

}  // namespace postern::control::admin
