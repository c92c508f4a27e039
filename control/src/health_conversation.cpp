// Check plans and the conversation state machine. The rule walk mirrors HAProxy 2.6's
// tcpcheck_main(), tcpcheck_eval_recv() and tcpcheck_eval_expect() (src/tcpcheck.c); error
// descriptions mirror chk_report_conn_err() (src/check.c).
#include "postern/control/health_conversation.hpp"

#include <regex.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace postern::control::health {

namespace {

std::shared_ptr<const config::ExpectRegex> compile_regex(std::string_view pattern,
                                                         std::string& problem) {
  auto re = std::make_shared<config::ExpectRegex>();
  std::string error;
  if (!re->compile(pattern, error)) {
    if (problem.empty()) {
      problem = "tcp-check expect rstring '";
      problem += pattern;
      problem += "' does not compile (";
      problem += error;
      problem += "); the rule never matches";
    }
    return nullptr;
  }
  return re;
}

std::string decode_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

// HAProxy's cut_crlf converter: the text up to the first CR or LF.
std::string cut_crlf(std::string_view s) {
  const auto end = s.find_first_of("\r\n");
  return std::string(s.substr(0, end));
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) !=
        std::toupper(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string truncated(std::string s) {
  if (s.size() > kMaxDescription) {
    s.resize(kMaxDescription);
  }
  return s;
}

CheckRule connect_rule(int step, bool implicit, std::uint16_t port, bool send_proxy) {
  CheckRule r;
  r.kind = CheckRule::Kind::kConnect;
  r.step = step;
  r.implicit = implicit;
  r.port = port;
  r.send_proxy = send_proxy;
  return r;
}

CheckRule send_rule(int step, std::string bytes) {
  CheckRule r;
  r.kind = CheckRule::Kind::kSend;
  r.step = step;
  r.bytes = std::move(bytes);
  return r;
}

// One rule of HAProxy's smtpchk ruleset (src/tcpcheck.c proxy_parse_smtpchk_opt(), with the
// QUIT of commit 9a8d8a3fd that 2.6.7 took): an rstring with its min-recv, error status and
// the log-formats that turn the reply into the check's info and code.
CheckRule smtp_expect(int step, std::string_view pattern, int min_recv, CheckStatus error,
                      CheckRule::Reply on_error, CheckRule::Reply on_success, bool code,
                      std::string& problem) {
  CheckRule r;
  r.kind = CheckRule::Kind::kExpect;
  r.step = step;
  r.match = CheckRule::Match::kRegex;
  r.bytes = pattern;
  r.regex = compile_regex(pattern, problem);
  r.min_recv = min_recv;
  r.error_status = error;
  r.on_error = on_error;
  r.on_success = on_success;
  r.code_from_reply = code;
  return r;
}

std::string_view logout_for(config::MailProtocol p) {
  switch (p) {
    case config::MailProtocol::kImap:
      return "a LOGOUT\r\n";
    case config::MailProtocol::kSieve:
      return "LOGOUT\r\n";
    default:
      return "QUIT\r\n";  // POP3, LMTP, SMTP
  }
}

}  // namespace

config::MailProtocol mail_protocol_for_port(std::uint16_t port) {
  switch (port) {
    case 143:
      return config::MailProtocol::kImap;
    case 110:
      return config::MailProtocol::kPop3;
    case 24:
      return config::MailProtocol::kLmtp;
    case 25:
    case 465:
    case 587:
      return config::MailProtocol::kSmtp;
    case 4190:
      return config::MailProtocol::kSieve;
    default:
      return config::MailProtocol::kAuto;
  }
}

CheckPlan make_plan(const config::Listener& listener, const config::Server& server) {
  CheckPlan plan;
  plan.inter_ms = static_cast<std::uint64_t>(std::max<config::Millis>(server.inter, 1));
  const auto positive = [](const std::optional<config::Millis>& v) -> std::uint64_t {
    return v && *v > 0 ? static_cast<std::uint64_t>(*v) : 0;
  };
  plan.timeout_check_ms = positive(listener.timeouts.check);
  plan.timeout_connect_ms = positive(listener.timeouts.connect);

  // HAProxy's srv_check_healthcheck_port() and init_srv_check(): the check port is `port`,
  // else the server's; the server's PROXY setting carries over unless `port` or `addr` moved
  // the check elsewhere, where only `check-send-proxy` asks for it.
  const std::uint16_t port =
      server.check_port.value_or(server.endpoint ? server.endpoint->port : std::uint16_t{0});
  const bool default_proxy =
      (server.send_proxy_v2 && !server.check_port && !server.check_addr) || server.check_send_proxy;

  switch (listener.check_type) {
    case config::CheckType::kConnect:
      plan.flavor = Flavor::kConnect;
      plan.rules.push_back(connect_rule(0, true, port, default_proxy));
      break;

    case config::CheckType::kTcpCheck: {
      plan.flavor = Flavor::kTcpCheck;
      const auto& rules = listener.tcp_check_rules;
      // check_proxy_tcpcheck(): without a leading connect an implicit one comes first.
      if (rules.empty() || rules.front().kind != config::TcpCheckRule::Kind::kConnect) {
        plan.rules.push_back(connect_rule(0, true, port, default_proxy));
      }
      int step = 0;
      for (const auto& r : rules) {
        ++step;
        switch (r.kind) {
          case config::TcpCheckRule::Kind::kConnect:
            plan.rules.push_back(connect_rule(step, false, r.port.value_or(port), r.send_proxy));
            break;
          case config::TcpCheckRule::Kind::kSend:
            plan.rules.push_back(send_rule(step, r.data));
            break;
          case config::TcpCheckRule::Kind::kSendBinary:
            plan.rules.push_back(send_rule(step, decode_hex(r.data)));
            break;
          case config::TcpCheckRule::Kind::kExpect: {
            CheckRule e;
            e.kind = CheckRule::Kind::kExpect;
            e.step = step;
            e.negate = r.negate;
            switch (r.match) {
              case config::TcpCheckRule::Match::kString:
                e.match = CheckRule::Match::kString;
                e.bytes = r.data;
                break;
              case config::TcpCheckRule::Match::kBinary:
                e.match = CheckRule::Match::kBinary;
                e.bytes = decode_hex(r.data);
                break;
              case config::TcpCheckRule::Match::kRstring:
                e.match = CheckRule::Match::kRegex;
                e.bytes = r.data;
                e.regex = compile_regex(r.data, plan.problem);
                break;
            }
            plan.rules.push_back(std::move(e));
            break;
          }
        }
      }
      break;
    }

    case config::CheckType::kSmtp: {
      plan.flavor = Flavor::kSmtp;
      using Reply = CheckRule::Reply;
      std::string hello = "HELO localhost";
      if ((listener.smtpchk_verb == "EHLO" || listener.smtpchk_verb == "HELO") &&
          !listener.smtpchk_domain.empty()) {
        hello = listener.smtpchk_verb;
        hello += ' ';
        hello += listener.smtpchk_domain;
      }
      hello += "\r\n";
      auto& p = plan.problem;
      plan.rules.push_back(connect_rule(1, false, port, default_proxy));
      plan.rules.push_back(smtp_expect(2, "^[0-9]{3}[ \r]", 4, CheckStatus::kL7Rsp, Reply::kLine,
                                       Reply::kNone, false, p));
      plan.rules.push_back(smtp_expect(3, "^2[0-9]{2}[ \r]", 4, CheckStatus::kL7Sts,
                                       Reply::kAfterCode, Reply::kNone, true, p));
      plan.rules.push_back(send_rule(4, hello));
      plan.rules.push_back(smtp_expect(5, "^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]", -1,
                                       CheckStatus::kL7Sts, Reply::kAfterCode, Reply::kAfterCode,
                                       true, p));
      plan.rules.push_back(send_rule(6, "QUIT\r\n"));
      plan.rules.push_back(smtp_expect(7, "^2[0-9]{2}[- \r]", 4, CheckStatus::kL7Sts,
                                       Reply::kAfterCode, Reply::kAfterCode, true, p));
      break;
    }

    case config::CheckType::kMail: {
      plan.mail = listener.mail_protocol != config::MailProtocol::kAuto
                      ? listener.mail_protocol
                      : mail_protocol_for_port(port);
      if (plan.mail == config::MailProtocol::kAuto) {
        plan.flavor = Flavor::kConnect;
        plan.rules.push_back(connect_rule(0, true, port, default_proxy));
        plan.problem = "option mail-check: port ";
        plan.problem += std::to_string(port);
        plan.problem += " names no mail protocol; only the connection is checked";
        break;
      }
      plan.flavor = Flavor::kMail;
      plan.logout = logout_for(plan.mail);
      plan.rules.push_back(connect_rule(1, false, port, default_proxy));
      CheckRule g;
      g.kind = CheckRule::Kind::kExpect;
      g.step = 2;
      g.match = CheckRule::Match::kGreeting;
      plan.rules.push_back(std::move(g));
      break;
    }
  }
  return plan;
}

// --- Conversation ------------------------------------------------------------------------------

Conversation::Conversation(std::shared_ptr<const CheckPlan> plan) : plan_(std::move(plan)) {}

bool Conversation::finished() const {
  if (!result_ && !cancelled_) {
    return false;
  }
  return !lingering_ && conn_ != Conn::kConnecting && conn_ != Conn::kOpen;
}

void Conversation::start(std::uint64_t now, Actions& out) {
  started_ms_ = now;
  rule_ = 0;
  run(now, out);
}

void Conversation::open(const CheckRule& rule, std::uint64_t now, Actions& out) {
  // A second connect of a ruleset: the first connection ends first (politely).
  close(out);
  ProbeAction a;
  a.kind = ProbeAction::Kind::kOpen;
  a.port = rule.port;
  out.push_back(std::move(a));
  conn_ = Conn::kConnecting;
  conn_rule_ = rule_;
  error_ = Errno::kNone;
  peer_closed_ = false;
  buffer_.clear();
  unread_.clear();
  const auto& p = *plan_;
  std::uint64_t limit = p.inter_ms;
  if (p.timeout_check_ms != 0 && p.timeout_connect_ms != 0) {
    limit = std::min(limit, p.timeout_connect_ms);
  }
  deadline_ = now + limit;
}

void Conversation::open_failed(OpenFailure why, std::uint64_t now, Actions& out) {
  if (result_ || cancelled_) {
    return;
  }
  conn_ = Conn::kDead;
  if (why == OpenFailure::kNoSlot) {
    std::string d = "TCPCHK error allocating connection at step ";
    d += std::to_string(plan_->rules[rule_].step);
    fail(CheckStatus::kSockErr, 0, std::move(d), now, out);
  } else {
    // connect() failing with ENETUNREACH: HAProxy reports L4CON with strerror().
    std::string d = "Network is unreachable";
    d += step_suffix();
    fail(CheckStatus::kL4Con, 0, std::move(d), now, out);
  }
}

void Conversation::connected(std::uint64_t now, Actions& out) {
  if (conn_ != Conn::kConnecting) {
    return;
  }
  conn_ = Conn::kOpen;
  if (plan_->timeout_check_ms != 0) {
    deadline_ = now + plan_->timeout_check_ms;
  }
  if (plan_->rules[conn_rule_].send_proxy) {
    ProbeAction a;
    a.kind = ProbeAction::Kind::kSend;
    a.bytes = kProxyV2Local;
    out.push_back(std::move(a));
  }
  run(now, out);
}

void Conversation::data(std::string_view bytes, std::uint64_t now, Actions& out) {
  if (conn_ != Conn::kOpen || result_ || cancelled_) {
    return;
  }
  // What the buffer cannot take stays "in the socket" in HAProxy; here it is dropped once
  // a buffer's worth is waiting, which an expect then reads as a full buffer.
  const std::size_t room = kCheckBufferSize - std::min(kCheckBufferSize, unread_.size());
  unread_.append(bytes.substr(0, room));
  run(now, out);
}

void Conversation::peer_closed(std::uint64_t now, Actions& out) {
  if (conn_ != Conn::kOpen) {
    return;
  }
  peer_closed_ = true;
  if (lingering_) {
    lingering_ = false;
    close(out);
    return;
  }
  if (!result_ && !cancelled_) {
    run(now, out);
  }
}

void Conversation::reset(std::uint64_t now, Actions& out) {
  if (conn_ == Conn::kConnecting) {
    conn_ = Conn::kDead;
    connection_error(Errno::kRefused, false, now, out);
    return;
  }
  if (conn_ != Conn::kOpen) {
    return;
  }
  conn_ = Conn::kDead;
  lingering_ = false;
  error_ = Errno::kReset;
  if (!result_ && !cancelled_) {
    run(now, out);
  }
}

void Conversation::unreachable(std::uint64_t now, Actions& out) {
  if (conn_ == Conn::kConnecting) {
    conn_ = Conn::kDead;
    connection_error(Errno::kUnreachable, false, now, out);
    return;
  }
  if (conn_ != Conn::kOpen) {
    return;
  }
  conn_ = Conn::kDead;
  lingering_ = false;
  error_ = Errno::kUnreachable;
  if (!result_ && !cancelled_) {
    run(now, out);
  }
}

void Conversation::gone(std::uint64_t now, Actions& out) {
  if (conn_ == Conn::kConnecting || conn_ == Conn::kOpen) {
    reset(now, out);
  }
  // The slot is free: nothing of ours is left to close, whatever state we thought it was in.
  if (conn_ == Conn::kClosed) {
    conn_ = Conn::kDead;
  }
  lingering_ = false;
}

void Conversation::expire(std::uint64_t now, Actions& out) {
  deadline_.reset();
  if (result_ || cancelled_) {
    // The mail-check goodbye had its time.
    lingering_ = false;
    close(out);
    return;
  }
  connection_error(Errno::kNone, true, now, out);
}

void Conversation::cancel(Actions& out) {
  cancelled_ = true;
  lingering_ = false;
  deadline_.reset();
  close(out);
}

void Conversation::close(Actions& out) {
  if (conn_ != Conn::kConnecting && conn_ != Conn::kOpen) {
    return;
  }
  // The last bytes of a conversation carry its FIN when nothing else came in between.
  if (!out.empty() && out.back().kind == ProbeAction::Kind::kSend && !out.back().fin) {
    out.back().fin = true;
  } else {
    ProbeAction a;
    a.kind = ProbeAction::Kind::kClose;
    out.push_back(std::move(a));
  }
  conn_ = Conn::kClosed;
}

std::size_t Conversation::group_head(std::size_t rule) const {
  // tcpcheck_main() resumes a waiting expect at the first expect of its run (expect.head), so
  // every expect of the run is matched again against the grown buffer.
  while (rule > 0 && plan_->rules[rule - 1].kind == CheckRule::Kind::kExpect) {
    --rule;
  }
  return rule;
}

void Conversation::run(std::uint64_t now, Actions& out) {
  const auto& rules = plan_->rules;
  bool must_read = true;
  bool last_read = false;
  // tcpcheck_main() stops at once on a connection error, except that tcpcheck_eval_recv()
  // lets an expect judge data received before a RST ("It is very common that an RST sent by
  // the server is reported as an error just after the last data chunk").
  if (error_ != Errno::kNone) {
    const bool expect_with_data = rule_ < rules.size() &&
                                  rules[rule_].kind == CheckRule::Kind::kExpect &&
                                  !(buffer_.empty() && unread_.empty());
    if (!expect_with_data) {
      connection_error(error_, false, now, out);
      return;
    }
  }
  while (rule_ < rules.size()) {
    const CheckRule& r = rules[rule_];
    switch (r.kind) {
      case CheckRule::Kind::kConnect:
        if (conn_rule_ != rule_) {
          open(r, now, out);
          return;
        }
        if (conn_ == Conn::kConnecting) {
          return;
        }
        must_read = buffer_.empty();
        last_read = false;
        ++rule_;
        break;

      case CheckRule::Kind::kSend: {
        if (error_ != Errno::kNone) {
          connection_error(error_, false, now, out);
          return;
        }
        ProbeAction a;
        a.kind = ProbeAction::Kind::kSend;
        a.bytes = r.bytes;
        out.push_back(std::move(a));
        buffer_.clear();  // tcpcheck_eval_send(): "Always release input buffer"
        must_read = true;
        ++rule_;
        break;
      }

      case CheckRule::Kind::kExpect: {
        if (must_read) {
          const bool got = !unread_.empty();
          const std::size_t room = kCheckBufferSize - buffer_.size();
          buffer_.append(unread_, 0, room);
          unread_.erase(0, std::min(room, unread_.size()));
          if (buffer_.empty() && error_ != Errno::kNone) {
            connection_error(error_, false, now, out);
            return;
          }
          if (!got) {
            if (!peer_closed_ && error_ == Errno::kNone) {
              return;  // wait for the reply
            }
            if (buffer_.empty()) {
              std::string d = "TCPCHK got an empty response at step ";
              d += std::to_string(r.step);
              fail(r.error_status, 0, std::move(d), now, out);
              return;
            }
          }
          last_read = peer_closed_ || error_ != Errno::kNone;
          must_read = false;
        }
        const bool full = buffer_.size() >= kCheckBufferSize;
        switch (evaluate(r, last_read || full, now, out)) {
          case Outcome::kWait:
            rule_ = group_head(rule_);
            return;
          case Outcome::kFail:
            return;
          case Outcome::kPass:
            ++rule_;
            break;
        }
        break;
      }
    }
  }
  succeed(now, out);
}

Conversation::Outcome Conversation::evaluate(const CheckRule& r, bool last_read, std::uint64_t now,
                                             Actions& out) {
  if (r.match == CheckRule::Match::kGreeting) {
    return greeting(r, last_read, now, out);
  }
  if (!last_read) {
    if ((r.match == CheckRule::Match::kString || r.match == CheckRule::Match::kBinary) &&
        buffer_.size() < r.bytes.size()) {
      return Outcome::kWait;
    }
    if (r.min_recv > 0 && buffer_.size() < static_cast<std::size_t>(r.min_recv)) {
      return Outcome::kWait;
    }
  }
  bool match = false;
  if (r.match == CheckRule::Match::kRegex) {
    // regex_exec2() is given at most bufsize - 1 bytes.
    const std::string_view subject(buffer_.data(), std::min(buffer_.size(), kCheckBufferSize - 1));
    match = r.regex != nullptr && r.regex->search(subject);
  } else {
    match = buffer_.find(r.bytes) != std::string::npos;
  }
  // Without min-recv a mismatch is not conclusive until the reply ends.
  if (!match && !last_read && r.min_recv == -1) {
    return Outcome::kWait;
  }
  if (match != r.negate) {
    return Outcome::kPass;
  }
  // tcpcheck_expect_onerror_message()
  std::string d;
  int code = 0;
  if (plan_->flavor == Flavor::kTcpCheck) {
    d = match ? "TCPCHK matched unwanted content" : "TCPCHK did not match content";
    switch (r.match) {
      case CheckRule::Match::kString:
        d += " '";
        d += r.bytes;
        d += "'";
        break;
      case CheckRule::Match::kBinary:
        d += " (binary)";
        break;
      default:
        d += " (regex)";
        break;
    }
    d += " at step ";
    d += std::to_string(r.step);
  } else {
    d = reply_text(r.on_error);
    if (r.code_from_reply) {
      code = reply_code();
    }
  }
  fail(r.error_status, code, std::move(d), now, out);
  return Outcome::kFail;
}

// `option mail-check`: the greeting of each protocol, judged line by line. A refusal the
// protocol spells out (IMAP `* BYE`, POP3 `-ERR`, an SMTP code other than 220, ManageSieve
// `NO`/`BYE`) is L7STS, "Layer7 wrong status"; anything else unexpected is L7RSP.
Conversation::Outcome Conversation::greeting(const CheckRule& r, bool last_read, std::uint64_t now,
                                             Actions& out) {
  std::vector<std::string_view> lines;
  std::string_view rest(buffer_);
  for (auto nl = rest.find('\n'); nl != std::string_view::npos; nl = rest.find('\n')) {
    lines.push_back(rest.substr(0, nl + 1));
    rest.remove_prefix(nl + 1);
  }
  const auto incomplete = [&]() {
    if (!last_read) {
      return Outcome::kWait;
    }
    fail(r.error_status, 0, truncated(cut_crlf(buffer_)), now, out);
    return Outcome::kFail;
  };
  const auto judged = [&](CheckStatus status, int code, std::string info) {
    if (status_passed(status)) {
      greeting_code_ = code;
      greeting_info_ = truncated(std::move(info));
      return Outcome::kPass;
    }
    fail(status, code, truncated(std::move(info)), now, out);
    return Outcome::kFail;
  };

  switch (plan_->mail) {
    case config::MailProtocol::kImap:
    case config::MailProtocol::kPop3: {
      if (lines.empty()) {
        return incomplete();
      }
      const std::string_view line = lines.front();
      const bool imap = plan_->mail == config::MailProtocol::kImap;
      CheckStatus status = CheckStatus::kL7Rsp;
      if (imap ? (starts_with_nocase(line, "* OK") || starts_with_nocase(line, "* PREAUTH"))
               : line.starts_with("+OK")) {
        status = CheckStatus::kL7Ok;
      } else if (imap ? starts_with_nocase(line, "* BYE") : line.starts_with("-ERR")) {
        status = CheckStatus::kL7Sts;
      }
      return judged(status, 0, cut_crlf(line));
    }

    case config::MailProtocol::kLmtp:
    case config::MailProtocol::kSmtp: {
      // RFC 5321 4.2.1: "220-" lines continue the greeting, "220 " ends it; every line of a
      // reply carries the same code.
      int code = -1;
      std::string first_text;
      for (const std::string_view line : lines) {
        const bool shaped = line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) &&
                            is_digit(line[2]) &&
                            (line.size() == 3 || line[3] == ' ' || line[3] == '-' ||
                             line[3] == '\r' || line[3] == '\n');
        const int this_code =
            shaped ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : -1;
        if (!shaped || (code != -1 && this_code != code)) {
          return judged(CheckStatus::kL7Rsp, 0, cut_crlf(line));
        }
        if (code == -1) {
          code = this_code;
          std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
          while (!text.empty() && text.front() == ' ') {
            text.remove_prefix(1);
          }
          first_text = cut_crlf(text);
        }
        if (line.size() > 3 && line[3] == '-') {
          continue;
        }
        return judged(code == 220 ? CheckStatus::kL7Ok : CheckStatus::kL7Sts, code, first_text);
      }
      return incomplete();
    }

    case config::MailProtocol::kSieve:
      // RFC 5804 1.7: capability lines (quoted strings), then OK; NO or BYE refuse.
      for (const std::string_view line : lines) {
        if (starts_with_nocase(line, "OK")) {
          return judged(CheckStatus::kL7Ok, 0, cut_crlf(line));
        }
        if (starts_with_nocase(line, "NO") || starts_with_nocase(line, "BYE")) {
          return judged(CheckStatus::kL7Sts, 0, cut_crlf(line));
        }
        if (!line.starts_with('"')) {
          return judged(CheckStatus::kL7Rsp, 0, cut_crlf(line));
        }
      }
      return incomplete();

    case config::MailProtocol::kAuto:
      break;
  }
  return incomplete();
}

// chk_report_conn_err(): the connection failed or the check ran out of time.
void Conversation::connection_error(Errno err, bool expired, std::uint64_t now, Actions& out) {
  if (result_ || cancelled_) {
    return;
  }
  std::string d;
  switch (err) {
    case Errno::kRefused:
      d = "Connection refused";
      break;
    case Errno::kReset:
      d = "Connection reset by peer";
      break;
    case Errno::kUnreachable:
      d = "No route to host";
      break;
    case Errno::kNone:
      break;
  }
  d += step_suffix();
  CheckStatus status;
  if (conn_ == Conn::kConnecting || (conn_ == Conn::kDead && error_ == Errno::kNone)) {
    status = expired ? CheckStatus::kL4Tout : CheckStatus::kL4Con;
  } else if (err != Errno::kNone) {
    status = CheckStatus::kSockErr;  // an I/O error once connected
  } else {
    status = CheckStatus::kL7Tout;
  }
  fail(status, 0, std::move(d), now, out);
}

// The " at step N of tcp-check (...)" HAProxy adds for `option tcp-check` rulesets only.
std::string Conversation::step_suffix() const {
  if (plan_->flavor != Flavor::kTcpCheck || rule_ >= plan_->rules.size()) {
    return {};
  }
  const CheckRule& r = plan_->rules[rule_];
  if (r.step == 0) {
    return " at initial connection step of tcp-check";
  }
  std::string s = " at step ";
  s += std::to_string(r.step);
  s += " of tcp-check";
  switch (r.kind) {
    case CheckRule::Kind::kConnect:
      if (r.port != 0) {
        s += " (connect port ";
        s += std::to_string(r.port);
        s += ")";
      } else {
        s += " (connect)";
      }
      break;
    case CheckRule::Kind::kSend:
      s += " (send)";
      break;
    case CheckRule::Kind::kExpect:
      switch (r.match) {
        case CheckRule::Match::kString:
          s += " (expect string '";
          s += r.bytes;
          s += "')";
          break;
        case CheckRule::Match::kBinary:
          s += " (expect binary '";
          s += r.bytes;
          s += "')";
          break;
        default:
          s += " (expect regex)";
          break;
      }
      break;
  }
  return s;
}

// smtpchk's on-error / on-success log-formats: `%[res.payload(0,0),cut_crlf]` and
// `%[res.payload(4,0),ltrim(' '),cut_crlf]`; a fetch short of data logs "-".
std::string Conversation::reply_text(CheckRule::Reply what) const {
  switch (what) {
    case CheckRule::Reply::kNone:
      return {};
    case CheckRule::Reply::kLine:
      return truncated(cut_crlf(buffer_));
    case CheckRule::Reply::kAfterCode: {
      if (buffer_.size() < 4) {
        return "-";
      }
      std::string_view text = std::string_view(buffer_).substr(4);
      while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
      }
      return truncated(cut_crlf(text));
    }
  }
  return {};
}

// smtpchk's status-code expression `res.payload(0,3)`: the reply's first three digits.
int Conversation::reply_code() const {
  if (buffer_.size() < 3 || !is_digit(buffer_[0]) || !is_digit(buffer_[1]) ||
      !is_digit(buffer_[2])) {
    return 0;
  }
  return (buffer_[0] - '0') * 100 + (buffer_[1] - '0') * 10 + (buffer_[2] - '0');
}

void Conversation::fail(CheckStatus status, int code, std::string description, std::uint64_t now,
                        Actions& out) {
  finish(status, code, std::move(description), now, out);
  close(out);
}

// All rules passed: the status and info tcpcheck_main() gives from the last rule.
void Conversation::succeed(std::uint64_t now, Actions& out) {
  const CheckRule& last = plan_->rules.back();
  CheckStatus status = CheckStatus::kL7Ok;
  std::string d;
  int code = 0;
  switch (last.kind) {
    case CheckRule::Kind::kConnect:
      status = CheckStatus::kL4Ok;
      if (!last.implicit) {
        d = "(tcp-check)";
      }
      break;
    case CheckRule::Kind::kSend:
      d = "(tcp-check)";
      break;
    case CheckRule::Kind::kExpect:
      if (plan_->flavor == Flavor::kTcpCheck) {
        d = "(tcp-check)";
      } else if (plan_->flavor == Flavor::kMail) {
        d = greeting_info_;
        code = greeting_code_;
      } else {
        d = reply_text(last.on_success);
        if (last.code_from_reply) {
          code = reply_code();
        }
      }
      break;
  }
  finish(status, code, std::move(d), now, out);
  if (plan_->flavor == Flavor::kMail && conn_ == Conn::kOpen && !peer_closed_) {
    // Say goodbye so that the server logs a normal logout, then let it close first.
    ProbeAction a;
    a.kind = ProbeAction::Kind::kSend;
    a.bytes = plan_->logout;
    out.push_back(std::move(a));
    lingering_ = true;
    deadline_ = now + kMailLogoutWaitMs;
    return;
  }
  close(out);
}

void Conversation::finish(CheckStatus status, int code, std::string description, std::uint64_t now,
                          Actions&) {
  CheckResult r;
  r.status = status;
  r.code = code;
  r.description = truncated(std::move(description));
  r.duration_ms = now >= started_ms_ ? now - started_ms_ : 0;
  result_ = std::move(r);
  deadline_.reset();
}

}  // namespace postern::control::health
