// One health check as a conversation: what to connect, send and expect (a CheckPlan, made
// from a listener's check options and a server line), and the state machine that runs it
// over events of a probe connection (connected, data, closed, reset, timeout) and answers with
// actions (open, send, close) and, in the end, a verdict in HAProxy's terms. No slots, rings
// or clocks of its own: the health engine (health_engine.hpp) carries the actions out.
//
// The rules run as HAProxy 2.6's tcpcheck_main() runs them (src/tcpcheck.c): the same
// waiting, the same buffers, the same statuses and "TCPCHK ..." descriptions. One deliberate
// difference: a connection is always closed with a FIN, never a RST, because Postfix's smtpd
// exits fatally on a PROXY v2 LOCAL header followed by a RST (HAPROXY-FACTS.md section 5).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postern/config/expect_regex.hpp"
#include "postern/config/model.hpp"
#include "postern/control/health_status.hpp"

namespace postern::control::health {

// HAProxy's check buffer (tune.bufsize): an expect sees at most this much of the reply.
inline constexpr std::size_t kCheckBufferSize = 16384;
// Once `option mail-check` has its greeting it says goodbye and waits this long at most for
// the server to answer and close before closing itself.
inline constexpr std::uint64_t kMailLogoutWaitMs = 1000;

// The PROXY protocol v2 header a check connection starts with (PROXY spec section 2.2): the
// 12-byte signature, version 2 with the LOCAL command (0x20), family UNSPEC (0x00) and no
// address block. HAProxy has sent LOCAL on checks since 2.2 (HAPROXY-FACTS.md section 3).
inline constexpr std::string_view kProxyV2Local{
    "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"  // signature "\r\n\r\n\0\r\nQUIT\n"
    "\x20"                                              // version 2, command LOCAL
    "\x00"                                              // AF_UNSPEC, UNSPEC transport
    "\x00\x00",                                         // no address block
    16};

// A compiled `rstring` pattern (defined in the .cpp).

// What kind of check a plan is; it decides the wording of descriptions, as HAProxy words a
// default check, a `tcp-check` ruleset and a protocol check (smtpchk) differently.
enum class Flavor : std::uint8_t {
  kConnect,   // plain `check`: connect (and the PROXY header), nothing else
  kTcpCheck,  // `option tcp-check` with its rules
  kSmtp,      // `option smtpchk`: HAProxy's own ruleset, QUIT included (2.6.7 and later)
  kMail,      // `option mail-check`: Postern's greeting check for IMAP, POP3, LMTP, SMTP, Sieve
};

struct CheckRule {
  enum class Kind : std::uint8_t { kConnect, kSend, kExpect };
  enum class Match : std::uint8_t { kString, kBinary, kRegex, kGreeting };
  // smtpchk reports what the server said (HAProxy's on-error/on-success log-formats): the
  // first line, or the text after the status code of the first line.
  enum class Reply : std::uint8_t { kNone, kLine, kAfterCode };

  Kind kind = Kind::kConnect;
  // HAProxy's step number in descriptions: 0 for the implicit first connect, else the rule's
  // position, counting from 1.
  int step = 1;
  // connect
  bool implicit = false;
  std::uint16_t port = 0;  // host order
  bool send_proxy = false;
  // send: the bytes. expect: the bytes to find (kString, kBinary) or the pattern (kRegex).
  std::string bytes;
  // expect
  Match match = Match::kString;
  std::shared_ptr<const config::ExpectRegex> regex;  // kRegex; null if the pattern did not compile
  bool negate = false;
  int min_recv = -1;  // -1: a mismatch waits for more data until the reply ends
  CheckStatus error_status = CheckStatus::kL7Rsp;
  Reply on_error = Reply::kNone;
  Reply on_success = Reply::kNone;
  bool code_from_reply = false;  // the check's code is the reply's first three digits
};

// Everything a check of one server needs, made once per configuration.
struct CheckPlan {
  Flavor flavor = Flavor::kConnect;
  std::vector<CheckRule> rules;                             // the first is always a connect
  config::MailProtocol mail = config::MailProtocol::kAuto;  // kMail: the protocol spoken
  std::string logout;                                       // kMail: the polite goodbye
  // HAProxy's timing of one check (src/tcpcheck.c tcpcheck_eval_connect()): a connection has
  // `inter` to establish, or min(inter, timeout connect) when both `timeout check` and
  // `timeout connect` are set; once it is established, `timeout check` (when set) bounds the
  // rest from that moment, else the `inter` that started at the connect goes on running.
  std::uint64_t inter_ms = 2000;
  std::uint64_t timeout_check_ms = 0;    // 0: not set
  std::uint64_t timeout_connect_ms = 0;  // 0: not set
  // Something in the configuration the plan could not honour (a pattern that does not
  // compile, a mail-check port that names no protocol), for one log line at configure time.
  std::string problem;
};

// The plan for `server` of `listener`. The server's PROXY setting applies to the implicit
// connect (and smtpchk's and mail-check's connect, HAProxy's `connect default`):
// `send-proxy-v2` without `port`/`addr`, or `check-send-proxy`. An explicit `tcp-check
// connect` sends a header only with its own `send-proxy`, as in HAProxy without `default`.
CheckPlan make_plan(const config::Listener& listener, const config::Server& server);

// `option mail-check` without a protocol: the one usually served on `port`; kAuto if none.
config::MailProtocol mail_protocol_for_port(std::uint16_t port);

struct ProbeAction {
  enum class Kind : std::uint8_t { kOpen, kSend, kClose };
  Kind kind = Kind::kOpen;
  std::uint16_t port = 0;  // kOpen: the destination port, host order
  std::string bytes;       // kSend
  bool fin = false;        // kSend: a FIN follows the bytes
};
using Actions = std::vector<ProbeAction>;

struct CheckResult {
  CheckStatus status = CheckStatus::kUnknown;
  int code = 0;
  std::string description;  // HAProxy's check "info" (desc), at most kMaxDescription bytes
  std::uint64_t duration_ms = 0;
};

// Why the engine could not open a connection the conversation asked for.
enum class OpenFailure : std::uint8_t {
  kNoSlot,   // every probe slot of the worker is in use (HAProxy: connection allocation)
  kNoRoute,  // no source address or route towards the check address
};

class Conversation {
 public:
  explicit Conversation(std::shared_ptr<const CheckPlan> plan);

  // Each call may append actions to `out`, in order, for the current connection (a kOpen
  // starts a new one; a kClose or a kSend with `fin` ends the current one).
  void start(std::uint64_t now, Actions& out);
  void open_failed(OpenFailure why, std::uint64_t now, Actions& out);
  void connected(std::uint64_t now, Actions& out);
  void data(std::string_view bytes, std::uint64_t now, Actions& out);
  void peer_closed(std::uint64_t now, Actions& out);
  void reset(std::uint64_t now, Actions& out);        // RST (before kConnected: refused)
  void unreachable(std::uint64_t now, Actions& out);  // the SYN could not go, ICMP unreachable
  void gone(std::uint64_t now, Actions& out);         // the connection vanished (slot freed)
  void expire(std::uint64_t now, Actions& out);       // called once now >= deadline()
  // Stops without a verdict (the server left the configuration): a polite close.
  void cancel(Actions& out);

  std::optional<std::uint64_t> deadline() const { return deadline_; }
  const std::optional<CheckResult>& result() const { return result_; }
  // Nothing left to do: a verdict (or a cancel) and no connection of ours still to close.
  bool finished() const;

 private:
  enum class Conn : std::uint8_t { kNone, kConnecting, kOpen, kClosed, kDead };
  enum class Errno : std::uint8_t { kNone, kRefused, kReset, kUnreachable };
  enum class Outcome : std::uint8_t { kWait, kPass, kFail };

  void run(std::uint64_t now, Actions& out);
  void open(const CheckRule& rule, std::uint64_t now, Actions& out);
  Outcome evaluate(const CheckRule& rule, bool last_read, std::uint64_t now, Actions& out);
  Outcome greeting(const CheckRule& rule, bool last_read, std::uint64_t now, Actions& out);
  void connection_error(Errno err, bool expired, std::uint64_t now, Actions& out);
  void fail(CheckStatus status, int code, std::string description, std::uint64_t now, Actions& out);
  void succeed(std::uint64_t now, Actions& out);
  void finish(CheckStatus status, int code, std::string description, std::uint64_t now,
              Actions& out);
  void close(Actions& out);
  std::string step_suffix() const;
  std::size_t group_head(std::size_t rule) const;
  std::string reply_text(CheckRule::Reply what) const;
  int reply_code() const;

  std::shared_ptr<const CheckPlan> plan_;
  std::size_t rule_ = 0;              // the rule being run (HAProxy's current_step)
  std::size_t conn_rule_ = SIZE_MAX;  // the connect rule the current connection is for
  Conn conn_ = Conn::kNone;
  Errno error_ = Errno::kNone;  // the connection failed after it was established
  bool peer_closed_ = false;
  bool lingering_ = false;  // mail-check: goodbye sent, waiting for the server
  bool cancelled_ = false;
  std::string buffer_;  // what expects look at (HAProxy's check->bi)
  std::string unread_;  // received, not read by an expect yet
  std::uint64_t started_ms_ = 0;
  std::optional<std::uint64_t> deadline_;
  std::optional<CheckResult> result_;
  // mail-check: the greeting's code and words, for the verdict.
  int greeting_code_ = 0;
  std::string greeting_info_;
};

}  // namespace postern::control::health
