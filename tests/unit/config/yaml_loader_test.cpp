// The YAML reader: the whole schema, defaults, and FILE:LINE:COLUMN on unknown keys, wrong
// types and syntax errors.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::clean;
using testing::endpoint;
using testing::has_diagnostic;
using testing::ip;
using testing::lines;
using testing::yaml;

const std::string kFullSchema = lines({
    "global:",                                                                       // 1
    "  maxconn: 50000",                                                              // 2
    "  log:",                                                                        // 3
    "    - {address: 127.0.0.1:514, facility: local0, level: info}",                 // 4
    "defaults:",                                                                     // 5
    "  timeouts: {connect: 5s, client: 30m, server: 30m}",                           // 6
    "  retries: 2",                                                                  // 7
    "  log: [global]",                                                               // 8
    "  default_server: {check: true, send_proxy_v2: true, inter: 3s}",               // 9
    "listeners:",                                                                    // 10
    "  - name: imap",                                                                // 11
    "    binds:",                                                                    // 12
    "      - 0.0.0.0:143",                                                           // 13
    "      - {address: \"[2001:db8::100]:143\", accept_proxy: true}",                // 14
    "    balance: static-rr",                                                        // 15
    "    timeouts:",                                                                 // 16
    "      check: 2s",                                                               // 17
    "      queue: 1500",                                                             // 18
    "      client_fin: 1s",                                                          // 19
    "      server_fin: 1s",                                                          // 20
    "      tunnel: 1h",                                                              // 21
    "    maxconn: 10000",                                                            // 22
    "    redispatch: true",                                                          // 23
    "    dontlognull: true",                                                         // 24
    "    check:",                                                                    // 25
    "      type: tcp-check",                                                         // 26
    "      rules:",                                                                  // 27
    "        - {action: connect, port: 143, send_proxy: true, linger: true}",        // 28
    "        - {action: expect, match: string, pattern: \"* OK\"}",                  // 29
    "        - {action: send, data: \"a1 LOGOUT\\r\\n\"}",                           // 30
    "        - {action: send_binary, data: 0D0A}",                                   // 31
    "        - {action: expect, match: rstring, pattern: \"^-ERR\", negate: true}",  // 32
    "    servers:",                                                                  // 33
    "      - {name: s1, address: 10.0.0.1:143, weight: 10, slowstart: 30s, observe: layer4,"
    " error_limit: 5, on_error: sudden-death, on_marked_down: shutdown-sessions,"
    " on_marked_up: shutdown-backup-sessions}",  // 34
    "      - name: s2",                          // 35
    "        address: 10.0.0.2",                 // 36
    "        check: false",                      // 37
    "        fastinter: 1s",                     // 38
    "        downinter: 10s",                    // 39
    "        rise: 3",                           // 40
    "        fall: 4",                           // 41
    "        check_send_proxy: true",            // 42
    "        backup: true",                      // 43
    "        disabled: true",                    // 44
    "        maxconn: 100",                      // 45
    "        check_port: 1143",                  // 46
    "        check_addr: 10.0.1.2",              // 47
    "dataplane:",                                // 48
    "  eal: [\"-l\", \"0-1\", \"--no-huge\", \"-m\", \"512\", \"--no-shconf\", \"--no-pci\"]",
    "  workers: 1",
    "  flows: 262144",
    "  interfaces:",
    "    - name: client",
    "      device: \"net_af_packet0,iface=veth-c,framecnt=4096,qdisc_bypass=1\"",
    "      address: 198.18.0.1/24",
    "    - name: servers",
    "      device: \"net_af_packet1,iface=veth-s,framecnt=4096,qdisc_bypass=1\"",
    "      address: 198.19.0.1/24",
    "  routes:",
    "    - { to: 0.0.0.0/0, via: 198.18.0.254 }",
    "  vips: [198.18.0.100]",
    "  source_addresses: [198.19.0.1]",
    "admin:",
    "  http: 127.0.0.1:9180",
    "  socket: /run/postern/admin.sock",
    "  state_file: /run/postern/state.json",
});

TEST(YamlLoader, ReadsTheWholeSchema) {
  Diagnostics diags;
  const Config c = yaml(kFullSchema, diags);
  ASSERT_TRUE(clean(diags));

  EXPECT_EQ(c.global.maxconn, 50000U);
  ASSERT_EQ(c.global.log.size(), 1U);
  EXPECT_EQ(c.global.log[0].address, "127.0.0.1:514");
  EXPECT_EQ(c.global.log[0].level, "info");
  EXPECT_EQ(c.global.origin.line, 2);

  ASSERT_EQ(c.listeners.size(), 1U);
  const Listener& l = c.listeners[0];
  EXPECT_EQ(l.name, "imap");
  EXPECT_EQ(l.origin.line, 11);
  EXPECT_EQ(l.origin.column, 5);
  ASSERT_EQ(l.binds.size(), 2U);
  EXPECT_EQ(l.binds[0].endpoint, endpoint("0.0.0.0:143"));
  EXPECT_FALSE(l.binds[0].accept_proxy);
  EXPECT_EQ(l.binds[0].origin.line, 13);
  EXPECT_EQ(l.binds[1].endpoint, endpoint("[2001:db8::100]:143"));
  EXPECT_TRUE(l.binds[1].accept_proxy);
  EXPECT_EQ(l.balance, Balance::kStaticRoundRobin);
  EXPECT_EQ(l.timeouts.connect, 5000);  // from defaults
  EXPECT_EQ(l.timeouts.client, 1800000);
  EXPECT_EQ(l.timeouts.check, 2000);
  EXPECT_EQ(l.timeouts.queue, 1500);
  EXPECT_EQ(l.timeouts.client_fin, 1000);
  EXPECT_EQ(l.timeouts.tunnel, 3600000);
  EXPECT_EQ(l.maxconn, 10000U);
  EXPECT_EQ(l.retries, 2U);
  EXPECT_TRUE(l.redispatch);
  EXPECT_TRUE(l.dontlognull);
  ASSERT_EQ(l.log.size(), 1U);
  EXPECT_TRUE(l.log[0].global);
  EXPECT_EQ(l.check_type, CheckType::kTcpCheck);
  ASSERT_EQ(l.tcp_check_rules.size(), 5U);
  EXPECT_EQ(l.tcp_check_rules[0].port, 143);
  EXPECT_TRUE(l.tcp_check_rules[0].send_proxy);
  EXPECT_TRUE(l.tcp_check_rules[0].linger);
  EXPECT_EQ(l.tcp_check_rules[1].data, "* OK");
  EXPECT_EQ(l.tcp_check_rules[2].data, "a1 LOGOUT\r\n");
  EXPECT_EQ(l.tcp_check_rules[3].kind, TcpCheckRule::Kind::kSendBinary);
  EXPECT_EQ(l.tcp_check_rules[3].data, "0d0a");
  EXPECT_TRUE(l.tcp_check_rules[4].negate);
  EXPECT_EQ(l.tcp_check_rules[4].match, TcpCheckRule::Match::kRstring);

  ASSERT_EQ(l.servers.size(), 2U);
  const Server& s1 = l.servers[0];
  EXPECT_EQ(s1.weight, 10U);
  EXPECT_TRUE(s1.check);  // default_server
  EXPECT_TRUE(s1.send_proxy_v2);
  EXPECT_EQ(s1.inter, 3000);
  EXPECT_EQ(s1.slowstart, 30000);
  EXPECT_TRUE(s1.observe_layer4);
  EXPECT_EQ(s1.error_limit, 5U);
  EXPECT_EQ(s1.on_error, OnError::kSuddenDeath);
  EXPECT_TRUE(s1.shutdown_sessions_on_down);
  EXPECT_TRUE(s1.shutdown_backup_sessions_on_up);
  const Server& s2 = l.servers[1];
  EXPECT_EQ(s2.endpoint, endpoint("10.0.0.2:143"));  // the bind port
  EXPECT_FALSE(s2.check);
  EXPECT_EQ(s2.fastinter, 1000);
  EXPECT_EQ(s2.downinter, 10000);
  EXPECT_EQ(s2.rise, 3U);
  EXPECT_EQ(s2.fall, 4U);
  EXPECT_TRUE(s2.check_send_proxy);
  EXPECT_TRUE(s2.backup);
  EXPECT_TRUE(s2.disabled);
  EXPECT_EQ(s2.maxconn, 100U);
  EXPECT_EQ(s2.check_port, 1143);
  EXPECT_EQ(s2.check_addr, ip("10.0.1.2"));
  EXPECT_EQ(s2.origin.line, 35);
  EXPECT_FALSE(s2.slowstart);  // the built-in values
  EXPECT_FALSE(s2.observe_layer4);
  EXPECT_EQ(s2.error_limit, 10U);
  EXPECT_EQ(s2.on_error, OnError::kFailCheck);
  EXPECT_FALSE(s2.shutdown_sessions_on_down);
  EXPECT_FALSE(s2.shutdown_backup_sessions_on_up);

  ASSERT_TRUE(c.dataplane);
  const Dataplane& d = *c.dataplane;
  EXPECT_EQ(d.eal, (std::vector<std::string>{"-l", "0-1", "--no-huge", "-m", "512", "--no-shconf",
                                             "--no-pci"}));
  EXPECT_EQ(d.workers, 1U);
  EXPECT_EQ(d.flows, 262144U);
  ASSERT_EQ(d.interfaces.size(), 2U);
  EXPECT_EQ(d.interfaces[0].name, "client");
  EXPECT_EQ(d.interfaces[0].device, "net_af_packet0,iface=veth-c,framecnt=4096,qdisc_bypass=1");
  EXPECT_EQ(d.interfaces[0].address, *IpPrefix::parse("198.18.0.1/24"));
  ASSERT_EQ(d.routes.size(), 1U);
  EXPECT_EQ(d.routes[0].to, *IpPrefix::parse("0.0.0.0/0"));
  EXPECT_EQ(d.routes[0].via, ip("198.18.0.254"));
  EXPECT_EQ(d.vips, std::vector<IpAddress>{ip("198.18.0.100")});
  EXPECT_EQ(d.source_addresses, std::vector<IpAddress>{ip("198.19.0.1")});
  EXPECT_EQ(d.origin.line, 49);

  ASSERT_TRUE(c.admin);
  EXPECT_EQ(c.admin->http, endpoint("127.0.0.1:9180"));
  EXPECT_EQ(c.admin->socket, "/run/postern/admin.sock");
  EXPECT_EQ(c.admin->state_file, "/run/postern/state.json");
}

TEST(YamlLoader, ReadsLogFormatsTagsAndTheBackendName) {
  Diagnostics diags;
  const Config c =
      yaml(lines({"global:", "  log_tag: haproxy", "  log_send_hostname: mx1",
                  "  log:", "    - {address: stdout, format: raw, len: 4096, facility: daemon}",
                  "listeners:", "  - name: fe", "    binds: [0.0.0.0:143]", "    backend: be",
                  "    log_tag: imap", "    servers: [{name: s, address: 10.0.0.1:143}]"}),
           diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.global.log_tag, "haproxy");
  EXPECT_EQ(c.global.log_send_hostname, "mx1");
  ASSERT_EQ(c.global.log.size(), 1U);
  EXPECT_EQ(c.global.log[0].format, "raw");
  EXPECT_EQ(c.global.log[0].len, 4096U);
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].backend, "be");
  EXPECT_EQ(c.listeners[0].log_tag, "imap");
}

TEST(YamlLoader, RejectsAnUnknownLogFormatAndABadLen) {
  Diagnostics diags;
  yaml(lines({"global:", "  log:", "    - {address: stdout, format: rwa, facility: daemon}",
              "    - {address: stdout, len: 10, facility: daemon}"}),
       diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.yaml:3:33: error: unknown log format 'rwa' (did you mean 'raw'?)"));
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:4:30: error: 'len' must be between 80 and 65535"));
}

TEST(YamlLoader, TakesDurationsAsIntegersOfMilliseconds) {
  Diagnostics diags;
  const Config c =
      yaml(lines({"listeners:", "  - name: a", "    timeouts: {connect: 2500}"}), diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).timeouts.connect, 2500);
}

TEST(YamlLoader, RejectsAnUnknownKeyWithPositionAndSuggestion) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: imap", "    balanse: roundrobin"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:3:5: error: unknown key 'balanse' in a listener "
                             "(did you mean 'balance'?)"));
}

TEST(YamlLoader, AnInvalidRstringIsAnErrorAtItsRule) {
  Diagnostics diags;
  validate(yaml(lines({"listeners:", "  - name: a", "    check:", "      type: tcp-check",
                       "      rules:",
                       "        - {action: expect, match: rstring, pattern: \"(unclosed\"}"}),
                diags),
           diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:6:11: error: listener 'a': 'tcp-check expect rstring': "
                             "invalid regular expression '(unclosed'"));
}

TEST(YamlLoader, RejectsAnUnknownTopLevelKey) {
  Diagnostics diags;
  yaml(lines({"dataplan:", "  workers: 1"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:1:1: error: unknown key 'dataplan' in the top level "
                             "(did you mean 'dataplane'?)"));
}

TEST(YamlLoader, RejectsAnUnknownServerKey) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: imap",
              "    servers:", "      - {name: s1, address: 10.0.0.1:143, wieght: 3}"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:4:43: error: unknown key 'wieght' in a server (did "
                             "you mean 'weight'?)"));
}

TEST(YamlLoader, RejectsListenerIdentityKeysInDefaults) {
  Diagnostics diags;
  yaml(lines({"defaults:", "  binds: [\":143\"]"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:2:3: error: key 'binds' is not allowed in 'defaults'"));
}

TEST(YamlLoader, RejectsDuplicateKeys) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    name: b"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:5: error: duplicate key 'name' in a listener"));
}

TEST(YamlLoader, ReportsAStringWhereAnIntegerBelongs) {
  Diagnostics diags;
  yaml(lines({"global:", "  maxconn: lots"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.yaml:2:12: error: 'maxconn': 'lots' is not a non-negative integer"));
}

TEST(YamlLoader, ReportsAListWhereAScalarBelongs) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: [a, b]"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:2:11: error: 'name' must be a string"));
}

TEST(YamlLoader, ReportsAScalarWhereAListBelongs) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    binds: 0.0.0.0:143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:12: error: 'binds' must be a list"));
}

TEST(YamlLoader, ReportsAWrongBoolean) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    redispatch: maybe"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:17: error: 'redispatch' must be true or false"));
}

TEST(YamlLoader, ReportsABadDurationUnit) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    timeouts: {client: 10x}"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:24: error: 'client': unknown time unit 'x'"));
}

TEST(YamlLoader, ReportsAMissingValueAtItsKey) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    retries:"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:5: error: key 'retries' has no value"));
}

TEST(YamlLoader, ReportsOnlyTheBadValueOfAnItem) {
  Diagnostics diags;
  yaml(lines({"dataplane:", "  interfaces:", "    - {name: c, device: d, address: 10.0.0.1/40}"}),
       diags);
  EXPECT_EQ(diags.errors(), 1U) << testing::all_text(diags);
}

TEST(YamlLoader, ReportsASyntaxErrorWithItsPosition) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    binds: [\"0.0.0.0:143\"", "dataplane: {}"}), diags);
  ASSERT_TRUE(diags.has_errors());
  const Diagnostic& d = diags.items().at(0);
  EXPECT_EQ(d.file, "t.yaml");
  EXPECT_GE(d.line, 3);
  EXPECT_GT(d.column, 0);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:")) << format(d);
}

TEST(YamlLoader, ReportsABadIndentAsASyntaxError) {
  Diagnostics diags;
  yaml(lines({"global:", "  maxconn: 1", " log: []"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:"));
}

TEST(YamlLoader, ReportsAStrayCommaInsteadOfLoopingForever) {
  // yaml-cpp 0.7's LoadAll() loops on this (jbeder/yaml-cpp#1040); Load() calls it empty.
  Diagnostics diags;
  yaml(lines({",global:", "  maxconn: 5"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:1:1: error: unexpected character ','"));
}

TEST(YamlLoader, RejectsProxyV1) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    servers:", "      - name: s",
              "        send_proxy: true"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:5:21: error: Postern sends PROXY v2 only; use "
                             "send_proxy_v2"));
}

TEST(YamlLoader, RejectsPortRangesInBinds) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    binds: [\":25-30\"]"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:3:13: error: 'bind': port ranges are not supported"));
}

TEST(YamlLoader, RejectsAPortlessServerWhenBindsHaveSeveralPorts) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: mail", "    binds: [\":25\", \":587\"]",
              "    servers:", "      - {name: s, address: 10.0.0.1}"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:5:9: error: server 's' has no port and listener "
                             "'mail' binds several ports (25, 587)"));
}

TEST(YamlLoader, RejectsRuleKeysForAnotherAction) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a",
              "    check:", "      rules:", "        - {action: send, data: x, port: 1}"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:5:41: error: 'port' does not apply to a 'send' "
                             "rule"));
}

TEST(YamlLoader, SuggestsForAnUnknownRuleAction) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a",
              "    check:", "      rules:", "        - {action: sned, data: x}"}),
       diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.yaml:5:20: error: unknown tcp-check action 'sned' (did you mean 'send'?)"));
}

// --- check ---------------------------------------------------------------------------------

// A listener of `check: {...}` with `servers` after it; the mapping's lines start at line 4.
std::string listener_check(std::initializer_list<std::string_view> check) {
  std::string text = "listeners:\n  - name: a\n    check:\n";
  for (std::string_view line : check) {
    text += "      ";
    text.append(line);
    text.push_back('\n');
  }
  return text;
}

TEST(YamlCheck, ReadsEachCheckType) {
  const std::pair<const char*, CheckType> cases[] = {
      {"type: connect", CheckType::kConnect},
      {"type: tcp-check", CheckType::kTcpCheck},
      {"type: smtpchk", CheckType::kSmtp},
      {"type: mail-check", CheckType::kMail},
  };
  for (const auto& [line, type] : cases) {
    Diagnostics diags;
    const Config c = yaml(listener_check({line}), diags);
    EXPECT_TRUE(clean(diags)) << line;
    EXPECT_EQ(c.listeners.at(0).check_type, type) << line;
  }
}

TEST(YamlCheck, ReadsTheSmtpchkGreeting) {
  Diagnostics diags;
  const Config c = yaml(
      listener_check({"type: smtpchk", "smtpchk: {verb: EHLO, domain: lb.example.org}"}), diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).smtpchk_verb, "EHLO");
  EXPECT_EQ(c.listeners.at(0).smtpchk_domain, "lb.example.org");
}

TEST(YamlCheck, ReadsTheMailProtocol) {
  const std::pair<const char*, MailProtocol> cases[] = {
      {"mail_protocol: auto", MailProtocol::kAuto},
      {"mail_protocol: imap", MailProtocol::kImap},
      {"mail_protocol: pop3", MailProtocol::kPop3},
      {"mail_protocol: lmtp", MailProtocol::kLmtp},
      {"mail_protocol: smtp", MailProtocol::kSmtp},
      {"mail_protocol: sieve", MailProtocol::kSieve},
      {"mail_protocol: managesieve", MailProtocol::kSieve},
  };
  for (const auto& [line, protocol] : cases) {
    Diagnostics diags;
    const Config c = yaml(listener_check({"type: mail-check", line}), diags);
    EXPECT_TRUE(clean(diags)) << line;
    EXPECT_EQ(c.listeners.at(0).mail_protocol, protocol) << line;
  }
}

TEST(YamlCheck, SuggestsForAnUnknownTypeOrProtocol) {
  Diagnostics diags;
  yaml(listener_check({"type: smtpcheck"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:4:13: error: unknown check type 'smtpcheck' (connect, "
                             "tcp-check, smtpchk or mail-check) (did you mean 'smtpchk'?)"));
  Diagnostics protocol;
  yaml(listener_check({"type: mail-check", "mail_protocol: pop"}), protocol);
  EXPECT_TRUE(has_diagnostic(protocol,
                             "t.yaml:5:22: error: unknown mail protocol 'pop' (auto, imap, pop3, "
                             "lmtp, smtp or sieve) (did you mean 'pop3'?)"));
}

// Settings of one type under another would be kept and never used.
TEST(YamlCheck, RefusesSettingsOfAnotherType) {
  Diagnostics diags;
  yaml(listener_check(
           {"type: tcp-check", "smtpchk: {verb: EHLO, domain: a.example}", "mail_protocol: imap"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:5:16: error: 'smtpchk' applies only to 'type: smtpchk' "
                             "(this check is 'tcp-check')"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:6:22: error: 'mail_protocol' applies only to 'type: "
                             "mail-check' (this check is 'tcp-check')"));
  Diagnostics untyped;
  yaml(listener_check({"mail_protocol: imap"}), untyped);
  EXPECT_TRUE(has_diagnostic(untyped, "(this check is 'connect')"));
}

TEST(YamlCheck, RequiresAWholeSmtpchkGreeting) {
  Diagnostics diags;
  yaml(listener_check({"type: smtpchk", "smtpchk: {verb: EHLO}"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.yaml:5:16: error: 'smtpchk' needs both 'verb' and 'domain'"));
  Diagnostics verb;
  yaml(listener_check({"type: smtpchk", "smtpchk: {verb: ehlo, domain: a.example}"}), verb);
  EXPECT_TRUE(has_diagnostic(verb, "t.yaml:5:23: error: 'verb' must be HELO or EHLO, not 'ehlo'"));
  Diagnostics domain;
  yaml(listener_check({"type: smtpchk", "smtpchk: {verb: EHLO, domain: \"a\\r\\nQUIT\"}"}), domain);
  EXPECT_TRUE(has_diagnostic(domain, "must be one word without spaces or control characters"));
  EXPECT_TRUE(has_diagnostic(domain, "t.yaml:5:37: error: 'domain' "));
}

// Naming the type starts its settings over, as an `option` line does in haproxy.cfg; a
// listener that leaves `type` out keeps the defaults' type and settings.
TEST(YamlCheck, DefaultsCarryTheCheckAndATypeStartsItOver) {
  Diagnostics diags;
  const Config c =
      yaml(lines({"defaults:",
                  "  check: {type: smtpchk, smtpchk: {verb: EHLO, domain: a.example}, rules: "
                  "[{action: connect}]}",
                  "listeners:", "  - {name: keeps}", "  - {name: retyped, check: {type: smtpchk}}",
                  "  - {name: mail, check: {type: mail-check, mail_protocol: lmtp}}",
                  "  - {name: rules, check: {rules: []}}"}),
           diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 4U);
  EXPECT_EQ(c.listeners[0].check_type, CheckType::kSmtp);
  EXPECT_EQ(c.listeners[0].smtpchk_domain, "a.example");
  EXPECT_EQ(c.listeners[0].tcp_check_rules.size(), 1U);
  EXPECT_EQ(c.listeners[1].check_type, CheckType::kSmtp);
  EXPECT_EQ(c.listeners[1].smtpchk_verb, "");  // HELO localhost again
  EXPECT_EQ(c.listeners[1].tcp_check_rules.size(), 1U);
  EXPECT_EQ(c.listeners[2].check_type, CheckType::kMail);
  EXPECT_EQ(c.listeners[2].smtpchk_verb, "");
  EXPECT_EQ(c.listeners[2].mail_protocol, MailProtocol::kLmtp);
  EXPECT_EQ(c.listeners[3].check_type, CheckType::kSmtp);
  EXPECT_TRUE(c.listeners[3].tcp_check_rules.empty());
}

TEST(YamlCheck, SaysWhereTheOldTcpCheckKeyWent) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    tcp_check: {enabled: true}"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:3:16: error: 'tcp_check' is now 'check' (write 'check: "
                             "{type: tcp-check, rules: [...]}' ('enabled: false' is 'type: "
                             "connect'))"));
}

TEST(YamlCheck, RejectsUnknownKeys) {
  Diagnostics diags;
  yaml(listener_check({"typ: smtpchk"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.yaml:4:7: error: unknown key 'typ' in 'check' (did you mean 'type'?)"));
  Diagnostics smtpchk;
  yaml(listener_check({"type: smtpchk", "smtpchk: {verb: EHLO, domian: a.example}"}), smtpchk);
  EXPECT_TRUE(has_diagnostic(
      smtpchk, "t.yaml:5:29: error: unknown key 'domian' in 'smtpchk' (did you mean 'domain'?)"));
}

TEST(YamlCheck, LingerIsAConnectKey) {
  Diagnostics diags;
  yaml(listener_check({"rules:", "  - {action: send, data: x, linger: true}"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.yaml:5:43: error: 'linger' does not apply to a 'send' rule"));
}

// --- server health reactions ---------------------------------------------------------------

TEST(YamlServer, TurnsHealthReactionsOffWithNone) {
  Diagnostics diags;
  const Config c =
      yaml(lines({"listeners:", "  - name: a",
                  "    default_server: {observe: layer4, on_marked_down: shutdown-sessions, "
                  "on_marked_up: shutdown-backup-sessions, slowstart: 1m}",
                  "    servers:", "      - {name: s1, address: 10.0.0.1:143}",
                  "      - {name: s2, address: 10.0.0.2:143, observe: none, on_marked_down: none,"
                  " on_marked_up: none, slowstart: 0}"}),
           diags);
  EXPECT_TRUE(clean(diags));
  const auto& s = c.listeners.at(0).servers;
  ASSERT_EQ(s.size(), 2U);
  EXPECT_TRUE(s[0].observe_layer4);
  EXPECT_TRUE(s[0].shutdown_sessions_on_down);
  EXPECT_TRUE(s[0].shutdown_backup_sessions_on_up);
  EXPECT_EQ(s[0].slowstart, 60000);
  EXPECT_FALSE(s[1].observe_layer4);
  EXPECT_FALSE(s[1].shutdown_sessions_on_down);
  EXPECT_FALSE(s[1].shutdown_backup_sessions_on_up);
  EXPECT_FALSE(s[1].slowstart);
}

TEST(YamlServer, RejectsBadHealthReactionWords) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - name: a", "    servers:",
              "      - {name: s1, observe: layer7}",           // 4
              "      - {name: s2, observe: layer3}",           // 5
              "      - {name: s3, on_error: fail}",            // 6
              "      - {name: s4, on_marked_down: shutdown}",  // 7
              "      - {name: s5, error_limit: -1}"}),         // 8
       diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:4:29: error: 'observe: layer7' is not supported: Postern "
                             "splices TCP and never reads the server's responses (use "
                             "'layer4')"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:5:29: error: 'observe' expects 'none' or 'layer4' but got "
                             "'layer3' (did you mean 'layer4'?)"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:6:30: error: 'on_error' expects one of 'fastinter', "
                             "'fail-check', 'sudden-death' or 'mark-down' but got 'fail'"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:7:36: error: 'on_marked_down' expects 'shutdown-sessions' "
                             "or 'none' but got 'shutdown'"));
  EXPECT_TRUE(has_diagnostic(
      diags, "t.yaml:8:33: error: 'error_limit': '-1' is not a non-negative integer"));
}

TEST(YamlLoader, RequiresTheIdentityOfEachItem) {
  Diagnostics diags;
  yaml(lines({"listeners:", "  - binds: [\":143\"]", "dataplane:", "  interfaces:",
              "    - {name: c, address: 10.0.0.1/24}", "  routes:", "    - {to: 0.0.0.0/0}"}),
       diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:2:5: error: a listener needs a 'name'"));
  EXPECT_TRUE(has_diagnostic(
      diags, "t.yaml:5:7: error: an interface needs 'name', 'device' and 'address'"));
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:7:7: error: a route needs 'to' and 'via'"));
}

TEST(YamlLoader, RejectsBadAddressesAndPrefixes) {
  Diagnostics diags;
  yaml(lines({"dataplane:", "  vips: [198.18.0.300]",
              "  interfaces:", "    - {name: c, device: d, address: 10.0.0.1/40}"}),
       diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.yaml:2:10: error: 'vips': invalid IP address '198.18.0.300'"));
  EXPECT_TRUE(has_diagnostic(diags, "t.yaml:4:37: error: 'address': invalid IP prefix"));
}

TEST(YamlLoader, AcceptsAnEmptyFile) {
  Diagnostics diags;
  const Config c = yaml("# nothing yet\n", diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c, Config{});
}

TEST(YamlLoader, RejectsSeveralDocuments) {
  Diagnostics diags;
  yaml(lines({"global: {maxconn: 1}", "---", "global: {maxconn: 2}"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.yaml:3:1: error: a configuration file holds one YAML "
                             "document"));
}

TEST(YamlLoader, AppliesDefaultsOnlyToListenersOfItsOwnFile) {
  Diagnostics diags;
  Config c;
  parse_yaml(lines({"defaults: {retries: 7}", "listeners: [{name: a}]"}), "a.yaml", c, diags);
  parse_yaml(lines({"listeners: [{name: b}]"}), "b.yaml", c, diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].retries, 7U);
  EXPECT_EQ(c.listeners[1].retries, 3U);
}

TEST(YamlLoader, WarnsWhenALaterFileReplacesTheDataplane) {
  Diagnostics diags;
  Config c;
  parse_yaml(lines({"dataplane: {workers: 1}"}), "a.yaml", c, diags);
  parse_yaml(lines({"dataplane: {workers: 2}"}), "b.yaml", c, diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "b.yaml:1:12: warning: this 'dataplane' section replaces the one at a.yaml:1"));
  EXPECT_EQ(c.dataplane->workers, 2U);
}

}  // namespace
}  // namespace postern::config
