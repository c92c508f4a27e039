// Reads Postern's YAML configuration (the haproxy.cfg model plus the `dataplane`, `admin` and
// `defense` sections) into the model. Every key is checked against its mapping's table and every
// error carries the FILE:LINE:COLUMN yaml-cpp's Node::Mark() gives; no yaml-cpp exception escapes.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <sstream>
#include <utility>

#include "defense_words.hpp"
#include "health_check.hpp"
#include "host_port.hpp"
#include "postern/config/load.hpp"
#include "postern/config/log_target.hpp"
#include "resolve.hpp"
#include "text.hpp"

namespace postern::config {
namespace {

class Reader {
 public:
  Reader(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

  // yaml-cpp marks count from 0; editors and HAProxy-style messages count from 1.
  Origin origin(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    return Origin{file_, mark.line + 1, mark.column + 1};
  }

  void error(const YAML::Node& at, std::string message, std::string hint = {}) {
    const Origin where = origin(at);
    diags_.error(file_, where.line, where.column, std::move(message), std::move(hint));
  }

  void warning(const YAML::Node& at, std::string message, std::string hint = {}) {
    const Origin where = origin(at);
    diags_.warning(file_, where.line, where.column, std::move(message), std::move(hint));
  }

  Diagnostics& diags() { return diags_; }

  // The key whose value is being read, for messages from parsers shared by several keys.
  std::string_view key() const { return key_; }
  void set_key(std::string_view key) { key_ = key; }

  std::optional<std::string> string(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node, quoted(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<std::uint64_t> unsigned_value(const YAML::Node& node, std::string_view what,
                                              std::uint64_t max) {
    if (!node.IsScalar()) {
      error(node, quoted(what) + " must be an integer");
      return std::nullopt;
    }
    auto parsed = parse_unsigned(node.Scalar(), max);
    if (!parsed.value) {
      error(node, quoted(what) + ": " + parsed.error);
    }
    return parsed.value;
  }

  std::optional<bool> boolean(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) {
      // The YAML 1.1 spellings yaml-cpp itself reads as booleans.
      static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                                   "YES",  "on",   "On",   "ON"};
      static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No",
                                                    "NO",    "off",   "Off",   "OFF"};
      if (is_one_of(node.Scalar(), kTrue)) {
        return true;
      }
      if (is_one_of(node.Scalar(), kFalse)) {
        return false;
      }
    }
    error(node, quoted(what) + " must be true or false");
    return std::nullopt;
  }

  // A duration is a string with a unit ("10s") or a bare integer of milliseconds.
  std::optional<Millis> duration(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node,
            quoted(what) + " must be a duration such as \"10s\" or an integer of milliseconds");
      return std::nullopt;
    }
    auto parsed = parse_duration(node.Scalar());
    if (!parsed.value) {
      error(node, quoted(what) + ": " + parsed.error);
    }
    return parsed.value;
  }

  std::optional<IpAddress> address(const YAML::Node& node, std::string_view what) {
    auto text = string(node, what);
    if (!text) {
      return std::nullopt;
    }
    auto parsed = IpAddress::parse(*text);
    if (!parsed) {
      error(node, quoted(what) + ": invalid IP address " + quoted(*text));
    }
    return parsed;
  }

  std::optional<IpPrefix> prefix(const YAML::Node& node, std::string_view what) {
    auto text = string(node, what);
    if (!text) {
      return std::nullopt;
    }
    auto parsed = IpPrefix::parse(*text);
    if (!parsed) {
      error(node, quoted(what) + ": invalid IP prefix " + quoted(*text),
            "write it as 198.18.0.1/24");
    }
    return parsed;
  }

  std::optional<HostPort> host_port(const YAML::Node& node, std::string_view what, PortRule rule) {
    auto text = string(node, what);
    if (!text) {
      return std::nullopt;
    }
    HostPortResult parsed = parse_host_port(*text, rule);
    if (!parsed.value) {
      error(node, quoted(what) + ": " + parsed.error, parsed.hint);
    }
    return parsed.value;
  }

  bool sequence(const YAML::Node& node, std::string_view what) {
    if (!node.IsSequence()) {
      error(node, quoted(what) + " must be a list");
      return false;
    }
    return true;
  }

 private:
  const std::string& file_;
  Diagnostics& diags_;
  std::string_view key_;
};

// Where a key may appear: in an item (a listener, a server) or in the block of defaults for
// such items (`defaults`, `default_server`), which takes every key but the item's identity.
constexpr unsigned kInItem = 1;
constexpr unsigned kInDefaults = 2;
constexpr unsigned kAnywhere = kInItem | kInDefaults;

// One row per key of a mapping, naming its parser; rows run in table order, whatever order the
// file wrote the keys in, so `default_server` is known before `servers` are read.
template <typename Target>
struct KeyRow {
  std::string_view key;
  void (*parse)(Reader& reader, const YAML::Node& value, Target& target);
  unsigned scopes = kAnywhere;
};

template <typename Target, std::size_t N>
bool read_map(Reader& reader, const YAML::Node& node, std::string_view what,
              const KeyRow<Target> (&rows)[N], Target& target, unsigned scope = kInItem) {
  if (!node.IsMap()) {
    reader.error(node, std::string(what) + " must be a mapping");
    return false;
  }
  std::array<YAML::Node, N> values;
  std::array<bool, N> present{};
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      reader.error(key, "keys of " + std::string(what) + " must be strings");
      continue;
    }
    std::size_t index = N;
    for (std::size_t i = 0; i < N; ++i) {
      if (rows[i].key == key.Scalar()) {
        index = i;
        break;
      }
    }
    if (index == N) {
      std::vector<std::string_view> keys;
      for (const auto& row : rows) {
        keys.push_back(row.key);
      }
      reader.error(key, "unknown key " + quoted(key.Scalar()) + " in " + std::string(what),
                   did_you_mean(key.Scalar(), keys));
      continue;
    }
    if ((rows[index].scopes & scope) == 0) {
      reader.error(key, "key " + quoted(key.Scalar()) + " is not allowed in " + std::string(what));
      continue;
    }
    if (present[index]) {
      reader.error(key, "duplicate key " + quoted(key.Scalar()) + " in " + std::string(what));
      continue;
    }
    if (it->second.IsNull()) {
      // Reported at the key: yaml-cpp marks an empty value where the next token starts.
      reader.error(key, "key " + quoted(key.Scalar()) + " has no value");
      continue;
    }
    present[index] = true;
    values[index] = it->second;
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (present[i]) {
      reader.set_key(rows[i].key);
      rows[i].parse(reader, values[i], target);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Log targets: the string "global" or {address, facility, level, min_level}.

struct LogDraft {
  LogTarget target;
  bool has_address = false;
  bool has_facility = false;
};

void log_address(Reader& r, const YAML::Node& v, LogDraft& d) {
  d.has_address = true;
  if (auto s = r.string(v, "address")) {
    d.target.address = *s;
  }
}

void log_facility(Reader& r, const YAML::Node& v, LogDraft& d) {
  d.has_facility = true;
  if (auto s = r.string(v, "facility")) {
    if (!is_one_of(*s, syslog_facilities())) {
      r.error(v, "unknown syslog facility " + quoted(*s), did_you_mean(*s, syslog_facilities()));
      return;
    }
    d.target.facility = *s;
  }
}

template <std::string LogTarget::*Field>
void log_level(Reader& r, const YAML::Node& v, LogDraft& d) {
  if (auto s = r.string(v, "level")) {
    if (!is_one_of(*s, syslog_levels())) {
      r.error(v, "unknown syslog level " + quoted(*s), did_you_mean(*s, syslog_levels()));
      return;
    }
    d.target.*Field = *s;
  }
}

void log_len(Reader& r, const YAML::Node& v, LogDraft& d) {
  if (auto n = r.unsigned_value(v, "len", kLogLenMax)) {
    if (*n < kLogLenMin) {
      r.error(v, "'len' must be between " + std::to_string(kLogLenMin) + " and " +
                     std::to_string(kLogLenMax));
      return;
    }
    d.target.len = static_cast<std::uint32_t>(*n);
  }
}

void log_format(Reader& r, const YAML::Node& v, LogDraft& d) {
  if (auto s = r.string(v, "format")) {
    if (!parse_log_format(*s)) {
      r.error(v, "unknown log format " + quoted(*s), did_you_mean(*s, log_format_names()));
      return;
    }
    d.target.format = *s;
  }
}

constexpr KeyRow<LogDraft> kLogRows[] = {
    {"address", log_address},
    {"len", log_len},
    {"format", log_format},
    {"facility", log_facility},
    {"level", log_level<&LogTarget::level>},
    {"min_level", log_level<&LogTarget::min_level>},
};

void read_log_list(Reader& r, const YAML::Node& list, std::vector<LogTarget>& out,
                   bool global_allowed) {
  if (!r.sequence(list, "log")) {
    return;
  }
  for (const YAML::Node& item : list) {
    if (item.IsScalar() && item.Scalar() == "global") {
      if (!global_allowed) {
        r.error(item, "'log: global' is only meaningful in a listener");
        continue;
      }
      LogTarget target;
      target.global = true;
      target.origin = r.origin(item);
      out.push_back(std::move(target));
      continue;
    }
    LogDraft draft;
    draft.target.origin = r.origin(item);
    if (!read_map(r, item, "a log target (or the string \"global\")", kLogRows, draft)) {
      continue;
    }
    if (!draft.has_address || !draft.has_facility) {
      r.error(item, "a log target needs 'address' and 'facility'");
      continue;
    }
    out.push_back(std::move(draft.target));
  }
}

// ---------------------------------------------------------------------------------------------
// Servers and default_server.

struct ServerDraft {
  Server server;
  bool has_name = false;
  bool portless = false;
};

void server_name(Reader& r, const YAML::Node& v, ServerDraft& d) {
  d.has_name = true;
  if (auto s = r.string(v, "name")) {
    d.server.name = *s;
  }
}

void server_address(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto hp = r.host_port(v, "address", PortRule::kOptional)) {
    d.server.endpoint = Endpoint{hp->address, hp->port.value_or(0)};
    d.portless = !hp->port;
  }
}

template <bool Server::*Field>
void server_flag(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto b = r.boolean(v, r.key())) {
    d.server.*Field = *b;
  }
}

template <std::uint32_t Server::*Field>
void server_count(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto n = r.unsigned_value(v, r.key(), UINT32_MAX)) {
    d.server.*Field = static_cast<std::uint32_t>(*n);
  }
}

void server_inter(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto t = r.duration(v, "inter")) {
    d.server.inter = *t;
  }
}

template <std::optional<Millis> Server::*Field>
void server_optional_interval(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto t = r.duration(v, r.key())) {
    d.server.*Field = *t;
  }
}

void server_maxconn(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto n = r.unsigned_value(v, "maxconn", UINT32_MAX)) {
    // 0 is HAProxy's "no limit", the same as leaving it out.
    d.server.maxconn = *n == 0 ? std::nullopt : std::optional<std::uint32_t>(*n);
  }
}

void server_check_port(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto n = r.unsigned_value(v, "check_port", 65535)) {
    d.server.check_port = static_cast<std::uint16_t>(*n);
  }
}

void server_check_addr(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto a = r.address(v, "check_addr")) {
    d.server.check_addr = *a;
  }
}

void server_slowstart(Reader& r, const YAML::Node& v, ServerDraft& d) {
  if (auto t = r.duration(v, "slowstart")) {
    // 0 is no slow start, as `slowstart 0` in haproxy.cfg.
    d.server.slowstart = *t == 0 ? std::nullopt : std::optional<Millis>(*t);
  }
}

// on_marked_down: shutdown-sessions, on_marked_up: shutdown-backup-sessions, HAProxy's one
// action each; `none` (the default) lets a server turn off what default_server set.
template <bool Server::*Field>
void server_marked_action(Reader& r, const YAML::Node& v, ServerDraft& d) {
  const std::string_view action = Field == &Server::shutdown_sessions_on_down
                                      ? "shutdown-sessions"
                                      : "shutdown-backup-sessions";
  auto s = r.string(v, r.key());
  if (!s) {
    return;
  }
  if (*s == action || *s == "none") {
    d.server.*Field = *s == action;
    return;
  }
  const std::string_view words[] = {action, "none"};
  r.error(v, quoted(r.key()) + " expects " + quoted(action) + " or 'none' but got " + quoted(*s),
          did_you_mean(*s, words));
}

void server_observe(Reader& r, const YAML::Node& v, ServerDraft& d) {
  static constexpr std::string_view kModes[] = {"none", "layer4"};
  auto s = r.string(v, "observe");
  if (!s) {
    return;
  }
  if (*s == "none" || *s == "layer4") {
    d.server.observe_layer4 = *s == "layer4";
  } else if (*s == "layer7") {
    r.error(v,
            "'observe: layer7' is not supported: Postern splices TCP and never reads the "
            "server's responses",
            "use 'layer4'");
  } else {
    r.error(v, "'observe' expects 'none' or 'layer4' but got " + quoted(*s),
            did_you_mean(*s, kModes));
  }
}

void server_on_error(Reader& r, const YAML::Node& v, ServerDraft& d) {
  auto s = r.string(v, "on_error");
  if (!s) {
    return;
  }
  if (auto value = find_word(kOnErrorWords, *s)) {
    d.server.on_error = *value;
    return;
  }
  r.error(v,
          "'on_error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' "
          "but got " +
              quoted(*s),
          did_you_mean(*s, word_names(kOnErrorWords)));
}

void server_send_proxy_v1(Reader& r, const YAML::Node& v, ServerDraft&) {
  r.error(v, "Postern sends PROXY v2 only; use send_proxy_v2", "did you mean 'send_proxy_v2'?");
}

constexpr KeyRow<ServerDraft> kServerRows[] = {
    {"name", server_name, kInItem},
    {"address", server_address, kInItem},
    {"weight", server_count<&Server::weight>},
    {"check", server_flag<&Server::check>},
    {"inter", server_inter},
    {"fastinter", server_optional_interval<&Server::fastinter>},
    {"downinter", server_optional_interval<&Server::downinter>},
    {"rise", server_count<&Server::rise>},
    {"fall", server_count<&Server::fall>},
    {"send_proxy_v2", server_flag<&Server::send_proxy_v2>},
    {"send_proxy", server_send_proxy_v1},
    {"check_send_proxy", server_flag<&Server::check_send_proxy>},
    {"backup", server_flag<&Server::backup>},
    {"disabled", server_flag<&Server::disabled>},
    {"maxconn", server_maxconn},
    {"check_port", server_check_port},
    {"check_addr", server_check_addr},
    {"slowstart", server_slowstart},
    {"on_marked_down", server_marked_action<&Server::shutdown_sessions_on_down>},
    {"on_marked_up", server_marked_action<&Server::shutdown_backup_sessions_on_up>},
    {"observe", server_observe},
    {"error_limit", server_count<&Server::error_limit>},
    {"on_error", server_on_error},
};

// ---------------------------------------------------------------------------------------------
// check: {type, smtpchk: {verb, domain}, mail_protocol, rules: [{action, port, send_proxy, linger,
// data, match, pattern, negate}]}

struct RuleDraft {
  TcpCheckRule rule;
  bool has_action = false;
  std::optional<std::string> action;
  YAML::Node action_node;
  std::vector<std::pair<std::string_view, YAML::Node>> given;  // keys set, for applicability
};

void rule_action(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.has_action = true;
  d.action = r.string(v, "action");
  d.action_node = v;
}

void rule_port(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("port", v);
  if (auto n = r.unsigned_value(v, "port", 65535)) {
    d.rule.port = static_cast<std::uint16_t>(*n);
  }
}

void rule_send_proxy(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("send_proxy", v);
  if (auto b = r.boolean(v, "send_proxy")) {
    d.rule.send_proxy = *b;
  }
}

void rule_linger(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("linger", v);
  if (auto b = r.boolean(v, "linger")) {
    d.rule.linger = *b;
  }
}

void rule_data(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("data", v);
  if (auto s = r.string(v, "data")) {
    d.rule.data = *s;
  }
}

void rule_match(Reader& r, const YAML::Node& v, RuleDraft& d) {
  static constexpr std::string_view kMatches[] = {"string", "rstring", "binary"};
  d.given.emplace_back("match", v);
  auto s = r.string(v, "match");
  if (!s) {
    return;
  }
  if (*s == "string") {
    d.rule.match = TcpCheckRule::Match::kString;
  } else if (*s == "rstring") {
    d.rule.match = TcpCheckRule::Match::kRstring;
  } else if (*s == "binary") {
    d.rule.match = TcpCheckRule::Match::kBinary;
  } else {
    r.error(v, "unknown match " + quoted(*s) + " (string, rstring or binary)",
            did_you_mean(*s, kMatches));
  }
}

void rule_pattern(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("pattern", v);
  if (auto s = r.string(v, "pattern")) {
    d.rule.data = *s;
  }
}

void rule_negate(Reader& r, const YAML::Node& v, RuleDraft& d) {
  d.given.emplace_back("negate", v);
  if (auto b = r.boolean(v, "negate")) {
    d.rule.negate = *b;
  }
}

constexpr KeyRow<RuleDraft> kRuleRows[] = {
    {"action", rule_action},   {"port", rule_port},     {"send_proxy", rule_send_proxy},
    {"linger", rule_linger},   {"data", rule_data},     {"match", rule_match},
    {"pattern", rule_pattern}, {"negate", rule_negate},
};

std::optional<TcpCheckRule> read_rule(Reader& r, const YAML::Node& node) {
  struct Action {
    std::string_view name;
    TcpCheckRule::Kind kind;
    std::array<std::string_view, 3> keys;  // the keys this action takes
    std::string_view required;
  };
  static constexpr Action kActions[] = {
      {"connect", TcpCheckRule::Kind::kConnect, {"port", "send_proxy", "linger"}, ""},
      {"send", TcpCheckRule::Kind::kSend, {"data", "", ""}, "data"},
      {"send_binary", TcpCheckRule::Kind::kSendBinary, {"data", "", ""}, "data"},
      {"expect", TcpCheckRule::Kind::kExpect, {"match", "pattern", "negate"}, "pattern"},
  };
  RuleDraft draft;
  draft.rule.origin = r.origin(node);
  const std::size_t errors_before = r.diags().errors();
  if (!read_map(r, node, "a tcp-check rule", kRuleRows, draft)) {
    return std::nullopt;
  }
  if (!draft.has_action) {
    r.error(node, "a tcp-check rule needs an 'action' (connect, send, send_binary or expect)");
    return std::nullopt;
  }
  if (!draft.action) {
    return std::nullopt;
  }
  const Action* action = nullptr;
  for (const Action& candidate : kActions) {
    if (candidate.name == *draft.action) {
      action = &candidate;
    }
  }
  if (action == nullptr) {
    static constexpr std::string_view kNames[] = {"connect", "send", "send_binary", "expect"};
    r.error(draft.action_node, "unknown tcp-check action " + quoted(*draft.action),
            did_you_mean(*draft.action, kNames));
    return std::nullopt;
  }
  draft.rule.kind = action->kind;
  bool has_required = action->required.empty();
  for (const auto& [key, value] : draft.given) {
    if (std::find(action->keys.begin(), action->keys.end(), key) == action->keys.end()) {
      r.error(value, quoted(key) + " does not apply to a " + quoted(action->name) + " rule");
    }
    has_required = has_required || key == action->required;
  }
  if (!has_required) {
    r.error(node, "a " + quoted(action->name) + " rule needs " + quoted(action->required));
  }
  const bool hex = action->kind == TcpCheckRule::Kind::kSendBinary ||
                   (action->kind == TcpCheckRule::Kind::kExpect &&
                    draft.rule.match == TcpCheckRule::Match::kBinary);
  if (hex && has_required) {
    auto parsed = parse_hex(draft.rule.data);
    if (!parsed.value) {
      r.error(node, quoted(action->required) + ": " + parsed.error);
    } else {
      draft.rule.data = *parsed.value;
    }
  }
  if (r.diags().errors() != errors_before) {
    return std::nullopt;
  }
  return draft.rule;
}

// ---------------------------------------------------------------------------------------------
// Listeners and defaults.

struct ListenerDraft {
  Listener listener;
  ServerDraft default_server;
  bool has_name = false;
  std::vector<std::size_t> portless;
};

// `type` runs first (table order): as a haproxy.cfg `option` line, naming the type starts its
// settings over from the built-in ones, so `smtpchk` and `mail_protocol` given with it, or
// inherited from `defaults` for the same type, are what remains.
void check_type(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  auto s = r.string(v, "type");
  if (!s) {
    return;
  }
  if (auto type = find_word(kCheckTypeWords, *s)) {
    select_check_type(d.listener, *type);
    return;
  }
  r.error(v, "unknown check type " + quoted(*s) + " (connect, tcp-check, smtpchk or mail-check)",
          did_you_mean(*s, word_names(kCheckTypeWords)));
}

// A key that belongs to one check type, under another type, would be kept and never used.
bool check_type_is(Reader& r, const YAML::Node& v, const ListenerDraft& d, CheckType type) {
  if (d.listener.check_type == type) {
    return true;
  }
  r.error(v, quoted(r.key()) + " applies only to 'type: " +
                 std::string(word_name(kCheckTypeWords, type)) + "' (this check is '" +
                 std::string(word_name(kCheckTypeWords, d.listener.check_type)) + "')");
  return false;
}

struct SmtpchkDraft {
  std::optional<std::string> verb;
  std::optional<std::string> domain;
};

void smtpchk_verb(Reader& r, const YAML::Node& v, SmtpchkDraft& d) {
  static constexpr std::string_view kVerbs[] = {"HELO", "EHLO"};
  d.verb = r.string(v, "verb");
  if (d.verb && !is_one_of(*d.verb, kVerbs)) {
    r.error(v, "'verb' must be HELO or EHLO, not " + quoted(*d.verb),
            did_you_mean(*d.verb, kVerbs));
    d.verb.reset();
  }
}

void smtpchk_domain(Reader& r, const YAML::Node& v, SmtpchkDraft& d) {
  d.domain = r.string(v, "domain");
  if (d.domain && !is_smtp_domain(*d.domain)) {
    r.error(v, "'domain' " + quoted(*d.domain) +
                   " must be one word without spaces or control characters");
    d.domain.reset();
  }
}

constexpr KeyRow<SmtpchkDraft> kSmtpchkRows[] = {
    {"verb", smtpchk_verb},
    {"domain", smtpchk_domain},
};

// smtpchk: {verb: HELO|EHLO, domain: NAME}, `option smtpchk VERB DOMAIN`; left out, the check
// greets with HAProxy's `HELO localhost`.
void check_smtpchk(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (!check_type_is(r, v, d, CheckType::kSmtp)) {
    return;
  }
  SmtpchkDraft draft;
  const std::size_t errors_before = r.diags().errors();
  if (!read_map(r, v, "'smtpchk'", kSmtpchkRows, draft) || r.diags().errors() != errors_before) {
    return;
  }
  if (!draft.verb || !draft.domain) {
    r.error(v, "'smtpchk' needs both 'verb' and 'domain'");
    return;
  }
  d.listener.smtpchk_verb = *draft.verb;
  d.listener.smtpchk_domain = *draft.domain;
}

void check_mail_protocol(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (!check_type_is(r, v, d, CheckType::kMail)) {
    return;
  }
  auto s = r.string(v, "mail_protocol");
  if (!s) {
    return;
  }
  if (*s == "auto") {
    d.listener.mail_protocol = MailProtocol::kAuto;
  } else if (auto protocol = find_word(kMailProtocolWords, *s)) {
    d.listener.mail_protocol = *protocol;
  } else {
    std::vector<std::string_view> names = word_names(kMailProtocolWords);
    names.push_back("auto");
    r.error(v, "unknown mail protocol " + quoted(*s) + " (auto, imap, pop3, lmtp, smtp or sieve)",
            did_you_mean(*s, names));
  }
}

void check_rules(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (!r.sequence(v, "rules")) {
    return;
  }
  // Rules given here replace the defaults' rules, as a haproxy.cfg proxy's own rules do.
  d.listener.tcp_check_rules.clear();
  for (const YAML::Node& item : v) {
    if (auto rule = read_rule(r, item)) {
      d.listener.tcp_check_rules.push_back(std::move(*rule));
    }
  }
}

constexpr KeyRow<ListenerDraft> kCheckRows[] = {
    {"type", check_type},
    {"smtpchk", check_smtpchk},
    {"mail_protocol", check_mail_protocol},
    {"rules", check_rules},
};

void listener_name(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  d.has_name = true;
  if (auto s = r.string(v, "name")) {
    d.listener.name = *s;
  }
}

struct BindDraft {
  Bind bind;
  bool has_address = false;
};

void bind_address(Reader& r, const YAML::Node& v, BindDraft& b) {
  b.has_address = true;
  if (auto hp = r.host_port(v, "address", PortRule::kRequired)) {
    b.bind.endpoint = Endpoint{hp->address, *hp->port};
  }
}

void bind_accept_proxy(Reader& r, const YAML::Node& v, BindDraft& b) {
  if (auto flag = r.boolean(v, "accept_proxy")) {
    b.bind.accept_proxy = *flag;
  }
}

constexpr KeyRow<BindDraft> kBindRows[] = {
    {"address", bind_address},
    {"accept_proxy", bind_accept_proxy},
};

void listener_binds(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (!r.sequence(v, "binds")) {
    return;
  }
  for (const YAML::Node& item : v) {
    BindDraft draft;
    draft.bind.origin = r.origin(item);
    const std::size_t errors_before = r.diags().errors();
    if (item.IsScalar()) {
      // The short form: just "0.0.0.0:143".
      if (auto hp = r.host_port(item, "bind", PortRule::kRequired)) {
        draft.bind.endpoint = Endpoint{hp->address, *hp->port};
      }
    } else if (read_map(r, item, "a bind (or an \"address:port\" string)", kBindRows, draft) &&
               !draft.has_address) {
      r.error(item, "a bind needs an 'address'");
    }
    if (r.diags().errors() == errors_before) {
      d.listener.binds.push_back(std::move(draft.bind));
    }
  }
}

void listener_balance(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  static constexpr std::string_view kBalances[] = {"roundrobin", "static-rr"};
  auto s = r.string(v, "balance");
  if (!s) {
    return;
  }
  if (*s == "roundrobin") {
    d.listener.balance = Balance::kRoundRobin;
  } else if (*s == "static-rr") {
    d.listener.balance = Balance::kStaticRoundRobin;
  } else {
    r.error(v, "unknown balance algorithm " + quoted(*s) + " (roundrobin or static-rr)",
            did_you_mean(*s, kBalances));
  }
}

template <std::optional<Millis> Timeouts::*Field>
void timeout(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto t = r.duration(v, r.key())) {
    d.listener.timeouts.*Field = *t;
  }
}

constexpr KeyRow<ListenerDraft> kTimeoutRows[] = {
    {"connect", timeout<&Timeouts::connect>},       {"client", timeout<&Timeouts::client>},
    {"server", timeout<&Timeouts::server>},         {"check", timeout<&Timeouts::check>},
    {"queue", timeout<&Timeouts::queue>},           {"client_fin", timeout<&Timeouts::client_fin>},
    {"server_fin", timeout<&Timeouts::server_fin>}, {"tunnel", timeout<&Timeouts::tunnel>},
};

void listener_timeouts(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  read_map(r, v, "'timeouts'", kTimeoutRows, d);
}

void listener_maxconn(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto n = r.unsigned_value(v, "maxconn", UINT32_MAX)) {
    d.listener.maxconn = static_cast<std::uint32_t>(*n);
  }
}

void listener_retries(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto n = r.unsigned_value(v, "retries", UINT32_MAX)) {
    d.listener.retries = static_cast<std::uint32_t>(*n);
  }
}

template <bool Listener::*Field>
void listener_flag(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto b = r.boolean(v, r.key())) {
    d.listener.*Field = *b;
  }
}

void listener_check(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  read_map(r, v, "'check'", kCheckRows, d);
}

// Postern's YAML before the check types came: {enabled, rules}. Named, so the error says where
// those settings went instead of only "unknown key".
void listener_old_tcp_check(Reader& r, const YAML::Node& v, ListenerDraft&) {
  r.error(v, "'tcp_check' is now 'check'",
          "write 'check: {type: tcp-check, rules: [...]}' ('enabled: false' is 'type: connect')");
}

void listener_log(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  read_log_list(r, v, d.listener.log, true);
}

template <std::string Listener::*Field>
void listener_string(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto s = r.string(v, r.key())) {
    d.listener.*Field = *s;
  }
}

void listener_default_server(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  read_map(r, v, "'default_server'", kServerRows, d.default_server, kInDefaults);
}

void listener_servers(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (!r.sequence(v, "servers")) {
    return;
  }
  for (const YAML::Node& item : v) {
    ServerDraft server = d.default_server;
    server.has_name = false;
    server.portless = false;
    server.server.origin = r.origin(item);
    if (!read_map(r, item, "a server", kServerRows, server)) {
      continue;
    }
    if (!server.has_name) {
      r.error(item, "a server needs a 'name'");
      continue;
    }
    if (server.portless) {
      d.portless.push_back(d.listener.servers.size());
    }
    d.listener.servers.push_back(std::move(server.server));
  }
}

void listener_backend(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto s = r.string(v, "backend")) {
    d.listener.backend = *s;
  }
}

void listener_load_server_state(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  static constexpr std::string_view kModes[] = {"global", "local", "none"};
  auto s = r.string(v, "load_server_state");
  if (!s) {
    return;
  }
  if (*s == "global") {
    d.listener.load_server_state = ServerStateLoad::kGlobal;
  } else if (*s == "local") {
    d.listener.load_server_state = ServerStateLoad::kLocal;
  } else if (*s == "none") {
    d.listener.load_server_state = ServerStateLoad::kNone;
  } else {
    r.error(v, "'load_server_state' expects 'global', 'local' or 'none'", did_you_mean(*s, kModes));
  }
}

void listener_server_state_file_name(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto s = r.string(v, "server_state_file_name")) {
    d.listener.server_state_file_name = *s;
  }
}

// A SYN proxy mode: `auto`, `on` or `off`. YAML 1.1 readers take bare on/off for booleans;
// yaml-cpp keeps the scalar's text, so both spellings read here.
std::optional<SynProxy> syn_proxy_mode(Reader& r, const YAML::Node& v) {
  auto s = r.string(v, "syn_proxy");
  if (!s) {
    return std::nullopt;
  }
  if (auto mode = find_word(kSynProxyWords, *s)) {
    return mode;
  }
  r.error(v, "'syn_proxy' expects 'auto', 'on' or 'off'",
          did_you_mean(*s, word_names(kSynProxyWords)));
  return std::nullopt;
}

void listener_syn_proxy(Reader& r, const YAML::Node& v, ListenerDraft& d) {
  if (auto mode = syn_proxy_mode(r, v)) {
    d.listener.syn_proxy = *mode;
  }
}

// Rows in processing order: binds before servers (a portless server takes the bind port) and
// default_server before servers.
constexpr KeyRow<ListenerDraft> kListenerRows[] = {
    {"name", listener_name, kInItem},
    {"binds", listener_binds, kInItem},
    {"balance", listener_balance},
    {"timeouts", listener_timeouts},
    {"maxconn", listener_maxconn},
    {"retries", listener_retries},
    {"redispatch", listener_flag<&Listener::redispatch>},
    {"check", listener_check},
    {"tcp_check", listener_old_tcp_check},
    {"dontlognull", listener_flag<&Listener::dontlognull>},
    {"log", listener_log},
    {"log_tag", listener_string<&Listener::log_tag>},
    {"backend", listener_backend, kInItem},
    {"load_server_state", listener_load_server_state},
    {"server_state_file_name", listener_server_state_file_name, kInItem},
    {"syn_proxy", listener_syn_proxy},
    {"default_server", listener_default_server},
    {"servers", listener_servers, kInItem},
};

// ---------------------------------------------------------------------------------------------
// Global, dataplane, admin and the document.

struct Document {
  Config config;
  ListenerDraft defaults;
};

void global_maxconn(Reader& r, const YAML::Node& v, Global& g) {
  if (auto n = r.unsigned_value(v, "maxconn", UINT32_MAX)) {
    g.maxconn = static_cast<std::uint32_t>(*n);
  }
}

void global_log(Reader& r, const YAML::Node& v, Global& g) {
  read_log_list(r, v, g.log, false);
}

void global_log_tag(Reader& r, const YAML::Node& v, Global& g) {
  if (auto s = r.string(v, "log_tag")) {
    g.log_tag = *s;
  }
}

void global_log_send_hostname(Reader& r, const YAML::Node& v, Global& g) {
  if (auto s = r.string(v, "log_send_hostname")) {
    g.log_send_hostname = *s;
  }
}

struct SocketRowDraft {
  StatsSocket socket;
  bool has_path = false;
};

constexpr KeyRow<SocketRowDraft> kSocketRows[] = {
    {"path",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       if (auto s = r.string(v, "path")) {
         d.socket.path = *s;
         d.has_path = true;
       }
     }},
    {"level",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       static constexpr std::string_view kLevels[] = {"user", "operator", "admin"};
       auto s = r.string(v, "level");
       if (!s) {
         return;
       }
       if (*s == "user") {
         d.socket.level = ApiLevel::kUser;
       } else if (*s == "operator") {
         d.socket.level = ApiLevel::kOperator;
       } else if (*s == "admin") {
         d.socket.level = ApiLevel::kAdmin;
       } else {
         r.error(v, "'level' expects 'user', 'operator' or 'admin'", did_you_mean(*s, kLevels));
       }
     }},
    {"mode",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       auto s = r.string(v, "mode");
       if (!s) {
         return;
       }
       std::uint32_t mode = 0;
       bool ok = !s->empty() && s->size() <= 4;
       for (char c : *s) {
         ok = ok && c >= '0' && c <= '7';
         mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
       }
       if (!ok) {
         r.error(v, "'mode' expects permission bits in octal, like \"600\"");
         return;
       }
       d.socket.mode = mode;
     }},
    {"user",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       if (auto s = r.string(v, "user")) {
         d.socket.user = *s;
       }
     }},
    {"uid",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       if (auto n = r.unsigned_value(v, "uid", UINT32_MAX)) {
         d.socket.uid = static_cast<std::uint32_t>(*n);
       }
     }},
    {"group",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       if (auto s = r.string(v, "group")) {
         d.socket.group = *s;
       }
     }},
    {"gid",
     [](Reader& r, const YAML::Node& v, SocketRowDraft& d) {
       if (auto n = r.unsigned_value(v, "gid", UINT32_MAX)) {
         d.socket.gid = static_cast<std::uint32_t>(*n);
       }
     }},
};

void global_stats_sockets(Reader& r, const YAML::Node& v, Global& g) {
  if (!r.sequence(v, "stats_sockets")) {
    return;
  }
  for (const YAML::Node& item : v) {
    SocketRowDraft draft;
    draft.socket.origin = r.origin(item);
    if (!read_map(r, item, "a stats socket", kSocketRows, draft)) {
      continue;
    }
    if (!draft.has_path) {
      r.error(item, "a stats socket needs a 'path'");
      continue;
    }
    g.stats_sockets.push_back(std::move(draft.socket));
  }
}

constexpr KeyRow<Global> kGlobalRows[] = {
    {"maxconn", global_maxconn},
    {"log", global_log},
    {"log_tag", global_log_tag},
    {"log_send_hostname", global_log_send_hostname},
    {"stats_sockets", global_stats_sockets},
    {"stats_timeout",
     [](Reader& r, const YAML::Node& v, Global& g) {
       if (auto t = r.duration(v, "stats_timeout")) {
         g.stats_timeout = *t;
       }
     }},
    {"stats_maxconn",
     [](Reader& r, const YAML::Node& v, Global& g) {
       if (auto n = r.unsigned_value(v, "stats_maxconn", UINT32_MAX)) {
         g.stats_maxconn = static_cast<std::uint32_t>(*n);
       }
     }},
    {"server_state_base",
     [](Reader& r, const YAML::Node& v, Global& g) {
       if (auto s = r.string(v, "server_state_base")) {
         g.server_state_base = *s;
       }
     }},
    {"server_state_file",
     [](Reader& r, const YAML::Node& v, Global& g) {
       if (auto s = r.string(v, "server_state_file")) {
         g.server_state_file = *s;
       }
     }},
};

struct InterfaceDraft {
  Interface interface;
  unsigned given = 0;  // bit per required key
};

constexpr KeyRow<InterfaceDraft> kInterfaceRows[] = {
    {"name",
     [](Reader& r, const YAML::Node& v, InterfaceDraft& d) {
       d.given |= 1;
       if (auto s = r.string(v, "name")) {
         d.interface.name = *s;
       }
     }},
    {"device",
     [](Reader& r, const YAML::Node& v, InterfaceDraft& d) {
       d.given |= 2;
       if (auto s = r.string(v, "device")) {
         d.interface.device = *s;
       }
     }},
    {"address",
     [](Reader& r, const YAML::Node& v, InterfaceDraft& d) {
       d.given |= 4;
       if (auto p = r.prefix(v, "address")) {
         d.interface.address = *p;
       }
     }},
};

struct RouteDraft {
  Route route;
  unsigned given = 0;
};

constexpr KeyRow<RouteDraft> kRouteRows[] = {
    {"to",
     [](Reader& r, const YAML::Node& v, RouteDraft& d) {
       d.given |= 1;
       if (auto p = r.prefix(v, "to")) {
         d.route.to = *p;
       }
     }},
    {"via",
     [](Reader& r, const YAML::Node& v, RouteDraft& d) {
       d.given |= 2;
       if (auto a = r.address(v, "via")) {
         d.route.via = *a;
       }
     }},
};

void read_address_list(Reader& r, const YAML::Node& v, std::string_view what,
                       std::vector<IpAddress>& out) {
  if (!r.sequence(v, what)) {
    return;
  }
  for (const YAML::Node& item : v) {
    if (auto a = r.address(item, what)) {
      out.push_back(*a);
    }
  }
}

void dataplane_eal(Reader& r, const YAML::Node& v, Dataplane& d) {
  if (!r.sequence(v, "eal")) {
    return;
  }
  for (const YAML::Node& item : v) {
    if (auto s = r.string(item, "eal argument")) {
      d.eal.push_back(*s);
    }
  }
}

void dataplane_workers(Reader& r, const YAML::Node& v, Dataplane& d) {
  if (auto n = r.unsigned_value(v, "workers", UINT32_MAX)) {
    d.workers = static_cast<std::uint32_t>(*n);
  }
}

void dataplane_flows(Reader& r, const YAML::Node& v, Dataplane& d) {
  if (auto n = r.unsigned_value(v, "flows", UINT32_MAX)) {
    d.flows = static_cast<std::uint32_t>(*n);
  }
}

void dataplane_interfaces(Reader& r, const YAML::Node& v, Dataplane& d) {
  if (!r.sequence(v, "interfaces")) {
    return;
  }
  for (const YAML::Node& item : v) {
    InterfaceDraft draft;
    draft.interface.origin = r.origin(item);
    if (!read_map(r, item, "an interface", kInterfaceRows, draft)) {
      continue;
    }
    if (draft.given != 7) {
      r.error(item, "an interface needs 'name', 'device' and 'address'");
      continue;
    }
    d.interfaces.push_back(std::move(draft.interface));
  }
}

void dataplane_routes(Reader& r, const YAML::Node& v, Dataplane& d) {
  if (!r.sequence(v, "routes")) {
    return;
  }
  for (const YAML::Node& item : v) {
    RouteDraft draft;
    draft.route.origin = r.origin(item);
    if (!read_map(r, item, "a route", kRouteRows, draft)) {
      continue;
    }
    if (draft.given != 3) {
      r.error(item, "a route needs 'to' and 'via'");
      continue;
    }
    d.routes.push_back(std::move(draft.route));
  }
}

constexpr KeyRow<Dataplane> kDataplaneRows[] = {
    {"eal", dataplane_eal},
    {"workers", dataplane_workers},
    {"flows", dataplane_flows},
    {"interfaces", dataplane_interfaces},
    {"routes", dataplane_routes},
    {"vips",
     [](Reader& r, const YAML::Node& v, Dataplane& d) { read_address_list(r, v, "vips", d.vips); }},
    {"source_addresses",
     [](Reader& r, const YAML::Node& v, Dataplane& d) {
       read_address_list(r, v, "source_addresses", d.source_addresses);
     }},
};

// An etcd endpoint as written ("http://HOST:PORT" or "HOST:PORT", HOST a name or an address,
// IPv6 in brackets) in the one form the publisher uses, "http://HOST:PORT". The gateway is
// reached over plain HTTP: Postern has no TLS client.
std::optional<std::string> etcd_endpoint(Reader& r, const YAML::Node& v) {
  auto text = r.string(v, "endpoints");
  if (!text) {
    return std::nullopt;
  }
  std::string_view rest = *text;
  const std::size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) {
    if (rest.substr(0, scheme) != "http") {
      r.error(v, "etcd endpoint " + quoted(*text) + ": only http:// is supported",
              "Postern speaks to etcd's JSON gateway without TLS; put it on a trusted network");
      return std::nullopt;
    }
    rest.remove_prefix(scheme + 3);
  }
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  const std::size_t colon = rest.rfind(':');
  const std::string_view host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
  const bool bracketed = !host.empty() && host.front() == '[';
  const bool host_ok = !host.empty() && host.find_first_of("/@?#") == std::string_view::npos &&
                       (bracketed ? host.back() == ']' : host.find(':') == std::string_view::npos);
  std::optional<std::uint64_t> port;
  if (colon != std::string_view::npos) {
    port = parse_unsigned(rest.substr(colon + 1), 65535).value;
  }
  if (!host_ok || !port || *port == 0) {
    r.error(v, "etcd endpoint " + quoted(*text) + " is not HOST:PORT",
            "write it as http://127.0.0.1:2379");
    return std::nullopt;
  }
  return "http://" + std::string(rest);
}

constexpr KeyRow<Etcd> kEtcdRows[] = {
    {"endpoints",
     [](Reader& r, const YAML::Node& v, Etcd& e) {
       if (!r.sequence(v, "endpoints")) {
         return;
       }
       for (const YAML::Node& item : v) {
         if (auto url = etcd_endpoint(r, item)) {
           e.endpoints.push_back(*url);
         }
       }
     }},
    {"prefix",
     [](Reader& r, const YAML::Node& v, Etcd& e) {
       if (auto s = r.string(v, "prefix")) {
         e.prefix = *s;
       }
     }},
    {"node",
     [](Reader& r, const YAML::Node& v, Etcd& e) {
       if (auto s = r.string(v, "node")) {
         e.node = *s;
       }
     }},
    {"ttl",
     [](Reader& r, const YAML::Node& v, Etcd& e) {
       if (auto d = r.duration(v, "ttl")) {
         e.ttl = *d;
       }
     }},
    {"refresh",
     [](Reader& r, const YAML::Node& v, Etcd& e) {
       if (auto d = r.duration(v, "refresh")) {
         e.refresh = *d;
       }
     }},
};

constexpr KeyRow<Admin> kAdminRows[] = {
    {"http",
     [](Reader& r, const YAML::Node& v, Admin& a) {
       if (auto hp = r.host_port(v, "http", PortRule::kRequired)) {
         a.http = Endpoint{hp->address, *hp->port};
       }
     }},
    {"socket",
     [](Reader& r, const YAML::Node& v, Admin& a) {
       if (auto s = r.string(v, "socket")) {
         a.socket = *s;
       }
     }},
    {"state_file",
     [](Reader& r, const YAML::Node& v, Admin& a) {
       if (auto s = r.string(v, "state_file")) {
         a.state_file = *s;
       }
     }},
    {"etcd",
     [](Reader& r, const YAML::Node& v, Admin& a) {
       Etcd etcd;
       etcd.origin = r.origin(v);
       if (read_map(r, v, "'etcd'", kEtcdRows, etcd)) {
         a.etcd = std::move(etcd);
       }
     }},
};

// `defense:` (issue 9). Each value is checked against its range here, where its line is known.
std::optional<std::uint32_t> defense_count(Reader& r, const YAML::Node& v, std::uint64_t min,
                                           std::uint64_t max) {
  auto n = r.unsigned_value(v, r.key(), UINT32_MAX);
  if (!n) {
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    r.error(v, quoted(r.key()) + " must be between " + std::to_string(min) + " and " +
                   std::to_string(max) + ", not " + std::to_string(*n));
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*n);
}

constexpr KeyRow<Defense> kDefenseRows[] = {
    {"syn_proxy",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       if (auto mode = syn_proxy_mode(r, v)) {
         d.syn_proxy = *mode;
       }
     }},
    {"syn_proxy_above",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       if (auto n = defense_count(r, v, 1, UINT32_MAX)) {
         d.syn_proxy_above = *n;
       }
     }},
    {"syn_proxy_mss",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       if (auto n = defense_count(r, v, kSynProxyMssMin, kSynProxyMssMax)) {
         d.syn_proxy_mss = *n;
       }
     }},
    {"half_open_per_source",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       if (auto n = defense_count(r, v, 0, UINT32_MAX)) {
         d.half_open_per_source = *n;
       }
     }},
    {"half_open_timeout",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       auto t = r.duration(v, "half_open_timeout");
       if (!t) {
         return;
       }
       if (*t < kHalfOpenTimeoutMin || *t > kHalfOpenTimeoutMax) {
         r.error(v, "'half_open_timeout' must be between " + format_duration(kHalfOpenTimeoutMin) +
                        " and " + format_duration(kHalfOpenTimeoutMax) + ", not " +
                        format_duration(*t));
         return;
       }
       d.half_open_timeout = *t;
     }},
    {"refuse",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       auto s = r.string(v, "refuse");
       if (!s) {
         return;
       }
       if (auto mode = find_word(kRefuseWords, *s)) {
         d.refuse = *mode;
         return;
       }
       r.error(v, "'refuse' expects 'rst' or 'drop'", did_you_mean(*s, word_names(kRefuseWords)));
     }},
    {"mbuf_reserve",
     [](Reader& r, const YAML::Node& v, Defense& d) {
       // A percentage, written bare (10) or with its sign ("10%").
       auto s = r.string(v, "mbuf_reserve");
       if (!s) {
         return;
       }
       std::string_view text = *s;
       if (!text.empty() && text.back() == '%') {
         text.remove_suffix(1);
       }
       auto n = parse_unsigned(text, UINT32_MAX);
       if (!n.value) {
         r.error(v, "'mbuf_reserve': " + n.error, "write a percent of the mbuf pool, such as 10");
         return;
       }
       if (*n.value > kMbufReserveMax) {
         r.error(v, "'mbuf_reserve' must be between 0 and " + std::to_string(kMbufReserveMax) +
                        " (percent of the mbuf pool), not " + std::to_string(*n.value));
         return;
       }
       d.mbuf_reserve = static_cast<std::uint32_t>(*n.value);
     }},
};

void document_defense(Reader& r, const YAML::Node& v, Document& doc) {
  Defense defense;
  defense.origin = r.origin(v);
  if (read_map(r, v, "'defense'", kDefenseRows, defense)) {
    doc.config.defense = std::move(defense);
  }
}

void document_global(Reader& r, const YAML::Node& v, Document& doc) {
  doc.config.global.origin = r.origin(v);
  read_map(r, v, "'global'", kGlobalRows, doc.config.global);
}

void document_defaults(Reader& r, const YAML::Node& v, Document& doc) {
  read_map(r, v, "'defaults'", kListenerRows, doc.defaults, kInDefaults);
}

void document_listeners(Reader& r, const YAML::Node& v, Document& doc) {
  if (!r.sequence(v, "listeners")) {
    return;
  }
  for (const YAML::Node& item : v) {
    // Each listener starts from this file's defaults, as a haproxy.cfg proxy from `defaults`.
    ListenerDraft draft = doc.defaults;
    draft.listener.origin = r.origin(item);
    if (!read_map(r, item, "a listener", kListenerRows, draft)) {
      continue;
    }
    if (!draft.has_name) {
      r.error(item, "a listener needs a 'name'");
      continue;
    }
    fill_server_ports(draft.listener, draft.portless, r.diags());
    doc.config.listeners.push_back(std::move(draft.listener));
  }
}

void document_dataplane(Reader& r, const YAML::Node& v, Document& doc) {
  Dataplane dataplane;
  dataplane.origin = r.origin(v);
  if (read_map(r, v, "'dataplane'", kDataplaneRows, dataplane)) {
    doc.config.dataplane = std::move(dataplane);
  }
}

void document_admin(Reader& r, const YAML::Node& v, Document& doc) {
  Admin admin;
  admin.origin = r.origin(v);
  if (read_map(r, v, "'admin'", kAdminRows, admin)) {
    doc.config.admin = std::move(admin);
  }
}

constexpr KeyRow<Document> kDocumentRows[] = {
    {"global", document_global},       {"defaults", document_defaults},
    {"listeners", document_listeners}, {"dataplane", document_dataplane},
    {"admin", document_admin},         {"defense", document_defense},
};

// Counts a stream's documents without building them. yaml-cpp 0.7's LoadAll() never returns on a
// stray flow indicator such as a leading ',' (jbeder/yaml-cpp#1040, fixed upstream by #1319):
// each call yields another empty document at the same place. Load() returns one empty document
// there, which would make a broken file look empty. A bounded loop tells the cases apart.
class DocumentProbe : public YAML::EventHandler {
 public:
  struct Seen {
    std::optional<YAML::Mark> first;  // the first node event of the document
    bool content = false;             // anything but a lone null
  };
  std::vector<Seen> documents;

  void OnDocumentStart(const YAML::Mark&) override { documents.emplace_back(); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark, false); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark, true); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    note(mark, true);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    note(mark, true);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    note(mark, true);
  }
  void OnMapEnd() override {}

 private:
  void note(const YAML::Mark& mark, bool content) {
    if (documents.empty()) {
      documents.emplace_back();
    }
    Seen& seen = documents.back();
    if (!seen.first) {
      seen.first = mark;
    }
    seen.content = seen.content || content;
  }
};

struct DocumentCount {
  std::optional<YAML::Mark> stuck_at;         // the parser made no progress here
  std::optional<YAML::Mark> second_document;  // where a second, non-empty document starts
};

DocumentCount count_documents(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentProbe probe;
  constexpr int kEnough = 3;  // a second document is already one too many
  for (int i = 0; i < kEnough && parser.HandleNextDocument(probe); ++i) {
  }
  DocumentCount count;
  const auto& docs = probe.documents;
  for (std::size_t i = 1; i < docs.size(); ++i) {
    if (docs[i].first && docs[i - 1].first && docs[i].first->pos == docs[i - 1].first->pos) {
      count.stuck_at = docs[i].first;
      return count;
    }
  }
  for (std::size_t i = 1; i < docs.size(); ++i) {
    if (docs[i].content) {
      count.second_document = docs[i].first;
      break;
    }
  }
  return count;
}

std::string where(const Origin& origin) {
  return origin.file + ":" + std::to_string(origin.line);
}

// Later files add listeners and log targets, and override single values, as several -f files do.
void merge(Config&& from, Config& into, Diagnostics& diags) {
  if (into.global.origin.file.empty()) {
    into.global.origin = from.global.origin;
  }
  if (from.global.maxconn) {
    into.global.maxconn = from.global.maxconn;
  }
  for (LogTarget& target : from.global.log) {
    into.global.log.push_back(std::move(target));
  }
  if (!from.global.log_tag.empty()) {
    into.global.log_tag = from.global.log_tag;
  }
  if (from.global.log_send_hostname) {
    into.global.log_send_hostname = from.global.log_send_hostname;
  }
  for (StatsSocket& socket : from.global.stats_sockets) {
    into.global.stats_sockets.push_back(std::move(socket));
  }
  if (from.global.stats_timeout) {
    into.global.stats_timeout = from.global.stats_timeout;
  }
  if (from.global.stats_maxconn) {
    into.global.stats_maxconn = from.global.stats_maxconn;
  }
  if (!from.global.server_state_base.empty()) {
    into.global.server_state_base = std::move(from.global.server_state_base);
  }
  if (!from.global.server_state_file.empty()) {
    into.global.server_state_file = std::move(from.global.server_state_file);
  }
  for (Listener& listener : from.listeners) {
    into.listeners.push_back(std::move(listener));
  }
  if (from.dataplane) {
    if (into.dataplane) {
      const Origin& o = from.dataplane->origin;
      diags.warning(
          o.file, o.line, o.column,
          "this 'dataplane' section replaces the one at " + where(into.dataplane->origin));
    }
    into.dataplane = std::move(from.dataplane);
  }
  if (from.admin) {
    if (into.admin) {
      const Origin& o = from.admin->origin;
      diags.warning(o.file, o.line, o.column,
                    "this 'admin' section replaces the one at " + where(into.admin->origin));
    }
    into.admin = std::move(from.admin);
  }
  if (from.defense) {
    if (into.defense) {
      const Origin& o = from.defense->origin;
      diags.warning(o.file, o.line, o.column,
                    "this 'defense' section replaces the one at " + where(into.defense->origin));
    }
    into.defense = std::move(from.defense);
  }
}

}  // namespace

void parse_yaml(const std::string& text, const std::string& file_name, Config& into,
                Diagnostics& diags) {
  YAML::Node root;
  std::optional<YAML::Mark> problem;
  std::string problem_message;
  try {
    root = YAML::Load(text);
    const DocumentCount count = count_documents(text);
    if (count.stuck_at) {
      problem = count.stuck_at;
      const auto pos = static_cast<std::size_t>(count.stuck_at->pos);
      problem_message = pos < text.size()
                            ? "unexpected character '" + std::string(1, text[pos]) + "'"
                            : "unexpected end of input";
    } else if (count.second_document) {
      problem = count.second_document;
      problem_message = "a configuration file holds one YAML document";
    }
  } catch (const YAML::Exception& e) {
    diags.error(file_name, e.mark.line + 1, e.mark.column + 1, e.msg);
    return;
  }
  if (problem) {
    diags.error(file_name, problem->line + 1, problem->column + 1, problem_message);
    return;
  }
  if (root.IsNull()) {
    return;  // an empty file configures nothing
  }
  Reader reader(file_name, diags);
  Document document;
  try {
    read_map(reader, root, "the top level", kDocumentRows, document);
  } catch (const YAML::Exception& e) {
    // Not expected: every access above checks the node type first. Kept so a yaml-cpp surprise
    // is a diagnostic, never a crash of `postern -c`.
    diags.error(file_name, e.mark.line + 1, e.mark.column + 1, e.msg);
    return;
  }
  merge(std::move(document.config), into, diags);
}

}  // namespace postern::config
