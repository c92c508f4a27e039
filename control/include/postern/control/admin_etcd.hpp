// Publishes the state to etcd v3 for the cluster layer (admin.etcd), through etcd's JSON gateway
// (/v3/lease/grant, /v3/lease/keepalive, /v3/kv/put, /v3/kv/deleterange, /v3/lease/revoke):
//
//   PREFIX/NODE/state                    the whole state document (admin_state.hpp)
//   PREFIX/NODE/servers/LISTENER/SERVER  one server's state, rewritten only when it changes
//
// every key attached to one lease that Postern keeps alive, so the keys vanish a TTL after
// Postern dies. It runs on a thread of its own fed the latest view: an etcd outage delays
// nothing but itself; it retries with backoff and publishes everything again once etcd answers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "postern/control/admin_view.hpp"

namespace postern::control::admin {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://HOST:PORT", tried in turn
  std::string prefix = "/postern";
  std::string node;
  std::chrono::milliseconds ttl{10000};
  std::chrono::milliseconds refresh{10000};  // the state key's refresh for counters; 0: never
  friend bool operator==(const EtcdOptions&, const EtcdOptions&) = default;
};

// How the session reaches etcd: one POST, answered with a status and a body, or nothing when
// the endpoint could not be reached or did not answer in time. Tests give a fake etcd.
class EtcdTransport {
 public:
  struct Reply {
    int status = 0;
    std::string body;
  };
  virtual ~EtcdTransport() = default;
  virtual std::optional<Reply> post(const std::string& endpoint, const std::string& path,
                                    const std::string& body) = 0;
};

// cpp-httplib clients, one per endpoint, kept alive; connect within 1 s, answers within 2 s.
std::unique_ptr<EtcdTransport> http_etcd_transport();

// etcd's JSON gateway carries keys and values in base64 (RFC 4648 section 4, with padding).
std::string base64(std::string_view bytes);

// The publishing logic without a thread or a clock of its own: step() does what is due at
// `now` and says when it wants to run again.
class EtcdSession {
 public:
  using Clock = std::chrono::steady_clock;
  using Log = std::function<void(const std::string&)>;
  EtcdSession(EtcdTransport& transport, EtcdOptions options, Log log);

  // Grants a lease if there is none, keeps it alive every ttl/3, puts every key whose value
  // differs from what etcd was last given, deletes keys of servers that are gone. `sample` is
  // called only when the state key is to be written. After a failure it waits (0.5 s doubling
  // to 5 s, trying the next endpoint), and once etcd answers again it writes every key anew.
  Clock::time_point step(Clock::time_point now, const AdminView& view,
                         const std::function<Sample()>& sample);

  // Revokes the lease, so the keys vanish at once (a clean stop).
  void close();

  std::string key(const std::string& suffix) const;
  const std::string& lease() const { return lease_; }
  bool healthy() const { return failures_ == 0 && !lease_.empty(); }

 private:
  enum class Outcome : std::uint8_t { kOk, kUnreachable, kLeaseLost, kRefused };
  Outcome call(const std::string& path, const std::string& body, std::string& reply);
  Outcome grant();
  Outcome keepalive();
  Outcome put(const std::string& key, const std::string& value);
  Outcome remove(const std::string& key);
  Clock::time_point failed(Clock::time_point now, Outcome what, const std::string& doing);
  Clock::time_point next_due() const;

  EtcdTransport& transport_;
  EtcdOptions options_;
  Log log_;
  std::size_t endpoint_ = 0;
  std::string lease_;  // the lease's ID as etcd writes it (a decimal int64); empty: none
  Clock::time_point next_keepalive_{};
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::uint32_t failures_ = 0;
  std::string last_problem_;
  std::map<std::string, std::string> published_;  // what etcd holds under our lease
  std::string doc_fingerprint_;                   // of the document etcd holds
  std::string synced_fingerprint_;  // every key written as of this one; empty: not known
  Clock::time_point doc_at_{};
};

// The session on a thread of its own, woken when the main thread publishes a view.
class EtcdPublisher {
 public:
  EtcdPublisher(const Operator& op, EtcdOptions options, EtcdSession::Log log,
                std::unique_ptr<EtcdTransport> transport = http_etcd_transport());
  ~EtcdPublisher();
  EtcdPublisher(const EtcdPublisher&) = delete;
  EtcdPublisher& operator=(const EtcdPublisher&) = delete;

  const EtcdOptions& options() const { return options_; }
  void view_changed();
  // Stops the thread and revokes the lease; the keys vanish.
  void stop();

 private:
  void run();

  const Operator& op_;
  EtcdOptions options_;
  std::unique_ptr<EtcdTransport> transport_;
  EtcdSession session_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = true;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace postern::control::admin
