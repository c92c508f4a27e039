#!/usr/bin/env bash
# Proves the lab and the real peers work without Postern: a --kernel lab, two Dovecots and two
# Postfixes behind HAProxy (standing in for Postern in NAME-dp), and every mail protocol's
# dialogue from the client namespace, checked by reply codes and by what the servers log
# about the real client (rip=198.18.0.2, connect from unknown[198.18.0.2]).
#
# Usage: tests/e2e/peers_smoke.sh        (root; LAB=name to choose the lab name; ~11 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root

# shellcheck source=tests/e2e/mail.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail.sh"

LAB_NAME=$(e2e_lab_name sm)
LAB_SH=$E2E_ROOT/scripts/lab.sh
PEERS=$E2E_ROOT/scripts/peers
HA=

cleanup() {
  local pid=
  # Peers stop in parallel; lab.sh down then kills whatever is left in the namespaces and
  # removes them. Runs twice (the explicit check at the end, then on exit): harmless.
  [ -z "$HA" ] || { "$PEERS/haproxy.sh" stop "$HA" & pid=$!; }
  HA=
  mail_peers_stop
  [ -z "$pid" ] || wait "$pid"
  "$LAB_SH" down "$LAB_NAME" >/dev/null
}
e2e_run_with cleanup "peers smoke"
e2e_watchdog 120

# ---- the lab and the peers -------------------------------------------------------------
e2e_check "lab $LAB_NAME up (--kernel)" "$LAB_SH" up "$LAB_NAME" --kernel || e2e_abort "no lab"
# shellcheck source=/dev/null
source "/run/postern-lab/$LAB_NAME.env"
RUN=$LAB_RUN_DIR
HA=$RUN/haproxy
mail_peers_start all || e2e_abort "peers"
e2e_check "haproxy in $NS_DP on $VIP" "$PEERS/haproxy.sh" start "$HA" "$NS_DP" "$PEERS/haproxy-lab.cfg" || e2e_abort "haproxy"

# ---- sessions (helpers in mail.sh) -----------------------------------------------------------
dovecot_sessions "$RUN"

via_vip smtp 587
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "smtp: $LAST_INSTANCE logs connect from unknown[$CLIENT_ADDR]" \
    logged "$LAST_INSTANCE" "postfix-$LAST_INSTANCE/smtpd\[[0-9]+\]: connect from unknown\[${CLIENT_ADDR//./\\.}\]$"
  e2e_check "smtp: $LAST_INSTANCE delivered the mail to alice's maildir" \
    e2e_wait 5 maildir_has "$RUN/$LAST_INSTANCE/vmail/alice/Maildir" "postern lab smtp"
fi

# ---- round robin: successive IMAP connections alternate between the two Dovecots -----------
imap_round_robin 4

# ---- another client address (a secondary on cli0) ---------------------------------------
extra=${CLIENT_ADDRS#* }
extra=${extra%% *}
if e2e_check "imap from $extra via $VIP" session "$NS_CLI" imap "$VIP" 143 --source "$extra"; then
  e2e_check "imap: $LAST_INSTANCE logs rip=$extra rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$extra" "$LAST_PORT" "$VIP" 143
fi

# ---- mailclient's own PROXY headers, straight to the servers from Postern's address ----------
# (what Postern's accept-proxy tests will send; here they check the client and the trust list)
e2e_check "imap PROXY v1 from $SOURCE_ADDR to dc1" \
  session "$NS_DP" imap "$SERVER1" 143 --source "$SOURCE_ADDR" --proxy v1 --proxy-src 203.0.113.7:4242 &&
  e2e_check "imap PROXY v1: dc1 logs rip=203.0.113.7 rport=4242" \
    dovecot_login_logged dc1 imap-login 203.0.113.7 4242 "$SERVER1" 143
e2e_check "smtp PROXY v2 from $SOURCE_ADDR to pf2" \
  session "$NS_DP" smtp "$SERVER2" 587 --source "$SOURCE_ADDR" --proxy v2 --proxy-src 203.0.113.8:4243 &&
  e2e_check "smtp PROXY v2: pf2 logs connect from unknown[203.0.113.8]" \
    logged pf2 'postfix-pf2/smtpd\[[0-9]+\]: connect from unknown\[203\.0\.113\.8\]$'
untrusted() {
  ! session "$NS_SRV" imap "$SERVER1" 143 --source "$SERVER3" --proxy v2 --proxy-src 203.0.113.9:4244 &&
    logged dc1 "haproxy: Client not trusted \(rip=${SERVER3//./\\.}\)"
}
e2e_check "imap PROXY v2 from untrusted $SERVER3: dc1 closes and logs 'Client not trusted'" untrusted

# ---- cleanup leaves nothing behind ------------------------------------------------------
cleanup
lab_gone() {
  local left
  left=$(ip netns list | awk '{print $1}' | grep -E "^$LAB_NAME-(cli|dp|srv)$")
  if [ -n "$left" ] || [ -e "/run/postern-lab/$LAB_NAME.env" ] || [ -e "$RUN" ]; then
    echo "left behind: $left $(ls -d "/run/postern-lab/$LAB_NAME"* 2>/dev/null)"
    return 1
  fi
}
e2e_check "peers stopped, lab $LAB_NAME removed" lab_gone
