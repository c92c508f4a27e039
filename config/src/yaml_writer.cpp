// Prints the merged, fully resolved model as YAML that parse_yaml reads back to an equal model:
// what `postern -c --dump` shows. Keys come in one fixed order so the text is deterministic.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "defense_words.hpp"
#include "health_check.hpp"
#include "postern/config/load.hpp"
#include "text.hpp"

namespace postern::config {
namespace {

// Words other YAML readers would take for a boolean, a null or a number; quoted so a name such
// as "yes" or an EAL argument such as "512" stays a string for every reader, not only ours.
bool looks_like_other_type(const std::string& text) {
  static constexpr std::string_view kWords[] = {
      "y",  "Y",    "yes",  "Yes",  "YES",   "n",     "N",     "no", "No",
      "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
      "ON", "off",  "Off",  "OFF",  "null",  "Null",  "NULL",  "~"};
  if (text.empty() || is_one_of(text, kWords)) {
    return true;
  }
  const std::size_t start = text[0] == '-' || text[0] == '+' ? 1 : 0;
  return start < text.size() &&
         std::all_of(text.begin() + static_cast<std::ptrdiff_t>(start), text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_';
         });
}

// yaml-cpp picks single quotes or plain style for most strings, and in those styles a raw CR or
// tab would be folded or lost on reading back; double quotes escape every control character.
void emit_string(YAML::Emitter& out, const std::string& text) {
  const bool needs_escapes = std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
  if (needs_escapes || looks_like_other_type(text)) {
    out << YAML::DoubleQuoted;
  }
  out << text;
}

void emit_key_string(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value;
  emit_string(out, value);
}

template <typename T>
void emit_key(YAML::Emitter& out, const char* key, const T& value) {
  out << YAML::Key << key << YAML::Value << value;
}

void emit_duration(YAML::Emitter& out, const char* key, Millis value) {
  out << YAML::Key << key << YAML::Value << format_duration(value);
}

void emit_log(YAML::Emitter& out, const std::vector<LogTarget>& targets) {
  out << YAML::Key << "log" << YAML::Value << YAML::BeginSeq;
  for (const LogTarget& target : targets) {
    if (target.global) {
      out << "global";
      continue;
    }
    out << YAML::BeginMap;
    emit_key_string(out, "address", target.address);
    if (target.len != 0) {
      emit_key(out, "len", target.len);
    }
    if (!target.format.empty()) {
      emit_key_string(out, "format", target.format);
    }
    emit_key_string(out, "facility", target.facility);
    if (!target.level.empty()) {
      emit_key_string(out, "level", target.level);
    }
    if (!target.min_level.empty()) {
      emit_key_string(out, "min_level", target.min_level);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void emit_timeouts(YAML::Emitter& out, const Timeouts& timeouts) {
  struct Timer {
    const char* key;
    std::optional<Millis> Timeouts::*field;
  };
  static constexpr Timer kTimers[] = {
      {"connect", &Timeouts::connect},       {"client", &Timeouts::client},
      {"server", &Timeouts::server},         {"check", &Timeouts::check},
      {"queue", &Timeouts::queue},           {"client_fin", &Timeouts::client_fin},
      {"server_fin", &Timeouts::server_fin}, {"tunnel", &Timeouts::tunnel},
  };
  bool any = false;
  for (const Timer& timer : kTimers) {
    any = any || (timeouts.*(timer.field)).has_value();
  }
  if (!any) {
    return;
  }
  out << YAML::Key << "timeouts" << YAML::Value << YAML::BeginMap;
  for (const Timer& timer : kTimers) {
    if (const auto& value = timeouts.*(timer.field)) {
      emit_duration(out, timer.key, *value);
    }
  }
  out << YAML::EndMap;
}

void emit_rule(YAML::Emitter& out, const TcpCheckRule& rule) {
  out << YAML::BeginMap;
  switch (rule.kind) {
    case TcpCheckRule::Kind::kConnect:
      emit_key(out, "action", "connect");
      if (rule.port) {
        emit_key(out, "port", *rule.port);
      }
      emit_key(out, "send_proxy", rule.send_proxy);
      emit_key(out, "linger", rule.linger);
      break;
    case TcpCheckRule::Kind::kSend:
      emit_key(out, "action", "send");
      emit_key_string(out, "data", rule.data);
      break;
    case TcpCheckRule::Kind::kSendBinary:
      emit_key(out, "action", "send_binary");
      emit_key_string(out, "data", rule.data);
      break;
    case TcpCheckRule::Kind::kExpect: {
      emit_key(out, "action", "expect");
      const char* match = rule.match == TcpCheckRule::Match::kString    ? "string"
                          : rule.match == TcpCheckRule::Match::kRstring ? "rstring"
                                                                        : "binary";
      emit_key(out, "match", match);
      emit_key_string(out, "pattern", rule.data);
      emit_key(out, "negate", rule.negate);
      break;
    }
  }
  out << YAML::EndMap;
}

void emit_server(YAML::Emitter& out, const Server& server) {
  out << YAML::BeginMap;
  emit_key_string(out, "name", server.name);
  if (server.endpoint) {
    emit_key(out, "address", server.endpoint->to_string());
  }
  emit_key(out, "weight", server.weight);
  emit_key(out, "check", server.check);
  emit_duration(out, "inter", server.inter);
  if (server.fastinter) {
    emit_duration(out, "fastinter", *server.fastinter);
  }
  if (server.downinter) {
    emit_duration(out, "downinter", *server.downinter);
  }
  emit_key(out, "rise", server.rise);
  emit_key(out, "fall", server.fall);
  emit_key(out, "send_proxy_v2", server.send_proxy_v2);
  emit_key(out, "check_send_proxy", server.check_send_proxy);
  emit_key(out, "backup", server.backup);
  emit_key(out, "disabled", server.disabled);
  if (server.maxconn) {
    emit_key(out, "maxconn", *server.maxconn);
  }
  if (server.check_port) {
    emit_key(out, "check_port", *server.check_port);
  }
  if (server.check_addr) {
    emit_key(out, "check_addr", server.check_addr->to_string());
  }
  // What the server does about its health beyond the check itself, written only when it
  // differs from the built-in values, which the reader gives back when they are left out.
  static const Server kBuiltIn;
  if (server.slowstart) {
    emit_duration(out, "slowstart", *server.slowstart);
  }
  if (server.shutdown_sessions_on_down) {
    emit_key(out, "on_marked_down", "shutdown-sessions");
  }
  if (server.shutdown_backup_sessions_on_up) {
    emit_key(out, "on_marked_up", "shutdown-backup-sessions");
  }
  if (server.observe_layer4) {
    emit_key(out, "observe", "layer4");
  }
  if (server.error_limit != kBuiltIn.error_limit) {
    emit_key(out, "error_limit", server.error_limit);
  }
  if (server.on_error != kBuiltIn.on_error) {
    emit_key(out, "on_error", std::string(word_name(kOnErrorWords, server.on_error)));
  }
  out << YAML::EndMap;
}

void emit_check(YAML::Emitter& out, const Listener& listener) {
  out << YAML::Key << "check" << YAML::Value << YAML::BeginMap;
  emit_key(out, "type", std::string(word_name(kCheckTypeWords, listener.check_type)));
  if (listener.check_type == CheckType::kSmtp && !listener.smtpchk_verb.empty()) {
    out << YAML::Key << "smtpchk" << YAML::Value << YAML::Flow << YAML::BeginMap;
    emit_key_string(out, "verb", listener.smtpchk_verb);
    emit_key_string(out, "domain", listener.smtpchk_domain);
    out << YAML::EndMap;
  }
  if (listener.check_type == CheckType::kMail) {
    const std::string_view protocol = listener.mail_protocol == MailProtocol::kAuto
                                          ? "auto"
                                          : word_name(kMailProtocolWords, listener.mail_protocol);
    emit_key(out, "mail_protocol", std::string(protocol));
  }
  if (!listener.tcp_check_rules.empty()) {
    out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    for (const TcpCheckRule& rule : listener.tcp_check_rules) {
      emit_rule(out, rule);
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

const char* level_word(ApiLevel level) {
  switch (level) {
    case ApiLevel::kUser:
      return "user";
    case ApiLevel::kOperator:
      return "operator";
    case ApiLevel::kAdmin:
      return "admin";
  }
  return "operator";
}

void emit_stats_sockets(YAML::Emitter& out, const std::vector<StatsSocket>& sockets) {
  out << YAML::Key << "stats_sockets" << YAML::Value << YAML::BeginSeq;
  for (const StatsSocket& socket : sockets) {
    out << YAML::Flow << YAML::BeginMap;
    emit_key_string(out, "path", socket.path);
    emit_key(out, "level", level_word(socket.level));
    if (socket.mode) {
      char octal[8];
      std::snprintf(octal, sizeof octal, "%o", static_cast<unsigned>(*socket.mode));
      out << YAML::Key << "mode" << YAML::Value << YAML::DoubleQuoted << std::string(octal);
    }
    if (!socket.user.empty()) {
      emit_key_string(out, "user", socket.user);
    }
    if (socket.uid) {
      emit_key(out, "uid", *socket.uid);
    }
    if (!socket.group.empty()) {
      emit_key_string(out, "group", socket.group);
    }
    if (socket.gid) {
      emit_key(out, "gid", *socket.gid);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

const char* load_word(ServerStateLoad load) {
  switch (load) {
    case ServerStateLoad::kGlobal:
      return "global";
    case ServerStateLoad::kLocal:
      return "local";
    case ServerStateLoad::kNone:
      break;
  }
  return "none";
}

void emit_listener(YAML::Emitter& out, const Listener& listener) {
  out << YAML::BeginMap;
  emit_key_string(out, "name", listener.name);
  out << YAML::Key << "binds" << YAML::Value << YAML::BeginSeq;
  for (const Bind& bind : listener.binds) {
    out << YAML::Flow << YAML::BeginMap;
    emit_key(out, "address", bind.endpoint.to_string());
    emit_key(out, "accept_proxy", bind.accept_proxy);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  emit_key(out, "balance", listener.balance == Balance::kRoundRobin ? "roundrobin" : "static-rr");
  emit_timeouts(out, listener.timeouts);
  if (listener.maxconn) {
    emit_key(out, "maxconn", *listener.maxconn);
  }
  emit_key(out, "retries", listener.retries);
  emit_key(out, "redispatch", listener.redispatch);
  emit_key(out, "dontlognull", listener.dontlognull);
  if (!listener.log.empty()) {
    emit_log(out, listener.log);
  }
  if (!listener.log_tag.empty()) {
    emit_key_string(out, "log_tag", listener.log_tag);
  }
  emit_check(out, listener);
  if (!listener.backend.empty()) {
    emit_key_string(out, "backend", listener.backend);
  }
  if (listener.load_server_state != ServerStateLoad::kNone) {
    emit_key(out, "load_server_state", load_word(listener.load_server_state));
  }
  if (!listener.server_state_file_name.empty()) {
    emit_key_string(out, "server_state_file_name", listener.server_state_file_name);
  }
  if (listener.syn_proxy) {
    emit_key_string(out, "syn_proxy", std::string(word_name(kSynProxyWords, *listener.syn_proxy)));
  }
  out << YAML::Key << "servers" << YAML::Value << YAML::BeginSeq;
  for (const Server& server : listener.servers) {
    emit_server(out, server);
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

void emit_addresses(YAML::Emitter& out, const char* key, const std::vector<IpAddress>& list) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const IpAddress& address : list) {
    out << address.to_string();
  }
  out << YAML::EndSeq;
}

void emit_dataplane(YAML::Emitter& out, const Dataplane& dataplane) {
  out << YAML::Key << "dataplane" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "eal" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& argument : dataplane.eal) {
    emit_string(out, argument);
  }
  out << YAML::EndSeq;
  emit_key(out, "workers", dataplane.workers);
  emit_key(out, "flows", dataplane.flows);
  out << YAML::Key << "interfaces" << YAML::Value << YAML::BeginSeq;
  for (const Interface& interface : dataplane.interfaces) {
    out << YAML::BeginMap;
    emit_key_string(out, "name", interface.name);
    emit_key_string(out, "device", interface.device);
    emit_key(out, "address", interface.address.to_string());
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (!dataplane.routes.empty()) {
    out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
    for (const Route& route : dataplane.routes) {
      out << YAML::Flow << YAML::BeginMap;
      emit_key(out, "to", route.to.to_string());
      emit_key(out, "via", route.via.to_string());
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  emit_addresses(out, "vips", dataplane.vips);
  emit_addresses(out, "source_addresses", dataplane.source_addresses);
  out << YAML::EndMap;
}

void emit_admin(YAML::Emitter& out, const Admin& admin) {
  out << YAML::Key << "admin" << YAML::Value << YAML::BeginMap;
  if (admin.http) {
    emit_key(out, "http", admin.http->to_string());
  }
  if (!admin.socket.empty()) {
    emit_key_string(out, "socket", admin.socket);
  }
  if (!admin.state_file.empty()) {
    emit_key_string(out, "state_file", admin.state_file);
  }
  if (admin.etcd) {
    const Etcd& etcd = *admin.etcd;
    out << YAML::Key << "etcd" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "endpoints" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& url : etcd.endpoints) {
      emit_string(out, url);
    }
    out << YAML::EndSeq;
    emit_key_string(out, "prefix", etcd.prefix);
    if (!etcd.node.empty()) {
      emit_key_string(out, "node", etcd.node);
    }
    emit_duration(out, "ttl", etcd.ttl);
    emit_duration(out, "refresh", etcd.refresh);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

// Every key, defaults included: the section is short and the dump says what runs.
void emit_defense(YAML::Emitter& out, const Defense& defense) {
  out << YAML::Key << "defense" << YAML::Value << YAML::BeginMap;
  emit_key_string(out, "syn_proxy", std::string(word_name(kSynProxyWords, defense.syn_proxy)));
  emit_key(out, "syn_proxy_above", defense.syn_proxy_above);
  emit_key(out, "syn_proxy_mss", defense.syn_proxy_mss);
  emit_key(out, "half_open_per_source", defense.half_open_per_source);
  emit_duration(out, "half_open_timeout", defense.half_open_timeout);
  emit_key(out, "refuse", std::string(word_name(kRefuseWords, defense.refuse)));
  emit_key(out, "mbuf_reserve", defense.mbuf_reserve);
  out << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap;

  const Global& global = config.global;
  if (global.maxconn || !global.log.empty() || !global.log_tag.empty() ||
      global.log_send_hostname || !global.stats_sockets.empty() || global.stats_timeout ||
      global.stats_maxconn || !global.server_state_base.empty() ||
      !global.server_state_file.empty()) {
    out << YAML::Key << "global" << YAML::Value << YAML::BeginMap;
    if (global.maxconn) {
      emit_key(out, "maxconn", *global.maxconn);
    }
    if (!global.log.empty()) {
      emit_log(out, global.log);
    }
    if (!global.log_tag.empty()) {
      emit_key_string(out, "log_tag", global.log_tag);
    }
    if (global.log_send_hostname) {
      emit_key_string(out, "log_send_hostname", *global.log_send_hostname);
    }
    if (!global.stats_sockets.empty()) {
      emit_stats_sockets(out, global.stats_sockets);
    }
    if (global.stats_timeout) {
      emit_duration(out, "stats_timeout", *global.stats_timeout);
    }
    if (global.stats_maxconn) {
      emit_key(out, "stats_maxconn", *global.stats_maxconn);
    }
    if (!global.server_state_base.empty()) {
      emit_key_string(out, "server_state_base", global.server_state_base);
    }
    if (!global.server_state_file.empty()) {
      emit_key_string(out, "server_state_file", global.server_state_file);
    }
    out << YAML::EndMap;
  }

  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const Listener& listener : config.listeners) {
    emit_listener(out, listener);
  }
  out << YAML::EndSeq;

  if (config.dataplane) {
    emit_dataplane(out, *config.dataplane);
  }
  if (config.admin) {
    emit_admin(out, *config.admin);
  }
  if (config.defense) {
    emit_defense(out, *config.defense);
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace postern::config
