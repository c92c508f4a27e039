// The validator: each rule with a configuration that passes it and one that fails it, asserting
// the FILE:LINE the diagnostic points at (the entity's Origin).
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace postern::config {
namespace {

using testing::all_text;
using testing::has_diagnostic;
using testing::lines;

// Parses then validates; parse errors fail the test so only the validator is under test.
Diagnostics check_cfg(const std::string& text) {
  Diagnostics diags;
  Config c;
  parse_haproxy(text, "t.cfg", c, diags);
  EXPECT_FALSE(diags.has_errors()) << all_text(diags);
  Diagnostics result;
  validate(c, result);
  return result;
}

Diagnostics check_yaml(const std::string& text) {
  Diagnostics diags;
  Config c;
  parse_yaml(text, "t.yaml", c, diags);
  EXPECT_FALSE(diags.has_errors()) << all_text(diags);
  Diagnostics result;
  validate(c, result);
  return result;
}

::testing::AssertionResult lacks(const Diagnostics& diags, std::string_view text) {
  if (has_diagnostic(diags, text)) {
    return ::testing::AssertionFailure() << "unexpected \"" << text << "\" in:\n"
                                         << all_text(diags);
  }
  return ::testing::AssertionSuccess();
}

constexpr std::string_view kTimeouts =
    "defaults\ntimeout connect 5s\ntimeout client 1m\n"
    "timeout server 1m\n";

// A listen section after full timeouts; the first extra line is line 8.
std::string listen_with(std::initializer_list<std::string_view> extra) {
  std::string text(kTimeouts);
  text += "listen imap\nbind :143\nserver s1 10.0.0.1:143\n";  // lines 5, 6, 7
  for (std::string_view line : extra) {
    text.append(line);
    text.push_back('\n');
  }
  return text;
}

TEST(Validate, AcceptsAGoodListenerWithoutDiagnostics) {
  const Diagnostics d = check_cfg(listen_with({}));
  EXPECT_TRUE(testing::clean(d));
}

TEST(Validate, RejectsDuplicateListenerNames) {
  const std::string twice = lines({"listeners:", "  - name: imap", "    binds: [\":143\"]",
                                   "  - name: imap", "    binds: [\":993\"]"});
  EXPECT_TRUE(has_diagnostic(check_yaml(twice),
                             "t.yaml:4:5: error: listener 'imap' has the "
                             "same name as the listener declared at "
                             "t.yaml:2"));
  const std::string distinct = lines({"listeners:", "  - name: imap", "    binds: [\":143\"]",
                                      "  - name: imaps", "    binds: [\":993\"]"});
  EXPECT_TRUE(lacks(check_yaml(distinct), "same name"));
}

TEST(Validate, RejectsDuplicateServerNames) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s1 10.0.0.2:143"})),
                             "t.cfg:8: error: listener 'imap': server 's1' has the same name as "
                             "the server declared at t.cfg:7"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"server s2 10.0.0.2:143"})), "same name"));
}

TEST(Validate, RejectsTwoListenersOnOneEndpoint) {
  const std::string text =
      listen_with({"listen imap2", "bind 0.0.0.0:143", "server s 10.0.0.1:143"});
  EXPECT_TRUE(has_diagnostic(check_cfg(text),
                             "t.cfg:9: error: listener 'imap2' binds 0.0.0.0:143, which "
                             "conflicts with 0.0.0.0:143 of listener 'imap' at t.cfg:6"));
}

TEST(Validate, RejectsAVipBindUnderAWildcardBindOfTheSamePort) {
  const std::string text =
      listen_with({"listen imap2", "bind 198.18.0.100:143", "server s 10.0.0.1:143"});
  EXPECT_TRUE(has_diagnostic(check_cfg(text),
                             "t.cfg:9: error: listener 'imap2' binds "
                             "198.18.0.100:143, which conflicts with "
                             "0.0.0.0:143"));
}

TEST(Validate, AcceptsBindsOnOtherPortsOrFamilies) {
  const std::string text =
      listen_with({"listen more", "bind :993", "bind :::143", "server s 10.0.0.1:143"});
  EXPECT_TRUE(lacks(check_cfg(text), "conflicts"));
}

TEST(Validate, RejectsAListenerWithoutBind) {
  const std::string text = std::string(kTimeouts) + "listen imap\nserver s1 10.0.0.1:143\n";
  EXPECT_TRUE(has_diagnostic(check_cfg(text), "t.cfg:5: error: listener 'imap' has no bind"));
}

TEST(Validate, WarnsAboutAListenerWithoutServers) {
  const std::string text = std::string(kTimeouts) + "listen imap\nbind :143\n";
  const Diagnostics d = check_cfg(text);
  EXPECT_TRUE(has_diagnostic(
      d, "t.cfg:5: warning: listener 'imap' has no server; its connections will be refused"));
  EXPECT_FALSE(d.has_errors());
}

TEST(Validate, RejectsPortZero) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s0 10.0.0.9:0"})),
                             "t.cfg:8: error: listener 'imap': server 's0' has no port"));
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"bind :0"})),
                             "t.cfg:8: error: listener 'imap' binds port 0"));
}

TEST(Validate, RejectsServerAddressAny) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s0 0.0.0.0:143"})),
                             "t.cfg:8: error: listener 'imap': server 's0' address 0.0.0.0"));
}

TEST(Validate, RejectsAServerWithoutAddress) {
  Config c;
  Listener l;
  l.name = "x";
  l.origin = Origin{"m.yaml", 1, 1};
  Server s;
  s.name = "s";
  s.origin = Origin{"m.yaml", 4, 9};
  l.servers.push_back(s);
  c.listeners.push_back(l);
  Diagnostics d;
  validate(c, d);
  EXPECT_TRUE(has_diagnostic(d, "m.yaml:4:9: error: listener 'x': server 's' has no address"));
}

TEST(Validate, LimitsWeightTo256) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s2 10.0.0.2:143 weight 257"})),
                             "t.cfg:8: error: listener 'imap': server 's2': weight 257 is not "
                             "within 0 and 256"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 weight 256"})), "weight"));
}

TEST(Validate, RequiresRiseAndFallOfAtLeastOne) {
  const Diagnostics d = check_cfg(listen_with({"server s2 10.0.0.2:143 rise 0 fall 0"}));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:8: error: listener 'imap': server 's2': 'rise' must be "
                             "at least 1"));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:8: error: listener 'imap': server 's2': 'fall' must be "
                             "at least 1"));
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 rise 1 fall 1"})), "must be at least"));
}

TEST(Validate, RequiresPositiveCheckIntervals) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s2 10.0.0.2:143 inter 0"})),
                             "t.cfg:8: error: listener 'imap': server 's2': 'inter' must be a "
                             "positive delay"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 inter 1"})), "inter"));
}

TEST(Validate, RejectsMaxconnZero) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"maxconn 0"})),
                             "t.cfg:5: error: listener 'imap': 'maxconn' must be at least 1"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"maxconn 1"})), "maxconn"));
  EXPECT_TRUE(has_diagnostic(check_cfg("global\nmaxconn 0\n"),
                             "t.cfg:1: error: global 'maxconn' must be at least 1"));
}

TEST(Validate, LimitsRetries) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"retries 101"})),
                             "t.cfg:5: error: listener 'imap': 'retries' 101 is too many (at "
                             "most 100)"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"retries 100"})), "retries"));
}

TEST(Validate, WarnsAboutMissingTimeoutsAsHaproxy26Does) {
  const Diagnostics d = check_cfg("listen imap\nbind :143\nserver s 10.0.0.1:143\n");
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:1: warning: missing timeouts for listener 'imap'. While "
                             "not properly invalid, you will certainly encounter various "
                             "problems with such a configuration. To fix this, please ensure "
                             "that all following timeouts are set to a non-zero value: "
                             "'client', 'connect', 'server'"));
  EXPECT_FALSE(d.has_errors());
}

TEST(Validate, TakesTunnelInsteadOfServerTimeoutInTcpMode) {
  const Diagnostics d = check_cfg(
      "listen imap\nbind :143\ntimeout client 1m\ntimeout connect 5s\ntimeout tunnel 1h\n"
      "server s 10.0.0.1:143\n");
  EXPECT_TRUE(lacks(d, "missing timeouts"));
}

TEST(Validate, WarnsAboutTcpCheckRulesWithoutTheOption) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"tcp-check connect"})),
                             "t.cfg:8: warning: listener 'imap': tcp-check rules are unused "
                             "without 'option tcp-check'"));
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"option tcp-check", "tcp-check connect"})), "tcp-check"));
}

// The last check option wins; rules written for tcp-check are then kept aside, unused.
TEST(Validate, WarnsAboutTcpCheckRulesUnderAnotherCheckType) {
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"option tcp-check", "tcp-check connect", "option smtpchk"})),
      "t.cfg:9: warning: listener 'imap': tcp-check rules are unused with 'option smtpchk' (the "
      "last check option of a section wins; only 'option tcp-check' runs the rules)"));
  EXPECT_TRUE(
      has_diagnostic(check_cfg(listen_with({"option mail-check imap", "tcp-check connect"})),
                     "t.cfg:9: warning: listener 'imap': tcp-check rules are unused with 'option "
                     "mail-check'"));
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"option smtpchk", "tcp-check connect", "option tcp-check"})),
            "unused"));
}

TEST(Validate, AcceptsTheLogTargetFormsPosternSends) {
  const Diagnostics d = check_cfg(std::string(kTimeouts) +
                                  "global\n"
                                  "log 127.0.0.1 local0\n"
                                  "log 127.0.0.1:5514 local0\n"
                                  "log udp@10.0.0.9:514 local0\n"
                                  "log [2001:db8::9]:514 local0\n"
                                  "log udp6@[2001:db8::9] local0\n"
                                  "log /dev/log local0\n"
                                  "log unix@/run/syslog.sock local0\n"
                                  "log stdout format raw local0\n"
                                  "log fd@2 local0\n"
                                  "listen imap\nbind :143\nserver s1 10.0.0.1:143\n");
  EXPECT_FALSE(d.has_errors()) << all_text(d);
}

TEST(Validate, RejectsLogTargetsPosternCannotSendTo) {
  const Diagnostics d = check_cfg(
      listen_with({"log ring@buf local0", "log fd@3 local0", "log syslog.example.org:514 local0",
                   "log udp4@[2001:db8::9]:514 local0"}));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:8: error: 'log' 'ring@buf': 'ring@' targets are not "
                             "supported by Postern"));
  EXPECT_TRUE(has_diagnostic(d, "t.cfg:9: error: 'log' 'fd@3': 'fd@' targets are not supported"));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:10: error: 'log' 'syslog.example.org:514': expects an IP "
                             "address with an optional port"));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.cfg:11: error: 'log' 'udp4@[2001:db8::9]:514': the address is "
                             "not of the family"));
}

TEST(Validate, RejectsTcpCheckPortZero) {
  EXPECT_TRUE(
      has_diagnostic(check_cfg(listen_with({"option tcp-check", "tcp-check connect port 0"})),
                     "t.cfg:9: error: listener 'imap': 'tcp-check connect' port must be "
                     "between 1 and 65535"));
}

// --- health reactions and mail-check -------------------------------------------------------

// `option mail-check` alone names the protocol by the check port: 143 imap, 110 pop3, 24 lmtp,
// 25/587 smtp, 4190 sieve (not the implicit-TLS 465).
TEST(ValidateChecks, RejectsAMailCheckPortOfNoKnownProtocol) {
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"option mail-check", "server s2 10.0.0.2:1143 check"})),
      "t.cfg:9: error: listener 'imap': server 's2': 'option mail-check' cannot tell the "
      "protocol of check port 1143 (known ports: 143 imap, 110 pop3, 24 lmtp, 25/587 smtp, "
      "4190 sieve) (name it, as 'option mail-check imap', or set the server's check 'port')"));
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"option mail-check", "server s2 10.0.0.2:143 check port 8143"})),
      "t.cfg:9: error: listener 'imap': server 's2': 'option mail-check' cannot tell the "
      "protocol of check port 8143"));
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"option mail-check", "server s2 10.0.0.2:465 check"})),
      "t.cfg:9: error: listener 'imap': server 's2': 'option mail-check' cannot tell the "
      "protocol of check port 465"));
}

TEST(ValidateChecks, AcceptsAMailCheckPortItKnowsOrAProtocolNamed) {
  for (const char* server : {"server s2 10.0.0.2:143 check", "server s2 10.0.0.2:110 check",
                             "server s2 10.0.0.2:24 check", "server s2 10.0.0.2:25 check",
                             "server s2 10.0.0.2:587 check", "server s2 10.0.0.2:4190 check",
                             "server s2 10.0.0.2:1143 check port 143", "server s2 10.0.0.2:1143"}) {
    EXPECT_TRUE(lacks(check_cfg(listen_with({"option mail-check", server})), "mail-check"))
        << server;
  }
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"option mail-check imap", "server s2 10.0.0.2:1143 check"})),
            "mail-check"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"server s2 10.0.0.2:1143 check"})), "mail-check"));
}

TEST(ValidateChecks, RejectsAMailCheckPortOfNoKnownProtocolInYaml) {
  const Diagnostics d = check_yaml(lines(
      {"listeners:", "  - name: imap", "    binds: [\":143\"]", "    check: {type: mail-check}",
       "    servers: [{name: s, address: 10.0.0.1:1143, check: true}]"}));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.yaml:5:15: error: listener 'imap': server 's': 'option "
                             "mail-check' cannot tell the protocol of check port 1143"));
  EXPECT_TRUE(lacks(check_yaml(lines({"listeners:", "  - name: imap", "    binds: [\":143\"]",
                                      "    check: {type: mail-check, mail_protocol: imap}",
                                      "    servers: [{name: s, address: 10.0.0.1:1143, check: "
                                      "true}]"})),
                    "mail-check"));
}

// HAProxy: "error-limit has to be > 0".
TEST(ValidateChecks, RejectsErrorLimitZero) {
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"server s2 10.0.0.2:143 check observe layer4 error-limit 0"})),
      "t.cfg:8: error: listener 'imap': server 's2': 'error-limit' must be at least 1"));
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 check observe layer4 error-limit 1"})),
            "error-limit"));
  EXPECT_TRUE(has_diagnostic(
      check_yaml(lines({"listeners:", "  - name: a", "    binds: [\":143\"]", "    servers:",
                        "      - {name: s, address: 10.0.0.1:143, check: true, observe: layer4, "
                        "error_limit: 0}"})),
      "t.yaml:5:9: error: listener 'a': server 's': 'error-limit' must be at least 1"));
}

// HAProxy accepts these and they do nothing there either: observing needs the check
// (health_adjust() returns without one), and on-error/error-limit act on what is observed.
TEST(ValidateChecks, WarnsAboutObserveWithoutCheck) {
  const Diagnostics d = check_cfg(listen_with({"server s2 10.0.0.2:143 observe layer4"}));
  EXPECT_TRUE(has_diagnostic(
      d,
      "t.cfg:8: warning: listener 'imap': server 's2': 'observe layer4' has no effect "
      "without 'check'"));
  EXPECT_FALSE(d.has_errors());
  EXPECT_TRUE(
      lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 check observe layer4"})), "no effect"));
}

TEST(ValidateChecks, WarnsAboutOnErrorWithoutObserve) {
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"server s2 10.0.0.2:143 check on-error mark-down"})),
      "t.cfg:8: warning: listener 'imap': server 's2': 'on-error' has no effect without "
      "'observe layer4'"));
  EXPECT_TRUE(has_diagnostic(
      check_cfg(listen_with({"server s2 10.0.0.2:143 check on-error mark-down error-limit 2"})),
      "t.cfg:8: warning: listener 'imap': server 's2': 'on-error' and 'error-limit' have no "
      "effect without 'observe layer4'"));
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"server s2 10.0.0.2:143 error-limit 2"})),
                             "'error-limit' has no effect without 'observe layer4'"));
  EXPECT_TRUE(lacks(check_cfg(listen_with({"server s2 10.0.0.2:143 check observe layer4 on-error "
                                           "mark-down error-limit 2"})),
                    "no effect"));
  // The built-in values written out change nothing, so they are not worth a word.
  EXPECT_TRUE(lacks(
      check_cfg(listen_with({"server s2 10.0.0.2:143 check on-error fail-check error-limit 10"})),
      "no effect"));
}

// --- dataplane ---------------------------------------------------------------------------

// A valid file; `replace` swaps one line (1-based) to break exactly one rule.
std::string dataplane_yaml(int replace_line = 0, std::string_view with = {}) {
  std::vector<std::string> text = {
      "listeners:",                                                   // 1
      "  - name: imap",                                               // 2
      "    binds: [\"0.0.0.0:143\", \"198.18.0.100:993\"]",           // 3
      "    timeouts: {connect: 5s, client: 1m, server: 1m}",          // 4
      "    servers: [{name: s1, address: 198.19.0.10:143}]",          // 5
      "dataplane:",                                                   // 6
      "  workers: 2",                                                 // 7
      "  flows: 1024",                                                // 8
      "  interfaces:",                                                // 9
      "    - {name: client, device: dev0, address: 198.18.0.1/24}",   // 10
      "    - {name: servers, device: dev1, address: 198.19.0.1/24}",  // 11
      "  routes: [{to: 0.0.0.0/0, via: 198.18.0.254}]",               // 12
      "  vips: [198.18.0.100]",                                       // 13
      "  source_addresses: [198.19.0.1]",                             // 14
      "admin: {http: \"127.0.0.1:9180\"}",                            // 15
  };
  if (replace_line > 0) {
    text[static_cast<std::size_t>(replace_line - 1)] = std::string(with);
  }
  std::string joined;
  for (const std::string& line : text) {
    joined += line + "\n";
  }
  return joined;
}

TEST(ValidateDataplane, AcceptsAGoodDataplane) {
  EXPECT_TRUE(testing::clean(check_yaml(dataplane_yaml())));
}

TEST(ValidateDataplane, RequiresAWorker) {
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(7, "  workers: 0")),
                             "t.yaml:7:3: error: dataplane 'workers' must be at least 1"));
}

TEST(ValidateDataplane, BoundsTheFlowTable) {
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(8, "  flows: 1000")),
                             "t.yaml:7:3: error: dataplane 'flows' 1000 is not within 1024 and "
                             "16777216"));
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(8, "  flows: 16777217")),
                             "'flows' 16777217 is not within"));
  EXPECT_TRUE(testing::clean(check_yaml(dataplane_yaml(8, "  flows: 16777216"))));
  EXPECT_TRUE(testing::clean(check_yaml(dataplane_yaml(8, "  flows: 300000"))));  // any size
}

TEST(ValidateDataplane, RequiresInterfaces) {
  const Diagnostics d =
      check_yaml(lines({"dataplane:", "  interfaces: []", "  source_addresses: [198.19.0.1]"}));
  EXPECT_TRUE(has_diagnostic(d, "t.yaml:2:3: error: dataplane has no interface"));
}

TEST(ValidateDataplane, RejectsDuplicateInterfaceNamesAndDevices) {
  const Diagnostics d =
      check_yaml(dataplane_yaml(11, "    - {name: client, device: dev0, address: 198.19.0.1/24}"));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.yaml:11:7: error: interface name 'client' is already used at "
                             "t.yaml:10"));
  EXPECT_TRUE(has_diagnostic(d,
                             "t.yaml:11:7: error: device 'dev0' is already used by "
                             "interface 'client' at t.yaml:10"));
}

TEST(ValidateDataplane, RequiresVipsForAWildcardBind) {
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(13, "  vips: []")),
                             "t.yaml:3:13: error: listener 'imap' binds 0.0.0.0:143 (every VIP) "
                             "but the dataplane has no IPv4 vips"));
}

// `bind 198.18.0.100:143` makes its address a VIP, listed in `vips` or not.
TEST(ValidateDataplane, ASpecificBindAddressNeedsNoVipsEntry) {
  const auto d = check_yaml(dataplane_yaml(13, "  vips: [198.18.0.101]"));
  EXPECT_FALSE(d.has_errors());
}

TEST(ValidateDataplane, RequiresSourceAddresses) {
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(14, "  source_addresses: []")),
                             "t.yaml:7:3: error: dataplane has no 'source_addresses'"));
}

TEST(ValidateDataplane, RequiresASourceAddressOfEachServerFamily) {
  EXPECT_TRUE(has_diagnostic(
      check_yaml(dataplane_yaml(5, "    servers: [{name: s6, address: \"[2001:db8::6]:143\"}]")),
      "t.yaml:5:15: error: server 's6' is IPv6 but the dataplane has no such source address"));
}

TEST(ValidateDataplane, RequiresRouteGatewaysOnAConnectedNetwork) {
  EXPECT_TRUE(has_diagnostic(
      check_yaml(dataplane_yaml(12, "  routes: [{to: 0.0.0.0/0, via: 10.9.9.9}]")),
      "t.yaml:12:12: error: route to 0.0.0.0/0: gateway 10.9.9.9 is on no interface's network"));
}

TEST(ValidateDataplane, RequiresAnAdminPort) {
  EXPECT_TRUE(has_diagnostic(check_yaml(dataplane_yaml(15, "admin: {http: \"127.0.0.1:0\"}")),
                             "t.yaml:15:8: error: admin 'http' needs a port other than 0"));
}

TEST(ValidateDataplane, SkipsVipChecksWithoutADataplane) {
  // haproxy.cfg files carry no dataplane section; their binds are checked once one is added.
  EXPECT_TRUE(lacks(check_cfg(listen_with({"bind 203.0.113.1:993"})), "vips"));
}

// --- the runtime API and the server-state file
// ----------------------------------------------------

TEST(ValidateRuntimeApi, RejectsTwoSocketsOnOnePath) {
  std::string text = "global\nstats socket /run/a.sock\nstats socket /run/a.sock level admin\n";
  text += listen_with({});
  EXPECT_TRUE(has_diagnostic(check_cfg(text),
                             "t.cfg:3: error: stats socket '/run/a.sock' is already served by the "
                             "socket declared at t.cfg:2"));
  EXPECT_TRUE(testing::clean(check_cfg("global\nstats socket /run/a.sock\n" + listen_with({}))));
}

TEST(ValidateRuntimeApi, RejectsABackendNameThatIsAnotherListenersName) {
  const std::string yaml =
      "listeners:\n"
      "  - {name: imap, binds: [\":143\"], timeouts: {connect: 1s, client: 1s, server: 1s}}\n"
      "  - {name: pop, backend: imap, binds: [\":110\"],\n"
      "     timeouts: {connect: 1s, client: 1s, server: 1s}}\n";
  EXPECT_TRUE(has_diagnostic(check_yaml(yaml),
                             "t.yaml:3:5: error: listener 'pop': backend name 'imap' is also used "
                             "by the listener declared at t.yaml:2"));
}

TEST(ValidateRuntimeApi, WarnsWhenTheGlobalStateFileIsMissing) {
  EXPECT_TRUE(has_diagnostic(check_cfg(listen_with({"load-server-state-from-file global"})),
                             "t.cfg:5: warning: listener 'imap' loads server state from the global "
                             "file, but no 'server-state-file' is set"));
  EXPECT_TRUE(lacks(check_cfg("global\nserver-state-file /tmp/s\n" +
                              listen_with({"load-server-state-from-file global"})),
                    "loads server state"));
}

}  // namespace
}  // namespace postern::config
