// The health-check settings' words and their one "last option wins" rule, shared by the
// haproxy.cfg reader, the YAML reader and writer and the validator, so both syntaxes agree.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "postern/config/model.hpp"

namespace postern::config {

template <typename Value>
struct Word {
  std::string_view name;
  Value value;
};

// YAML's `check.type`; haproxy.cfg spells the same as `option tcp-check|smtpchk|mail-check`.
inline constexpr Word<CheckType> kCheckTypeWords[] = {
    {"connect", CheckType::kConnect},
    {"tcp-check", CheckType::kTcpCheck},
    {"smtpchk", CheckType::kSmtp},
    {"mail-check", CheckType::kMail},
};

// `option mail-check PROTOCOL`. ManageSieve (RFC 5804) is the protocol behind port 4190, so
// its own name is taken as well; `sieve` is the name written back.
inline constexpr Word<MailProtocol> kMailProtocolWords[] = {
    {"imap", MailProtocol::kImap},   {"pop3", MailProtocol::kPop3},
    {"lmtp", MailProtocol::kLmtp},   {"smtp", MailProtocol::kSmtp},
    {"sieve", MailProtocol::kSieve}, {"managesieve", MailProtocol::kSieve},
};

// `on-error MODE`, HAProxy's words (src/server.c srv_parse_on_error).
inline constexpr Word<OnError> kOnErrorWords[] = {
    {"fastinter", OnError::kFastinter},
    {"fail-check", OnError::kFailCheck},
    {"sudden-death", OnError::kSuddenDeath},
    {"mark-down", OnError::kMarkDown},
};

template <typename Value, std::size_t N>
std::optional<Value> find_word(const Word<Value> (&words)[N], std::string_view name) {
  for (const Word<Value>& word : words) {
    if (word.name == name) {
      return word.value;
    }
  }
  return std::nullopt;
}

// The first name of `value`: the one written back when several names read the same.
template <typename Value, std::size_t N>
std::string_view word_name(const Word<Value> (&words)[N], Value value) {
  for (const Word<Value>& word : words) {
    if (word.value == value) {
      return word.name;
    }
  }
  return {};
}

template <typename Value, std::size_t N>
std::vector<std::string_view> word_names(const Word<Value> (&words)[N]) {
  std::vector<std::string_view> names;
  names.reserve(N);
  for (const Word<Value>& word : words) {
    names.push_back(word.name);
  }
  return names;
}

// How diagnostics name each check type, in haproxy.cfg terms.
constexpr std::string_view check_option(CheckType type) {
  switch (type) {
    case CheckType::kTcpCheck:
      return "option tcp-check";
    case CheckType::kSmtp:
      return "option smtpchk";
    case CheckType::kMail:
      return "option mail-check";
    case CheckType::kConnect:
      break;
  }
  return "check";
}

// The domain of `option smtpchk HELO|EHLO <domain>` goes on the check's command line as one
// word: a space or a control character (a CR LF would start a second command) is refused.
inline bool is_smtp_domain(std::string_view domain) {
  return !domain.empty() && std::none_of(domain.begin(), domain.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

// Chooses the listener's check conversation. As HAProxy's `option tcp-check|smtpchk|...` each
// clear the previous one's settings (PR_O2_CHK_ANY, the preset smtp variable), the other types'
// settings go back to their built-in values; tcp-check rules stay, unused until `option
// tcp-check` comes back (src/tcpcheck.c keeps the proxy's ruleset the same way).
inline void select_check_type(Listener& listener, CheckType type) {
  listener.check_type = type;
  listener.smtpchk_verb.clear();
  listener.smtpchk_domain.clear();
  listener.mail_protocol = MailProtocol::kAuto;
}

}  // namespace postern::config
