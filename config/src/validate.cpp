// Checks over the merged model, whichever syntax it came from: ranges, duplicates, bind
// conflicts, missing timeouts, and whether the dataplane can carry what the listeners ask for.
// Each diagnostic points at the Origin of the entity it is about.
#include <algorithm>
#include <map>

#include "health_check.hpp"
#include "postern/config/expect_regex.hpp"
#include "postern/config/load.hpp"
#include "postern/config/log_target.hpp"
#include "text.hpp"

namespace postern::config {
namespace {

// HAProxy's server weight range (src/server.c "weight of server ... is not within 0 and 256").
constexpr std::uint32_t kMaxWeight = 256;
// A connect is retried per SYN timeout; past this a dead server holds a client for minutes.
constexpr std::uint32_t kMaxRetries = 100;
constexpr std::uint32_t kMinFlows = 1024;
constexpr std::uint32_t kMaxFlows = 16U * 1024U * 1024U;

std::string where(const Origin& origin) {
  return origin.file + ":" + std::to_string(origin.line);
}

class Checker {
 public:
  Checker(const Config& config, Diagnostics& diags) : config_(config), diags_(diags) {}

  void run() {
    check_global();
    std::map<std::string, const Listener*> names;
    for (const Listener& listener : config_.listeners) {
      if (auto [it, inserted] = names.emplace(listener.name, &listener); !inserted) {
        // HAProxy: "proxy 'x' has the same name as proxy 'x' declared at FILE:LINE".
        error(listener.origin, "listener " + quoted(listener.name) +
                                   " has the same name as the listener declared at " +
                                   where(it->second->origin));
      }
      check_listener(listener);
    }
    check_bind_conflicts();
    check_runtime_api();
    if (config_.dataplane) {
      check_dataplane(*config_.dataplane);
    }
    if (config_.admin && config_.admin->http && config_.admin->http->port == 0) {
      error(config_.admin->origin, "admin 'http' needs a port other than 0");
    }
  }

 private:
  void error(const Origin& at, std::string message, std::string hint = {}) {
    diags_.error(at.file, at.line, at.column, std::move(message), std::move(hint));
  }

  void warning(const Origin& at, std::string message, std::string hint = {}) {
    diags_.warning(at.file, at.line, at.column, std::move(message), std::move(hint));
  }

  // The runtime API addresses servers as BACKEND/SERVER: a `listen` section's name or a
  // folded frontend's backend name, so these must name one listener each. Sockets must not
  // share a path, and a listener that loads the global server-state file needs one.
  void check_runtime_api() {
    std::map<std::string, const Listener*> backends;
    for (const Listener& listener : config_.listeners) {
      const std::string& name = listener.backend.empty() ? listener.name : listener.backend;
      if (auto [it, inserted] = backends.emplace(name, &listener);
          !inserted && it->second != &listener) {
        error(listener.origin, "listener " + quoted(listener.name) + ": backend name " +
                                   quoted(name) + " is also used by the listener declared at " +
                                   where(it->second->origin));
      }
      if (listener.load_server_state == ServerStateLoad::kGlobal &&
          config_.global.server_state_file.empty()) {
        warning(listener.origin, "listener " + quoted(listener.name) +
                                     " loads server state from the global file, but no "
                                     "'server-state-file' is set");
      }
    }
    std::map<std::string, Origin> paths;
    if (config_.admin && !config_.admin->socket.empty()) {
      paths.emplace(config_.admin->socket, config_.admin->origin);
    }
    for (const StatsSocket& socket : config_.global.stats_sockets) {
      if (auto [it, inserted] = paths.emplace(socket.path, socket.origin); !inserted) {
        error(socket.origin, "stats socket " + quoted(socket.path) +
                                 " is already served by the socket declared at " +
                                 where(it->second));
      }
    }
  }

  void check_global() {
    if (config_.global.maxconn && *config_.global.maxconn == 0) {
      error(config_.global.origin, "global 'maxconn' must be at least 1");
    }
    check_log_targets(config_.global.log);
  }

  // Where each `log` line sends its messages: a form Postern can open.
  void check_log_targets(const std::vector<LogTarget>& targets) {
    for (const LogTarget& target : targets) {
      std::string why;
      if (!target.global && !parse_log_address(target.address, why)) {
        error(target.origin, "'log' " + quoted(target.address) + ": " + why);
      }
    }
  }

  void check_listener(const Listener& listener) {
    const std::string who = "listener " + quoted(listener.name);
    check_log_targets(listener.log);
    if (listener.binds.empty()) {
      error(listener.origin, who + " has no bind");
    }
    for (const Bind& bind : listener.binds) {
      if (bind.endpoint.port == 0) {
        error(bind.origin, who + " binds port 0");
      }
    }
    if (listener.servers.empty()) {
      warning(listener.origin, who + " has no server; its connections will be refused");
    }
    if (listener.maxconn && *listener.maxconn == 0) {
      error(listener.origin, who + ": 'maxconn' must be at least 1");
    }
    if (listener.retries > kMaxRetries) {
      error(listener.origin, who + ": 'retries' " + std::to_string(listener.retries) +
                                 " is too many (at most " + std::to_string(kMaxRetries) + ")");
    }
    check_timeouts(listener, who);
    if (listener.check_type == CheckType::kConnect && !listener.tcp_check_rules.empty()) {
      warning(listener.tcp_check_rules.front().origin,
              who + ": tcp-check rules are unused without 'option tcp-check'");
    } else if (listener.check_type != CheckType::kTcpCheck && !listener.tcp_check_rules.empty()) {
      // HAProxy keeps them aside without a word; they only come back with `option tcp-check`.
      warning(
          listener.tcp_check_rules.front().origin,
          who + ": tcp-check rules are unused with " + quoted(check_option(listener.check_type)),
          "the last check option of a section wins; only 'option tcp-check' runs the rules");
    }
    for (const TcpCheckRule& rule : listener.tcp_check_rules) {
      if (rule.port && *rule.port == 0) {
        error(rule.origin, who + ": 'tcp-check connect' port must be between 1 and 65535");
      }
      // Both syntaxes reach here, so a bad pattern is reported before any check runs, by the
      // same compiler the checks use (POSIX extended, as HAProxy without PCRE).
      if (rule.kind == TcpCheckRule::Kind::kExpect && rule.match == TcpCheckRule::Match::kRstring) {
        ExpectRegex compiled;
        std::string problem;
        if (!compiled.compile(rule.data, problem)) {
          error(rule.origin, who + ": 'tcp-check expect rstring': invalid regular expression " +
                                 quoted(rule.data) + ": " + problem);
        }
      }
    }
    std::map<std::string, const Server*> servers;
    for (const Server& server : listener.servers) {
      if (auto [it, inserted] = servers.emplace(server.name, &server); !inserted) {
        error(server.origin, who + ": server " + quoted(server.name) +
                                 " has the same name as the server declared at " +
                                 where(it->second->origin));
      }
      check_server(server, who);
      check_mail_port(listener, server, who);
    }
  }

  // `option mail-check` without a protocol reads it from the port the check connects to.
  void check_mail_port(const Listener& listener, const Server& server, const std::string& who) {
    if (listener.check_type != CheckType::kMail || listener.mail_protocol != MailProtocol::kAuto ||
        !server.check || !server.endpoint) {
      return;
    }
    const std::uint16_t port = server.check_port.value_or(server.endpoint->port);
    if (port == 0 || mail_protocol_for_port(port)) {
      return;  // port 0 has its own error
    }
    error(server.origin,
          who + ": server " + quoted(server.name) +
              ": 'option mail-check' cannot tell the protocol of check port " +
              std::to_string(port) +
              " (known ports: 143 imap, 110 pop3, 24 lmtp, 25/587 smtp, 4190 sieve)",
          "name it, as 'option mail-check imap', or set the server's check 'port'");
  }

  // HAProxy 2.6 src/cfgparse.c: a TCP proxy needs 'client' and 'connect', and 'server' unless
  // 'tunnel' is set; the backend part only counts when there are servers.
  void check_timeouts(const Listener& listener, const std::string& who) {
    const Timeouts& t = listener.timeouts;
    auto missing = [](const std::optional<Millis>& value) { return !value || *value == 0; };
    const bool frontend_missing = missing(t.client);
    const bool backend_missing = !listener.servers.empty() &&
                                 (missing(t.connect) || (missing(t.server) && missing(t.tunnel)));
    if (frontend_missing || backend_missing) {
      warning(listener.origin,
              "missing timeouts for " + who +
                  ". While not properly invalid, you will certainly encounter various problems "
                  "with such a configuration. To fix this, please ensure that all following "
                  "timeouts are set to a non-zero value: 'client', 'connect', 'server'");
    }
  }

  void check_server(const Server& server, const std::string& who) {
    const std::string name = who + ": server " + quoted(server.name);
    if (!server.endpoint) {
      error(server.origin, name + " has no address");
    } else {
      if (server.endpoint->port == 0) {
        error(server.origin, name + " has no port", "write the address as ADDRESS:PORT");
      }
      // HAProxy's 0.0.0.0 server forwards to the client's own destination (transparent mode).
      if (server.endpoint->address.is_any()) {
        error(server.origin, name + " address " + server.endpoint->address.to_string() +
                                 " (the client's destination) is not supported");
      }
    }
    if (server.weight > kMaxWeight) {
      error(server.origin, name + ": weight " + std::to_string(server.weight) +
                               " is not within 0 and " + std::to_string(kMaxWeight));
    }
    if (server.rise == 0) {
      error(server.origin, name + ": 'rise' must be at least 1");
    }
    if (server.fall == 0) {
      error(server.origin, name + ": 'fall' must be at least 1");
    }
    const std::pair<const char*, std::optional<Millis>> intervals[] = {
        {"inter", server.inter}, {"fastinter", server.fastinter}, {"downinter", server.downinter}};
    for (const auto& [key, value] : intervals) {
      if (value && *value == 0) {
        error(server.origin, name + ": '" + key + "' must be a positive delay");
      }
    }
    if (server.check_port && *server.check_port == 0) {
      error(server.origin, name + ": check 'port' must be between 1 and 65535");
    }
    check_observe(server, name);
  }

  // HAProxy refuses `error-limit 0` ("has to be > 0"). The other settings are accepted by
  // HAProxy and do nothing there either: `observe` needs health checks (health_adjust() returns
  // without a check task), and `on-error`/`error-limit` only act on what `observe` counts.
  void check_observe(const Server& server, const std::string& name) {
    static const Server kBuiltIn;
    if (server.error_limit == 0) {
      error(server.origin, name + ": 'error-limit' must be at least 1");
    }
    if (server.observe_layer4 && !server.check) {
      warning(server.origin, name + ": 'observe layer4' has no effect without 'check'");
    }
    std::vector<std::string> idle;
    if (server.on_error != kBuiltIn.on_error) {
      idle.emplace_back("'on-error'");
    }
    if (server.error_limit != kBuiltIn.error_limit && server.error_limit != 0) {
      idle.emplace_back("'error-limit'");
    }
    if (!server.observe_layer4 && !idle.empty()) {
      std::string what = idle.front();
      what += idle.size() > 1 ? " and " + idle.back() + " have" : std::string(" has");
      warning(server.origin, name + ": " + what + " no effect without 'observe layer4'");
    }
  }

  // Two binds conflict on the same port and family when their addresses are equal or either
  // is the wildcard, which stands for every VIP.
  void check_bind_conflicts() {
    struct Seen {
      const Listener* listener;
      const Bind* bind;
    };
    std::vector<Seen> seen;
    for (const Listener& listener : config_.listeners) {
      for (const Bind& bind : listener.binds) {
        for (const Seen& other : seen) {
          const Endpoint& a = bind.endpoint;
          const Endpoint& b = other.bind->endpoint;
          if (a.port != b.port || a.address.family != b.address.family) {
            continue;
          }
          if (a.address == b.address || a.address.is_any() || b.address.is_any()) {
            error(bind.origin, "listener " + quoted(listener.name) + " binds " + a.to_string() +
                                   ", which conflicts with " + b.to_string() + " of listener " +
                                   quoted(other.listener->name) + " at " +
                                   where(other.bind->origin));
            break;
          }
        }
        seen.push_back(Seen{&listener, &bind});
      }
    }
  }

  void check_dataplane(const Dataplane& dp) {
    const Origin& at = dp.origin;
    if (dp.workers < 1) {
      error(at, "dataplane 'workers' must be at least 1");
    }
    if (dp.flows < kMinFlows || dp.flows > kMaxFlows) {
      error(at, "dataplane 'flows' " + std::to_string(dp.flows) + " is not within " +
                    std::to_string(kMinFlows) + " and " + std::to_string(kMaxFlows));
    }
    if (dp.interfaces.empty()) {
      error(at, "dataplane has no interface");
    }
    std::map<std::string, const Interface*> names;
    std::map<std::string, const Interface*> devices;
    for (const Interface& interface : dp.interfaces) {
      if (interface.name.empty()) {
        error(interface.origin, "interface needs a name");
      } else if (auto [it, inserted] = names.emplace(interface.name, &interface); !inserted) {
        error(interface.origin, "interface name " + quoted(interface.name) +
                                    " is already used at " + where(it->second->origin));
      }
      if (interface.device.empty()) {
        error(interface.origin, "interface " + quoted(interface.name) + " needs a device");
      } else if (auto [it, inserted] = devices.emplace(interface.device, &interface); !inserted) {
        error(interface.origin, "device " + quoted(interface.device) +
                                    " is already used by interface " + quoted(it->second->name) +
                                    " at " + where(it->second->origin));
      }
    }
    for (const Route& route : dp.routes) {
      const bool connected =
          std::any_of(dp.interfaces.begin(), dp.interfaces.end(),
                      [&](const Interface& i) { return i.address.contains(route.via); });
      if (!connected) {
        error(route.origin, "route to " + route.to.to_string() + ": gateway " +
                                route.via.to_string() + " is on no interface's network");
      }
    }
    if (dp.source_addresses.empty()) {
      error(at, "dataplane has no 'source_addresses' to reach servers from");
    }
    check_listeners_against(dp);
  }

  void check_listeners_against(const Dataplane& dp) {
    auto has_family = [](const std::vector<IpAddress>& list, Family family) {
      return std::any_of(list.begin(), list.end(),
                         [&](const IpAddress& a) { return a.family == family; });
    };
    for (const Listener& listener : config_.listeners) {
      for (const Bind& bind : listener.binds) {
        const IpAddress& address = bind.endpoint.address;
        if (address.is_any()) {
          if (!has_family(dp.vips, address.family)) {
            error(bind.origin, "listener " + quoted(listener.name) + " binds " +
                                   bind.endpoint.to_string() +
                                   " (every VIP) but the dataplane has no " +
                                   (address.family == Family::kIpv4 ? "IPv4" : "IPv6") + " vips");
          }
        }
        // A specific address is a VIP of its own, as HAProxy binds it: Postern answers ARP
        // for it and announces it, whether or not `vips` lists it.
      }
      for (const Server& server : listener.servers) {
        if (!server.endpoint || dp.source_addresses.empty()) {
          continue;
        }
        const Family family = server.endpoint->address.family;
        if (!has_family(dp.source_addresses, family)) {
          error(server.origin, "server " + quoted(server.name) + " is " +
                                   (family == Family::kIpv4 ? "IPv4" : "IPv6") +
                                   " but the dataplane has no such source address");
        }
      }
    }
  }

  const Config& config_;
  Diagnostics& diags_;
};

}  // namespace

void validate(const Config& config, Diagnostics& diags) {
  Checker(config, diags).run();
}

}  // namespace postern::config
