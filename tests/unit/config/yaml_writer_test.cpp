// to_yaml: what it prints reads back to an equal model, and printing is deterministic.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::clean;
using testing::endpoint;
using testing::ip;

// Every field of the model set to something other than its default, IPv6 included.
Config full_model() {
  Config c;
  c.global.maxconn = 40000;
  LogTarget syslog;
  syslog.address = "127.0.0.1:514";
  syslog.facility = "local0";
  syslog.level = "info";
  syslog.min_level = "err";
  c.global.log.push_back(syslog);
  LogTarget raw;
  raw.address = "stdout";
  raw.format = "raw";
  raw.len = 4096;
  raw.facility = "daemon";
  c.global.log.push_back(raw);
  c.global.log_tag = "haproxy";
  c.global.log_send_hostname = "";
  StatsSocket admin_socket;
  admin_socket.path = "/run/haproxy/admin.sock";
  admin_socket.level = ApiLevel::kAdmin;
  admin_socket.mode = 0660;
  admin_socket.user = "haproxy";
  admin_socket.group = "staff";
  StatsSocket user_socket;
  user_socket.path = "/run/haproxy/ro.sock";
  user_socket.level = ApiLevel::kUser;
  user_socket.uid = 0;
  user_socket.gid = 33;
  c.global.stats_sockets = {admin_socket, user_socket};
  c.global.stats_timeout = 120000;
  c.global.stats_maxconn = 20;
  c.global.server_state_base = "/var/lib/postern";
  c.global.server_state_file = "global.state";

  Listener l;
  l.name = "imap";
  Bind any;
  any.endpoint = endpoint("0.0.0.0:143");
  Bind v6;
  v6.endpoint = endpoint("[2001:db8::100]:143");
  v6.accept_proxy = true;
  l.binds = {any, v6};
  l.balance = Balance::kStaticRoundRobin;
  l.timeouts = Timeouts{10000, 60000, 3600000, 250, 1, 86400000, 61000, 0};
  l.maxconn = 9000;
  l.retries = 0;
  l.redispatch = true;
  l.check_type = CheckType::kTcpCheck;
  TcpCheckRule connect;
  connect.kind = TcpCheckRule::Kind::kConnect;
  connect.port = 1143;
  connect.send_proxy = true;
  connect.linger = true;
  TcpCheckRule send;
  send.kind = TcpCheckRule::Kind::kSend;
  send.data = "a1 LOGIN \"user\" 'pw'\r\n\ttab";
  TcpCheckRule binary;
  binary.kind = TcpCheckRule::Kind::kSendBinary;
  binary.data = "0d0a";
  TcpCheckRule expect;
  expect.kind = TcpCheckRule::Kind::kExpect;
  expect.match = TcpCheckRule::Match::kRstring;
  expect.data = "^\\* OK [A-Z]+: #1";
  expect.negate = true;
  TcpCheckRule expect_binary;
  expect_binary.kind = TcpCheckRule::Kind::kExpect;
  expect_binary.match = TcpCheckRule::Match::kBinary;
  expect_binary.data = "2b4f4b";
  l.tcp_check_rules = {connect, send, binary, expect, expect_binary};
  l.dontlognull = true;
  LogTarget global_log;
  global_log.global = true;
  l.log = {global_log, syslog};
  l.log_tag = "imap-lb";
  l.backend = "imap_servers";
  Server s1;
  s1.name = "s1";
  s1.endpoint = endpoint("10.0.0.1:143");
  s1.weight = 0;
  s1.check = true;
  s1.inter = 1500;
  s1.fastinter = 500;
  s1.downinter = 60000;
  s1.rise = 1;
  s1.fall = 9;
  s1.send_proxy_v2 = true;
  s1.check_send_proxy = true;
  s1.backup = true;
  s1.disabled = true;
  s1.maxconn = 77;
  s1.check_port = 1143;
  s1.check_addr = ip("10.0.1.1");
  s1.slowstart = 90000;
  s1.shutdown_sessions_on_down = true;
  s1.shutdown_backup_sessions_on_up = true;
  s1.observe_layer4 = true;
  s1.error_limit = 3;
  s1.on_error = OnError::kSuddenDeath;
  Server s2;
  s2.name = "yes";  // a name YAML 1.1 would read as a boolean
  s2.endpoint = endpoint("[2001:db8::2]:143");
  l.servers = {s1, s2};
  l.backend = "imap-be";
  l.load_server_state = ServerStateLoad::kLocal;
  l.server_state_file_name = "imap.state";
  c.listeners.push_back(l);

  Listener bare;
  bare.name = "123";
  bare.load_server_state = ServerStateLoad::kGlobal;
  c.listeners.push_back(bare);

  // One listener per other check type, with and without their settings.
  Listener smtp;
  smtp.name = "smtp";
  smtp.check_type = CheckType::kSmtp;
  smtp.smtpchk_verb = "EHLO";
  smtp.smtpchk_domain = "lb.example.org";
  smtp.tcp_check_rules = {connect};  // kept aside, as HAProxy does, and dumped
  c.listeners.push_back(smtp);
  Listener helo = smtp;
  helo.name = "helo";
  helo.smtpchk_verb.clear();
  helo.smtpchk_domain.clear();
  helo.tcp_check_rules.clear();
  c.listeners.push_back(helo);
  for (const MailProtocol protocol :
       {MailProtocol::kAuto, MailProtocol::kImap, MailProtocol::kPop3, MailProtocol::kLmtp,
        MailProtocol::kSmtp, MailProtocol::kSieve}) {
    Listener mail;
    mail.name = "mail" + std::to_string(static_cast<int>(protocol));
    mail.check_type = CheckType::kMail;
    mail.mail_protocol = protocol;
    c.listeners.push_back(mail);
  }

  Dataplane d;
  d.eal = {"-l", "0-1", "--no-huge", "-m", "512", "--no-shconf", "--no-pci"};
  d.workers = 3;
  d.flows = 4096;
  Interface client;
  client.name = "client";
  client.device = "net_af_packet0,iface=veth-c,framecnt=4096,qdisc_bypass=1";
  client.address = *IpPrefix::parse("198.18.0.1/24");
  Interface servers;
  servers.name = "servers";
  servers.device = "0000:3b:00.1";
  servers.address = *IpPrefix::parse("2001:db8:1::1/64");
  d.interfaces = {client, servers};
  Route route;
  route.to = *IpPrefix::parse("0.0.0.0/0");
  route.via = ip("198.18.0.254");
  d.routes = {route};
  d.vips = {ip("198.18.0.100"), ip("2001:db8::100")};
  d.source_addresses = {ip("198.19.0.1")};
  c.dataplane = d;

  Admin a;
  a.http = endpoint("127.0.0.1:9180");
  a.socket = "/run/postern/admin.sock";
  a.state_file = "/run/postern/state.json";
  c.admin = a;
  return c;
}

Config reload(const std::string& text, Diagnostics& diags) {
  Config c;
  parse_yaml(text, "dump.yaml", c, diags);
  return c;
}

TEST(YamlWriter, RoundTripsTheFullModel) {
  const Config model = full_model();
  const std::string text = to_yaml(model);
  Diagnostics diags;
  const Config back = reload(text, diags);
  ASSERT_TRUE(clean(diags)) << text;
  EXPECT_EQ(back, model) << text;
}

TEST(YamlWriter, PrintsTheSameTextTwice) {
  const std::string first = to_yaml(full_model());
  Diagnostics diags;
  const std::string second = to_yaml(reload(first, diags));
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(first, second);
}

TEST(YamlWriter, RoundTripsAnEmptyModel) {
  const std::string text = to_yaml(Config{});
  Diagnostics diags;
  EXPECT_EQ(reload(text, diags), Config{}) << text;
  EXPECT_TRUE(clean(diags)) << text;
}

TEST(YamlWriter, PrintsDurationsInTheLargestExactUnit) {
  const std::string text = to_yaml(full_model());
  EXPECT_NE(text.find("connect: 10s"), std::string::npos) << text;
  EXPECT_NE(text.find("client: 1m"), std::string::npos) << text;
  EXPECT_NE(text.find("server: 1h"), std::string::npos) << text;
  EXPECT_NE(text.find("check: 250ms"), std::string::npos) << text;
  EXPECT_NE(text.find("client_fin: 1d"), std::string::npos) << text;
  EXPECT_NE(text.find("server_fin: 61s"), std::string::npos) << text;
  EXPECT_NE(text.find("inter: 1500ms"), std::string::npos) << text;
}

TEST(YamlWriter, PrintsTheCheckOfEachListener) {
  const std::string text = to_yaml(full_model());
  EXPECT_NE(text.find("    check:\n      type: tcp-check\n      rules:"), std::string::npos)
      << text;
  EXPECT_NE(text.find("    check:\n      type: connect\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      type: smtpchk\n      smtpchk: {verb: EHLO, domain: lb.example.org}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("      type: mail-check\n      mail_protocol: auto\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("mail_protocol: sieve"), std::string::npos) << text;
  EXPECT_NE(text.find("linger: true"), std::string::npos) << text;
}

// The health reactions are written when they differ from the built-in values only, so a dump
// of a configuration that never names them reads as it did before they existed.
TEST(YamlWriter, LeavesBuiltInHealthReactionsOut) {
  const std::string text = to_yaml(full_model());
  for (const char* line : {"slowstart: 90s", "on_marked_down: shutdown-sessions",
                           "on_marked_up: shutdown-backup-sessions", "observe: layer4",
                           "error_limit: 3", "on_error: sudden-death"}) {
    EXPECT_EQ(text.find(line), text.rfind(line)) << line << " once, for s1 only\n" << text;
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  Config plain;
  Listener l;
  l.name = "a";
  Server s;
  s.name = "s";
  s.endpoint = endpoint("10.0.0.1:143");
  l.servers = {s};
  plain.listeners = {l};
  const std::string bare = to_yaml(plain);
  for (const char* key :
       {"slowstart", "on_marked_down", "on_marked_up", "observe", "error_limit", "on_error"}) {
    EXPECT_EQ(bare.find(key), std::string::npos) << key << "\n" << bare;
  }
}

TEST(YamlWriter, RoundTripsTheHealthSettingsOfAHaproxyFile) {
  Diagnostics diags;
  Config c;
  parse_haproxy(
      testing::lines({"defaults", "timeout client 1m", "option smtpchk EHLO lb.example.org",
                      "default-server check observe layer4 on-error mark-down error-limit 4",
                      "listen smtp", "bind :25", "server s 10.0.0.1 slowstart 20s", "listen sieve",
                      "bind :4190", "option mail-check managesieve", "tcp-check connect linger",
                      "server s 10.0.0.1 on-marked-down "
                      "shutdown-sessions on-marked-up shutdown-backup-sessions"}),
      "t.cfg", c, diags);
  ASSERT_TRUE(testing::no_errors(diags));
  const std::string text = to_yaml(c);
  Diagnostics back_diags;
  EXPECT_EQ(reload(text, back_diags), c) << text;
  EXPECT_TRUE(testing::no_errors(back_diags));
  EXPECT_EQ(to_yaml(reload(text, back_diags)), text);
}

TEST(YamlWriter, PrintsTheResolvedModelWithoutDefaults) {
  Diagnostics diags;
  Config c;
  parse_haproxy(testing::lines({"defaults", "timeout client 1m", "default-server check", "listen a",
                                "bind :24", "server s 10.0.0.1"}),
                "t.cfg", c, diags);
  const std::string text = to_yaml(c);
  EXPECT_EQ(text.find("defaults"), std::string::npos) << text;
  EXPECT_NE(text.find("client: 1m"), std::string::npos) << text;
  EXPECT_NE(text.find("address: 10.0.0.1:24"), std::string::npos) << text;
  Diagnostics back_diags;
  EXPECT_EQ(reload(text, back_diags), c);
}

}  // namespace
}  // namespace postern::config
