// Check conversations on their own: the actions each kind of check takes over a scripted
// server, and its verdict in HAProxy's statuses and words. Every conversation must end with
// a FIN (a kClose, or a send carrying `fin`) and never abandon a connection silently.
#include "postern/control/health_conversation.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

namespace postern::control::health {
namespace {

using config::CheckType;
using config::TcpCheckRule;

config::Server server_line(const std::string& address = "198.19.0.10:143") {
  config::Server s;
  s.name = "proxy1";
  s.endpoint = config::Endpoint::parse(address);
  s.check = true;
  return s;
}

config::Listener listener(CheckType type) {
  config::Listener l;
  l.name = "imap4";
  l.check_type = type;
  return l;
}

TcpCheckRule rule(TcpCheckRule::Kind kind, std::string data = {},
                  TcpCheckRule::Match match = TcpCheckRule::Match::kString, bool negate = false) {
  TcpCheckRule r;
  r.kind = kind;
  r.data = std::move(data);
  r.match = match;
  r.negate = negate;
  return r;
}

TcpCheckRule expect(std::string pattern, bool negate = false) {
  return rule(TcpCheckRule::Kind::kExpect, std::move(pattern), TcpCheckRule::Match::kString,
              negate);
}

TcpCheckRule send(std::string data) {
  return rule(TcpCheckRule::Kind::kSend, std::move(data));
}

// Readable actions: open(143) send("a LOGOUT\r\n") send(PROXY-LOCAL,fin) close
std::string describe(const Actions& actions) {
  std::string out;
  for (const auto& a : actions) {
    if (!out.empty()) {
      out += ' ';
    }
    switch (a.kind) {
      case ProbeAction::Kind::kOpen:
        out += "open(" + std::to_string(a.port) + ")";
        break;
      case ProbeAction::Kind::kClose:
        out += "close";
        break;
      case ProbeAction::Kind::kSend: {
        out += "send(";
        std::string_view bytes = a.bytes;
        if (bytes.starts_with(kProxyV2Local)) {
          out += "PROXY-LOCAL";
          bytes.remove_prefix(kProxyV2Local.size());
          if (!bytes.empty()) {
            out += '+';
          }
        }
        if (!bytes.empty()) {
          out += '"';
          for (const char c : bytes) {
            if (c == '\r') {
              out += "\\r";
            } else if (c == '\n') {
              out += "\\n";
            } else if (static_cast<unsigned char>(c) < 0x20 ||
                       static_cast<unsigned char>(c) >= 0x7f) {
              char hex[8];
              std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
              out += hex;
            } else {
              out += c;
            }
          }
          out += '"';
        }
        if (a.fin) {
          out += ",fin";
        }
        out += ")";
        break;
      }
    }
  }
  return out;
}

// A conversation on a fake clock; `take()` returns the actions since the last take.
struct Talk {
  explicit Talk(CheckPlan p) : plan(std::make_shared<CheckPlan>(std::move(p))), c(plan) {}
  std::string take() {
    std::string s = describe(out);
    out.clear();
    return s;
  }
  void start() { c.start(now, out); }
  void connected() { c.connected(now, out); }
  void data(std::string_view d) { c.data(d, now, out); }
  void closed() { c.peer_closed(now, out); }
  void reset() { c.reset(now, out); }
  // Advances the clock, expiring the conversation when its deadline is passed.
  void wait(std::uint64_t ms) {
    for (std::uint64_t i = 0; i < ms; ++i) {
      ++now;
      if (c.deadline() && *c.deadline() <= now) {
        c.expire(now, out);
      }
    }
  }
  std::string verdict() const {
    if (!c.result()) {
      return "none";
    }
    const auto& r = *c.result();
    std::string s(status_name(r.status));
    if (r.code != 0) {
      s += " code " + std::to_string(r.code);
    }
    if (!r.description.empty()) {
      s += " \"" + r.description + "\"";
    }
    return s;
  }
  std::shared_ptr<const CheckPlan> plan;
  Conversation c;
  Actions out;
  std::uint64_t now = 0;
};

// --- plain `check` -----------------------------------------------------------------------------

TEST(HealthConversation, PlainCheckConnectsThenClosesWithFin) {
  Talk t(make_plan(listener(CheckType::kConnect), server_line()));
  t.start();
  EXPECT_EQ(t.take(), "open(143)");
  EXPECT_EQ(t.verdict(), "none");
  t.wait(3);
  t.connected();
  EXPECT_EQ(t.take(), "close");
  EXPECT_EQ(t.verdict(), "L4OK");  // the implicit connect reports no info
  EXPECT_EQ(t.c.result()->duration_ms, 3U);
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, SendProxyV2SendsTheLocalHeaderWithTheFin) {
  auto s = server_line();
  s.send_proxy_v2 = true;
  Talk t(make_plan(listener(CheckType::kConnect), s));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) send(PROXY-LOCAL,fin)");
  EXPECT_EQ(t.verdict(), "L4OK");
}

TEST(HealthConversation, ProxyV2LocalHeaderBytes) {
  // PROXY protocol v2, section 2.2, for a LOCAL connection:
  const unsigned char expected[16] = {
      0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,  // signature
      0x20,                                                                    // v2, LOCAL
      0x00,                                                                    // UNSPEC/UNSPEC
      0x00, 0x00,                                                              // length 0
  };
  ASSERT_EQ(kProxyV2Local.size(), sizeof(expected));
  EXPECT_EQ(0, std::memcmp(kProxyV2Local.data(), expected, sizeof(expected)));
}

TEST(HealthConversation, PortOrAddrTurnsTheHeaderOffUnlessCheckSendProxy) {
  auto s = server_line();
  s.send_proxy_v2 = true;
  s.check_port = 8143;
  Talk off(make_plan(listener(CheckType::kConnect), s));
  off.start();
  off.connected();
  EXPECT_EQ(off.take(), "open(8143) close");

  s.check_send_proxy = true;
  Talk on(make_plan(listener(CheckType::kConnect), s));
  on.start();
  on.connected();
  EXPECT_EQ(on.take(), "open(8143) send(PROXY-LOCAL,fin)");

  auto a = server_line();
  a.send_proxy_v2 = true;
  a.check_addr = config::IpAddress::parse("198.19.0.99");
  Talk addr(make_plan(listener(CheckType::kConnect), a));
  addr.start();
  addr.connected();
  EXPECT_EQ(addr.take(), "open(143) close");
}

TEST(HealthConversation, RefusedIsL4ConAndNeedsNoClose) {
  Talk t(make_plan(listener(CheckType::kConnect), server_line()));
  t.start();
  t.take();
  t.reset();
  EXPECT_EQ(t.take(), "");
  EXPECT_EQ(t.verdict(), "L4CON \"Connection refused\"");
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, UnreachableIsL4Con) {
  Talk t(make_plan(listener(CheckType::kConnect), server_line()));
  t.start();
  t.take();
  t.c.unreachable(t.now, t.out);
  EXPECT_EQ(t.verdict(), "L4CON \"No route to host\"");
  EXPECT_EQ(t.take(), "");
}

TEST(HealthConversation, ConnectTimeoutIsInterWithoutTimeoutCheck) {
  auto l = listener(CheckType::kConnect);
  l.timeouts.connect = 500;  // alone it does not bound checks
  Talk t(make_plan(l, server_line()));
  t.start();
  t.take();
  t.wait(1999);
  EXPECT_EQ(t.verdict(), "none");
  t.wait(1);
  EXPECT_EQ(t.verdict(), "L4TOUT");
  EXPECT_EQ(t.c.result()->duration_ms, 2000U);
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, ConnectTimeoutIsMinOfInterAndTimeoutConnectWithTimeoutCheck) {
  auto l = listener(CheckType::kConnect);
  l.timeouts.connect = 500;
  l.timeouts.check = 3000;
  Talk t(make_plan(l, server_line()));
  t.start();
  t.wait(500);
  EXPECT_EQ(t.verdict(), "L4TOUT");
  EXPECT_EQ(t.take(), "open(143) close");
}

// --- option tcp-check ------------------------------------------------------------------------

config::Listener tcp_check(std::vector<TcpCheckRule> rules) {
  auto l = listener(CheckType::kTcpCheck);
  l.tcp_check_rules = std::move(rules);
  return l;
}

TEST(HealthConversation, TcpCheckStringSplitOverEvents) {
  auto s = server_line();
  s.send_proxy_v2 = true;
  Talk t(make_plan(tcp_check({expect("* OK")}), s));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) send(PROXY-LOCAL)");
  t.data("* ");
  t.data("O");
  EXPECT_EQ(t.verdict(), "none");
  t.data("K Dovecot ready.\r\n");
  EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");
  EXPECT_EQ(t.take(), "close");
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, TcpCheckMismatchWaitsUntilTheServerCloses) {
  Talk t(make_plan(tcp_check({expect("* OK")}), server_line()));
  t.start();
  t.connected();
  t.take();
  t.data("* BYE Too many connections\r\n");
  EXPECT_EQ(t.verdict(), "none");  // without min-recv a mismatch is not conclusive
  t.closed();
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK did not match content '* OK' at step 1\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, TcpCheckTimeoutNamesTheStep) {
  auto l = tcp_check({expect("* OK")});
  l.timeouts.check = 1000;
  Talk t(make_plan(l, server_line()));
  t.start();
  t.wait(10);
  t.connected();
  t.take();
  t.data("* O");
  t.wait(999);
  EXPECT_EQ(t.verdict(), "none");
  t.wait(1);  // timeout check runs from the connection's establishment
  EXPECT_EQ(t.verdict(), "L7TOUT \" at step 1 of tcp-check (expect string '* OK')\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, TcpCheckConnectTimeoutAtTheImplicitConnect) {
  Talk t(make_plan(tcp_check({expect("* OK")}), server_line()));
  t.start();
  t.wait(2000);
  EXPECT_EQ(t.verdict(), "L4TOUT \" at initial connection step of tcp-check\"");
  EXPECT_EQ(t.take(), "open(143) close");
}

TEST(HealthConversation, TcpCheckRefusedAtTheImplicitConnect) {
  Talk t(make_plan(tcp_check({expect("* OK")}), server_line()));
  t.start();
  t.reset();
  EXPECT_EQ(t.verdict(), "L4CON \"Connection refused at initial connection step of tcp-check\"");
}

TEST(HealthConversation, TcpCheckEmptyResponse) {
  Talk t(make_plan(tcp_check({expect("+OK")}), server_line("198.19.0.10:110")));
  t.start();
  t.connected();
  t.closed();
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK got an empty response at step 1\"");
  EXPECT_EQ(t.take(), "open(110) close");
}

TEST(HealthConversation, TcpCheckResetAfterConnectIsASocketError) {
  Talk t(make_plan(tcp_check({expect("+OK")}), server_line("198.19.0.10:110")));
  t.start();
  t.connected();
  t.take();
  t.reset();
  EXPECT_EQ(t.verdict(),
            "SOCKERR \"Connection reset by peer at step 1 of tcp-check (expect string '+OK')\"");
  EXPECT_EQ(t.take(), "");  // the connection is gone: nothing to close
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, TcpCheckDataBeforeAResetIsJudged) {
  Talk t(make_plan(tcp_check({expect("+OK")}), server_line("198.19.0.10:110")));
  t.start();
  t.connected();
  t.data("-ERR");
  t.reset();
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK did not match content '+OK' at step 1\"");
}

TEST(HealthConversation, TcpCheckMultiStepSendExpect) {
  auto l = tcp_check({
      rule(TcpCheckRule::Kind::kConnect),
      expect("+OK"),
      send("CAPA\r\n"),
      expect("SASL"),
      send("QUIT\r\n"),
      expect("+OK"),
  });
  Talk t(make_plan(l, server_line("198.19.0.10:110")));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(110)");
  t.data("+OK Dovecot ready.\r\n");
  EXPECT_EQ(t.take(), "send(\"CAPA\\r\\n\")");
  t.data("+OK\r\nTOP\r\n");
  EXPECT_EQ(t.take(), "");
  t.data("SASL PLAIN\r\n.\r\n");
  EXPECT_EQ(t.take(), "send(\"QUIT\\r\\n\")");
  t.data("+OK Logging out.\r\n");
  EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, TcpCheckSendClearsTheBuffer) {
  // The greeting was read by the first expect; the second expect must see the new reply only.
  auto l = tcp_check({expect("OK"), send("a NOOP\r\n"), expect("a OK")});
  Talk t(make_plan(l, server_line()));
  t.start();
  t.connected();
  t.data("* OK a OK ready\r\n");
  EXPECT_EQ(t.take(), "open(143) send(\"a NOOP\\r\\n\")");
  EXPECT_EQ(t.verdict(), "none");
  t.data("a OK NOOP completed.\r\n");
  EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");
}

TEST(HealthConversation, TcpCheckNegatedString) {
  auto l = tcp_check({expect("-ERR", true)});
  {
    Talk t(make_plan(l, server_line("198.19.0.10:110")));
    t.start();
    t.connected();
    t.data("-ERR go away\r\n");
    EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK matched unwanted content '-ERR' at step 1\"");
  }
  {
    // Not seeing it is conclusive only when the reply ends (no min-recv).
    Talk t(make_plan(l, server_line("198.19.0.10:110")));
    t.start();
    t.connected();
    t.data("+OK ready\r\n");
    EXPECT_EQ(t.verdict(), "none");
    t.closed();
    EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");
  }
}

TEST(HealthConversation, TcpCheckRegex) {
  auto l = tcp_check(
      {rule(TcpCheckRule::Kind::kExpect, "^\\* OK .*ready", TcpCheckRule::Match::kRstring)});
  Talk ok(make_plan(l, server_line()));
  ok.start();
  ok.connected();
  ok.data("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n");
  EXPECT_EQ(ok.verdict(), "L7OK \"(tcp-check)\"");

  Talk bad(make_plan(l, server_line()));
  bad.start();
  bad.connected();
  bad.data("x * OK ready\r\n");  // '^' anchors at the start of the reply
  bad.closed();
  EXPECT_EQ(bad.verdict(), "L7RSP \"TCPCHK did not match content (regex) at step 1\"");
}

TEST(HealthConversation, TcpCheckRegexDigitsAndNulBytes) {
  auto l =
      tcp_check({rule(TcpCheckRule::Kind::kExpect, "^\\d{3} ok$", TcpCheckRule::Match::kRstring)});
  Talk t(make_plan(l, server_line()));
  EXPECT_TRUE(t.plan->problem.empty());
  t.start();
  t.connected();
  t.data(std::string_view("250 ok", 6));
  EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");

  auto nul = tcp_check({rule(TcpCheckRule::Kind::kExpect, "b$", TcpCheckRule::Match::kRstring)});
  Talk n(make_plan(nul, server_line()));
  n.start();
  n.connected();
  n.data(std::string_view("a\0b", 3));  // the whole reply is searched, NUL included
  EXPECT_EQ(n.verdict(), "L7OK \"(tcp-check)\"");
}

TEST(HealthConversation, TcpCheckBadRegexIsReported) {
  auto l =
      tcp_check({rule(TcpCheckRule::Kind::kExpect, "(unclosed", TcpCheckRule::Match::kRstring)});
  const CheckPlan plan = make_plan(l, server_line());
  EXPECT_NE(plan.problem.find("tcp-check expect rstring '(unclosed' does not compile"),
            std::string::npos)
      << plan.problem;
}

TEST(HealthConversation, TcpCheckBinary) {
  auto l = tcp_check({
      rule(TcpCheckRule::Kind::kSendBinary, "50494e470d0a"),                          // "PING\r\n"
      rule(TcpCheckRule::Kind::kExpect, "2b504f4e47", TcpCheckRule::Match::kBinary),  // "+PONG"
  });
  Talk t(make_plan(l, server_line("198.19.0.10:6379")));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(6379) send(\"PING\\r\\n\")");
  t.data("-ERR\r\n");
  t.closed();
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK did not match content (binary) at step 2\"");
}

TEST(HealthConversation, TcpCheckExplicitConnectPortAndSendProxy) {
  auto s = server_line();
  s.send_proxy_v2 = true;  // an explicit connect does not inherit it (no `default`)
  TcpCheckRule c1 = rule(TcpCheckRule::Kind::kConnect);
  c1.port = 8080;
  TcpCheckRule c2 = rule(TcpCheckRule::Kind::kConnect);
  c2.send_proxy = true;
  Talk t(make_plan(tcp_check({c1, expect("ok"), c2, expect("* OK")}), s));
  t.start();
  EXPECT_EQ(t.take(), "open(8080)");
  t.reset();
  EXPECT_EQ(t.verdict(), "L4CON \"Connection refused at step 1 of tcp-check (connect port 8080)\"");

  Talk u(make_plan(tcp_check({c1, expect("ok"), c2, expect("* OK")}), s));
  u.start();
  u.connected();
  u.data("ok\r\n");
  // The first connection ends (with a FIN) before the second starts.
  EXPECT_EQ(u.take(), "open(8080) close open(143)");
  u.connected();
  EXPECT_EQ(u.take(), "send(PROXY-LOCAL)");
  u.data("* OK\r\n");
  EXPECT_EQ(u.verdict(), "L7OK \"(tcp-check)\"");
  EXPECT_EQ(u.take(), "close");
}

TEST(HealthConversation, TcpCheckEndingWithASendPutsTheFinOnIt) {
  Talk t(make_plan(tcp_check({expect("+OK"), send("QUIT\r\n")}), server_line()));
  t.start();
  t.connected();
  t.data("+OK\r\n");
  EXPECT_EQ(t.take(), "open(143) send(\"QUIT\\r\\n\",fin)");
  EXPECT_EQ(t.verdict(), "L7OK \"(tcp-check)\"");
}

TEST(HealthConversation, TcpCheckWithoutRulesIsAConnect) {
  Talk t(make_plan(tcp_check({}), server_line()));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) close");
  EXPECT_EQ(t.verdict(), "L4OK");
}

TEST(HealthConversation, TcpCheckBufferFullIsConclusive) {
  Talk t(make_plan(tcp_check({expect("NEVER")}), server_line()));
  t.start();
  t.connected();
  const std::string chunk(1000, 'x');
  for (int i = 0; i < 16; ++i) {
    t.data(chunk);
  }
  EXPECT_EQ(t.verdict(), "none");
  t.data(chunk);  // 17000 bytes: the 16384-byte buffer is full
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK did not match content 'NEVER' at step 1\"");
}

// --- option smtpchk ----------------------------------------------------------------------------

TEST(HealthConversation, SmtpchkHeloAndQuit) {
  auto s = server_line("198.19.0.20:25");
  s.send_proxy_v2 = true;
  Talk t(make_plan(listener(CheckType::kSmtp), s));
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(25) send(PROXY-LOCAL)");
  t.data("220 mx1.example.org ESMTP Postfix\r\n");
  EXPECT_EQ(t.take(), "send(\"HELO localhost\\r\\n\")");
  t.data("250 mx1.example.org\r\n");
  EXPECT_EQ(t.take(), "send(\"QUIT\\r\\n\")");
  t.data("221 2.0.0 Bye\r\n");
  EXPECT_EQ(t.verdict(), "L7OK code 221 \"2.0.0 Bye\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, SmtpchkEhloWithAMultiLineReply) {
  auto l = listener(CheckType::kSmtp);
  l.smtpchk_verb = "EHLO";
  l.smtpchk_domain = "checker.example.org";
  Talk t(make_plan(l, server_line("198.19.0.20:587")));
  t.start();
  t.connected();
  t.data("220 mx1 ESMTP\r\n");
  EXPECT_EQ(t.take(), "open(587) send(\"EHLO checker.example.org\\r\\n\")");
  t.data("250-mx1\r\n250-PIPELINING\r\n");
  EXPECT_EQ(t.take(), "");  // the reply is not complete yet
  t.data("250 8BITMIME\r\n");
  EXPECT_EQ(t.take(), "send(\"QUIT\\r\\n\")");
  t.data("221 2.0.0 Bye\r\n");
  EXPECT_EQ(t.verdict(), "L7OK code 221 \"2.0.0 Bye\"");
}

TEST(HealthConversation, SmtpchkRefusesAMultiLineGreetingAsHaproxyDoes) {
  Talk t(make_plan(listener(CheckType::kSmtp), server_line("198.19.0.20:25")));
  t.start();
  t.connected();
  t.data("220-mx1 ESMTP please wait\r\n");
  EXPECT_EQ(t.verdict(), "L7RSP \"220-mx1 ESMTP please wait\"");
  EXPECT_EQ(t.take(), "open(25) close");
}

TEST(HealthConversation, SmtpchkWrongGreetingStatus) {
  Talk t(make_plan(listener(CheckType::kSmtp), server_line("198.19.0.20:25")));
  t.start();
  t.connected();
  t.data("554 5.3.2 mx1 busy\r\n");
  EXPECT_EQ(t.verdict(), "L7STS code 554 \"5.3.2 mx1 busy\"");
}

TEST(HealthConversation, SmtpchkTimeoutWithoutQuitReply) {
  auto l = listener(CheckType::kSmtp);
  l.timeouts.check = 2000;
  Talk t(make_plan(l, server_line("198.19.0.20:25")));
  t.start();
  t.connected();
  t.data("220 mx1\r\n250 mx1\r\n");
  t.take();
  t.data("250 mx1\r\n");
  EXPECT_EQ(t.take(), "send(\"QUIT\\r\\n\")");
  t.wait(2000);
  EXPECT_EQ(t.verdict(), "L7TOUT");  // smtpchk descriptions carry no step
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, SmtpchkEmptyGreeting) {
  Talk t(make_plan(listener(CheckType::kSmtp), server_line("198.19.0.20:25")));
  t.start();
  t.connected();
  t.closed();
  EXPECT_EQ(t.verdict(), "L7RSP \"TCPCHK got an empty response at step 2\"");
}

// --- option mail-check -------------------------------------------------------------------------

Talk mail(config::MailProtocol protocol, const std::string& address, bool proxy = true) {
  auto l = listener(CheckType::kMail);
  l.mail_protocol = protocol;
  auto s = server_line(address);
  s.send_proxy_v2 = proxy;
  return Talk(make_plan(l, s));
}

TEST(HealthConversation, MailCheckProtocolFromThePort) {
  EXPECT_EQ(mail_protocol_for_port(143), config::MailProtocol::kImap);
  EXPECT_EQ(mail_protocol_for_port(110), config::MailProtocol::kPop3);
  EXPECT_EQ(mail_protocol_for_port(24), config::MailProtocol::kLmtp);
  EXPECT_EQ(mail_protocol_for_port(25), config::MailProtocol::kSmtp);
  EXPECT_EQ(mail_protocol_for_port(465), config::MailProtocol::kSmtp);
  EXPECT_EQ(mail_protocol_for_port(587), config::MailProtocol::kSmtp);
  EXPECT_EQ(mail_protocol_for_port(4190), config::MailProtocol::kSieve);
  EXPECT_EQ(mail_protocol_for_port(8080), config::MailProtocol::kAuto);

  auto l = listener(CheckType::kMail);
  const CheckPlan odd = make_plan(l, server_line("198.19.0.10:8080"));
  EXPECT_EQ(odd.flavor, Flavor::kConnect);
  EXPECT_EQ(odd.problem,
            "option mail-check: port 8080 names no mail protocol; only the connection is checked");
}

TEST(HealthConversation, MailCheckImapSaysLogoutAndLetsTheServerCloseFirst) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.10:143");
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) send(PROXY-LOCAL)");
  t.data("* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\r\n");
  EXPECT_EQ(t.verdict(), "L7OK \"* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\"");
  EXPECT_EQ(t.take(), "send(\"a LOGOUT\\r\\n\")");
  EXPECT_FALSE(t.c.finished());
  t.data("* BYE Logging out\r\na OK Logout completed.\r\n");
  EXPECT_EQ(t.take(), "");
  t.closed();
  EXPECT_EQ(t.take(), "close");
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, MailCheckLogoutWaitIsBounded) {
  Talk t = mail(config::MailProtocol::kPop3, "198.19.0.10:110");
  t.start();
  t.connected();
  t.data("+OK Dovecot ready.\r\n");
  EXPECT_EQ(t.take(), "open(110) send(PROXY-LOCAL) send(\"QUIT\\r\\n\")");
  t.wait(kMailLogoutWaitMs - 1);
  EXPECT_EQ(t.take(), "");
  t.wait(1);
  EXPECT_EQ(t.take(), "close");
  EXPECT_TRUE(t.c.finished());
  EXPECT_EQ(t.verdict(), "L7OK \"+OK Dovecot ready.\"");
}

TEST(HealthConversation, MailCheckImapBye) {
  Talk t = mail(config::MailProtocol::kImap, "198.19.0.10:143");
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) send(PROXY-LOCAL)");
  t.data("* BYE Too many connections\r\n");
  EXPECT_EQ(t.verdict(), "L7STS \"* BYE Too many connections\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, MailCheckImapGarbage) {
  Talk t = mail(config::MailProtocol::kImap, "198.19.0.10:143");
  t.start();
  t.connected();
  t.data("HTTP/1.1 400 Bad Request\r\n");
  EXPECT_EQ(t.verdict(), "L7RSP \"HTTP/1.1 400 Bad Request\"");
}

TEST(HealthConversation, MailCheckPop3Err) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.10:110");
  t.start();
  t.connected();
  t.data("-ERR [SYS/TEMP] unavailable\r\n");
  EXPECT_EQ(t.verdict(), "L7STS \"-ERR [SYS/TEMP] unavailable\"");
}

TEST(HealthConversation, MailCheckSmtpMultiLineGreetingSplitOverEvents) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.20:587");
  t.start();
  t.connected();
  t.take();
  t.data("220-mx1.example.org ESMTP\r\n220-");
  EXPECT_EQ(t.verdict(), "none");
  t.data("no UCE\r\n22");
  EXPECT_EQ(t.verdict(), "none");
  t.data("0 ready\r\n");
  EXPECT_EQ(t.verdict(), "L7OK code 220 \"mx1.example.org ESMTP\"");
  EXPECT_EQ(t.take(), "send(\"QUIT\\r\\n\")");
  t.data("221 2.0.0 Bye\r\n");
  t.closed();
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, MailCheckSmtpRefusal) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.20:25");
  t.start();
  t.connected();
  t.data("554 5.7.1 no service\r\n");
  EXPECT_EQ(t.verdict(), "L7STS code 554 \"5.7.1 no service\"");
}

TEST(HealthConversation, MailCheckLmtp) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.10:24");
  t.start();
  t.connected();
  t.data("220 backend1 Dovecot ready.\r\n");
  EXPECT_EQ(t.verdict(), "L7OK code 220 \"backend1 Dovecot ready.\"");
  EXPECT_EQ(t.take(), "open(24) send(PROXY-LOCAL) send(\"QUIT\\r\\n\")");
}

TEST(HealthConversation, MailCheckSieveCapabilities) {
  Talk t = mail(config::MailProtocol::kAuto, "198.19.0.10:4190");
  t.start();
  t.connected();
  t.take();
  t.data("\"IMPLEMENTATION\" \"Dovecot Pigeonhole\"\r\n\"SIEVE\" \"fileinto reject\"\r\n");
  EXPECT_EQ(t.verdict(), "none");
  t.data("\"SASL\" \"PLAIN\"\r\n\"VERSION\" \"1.0\"\r\nOK \"Dovecot ready.\"\r\n");
  EXPECT_EQ(t.verdict(), "L7OK \"OK \"Dovecot ready.\"\"");
  EXPECT_EQ(t.take(), "send(\"LOGOUT\\r\\n\")");
}

TEST(HealthConversation, MailCheckSieveRefusal) {
  Talk t = mail(config::MailProtocol::kSieve, "198.19.0.10:4190");
  t.start();
  t.connected();
  t.data("\"IMPLEMENTATION\" \"Dovecot Pigeonhole\"\r\nBYE \"Too many connections\"\r\n");
  EXPECT_EQ(t.verdict(), "L7STS \"BYE \"Too many connections\"\"");
}

TEST(HealthConversation, MailCheckGreetingCutShort) {
  Talk t = mail(config::MailProtocol::kImap, "198.19.0.10:143");
  t.start();
  t.connected();
  EXPECT_EQ(t.take(), "open(143) send(PROXY-LOCAL)");
  t.data("* OK Dove");
  t.closed();
  EXPECT_EQ(t.verdict(), "L7RSP \"* OK Dove\"");
  EXPECT_EQ(t.take(), "close");
}

TEST(HealthConversation, MailCheckTimeout) {
  auto l = listener(CheckType::kMail);
  l.timeouts.check = 3000;
  auto s = server_line("198.19.0.10:143");
  Talk t(make_plan(l, s));
  t.start();
  t.connected();
  t.wait(3000);
  EXPECT_EQ(t.verdict(), "L7TOUT");
  EXPECT_EQ(t.take(), "open(143) close");
}

TEST(HealthConversation, CancelClosesPolitelyWithoutVerdict) {
  Talk t = mail(config::MailProtocol::kImap, "198.19.0.10:143");
  t.start();
  t.connected();
  t.take();
  t.c.cancel(t.out);
  EXPECT_EQ(t.take(), "close");
  EXPECT_EQ(t.verdict(), "none");
  EXPECT_TRUE(t.c.finished());
}

TEST(HealthConversation, OpenFailures) {
  Talk slot(make_plan(listener(CheckType::kConnect), server_line()));
  slot.start();
  slot.c.open_failed(OpenFailure::kNoSlot, 0, slot.out);
  EXPECT_EQ(slot.verdict(), "SOCKERR \"TCPCHK error allocating connection at step 0\"");

  Talk route(make_plan(tcp_check({expect("x")}), server_line()));
  route.start();
  route.c.open_failed(OpenFailure::kNoRoute, 0, route.out);
  EXPECT_EQ(route.verdict(),
            "L4CON \"Network is unreachable at initial connection step of tcp-check\"");
  EXPECT_TRUE(route.c.finished());
}

}  // namespace
}  // namespace postern::control::health
