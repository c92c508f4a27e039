#!/usr/bin/env bash
# Real mail servers behind Postern with the Palomar sample configuration, as a user would run
# it (examples/lab/palomar-lab.cfg: the sample with only the server addresses changed): two
# Dovecots (IMAP, POP3, LMTP, ManageSieve) and two Postfixes (submission behind accept-proxy)
# in the server namespace. Every protocol's dialogue must succeed from the client namespace and
# every server must log the client's real address (from Postern's PROXY v2 header); on 587 the
# client is an upstream proxy that sends its own v2 header, whose address Postfix must log;
# successive IMAP logins alternate between the two Dovecots (round robin).
#
# Usage: tests/e2e/mail_peers_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as
#        in splice_bytes_test.sh; ~20 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"

TITLE="mail peers ($BALANCER)"
PALOMAR=$E2E_ROOT/examples/palomar-haproxy.cfg
PALOMAR_LAB=$E2E_ROOT/examples/lab/palomar-lab.cfg
UPSTREAM_CLIENT=203.0.113.7:4444

cleanup() {
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 180

# ---- the configuration is the sample's ----------------------------------------------------
only_addresses_changed() {
  [ -f "$PALOMAR" ] || { echo "$PALOMAR missing"; return 1; }
  diff <(sed -e 's/192\.168\.1\.10\b/198.19.0.10/g' -e 's/192\.168\.1\.11\b/198.19.0.11/g' "$PALOMAR") "$PALOMAR_LAB"
}
e2e_check "palomar-lab.cfg is palomar-haproxy.cfg with only the server addresses changed" only_addresses_changed

# ---- lab, peers, balancer ------------------------------------------------------------------
bal_lab_up mp || e2e_abort "no lab"
mail_peers_start all || e2e_abort "peers"
bal_start "$PALOMAR_LAB" || e2e_abort "no balancer"

# ---- one dialogue per protocol ------------------------------------------------------------
dovecot_sessions "$LAB_RUN_DIR"

# Submission sits behind another proxy tier in Palomar (`bind ... accept-proxy`): the client
# sends a v2 header naming the real client; the balancer passes that address on.
via_vip smtp 587 --proxy v2 --proxy-src "$UPSTREAM_CLIENT"
if [ -n "$LAST_INSTANCE" ]; then
  up_ip=${UPSTREAM_CLIENT%:*}
  e2e_check "smtp (accept-proxy): $LAST_INSTANCE logs connect from unknown[$up_ip]" \
    logged "$LAST_INSTANCE" "postfix-$LAST_INSTANCE/smtpd\[[0-9]+\]: connect from unknown\[${up_ip//./\\.}\]$"
  e2e_check "smtp: $LAST_INSTANCE delivered the mail to alice's maildir" \
    e2e_wait 5 maildir_has "$LAB_RUN_DIR/$LAST_INSTANCE/vmail/alice/Maildir" "postern lab smtp"
fi

# ---- another client address (a secondary on cli0) -----------------------------------------
extra=${CLIENT_ADDRS#* }
extra=${extra%% *}
if e2e_check "imap from $extra via $VIP" session "$NS_CLI" imap "$VIP" 143 --source "$extra"; then
  e2e_check "imap: $LAST_INSTANCE logs rip=$extra rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$extra" "$LAST_PORT" "$VIP" 143
fi

# ---- round robin: successive IMAP connections alternate between the two Dovecots -----------
imap_round_robin 6

# ---- what Postern counted --------------------------------------------------------------------
if bal_postern_only "postern counters"; then
  e2e_check "postern: proxy_headers_received >= 1 (the accept-proxy client's header)" \
    bal_wait_counter 3 counters.proxy_headers_received -ge 1
  e2e_check "postern: proxy_headers_sent >= 12" bal_wait_counter 3 counters.proxy_headers_sent -ge 12
  e2e_check "postern: no connection refused for want of a server (drops.no_server = 0)" \
    bal_wait_counter 3 drops.no_server -eq 0
fi

