// The haproxy.cfg reader: keywords per section, defaults and default-server inheritance,
// frontend/backend folding, and the FILE:LINE text of every error it reports.
#include <gtest/gtest.h>

#include "config_test_util.hpp"
#include "haproxy_reader.hpp"

namespace postern::config {
namespace {

using testing::clean;
using testing::endpoint;
using testing::haproxy;
using testing::has_diagnostic;
using testing::ip;
using testing::lines;
using testing::no_errors;

// A listen section with one bind and one server, with `extra` lines after the bind (line 3 on).
std::string listen_with(std::initializer_list<std::string_view> extra) {
  std::string text = "listen imap\nbind :143\n";
  for (std::string_view line : extra) {
    text.append(line);
    text.push_back('\n');
  }
  text += "server s1 10.0.0.1:143\n";
  return text;
}

// --- balance, mode -----------------------------------------------------------------------------

TEST(HaproxyBalance, AcceptsRoundrobinAndStaticRr) {
  Diagnostics diags;
  const Config c = haproxy(listen_with({"balance static-rr"}), diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].balance, Balance::kStaticRoundRobin);

  Diagnostics diags2;
  EXPECT_EQ(haproxy(listen_with({"balance roundrobin"}), diags2).listeners[0].balance,
            Balance::kRoundRobin);
  EXPECT_TRUE(clean(diags2));
}

TEST(HaproxyBalance, SuggestsRoundrobinForATypo) {
  Diagnostics diags;
  haproxy(listen_with({"balance roundrobinx"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'balance': unknown algorithm 'roundrobinx' (did "
                             "you mean 'roundrobin'?)"));
}

TEST(HaproxyBalance, RejectsHaproxyAlgorithmsPosternLacks) {
  for (const char* algorithm : {"leastconn", "source", "first", "uri", "hdr(host)", "random"}) {
    Diagnostics diags;
    haproxy(listen_with({std::string("balance ") + algorithm}), diags);
    EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'balance ")) << algorithm;
    EXPECT_TRUE(has_diagnostic(diags,
                               "is not supported by Postern (use 'roundrobin' or "
                               "'static-rr')"))
        << algorithm;
  }
}

TEST(HaproxyMode, AcceptsTcp) {
  Diagnostics diags;
  haproxy(listen_with({"mode tcp"}), diags);
  EXPECT_TRUE(clean(diags));
}

TEST(HaproxyMode, RejectsHttpBecausePosternBalancesTcpOnly) {
  Diagnostics diags;
  haproxy(listen_with({"mode http"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: 'mode http' is not supported: Postern balances TCP only"));
}

TEST(HaproxyMode, SuggestsForAnUnknownMode) {
  Diagnostics diags;
  haproxy(listen_with({"mode tpc"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:3: error: unknown proxy mode 'tpc' (did you mean 'tcp'?)"));
}

// --- unknown keywords, arguments ---------------------------------------------------------------

TEST(HaproxyKeywords, SuggestsTheClosestKeywordOfTheSection) {
  Diagnostics diags;
  haproxy(listen_with({"serer s2 10.0.0.2:143"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags,
                     "t.cfg:3: error: unknown keyword 'serer' in 'listen' section (did you mean "
                     "'server'?)"));
}

TEST(HaproxyKeywords, ReportsKeywordsOutOfSection) {
  Diagnostics diags;
  haproxy(lines({"# comment", "bind :143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: unknown keyword 'bind' out of section"));
}

TEST(HaproxyKeywords, SuggestsSectionNames) {
  Diagnostics diags;
  haproxy(lines({"listn imap"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:1: error: unknown keyword 'listn' out of section "
                             "(did you mean 'listen'?)"));
}

TEST(HaproxyKeywords, ReportsAMissingArgument) {
  Diagnostics diags;
  haproxy(listen_with({"maxconn"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'maxconn' expects an integer argument"));
}

TEST(HaproxyKeywords, ReportsABadNumber) {
  Diagnostics diags;
  haproxy(listen_with({"retries three"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:3: error: 'retries': 'three' is not a non-negative integer"));
}

TEST(HaproxyKeywords, ReportsANumberOutOfRange) {
  Diagnostics diags;
  haproxy(listen_with({"maxconn 99999999999"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'maxconn': 99999999999 is out of range"));
}

TEST(HaproxyKeywords, ReportsExtraArguments) {
  Diagnostics diags;
  haproxy(listen_with({"retries 3 4"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'retries': unexpected extra argument '4'"));
}

TEST(HaproxyKeywords, ReportsTokenizerErrorsWithTheirLine) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check send \"abc"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: unmatched double quote"));
}

TEST(HaproxyKeywords, ReportsRemovedTimeoutKeywordsAsHaproxy21Does) {
  Diagnostics diags;
  haproxy(listen_with({"clitimeout 10s"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: the 'clitimeout' directive is not "
                             "supported anymore since HAProxy 2.1 (use 'timeout "
                             "client')"));
}

TEST(HaproxyKeywords, RejectsInvalidProxyNames) {
  Diagnostics diags;
  haproxy(lines({"listen im/ap", "bind :143"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:1: error: character '/' is not permitted in proxy name 'im/ap'"));
}

TEST(HaproxyKeywords, RequiresAProxyName) {
  Diagnostics diags;
  haproxy(lines({"listen", "bind :143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:1: error: 'listen' expects <name> as an argument"));
}

TEST(HaproxyKeywords, WarnsAboutIgnoredSections) {
  Diagnostics diags;
  const Config c = haproxy(lines({"userlist admins", "user bob password x", "listen imap",
                                  "bind :143", "server s1 10.0.0.1:143"}),
                           diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:1: warning: section 'userlist' is ignored by Postern"));
  EXPECT_EQ(diags.items().size(), 1U);
  EXPECT_EQ(c.listeners.size(), 1U);
}

// --- timeouts ----------------------------------------------------------------------------------

TEST(HaproxyTimeouts, ReadsEveryTimerWithUnits) {
  Diagnostics diags;
  const Config c =
      haproxy(listen_with({"timeout connect 5s", "timeout client 1m", "timeout server 2h",
                           "timeout check 1500", "timeout queue 250ms", "timeout client-fin 1s",
                           "timeout server-fin 2s", "timeout tunnel 1d"}),
              diags);
  EXPECT_TRUE(clean(diags));
  const Timeouts& t = c.listeners.at(0).timeouts;
  EXPECT_EQ(t.connect, 5000);
  EXPECT_EQ(t.client, 60000);
  EXPECT_EQ(t.server, 7200000);
  EXPECT_EQ(t.check, 1500);
  EXPECT_EQ(t.queue, 250);
  EXPECT_EQ(t.client_fin, 1000);
  EXPECT_EQ(t.server_fin, 2000);
  EXPECT_EQ(t.tunnel, 86400000);
}

TEST(HaproxyTimeouts, RejectsABadUnit) {
  Diagnostics diags;
  haproxy(listen_with({"timeout connect 10x"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'timeout connect': unknown time unit 'x' "
                             "in '10x' (units: us, ms, s, m, h, d)"));
}

TEST(HaproxyTimeouts, RejectsAnOverflow) {
  Diagnostics diags;
  haproxy(listen_with({"timeout client 30d"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'timeout client': timer overflow"));
}

TEST(HaproxyTimeouts, RejectsAMissingValue) {
  Diagnostics diags;
  haproxy(listen_with({"timeout server"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'timeout server' expects a time argument"));
}

TEST(HaproxyTimeouts, SuggestsForAnUnknownTimer) {
  Diagnostics diags;
  haproxy(listen_with({"timeout conect 5s"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:3: error: unknown timeout 'conect' (did you mean 'connect'?)"));
}

TEST(HaproxyTimeouts, WarnsThatHttpTimersOnlyMatterInHttpMode) {
  Diagnostics diags;
  const Config c =
      haproxy(listen_with({"timeout http-request 10s", "timeout http-keep-alive 5s"}), diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: warning: 'timeout http-request' only matters in "
                             "HTTP mode"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: warning: 'timeout http-keep-alive' only matters "
                             "in HTTP mode"));
  EXPECT_EQ(c.listeners.at(0).timeouts, Timeouts{});
}

TEST(HaproxyTimeouts, IgnoresABackendTimerInAFrontendWithHaproxysWarning) {
  Diagnostics diags;
  haproxy(lines({"frontend fe", "bind :143", "timeout server 1m", "default_backend be",
                 "backend be", "server s1 10.0.0.1:143"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: warning: 'timeout server' ignored because "
                             "frontend 'fe' has no backend capability"));
}

// --- bind ----------------------------------------------------------------------------------------

TEST(HaproxyBind, ReadsAddressesAndAcceptProxy) {
  Diagnostics diags;
  const Config c = haproxy(lines({"listen sub", "bind 198.18.0.100:587 accept-proxy",
                                  "bind [2001:db8::100]:587,:::465", "server s 10.0.0.1:587"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  const auto& binds = c.listeners.at(0).binds;
  ASSERT_EQ(binds.size(), 3U);
  EXPECT_EQ(binds[0].endpoint, endpoint("198.18.0.100:587"));
  EXPECT_TRUE(binds[0].accept_proxy);
  EXPECT_EQ(binds[0].origin.line, 2);
  EXPECT_EQ(binds[1].endpoint, endpoint("[2001:db8::100]:587"));
  EXPECT_FALSE(binds[1].accept_proxy);
  EXPECT_EQ(binds[2].endpoint, endpoint("[::]:465"));
}

TEST(HaproxyBind, RejectsPortRanges) {
  Diagnostics diags;
  haproxy(lines({"listen smtp", "bind :25-30", "server s 10.0.0.1:25"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:2: error: 'bind': port ranges are not supported (':25-30')"));
}

TEST(HaproxyBind, RequiresAPort) {
  Diagnostics diags;
  haproxy(lines({"listen smtp", "bind 10.0.0.1", "server s 10.0.0.1:25"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'bind': missing port in address"));
}

TEST(HaproxyBind, RejectsTlsOptions) {
  Diagnostics diags;
  haproxy(lines({"listen imaps", "bind :993 ssl crt /etc/x.pem", "server s 10.0.0.1:993"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: 'bind' option 'ssl' is not supported: "
                             "Postern forwards TCP and terminates no TLS"));
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'bind' option 'crt' is not supported"));
}

TEST(HaproxyBind, WarnsAboutSocketOptionsItIgnores) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"listen imap", "bind :143 name imap-in transparent", "server s 10.0.0.1:143"}), diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: warning: 'bind' option 'name' is ignored"));
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: warning: 'bind' option 'transparent' is ignored"));
  EXPECT_EQ(c.listeners.at(0).binds.size(), 1U);
}

TEST(HaproxyBind, SuggestsForAnUnknownOption) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143 accept-proxi", "server s 10.0.0.1:143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: unknown 'bind' option 'accept-proxi' (did "
                             "you mean 'accept-proxy'?)"));
}

TEST(HaproxyBind, IsNotAllowedInDefaults) {
  Diagnostics diags;
  haproxy(lines({"defaults", "bind :143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'bind' not allowed in 'defaults' section"));
}

// --- server --------------------------------------------------------------------------------------

TEST(HaproxyServer, ReadsEveryOption) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"listen imap", "bind :143",
             "server s1 10.0.0.1:143 weight 20 check inter 3s fastinter 1s downinter 10s rise 4 "
             "fall 5 send-proxy-v2 check-send-proxy backup disabled maxconn 500 port 1143 addr "
             "10.0.1.1",
             "server s2 [2001:db8::2]:143 no-check enabled maxconn 0"}),
      diags);
  EXPECT_TRUE(clean(diags));
  const auto& servers = c.listeners.at(0).servers;
  ASSERT_EQ(servers.size(), 2U);
  const Server& s1 = servers[0];
  EXPECT_EQ(s1.name, "s1");
  EXPECT_EQ(s1.endpoint, endpoint("10.0.0.1:143"));
  EXPECT_EQ(s1.weight, 20U);
  EXPECT_TRUE(s1.check);
  EXPECT_EQ(s1.inter, 3000);
  EXPECT_EQ(s1.fastinter, 1000);
  EXPECT_EQ(s1.downinter, 10000);
  EXPECT_EQ(s1.rise, 4U);
  EXPECT_EQ(s1.fall, 5U);
  EXPECT_TRUE(s1.send_proxy_v2);
  EXPECT_TRUE(s1.check_send_proxy);
  EXPECT_TRUE(s1.backup);
  EXPECT_TRUE(s1.disabled);
  EXPECT_EQ(s1.maxconn, 500U);
  EXPECT_EQ(s1.check_port, 1143);
  EXPECT_EQ(s1.check_addr, ip("10.0.1.1"));
  EXPECT_EQ(s1.origin.line, 3);
  const Server& s2 = servers[1];
  EXPECT_EQ(s2.endpoint, endpoint("[2001:db8::2]:143"));
  EXPECT_FALSE(s2.check);
  EXPECT_FALSE(s2.disabled);
  EXPECT_FALSE(s2.maxconn);  // HAProxy: maxconn 0 means no limit
  EXPECT_EQ(s2.weight, 1U);
  EXPECT_EQ(s2.inter, 2000);
}

TEST(HaproxyServer, ReadsTheHealthReactions) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"listen imap", "bind :143",
                     "server s1 10.0.0.1:143 check slowstart 30s on-marked-down shutdown-sessions "
                     "on-marked-up shutdown-backup-sessions observe layer4 error-limit 5 on-error "
                     "sudden-death",
                     "server s2 10.0.0.2:143 check slowstart 0 observe layer4 observe none",
                     "server s3 10.0.0.3:143 slowstart 500us on-error fastinter",
                     "server s4 10.0.0.4:143 on-error mark-down",
                     "server s5 10.0.0.5:143 on-error fail-check"}),
              diags);
  EXPECT_TRUE(clean(diags));
  const auto& s = c.listeners.at(0).servers;
  ASSERT_EQ(s.size(), 5U);
  EXPECT_EQ(s[0].slowstart, 30000);
  EXPECT_TRUE(s[0].shutdown_sessions_on_down);
  EXPECT_TRUE(s[0].shutdown_backup_sessions_on_up);
  EXPECT_TRUE(s[0].observe_layer4);
  EXPECT_EQ(s[0].error_limit, 5U);
  EXPECT_EQ(s[0].on_error, OnError::kSuddenDeath);
  EXPECT_FALSE(s[1].slowstart);  // 0: none, as in HAProxy
  EXPECT_FALSE(s[1].observe_layer4);
  EXPECT_FALSE(s[1].shutdown_sessions_on_down);
  EXPECT_EQ(s[1].error_limit, 10U);  // HAProxy's default
  EXPECT_EQ(s[1].on_error, OnError::kFailCheck);
  EXPECT_EQ(s[2].slowstart, 1);  // rounded up to 1 ms, never to 0
  EXPECT_EQ(s[2].on_error, OnError::kFastinter);
  EXPECT_EQ(s[3].on_error, OnError::kMarkDown);
  EXPECT_EQ(s[4].on_error, OnError::kFailCheck);
}

TEST(HaproxyServer, TakesTheHealthReactionsFromDefaultServer) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"defaults", "default-server check observe layer4 on-error mark-down error-limit 3",
             "listen imap", "bind :143", "default-server on-marked-down shutdown-sessions",
             "server a 10.0.0.1:143", "server b 10.0.0.2:143 observe none error-limit 10"}),
      diags);
  EXPECT_TRUE(clean(diags));
  const auto& s = c.listeners.at(0).servers;
  ASSERT_EQ(s.size(), 2U);
  EXPECT_TRUE(s[0].observe_layer4);
  EXPECT_EQ(s[0].on_error, OnError::kMarkDown);
  EXPECT_EQ(s[0].error_limit, 3U);
  EXPECT_TRUE(s[0].shutdown_sessions_on_down);
  EXPECT_FALSE(s[1].observe_layer4);
  EXPECT_EQ(s[1].error_limit, 10U);
  EXPECT_TRUE(s[1].shutdown_sessions_on_down);
}

TEST(HaproxyServer, RefusesObserveLayer7) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 check observe layer7"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'observe layer7' is not supported: Postern splices "
                             "TCP and never reads the server's responses (use 'observe layer4')"));
}

TEST(HaproxyServer, SuggestsForUnknownHealthReactionWords) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 observe layer5",
                 "server s2 10.0.0.1:143 on-error mark-dwn",
                 "server s3 10.0.0.1:143 on-marked-down shutdown-session",
                 "server s4 10.0.0.1:143 on-marked-up shutdown-sessions"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'observe' expects one of 'none', 'layer4', "
                             "'layer7' but got 'layer5' (did you mean 'layer4'?)"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: error: 'on-error' expects one of 'fastinter', "
                             "'fail-check', 'sudden-death' or 'mark-down' but got 'mark-dwn' "
                             "(did you mean 'mark-down'?)"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:5: error: 'on-marked-down' expects 'shutdown-sessions' but "
                             "got 'shutdown-session' (did you mean 'shutdown-sessions'?)"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:6: error: 'on-marked-up' expects 'shutdown-backup-sessions' "
                             "but got 'shutdown-sessions'"));
}

TEST(HaproxyServer, RejectsBadHealthReactionValues) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 slowstart 1min",
                 "server s2 10.0.0.1:143 error-limit ten", "server s3 10.0.0.1:143 slowstart 25d",
                 "server s4 10.0.0.1:143 error-limit"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'slowstart': unknown time unit 'min'"));
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:4: error: 'error-limit': 'ten' is not a non-negative integer"));
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:5: error: 'slowstart': timer overflow in '25d'"));
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:6: error: 'server' option 'error-limit' expects an argument"));
}

TEST(HaproxyServer, SuggestsForAnUnknownOption) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 chek"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: unknown 'server' option 'chek' (did you mean 'check'?)"));
}

TEST(HaproxyServer, RejectsProxyV1) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 send-proxy"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'server' option 'send-proxy': Postern sends "
                             "PROXY v2 only; use send-proxy-v2"));
}

TEST(HaproxyServer, RejectsAnOptionWithoutItsArgument) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 check inter"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'server' option 'inter' expects an argument"));
}

TEST(HaproxyServer, RejectsABadTime) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 10.0.0.1:143 inter 2x"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'inter': unknown time unit 'x'"));
}

TEST(HaproxyServer, RejectsHostNames) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1 imap1.example.org:143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: server 's1': host name "
                             "'imap1.example.org' is not supported (use an IP address)"));
}

TEST(HaproxyServer, RequiresNameAndAddress) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s1"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: 'server' expects <name> and <address>[:<port>] as arguments"));
}

TEST(HaproxyServer, TakesTheBindPortWhenWrittenWithoutOne) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"listen imap", "server s1 10.0.0.1", "bind :143", "bind 198.18.0.100:143"}), diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).servers.at(0).endpoint, endpoint("10.0.0.1:143"));
}

TEST(HaproxyServer, RejectsAPortlessServerWhenBindsHaveSeveralPorts) {
  Diagnostics diags;
  haproxy(lines({"listen mail", "bind :25", "bind :587", "server s1 10.0.0.1"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: error: server 's1' has no port and listener "
                             "'mail' binds several ports (25, 587) (give the server a "
                             "port)"));
}

TEST(HaproxyServer, IsNotAllowedInAFrontend) {
  Diagnostics diags;
  haproxy(lines({"frontend fe", "bind :143", "server s1 10.0.0.1:143", "default_backend be",
                 "backend be", "server s1 10.0.0.1:143"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'server' not allowed because frontend 'fe' "
                             "has no backend capability"));
}

// --- defaults ------------------------------------------------------------------------------------

TEST(HaproxyDefaults, ApplyToTheProxiesAfterThem) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"listen before", "bind :24", "server s 10.0.0.1:24", "defaults",
                     "timeout client 1m", "maxconn 5000", "retries 5", "option redispatch",
                     "log global", "listen after", "bind :143", "server s 10.0.0.1:143"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  const Listener& before = c.listeners[0];
  EXPECT_FALSE(before.timeouts.client);
  EXPECT_FALSE(before.maxconn);
  EXPECT_EQ(before.retries, 3U);
  const Listener& after = c.listeners[1];
  EXPECT_EQ(after.timeouts.client, 60000);
  EXPECT_EQ(after.maxconn, 5000U);
  EXPECT_EQ(after.retries, 5U);
  EXPECT_TRUE(after.redispatch);
  ASSERT_EQ(after.log.size(), 1U);
  EXPECT_TRUE(after.log[0].global);
}

TEST(HaproxyDefaults, ANewDefaultsSectionResetsToBuiltInValues) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"defaults", "timeout client 1m", "retries 5", "option dontlognull",
                     "listen one", "bind :24", "server s 10.0.0.1:24", "defaults",
                     "timeout connect 5s", "listen two", "bind :25", "server s 10.0.0.1:25"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].timeouts.client, 60000);
  EXPECT_EQ(c.listeners[0].retries, 5U);
  EXPECT_TRUE(c.listeners[0].dontlognull);
  const Listener& two = c.listeners[1];
  EXPECT_FALSE(two.timeouts.client);
  EXPECT_EQ(two.timeouts.connect, 5000);
  EXPECT_EQ(two.retries, 3U);
  EXPECT_FALSE(two.dontlognull);
}

TEST(HaproxyDefaults, AProxyOverridesWhatItInherits) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"defaults", "option redispatch", "balance static-rr", "listen imap",
             "no option redispatch", "balance roundrobin", "bind :143", "server s 10.0.0.1:143"}),
      diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_FALSE(c.listeners.at(0).redispatch);
  EXPECT_EQ(c.listeners.at(0).balance, Balance::kRoundRobin);
}

TEST(HaproxyDefaults, NamedDefaultsAreChosenWithFrom) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"defaults slow", "timeout client 1h", "defaults fast", "timeout client 5s",
                     "listen a from slow", "bind :24", "server s 10.0.0.1:24", "listen b",
                     "bind :25", "server s 10.0.0.1:25"}),
              diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).timeouts.client, 3600000);
  EXPECT_EQ(c.listeners.at(1).timeouts.client, 5000);
}

TEST(HaproxyDefaults, ReportsAnUnknownFrom) {
  Diagnostics diags;
  haproxy(lines({"listen a from nowhere", "bind :24"}), diags);
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:1: error: listen 'a': no defaults section named 'nowhere'"));
}

TEST(HaproxyDefaults, LogCanBeDroppedWithNoLog) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"defaults", "log global", "listen a", "no log", "log 10.0.0.9:514 local0 info",
                     "bind :24", "server s 10.0.0.1:24"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.at(0).log.size(), 1U);
  EXPECT_EQ(c.listeners.at(0).log[0].address, "10.0.0.9:514");
}

// --- default-server --------------------------------------------------------------------------

TEST(HaproxyDefaultServer, AppliesToTheServerLinesAfterIt) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"listen imap", "bind :143", "server a 10.0.0.1:143",
                     "default-server inter 5s fall 5 check send-proxy-v2", "server b 10.0.0.2:143",
                     "default-server rise 4", "server c 10.0.0.3:143 no-check"}),
              diags);
  EXPECT_TRUE(clean(diags));
  const auto& s = c.listeners.at(0).servers;
  ASSERT_EQ(s.size(), 3U);
  EXPECT_EQ(s[0].inter, 2000);
  EXPECT_FALSE(s[0].check);
  EXPECT_EQ(s[1].inter, 5000);
  EXPECT_EQ(s[1].fall, 5U);
  EXPECT_EQ(s[1].rise, 2U);
  EXPECT_TRUE(s[1].check);
  EXPECT_TRUE(s[1].send_proxy_v2);
  EXPECT_EQ(s[2].rise, 4U);
  EXPECT_EQ(s[2].inter, 5000);
  EXPECT_FALSE(s[2].check);
}

TEST(HaproxyDefaultServer, InDefaultsAppliesToEveryLaterProxy) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"defaults", "default-server check weight 10", "listen a", "bind :24",
             "server s 10.0.0.1:24", "listen b", "bind :25", "server s 10.0.0.1:25 weight 3"}),
      diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_TRUE(c.listeners.at(0).servers.at(0).check);
  EXPECT_EQ(c.listeners.at(0).servers.at(0).weight, 10U);
  EXPECT_TRUE(c.listeners.at(1).servers.at(0).check);
  EXPECT_EQ(c.listeners.at(1).servers.at(0).weight, 3U);
}

TEST(HaproxyDefaultServer, SuggestsForAnUnknownOption) {
  Diagnostics diags;
  haproxy(lines({"defaults", "default-server rize 3"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:2: error: unknown 'default-server' option 'rize' (did you mean 'rise'?)"));
}

// --- frontend / backend --------------------------------------------------------------------

TEST(HaproxyFolding, JoinsAFrontendWithItsDefaultBackend) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"defaults", "timeout connect 3s", "frontend imap-in", "bind :143 accept-proxy",
                     "timeout client 30m", "maxconn 1000", "option dontlognull", "log global",
                     "default_backend imap-servers", "backend imap-servers", "balance static-rr",
                     "timeout server 30m", "timeout check 2s", "retries 2", "option redispatch",
                     "option tcp-check", "tcp-check connect", "server s1 10.0.0.1:143 check",
                     "server s2 10.0.0.2 check"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  const Listener& l = c.listeners[0];
  EXPECT_EQ(l.name, "imap-in");
  EXPECT_EQ(l.origin.line, 3);
  ASSERT_EQ(l.binds.size(), 1U);
  EXPECT_TRUE(l.binds[0].accept_proxy);
  EXPECT_EQ(l.timeouts.client, 1800000);
  EXPECT_EQ(l.timeouts.connect, 3000);
  EXPECT_EQ(l.timeouts.server, 1800000);
  EXPECT_EQ(l.timeouts.check, 2000);
  EXPECT_EQ(l.maxconn, 1000U);
  EXPECT_TRUE(l.dontlognull);
  EXPECT_EQ(l.log.size(), 1U);
  EXPECT_EQ(l.balance, Balance::kStaticRoundRobin);
  EXPECT_EQ(l.retries, 2U);
  EXPECT_TRUE(l.redispatch);
  EXPECT_EQ(l.check_type, CheckType::kTcpCheck);
  EXPECT_EQ(l.tcp_check_rules.size(), 1U);
  ASSERT_EQ(l.servers.size(), 2U);
  EXPECT_EQ(l.servers[1].endpoint, endpoint("10.0.0.2:143"));  // port from the frontend's bind
}

TEST(HaproxyFolding, AcceptsTheBackendBeforeTheFrontend) {
  Diagnostics diags;
  const Config c = haproxy(lines({"backend be", "server s1 10.0.0.1:143", "frontend fe",
                                  "bind :143", "default_backend be"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].servers.size(), 1U);
}

TEST(HaproxyFolding, KeepsListenersInDeclarationOrder) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"frontend a", "bind :24", "default_backend be", "listen b", "bind :25",
                     "server s 10.0.0.1:25", "backend be", "server s 10.0.0.1:24"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].name, "a");
  EXPECT_EQ(c.listeners[1].name, "b");
}

TEST(HaproxyFolding, RejectsAFrontendWithoutDefaultBackend) {
  Diagnostics diags;
  const Config c = haproxy(lines({"frontend fe", "bind :143"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:1: error: frontend 'fe' has no default_backend"));
  EXPECT_TRUE(c.listeners.empty());
}

TEST(HaproxyFolding, RejectsAnUnknownBackendWithASuggestion) {
  Diagnostics diags;
  const Config c = haproxy(lines({"frontend fe", "bind :143", "default_backend imap_servers",
                                  "backend imap-servers", "server s 10.0.0.1:143"}),
                           diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: frontend 'fe': no backend named "
                             "'imap_servers' (did you mean 'imap-servers'?)"));
  EXPECT_TRUE(c.listeners.empty());
}

TEST(HaproxyFolding, WarnsAboutABackendNoFrontendUses) {
  Diagnostics diags;
  haproxy(lines({"backend spare", "server s 10.0.0.1:143"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:1: warning: backend 'spare' is not used by any frontend; Postern ignores it"));
  EXPECT_FALSE(diags.has_errors());
}

TEST(HaproxyFolding, RejectsUseBackend) {
  Diagnostics diags;
  haproxy(lines({"frontend fe", "bind :143", "use_backend be if TRUE", "default_backend be",
                 "backend be", "server s 10.0.0.1:143"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'use_backend' is not supported"));
}

TEST(HaproxyFolding, WarnsAboutABackendKeywordInAFrontend) {
  Diagnostics diags;
  haproxy(lines({"frontend fe", "bind :143", "balance roundrobin", "default_backend be",
                 "backend be", "server s 10.0.0.1:143"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: warning: 'balance' ignored because frontend 'fe' "
                             "has no backend capability"));
  EXPECT_FALSE(diags.has_errors());
}

TEST(HaproxyFolding, RejectsAFrontendNamedLikeAListen) {
  Diagnostics diags;
  haproxy(lines({"listen imap", "bind :143", "server s 10.0.0.1:143", "frontend imap", "bind :993",
                 "default_backend be", "backend be", "server s 10.0.0.1:993"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: error: frontend 'imap' has the same name as "
                             "listen 'imap' declared at t.cfg:1"));
}

TEST(HaproxyFolding, LetsAFrontendAndABackendShareAName) {
  Diagnostics diags;
  const Config c = haproxy(lines({"frontend imap", "bind :143", "default_backend imap",
                                  "backend imap", "server s 10.0.0.1:143"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.size(), 1U);
}

TEST(HaproxyFolding, RejectsTwoBackendsOfOneName) {
  Diagnostics diags;
  haproxy(lines({"backend be", "server s 10.0.0.1:143", "backend be", "server s 10.0.0.2:143"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: backend 'be' has the same name as backend "
                             "'be' declared at t.cfg:1"));
}

// --- options -------------------------------------------------------------------------------

TEST(HaproxyOptions, SetsAndClearsFlags) {
  Diagnostics diags;
  const Config c =
      haproxy(listen_with({"option redispatch", "option dontlognull", "option tcp-check",
                           "option tcplog", "no option dontlognull"}),
              diags);
  EXPECT_TRUE(clean(diags));
  const Listener& l = c.listeners.at(0);
  EXPECT_TRUE(l.redispatch);
  EXPECT_FALSE(l.dontlognull);
  EXPECT_EQ(l.check_type, CheckType::kTcpCheck);
}

TEST(HaproxyOptions, FallsBackFromHttplogWithAWarning) {
  Diagnostics diags;
  haproxy(listen_with({"option httplog"}), diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: warning: 'option httplog' not usable with listen "
                             "'imap' (needs 'mode http'); falling back to 'option "
                             "tcplog'"));
}

TEST(HaproxyOptions, RejectsProtocolChecksWithAHint) {
  Diagnostics diags;
  haproxy(listen_with({"option ldap-check"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'option ldap-check' is not supported by "
                             "Postern (use 'option tcp-check' with 'tcp-check' rules)"));
}

TEST(HaproxyOptions, SuggestsForAnUnknownOption) {
  Diagnostics diags;
  haproxy(listen_with({"option redispach"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: unknown option 'redispach' (did you mean 'redispatch'?)"));
}

// --- check options: tcp-check, smtpchk, mail-check ----------------------------------------

TEST(HaproxyCheckOptions, SmtpchkAloneIsHaproxysHeloLocalhost) {
  Diagnostics diags;
  const Config c = haproxy(listen_with({"option smtpchk"}), diags);
  EXPECT_TRUE(clean(diags));
  const Listener& l = c.listeners.at(0);
  EXPECT_EQ(l.check_type, CheckType::kSmtp);
  EXPECT_EQ(l.smtpchk_verb, "");  // the model's "HELO localhost"
  EXPECT_EQ(l.smtpchk_domain, "");
}

TEST(HaproxyCheckOptions, SmtpchkTakesHeloOrEhloAndADomain) {
  for (const char* verb : {"HELO", "EHLO"}) {
    Diagnostics diags;
    const Config c =
        haproxy(listen_with({std::string("option smtpchk ") + verb + " lb.example.org"}), diags);
    EXPECT_TRUE(clean(diags));
    const Listener& l = c.listeners.at(0);
    EXPECT_EQ(l.check_type, CheckType::kSmtp);
    EXPECT_EQ(l.smtpchk_verb, verb);
    EXPECT_EQ(l.smtpchk_domain, "lb.example.org");
  }
}

// HAProxy sends `HELO localhost` for any of these without a word; Postern says so and refuses.
TEST(HaproxyCheckOptions, SmtpchkRefusesAnotherVerbWithAHint) {
  Diagnostics diags;
  haproxy(listen_with({"option smtpchk ehlo lb.example.org"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'option smtpchk': unknown verb 'ehlo' (HAProxy "
                             "would send 'HELO localhost' instead) (did you mean 'EHLO'?)"));
  Diagnostics other;
  haproxy(listen_with({"option smtpchk LHLO lb.example.org"}), other);
  EXPECT_TRUE(has_diagnostic(other,
                             "t.cfg:3: error: 'option smtpchk': unknown verb 'LHLO' (HAProxy "
                             "would send 'HELO localhost' instead) (use 'HELO <domain>' or "
                             "'EHLO <domain>')"));
}

TEST(HaproxyCheckOptions, SmtpchkRequiresADomainAfterTheVerb) {
  Diagnostics diags;
  const Config c = haproxy(listen_with({"option smtpchk EHLO"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'option smtpchk EHLO' expects a domain (HAProxy "
                             "would send 'HELO localhost' instead)"));
  EXPECT_EQ(c.listeners.at(0).check_type, CheckType::kConnect);
}

// The domain ends up on the check's command line: a CR LF in it would send a second command.
TEST(HaproxyCheckOptions, SmtpchkRefusesADomainThatIsNotOneWord) {
  Diagnostics diags;
  haproxy(listen_with(
              {"option smtpchk EHLO \"lb example\"", "option smtpchk EHLO \"lb\\r\\nVRFY root\""}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'option smtpchk EHLO': the domain 'lb example' "
                             "must be one word without spaces or control characters"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: error: 'option smtpchk EHLO': the domain "
                             "'lb\r\nVRFY root' must be one word"));
}

TEST(HaproxyCheckOptions, SmtpchkTakesAtMostTwoArguments) {
  Diagnostics diags;
  haproxy(listen_with({"option smtpchk EHLO a.example b.example"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: 'option smtpchk': unexpected extra argument 'b.example'"));
}

TEST(HaproxyCheckOptions, MailCheckTakesAProtocolOrReadsThePort) {
  const std::pair<const char*, MailProtocol> cases[] = {
      {"option mail-check", MailProtocol::kAuto},
      {"option mail-check imap", MailProtocol::kImap},
      {"option mail-check pop3", MailProtocol::kPop3},
      {"option mail-check lmtp", MailProtocol::kLmtp},
      {"option mail-check smtp", MailProtocol::kSmtp},
      {"option mail-check sieve", MailProtocol::kSieve},
      {"option mail-check managesieve", MailProtocol::kSieve},
  };
  for (const auto& [line, protocol] : cases) {
    Diagnostics diags;
    const Config c = haproxy(listen_with({line}), diags);
    EXPECT_TRUE(clean(diags)) << line;
    EXPECT_EQ(c.listeners.at(0).check_type, CheckType::kMail) << line;
    EXPECT_EQ(c.listeners.at(0).mail_protocol, protocol) << line;
  }
}

TEST(HaproxyCheckOptions, MailCheckSuggestsForAnUnknownProtocol) {
  Diagnostics diags;
  const Config c = haproxy(listen_with({"option mail-check imap4"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'option mail-check': unknown protocol 'imap4' "
                             "(imap, pop3, lmtp, smtp or sieve) (did you mean 'imap'?)"));
  EXPECT_EQ(c.listeners.at(0).check_type, CheckType::kConnect);
}

TEST(HaproxyCheckOptions, MailCheckTakesOneProtocol) {
  Diagnostics diags;
  haproxy(listen_with({"option mail-check imap pop3"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: 'option mail-check': unexpected extra argument 'pop3'"));
}

// As HAProxy's `option *chk`: the last one wins and takes nothing of the earlier ones along.
TEST(HaproxyCheckOptions, TheLastCheckOptionWins) {
  Diagnostics diags;
  const Config c =
      haproxy(listen_with({"option smtpchk EHLO lb.example.org", "option mail-check pop3",
                           "tcp-check connect", "option tcp-check"}),
              diags);
  EXPECT_TRUE(clean(diags));
  const Listener& l = c.listeners.at(0);
  EXPECT_EQ(l.check_type, CheckType::kTcpCheck);
  EXPECT_EQ(l.smtpchk_verb, "");
  EXPECT_EQ(l.smtpchk_domain, "");
  EXPECT_EQ(l.mail_protocol, MailProtocol::kAuto);
  EXPECT_EQ(l.tcp_check_rules.size(), 1U);

  Diagnostics diags2;
  const Config c2 = haproxy(
      listen_with({"option tcp-check", "tcp-check connect", "option smtpchk HELO a.example"}),
      diags2);
  EXPECT_TRUE(clean(diags2));
  EXPECT_EQ(c2.listeners.at(0).check_type, CheckType::kSmtp);
  EXPECT_EQ(c2.listeners.at(0).smtpchk_domain, "a.example");
  EXPECT_EQ(c2.listeners.at(0).tcp_check_rules.size(), 1U);  // kept, unused
}

// `no option X` cancels X only when X is the check in force (HAProxy's rule for its HTTP modes).
TEST(HaproxyCheckOptions, NoOptionCancelsOnlyTheCheckInForce) {
  Diagnostics diags;
  const Config c = haproxy(
      listen_with({"option smtpchk EHLO a.example", "no option mail-check", "no option tcp-check"}),
      diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).check_type, CheckType::kSmtp);
  EXPECT_EQ(c.listeners.at(0).smtpchk_verb, "EHLO");

  for (const char* option : {"smtpchk", "mail-check", "tcp-check"}) {
    Diagnostics each;
    const Config cancelled = haproxy(
        listen_with({std::string("option ") + option, std::string("no option ") + option}), each);
    EXPECT_TRUE(clean(each)) << option;
    EXPECT_EQ(cancelled.listeners.at(0).check_type, CheckType::kConnect) << option;
  }
}

TEST(HaproxyCheckOptions, NoOptionTakesNoArgument) {
  Diagnostics diags;
  haproxy(listen_with({"no option smtpchk EHLO a.example"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: 'no option smtpchk': unexpected extra argument 'EHLO'"));
}

TEST(HaproxyCheckOptions, DefaultsCarryTheCheckAndAProxyReplacesIt) {
  Diagnostics diags;
  const Config c = haproxy(lines({"defaults", "option smtpchk EHLO lb.example.org", "listen smtp",
                                  "bind :25", "server s 10.0.0.1:25", "listen pop3", "bind :110",
                                  "option mail-check", "server s 10.0.0.1:110", "listen lmtp",
                                  "bind :24", "no option smtpchk", "server s 10.0.0.1:24"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 3U);
  EXPECT_EQ(c.listeners[0].check_type, CheckType::kSmtp);
  EXPECT_EQ(c.listeners[0].smtpchk_verb, "EHLO");
  EXPECT_EQ(c.listeners[0].smtpchk_domain, "lb.example.org");
  EXPECT_EQ(c.listeners[1].check_type, CheckType::kMail);
  EXPECT_EQ(c.listeners[1].smtpchk_verb, "");
  EXPECT_EQ(c.listeners[2].check_type, CheckType::kConnect);
}

TEST(HaproxyCheckOptions, AFrontendTakesTheCheckOfItsBackend) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"defaults", "option mail-check imap", "frontend fe", "bind :587",
                     "default_backend be", "backend be", "option smtpchk EHLO lb.example.org",
                     "server s 10.0.0.1:587 check", "frontend fe2", "bind :143",
                     "default_backend be2", "backend be2", "server s 10.0.0.1:143 check"}),
              diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].check_type, CheckType::kSmtp);
  EXPECT_EQ(c.listeners[0].smtpchk_verb, "EHLO");
  EXPECT_EQ(c.listeners[0].smtpchk_domain, "lb.example.org");
  EXPECT_EQ(c.listeners[1].check_type, CheckType::kMail);  // the backend's, from defaults
  EXPECT_EQ(c.listeners[1].mail_protocol, MailProtocol::kImap);
}

TEST(HaproxyCheckOptions, AreBackendOptions) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"frontend fe", "bind :25", "option smtpchk", "option mail-check smtp",
                     "default_backend be", "backend be", "server s 10.0.0.1:25"}),
              diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: warning: 'option smtpchk' ignored because frontend "
                             "'fe' has no backend capability"));
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:4: warning: 'option mail-check' ignored because frontend "
                             "'fe' has no backend capability"));
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(c.listeners.at(0).check_type, CheckType::kConnect);
}

// --- tcp-check ---------------------------------------------------------------------------

TEST(HaproxyTcpCheck, ReadsAnImapCheck) {
  Diagnostics diags;
  const Config c =
      haproxy(listen_with({"option tcp-check", "tcp-check connect port 143 send-proxy",
                           "tcp-check expect string \"* OK\"",
                           "tcp-check send \"a001 LOGOUT\\r\\n\"", "tcp-check expect ! string BYE",
                           "tcp-check expect !rstring ^-ERR", "tcp-check send-binary 0D0A",
                           "tcp-check expect binary 2B4f4b", "tcp-check comment \"just a note\""}),
              diags);
  EXPECT_TRUE(clean(diags));
  const auto& r = c.listeners.at(0).tcp_check_rules;
  ASSERT_EQ(r.size(), 7U);
  EXPECT_EQ(r[0].kind, TcpCheckRule::Kind::kConnect);
  EXPECT_EQ(r[0].port, 143);
  EXPECT_TRUE(r[0].send_proxy);
  EXPECT_EQ(r[0].origin.line, 4);
  EXPECT_EQ(r[1].kind, TcpCheckRule::Kind::kExpect);
  EXPECT_EQ(r[1].match, TcpCheckRule::Match::kString);
  EXPECT_EQ(r[1].data, "* OK");
  EXPECT_FALSE(r[1].negate);
  EXPECT_EQ(r[2].kind, TcpCheckRule::Kind::kSend);
  EXPECT_EQ(r[2].data, "a001 LOGOUT\r\n");
  EXPECT_TRUE(r[3].negate);
  EXPECT_EQ(r[3].data, "BYE");
  EXPECT_TRUE(r[4].negate);
  EXPECT_EQ(r[4].match, TcpCheckRule::Match::kRstring);
  EXPECT_EQ(r[4].data, "^-ERR");
  EXPECT_EQ(r[5].kind, TcpCheckRule::Kind::kSendBinary);
  EXPECT_EQ(r[5].data, "0d0a");
  EXPECT_EQ(r[6].match, TcpCheckRule::Match::kBinary);
  EXPECT_EQ(r[6].data, "2b4f4b");
}

TEST(HaproxyTcpCheck, OwnRulesReplaceTheDefaultsRules) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"defaults", "option tcp-check", "tcp-check connect", "tcp-check expect string OK",
             "listen a", "bind :24", "server s 10.0.0.1:24", "listen b", "bind :25",
             "tcp-check connect port 2525", "server s 10.0.0.1:25"}),
      diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.listeners.at(0).tcp_check_rules.size(), 2U);
  ASSERT_EQ(c.listeners.at(1).tcp_check_rules.size(), 1U);
  EXPECT_EQ(c.listeners.at(1).tcp_check_rules[0].port, 2525);
  EXPECT_EQ(c.listeners.at(1).check_type, CheckType::kTcpCheck);
}

TEST(HaproxyTcpCheck, RejectsUnsupportedMatches) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check expect rbinary ^2b"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'tcp-check expect rbinary' is not "
                             "supported by Postern"));
}

TEST(HaproxyTcpCheck, RejectsAnInvalidRegex) {
  Diagnostics diags;
  validate(haproxy(listen_with({"tcp-check expect rstring (unclosed"}), diags), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: listener 'imap': 'tcp-check expect rstring': "
                             "invalid regular expression '(unclosed'"));
}

TEST(HaproxyTcpCheck, RejectsOddHex) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check send-binary 0D0"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'tcp-check send-binary': '0D0' is not an "
                             "even number of hex digits"));
}

TEST(HaproxyTcpCheck, RequiresAPattern) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check expect string"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'tcp-check expect string' expects a pattern"));
}

TEST(HaproxyTcpCheck, SuggestsForAnUnknownAction) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check conect"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:3: error: unknown 'tcp-check' action 'conect' (did you mean 'connect'?)"));
}

// Postern closes every check with FIN, which is what HAProxy's `linger` asks for.
TEST(HaproxyTcpCheck, KeepsLingerOnConnect) {
  Diagnostics diags;
  const Config c = haproxy(
      listen_with({"option tcp-check", "tcp-check connect port 25 linger", "tcp-check connect"}),
      diags);
  EXPECT_TRUE(clean(diags));
  const auto& r = c.listeners.at(0).tcp_check_rules;
  ASSERT_EQ(r.size(), 2U);
  EXPECT_TRUE(r[0].linger);
  EXPECT_EQ(r[0].port, 25);
  EXPECT_FALSE(r[1].linger);
}

TEST(HaproxyTcpCheck, RejectsTlsOnConnect) {
  Diagnostics diags;
  haproxy(listen_with({"tcp-check connect port 993 ssl"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: error: 'tcp-check' option 'ssl' is not supported"));
}

// --- log and global ------------------------------------------------------------------------

TEST(HaproxyLog, ReadsTargetsWithLevels) {
  Diagnostics diags;
  const Config c = haproxy(lines({"global", "log 127.0.0.1:514 local0 info notice",
                                  "log /dev/log daemon", "maxconn 20000"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.global.log.size(), 2U);
  EXPECT_EQ(c.global.log[0].address, "127.0.0.1:514");
  EXPECT_EQ(c.global.log[0].facility, "local0");
  EXPECT_EQ(c.global.log[0].level, "info");
  EXPECT_EQ(c.global.log[0].min_level, "notice");
  EXPECT_EQ(c.global.log[1].facility, "daemon");
  EXPECT_EQ(c.global.log[1].level, "");
  EXPECT_EQ(c.global.maxconn, 20000U);
  EXPECT_EQ(c.global.origin.line, 1);
}

TEST(HaproxyLog, SuggestsForAnUnknownFacility) {
  Diagnostics diags;
  haproxy(lines({"global", "log 127.0.0.1 locl0"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:2: error: 'log': unknown facility 'locl0' (did you mean 'local0'?)"));
}

TEST(HaproxyLog, ReadsLenAndFormat) {
  Diagnostics diags;
  const Config c = haproxy(lines({"global", "log stdout format raw local0",
                                  "log 127.0.0.1 len 4096 format rfc5424 local1 info"}),
                           diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.global.log.size(), 2U);
  EXPECT_EQ(c.global.log[0].format, "raw");
  EXPECT_EQ(c.global.log[0].len, 0U);
  EXPECT_EQ(c.global.log[1].format, "rfc5424");
  EXPECT_EQ(c.global.log[1].len, 4096U);
  EXPECT_EQ(c.global.log[1].facility, "local1");
}

TEST(HaproxyLog, RejectsAnUnknownFormatWithASuggestion) {
  Diagnostics diags;
  haproxy(lines({"global", "log 127.0.0.1 format rfc3146 local0"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:2: error: 'log': unknown format 'rfc3146' (did you mean 'rfc3164'?)"));
}

TEST(HaproxyLog, BoundsLenAsHaproxyDoes) {
  Diagnostics diags;
  haproxy(lines({"global", "log 127.0.0.1 len 79 local0", "log 127.0.0.1 len 80 local0",
                 "log 127.0.0.1 len 65536 local0"}),
          diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'log' 'len' must be between 80 and 65535"));
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:4: error: 'log' 'len' must be between 80 and 65535"));
  EXPECT_EQ(diags.errors(), 2U);
}

TEST(HaproxyLog, WarnsThatSampleIsIgnored) {
  Diagnostics diags;
  const Config c = haproxy(lines({"global", "log 127.0.0.1 sample 1:2 local0"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: warning: 'log' option 'sample' is ignored"));
  EXPECT_EQ(c.global.log.size(), 1U);
}

TEST(HaproxyLog, ReadsLogTagAndLogSendHostname) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"global", "log-tag haproxy", "log-send-hostname", "defaults",
                     "log-tag imap-lb", "listen a", "bind :143", "server s 10.0.0.1:143",
                     "listen b", "bind :110", "log-tag pop", "server s 10.0.0.1:110"}),
              diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.global.log_tag, "haproxy");
  ASSERT_TRUE(c.global.log_send_hostname);
  EXPECT_EQ(*c.global.log_send_hostname, "");
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].log_tag, "imap-lb");
  EXPECT_EQ(c.listeners[1].log_tag, "pop");

  Diagnostics named;
  const Config n = haproxy(lines({"global", "log-send-hostname mx1.example.org"}), named);
  EXPECT_TRUE(clean(named));
  EXPECT_EQ(n.global.log_send_hostname, "mx1.example.org");
}

TEST(HaproxyLog, RejectsAnEmptyLogTag) {
  Diagnostics diags;
  haproxy(lines({"global", "log-tag"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'log-tag' expects a tag"));
}

TEST(HaproxyLog, AFrontendKeepsItsBackendsNameForTheLogs) {
  Diagnostics diags;
  const Config c =
      haproxy(lines({"frontend fe", "bind :143", "default_backend be", "backend be",
                     "server s 10.0.0.1:143", "listen l", "bind :110", "server s 10.0.0.1:110"}),
              diags);
  EXPECT_TRUE(clean(diags));
  // The frontend takes its place once its backend is known, at the end.
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].name, "fe");
  EXPECT_EQ(c.listeners[0].backend, "be");
  EXPECT_EQ(c.listeners[1].name, "l");
  EXPECT_EQ(c.listeners[1].backend, "");
}

TEST(HaproxyLog, RejectsLogGlobalInGlobal) {
  Diagnostics diags;
  haproxy(lines({"global", "log global"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'log global' is only meaningful"));
}

TEST(HaproxyGlobal, WarnsAboutProcessManagementKeywords) {
  Diagnostics diags;
  haproxy(lines({"global", "daemon", "user haproxy", "group haproxy", "chroot /var/lib/haproxy",
                 "pidfile /run/haproxy.pid", "nbthread 4", "tune.ssl.default-dh-param 2048"}),
          diags);
  EXPECT_FALSE(diags.has_errors());
  EXPECT_EQ(diags.warnings(), 7U);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: warning: 'daemon' is ignored by Postern"));
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:8: warning: 'tune.ssl.default-dh-param' is ignored by Postern"));
}

// --- stats socket, server-state-file ------------------------------------------------------------

TEST(HaproxyStats, ReadsSocketsWithLevelModeAndOwner) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"global", "stats socket /run/haproxy/admin.sock mode 660 level admin user haproxy",
             "stats socket unix@/run/ro.sock level user gid 33", "stats socket /run/op.sock",
             "stats timeout 2m", "stats maxconn 20"}),
      diags);
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.global.stats_sockets.size(), 3U);
  const StatsSocket& a = c.global.stats_sockets[0];
  EXPECT_EQ(a.path, "/run/haproxy/admin.sock");
  EXPECT_EQ(a.level, ApiLevel::kAdmin);
  EXPECT_EQ(a.mode, 0660U);
  EXPECT_EQ(a.user, "haproxy");
  EXPECT_EQ(a.origin.line, 2);
  EXPECT_EQ(c.global.stats_sockets[1].path, "/run/ro.sock");
  EXPECT_EQ(c.global.stats_sockets[1].level, ApiLevel::kUser);
  EXPECT_EQ(c.global.stats_sockets[1].gid, 33U);
  // HAProxy's default level for a stats socket is operator.
  EXPECT_EQ(c.global.stats_sockets[2].level, ApiLevel::kOperator);
  EXPECT_FALSE(c.global.stats_sockets[2].mode);
  EXPECT_EQ(c.global.stats_timeout, 120000);
  EXPECT_EQ(c.global.stats_maxconn, 20U);
}

TEST(HaproxyStats, RejectsAnUnknownLevelWithASuggestion) {
  Diagnostics diags;
  haproxy(lines({"global", "stats socket /run/a.sock level admn"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: 'stats socket' option 'level' only supports 'user', "
                             "'operator', and 'admin' (did you mean 'admin'?)"));
}

TEST(HaproxyStats, RejectsAModeThatIsNotOctal) {
  Diagnostics diags;
  haproxy(lines({"global", "stats socket /run/a.sock mode 689"}), diags);
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:2: error: 'stats socket' option 'mode' expects"));
}

TEST(HaproxyStats, RejectsAnUnknownSocketOption) {
  Diagnostics diags;
  haproxy(lines({"global", "stats socket /run/a.sock levle admin"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: unknown 'stats' option 'levle' (did you mean "
                             "'level'?)"));
}

TEST(HaproxyStats, SetsTcpSocketsAsideWithAWarning) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"global", "stats socket ipv4@127.0.0.1:9999 level admin",
             "stats socket 127.0.0.1:9998", "stats socket /run/a.sock expose-fd listeners"}),
      diags);
  EXPECT_FALSE(diags.has_errors());
  ASSERT_EQ(c.global.stats_sockets.size(), 1U);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: warning: 'stats socket ipv4@127.0.0.1:9999' is ignored: "
                             "Postern serves the runtime API on UNIX socket paths only"));
  EXPECT_TRUE(has_diagnostic(diags, "t.cfg:3: warning: 'stats socket 127.0.0.1:9998' is ignored"));
  EXPECT_TRUE(
      has_diagnostic(diags, "t.cfg:4: warning: 'stats' option 'expose-fd' is ignored by Postern"));
}

TEST(HaproxyStats, RejectsAStatsSubcommandHaproxyLacks) {
  Diagnostics diags;
  haproxy(lines({"global", "stats enable"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: 'stats' only supports 'socket', 'maxconn', "
                             "'bind-process' and 'timeout' (got 'enable')"));
}

TEST(HaproxyServerState, ReadsTheGlobalFileAndEachProxysMode) {
  Diagnostics diags;
  const Config c = haproxy(
      lines({"global", "server-state-base /var/lib/postern", "server-state-file global.state",
             "defaults", "load-server-state-from-file global", "listen imap", "bind :143",
             "server s1 10.0.0.1:143", "listen pop", "bind :110",
             "load-server-state-from-file local", "server-state-file-name pop.state",
             "server s1 10.0.0.1:110", "frontend sub", "bind :587", "default_backend smtp",
             "backend smtp", "load-server-state-from-file none", "server s1 10.0.0.1:587"}),
      diags);
  EXPECT_TRUE(clean(diags));
  EXPECT_EQ(c.global.server_state_base, "/var/lib/postern");
  EXPECT_EQ(c.global.server_state_file, "global.state");
  ASSERT_EQ(c.listeners.size(), 3U);
  EXPECT_EQ(c.listeners[0].load_server_state, ServerStateLoad::kGlobal);
  EXPECT_EQ(c.listeners[0].backend, "");
  EXPECT_EQ(c.listeners[1].load_server_state, ServerStateLoad::kLocal);
  EXPECT_EQ(c.listeners[1].server_state_file_name, "pop.state");
  // A frontend takes the backend's setting and name, as its servers go by them.
  EXPECT_EQ(c.listeners[2].name, "sub");
  EXPECT_EQ(c.listeners[2].backend, "smtp");
  EXPECT_EQ(c.listeners[2].load_server_state, ServerStateLoad::kNone);
}

TEST(HaproxyServerState, RejectsAnUnknownLoadMode) {
  Diagnostics diags;
  haproxy(listen_with({"load-server-state-from-file globl"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:3: error: 'load-server-state-from-file' expects 'global', "
                             "'local' or 'none'. Got 'globl' (did you mean 'global'?)"));
}

TEST(HaproxyServerState, RejectsAFileNameInDefaults) {
  Diagnostics diags;
  haproxy(lines({"defaults", "server-state-file-name x"}), diags);
  EXPECT_TRUE(has_diagnostic(
      diags, "t.cfg:2: error: 'server-state-file-name' not allowed in 'defaults' section"));
}

TEST(HaproxyGlobal, SuggestsForAnUnknownKeyword) {
  Diagnostics diags;
  haproxy(lines({"global", "maxcon 100"}), diags);
  EXPECT_TRUE(has_diagnostic(diags,
                             "t.cfg:2: error: unknown keyword 'maxcon' in 'global' "
                             "section (did you mean 'maxconn'?)"));
}

// --- several files through one reader ------------------------------------------------------

TEST(HaproxyReader, CarriesDefaultsAndBackendsAcrossFiles) {
  Config c;
  Diagnostics diags;
  HaproxyReader reader(c, diags);
  reader.read(lines({"defaults", "timeout client 1m", "backend be", "server s 10.0.0.1:143"}),
              "a.cfg");
  reader.read(lines({"frontend fe", "bind :143", "default_backend be"}), "b.cfg");
  reader.finish();
  EXPECT_TRUE(clean(diags));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].timeouts.client, 60000);
  EXPECT_EQ(c.listeners[0].servers.size(), 1U);
  EXPECT_EQ(c.listeners[0].origin.file, "b.cfg");
}

TEST(HaproxyReader, EndsASectionWithItsFile) {
  Config c;
  Diagnostics diags;
  HaproxyReader reader(c, diags);
  reader.read(lines({"listen imap", "bind :143"}), "a.cfg");
  reader.read(lines({"server s 10.0.0.1:143"}), "b.cfg");
  reader.finish();
  EXPECT_TRUE(has_diagnostic(diags, "b.cfg:1: error: unknown keyword 'server' out of section"));
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_TRUE(c.listeners[0].servers.empty());
}

TEST(HaproxyReader, MergesGlobalValuesLaterFileWins) {
  Config c;
  Diagnostics diags;
  HaproxyReader reader(c, diags);
  reader.read(lines({"global", "maxconn 100", "log 10.0.0.1 local0"}), "a.cfg");
  reader.read(lines({"global", "maxconn 200", "log 10.0.0.2 local1"}), "b.cfg");
  reader.finish();
  EXPECT_TRUE(no_errors(diags));
  EXPECT_EQ(c.global.maxconn, 200U);
  EXPECT_EQ(c.global.log.size(), 2U);
}

}  // namespace
}  // namespace postern::config
