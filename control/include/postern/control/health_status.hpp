// Health-check results and the log lines about them, in HAProxy's words: the check status
// codes (L4OK, L7TOUT, ...), their descriptions, and the "Server ... is DOWN/UP" lines that
// operators grep for. Pure functions; the health engine (health_engine.hpp) calls them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::control::health {

// HAProxy's check statuses (include/haproxy/check-t.h `enum healthcheck_status`), in its
// order, which matters: a status after the L5-7 data mark carries a response code.
enum class CheckStatus : std::uint8_t {
  kUnknown,  // UNK
  kIni,      // INI: not checked yet
  kHana,     // HANA: `observe layer4` counted too many consecutive errors
  kSockErr,  // SOCKERR: the check could not even start (no slot, I/O error once connected)
  kL4Ok,
  kL4Tout,
  kL4Con,
  kL7Tout,
  kL7Rsp,
  kL7Ok,   // HAProxy's HCHK_STATUS_L7OKD, shown as L7OK
  kL7Sts,  // a reply with a wrong status code (smtpchk, mail-check)
};

// "L4OK", "L7TOUT", ... as `show stat` and promex print them.
std::string_view status_name(CheckStatus s);
// "Layer4 check passed", "Layer7 timeout", ... as the log lines print them.
std::string_view status_description(CheckStatus s);
// Whether the status counts as a passed check.
bool status_passed(CheckStatus s);
// HAProxy prints ", code: N" only for statuses after its L57DATA mark (L7OK, L7STS).
bool status_has_code(CheckStatus s);

// HAProxy keeps at most HCHK_DESC_LEN - 1 bytes of a check's description.
inline constexpr std::size_t kMaxDescription = 127;

// chunk_asciiencode(): every byte that is not printable ASCII, '<', '>' or `quote` becomes
// "<XX>" (upper-case hex), so a server's reply cannot forge a log line.
std::string ascii_encode(std::string_view text, char quote);

// What a "Server ... is DOWN/UP" line says about one server's change (srv_update_status() and
// srv_append_status() in HAProxy's src/server.c).
struct Transition {
  std::string_view server;  // "listener/server"
  bool backup = false;
  bool up = false;  // the new state
  CheckStatus status = CheckStatus::kUnknown;
  int code = 0;
  std::string_view description;   // the check's info; empty: no `info: "..."`
  std::int64_t duration_ms = -1;  // negative: no `check duration:`
  // After the change, as HAProxy's srv_act / srv_bck: usable non-backup and backup servers.
  std::uint32_t active = 0;
  std::uint32_t backups = 0;
  std::uint32_t sessions = 0;  // connections on the server (DOWN lines only)
};

// The text HAProxy logs, with its final '.' and without a newline, e.g.
// `Server imap4/proxy1 is DOWN, reason: Layer4 timeout, check duration: 2001ms. 1 active and 0
// backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.`
// Postern has no queue: requeued and queued counts are always 0.
std::string transition_message(const Transition& t);

// set_backend_down(): `proxy imap4 has no server available!`. HAProxy names a `listen`
// section "proxy" and a `backend` "backend"; a Postern listener is a `listen` section or a
// frontend folded with its backend under the frontend's name, so it says "proxy".
std::string no_server_message(std::string_view listener);

}  // namespace postern::control::health
