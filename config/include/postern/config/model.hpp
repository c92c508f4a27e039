// The configuration model: plain structs every parser fills and every consumer reads.
// Parse (haproxy.cfg or YAML) -> this model -> validate -> the dataplane compiles a snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postern/config/address.hpp"

namespace postern::config {

using Millis = std::int64_t;

// Where an entity was written. It never takes part in model equality, so a model dumped
// to YAML and loaded back compares equal although every line number changed.
struct Origin {
  std::string file;
  int line = 0;
  int column = 0;
  friend bool operator==(const Origin&, const Origin&) { return true; }
};

struct LogTarget {
  bool global = false;  // `log global`
  std::string address;  // `log <address> [len <n>] [format <f>] <facility> [<level> [<minlevel>]]`
  std::uint32_t len = 0;  // the longest message, newline included; 0: HAProxy's 1024
  std::string format;     // local, rfc3164, ... (log_target.hpp); empty: the default
  std::string facility;
  std::string level;
  std::string min_level;
  Origin origin;
  friend bool operator==(const LogTarget&, const LogTarget&) = default;
};

// The runtime API's privilege levels (HAProxy's `level user|operator|admin` on a stats socket):
// user reads non-sensitive statistics, operator reads everything, admin may also change state.
enum class ApiLevel : std::uint8_t { kUser, kOperator, kAdmin };

// `stats socket PATH [level L] [mode M] [user U|uid N] [group G|gid N]` in `global`: a UNIX
// socket serving the runtime API (HAProxy's CLI).
struct StatsSocket {
  std::string path;
  ApiLevel level = ApiLevel::kOperator;  // HAProxy's default for a stats socket
  std::optional<std::uint32_t> mode;     // permission bits, written in octal
  std::string user;                      // `user NAME`
  std::optional<std::uint32_t> uid;      // `uid N`
  std::string group;                     // `group NAME`
  std::optional<std::uint32_t> gid;      // `gid N`
  Origin origin;
  friend bool operator==(const StatsSocket&, const StatsSocket&) = default;
};

struct Global {
  std::optional<std::uint32_t> maxconn;
  std::vector<LogTarget> log;
  std::string log_tag;  // `log-tag`: the syslog tag; empty: "postern"
  // `log-send-hostname [NAME]`: the syslog header names the host (NAME, or empty: the system's
  // host name); the default format becomes rfc3164.
  std::optional<std::string> log_send_hostname;
  std::vector<StatsSocket> stats_sockets;
  std::optional<Millis> stats_timeout;         // `stats timeout`: idle API clients; HAProxy: 10s
  std::optional<std::uint32_t> stats_maxconn;  // `stats maxconn`: API clients at once; 10
  std::string server_state_base;               // `server-state-base DIR`
  std::string server_state_file;               // `server-state-file FILE`
  Origin origin;
  friend bool operator==(const Global&, const Global&) = default;
};

struct Bind {
  Endpoint endpoint;  // address 0.0.0.0 / :: means every VIP of the dataplane
  bool accept_proxy = false;
  Origin origin;
  friend bool operator==(const Bind&, const Bind&) = default;
};

struct Timeouts {
  std::optional<Millis> connect;
  std::optional<Millis> client;
  std::optional<Millis> server;
  std::optional<Millis> check;
  std::optional<Millis> queue;
  std::optional<Millis> client_fin;
  std::optional<Millis> server_fin;
  std::optional<Millis> tunnel;
  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

// One `tcp-check` rule (HAProxy 2.x syntax, the subset mail checks need).
struct TcpCheckRule {
  enum class Kind : std::uint8_t { kConnect, kSend, kSendBinary, kExpect };
  enum class Match : std::uint8_t { kString, kRstring, kBinary };
  Kind kind = Kind::kConnect;
  // connect
  std::optional<std::uint16_t> port;
  bool send_proxy = false;
  bool linger = false;  // `linger`: HAProxy's way to close with FIN; Postern always does
  // send / expect
  // send: the bytes (escapes resolved); expect: the pattern. For send-binary and
  // `expect binary` it is the hex digits, lower case ("0d0a"), as written and dumped.
  std::string data;
  Match match = Match::kString;
  bool negate = false;  // `expect ! string ...` / `expect !string ...`
  Origin origin;
  friend bool operator==(const TcpCheckRule&, const TcpCheckRule&) = default;
};

// What a `check` conversation is, per listener: HAProxy's `option tcp-check` and
// `option smtpchk`, Postern's own `option mail-check`, or (none of them) a plain connect. As
// in HAProxy, the last of these options in a section wins.
enum class CheckType : std::uint8_t { kConnect, kTcpCheck, kSmtp, kMail };

// `option mail-check [imap|pop3|lmtp|smtp|sieve]`: kAuto takes the protocol from the
// server's (check) port: 143 IMAP, 110 POP3, 24 LMTP, 25/587 SMTP, 4190 ManageSieve (ports
// with implicit TLS, 465/993/995, cannot be spoken to without TLS).
enum class MailProtocol : std::uint8_t { kAuto, kImap, kPop3, kLmtp, kSmtp, kSieve };

// The protocol kAuto speaks to a check port (IANA's assignments), or nullopt for a port it
// cannot tell; the validator refuses a checked server on such a port.
constexpr std::optional<MailProtocol> mail_protocol_for_port(std::uint16_t port) {
  switch (port) {
    case 143:
      return MailProtocol::kImap;
    case 110:
      return MailProtocol::kPop3;
    case 24:
      return MailProtocol::kLmtp;
    case 25:
    case 587:
      return MailProtocol::kSmtp;
    case 4190:
      return MailProtocol::kSieve;
    default:
      return std::nullopt;
  }
}

// `on-error`: what `observe layer4` does once `error-limit` consecutive errors are seen.
enum class OnError : std::uint8_t { kFastinter, kFailCheck, kSuddenDeath, kMarkDown };

struct Server {
  std::string name;
  std::optional<Endpoint> endpoint;  // missing address is a validation error
  std::uint32_t weight = 1;          // 0..256; 0 takes no new connections
  bool check = false;
  Millis inter = 2000;
  std::optional<Millis> fastinter;
  std::optional<Millis> downinter;
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
  bool send_proxy_v2 = false;
  bool check_send_proxy = false;
  bool backup = false;
  bool disabled = false;
  std::optional<std::uint32_t> maxconn;
  std::optional<std::uint16_t> check_port;      // `port N`
  std::optional<IpAddress> check_addr;          // `addr A`
  std::optional<Millis> slowstart;              // `slowstart T`: weight ramps up over T
  bool shutdown_sessions_on_down = false;       // `on-marked-down shutdown-sessions`
  bool shutdown_backup_sessions_on_up = false;  // `on-marked-up shutdown-backup-sessions`
  bool observe_layer4 = false;                  // `observe layer4`
  std::uint32_t error_limit = 10;               // `error-limit N`
  OnError on_error = OnError::kFailCheck;       // `on-error ...`
  Origin origin;
  friend bool operator==(const Server&, const Server&) = default;
};

enum class Balance : std::uint8_t { kRoundRobin, kStaticRoundRobin };

// `load-server-state-from-file`: where a listener's servers take their state from at start
// (HAProxy's PR_SRV_STATE_FILE_*): nowhere, the global `server-state-file`, or a file of its own.
enum class ServerStateLoad : std::uint8_t { kNone, kGlobal, kLocal };

// How SYNs are met (issue 9): `on` answers each with a SYN cookie and opens the server side only
// once the client's ACK proves its address; `auto` does so while a worker holds more half-open
// flows than `defense.syn_proxy_above`; `off` forwards every SYN at once.
enum class SynProxy : std::uint8_t { kAuto, kOn, kOff };

// A `listen` section, or a `frontend` folded together with its `default_backend`.
struct Listener {
  std::string name;
  std::vector<Bind> binds;
  Balance balance = Balance::kRoundRobin;
  Timeouts timeouts;
  std::optional<std::uint32_t> maxconn;
  std::uint32_t retries = 3;
  bool redispatch = false;
  CheckType check_type = CheckType::kConnect;
  std::vector<TcpCheckRule> tcp_check_rules;  // used when check_type is kTcpCheck
  // `option smtpchk [EHLO|HELO domain]`; empty: HAProxy's default, `HELO localhost`.
  std::string smtpchk_verb;
  std::string smtpchk_domain;
  MailProtocol mail_protocol = MailProtocol::kAuto;
  bool dontlognull = false;
  std::vector<LogTarget> log;
  std::string log_tag;  // `log-tag` in the proxy; empty: the global one
  std::vector<Server> servers;
  // A frontend's `default_backend`, folded in: the name its servers go by in the runtime API
  // (`set server BACKEND/SERVER`), `show stat`, the server-state file and `%b` in its log
  // lines. Empty: a `listen` section, whose servers go by the listener's own name.
  std::string backend;
  ServerStateLoad load_server_state = ServerStateLoad::kNone;
  std::string server_state_file_name;  // `server-state-file-name`; empty: the backend's name
  std::optional<SynProxy> syn_proxy;   // YAML `syn_proxy`; unset: `defense.syn_proxy`
  Origin origin;
  friend bool operator==(const Listener&, const Listener&) = default;
};

struct Interface {
  std::string name;
  std::string device;  // PCI address or vdev string
  IpPrefix address;
  Origin origin;
  friend bool operator==(const Interface&, const Interface&) = default;
};

struct Route {
  IpPrefix to;
  IpAddress via;
  Origin origin;
  friend bool operator==(const Route&, const Route&) = default;
};

// Postern's own `dataplane:` YAML section.
struct Dataplane {
  std::vector<std::string> eal;
  std::uint32_t workers = 1;
  std::uint32_t flows = 262144;
  std::vector<Interface> interfaces;
  std::vector<Route> routes;
  std::vector<IpAddress> vips;
  std::vector<IpAddress> source_addresses;
  Origin origin;
  friend bool operator==(const Dataplane&, const Dataplane&) = default;
};

// `admin.etcd`: where Postern publishes its state for the cluster layer (YAML only; haproxy.cfg
// has no counterpart).
struct Etcd {
  std::vector<std::string> endpoints;  // "http://HOST:PORT", tried in order
  std::string prefix = "/postern";     // keys live under PREFIX/NODE/
  std::string node;                    // empty: the host name
  Millis ttl = 10000;                  // the lease the keys hang on
  Millis refresh = 10000;              // the whole document's refresh for its counters; 0: never
  Origin origin;
  friend bool operator==(const Etcd&, const Etcd&) = default;
};

// Postern's own `admin:` YAML section.
struct Admin {
  std::optional<Endpoint> http;
  std::string socket;
  std::string state_file;
  std::optional<Etcd> etcd;
  Origin origin;
  friend bool operator==(const Admin&, const Admin&) = default;
};

// How a new connection is refused when a resource runs out: a RST, or silence.
enum class Refuse : std::uint8_t { kRst, kDrop };

// Postern's own `defense:` YAML section: how the dataplane holds up under hostile traffic
// (issue 9). Reloadable; haproxy.cfg has no counterpart. The ranges are the loader's.
struct Defense {
  SynProxy syn_proxy = SynProxy::kAuto;
  std::uint32_t syn_proxy_above = 1024;    // half-open flows per worker; >= 1
  std::uint32_t syn_proxy_mss = 1460;      // 536..9000
  std::uint32_t half_open_per_source = 0;  // 0: no limit
  Millis half_open_timeout = 16000;        // 1s..60s
  Refuse refuse = Refuse::kRst;
  std::uint32_t mbuf_reserve = 10;  // percent of the mbuf pool, 0..50
  Origin origin;
  friend bool operator==(const Defense&, const Defense&) = default;
};

struct Config {
  Global global;
  std::vector<Listener> listeners;
  std::optional<Dataplane> dataplane;
  std::optional<Admin> admin;
  std::optional<Defense> defense;
  friend bool operator==(const Config&, const Config&) = default;
};

}  // namespace postern::config
