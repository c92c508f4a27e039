// The state document for the cluster layer (the Dovecot proxy tier, orchestrators, other
// Postern nodes) and for the e2e tests: every listener and server with its address, state,
// check, weight and connections, which configuration runs where, and the workers' counters.
// Served at /v1/state, written to admin.state_file, published to etcd.
#include "postern/control/admin_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "postern/control/admin_pages.hpp"

namespace postern::control::admin {
namespace {

using Json = nlohmann::ordered_json;

// The engine's clock as Unix seconds; a server that never changed state changed when Postern
// started, as HAProxy's lastchg counts from its start.
std::int64_t last_change_unix_s(const AdminView& view, const ServerView& s) {
  if (s.health.last_change_ms == 0) {
    return static_cast<std::int64_t>(view.start_unix_s);
  }
  return (static_cast<std::int64_t>(s.health.last_change_ms) + view.unix_offset_ms) / 1000;
}

// A server as listeners[].servers[] shows it. Without a sample: only what changes with its
// state (ServerState, the fingerprint).
Json server_json(const AdminView& view, const ServerView& s, const Sample* sample) {
  Json j;
  j["name"] = s.server;
  j["address"] = s.address + ":" + std::to_string(s.port);
  j["state"] = state_word(s);
  j["status"] = status_text(s);
  j["weight"] = s.uweight;
  j["config_weight"] = s.weight;
  j["backup"] = s.backup;
  j["last_change"] = last_change_unix_s(view, s);
  if (sample != nullptr) {
    j["active"] = slot_count(sample->server_active, s.slot);
    j["total"] = slot_count(sample->server_total, s.slot);
    // Left out of a sample that does not count bytes (a sample built without them).
    if (s.slot < sample->server_bytes_in.size() && s.slot < sample->server_bytes_out.size()) {
      j["bytes_in"] = sample->server_bytes_in[s.slot];
      j["bytes_out"] = sample->server_bytes_out[s.slot];
    }
  }
  if (s.health.checked) {
    Json c;
    c["status"] = health::status_name(s.health.status);
    // HAProxy shows a code only for statuses that carry one (L7OK, L7STS).
    c["code"] = health::status_has_code(s.health.status) ? Json(s.health.code) : Json(nullptr);
    if (sample != nullptr) {
      c["duration_ms"] = s.health.duration_ms >= 0 ? Json(s.health.duration_ms) : Json(nullptr);
    }
    c["description"] = s.health.description;
    j["check"] = std::move(c);
  }
  return j;
}

// The document; without a sample, its fingerprint (no counts, no counters).
Json document(const AdminView& view, const Sample* sample) {
  Json doc;
  doc["node"] = view.node;
  doc["generation"] = view.generation;
  doc["config_hash"] = view.config_hash;
  doc["start_time"] = view.start_unix_s;
  doc["workers"] = view.workers;
  doc["reloads"] = {{"ok", view.reloads_ok}, {"failed", view.reloads_failed}};
  Json listeners = Json::array();
  for (const ListenerView& l : view.listeners) {
    if (l.retired) {
      continue;
    }
    Json lj;
    lj["name"] = l.name;
    lj["binds"] = l.binds;
    lj["maxconn"] = l.maxconn != 0 ? Json(l.maxconn) : Json(nullptr);
    Json servers = Json::array();
    std::uint32_t up = 0;
    std::uint64_t total = 0;
    for (const std::uint16_t slot : l.servers) {
      if (slot >= view.servers.size()) {
        continue;
      }
      const ServerView& s = view.servers[slot];
      up += std::strcmp(state_word(s), "UP") == 0 ? 1 : 0;
      if (sample != nullptr) {
        total += slot_count(sample->server_total, slot);
      }
      servers.push_back(server_json(view, s, sample));
    }
    // HAProxy's backend row: UP while a server can take new connections.
    lj["state"] = up > 0 ? "UP" : "DOWN";
    lj["servers_up"] = up;
    if (sample != nullptr) {
      lj["active"] = slot_count(sample->listener_active, l.slot);
      lj["total"] = total;
    }
    lj["servers"] = std::move(servers);
    listeners.push_back(std::move(lj));
  }
  doc["listeners"] = std::move(listeners);
  if (sample == nullptr) {
    return doc;
  }

  // The flat list the e2e tests read (balancer.sh bal_counter servers.LISTENER/SERVER.FIELD):
  // every slot, those a reload retired included.
  Json flat = Json::array();
  for (const ServerView& s : view.servers) {
    Json j;
    j["name"] = s.name;
    j["active"] = slot_count(sample->server_active, s.slot);
    j["total"] = slot_count(sample->server_total, s.slot);
    if (s.retired) {
      j["retired"] = true;
    } else {
      j["state"] = state_word(s);
      j["status"] = status_text(s);
      if (s.health.checked) {
        j["check_status"] = health::status_name(s.health.status);
        j["check_duration_ms"] = s.health.duration_ms;
        j["check_failures"] = s.health.check_failures;
        j["down_transitions"] = s.health.down_transitions;
      }
    }
    flat.push_back(std::move(j));
  }
  doc["servers"] = std::move(flat);

  Json counters;
#define POSTERN_X(name) counters[#name] = sample->total.name;
  POSTERN_WORKER_COUNTERS(POSTERN_X)
#undef POSTERN_X
  doc["counters"] = std::move(counters);
  Json drops;
  for (std::size_t i = 0; i < sample->total.drops.size(); ++i) {
    drops[dataplane::kDropReasonNames[i]] = sample->total.drops[i];
  }
  doc["drops"] = std::move(drops);

  Json per_worker = Json::array();
  for (const dataplane::WorkerCounters& w : sample->per_worker) {
    std::uint64_t dropped = 0;
    for (const std::uint64_t d : w.drops) {
      dropped += d;
    }
    per_worker.push_back({{"rx_packets", w.rx_packets},
                          {"tx_packets", w.tx_packets},
                          {"rx_bytes", w.rx_bytes},
                          {"tx_bytes", w.tx_bytes},
                          {"drops", dropped},
                          {"active_flows", w.active_flows}});
    per_worker.back()["busy_ratio"] = static_cast<double>(w.busy_ppm) / 1e6;
  }
  doc["per_worker"] = std::move(per_worker);
  return doc;
}

}  // namespace

const char* state_word(const ServerView& s) {
  if (s.admin == AdminState::kMaint || s.health.disabled) {
    return "MAINT";
  }
  if (s.admin == AdminState::kDrain) {
    return "DRAIN";
  }
  return s.health.up ? "UP" : "DOWN";
}

std::string status_text(const ServerView& s) {
  if (s.admin == AdminState::kMaint) {
    return "MAINT";
  }
  if (s.admin == AdminState::kDrain) {
    return "DRAIN";
  }
  return health::status_text(s.health);
}

std::string state_document(const AdminView& view, const Sample& sample) {
  return document(view, &sample).dump(2) + "\n";
}

// Every field of the document that only a change of state moves (what document(view, nullptr)
// holds), appended without building JSON: the writer and the publisher compute it for every
// view, four times a second, and at 4096 servers the JSON took 26 ms where this takes a few.
std::string state_fingerprint(const AdminView& view) {
  std::string f;
  f.reserve(64 + view.servers.size() * 96);
  const auto text = [&f](std::string_view s) {
    f += std::to_string(s.size());
    f += ':';
    f += s;
  };
  const auto number = [&f](std::int64_t n) {
    f += std::to_string(n);
    f += ';';
  };
  text(view.node);
  number(view.generation);
  text(view.config_hash);
  number(static_cast<std::int64_t>(view.start_unix_s));
  number(view.workers);
  number(static_cast<std::int64_t>(view.reloads_ok));
  number(static_cast<std::int64_t>(view.reloads_failed));
  for (const ListenerView& l : view.listeners) {
    if (l.retired) {
      continue;
    }
    f += 'L';
    text(l.name);
    for (const std::string& b : l.binds) {
      text(b);
    }
    number(l.maxconn);
    for (const std::uint16_t slot : l.servers) {
      if (slot >= view.servers.size()) {
        continue;
      }
      const ServerView& s = view.servers[slot];
      f += 'S';
      text(s.server);
      text(s.address);
      number(s.port);
      text(state_word(s));
      text(status_text(s));
      number(s.uweight);
      number(s.weight);
      number(s.backup ? 1 : 0);
      number(last_change_unix_s(view, s));
      if (s.health.checked) {
        f += 'C';
        text(health::status_name(s.health.status));
        number(health::status_has_code(s.health.status) ? s.health.code : -1);
        text(s.health.description);
      }
    }
  }
  return f;
}

std::vector<ServerState> server_states(const AdminView& view) {
  std::vector<ServerState> out;
  for (const ServerView& s : view.servers) {
    if (!s.retired) {
      out.push_back({s.listener, s.server, server_json(view, s, nullptr).dump()});
    }
  }
  return out;
}

Page state_page(const AdminView& view, const Sample& sample) {
  return {"application/json", state_document(view, sample), 200};
}

bool write_file_atomically(const std::string& path, std::string_view data, std::string& error) {
  const std::string tmp = path + ".tmp";
  const auto fail = [&](const std::string& what, int fd) {
    error = what + " " + tmp + ": " + std::strerror(errno);
    if (fd >= 0) {
      close(fd);
    }
    unlink(tmp.c_str());
    return false;
  };
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail("cannot write", fd);
    }
    done += static_cast<std::size_t>(n);
  }
  // The data reaches the disk before the name does: after a crash the file is either the old
  // one or the whole new one (ext4's auto_da_alloc would not cover every file system).
  if (fsync(fd) != 0) {
    return fail("cannot fsync", fd);
  }
  if (close(fd) != 0) {
    return fail("cannot close", -1);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  // The rename is a change of the directory: fsync it too, or a crash may bring the old name back.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return true;
}

StateFileWriter::StateFileWriter(const Operator& op, Log log) : op_(op), log_(std::move(log)) {}

StateFileWriter::~StateFileWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void StateFileWriter::set_path(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    path_ = path;
    poked_ = true;
    if (!thread_.joinable() && !path.empty() && !stopping_) {
      thread_ = std::thread([this] { run(); });
    }
  }
  cv_.notify_one();
}

void StateFileWriter::view_changed() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_one();
}

void StateFileWriter::stop_and_write() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
  if (!path_.empty()) {
    write(path_, true);
  }
}

void StateFileWriter::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return poked_ || stopping_; });
    if (stopping_) {
      break;
    }
    poked_ = false;
    const std::string path = path_;
    lock.unlock();
    if (!path.empty()) {
      write(path, false);
    }
    lock.lock();
  }
}

void StateFileWriter::write(const std::string& path, bool force) {
  const std::shared_ptr<const AdminView> view = op_.view();
  if (!view) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!force && !last_error_.empty() && now - written_at_ < std::chrono::seconds(1)) {
    return;  // the last attempt failed: once a second is enough to try again
  }
  std::string fingerprint = state_fingerprint(*view);
  const bool changed = force || path != written_path_ || fingerprint != written_fingerprint_;
  if (!changed && now - written_at_ < std::chrono::seconds(1)) {
    return;  // only counters may have moved: they wait for the next second
  }
  std::string text = state_document(*view, op_.sample());
  written_at_ = now;
  if (!changed && text == written_text_) {
    return;
  }
  std::string error;
  if (!write_file_atomically(path, text, error)) {
    if (error != last_error_ && log_) {
      log_("state file: " + error);
    }
    last_error_ = error;
    return;
  }
  last_error_.clear();
  written_path_ = path;
  written_text_ = std::move(text);
  written_fingerprint_ = std::move(fingerprint);
}

}  // namespace postern::control::admin
