// The etcd publisher: a lease kept alive, one key for the state document and one per server,
// written through etcd v3's JSON gateway (grpc-gateway: int64s as decimal strings, bytes as
// base64) from a thread of its own.
#include "postern/control/admin_etcd.hpp"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "postern/control/admin_state.hpp"

namespace postern::control::admin {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{500};
constexpr milliseconds kMaxBackoff{5000};

class HttpEtcdTransport final : public EtcdTransport {
 public:
  std::optional<Reply> post(const std::string& endpoint, const std::string& path,
                            const std::string& body) override {
    std::unique_ptr<httplib::Client>& client = clients_[endpoint];
    if (!client) {
      client = std::make_unique<httplib::Client>(endpoint);
      client->set_connection_timeout(1, 0);
      client->set_read_timeout(2, 0);
      client->set_write_timeout(2, 0);
      client->set_keep_alive(true);
    }
    const httplib::Result res = client->Post(path.c_str(), body, "application/json");
    if (!res) {
      return std::nullopt;
    }
    return Reply{res->status, res->body};
  }

 private:
  std::map<std::string, std::unique_ptr<httplib::Client>> clients_;
};

// The gateway writes int64 fields as strings ("ID": "7587869..."), and takes either.
std::string int64_field(const Json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) {
    return {};
  }
  const Json& v = j[name];
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_number_integer()) {
    return std::to_string(v.get<std::int64_t>());
  }
  return {};
}

}  // namespace

std::unique_ptr<EtcdTransport> http_etcd_transport() {
  return std::make_unique<HttpEtcdTransport>();
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1]))
                                << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest != 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) {
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

EtcdSession::EtcdSession(EtcdTransport& transport, EtcdOptions options, Log log)
    : transport_(transport), options_(std::move(options)), log_(std::move(log)) {}

std::string EtcdSession::key(const std::string& suffix) const {
  return options_.prefix + "/" + options_.node + "/" + suffix;
}

EtcdSession::Outcome EtcdSession::call(const std::string& path, const std::string& body,
                                       std::string& reply) {
  const std::string& endpoint = options_.endpoints[endpoint_ % options_.endpoints.size()];
  const std::optional<EtcdTransport::Reply> r = transport_.post(endpoint, path, body);
  if (!r) {
    return Outcome::kUnreachable;
  }
  reply = r->body;
  // 503 and friends: a member without a leader, or one shutting down. Another may serve.
  if (r->status >= 500 || r->status == 0) {
    return Outcome::kUnreachable;
  }
  if (r->body.find("lease not found") != std::string::npos) {
    return Outcome::kLeaseLost;
  }
  return r->status == 200 ? Outcome::kOk : Outcome::kRefused;
}

EtcdSession::Outcome EtcdSession::grant() {
  const auto ttl_s = std::max<std::int64_t>(1, (options_.ttl.count() + 999) / 1000);
  std::string reply;
  const Outcome o = call("/v3/lease/grant", Json{{"TTL", ttl_s}, {"ID", 0}}.dump(), reply);
  if (o != Outcome::kOk) {
    return o;
  }
  const std::string id = int64_field(Json::parse(reply, nullptr, false), "ID");
  if (id.empty() || id == "0") {
    return Outcome::kRefused;
  }
  lease_ = id;
  return Outcome::kOk;
}

EtcdSession::Outcome EtcdSession::keepalive() {
  std::string reply;
  const Outcome o = call("/v3/lease/keepalive", Json{{"ID", lease_}}.dump(), reply);
  if (o != Outcome::kOk) {
    return o;
  }
  // A stream of one answer; a lease etcd no longer has comes back without a TTL (or TTL 0).
  const Json j = Json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
  const std::string ttl =
      j.is_object() && j.contains("result") ? int64_field(j["result"], "TTL") : std::string();
  if (ttl.empty() || ttl == "0") {
    return j.is_object() && j.contains("result") ? Outcome::kLeaseLost : Outcome::kRefused;
  }
  return Outcome::kOk;
}

EtcdSession::Outcome EtcdSession::put(const std::string& key, const std::string& value) {
  std::string reply;
  return call("/v3/kv/put",
              Json{{"key", base64(key)}, {"value", base64(value)}, {"lease", lease_}}.dump(),
              reply);
}

EtcdSession::Outcome EtcdSession::remove(const std::string& key) {
  std::string reply;
  return call("/v3/kv/deleterange", Json{{"key", base64(key)}}.dump(), reply);
}

EtcdSession::Clock::time_point EtcdSession::failed(Clock::time_point now, Outcome what,
                                                   const std::string& doing) {
  if (what == Outcome::kLeaseLost) {
    // Expired while etcd could not be reached, or etcd lost its data: a new lease, every key
    // again.
    if (log_) {
      log_("etcd: lease " + lease_ + " is gone; publishing every key under a new one");
    }
    lease_.clear();
    published_.clear();
    return now;
  }
  const std::string& endpoint = options_.endpoints[endpoint_ % options_.endpoints.size()];
  ++failures_;
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  // Once per outage: a dead etcd must not flood the log.
  if (failures_ == 1 && log_) {
    log_("etcd: " + endpoint + (what == Outcome::kUnreachable ? " unreachable" : " refused") +
         " while " + doing + "; retrying with backoff");
  }
  endpoint_ = (endpoint_ + 1) % options_.endpoints.size();
  retry_at_ = now + backoff_;
  return retry_at_;
}

EtcdSession::Clock::time_point EtcdSession::step(Clock::time_point now, const AdminView& view,
                                                 const std::function<Sample()>& sample) {
  if (options_.endpoints.empty()) {
    return now + std::chrono::hours(1);
  }
  if (now < retry_at_) {
    return retry_at_;
  }
  const milliseconds keepalive_every = options_.ttl / 3;
  if (!lease_.empty() && now >= next_keepalive_) {
    const Outcome o = keepalive();
    if (o == Outcome::kLeaseLost) {
      failed(now, o, "keeping the lease alive");
    } else if (o != Outcome::kOk) {
      return failed(now, o, "keeping the lease alive");
    } else {
      next_keepalive_ = now + keepalive_every;
    }
  }
  if (lease_.empty()) {
    const Outcome o = grant();
    if (o != Outcome::kOk) {
      return failed(now, o, "granting a lease");
    }
    published_.clear();
    next_keepalive_ = now + keepalive_every;
  }
  if (failures_ != 0) {
    // Back after an outage: whatever etcd holds may predate it, so every key is written again.
    if (log_) {
      log_("etcd: " + options_.endpoints[endpoint_ % options_.endpoints.size()] +
           " answers again; publishing every key");
    }
    failures_ = 0;
    backoff_ = milliseconds(0);
    published_.clear();
  }

  const std::string state_key = key("state");
  std::string fingerprint = state_fingerprint(view);
  const bool refresh_due = options_.refresh.count() > 0 && now - doc_at_ >= options_.refresh;
  // etcd holds every key as of this fingerprint (the per-server values are a part of it):
  // nothing to do until a state changes or the counters' refresh is due.
  if (!refresh_due && !published_.empty() && fingerprint == synced_fingerprint_) {
    return next_due();
  }
  std::map<std::string, std::string> wanted;
  for (ServerState& s : server_states(view)) {
    wanted[key("servers/" + s.listener + "/" + s.server)] = std::move(s.json);
  }
  const auto held = published_.find(state_key);
  const bool doc_due = held == published_.end() || fingerprint != doc_fingerprint_ || refresh_due;
  wanted[state_key] = doc_due ? state_document(view, sample()) : held->second;

  synced_fingerprint_.clear();
  for (const auto& [k, v] : wanted) {
    const auto it = published_.find(k);
    if (it != published_.end() && it->second == v) {
      continue;
    }
    const Outcome o = put(k, v);
    if (o != Outcome::kOk) {
      return failed(now, o, "writing " + k);
    }
    published_[k] = v;
  }
  if (doc_due) {
    doc_fingerprint_ = fingerprint;
    doc_at_ = now;
  }
  for (auto it = published_.begin(); it != published_.end();) {
    if (wanted.count(it->first) != 0) {
      ++it;
      continue;
    }
    const Outcome o = remove(it->first);
    if (o != Outcome::kOk) {
      return failed(now, o, "deleting " + it->first);
    }
    it = published_.erase(it);
  }
  synced_fingerprint_ = std::move(fingerprint);
  return next_due();
}

EtcdSession::Clock::time_point EtcdSession::next_due() const {
  Clock::time_point next = next_keepalive_;
  if (options_.refresh.count() > 0) {
    next = std::min(next, doc_at_ + options_.refresh);
  }
  return next;
}

void EtcdSession::close() {
  if (lease_.empty() || options_.endpoints.empty()) {
    return;
  }
  std::string reply;
  call("/v3/lease/revoke", Json{{"ID", lease_}}.dump(), reply);
  lease_.clear();
  published_.clear();
}

EtcdPublisher::EtcdPublisher(const Operator& op, EtcdOptions options, EtcdSession::Log log,
                             std::unique_ptr<EtcdTransport> transport)
    : op_(op),
      options_(options),
      transport_(std::move(transport)),
      session_(*transport_, std::move(options), std::move(log)) {
  thread_ = std::thread([this] { run(); });
}

EtcdPublisher::~EtcdPublisher() {
  stop();
}

void EtcdPublisher::view_changed() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_one();
}

void EtcdPublisher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void EtcdPublisher::run() {
  std::unique_lock lock(mu_);
  EtcdSession::Clock::time_point next = EtcdSession::Clock::now();
  while (!stopping_) {
    cv_.wait_until(lock, next, [this] { return poked_ || stopping_; });
    if (stopping_) {
      break;
    }
    poked_ = false;
    lock.unlock();
    const std::shared_ptr<const AdminView> view = op_.view();
    const auto now = EtcdSession::Clock::now();
    next = view ? session_.step(now, *view, [this] { return op_.sample(); })
                : now + std::chrono::seconds(1);
    lock.lock();
  }
  lock.unlock();
  session_.close();
}

}  // namespace postern::control::admin
