// Check statuses and transition log lines, worded as HAProxy 2.6 words them (src/check.c
// `check_statuses[]`, src/server.c `srv_append_status()`, src/backend.c `set_backend_down()`).
#include "postern/control/health_status.hpp"

#include <array>

namespace postern::control::health {
namespace {

struct StatusText {
  std::string_view name;
  std::string_view description;
};

constexpr std::array<StatusText, 11> kStatusTexts = {{
    {"UNK", "Unknown"},
    {"INI", "Initializing"},
    {"HANA", "Health analyze"},
    {"SOCKERR", "Socket error"},
    {"L4OK", "Layer4 check passed"},
    {"L4TOUT", "Layer4 timeout"},
    {"L4CON", "Layer4 connection problem"},
    {"L7TOUT", "Layer7 timeout"},
    {"L7RSP", "Layer7 invalid response"},
    {"L7OK", "Layer7 check passed"},
    {"L7STS", "Layer7 wrong status"},
}};

const StatusText& text_of(CheckStatus s) {
  const auto i = static_cast<std::size_t>(s);
  return i < kStatusTexts.size() ? kStatusTexts[i] : kStatusTexts[0];
}

}  // namespace

std::string_view status_name(CheckStatus s) {
  return text_of(s).name;
}

std::string_view status_description(CheckStatus s) {
  return text_of(s).description;
}

bool status_passed(CheckStatus s) {
  return s == CheckStatus::kL4Ok || s == CheckStatus::kL7Ok;
}

bool status_has_code(CheckStatus s) {
  return s == CheckStatus::kL7Ok || s == CheckStatus::kL7Sts;
}

std::string ascii_encode(std::string_view text, char quote) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '<' || c == '>' || c == quote) {
      out += '<';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
      out += '>';
    } else {
      out += c;
    }
  }
  return out;
}

std::string transition_message(const Transition& t) {
  std::string m;
  if (t.backup) {
    m += "Backup ";
  }
  m += "Server ";
  m += t.server;
  m += t.up ? " is UP" : " is DOWN";
  m += ", reason: ";
  m += status_description(t.status);
  if (status_has_code(t.status)) {
    m += ", code: ";
    m += std::to_string(t.code);
  }
  if (!t.description.empty()) {
    m += ", info: \"";
    m += ascii_encode(t.description, '"');
    m += '"';
  }
  if (t.duration_ms >= 0) {
    m += ", check duration: ";
    m += std::to_string(t.duration_ms);
    m += "ms";
  }
  m += ". ";
  m += std::to_string(t.active);
  m += " active and ";
  m += std::to_string(t.backups);
  m += t.up ? " backup servers online." : " backup servers left.";
  if (t.backups != 0 && t.active == 0) {
    m += " Running on backup.";
  }
  if (t.up) {
    m += " 0 sessions requeued, 0 total in queue.";
  } else {
    m += ' ';
    m += std::to_string(t.sessions);
    m += " sessions active, 0 requeued, 0 remaining in queue.";
  }
  return m;
}

std::string no_server_message(std::string_view listener) {
  std::string m = "proxy ";
  m += listener;
  m += " has no server available!";
  return m;
}

}  // namespace postern::control::health
