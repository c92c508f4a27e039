// Check statuses and the transition log lines, compared with HAProxy 2.6's exact wording
// (src/check.c check_statuses[], src/server.c srv_append_status(), src/backend.c
// set_backend_down(); reg-tests/checks/smtp-check.vtc for a line with code and info).
#include "postern/control/health_status.hpp"

#include <gtest/gtest.h>

namespace postern::control::health {
namespace {

TEST(HealthStatus, NamesAndDescriptionsAreHaproxys) {
  struct Row {
    CheckStatus status;
    const char* name;
    const char* description;
    bool passed;
    bool code;
  };
  const Row rows[] = {
      {CheckStatus::kIni, "INI", "Initializing", false, false},
      {CheckStatus::kHana, "HANA", "Health analyze", false, false},
      {CheckStatus::kSockErr, "SOCKERR", "Socket error", false, false},
      {CheckStatus::kL4Ok, "L4OK", "Layer4 check passed", true, false},
      {CheckStatus::kL4Tout, "L4TOUT", "Layer4 timeout", false, false},
      {CheckStatus::kL4Con, "L4CON", "Layer4 connection problem", false, false},
      {CheckStatus::kL7Tout, "L7TOUT", "Layer7 timeout", false, false},
      {CheckStatus::kL7Rsp, "L7RSP", "Layer7 invalid response", false, false},
      {CheckStatus::kL7Ok, "L7OK", "Layer7 check passed", true, true},
      {CheckStatus::kL7Sts, "L7STS", "Layer7 wrong status", false, true},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(status_name(r.status), r.name);
    EXPECT_EQ(status_description(r.status), r.description);
    EXPECT_EQ(status_passed(r.status), r.passed) << r.name;
    EXPECT_EQ(status_has_code(r.status), r.code) << r.name;
  }
}

TEST(HealthStatus, AsciiEncodeEscapesLikeChunkAsciiencode) {
  EXPECT_EQ(ascii_encode("* OK ready", '"'), "* OK ready");
  EXPECT_EQ(ascii_encode("a\"b<c>\r\n\x01\xff", '"'), "a<22>b<3C>c<3E><0D><0A><01><FF>");
}

TEST(HealthStatus, DownLineWithInfoAndDuration) {
  Transition t;
  t.server = "imap4/proxy1";
  t.up = false;
  t.status = CheckStatus::kL4Con;
  t.description = "Connection refused";
  t.duration_ms = 0;
  t.active = 1;
  t.backups = 0;
  EXPECT_EQ(transition_message(t),
            "Server imap4/proxy1 is DOWN, reason: Layer4 connection problem, info: \"Connection "
            "refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions "
            "active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthStatus, DownLineWithoutInfo) {
  Transition t;
  t.server = "imap4/proxy1";
  t.status = CheckStatus::kL7Tout;
  t.duration_ms = 4001;
  t.active = 1;
  t.sessions = 3;
  EXPECT_EQ(transition_message(t),
            "Server imap4/proxy1 is DOWN, reason: Layer7 timeout, check duration: 4001ms. 1 "
            "active and 0 backup servers left. 3 sessions active, 0 requeued, 0 remaining in "
            "queue.");
}

TEST(HealthStatus, UpLineWithCodeAndInfo) {
  Transition t;
  t.server = "smtp/mx1";
  t.up = true;
  t.status = CheckStatus::kL7Ok;
  t.code = 221;
  t.description = "smtp-check.vtc closing";
  t.duration_ms = 2;
  t.active = 2;
  EXPECT_EQ(transition_message(t),
            "Server smtp/mx1 is UP, reason: Layer7 check passed, code: 221, info: \"smtp-check.vtc "
            "closing\", check duration: 2ms. 2 active and 0 backup servers online. 0 sessions "
            "requeued, 0 total in queue.");
}

TEST(HealthStatus, UpLineOfATcpCheck) {
  Transition t;
  t.server = "imap4/proxy1";
  t.up = true;
  t.status = CheckStatus::kL7Ok;
  t.code = 0;
  t.description = "(tcp-check)";
  t.duration_ms = 2;
  t.active = 2;
  EXPECT_EQ(transition_message(t),
            "Server imap4/proxy1 is UP, reason: Layer7 check passed, code: 0, info: "
            "\"(tcp-check)\", check duration: 2ms. 2 active and 0 backup servers online. 0 "
            "sessions requeued, 0 total in queue.");
}

TEST(HealthStatus, BackupServerAndRunningOnBackup) {
  Transition t;
  t.server = "imap4/spare";
  t.backup = true;
  t.up = true;
  t.status = CheckStatus::kL4Ok;
  t.duration_ms = 1;
  t.active = 0;
  t.backups = 1;
  EXPECT_EQ(transition_message(t),
            "Backup Server imap4/spare is UP, reason: Layer4 check passed, check duration: 1ms. "
            "0 active and 1 backup servers online. Running on backup. 0 sessions requeued, 0 "
            "total in queue.");
  t.server = "imap4/proxy1";
  t.backup = false;
  t.up = false;
  t.status = CheckStatus::kL4Tout;
  t.duration_ms = 2000;
  EXPECT_EQ(transition_message(t),
            "Server imap4/proxy1 is DOWN, reason: Layer4 timeout, check duration: 2000ms. 0 "
            "active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, "
            "0 remaining in queue.");
}

TEST(HealthStatus, HanaLineHasNoDuration) {
  Transition t;
  t.server = "imap4/proxy1";
  t.status = CheckStatus::kHana;
  t.description = "Detected 10 consecutive errors, last one was: L4 unsuccessful connection";
  t.duration_ms = -1;
  EXPECT_EQ(transition_message(t),
            "Server imap4/proxy1 is DOWN, reason: Health analyze, info: \"Detected 10 consecutive "
            "errors, last one was: L4 unsuccessful connection\". 0 active and 0 backup servers "
            "left. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthStatus, InfoFromTheServerIsEncoded) {
  Transition t;
  t.server = "smtp/mx1";
  t.status = CheckStatus::kL7Sts;
  t.code = 554;
  t.description = "5.3.2 \"busy\" <go away>";
  t.duration_ms = 3;
  EXPECT_EQ(transition_message(t),
            "Server smtp/mx1 is DOWN, reason: Layer7 wrong status, code: 554, info: \"5.3.2 "
            "<22>busy<22> <3C>go away<3E>\", check duration: 3ms. 0 active and 0 backup servers "
            "left. 0 sessions active, 0 requeued, 0 remaining in queue.");
}

TEST(HealthStatus, NoServerLine) {
  EXPECT_EQ(no_server_message("imap4"), "proxy imap4 has no server available!");
}

}  // namespace
}  // namespace postern::control::health
