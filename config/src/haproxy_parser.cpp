// Reads haproxy.cfg as HAProxy 2.6 does (src/cfgparse.c, src/cfgparse-listen.c): sections, one
// keyword table per section, `defaults` inheritance, and each frontend folded together with its
// default_backend into one Listener. Parse only: ranges and conflicts are the validator's.
#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <utility>

#include "haproxy_reader.hpp"
#include "health_check.hpp"
#include "host_port.hpp"
#include "postern/config/load.hpp"
#include "postern/config/log_target.hpp"
#include "resolve.hpp"
#include "text.hpp"
#include "tokenizer.hpp"

namespace postern::config {
namespace {

enum class Section : std::uint8_t {
  kNone,
  kGlobal,
  kDefaults,
  kListen,
  kFrontend,
  kBackend,
  kIgnored,  // a section HAProxy knows that has no meaning for Postern (userlist, peers, ...)
};

// HAProxy's proxy capabilities (PR_CAP_FE, PR_CAP_BE): which side of a proxy a keyword sets.
constexpr unsigned kCapFe = 1;
constexpr unsigned kCapBe = 2;
constexpr unsigned kCapBoth = kCapFe | kCapBe;

unsigned capabilities(Section section) {
  switch (section) {
    case Section::kFrontend:
      return kCapFe;
    case Section::kBackend:
      return kCapBe;
    default:
      return kCapBoth;
  }
}

std::string_view section_word(Section section) {
  switch (section) {
    case Section::kGlobal:
      return "global";
    case Section::kDefaults:
      return "defaults";
    case Section::kListen:
      return "listen";
    case Section::kFrontend:
      return "frontend";
    case Section::kBackend:
      return "backend";
    default:
      return "";
  }
}

// One line being parsed: its words and where to report.
class LineCtx {
 public:
  LineCtx(Diagnostics& diags, const std::string& file, int number,
          const std::vector<std::string>& words)
      : diags_(diags), file_(file), number_(number), words_(words) {}

  std::size_t size() const { return words_.size(); }
  bool has(std::size_t i) const { return i < words_.size(); }
  const std::string& word(std::size_t i) const {
    static const std::string kMissing;
    return i < words_.size() ? words_[i] : kMissing;
  }
  Origin origin() const { return Origin{file_, number_, 0}; }
  Diagnostics& diags() const { return diags_; }

  void error(std::string message, std::string hint = {}) const {
    diags_.error(file_, number_, 0, std::move(message), std::move(hint));
  }
  void warning(std::string message, std::string hint = {}) const {
    diags_.warning(file_, number_, 0, std::move(message), std::move(hint));
  }

 private:
  Diagnostics& diags_;
  const std::string& file_;
  int number_;
  const std::vector<std::string>& words_;
};

// A defaults, listen, frontend or backend section as read so far.
struct ProxyDraft {
  Section section = Section::kDefaults;
  std::string name;
  Origin origin;
  bool valid = true;  // false after a header error: the body is still checked, never emitted
  Listener listener;
  Server default_server;
  // Rules copied from defaults; a proxy's own first rule replaces them rather than appending.
  bool rules_inherited = false;
  std::optional<std::string> default_backend;
  Origin default_backend_origin;
  std::vector<std::size_t> portless;  // servers written without a port
};

// ---------------------------------------------------------------------------------------------
// Argument helpers.

std::optional<std::uint64_t> number_at(const LineCtx& ctx, std::size_t at, std::string_view what,
                                       std::uint64_t max) {
  if (!ctx.has(at)) {
    ctx.error(quoted(what) + " expects an integer argument");
    return std::nullopt;
  }
  auto parsed = parse_unsigned(ctx.word(at), max);
  if (!parsed.value) {
    ctx.error(quoted(what) + ": " + parsed.error);
  }
  return parsed.value;
}

std::optional<Millis> duration_at(const LineCtx& ctx, std::size_t at, std::string_view what) {
  if (!ctx.has(at)) {
    ctx.error(quoted(what) + " expects a time argument (default unit ms)");
    return std::nullopt;
  }
  auto parsed = parse_duration(ctx.word(at));
  if (!parsed.value) {
    ctx.error(quoted(what) + ": " + parsed.error);
  }
  return parsed.value;
}

bool no_extra_words(const LineCtx& ctx, std::size_t from, std::string_view what) {
  if (ctx.has(from)) {
    ctx.error(quoted(what) + ": unexpected extra argument " + quoted(ctx.word(from)));
    return false;
  }
  return true;
}

// HAProxy's invalid_char(): proxy and server names are letters, digits and "-_.:".
bool valid_name(const LineCtx& ctx, std::string_view name, std::string_view what) {
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      ctx.error("character '" + std::string(1, c) + "' is not permitted in " + std::string(what) +
                " name " + quoted(name));
      return false;
    }
  }
  return true;
}

template <typename Row, std::size_t N>
const Row* find_row(const Row (&rows)[N], std::string_view name) {
  for (const Row& row : rows) {
    if (row.name == name) {
      return &row;
    }
  }
  return nullptr;
}

template <typename Row, std::size_t N>
std::string suggest_row(const Row (&rows)[N], std::string_view name) {
  std::vector<std::string_view> names;
  names.reserve(N);
  for (const Row& row : rows) {
    names.push_back(row.name);
  }
  return did_you_mean(name, names);
}

// ---------------------------------------------------------------------------------------------
// Option lists after a keyword (bind, server, default-server, tcp-check connect): one row per
// option naming its parser and how many arguments it takes.

template <typename Target>
struct OptionRow {
  std::string_view name;
  std::size_t args;
  void (*parse)(const LineCtx& ctx, std::size_t at, Target& target);
};

template <typename Target, std::size_t N>
void parse_options(const LineCtx& ctx, std::size_t from, const OptionRow<Target> (&rows)[N],
                   Target& target) {
  std::size_t i = from;
  while (ctx.has(i)) {
    const OptionRow<Target>* row = find_row(rows, ctx.word(i));
    if (row == nullptr) {
      // Past an unknown option the remaining words cannot be told apart from its arguments.
      ctx.error("unknown " + quoted(ctx.word(0)) + " option " + quoted(ctx.word(i)),
                suggest_row(rows, ctx.word(i)));
      return;
    }
    if (!ctx.has(i + row->args)) {
      ctx.error(quoted(ctx.word(0)) + " option " + quoted(row->name) + " expects an argument");
      return;
    }
    row->parse(ctx, i, target);
    i += 1 + row->args;
  }
}

template <typename Target>
void option_accepted(const LineCtx&, std::size_t, Target&) {}

template <typename Target>
void option_ignored(const LineCtx& ctx, std::size_t at, Target&) {
  ctx.warning(quoted(ctx.word(0)) + " option " + quoted(ctx.word(at)) + " is ignored by Postern");
}

// Postern rewrites packets and never holds a TLS session, so TLS settings cannot be honoured.
template <typename Target>
void option_tls(const LineCtx& ctx, std::size_t at, Target&) {
  ctx.error(quoted(ctx.word(0)) + " option " + quoted(ctx.word(at)) +
            " is not supported: Postern forwards TCP and terminates no TLS");
}

template <typename Target>
void option_refused(const LineCtx& ctx, std::size_t at, Target&) {
  ctx.error(quoted(ctx.word(0)) + " option " + quoted(ctx.word(at)) +
            " is not supported by Postern");
}

// --- bind options -----------------------------------------------------------------------------

struct BindOptions {
  bool accept_proxy = false;
};

void bind_accept_proxy(const LineCtx&, std::size_t, BindOptions& options) {
  options.accept_proxy = true;
}

constexpr OptionRow<BindOptions> kBindOptions[] = {
    {"accept-netscaler-cip", 1, option_refused<BindOptions>},
    {"accept-proxy", 0, bind_accept_proxy},
    {"allow-0rtt", 0, option_tls<BindOptions>},
    {"alpn", 1, option_tls<BindOptions>},
    {"backlog", 1, option_ignored<BindOptions>},
    {"ca-file", 1, option_tls<BindOptions>},
    {"ciphers", 1, option_tls<BindOptions>},
    {"ciphersuites", 1, option_tls<BindOptions>},
    {"crt", 1, option_tls<BindOptions>},
    {"crt-list", 1, option_tls<BindOptions>},
    {"defer-accept", 0, option_ignored<BindOptions>},
    {"gid", 1, option_ignored<BindOptions>},
    {"group", 1, option_ignored<BindOptions>},
    {"id", 1, option_ignored<BindOptions>},
    {"interface", 1, option_ignored<BindOptions>},
    {"level", 1, option_ignored<BindOptions>},
    {"maxconn", 1, option_ignored<BindOptions>},
    {"mode", 1, option_ignored<BindOptions>},
    {"mss", 1, option_ignored<BindOptions>},
    {"name", 1, option_ignored<BindOptions>},
    {"namespace", 1, option_ignored<BindOptions>},
    {"nice", 1, option_ignored<BindOptions>},
    {"npn", 1, option_tls<BindOptions>},
    {"process", 1, option_ignored<BindOptions>},
    {"proto", 1, option_refused<BindOptions>},
    {"ssl", 0, option_tls<BindOptions>},
    {"ssl-max-ver", 1, option_tls<BindOptions>},
    {"ssl-min-ver", 1, option_tls<BindOptions>},
    {"strict-sni", 0, option_tls<BindOptions>},
    {"tcp-ut", 1, option_ignored<BindOptions>},
    {"tfo", 0, option_ignored<BindOptions>},
    {"thread", 1, option_ignored<BindOptions>},
    {"transparent", 0, option_ignored<BindOptions>},
    {"uid", 1, option_ignored<BindOptions>},
    {"user", 1, option_ignored<BindOptions>},
    {"v4v6", 0, option_ignored<BindOptions>},
    {"v6only", 0, option_ignored<BindOptions>},
    {"verify", 1, option_tls<BindOptions>},
};

// --- server and default-server options --------------------------------------------------------

void server_check(const LineCtx&, std::size_t, Server& s) {
  s.check = true;
}
void server_no_check(const LineCtx&, std::size_t, Server& s) {
  s.check = false;
}
void server_backup(const LineCtx&, std::size_t, Server& s) {
  s.backup = true;
}
void server_no_backup(const LineCtx&, std::size_t, Server& s) {
  s.backup = false;
}
void server_disabled(const LineCtx&, std::size_t, Server& s) {
  s.disabled = true;
}
void server_enabled(const LineCtx&, std::size_t, Server& s) {
  s.disabled = false;
}
void server_send_proxy_v2(const LineCtx&, std::size_t, Server& s) {
  s.send_proxy_v2 = true;
}
void server_no_send_proxy_v2(const LineCtx&, std::size_t, Server& s) {
  s.send_proxy_v2 = false;
}
void server_check_send_proxy(const LineCtx&, std::size_t, Server& s) {
  s.check_send_proxy = true;
}
void server_no_check_send_proxy(const LineCtx&, std::size_t, Server& s) {
  s.check_send_proxy = false;
}

void server_send_proxy_v1(const LineCtx& ctx, std::size_t at, Server&) {
  ctx.error(quoted(ctx.word(0)) + " option " + quoted(ctx.word(at)) +
                ": Postern sends PROXY v2 only; use send-proxy-v2",
            "did you mean 'send-proxy-v2'?");
}

void server_weight(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "weight", UINT32_MAX)) {
    s.weight = static_cast<std::uint32_t>(*value);
  }
}

void server_rise(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "rise", UINT32_MAX)) {
    s.rise = static_cast<std::uint32_t>(*value);
  }
}

void server_fall(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "fall", UINT32_MAX)) {
    s.fall = static_cast<std::uint32_t>(*value);
  }
}

void server_maxconn(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "maxconn", UINT32_MAX)) {
    // HAProxy: "If the value is 0 (default), then there's no limit".
    s.maxconn = *value == 0 ? std::nullopt : std::optional<std::uint32_t>(*value);
  }
}

void server_inter(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = duration_at(ctx, at + 1, "inter")) {
    s.inter = *value;
  }
}

void server_fastinter(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = duration_at(ctx, at + 1, "fastinter")) {
    s.fastinter = *value;
  }
}

void server_downinter(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = duration_at(ctx, at + 1, "downinter")) {
    s.downinter = *value;
  }
}

void server_check_port(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "port", 65535)) {
    s.check_port = static_cast<std::uint16_t>(*value);
  }
}

void server_check_addr(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto address = IpAddress::parse(ctx.word(at + 1))) {
    s.check_addr = *address;
  } else {
    ctx.error("'addr': invalid IP address " + quoted(ctx.word(at + 1)));
  }
}

// slowstart <time>: 0 leaves it off, as HAProxy's srv_parse_slowstart stores 0 seconds.
void server_slowstart(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = duration_at(ctx, at + 1, "slowstart")) {
    s.slowstart = *value == 0 ? std::nullopt : std::optional<Millis>(*value);
  }
}

// on-marked-down shutdown-sessions, on-marked-up shutdown-backup-sessions: HAProxy knows one
// action each, and nothing turns them off again.
template <bool Server::*Field>
void server_marked_action(const LineCtx& ctx, std::size_t at, Server& s) {
  const std::string_view action = Field == &Server::shutdown_sessions_on_down
                                      ? "shutdown-sessions"
                                      : "shutdown-backup-sessions";
  const std::string& word = ctx.word(at + 1);
  if (word != action) {
    const std::string_view candidates[] = {action};
    ctx.error(quoted(ctx.word(at)) + " expects " + quoted(action) + " but got " + quoted(word),
              did_you_mean(word, candidates));
    return;
  }
  s.*Field = true;
}

// observe none|layer4. HAProxy's layer7 reads HTTP responses, which a TCP splice never parses.
void server_observe(const LineCtx& ctx, std::size_t at, Server& s) {
  static constexpr std::string_view kModes[] = {"none", "layer4"};
  const std::string& mode = ctx.word(at + 1);
  if (mode == "none") {
    s.observe_layer4 = false;
  } else if (mode == "layer4") {
    s.observe_layer4 = true;
  } else if (mode == "layer7") {
    ctx.error(
        "'observe layer7' is not supported: Postern splices TCP and never reads the "
        "server's responses",
        "use 'observe layer4'");
  } else {
    ctx.error("'observe' expects one of 'none', 'layer4', 'layer7' but got " + quoted(mode),
              did_you_mean(mode, kModes));
  }
}

void server_error_limit(const LineCtx& ctx, std::size_t at, Server& s) {
  if (auto value = number_at(ctx, at + 1, "error-limit", UINT32_MAX)) {
    s.error_limit = static_cast<std::uint32_t>(*value);  // 0 is the validator's error
  }
}

void server_on_error(const LineCtx& ctx, std::size_t at, Server& s) {
  const std::string& mode = ctx.word(at + 1);
  if (auto value = find_word(kOnErrorWords, mode)) {
    s.on_error = *value;
    return;
  }
  ctx.error(
      "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or "
      "'mark-down' but got " +
          quoted(mode),
      did_you_mean(mode, word_names(kOnErrorWords)));
}

constexpr OptionRow<Server> kServerOptions[] = {
    {"addr", 1, server_check_addr},
    {"agent-addr", 1, option_ignored<Server>},
    {"agent-check", 0, option_ignored<Server>},
    {"agent-inter", 1, option_ignored<Server>},
    {"agent-port", 1, option_ignored<Server>},
    {"agent-send", 1, option_ignored<Server>},
    {"alpn", 1, option_tls<Server>},
    {"backup", 0, server_backup},
    {"ca-file", 1, option_tls<Server>},
    {"check", 0, server_check},
    {"check-alpn", 1, option_tls<Server>},
    {"check-send-proxy", 0, server_check_send_proxy},
    {"check-sni", 1, option_tls<Server>},
    {"check-ssl", 0, option_tls<Server>},
    {"ciphers", 1, option_tls<Server>},
    {"cookie", 1, option_ignored<Server>},
    {"crt", 1, option_tls<Server>},
    {"disabled", 0, server_disabled},
    {"downinter", 1, server_downinter},
    {"enabled", 0, server_enabled},
    {"error-limit", 1, server_error_limit},
    {"fall", 1, server_fall},
    {"fastinter", 1, server_fastinter},
    {"id", 1, option_ignored<Server>},
    {"init-addr", 1, option_ignored<Server>},
    {"inter", 1, server_inter},
    {"maxconn", 1, server_maxconn},
    {"maxqueue", 1, option_ignored<Server>},
    {"minconn", 1, option_ignored<Server>},
    {"no-backup", 0, server_no_backup},
    {"no-check", 0, server_no_check},
    {"no-check-send-proxy", 0, server_no_check_send_proxy},
    {"no-send-proxy-v2", 0, server_no_send_proxy_v2},
    {"no-ssl", 0, option_accepted<Server>},
    {"observe", 1, server_observe},
    {"on-error", 1, server_on_error},
    {"on-marked-down", 1, server_marked_action<&Server::shutdown_sessions_on_down>},
    {"on-marked-up", 1, server_marked_action<&Server::shutdown_backup_sessions_on_up>},
    {"pool-max-conn", 1, option_ignored<Server>},
    {"pool-purge-delay", 1, option_ignored<Server>},
    {"port", 1, server_check_port},
    {"proto", 1, option_refused<Server>},
    {"resolve-prefer", 1, option_ignored<Server>},
    {"resolvers", 1, option_ignored<Server>},
    {"rise", 1, server_rise},
    {"send-proxy", 0, server_send_proxy_v1},
    {"send-proxy-v2", 0, server_send_proxy_v2},
    {"send-proxy-v2-ssl", 0, option_tls<Server>},
    {"send-proxy-v2-ssl-cn", 0, option_tls<Server>},
    {"slowstart", 1, server_slowstart},
    {"sni", 1, option_tls<Server>},
    {"socks4", 1, option_refused<Server>},
    {"source", 1, option_ignored<Server>},
    {"ssl", 0, option_tls<Server>},
    {"tfo", 0, option_ignored<Server>},
    {"track", 1, option_ignored<Server>},
    {"verify", 1, option_tls<Server>},
    {"verifyhost", 1, option_tls<Server>},
    {"weight", 1, server_weight},
};

// --- tcp-check connect options ----------------------------------------------------------------

void connect_port(const LineCtx& ctx, std::size_t at, TcpCheckRule& rule) {
  if (auto value = number_at(ctx, at + 1, "port", 65535)) {
    rule.port = static_cast<std::uint16_t>(*value);
  }
}

void connect_send_proxy(const LineCtx&, std::size_t, TcpCheckRule& rule) {
  rule.send_proxy = true;
}

// HAProxy closes a check with RST unless `linger` asks for FIN. Postern closes its checks with
// FIN in any case (a RST after a PROXY LOCAL header makes Postfix's smtpd exit), so `linger`
// changes nothing; it is kept so the dump shows what was written.
void connect_linger(const LineCtx&, std::size_t, TcpCheckRule& rule) {
  rule.linger = true;
}

void connect_addr(const LineCtx& ctx, std::size_t, TcpCheckRule&) {
  ctx.error("'tcp-check connect' option 'addr' is not supported",
            "set the check address with the server's 'addr' option");
}

constexpr OptionRow<TcpCheckRule> kConnectOptions[] = {
    {"addr", 1, connect_addr},
    {"alpn", 1, option_tls<TcpCheckRule>},
    {"comment", 1, option_accepted<TcpCheckRule>},
    {"default", 0, option_accepted<TcpCheckRule>},
    {"linger", 0, connect_linger},
    {"port", 1, connect_port},
    {"proto", 1, option_refused<TcpCheckRule>},
    {"send-proxy", 0, connect_send_proxy},
    {"sni", 1, option_tls<TcpCheckRule>},
    {"ssl", 0, option_tls<TcpCheckRule>},
    {"via-socks4", 0, option_refused<TcpCheckRule>},
};

// ---------------------------------------------------------------------------------------------
// `log` lines, in global and in proxies.

// log <address> [len <length>] [format <format>] [sample <ranges>:<size>] <facility>
//     [<level> [<minlevel>]]
std::optional<LogTarget> parse_log_target(const LineCtx& ctx) {
  if (!ctx.has(2)) {
    ctx.error("'log' expects either 'global' or <address> and <facility> as arguments");
    return std::nullopt;
  }
  LogTarget target;
  target.origin = ctx.origin();
  target.address = ctx.word(1);
  std::size_t i = 2;
  while (ctx.word(i) == "len" || ctx.word(i) == "format" || ctx.word(i) == "sample") {
    if (!ctx.has(i + 1)) {
      ctx.error("'log' option " + quoted(ctx.word(i)) + " expects an argument");
      return std::nullopt;
    }
    const std::string& value = ctx.word(i + 1);
    if (ctx.word(i) == "len") {
      // HAProxy: "log len must be between 80 and 65535".
      const auto len = parse_unsigned(value, kLogLenMax);
      if (!len.value || *len.value < kLogLenMin) {
        ctx.error("'log' 'len' must be between " + std::to_string(kLogLenMin) + " and " +
                  std::to_string(kLogLenMax) + ", not " + quoted(value));
        return std::nullopt;
      }
      target.len = static_cast<std::uint32_t>(*len.value);
    } else if (ctx.word(i) == "format") {
      if (!parse_log_format(value)) {
        ctx.error("'log': unknown format " + quoted(value),
                  did_you_mean(value, log_format_names()));
        return std::nullopt;
      }
      target.format = value;
    } else {
      ctx.warning("'log' option 'sample' is ignored by Postern: every line is sent");
    }
    i += 2;
  }
  if (!ctx.has(i)) {
    ctx.error("'log' expects a <facility> after the address");
    return std::nullopt;
  }
  if (!is_one_of(ctx.word(i), syslog_facilities())) {
    ctx.error("'log': unknown facility " + quoted(ctx.word(i)),
              did_you_mean(ctx.word(i), syslog_facilities()));
    return std::nullopt;
  }
  target.facility = ctx.word(i++);
  for (std::string* level : {&target.level, &target.min_level}) {
    if (!ctx.has(i)) {
      break;
    }
    if (!is_one_of(ctx.word(i), syslog_levels())) {
      ctx.error("'log': unknown level " + quoted(ctx.word(i)),
                did_you_mean(ctx.word(i), syslog_levels()));
      return std::nullopt;
    }
    *level = ctx.word(i++);
  }
  if (!no_extra_words(ctx, i, "log")) {
    return std::nullopt;
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// The global section.

void global_maxconn(const LineCtx& ctx, Global& global) {
  if (auto value = number_at(ctx, 1, "maxconn", UINT32_MAX)) {
    // A later file's value overrides an earlier one, as HAProxy's last assignment wins.
    global.maxconn = static_cast<std::uint32_t>(*value);
  }
  no_extra_words(ctx, 2, "maxconn");
}

// `log-send-hostname [<string>]`: the system's host name, or the one given.
void global_log_send_hostname(const LineCtx& ctx, Global& global) {
  global.log_send_hostname = ctx.word(1);
  no_extra_words(ctx, ctx.has(1) ? 2 : 1, "log-send-hostname");
}

void global_log_tag(const LineCtx& ctx, Global& global) {
  if (!ctx.has(1) || ctx.word(1).empty()) {
    ctx.error("'log-tag' expects a tag for syslog records");
    return;
  }
  global.log_tag = ctx.word(1);
  no_extra_words(ctx, 2, "log-tag");
}

void global_log(const LineCtx& ctx, Global& global) {
  if (ctx.word(1) == "global") {
    ctx.error("'log global' is only meaningful in a proxy section");
    return;
  }
  if (auto target = parse_log_target(ctx)) {
    global.log.push_back(std::move(*target));
  }
}

// Process management and tuning keywords an operator's file carries over from HAProxy. They are
// the service manager's or the dataplane section's business, so they are read and set aside.
void global_ignored(const LineCtx& ctx, Global&) {
  ctx.warning(quoted(ctx.word(0)) + " is ignored by Postern");
}

// --- stats socket: the runtime API --------------------------------------------------------------

struct SocketDraft {
  StatsSocket socket;
};

// level user|operator|admin (HAProxy's bind_parse_level()).
void socket_level(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  static constexpr std::string_view kLevels[] = {"user", "operator", "admin"};
  const std::string& word = ctx.word(at + 1);
  if (word == "user") {
    d.socket.level = ApiLevel::kUser;
  } else if (word == "operator") {
    d.socket.level = ApiLevel::kOperator;
  } else if (word == "admin") {
    d.socket.level = ApiLevel::kAdmin;
  } else {
    ctx.error("'stats socket' option 'level' only supports 'user', 'operator', and 'admin'",
              did_you_mean(word, kLevels));
  }
}

// mode <octal> (HAProxy's bind_parse_mode(): strtol base 8).
void socket_mode(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  const std::string& word = ctx.word(at + 1);
  std::uint32_t mode = 0;
  bool ok = !word.empty() && word.size() <= 4;
  for (char c : word) {
    if (c < '0' || c > '7') {
      ok = false;
      break;
    }
    mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (!ok) {
    ctx.error("'stats socket' option 'mode' expects permission bits in octal, like 600 or 0660");
    return;
  }
  d.socket.mode = mode;
}

void socket_user(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  d.socket.user = ctx.word(at + 1);
  d.socket.uid.reset();
}

void socket_group(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  d.socket.group = ctx.word(at + 1);
  d.socket.gid.reset();
}

void socket_uid(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  if (auto value = number_at(ctx, at + 1, "uid", UINT32_MAX)) {
    d.socket.uid = static_cast<std::uint32_t>(*value);
    d.socket.user.clear();
  }
}

void socket_gid(const LineCtx& ctx, std::size_t at, SocketDraft& d) {
  if (auto value = number_at(ctx, at + 1, "gid", UINT32_MAX)) {
    d.socket.gid = static_cast<std::uint32_t>(*value);
    d.socket.group.clear();
  }
}

// The `bind` options a stats socket may carry. Those about TCP sockets, TLS or threads have no
// meaning on Postern's UNIX socket and are set aside with a warning.
constexpr OptionRow<SocketDraft> kSocketOptions[] = {
    {"accept-proxy", 0, option_ignored<SocketDraft>},
    {"backlog", 1, option_ignored<SocketDraft>},
    {"crt", 1, option_tls<SocketDraft>},
    {"expose-fd", 1, option_ignored<SocketDraft>},
    {"gid", 1, socket_gid},
    {"group", 1, socket_group},
    {"id", 1, option_ignored<SocketDraft>},
    {"interface", 1, option_ignored<SocketDraft>},
    {"level", 1, socket_level},
    {"maxconn", 1, option_ignored<SocketDraft>},
    {"mode", 1, socket_mode},
    {"name", 1, option_ignored<SocketDraft>},
    {"nice", 1, option_ignored<SocketDraft>},
    {"process", 1, option_ignored<SocketDraft>},
    {"severity-output", 1, option_ignored<SocketDraft>},
    {"ssl", 0, option_tls<SocketDraft>},
    {"thread", 1, option_ignored<SocketDraft>},
    {"uid", 1, socket_uid},
    {"user", 1, socket_user},
};

// stats socket [<address:port>|<path>] [param*] (HAProxy's cli_parse_global()). Postern serves
// UNIX sockets: `unix@PATH` or a path; a TCP address (`ipv4@`, `ADDR:PORT`) or an abstract
// socket is set aside with a warning so the rest of the file still loads.
void global_stats_socket(const LineCtx& ctx, Global& global) {
  if (!ctx.has(2)) {
    ctx.error("'stats socket' in global section expects an address or a path to a UNIX socket");
    return;
  }
  std::string path = ctx.word(2);
  if (path.starts_with("unix@")) {
    path.erase(0, 5);
  }
  SocketDraft draft;
  draft.socket.origin = ctx.origin();
  const std::size_t errors_before = ctx.diags().errors();
  parse_options(ctx, 3, kSocketOptions, draft);
  if (ctx.diags().errors() != errors_before) {
    return;
  }
  if (path.empty() || path.find('@') != std::string::npos ||
      (path.front() != '/' && path.find(':') != std::string::npos)) {
    ctx.warning("'stats socket " + ctx.word(2) +
                "' is ignored: Postern serves the runtime API on UNIX socket paths only");
    return;
  }
  draft.socket.path = std::move(path);
  global.stats_sockets.push_back(std::move(draft.socket));
}

// stats socket|timeout|maxconn|bind-process (HAProxy's cli_parse_global()).
void global_stats(const LineCtx& ctx, Global& global) {
  const std::string& what = ctx.word(1);
  if (what == "socket") {
    global_stats_socket(ctx, global);
  } else if (what == "timeout") {
    if (auto value = duration_at(ctx, 2, "stats timeout")) {
      if (*value <= 0) {
        ctx.error("'stats timeout' expects a positive value");
      } else {
        global.stats_timeout = *value;
      }
    }
    no_extra_words(ctx, 3, "stats timeout");
  } else if (what == "maxconn") {
    if (auto value = number_at(ctx, 2, "stats maxconn", UINT32_MAX)) {
      if (*value == 0) {
        ctx.error("'stats maxconn' expects a positive value");
      } else {
        global.stats_maxconn = static_cast<std::uint32_t>(*value);
      }
    }
    no_extra_words(ctx, 3, "stats maxconn");
  } else if (what == "bind-process") {
    ctx.warning("'stats bind-process' is ignored by Postern");
  } else {
    ctx.error("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got " +
              quoted(what) + ")");
  }
}

// server-state-file <file>, server-state-base <directory>.
void global_server_state_file(const LineCtx& ctx, Global& global) {
  if (!ctx.has(1)) {
    ctx.error("'server-state-file' expects a file path");
    return;
  }
  if (no_extra_words(ctx, 2, "server-state-file")) {
    global.server_state_file = ctx.word(1);
  }
}

void global_server_state_base(const LineCtx& ctx, Global& global) {
  if (!ctx.has(1)) {
    ctx.error("'server-state-base' expects a directory path");
    return;
  }
  if (no_extra_words(ctx, 2, "server-state-base")) {
    global.server_state_base = ctx.word(1);
  }
}

struct GlobalKeyword {
  std::string_view name;
  void (*parse)(const LineCtx& ctx, Global& global);
};

constexpr GlobalKeyword kGlobalKeywords[] = {
    {"busy-polling", global_ignored},
    {"ca-base", global_ignored},
    {"chroot", global_ignored},
    {"cpu-map", global_ignored},
    {"crt-base", global_ignored},
    {"daemon", global_ignored},
    {"description", global_ignored},
    {"expose-experimental-directives", global_ignored},
    {"gid", global_ignored},
    {"group", global_ignored},
    {"hard-stop-after", global_ignored},
    {"insecure-fork-wanted", global_ignored},
    {"localpeer", global_ignored},
    {"log", global_log},
    {"log-send-hostname", global_log_send_hostname},
    {"log-tag", global_log_tag},
    {"master-worker", global_ignored},
    {"max-spread-checks", global_ignored},
    {"maxconn", global_maxconn},
    {"maxconnrate", global_ignored},
    {"maxpipes", global_ignored},
    {"maxsessrate", global_ignored},
    {"maxsslconn", global_ignored},
    {"nbproc", global_ignored},
    {"nbthread", global_ignored},
    {"node", global_ignored},
    {"noepoll", global_ignored},
    {"nopoll", global_ignored},
    {"nosplice", global_ignored},
    {"pidfile", global_ignored},
    {"presetenv", global_ignored},
    {"quiet", global_ignored},
    {"resetenv", global_ignored},
    {"server-state-base", global_server_state_base},
    {"server-state-file", global_server_state_file},
    {"set-dumpable", global_ignored},
    {"setenv", global_ignored},
    {"spread-checks", global_ignored},
    {"stats", global_stats},
    {"strict-limits", global_ignored},
    {"uid", global_ignored},
    {"ulimit-n", global_ignored},
    {"unsetenv", global_ignored},
    {"user", global_ignored},
    {"zero-warning", global_ignored},
};

// Families of tuning keywords matched by prefix (tune.bufsize, ssl-default-bind-ciphers, ...).
constexpr std::string_view kIgnoredGlobalPrefixes[] = {"tune.", "ssl-", "lua-"};

void parse_global_line(const LineCtx& ctx, Global& global) {
  const std::string& keyword = ctx.word(0);
  if (const GlobalKeyword* row = find_row(kGlobalKeywords, keyword)) {
    row->parse(ctx, global);
    return;
  }
  for (std::string_view prefix : kIgnoredGlobalPrefixes) {
    if (keyword.starts_with(prefix)) {
      global_ignored(ctx, global);
      return;
    }
  }
  ctx.error("unknown keyword " + quoted(keyword) + " in 'global' section",
            suggest_row(kGlobalKeywords, keyword));
}

// ---------------------------------------------------------------------------------------------
// Proxy sections (defaults, listen, frontend, backend).

// HAProxy's warnifnotcap()/failifnotcap(): a keyword for the other side of the proxy.
enum class OnMissingCap : std::uint8_t { kWarn, kFail };

bool has_capability(const LineCtx& ctx, const ProxyDraft& draft, std::string_view what,
                    unsigned caps, OnMissingCap on_missing) {
  if ((capabilities(draft.section) & caps) != 0) {
    return true;
  }
  const std::string lacking = caps == kCapBe ? "no backend" : "no frontend";
  const std::string whose = std::string(section_word(draft.section)) + " " + quoted(draft.name);
  if (on_missing == OnMissingCap::kFail) {
    ctx.error(quoted(what) + " not allowed because " + whose + " has " + lacking + " capability");
  } else {
    ctx.warning(quoted(what) + " ignored because " + whose + " has " + lacking + " capability");
  }
  return false;
}

void kw_accepted(const LineCtx&, ProxyDraft&) {}

void kw_ignored(const LineCtx& ctx, ProxyDraft&) {
  ctx.warning(quoted(ctx.word(0)) + " is ignored by Postern");
}

// HAProxy itself ignores HTTP rules in a TCP proxy with a warning ("... requires HTTP mode").
void kw_http_only(const LineCtx& ctx, ProxyDraft& draft) {
  ctx.warning(quoted(ctx.word(0)) + " ignored for " + std::string(section_word(draft.section)) +
              " " + quoted(draft.name) + " as it requires HTTP mode");
}

void kw_refused(const LineCtx& ctx, ProxyDraft&) {
  ctx.error(quoted(ctx.word(0)) + " is not supported by Postern");
}

void kw_disabled(const LineCtx& ctx, ProxyDraft&) {
  ctx.error("'disabled' proxies are not supported by Postern", "remove the section instead");
}

// HAProxy 2.1 removed these (src/proxy.c proxy_parse_timeout); so does Postern.
void kw_removed_timeout(const LineCtx& ctx, ProxyDraft&) {
  const std::string& keyword = ctx.word(0);
  const std::string replacement = keyword == "clitimeout"   ? "client"
                                  : keyword == "srvtimeout" ? "server"
                                                            : "connect";
  ctx.error("the " + quoted(keyword) + " directive is not supported anymore since HAProxy 2.1",
            "use 'timeout " + replacement + "'");
}

void kw_mode(const LineCtx& ctx, ProxyDraft&) {
  static constexpr std::string_view kModes[] = {"tcp", "http", "health"};
  const std::string& mode = ctx.word(1);
  if (mode == "tcp") {
    no_extra_words(ctx, 2, "mode");
  } else if (mode == "http") {
    ctx.error("'mode http' is not supported: Postern balances TCP only");
  } else if (mode == "health") {
    ctx.error("'mode health' is not supported (removed in HAProxy 2.4)");
  } else if (mode.empty()) {
    ctx.error("'mode' expects 'tcp'");
  } else {
    ctx.error("unknown proxy mode " + quoted(mode), did_you_mean(mode, kModes));
  }
}

void kw_balance(const LineCtx& ctx, ProxyDraft& draft) {
  static constexpr std::string_view kSupported[] = {"roundrobin", "static-rr"};
  static constexpr std::string_view kKnown[] = {
      "roundrobin", "static-rr", "leastconn", "first",      "source", "uri",
      "url_param",  "hdr",       "random",    "rdp-cookie", "hash",
  };
  if (!ctx.has(1)) {
    ctx.error("'balance' expects an algorithm ('roundrobin' or 'static-rr')");
    return;
  }
  const std::string& word = ctx.word(1);
  // hdr(<name>), rdp-cookie(<name>), random(<draws>): the algorithm is the part before '('.
  const std::string algorithm = word.substr(0, word.find('('));
  if (algorithm == "roundrobin") {
    draft.listener.balance = Balance::kRoundRobin;
  } else if (algorithm == "static-rr") {
    draft.listener.balance = Balance::kStaticRoundRobin;
  } else if (is_one_of(algorithm, kKnown)) {
    ctx.error("'balance " + algorithm + "' is not supported by Postern",
              "use 'roundrobin' or 'static-rr'");
    return;
  } else {
    ctx.error("'balance': unknown algorithm " + quoted(word), did_you_mean(word, kSupported));
    return;
  }
  no_extra_words(ctx, 2, "balance");
}

void kw_maxconn(const LineCtx& ctx, ProxyDraft& draft) {
  if (auto value = number_at(ctx, 1, "maxconn", UINT32_MAX)) {
    draft.listener.maxconn = static_cast<std::uint32_t>(*value);
  }
  no_extra_words(ctx, 2, "maxconn");
}

void kw_retries(const LineCtx& ctx, ProxyDraft& draft) {
  if (auto value = number_at(ctx, 1, "retries", UINT32_MAX)) {
    draft.listener.retries = static_cast<std::uint32_t>(*value);
  }
  no_extra_words(ctx, 2, "retries");
}

void kw_log(const LineCtx& ctx, ProxyDraft& draft) {
  if (ctx.word(1) == "global") {
    if (no_extra_words(ctx, 2, "log global")) {
      LogTarget target;
      target.global = true;
      target.origin = ctx.origin();
      draft.listener.log.push_back(std::move(target));
    }
    return;
  }
  if (auto target = parse_log_target(ctx)) {
    draft.listener.log.push_back(std::move(*target));
  }
}

void kw_log_tag(const LineCtx& ctx, ProxyDraft& draft) {
  if (!ctx.has(1) || ctx.word(1).empty()) {
    ctx.error("'log-tag' expects a tag for syslog records");
    return;
  }
  draft.listener.log_tag = ctx.word(1);
  no_extra_words(ctx, 2, "log-tag");
}

void kw_bind(const LineCtx& ctx, ProxyDraft& draft) {
  if (!ctx.has(1)) {
    ctx.error("'bind' expects [<address>]:<port>[,...] as arguments");
    return;
  }
  BindOptions options;
  parse_options(ctx, 2, kBindOptions, options);
  // HAProxy accepts a comma-separated list of addresses on one bind line.
  std::stringstream list(ctx.word(1));
  std::string item;
  while (std::getline(list, item, ',')) {
    const HostPortResult result = parse_host_port(item, PortRule::kRequired);
    if (!result.value) {
      ctx.error("'bind': " + result.error, result.hint);
      continue;
    }
    Bind bind;
    bind.endpoint = Endpoint{result.value->address, *result.value->port};
    bind.accept_proxy = options.accept_proxy;
    bind.origin = ctx.origin();
    draft.listener.binds.push_back(std::move(bind));
  }
}

void kw_server(const LineCtx& ctx, ProxyDraft& draft) {
  if (!ctx.has(2)) {
    ctx.error("'server' expects <name> and <address>[:<port>] as arguments");
    return;
  }
  // A server starts from the default-server settings in effect on this line.
  Server server = draft.default_server;
  server.name = ctx.word(1);
  server.origin = ctx.origin();
  const bool name_ok = valid_name(ctx, server.name, "server");
  const HostPortResult address = parse_host_port(ctx.word(2), PortRule::kOptional);
  if (!address.value) {
    ctx.error("server " + quoted(server.name) + ": " + address.error, address.hint);
  } else {
    server.endpoint = Endpoint{address.value->address, address.value->port.value_or(0)};
  }
  parse_options(ctx, 3, kServerOptions, server);
  if (!address.value || !name_ok) {
    return;
  }
  if (!address.value->port) {
    draft.portless.push_back(draft.listener.servers.size());
  }
  draft.listener.servers.push_back(std::move(server));
}

void kw_default_server(const LineCtx& ctx, ProxyDraft& draft) {
  parse_options(ctx, 1, kServerOptions, draft.default_server);
}

void kw_default_backend(const LineCtx& ctx, ProxyDraft& draft) {
  if (draft.section == Section::kListen) {
    ctx.error("'default_backend' in a 'listen' section is not supported",
              "Postern joins a 'frontend' with its default_backend; use 'server' lines here");
    return;
  }
  if (!ctx.has(1)) {
    ctx.error("'default_backend' expects a backend name");
    return;
  }
  no_extra_words(ctx, 2, "default_backend");
  draft.default_backend = ctx.word(1);
  draft.default_backend_origin = ctx.origin();
}

// load-server-state-from-file { global | local | none } (HAProxy's proxy_parse_...()).
void kw_load_server_state(const LineCtx& ctx, ProxyDraft& draft) {
  static constexpr std::string_view kModes[] = {"global", "local", "none"};
  const std::string& word = ctx.word(1);
  if (word == "global") {
    draft.listener.load_server_state = ServerStateLoad::kGlobal;
  } else if (word == "local") {
    draft.listener.load_server_state = ServerStateLoad::kLocal;
  } else if (word == "none") {
    draft.listener.load_server_state = ServerStateLoad::kNone;
  } else {
    ctx.error(
        "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got " + quoted(word),
        did_you_mean(word, kModes));
    return;
  }
  no_extra_words(ctx, 2, "load-server-state-from-file");
}

// server-state-file-name [ { use-backend-name | <file> } ]
void kw_server_state_file_name(const LineCtx& ctx, ProxyDraft& draft) {
  const std::string& word = ctx.word(1);
  draft.listener.server_state_file_name = word == "use-backend-name" ? std::string() : word;
  no_extra_words(ctx, 2, "server-state-file-name");
}

void kw_use_backend(const LineCtx& ctx, ProxyDraft&) {
  ctx.error(
      "'use_backend' is not supported: Postern joins each frontend with its one "
      "default_backend");
}

// --- timeout ----------------------------------------------------------------------------------

struct TimeoutKeyword {
  std::string_view name;
  unsigned caps;
  std::optional<Millis> Timeouts::*field;  // null: an HTTP-only timer Postern has no use for
};

constexpr TimeoutKeyword kTimeouts[] = {
    {"check", kCapBe, &Timeouts::check},           {"client", kCapFe, &Timeouts::client},
    {"client-fin", kCapFe, &Timeouts::client_fin}, {"connect", kCapBe, &Timeouts::connect},
    {"http-keep-alive", kCapBoth, nullptr},        {"http-request", kCapBoth, nullptr},
    {"queue", kCapBe, &Timeouts::queue},           {"server", kCapBe, &Timeouts::server},
    {"server-fin", kCapBe, &Timeouts::server_fin}, {"tarpit", kCapBoth, nullptr},
    {"tunnel", kCapBe, &Timeouts::tunnel},
};

void kw_timeout(const LineCtx& ctx, ProxyDraft& draft) {
  const std::string& name = ctx.word(1);
  const TimeoutKeyword* row = find_row(kTimeouts, name);
  if (row == nullptr) {
    ctx.error(name.empty() ? "'timeout' expects a timer name and a value"
                           : "unknown timeout " + quoted(name),
              name.empty() ? "'client', 'connect', 'server', 'check', 'queue', 'tunnel', ..."
                           : suggest_row(kTimeouts, name));
    return;
  }
  const std::string what = "timeout " + name;
  const auto value = duration_at(ctx, 2, what);
  if (!value || !no_extra_words(ctx, 3, what)) {
    return;
  }
  if (row->field == nullptr) {
    ctx.warning(quoted(what) + " only matters in HTTP mode; Postern balances TCP and ignores it");
    return;
  }
  if (has_capability(ctx, draft, what, row->caps, OnMissingCap::kWarn)) {
    draft.listener.timeouts.*(row->field) = *value;
  }
}

// --- option / no option -----------------------------------------------------------------------

struct OptionKeyword {
  std::string_view name;
  unsigned caps;
  std::size_t max_args;
  void (*parse)(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, bool enable);
};

void opt_redispatch(const LineCtx&, std::size_t, ProxyDraft& draft, bool enable) {
  draft.listener.redispatch = enable;
}

void opt_dontlognull(const LineCtx&, std::size_t, ProxyDraft& draft, bool enable) {
  draft.listener.dontlognull = enable;
}

// The check options exclude each other and the last one wins, as HAProxy's `option *chk` do.
// `no option X` returns to the plain connect check only when X is the current one, as HAProxy
// treats its HTTP modes (`no option httpclose`); HAProxy 2.6 itself refuses negating a check
// option, so this only adds a way to cancel a check chosen in `defaults`.
void negate_check(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, CheckType type) {
  if (no_extra_words(ctx, at + 1, "no option " + ctx.word(at)) &&
      draft.listener.check_type == type) {
    select_check_type(draft.listener, CheckType::kConnect);
  }
}

void opt_tcp_check(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, bool enable) {
  if (!enable) {
    negate_check(ctx, at, draft, CheckType::kTcpCheck);
    return;
  }
  select_check_type(draft.listener, CheckType::kTcpCheck);
}

// option smtpchk [HELO|EHLO <domain>]. HAProxy quietly sends `HELO localhost` for any other
// verb or a verb without a domain (src/tcpcheck.c proxy_parse_smtpchk_opt); Postern refuses
// them, so the greeting sent is always the one written.
void opt_smtpchk(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, bool enable) {
  if (!enable) {
    negate_check(ctx, at, draft, CheckType::kSmtp);
    return;
  }
  std::string verb;
  std::string domain;
  if (ctx.has(at + 1)) {
    verb = ctx.word(at + 1);
    if (verb != "HELO" && verb != "EHLO") {
      std::string upper = verb;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      ctx.error("'option smtpchk': unknown verb " + quoted(verb) +
                    " (HAProxy would send 'HELO localhost' instead)",
                upper == "HELO" || upper == "EHLO" ? "did you mean " + quoted(upper) + "?"
                                                   : "use 'HELO <domain>' or 'EHLO <domain>'");
      return;
    }
    if (!ctx.has(at + 2)) {
      ctx.error("'option smtpchk " + verb + "' expects a domain",
                "HAProxy would send 'HELO localhost' instead");
      return;
    }
    domain = ctx.word(at + 2);
    if (!is_smtp_domain(domain)) {
      ctx.error("'option smtpchk " + verb + "': the domain " + quoted(domain) +
                " must be one word without spaces or control characters");
      return;
    }
  }
  select_check_type(draft.listener, CheckType::kSmtp);
  draft.listener.smtpchk_verb = std::move(verb);
  draft.listener.smtpchk_domain = std::move(domain);
}

// option mail-check [imap|pop3|lmtp|smtp|sieve]: Postern's own; without a protocol, the
// server's check port names it (mail_protocol_for_port).
void opt_mail_check(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, bool enable) {
  if (!enable) {
    negate_check(ctx, at, draft, CheckType::kMail);
    return;
  }
  MailProtocol protocol = MailProtocol::kAuto;
  if (ctx.has(at + 1)) {
    const std::string& word = ctx.word(at + 1);
    const auto found = find_word(kMailProtocolWords, word);
    if (!found) {
      ctx.error("'option mail-check': unknown protocol " + quoted(word) +
                    " (imap, pop3, lmtp, smtp or sieve)",
                did_you_mean(word, word_names(kMailProtocolWords)));
      return;
    }
    protocol = *found;
  }
  select_check_type(draft.listener, CheckType::kMail);
  draft.listener.mail_protocol = protocol;
}

// Postern's connection log is the TCP one, so tcplog is what it does anyway.
void opt_accepted(const LineCtx&, std::size_t, ProxyDraft&, bool) {}

void opt_ignored(const LineCtx& ctx, std::size_t at, ProxyDraft&, bool) {
  ctx.warning("'option " + ctx.word(at) + "' is ignored by Postern");
}

// Keep-alive probes travel end to end: Postern rewrites packets and owns neither TCP session.
void opt_keepalive(const LineCtx& ctx, std::size_t at, ProxyDraft&, bool) {
  ctx.warning("'option " + ctx.word(at) +
              "' is ignored: Postern does not terminate TCP, so keep-alives pass through");
}

// As HAProxy in a TCP proxy: "'option httplog' not usable ... Falling back to 'option tcplog'".
void opt_httplog(const LineCtx& ctx, std::size_t, ProxyDraft& draft, bool) {
  ctx.warning("'option httplog' not usable with " + std::string(section_word(draft.section)) + " " +
              quoted(draft.name) + " (needs 'mode http'); falling back to 'option tcplog'");
}

void opt_http_only(const LineCtx& ctx, std::size_t at, ProxyDraft& draft, bool) {
  ctx.warning("'option " + ctx.word(at) + "' ignored for " +
              std::string(section_word(draft.section)) + " " + quoted(draft.name) +
              " as it requires HTTP mode");
}

void opt_protocol_check(const LineCtx& ctx, std::size_t at, ProxyDraft&, bool) {
  ctx.error("'option " + ctx.word(at) + "' is not supported by Postern",
            "use 'option tcp-check' with 'tcp-check' rules");
}

void opt_refused(const LineCtx& ctx, std::size_t at, ProxyDraft&, bool) {
  ctx.error("'option " + ctx.word(at) + "' is not supported by Postern");
}

constexpr std::size_t kAnyArgs = 64;

constexpr OptionKeyword kOptions[] = {
    {"abortonclose", kCapBe, 0, opt_ignored},
    {"allbackups", kCapBe, 0, opt_ignored},
    {"clitcpka", kCapFe, 0, opt_keepalive},
    {"contstats", kCapFe, 0, opt_ignored},
    {"dontlog-normal", kCapFe, 0, opt_ignored},
    {"dontlognull", kCapFe, 0, opt_dontlognull},
    {"external-check", kCapBe, 0, opt_protocol_check},
    {"forwardfor", kCapBoth, kAnyArgs, opt_http_only},
    {"http-keep-alive", kCapBoth, 0, opt_http_only},
    {"http-server-close", kCapBoth, 0, opt_http_only},
    {"httpchk", kCapBe, kAnyArgs, opt_protocol_check},
    {"httpclose", kCapBoth, 0, opt_http_only},
    {"httplog", kCapFe, 1, opt_httplog},
    {"independent-streams", kCapBoth, 0, opt_ignored},
    {"ldap-check", kCapBe, 0, opt_protocol_check},
    {"log-health-checks", kCapBe, 0, opt_ignored},
    {"log-separate-errors", kCapFe, 0, opt_ignored},
    {"logasap", kCapFe, 0, opt_ignored},
    {"mail-check", kCapBe, 1, opt_mail_check},
    {"mysql-check", kCapBe, kAnyArgs, opt_protocol_check},
    {"nolinger", kCapBoth, 0, opt_ignored},
    {"persist", kCapBe, 0, opt_ignored},
    {"pgsql-check", kCapBe, kAnyArgs, opt_protocol_check},
    {"prefer-last-server", kCapBe, 0, opt_ignored},
    {"redis-check", kCapBe, 0, opt_protocol_check},
    {"redispatch", kCapBe, 1, opt_redispatch},
    {"smtpchk", kCapBe, 2, opt_smtpchk},
    {"socket-stats", kCapFe, 0, opt_ignored},
    {"splice-auto", kCapBoth, 0, opt_ignored},
    {"splice-request", kCapBoth, 0, opt_ignored},
    {"splice-response", kCapBoth, 0, opt_ignored},
    {"spop-check", kCapBe, 0, opt_protocol_check},
    {"srvtcpka", kCapBe, 0, opt_keepalive},
    {"ssl-hello-chk", kCapBe, 0, opt_protocol_check},
    {"tcp-check", kCapBe, 0, opt_tcp_check},
    {"tcp-smart-accept", kCapFe, 0, opt_ignored},
    {"tcp-smart-connect", kCapBe, 0, opt_ignored},
    {"tcpka", kCapBoth, 0, opt_keepalive},
    {"tcplog", kCapFe, 0, opt_accepted},
    {"transparent", kCapBe, 0, opt_refused},
};

// `option X` (at = 1) or `no option X` (at = 2).
void parse_option(const LineCtx& ctx, ProxyDraft& draft, std::size_t at, bool enable) {
  const std::string& name = ctx.word(at);
  if (name.empty()) {
    ctx.error("'option' expects an option name");
    return;
  }
  const OptionKeyword* row = find_row(kOptions, name);
  if (row == nullptr) {
    ctx.error("unknown option " + quoted(name), suggest_row(kOptions, name));
    return;
  }
  if (ctx.size() > at + 1 + row->max_args) {
    ctx.error("'option " + name + "': unexpected extra argument " +
              quoted(ctx.word(at + 1 + row->max_args)));
    return;
  }
  if (has_capability(ctx, draft, "option " + name, row->caps, OnMissingCap::kWarn)) {
    row->parse(ctx, at, draft, enable);
  }
}

void kw_option(const LineCtx& ctx, ProxyDraft& draft) {
  parse_option(ctx, draft, 1, true);
}

void kw_no(const LineCtx& ctx, ProxyDraft& draft) {
  if (ctx.word(1) == "option") {
    parse_option(ctx, draft, 2, false);
  } else if (ctx.word(1) == "log") {
    // HAProxy: "no log" drops the log targets inherited from defaults.
    if (no_extra_words(ctx, 2, "no log")) {
      draft.listener.log.clear();
    }
  } else {
    ctx.error("'no' expects 'option' or 'log'");
  }
}

// --- tcp-check --------------------------------------------------------------------------------

void add_rule(ProxyDraft& draft, TcpCheckRule rule) {
  if (draft.rules_inherited) {
    draft.listener.tcp_check_rules.clear();
    draft.rules_inherited = false;
  }
  draft.listener.tcp_check_rules.push_back(std::move(rule));
}

void tcp_check_connect(const LineCtx& ctx, ProxyDraft& draft) {
  TcpCheckRule rule;
  rule.kind = TcpCheckRule::Kind::kConnect;
  rule.origin = ctx.origin();
  const std::size_t errors_before = ctx.diags().errors();
  parse_options(ctx, 2, kConnectOptions, rule);
  if (ctx.diags().errors() == errors_before) {
    add_rule(draft, std::move(rule));
  }
}

// tcp-check send <data> [comment <msg>], and send-binary with hex data.
void parse_send(const LineCtx& ctx, ProxyDraft& draft, TcpCheckRule::Kind kind) {
  const std::string what = "tcp-check " + ctx.word(1);
  if (!ctx.has(2)) {
    ctx.error(quoted(what) + " expects data to send");
    return;
  }
  std::size_t end = 3;
  if (ctx.word(3) == "comment") {
    if (!ctx.has(4)) {
      ctx.error(quoted(what) + " option 'comment' expects an argument");
      return;
    }
    end = 5;
  }
  if (!no_extra_words(ctx, end, what)) {
    return;
  }
  TcpCheckRule rule;
  rule.kind = kind;
  rule.origin = ctx.origin();
  if (kind == TcpCheckRule::Kind::kSendBinary) {
    auto hex = parse_hex(ctx.word(2));
    if (!hex.value) {
      ctx.error(quoted(what) + ": " + hex.error);
      return;
    }
    rule.data = std::move(*hex.value);
  } else {
    rule.data = ctx.word(2);
  }
  add_rule(draft, std::move(rule));
}

void tcp_check_send(const LineCtx& ctx, ProxyDraft& draft) {
  parse_send(ctx, draft, TcpCheckRule::Kind::kSend);
}

void tcp_check_send_binary(const LineCtx& ctx, ProxyDraft& draft) {
  parse_send(ctx, draft, TcpCheckRule::Kind::kSendBinary);
}

// tcp-check expect [min-recv <int>] [comment <msg>] [ok-status <st>] ... [!] <match> <pattern>
// As HAProxy's parse_tcpcheck_expect() the words may come in any order, and the '!' may stand
// alone or prefix the match ("! string" and "!string").
void tcp_check_expect(const LineCtx& ctx, ProxyDraft& draft) {
  static constexpr std::string_view kOptionsWithValue[] = {
      "comment",  "error-status", "min-recv",    "ok-status",
      "on-error", "on-success",   "status-code", "tout-status"};
  static constexpr std::string_view kMatches[] = {"string",  "rstring",   "binary",
                                                  "rbinary", "string-lf", "binary-lf"};
  TcpCheckRule rule;
  rule.kind = TcpCheckRule::Kind::kExpect;
  rule.origin = ctx.origin();
  bool have_match = false;
  for (std::size_t i = 2; i < ctx.size(); ++i) {
    std::string word = ctx.word(i);
    if (is_one_of(word, kOptionsWithValue)) {
      if (!ctx.has(i + 1)) {
        ctx.error("'tcp-check expect' option " + quoted(word) + " expects an argument");
        return;
      }
      if (word != "comment") {
        ctx.warning("'tcp-check expect' option " + quoted(word) + " is ignored by Postern");
      }
      ++i;
      continue;
    }
    if (have_match) {
      ctx.error("'tcp-check expect': unexpected extra argument " + quoted(word));
      return;
    }
    if (word == "!") {
      rule.negate = true;
      continue;
    }
    if (word.starts_with('!')) {
      rule.negate = true;
      word.erase(0, 1);
    }
    if (word == "string") {
      rule.match = TcpCheckRule::Match::kString;
    } else if (word == "rstring") {
      rule.match = TcpCheckRule::Match::kRstring;
    } else if (word == "binary") {
      rule.match = TcpCheckRule::Match::kBinary;
    } else if (is_one_of(word, kMatches)) {
      ctx.error("'tcp-check expect " + word + "' is not supported by Postern",
                "use 'string', 'rstring' or 'binary'");
      return;
    } else {
      ctx.error("'tcp-check expect': unknown match " + quoted(word), did_you_mean(word, kMatches));
      return;
    }
    if (!ctx.has(i + 1)) {
      ctx.error("'tcp-check expect " + word + "' expects a pattern");
      return;
    }
    rule.data = ctx.word(++i);
    have_match = true;
  }
  if (!have_match) {
    ctx.error("'tcp-check expect' expects [!] <match> <pattern>");
    return;
  }
  if (rule.match == TcpCheckRule::Match::kBinary) {
    auto hex = parse_hex(rule.data);
    if (!hex.value) {
      ctx.error("'tcp-check expect binary': " + hex.error);
      return;
    }
    rule.data = std::move(*hex.value);
  }
  add_rule(draft, std::move(rule));
}

void tcp_check_comment(const LineCtx&, ProxyDraft&) {}

void tcp_check_refused(const LineCtx& ctx, ProxyDraft&) {
  ctx.error("'tcp-check " + ctx.word(1) + "' is not supported by Postern");
}

struct TcpCheckKeyword {
  std::string_view name;
  void (*parse)(const LineCtx& ctx, ProxyDraft& draft);
};

constexpr TcpCheckKeyword kTcpCheckKeywords[] = {
    {"comment", tcp_check_comment},         {"connect", tcp_check_connect},
    {"expect", tcp_check_expect},           {"send", tcp_check_send},
    {"send-binary", tcp_check_send_binary}, {"send-binary-lf", tcp_check_refused},
    {"send-lf", tcp_check_refused},         {"set-var", tcp_check_refused},
    {"unset-var", tcp_check_refused},
};

void kw_tcp_check(const LineCtx& ctx, ProxyDraft& draft) {
  const std::string& action = ctx.word(1);
  // set-var(<name>) carries its argument in parentheses.
  const TcpCheckKeyword* row = find_row(kTcpCheckKeywords, action.substr(0, action.find('(')));
  if (row == nullptr) {
    ctx.error(action.empty() ? "'tcp-check' expects an action"
                             : "unknown 'tcp-check' action " + quoted(action),
              suggest_row(kTcpCheckKeywords, action));
    return;
  }
  row->parse(ctx, draft);
}

// --- the proxy keyword table ------------------------------------------------------------------

struct ProxyKeyword {
  std::string_view name;
  unsigned caps;
  bool in_defaults;  // HAProxy: "'%s' not allowed in 'defaults' section" otherwise
  OnMissingCap on_missing_cap;
  void (*parse)(const LineCtx& ctx, ProxyDraft& draft);
};

constexpr auto kWarn = OnMissingCap::kWarn;
constexpr auto kFail = OnMissingCap::kFail;

constexpr ProxyKeyword kProxyKeywords[] = {
    {"acl", kCapBoth, false, kWarn, kw_ignored},
    {"backlog", kCapFe, true, kWarn, kw_ignored},
    {"balance", kCapBe, true, kWarn, kw_balance},
    {"bind", kCapFe, false, kWarn, kw_bind},
    {"capture", kCapFe, false, kWarn, kw_http_only},
    {"clitimeout", kCapBoth, true, kWarn, kw_removed_timeout},
    {"compression", kCapBoth, true, kWarn, kw_http_only},
    {"contimeout", kCapBoth, true, kWarn, kw_removed_timeout},
    {"cookie", kCapBe, true, kWarn, kw_http_only},
    {"default-server", kCapBe, true, kFail, kw_default_server},
    {"default_backend", kCapFe, true, kFail, kw_default_backend},
    {"description", kCapBoth, false, kWarn, kw_accepted},
    {"disabled", kCapBoth, true, kWarn, kw_disabled},
    {"enabled", kCapBoth, true, kWarn, kw_accepted},
    {"errorfile", kCapBoth, true, kWarn, kw_http_only},
    {"fullconn", kCapBe, true, kWarn, kw_ignored},
    {"hash-type", kCapBe, true, kWarn, kw_ignored},
    {"http-check", kCapBe, true, kWarn, kw_http_only},
    {"http-request", kCapBoth, false, kWarn, kw_http_only},
    {"http-response", kCapBoth, false, kWarn, kw_http_only},
    {"id", kCapBoth, false, kWarn, kw_accepted},
    {"log", kCapBoth, true, kWarn, kw_log},
    {"log-format", kCapFe, true, kWarn, kw_ignored},
    {"load-server-state-from-file", kCapBe, true, kWarn, kw_load_server_state},
    {"log-tag", kCapBoth, true, kWarn, kw_log_tag},
    {"maxconn", kCapFe, true, kWarn, kw_maxconn},
    {"mode", kCapBoth, true, kWarn, kw_mode},
    {"monitor-uri", kCapFe, true, kWarn, kw_http_only},
    {"no", kCapBoth, true, kWarn, kw_no},
    {"option", kCapBoth, true, kWarn, kw_option},
    {"rate-limit", kCapFe, true, kWarn, kw_ignored},
    {"redirect", kCapBoth, false, kWarn, kw_http_only},
    {"retries", kCapBe, true, kWarn, kw_retries},
    {"server", kCapBe, false, kFail, kw_server},
    {"server-state-file-name", kCapBe, false, kWarn, kw_server_state_file_name},
    {"source", kCapBe, true, kWarn, kw_ignored},
    {"srvtimeout", kCapBoth, true, kWarn, kw_removed_timeout},
    {"stats", kCapBoth, true, kWarn, kw_http_only},
    {"stick", kCapBe, false, kFail, kw_refused},
    {"stick-table", kCapBoth, false, kFail, kw_refused},
    {"tcp-check", kCapBe, true, kWarn, kw_tcp_check},
    {"tcp-request", kCapBoth, false, kFail, kw_refused},
    {"tcp-response", kCapBe, false, kFail, kw_refused},
    {"timeout", kCapBoth, true, kWarn, kw_timeout},
    {"use-server", kCapBe, false, kFail, kw_refused},
    {"use_backend", kCapFe, false, kFail, kw_use_backend},
};

void parse_proxy_line(const LineCtx& ctx, ProxyDraft& draft) {
  const std::string& keyword = ctx.word(0);
  const ProxyKeyword* row = find_row(kProxyKeywords, keyword);
  if (row == nullptr) {
    ctx.error("unknown keyword " + quoted(keyword) + " in " + quoted(section_word(draft.section)) +
                  " section",
              suggest_row(kProxyKeywords, keyword));
    return;
  }
  if (draft.section == Section::kDefaults && !row->in_defaults) {
    ctx.error(quoted(keyword) + " not allowed in 'defaults' section");
    return;
  }
  if (!has_capability(ctx, draft, keyword, row->caps, row->on_missing_cap)) {
    return;
  }
  row->parse(ctx, draft);
}

// ---------------------------------------------------------------------------------------------
// Section headers.

struct SectionKeyword {
  std::string_view name;
  Section section;
};

constexpr SectionKeyword kSections[] = {
    {"backend", Section::kBackend},     {"cache", Section::kIgnored},
    {"defaults", Section::kDefaults},   {"fcgi-app", Section::kIgnored},
    {"frontend", Section::kFrontend},   {"global", Section::kGlobal},
    {"http-errors", Section::kIgnored}, {"listen", Section::kListen},
    {"log-forward", Section::kIgnored}, {"mailers", Section::kIgnored},
    {"peers", Section::kIgnored},       {"program", Section::kIgnored},
    {"resolvers", Section::kIgnored},   {"ring", Section::kIgnored},
    {"userlist", Section::kIgnored},
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct HaproxyReader::State {
  State(Config& config, Diagnostics& diagnostics) : into(config), diags(diagnostics) {}

  // A frontend waiting for its backend: a placeholder listener in `into` filled by finish().
  struct FrontendSlot {
    std::size_t index;
    std::string backend;
    Origin backend_origin;
  };
  struct BackendEntry {
    ProxyDraft draft;
    bool used = false;
  };

  Config& into;
  Diagnostics& diags;
  Section section = Section::kNone;
  ProxyDraft current;
  ProxyDraft defaults;  // HAProxy's curr_defproxy: the last defaults section read
  std::map<std::string, ProxyDraft, std::less<>> named_defaults;
  std::vector<FrontendSlot> frontends;
  std::map<std::string, BackendEntry, std::less<>> backends;
  std::vector<std::string> backend_order;
  // Proxy names per side: HAProxy lets a frontend and a backend share a name, nothing else.
  struct Declared {
    Section section;
    Origin origin;
  };
  std::map<std::string, Declared, std::less<>> frontend_names;
  std::map<std::string, Declared, std::less<>> backend_names;

  void read(const std::string& text, const std::string& file);
  void handle_line(const LineCtx& ctx);
  void open_section(const LineCtx& ctx, Section kind);
  void close_section();
  void finish();
};

void HaproxyReader::State::read(const std::string& text, const std::string& file) {
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    TokenizedLine tokens = tokenize_line(line);
    if (!tokens.error.empty()) {
      diags.error(file, number, 0, tokens.error);
      continue;
    }
    if (tokens.words.empty()) {
      continue;
    }
    handle_line(LineCtx(diags, file, number, tokens.words));
  }
  // A section never continues into the next file (HAProxy's readcfgfile() closes it).
  close_section();
}

void HaproxyReader::State::handle_line(const LineCtx& ctx) {
  const std::string& keyword = ctx.word(0);
  if (const SectionKeyword* header = find_row(kSections, keyword)) {
    close_section();
    open_section(ctx, header->section);
    return;
  }
  switch (section) {
    case Section::kNone:
      ctx.error("unknown keyword " + quoted(keyword) + " out of section",
                suggest_row(kSections, keyword));
      return;
    case Section::kIgnored:
      return;
    case Section::kGlobal:
      parse_global_line(ctx, into.global);
      return;
    default:
      parse_proxy_line(ctx, current);
      return;
  }
}

void HaproxyReader::State::open_section(const LineCtx& ctx, Section kind) {
  section = kind;
  const std::string& keyword = ctx.word(0);
  if (kind == Section::kIgnored) {
    ctx.warning("section " + quoted(keyword) + " is ignored by Postern");
    return;
  }
  if (kind == Section::kGlobal) {
    if (into.global.origin.file.empty()) {
      into.global.origin = ctx.origin();
    }
    no_extra_words(ctx, 1, "global");
    return;
  }

  // defaults [<name>] [from <defaults>]; listen|frontend|backend <name> [from <defaults>]
  std::string name;
  std::size_t at = 1;
  bool valid = true;
  if (ctx.has(1) && ctx.word(1) != "from") {
    name = ctx.word(1);
    at = 2;
    valid = valid_name(ctx, name, "proxy");
  } else if (kind != Section::kDefaults) {
    ctx.error(quoted(keyword) + " expects <name> as an argument");
    valid = false;
  }
  // A new defaults section starts from HAProxy's built-in values, not from the previous one.
  const ProxyDraft* base = kind == Section::kDefaults ? nullptr : &defaults;
  ProxyDraft builtin;
  if (ctx.word(at) == "from") {
    const auto found = named_defaults.find(ctx.word(at + 1));
    if (found == named_defaults.end()) {
      ctx.error(keyword + " " + quoted(name) + ": no defaults section named " +
                quoted(ctx.word(at + 1)));
      valid = false;
    } else {
      base = &found->second;
    }
    at += 2;
  }
  no_extra_words(ctx, at, keyword);

  current = base != nullptr ? *base : builtin;
  current.section = kind;
  current.name = name;
  current.origin = ctx.origin();
  current.valid = valid;
  current.portless.clear();
  current.listener.name = name;
  current.listener.origin = ctx.origin();
  current.listener.binds.clear();
  current.listener.servers.clear();
  // tcp-check rules copied from defaults give way to the proxy's own first rule.
  current.rules_inherited = !current.listener.tcp_check_rules.empty();

  if (!valid || kind == Section::kDefaults) {
    return;
  }
  // HAProxy: "%s '%s' has the same name as %s '%s' declared at %s:%d".
  const unsigned caps = capabilities(kind);
  for (auto* names : {&frontend_names, &backend_names}) {
    const unsigned side = names == &frontend_names ? kCapFe : kCapBe;
    if ((caps & side) == 0) {
      continue;
    }
    if (const auto it = names->find(name); it != names->end()) {
      const Declared& previous = it->second;
      ctx.error(std::string(section_word(kind)) + " " + quoted(name) + " has the same name as " +
                std::string(section_word(previous.section)) + " " + quoted(name) + " declared at " +
                previous.origin.file + ":" + std::to_string(previous.origin.line));
      current.valid = false;
      return;
    }
  }
  for (auto* names : {&frontend_names, &backend_names}) {
    const unsigned side = names == &frontend_names ? kCapFe : kCapBe;
    if ((caps & side) != 0) {
      names->emplace(name, Declared{kind, ctx.origin()});
    }
  }
}

void HaproxyReader::State::close_section() {
  const Section closing = section;
  section = Section::kNone;
  if (closing != Section::kDefaults && closing != Section::kListen &&
      closing != Section::kFrontend && closing != Section::kBackend) {
    return;
  }
  ProxyDraft draft = std::move(current);
  current = ProxyDraft{};
  if (!draft.valid) {
    return;
  }
  switch (closing) {
    case Section::kDefaults:
      if (!draft.name.empty()) {
        named_defaults.insert_or_assign(draft.name, draft);
      }
      defaults = std::move(draft);
      return;
    case Section::kListen:
      fill_server_ports(draft.listener, draft.portless, diags);
      into.listeners.push_back(std::move(draft.listener));
      return;
    case Section::kFrontend:
      if (!draft.default_backend) {
        diags.error(draft.origin.file, draft.origin.line, 0,
                    "frontend " + quoted(draft.name) + " has no default_backend",
                    "Postern joins each frontend with exactly one backend");
        return;
      }
      frontends.push_back(FrontendSlot{into.listeners.size(), *draft.default_backend,
                                       draft.default_backend_origin});
      into.listeners.push_back(std::move(draft.listener));
      return;
    case Section::kBackend: {
      std::string name = draft.name;
      backend_order.push_back(name);
      backends.emplace(std::move(name), BackendEntry{std::move(draft), false});
      return;
    }
    default:
      return;
  }
}

void HaproxyReader::State::finish() {
  close_section();
  std::vector<std::size_t> unresolved;
  for (const FrontendSlot& slot : frontends) {
    Listener& listener = into.listeners[slot.index];
    const auto found = backends.find(slot.backend);
    if (found == backends.end()) {
      std::vector<std::string_view> names(backend_order.begin(), backend_order.end());
      if (const auto listen = backend_names.find(slot.backend);
          listen != backend_names.end() && listen->second.section == Section::kListen) {
        diags.error(slot.backend_origin.file, slot.backend_origin.line, 0,
                    "frontend " + quoted(listener.name) + ": " + quoted(slot.backend) +
                        " is a listen section, not a backend",
                    "point default_backend at a 'backend' section");
      } else {
        diags.error(
            slot.backend_origin.file, slot.backend_origin.line, 0,
            "frontend " + quoted(listener.name) + ": no backend named " + quoted(slot.backend),
            did_you_mean(slot.backend, names));
      }
      unresolved.push_back(slot.index);
      continue;
    }
    BackendEntry& backend = found->second;
    backend.used = true;
    const Listener& side = backend.draft.listener;
    // The frontend keeps its name, binds, logging, maxconn and client-side timers; everything
    // about reaching servers comes from the backend, as HAProxy splits PR_CAP_FE and PR_CAP_BE.
    listener.balance = side.balance;
    listener.timeouts.connect = side.timeouts.connect;
    listener.timeouts.server = side.timeouts.server;
    listener.timeouts.check = side.timeouts.check;
    listener.timeouts.queue = side.timeouts.queue;
    listener.timeouts.server_fin = side.timeouts.server_fin;
    listener.timeouts.tunnel = side.timeouts.tunnel;
    listener.retries = side.retries;
    listener.redispatch = side.redispatch;
    listener.check_type = side.check_type;
    listener.smtpchk_verb = side.smtpchk_verb;
    listener.smtpchk_domain = side.smtpchk_domain;
    listener.mail_protocol = side.mail_protocol;
    listener.tcp_check_rules = side.tcp_check_rules;
    listener.servers = side.servers;
    listener.backend = backend.draft.name;
    listener.load_server_state = side.load_server_state;
    listener.server_state_file_name = side.server_state_file_name;
    fill_server_ports(listener, backend.draft.portless, diags);
  }
  std::sort(unresolved.rbegin(), unresolved.rend());
  for (std::size_t index : unresolved) {
    into.listeners.erase(into.listeners.begin() + static_cast<std::ptrdiff_t>(index));
  }
  for (const std::string& name : backend_order) {
    const BackendEntry& backend = backends.at(name);
    if (!backend.used) {
      diags.warning(backend.draft.origin.file, backend.draft.origin.line, 0,
                    "backend " + quoted(name) + " is not used by any frontend; Postern ignores it");
    }
  }
  frontends.clear();
  backends.clear();
  backend_order.clear();
  frontend_names.clear();
  backend_names.clear();
}

HaproxyReader::HaproxyReader(Config& into, Diagnostics& diags)
    : state_(std::make_unique<State>(into, diags)) {}

HaproxyReader::~HaproxyReader() = default;

void HaproxyReader::read(const std::string& text, const std::string& file_name) {
  state_->read(text, file_name);
}

void HaproxyReader::finish() {
  state_->finish();
}

void parse_haproxy(const std::string& text, const std::string& file_name, Config& into,
                   Diagnostics& diags) {
  HaproxyReader reader(into, diags);
  reader.read(text, file_name);
  reader.finish();
}

}  // namespace postern::config
