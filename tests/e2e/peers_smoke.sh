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

LAB_NAME=$(e2e_lab_name sm)
LAB_SH=$E2E_ROOT/scripts/lab.sh
PEERS=$E2E_ROOT/scripts/peers
CLIENT=$PEERS/mailclient.py
DC=() PF=() HA=

cleanup() {
  trap - EXIT INT TERM
  e2e_watchdog_stop
  local d pids=()
  # Peers stop in parallel (a Dovecot master takes ~2.5 s to stop); lab.sh down then kills
  # whatever is left in the namespaces and removes them.
  for d in "${DC[@]}"; do "$PEERS/dovecot.sh" stop "$d" & pids+=($!); done
  for d in "${PF[@]}"; do "$PEERS/postfix.sh" stop "$d" & pids+=($!); done
  [ -z "$HA" ] || { "$PEERS/haproxy.sh" stop "$HA" & pids+=($!); }
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
  "$LAB_SH" down "$LAB_NAME" >/dev/null
}
trap cleanup EXIT
trap 'e2e_log "interrupted" >&2; exit 1' INT TERM
e2e_watchdog 120

abort() {
  e2e_log "cannot go on: $*" >&2
  e2e_summary "peers smoke"
  exit 1
}

# ---- the lab and the peers -------------------------------------------------------------
e2e_check "lab $LAB_NAME up (--kernel)" "$LAB_SH" up "$LAB_NAME" --kernel || abort "no lab"
# shellcheck source=/dev/null
source "/run/postern-lab/$LAB_NAME.env"
RUN=$LAB_RUN_DIR
DC=("$RUN/dc1" "$RUN/dc2")
PF=("$RUN/pf1" "$RUN/pf2")
HA=$RUN/haproxy
declare -A LOG_OF=([dc1]=$RUN/dc1/dovecot.log [dc2]=$RUN/dc2/dovecot.log
  [pf1]=$RUN/pf1/maillog [pf2]=$RUN/pf2/maillog)
declare -A MARK=()

e2e_check "dovecot dc1 on $SERVER1" "$PEERS/dovecot.sh" start "${DC[0]}" "$NS_SRV" "$SERVER1" "$SOURCE_ADDR/32" || abort "dovecot"
e2e_check "dovecot dc2 on $SERVER2" "$PEERS/dovecot.sh" start "${DC[1]}" "$NS_SRV" "$SERVER2" "$SOURCE_ADDR/32" || abort "dovecot"
e2e_check "postfix pf1 on $SERVER1:587" "$PEERS/postfix.sh" start "${PF[0]}" "$NS_SRV" "$SERVER1" || abort "postfix"
e2e_check "postfix pf2 on $SERVER2:587" "$PEERS/postfix.sh" start "${PF[1]}" "$NS_SRV" "$SERVER2" || abort "postfix"
e2e_check "haproxy in $NS_DP on $VIP" "$PEERS/haproxy.sh" start "$HA" "$NS_DP" "$PEERS/haproxy-lab.cfg" || abort "haproxy"

# ---- sessions ------------------------------------------------------------------------------
# session NS PROTO HOST PORT [mailclient options]: one dialogue; sets LAST (its summary line),
# LAST_PORT (client port) and LAST_INSTANCE (dc1/dc2/pf1/pf2, from the greeting), and marks
# where every server log stood before it (MARK), so checks read only what this session logged:
# the kernel reuses client ports, so an older line could otherwise match.
session() {
  local ns=$1 p
  shift
  for p in "${!LOG_OF[@]}"; do MARK[$p]=$(e2e_size "${LOG_OF[$p]}"); done
  LAST=$(ip netns exec "$ns" timeout 30 python3 "$CLIENT" "$@" --timeout 5 2>&1)
  local rc=$?
  LAST_PORT=$(sed -n 's/.* local=[0-9.]*:\([0-9]*\) .*/\1/p' <<<"$LAST")
  LAST_INSTANCE=$(grep -oE '(dovecot|postfix)-(dc|pf)[0-9]' <<<"$LAST" | head -n 1 | sed 's/.*-//')
  echo "$LAST"
  return $rc
}

# via_vip PROTO PORT [options]: a session from the client namespace to the VIP, as a check.
via_vip() {
  local proto=$1 port=$2
  shift 2
  e2e_check "$proto via $VIP:$port: every reply as expected" session "$NS_CLI" "$proto" "$VIP" "$port" "$@" &&
    [ -n "$LAST_INSTANCE" ] && e2e_log "     $LAST"
}

# logged INSTANCE PATTERN: the instance logged a line matching PATTERN since the last session.
logged() {
  e2e_wait_grep 3 "$2" "${LOG_OF[$1]}" "${MARK[$1]}"
}

# dovecot_login_logged INSTANCE SERVICE RIP RPORT LIP LPORT: the login line, as the PROXY
# header told it: rip/rport the client, lip/lport the address the client connected to.
dovecot_login_logged() {
  local dc=$1 service=$2 rip=$3 rport=$4 lip=$5 lport=$6
  logged "$dc" "$service: Info: Login: user=<alice>, method=PLAIN, rip=${rip//./\\.}, rport=$rport, lip=${lip//./\\.}, lport=$lport$"
}

maildir_has() {
  local dir=$1 subject=$2
  grep -rqs "^Subject: $subject" "$dir"
}

via_vip imap 143
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "imap: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
fi

via_vip pop3 110
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "pop3: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" pop3-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 110
fi

via_vip sieve 4190
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "sieve: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" managesieve-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 4190
fi

via_vip lmtp 24
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "lmtp: $LAST_INSTANCE logs Connect from $CLIENT_ADDR" \
    logged "$LAST_INSTANCE" "lmtp\([0-9]+\): Info: Connect from ${CLIENT_ADDR//./\\.}$"
  e2e_check "lmtp: $LAST_INSTANCE saved the mail in alice's maildir" \
    e2e_wait 3 maildir_has "$RUN/$LAST_INSTANCE/home/alice/Maildir" "postern lab lmtp"
fi

via_vip smtp 587
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "smtp: $LAST_INSTANCE logs connect from unknown[$CLIENT_ADDR]" \
    logged "$LAST_INSTANCE" "postfix-$LAST_INSTANCE/smtpd\[[0-9]+\]: connect from unknown\[${CLIENT_ADDR//./\\.}\]$"
  e2e_check "smtp: $LAST_INSTANCE delivered the mail to alice's maildir" \
    e2e_wait 5 maildir_has "$RUN/$LAST_INSTANCE/vmail/alice/Maildir" "postern lab smtp"
fi

# ---- round robin: successive IMAP connections alternate between the two Dovecots -----------
rr_seq=()
rr_ok=1
for i in 1 2 3 4; do
  if ! session "$NS_CLI" imap "$VIP" 143 >/dev/null || [ -z "$LAST_INSTANCE" ]; then
    e2e_fail "round robin: imap session $i: $LAST"
    rr_ok=0
    break
  fi
  rr_seq+=("$LAST_INSTANCE")
  dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143 >/dev/null || {
    e2e_fail "round robin: session $i (port $LAST_PORT) not logged by $LAST_INSTANCE"
    rr_ok=0
  }
done
alternates() {
  local i
  for ((i = 1; i < ${#rr_seq[@]}; i++)); do
    [ "${rr_seq[i]}" != "${rr_seq[i - 1]}" ] || { echo "sequence ${rr_seq[*]}"; return 1; }
  done
}
[ "$rr_ok" -eq 0 ] || e2e_check "round robin: 4 IMAP logins went ${rr_seq[*]}" alternates

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

e2e_summary "peers smoke"
