// Postern's log targets and the session lines the control thread sends them (session_log.hpp).
#include "postern/control/session_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "postern/dataplane/runtime.hpp"

namespace postern::control::logging {
namespace {

using dataplane::EndCause;
using dataplane::EndPhase;
using dataplane::SessionRecord;

std::string client_text(const SessionRecord& r) {
  char out[INET6_ADDRSTRLEN] = {};
  const bool v6 = (r.flags & dataplane::kRecordClientV6) != 0;
  inet_ntop(v6 ? AF_INET6 : AF_INET, r.client, out, sizeof out);
  return out;
}

std::uint8_t level_code(const std::string& name, std::uint8_t fallback) {
  if (name.empty()) {
    return fallback;
  }
  return config::syslog_level_code(name).value_or(fallback);
}

constexpr std::uint8_t kInfo = 6;

}  // namespace

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> session_line(const SessionRecord& r, const ListenerLog& listener,
                                        const dataplane::Snapshot& snap, const OtherCounts& others,
                                        std::int64_t accept_unix_ms) {
  const bool upstream_error =
      r.end.phase == EndPhase::kRequest &&
      (r.end.cause == EndCause::kProxy || r.end.cause == EndCause::kClientTimeout);
  if (listener.dontlognull && r.bytes_from_client == 0 && r.end.cause != EndCause::kProxy) {
    return std::nullopt;
  }
  const std::string client = client_text(r);
  if (upstream_error) {
    // HAProxy never made a session of these: its connection error line instead.
    return connection_error_line(
        client, r.client_port, accept_unix_ms, listener.frontend, listener.bind,
        r.end.cause == EndCause::kProxy ? "Received something which does not look like a PROXY "
                                          "protocol header"
                                        : "Timeout while waiting for PROXY protocol header");
  }
  TcpLogLine l;
  l.client = client;
  l.client_port = r.client_port;
  l.accept_unix_ms = accept_unix_ms;
  l.frontend = listener.frontend;
  l.backend = listener.backend;
  const bool has_server = r.server != dataplane::kNoServerSlot && r.server < snap.servers.size();
  if (has_server) {
    const std::string& name = snap.servers[r.server].name;  // "listener/server"
    const auto slash = name.find('/');
    l.server = slash == std::string::npos ? std::string_view(name)
                                          : std::string_view(name).substr(slash + 1);
  }
  l.tw = has_server ? 0 : -1;  // Postern never queues: a chosen server is asked at once
  l.tc = r.connect_ms;
  l.tt = r.total_ms;
  l.bytes = r.bytes_to_client;
  l.ts[0] = static_cast<char>(r.end.cause);
  l.ts[1] = static_cast<char>(r.end.phase);
  l.ac = r.active + others.active;
  l.fc = r.listener_active + others.listener_active;
  l.bc = l.fc == 0 ? 0 : l.fc - 1;  // the backend (the listener itself) no longer counts it
  l.sc = has_server ? r.server_active + others.server_active : 0;
  l.rc = r.retries;
  l.redispatched = (r.flags & dataplane::kRecordRedispatched) != 0;
  return tcplog_line(l);
}

std::string_view message_listener(std::string_view m) {
  for (std::string_view prefix : {"Backup Server ", "Server ", "proxy "}) {
    if (m.starts_with(prefix)) {
      m.remove_prefix(prefix.size());
      const auto end = m.find_first_of(prefix == "proxy " ? " " : "/");
      return end == std::string_view::npos ? std::string_view{} : m.substr(0, end);
    }
  }
  return {};
}

SessionLog::~SessionLog() {
  close_all();
}

void SessionLog::close_all() {
  for (Target& t : targets_) {
    if (t.fd > 2) {
      ::close(t.fd);
    }
  }
  targets_.clear();
  global_.clear();
  listeners_.clear();
  tags_.clear();
}

std::size_t SessionLog::target_for(const config::LogTarget& lt, const config::Global& g,
                                   std::string_view host) {
  Target t;
  std::string why;
  const auto address = config::parse_log_address(lt.address, why);
  if (!address) {
    return SIZE_MAX;  // validation refused it already
  }
  t.address = *address;
  Framing& f = t.framing;
  f.format = config::parse_log_format(lt.format).value_or(
      g.log_send_hostname ? config::LogFormat::kRfc3164 : config::LogFormat::kLocal);
  f.facility = config::syslog_facility_code(lt.facility).value_or(16);
  f.max_level = level_code(lt.level, 7);
  f.min_level = level_code(lt.min_level, 0);
  f.len = lt.len != 0 ? lt.len : config::kLogLenDefault;
  f.host = std::string(host);
  f.pid = static_cast<std::uint32_t>(getpid());
  // Built by appends: GCC 12 sees a false overlap in a chain of + (-Wrestrict).
  for (const std::string* part :
       {&lt.address, &lt.format, &lt.facility, &lt.level, &lt.min_level}) {
    t.key.append(*part);
    t.key.push_back('|');
  }
  t.key.append(std::to_string(f.len));
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].key == t.key) {
      return i;
    }
  }
  using Kind = config::LogAddress::Kind;
  switch (t.address.kind) {
    case Kind::kStdout:
      t.fd = STDOUT_FILENO;
      break;
    case Kind::kStderr:
      t.fd = STDERR_FILENO;
      break;
    case Kind::kUnix: {
      auto* un = reinterpret_cast<sockaddr_un*>(&t.to);
      un->sun_family = AF_UNIX;
      std::strncpy(un->sun_path, t.address.path.c_str(), sizeof un->sun_path - 1);
      t.to_len = sizeof(sockaddr_un);
      t.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      break;
    }
    case Kind::kUdp: {
      const config::Endpoint& e = t.address.udp;
      if (e.address.family == config::Family::kIpv4) {
        auto* in = reinterpret_cast<sockaddr_in*>(&t.to);
        in->sin_family = AF_INET;
        in->sin_port = htons(e.port);
        std::memcpy(&in->sin_addr, e.address.bytes.data(), 4);
        t.to_len = sizeof(sockaddr_in);
        t.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&t.to);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(e.port);
        std::memcpy(&in6->sin6_addr, e.address.bytes.data(), 16);
        t.to_len = sizeof(sockaddr_in6);
        t.fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      }
      break;
    }
  }
  targets_.push_back(std::move(t));
  return targets_.size() - 1;
}

void SessionLog::configure(const config::Config& cfg, const dataplane::Snapshot& snap,
                           std::string_view system_hostname) {
  close_all();
  std::string host;
  if (cfg.global.log_send_hostname) {
    host = cfg.global.log_send_hostname->empty() ? std::string(system_hostname)
                                                 : *cfg.global.log_send_hostname;
  }
  global_tag_ = cfg.global.log_tag.empty() ? "postern" : cfg.global.log_tag;
  for (const config::LogTarget& t : cfg.global.log) {
    if (const std::size_t i = target_for(t, cfg.global, host); i != SIZE_MAX) {
      global_.push_back(i);
    }
  }
  listeners_.resize(snap.listeners.size());
  tags_.assign(snap.listeners.size(), global_tag_);
  for (std::size_t slot = 0; slot < snap.listeners.size(); ++slot) {
    const auto it = std::find_if(
        cfg.listeners.begin(), cfg.listeners.end(),
        [&](const config::Listener& l) { return l.name == snap.listeners[slot].name; });
    ListenerLog& ll = listeners_[slot];
    ll.frontend = snap.listeners[slot].name;
    ll.backend = ll.frontend;
    if (it == cfg.listeners.end()) {
      continue;  // retired: its last flows end unlogged
    }
    if (!it->backend.empty()) {
      ll.backend = it->backend;
    }
    ll.dontlognull = it->dontlognull;
    if (!it->log_tag.empty()) {
      tags_[slot] = it->log_tag;
    }
    // HAProxy names a bind by its rank in the section; only accept-proxy binds produce
    // connection error lines, so the first of those names them.
    std::size_t rank = 1;
    for (std::size_t b = 0; b < it->binds.size(); ++b) {
      if (it->binds[b].accept_proxy) {
        rank = b + 1;
        break;
      }
    }
    ll.bind = std::to_string(rank);
    for (const config::LogTarget& t : it->log) {
      if (t.global) {
        ll.targets.insert(ll.targets.end(), global_.begin(), global_.end());
      } else if (const std::size_t i = target_for(t, cfg.global, host); i != SIZE_MAX) {
        ll.targets.push_back(i);
      }
    }
  }
}

void SessionLog::send(Target& t, std::uint8_t level, std::string_view tag, std::int64_t now_unix_us,
                      std::string_view message) {
  if (effective_level(t.framing, level) < 0 || t.fd < 0) {
    return;
  }
  Framing f = t.framing;
  f.tag = std::string(tag);
  const std::string out = frame(f, level, now_unix_us, message);
  ssize_t n;
  if (t.to_len != 0) {
    n = ::sendto(t.fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&t.to), t.to_len);
  } else {
    n = ::write(t.fd, out.data(), out.size());
  }
  if (n != static_cast<ssize_t>(out.size())) {
    ++send_failures_;
  }
}

void SessionLog::session(const SessionRecord& r, const dataplane::Snapshot& snap,
                         const OtherCounts& others, std::int64_t now_unix_us) {
  if (r.listener >= listeners_.size()) {
    return;
  }
  ListenerLog& ll = listeners_[r.listener];
  if (ll.targets.empty()) {
    return;
  }
  const std::int64_t age_ms = static_cast<std::int64_t>(dataplane::session_clock_ms()) -
                              static_cast<std::int64_t>(r.accept_ms);
  const auto line = session_line(r, ll, snap, others, now_unix_us / 1000 - age_ms);
  if (!line) {
    ++skipped_;
    return;
  }
  ++lines_;
  for (const std::size_t i : ll.targets) {
    send(targets_[i], kInfo, tags_[r.listener], now_unix_us, *line);
  }
}

void SessionLog::event(std::uint8_t level, std::string_view message, std::int64_t now_unix_us) {
  const std::string_view name = message_listener(message);
  const std::vector<std::size_t>* targets = &global_;
  std::string_view tag = global_tag_;
  for (std::size_t slot = 0; slot < listeners_.size() && !name.empty(); ++slot) {
    if (listeners_[slot].frontend == name || listeners_[slot].backend == name) {
      targets = &listeners_[slot].targets;
      tag = tags_[slot];
      break;
    }
  }
  for (const std::size_t i : *targets) {
    send(targets_[i], level, tag, now_unix_us, message);
  }
}

std::size_t SessionLog::drain(dataplane::Runtime& rt, std::size_t max_per_worker) {
  const dataplane::Snapshot* snap = rt.snapshot();
  if (snap == nullptr) {
    return 0;
  }
  std::array<SessionRecord, 64> burst;
  std::size_t total = 0;
  for (std::size_t w = 0; w < rt.worker_count(); ++w) {
    for (std::size_t got = 0; got < max_per_worker;) {
      const std::size_t n = rt.poll_session_records(w, burst.data(), burst.size());
      if (n == 0) {
        break;
      }
      got += n;
      total += n;
      if (!enabled()) {
        continue;
      }
      const std::int64_t now = unix_now_us();
      for (std::size_t i = 0; i < n; ++i) {
        const SessionRecord& r = burst[i];
        OtherCounts others;
        for (std::size_t o = 0; o < rt.worker_count(); ++o) {
          if (o == w) {
            continue;
          }
          others.active += rt.counters(o).active_flows;
          others.listener_active += rt.slots(o).listener_active[r.listener].get();
          if (r.server != dataplane::kNoServerSlot) {
            others.server_active += rt.slots(o).server_active[r.server].get();
          }
        }
        session(r, *snap, others, now);
      }
    }
  }
  return total;
}

}  // namespace postern::control::logging
