#!/usr/bin/env bash
# Health checks against real mail servers, with clients logging in the whole time: a server
# that fails is marked DOWN within its check budget and clients stop reaching it; when it
# comes back it is marked UP after `rise` checks and shares the load again. Every listener is
# checked `inter 1s fall 2 rise 2`, `timeout check 1s`:
#
#   imap4      :143   `check` (connect + the PROXY v2 LOCAL header: Layer 4)
#   imap4tcp   :1143  `option tcp-check`, `tcp-check expect string "* OK"`, LOGOUT, "a1 OK"
#   imap4mail  :2143  `option mail-check imap` (Postern only)
#   smtpchk    :587   `option smtpchk EHLO lab.example` against Postfix (accept-proxy)
#   smtpmail   :1587  `option mail-check smtp` against Postfix (Postern only)
#
# No plain `check` on Postfix: HAProxy's resets it after the LOCAL header (PEERS.md); its
# smtpchk (2.6.12: EHLO, QUIT, closed with FIN) is clean, so both balancers run that one.
#
# a1 dc1 stopped with `dovecot.sh stop` (Dovecot's own shutdown) under a loop of IMAP logins
#    to every IMAP listener (one every 0.2 s each): DOWN within fall x inter + timeout check
#    (+1.5 s slack) of its listener closing; from that moment no login fails (a SYN refused by
#    dc1 goes on to dc2: Postern does it on its own, HAProxy with `retries 3` and
#    `option redispatch 1`), and once DOWN none reaches dc1. Restarted: UP within
#    rise x inter + timeout check (+1.5 s), logins alternate again. Dovecot's shutdown itself
#    loses the logins that reach it in its last second: its processes stop accepting while the
#    kernel still completes handshakes, then the socket closes and resets them (seen with
#    tcpdump; no balancer can move an established connection). They are counted and shown,
#    not failed.
# a2 dc1 crashes (SIGKILL to all its processes at once: the port refuses at that instant):
#    the same, and here no login started after the crash fails at all.
# b  dc1 frozen (SIGSTOP to all its processes: the kernel still completes handshakes): the
#    Layer 4 `check` stays UP (as HAProxy's does), so logins through :143 keep reaching dc1 and
#    wait; the Layer 7 checks (tcp-check, mail-check) time out: DOWN with L7TOUT within
#    fall x (inter + timeout check) (+1.5 s), and their clients stop reaching dc1. Thawed: UP
#    again, and the logins that waited on dc1 complete. Then pf1 frozen the same way under a
#    loop of submissions (accept-proxy, one every 0.5 s): smtpchk and mail-check smtp go DOWN
#    (L7TOUT), submissions stop reaching pf1; thawed, UP again, and Postfix logged no fatal
#    and no throttling for the checks it found queued.
# c  A verdict table (fault, server, check, expected, seen, check status, time to verdict) is
#    printed for whichever balancer ran; with E2E_BALANCER=haproxy the same rules run against
#    the same servers, so the two tables compare (README.md "Health checks").
#
# Usage: tests/e2e/health_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as in
#        splice_bytes_test.sh; E2E_SOAK=1 repeats a2 and b five times (HEALTH_ROUNDS);
#        HEALTH_POSTERN_ONLY=0 leaves out the mail-check listeners; ~65 s with HAProxy,
#        Postern adds its start-up; soak ~4-5 min)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"
# shellcheck source=tests/e2e/health.sh
source "$E2E_ROOT/tests/e2e/health.sh"

TITLE="health checks ($BALANCER)"
if [ "${E2E_SOAK:-0}" != 0 ]; then
  ROUNDS=${HEALTH_ROUNDS:-5}
  WATCHDOG=1200
else
  ROUNDS=${HEALTH_ROUNDS:-1}
  WATCHDOG=420
fi
# The check settings of every server line, and the bounds they give (seconds).
INTER=1 FALL=2 RISE=2 TCHECK=1 SLACK=1.5
DOWN_REFUSED_MAX=$(awk -v f=$FALL -v i=$INTER -v t=$TCHECK -v s=$SLACK 'BEGIN { print f * i + t + s }')
DOWN_TIMEOUT_MAX=$(awk -v f=$FALL -v i=$INTER -v t=$TCHECK -v s=$SLACK 'BEGIN { print f * (i + t) + s }')
UP_MAX=$(awk -v r=$RISE -v i=$INTER -v t=$TCHECK -v s=$SLACK 'BEGIN { print r * i + t + s }')
SRV="check send-proxy-v2 inter ${INTER}s fall $FALL rise $RISE"

# HEALTH_POSTERN_ONLY=0 leaves Postern's own listeners out (mail-check), e.g. to run the rest
# against a Postern that does not have it yet.
POSTERN_ONLY=0
[ "$BALANCER" != postern ] || [ "${HEALTH_POSTERN_ONLY:-1}" = 0 ] || POSTERN_ONLY=1
IMAP_L7=(imap4tcp)
SMTP_L7=(smtpchk)
if [ "$POSTERN_ONLY" = 1 ]; then
  IMAP_L7+=(imap4mail)
  SMTP_L7+=(smtpmail)
fi
IMAP_ALL=(imap4 "${IMAP_L7[@]}")
declare -A PORT_OF=([imap4]=143 [imap4tcp]=1143 [imap4mail]=2143 [smtpchk]=587 [smtpmail]=1587)
declare -A DOWN_AT=() UP_AT=() SEEN=() TOOK=()

cleanup() {
  hc_table
  hc_cleanup
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog "$WATCHDOG"

write_cfg() {
  cat <<EOF
# Written by tests/e2e/health_test.sh.
defaults
    mode tcp
    retries 3
    # HAProxy redispatches on the last retry by default; 1: on every retry, so a SYN refused
    # by a stopped server goes on to the other one at once (Postern does so on its own).
    option redispatch 1
    timeout connect 2s
    timeout check ${TCHECK}s
    timeout client 1m
    timeout server 1m

listen imap4
    bind $VIP:143
    balance roundrobin
    server dc1 $SERVER1:143 $SRV
    server dc2 $SERVER2:143 $SRV

listen imap4tcp
    bind $VIP:1143
    balance roundrobin
    option tcp-check
    tcp-check expect string "* OK"
    tcp-check send "a1 LOGOUT\r\n"
    tcp-check expect string "a1 OK"
    server dc1 $SERVER1:143 $SRV
    server dc2 $SERVER2:143 $SRV

listen smtpchk
    bind $VIP:587 accept-proxy
    balance roundrobin
    option smtpchk EHLO lab.example
    server pf1 $SERVER1:587 $SRV
    server pf2 $SERVER2:587 $SRV
EOF
  [ "$POSTERN_ONLY" = 1 ] || return 0
  cat <<EOF

listen imap4mail
    bind $VIP:2143
    balance roundrobin
    option mail-check imap
    server dc1 $SERVER1:143 $SRV
    server dc2 $SERVER2:143 $SRV

listen smtpmail
    bind $VIP:1587 accept-proxy
    balance roundrobin
    option mail-check smtp
    server pf1 $SERVER1:587 $SRV
    server pf2 $SERVER2:587 $SRV
EOF
}

imap_targets() {
  local l
  for l in "${IMAP_ALL[@]}"; do echo "$l=imap:$VIP:${PORT_OF[$l]}"; done
}

smtp_targets() {
  local l
  for l in "${SMTP_L7[@]}"; do echo "$l=smtp:$VIP:${PORT_OF[$l]}/proxy"; done
}

# went_down FAULT SERVER T0 BOUND WANT_CHECK LISTENER...: each listener marks SERVER DOWN
# within BOUND of T0 (logged), with check status WANT_CHECK (any if empty); DOWN_AT[l], and
# what the verdict table shows in SEEN[l], TOOK[l].
went_down() {
  local fault=$1 srv=$2 t0=$3 bound=$4 want=$5 l took st
  shift 5
  for l in "$@"; do
    if e2e_check "$fault: $l/$srv marked DOWN (logged)" hc_wait_transition 20 "$l" "$srv" DOWN "$t0"; then
      DOWN_AT[$l]=$HC_WHEN
      took=$(hc_secs "$t0" "$HC_WHEN")
      st=$(hc_status "$l" "$srv")
      e2e_log "info: $fault: $l/$srv DOWN after $took s (state: $st)"
      e2e_check "  within ${bound}s of the fault ($took s)" hc_le "$took" "$bound"
      e2e_check "  $l/$srv state DOWN${want:+ $want}" hc_wait_status 3 "$l" "$srv" DOWN "$want"
      st=$(hc_status "$l" "$srv")
      TOOK[$l]=${took}s
    else
      DOWN_AT[$l]=
      st=$(hc_status "$l" "$srv" || echo "? ?")
      TOOK[$l]=-
    fi
    SEEN[$l]=$st
  done
}

# came_up FAULT SERVER T0 LISTENER...: UP within UP_MAX of T0 (logged), UP_AT[l]; then each
# listener's row of the verdict table.
came_up() {
  local fault=$1 srv=$2 t0=$3 l took
  shift 3
  for l in "$@"; do
    if e2e_check "$fault over: $l/$srv marked UP (logged)" hc_wait_transition 20 "$l" "$srv" UP "$t0"; then
      UP_AT[$l]=$HC_WHEN
      took=$(hc_secs "$t0" "$HC_WHEN")
      e2e_log "info: $fault over: $l/$srv UP after $took s ($(hc_status "$l" "$srv"))"
      e2e_check "  within ${UP_MAX}s ($took s)" hc_le "$took" "$UP_MAX"
      took=${took}s
    else
      UP_AT[$l]=
      took=-
    fi
    hc_verdict "$fault" "$l/$srv" "$(check_of "$l")" DOWN "${SEEN[$l]%% *}" "${SEEN[$l]#* }" "${TOOK[$l]}" "$took"
  done
}

check_of() {
  case $1 in
  imap4) echo "check (L4)" ;;
  imap4tcp) echo "tcp-check" ;;
  imap4mail) echo "mail-check imap" ;;
  smtpchk) echo "smtpchk" ;;
  smtpmail) echo "mail-check smtp" ;;
  esac
}

# plus T SECONDS: T + SECONDS.
plus() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", a + b }'
}

# before_up LISTENER: the end of the window in which a server is DOWN for the clients: 0.1 s
# before its UP line was seen (empty if none). A transition's time is when the log watcher saw
# the line (it polls every 20 ms), so a session that starts just before that time may already
# reach the server that is UP again; the window starts 0.1 s after DOWN for the same reason.
before_up() {
  [ -n "${UP_AT[$1]:-}" ] || return 0
  plus "${UP_AT[$1]}" -0.1
}

# loop_window WHAT NAME FROM TO OPTIONS...: a check over the loop's sessions (FROM/TO empty: skip).
loop_window() {
  local what=$1 name=$2 from=$3 to=$4
  shift 4
  if [ -z "$from" ] || [ -z "$to" ]; then
    e2e_fail "$what: $name: no time window (an earlier check failed)"
    return 1
  fi
  e2e_check "$what" loop_check_kept "$name" "$from" "$to" "$@"
  local rc=$?
  e2e_log "     ${LOOP_OUT%%$'\n'*}"
  return $rc
}

# The check, its output also kept in LOOP_OUT (e2e_check shows it only on failure).
loop_check_kept() {
  LOOP_OUT=$(hc_loop_check "$@")
  local rc=$?
  echo "$LOOP_OUT"
  return $rc
}

all_up() {
  local l s
  for l in "${IMAP_ALL[@]}"; do
    for s in dc1 dc2; do
      e2e_check "$l/$s UP, checked ($(check_of "$l"))" hc_wait_status 15 "$l" "$s" UP "$(ok_of "$l")" || return 1
    done
  done
  for l in "${SMTP_L7[@]}"; do
    for s in pf1 pf2; do
      e2e_check "$l/$s UP, checked ($(check_of "$l"))" hc_wait_status 15 "$l" "$s" UP L7OK || return 1
    done
  done
}

ok_of() {
  [ "$1" = imap4 ] && echo L4OK || echo L7OK
}

# ---- a: dc1 stops --------------------------------------------------------------------------

# stop_case LABEL KIND: KIND stop (dovecot.sh stop) or crash (SIGKILL to every process).
stop_case() {
  local label=$1 kind=$2 t_loop t_fault t_closed t_listen t_end l pid fault targets
  fault="dc1 $([ "$kind" = stop ] && echo stopped || echo crashed)"
  e2e_log "---- $label: $fault under a login loop"
  mapfile -t targets < <(imap_targets)
  hc_loop_start "${targets[@]}"
  sleep 2
  t_loop=$(hc_now)
  sleep 1.5
  t_fault=$(hc_now)
  if [ "$kind" = stop ]; then
    "$MAIL_PEERS/dovecot.sh" stop "${DC[0]}" >"$HC_DIR/$label.stop.log" 2>&1 &
    pid=$!
    e2e_check "$label: dc1's port $SERVER1:143 closes" e2e_wait 15 hc_not_listening "$NS_SRV" "$SERVER1" 143
    t_closed=$(hc_now)
    wait "$pid"
    e2e_log "info: $label: dovecot.sh stop returned after $(hc_secs "$t_fault" "$(hc_now)") s;" \
      "the port closed $(hc_secs "$t_fault" "$t_closed") s after it was called"
  else
    e2e_check "$label: SIGKILL to every dc1 process" hc_kill "${DC[0]}"
    t_closed=$t_fault
    e2e_check "$label: dc1's port $SERVER1:143 closed" e2e_wait 5 hc_not_listening "$NS_SRV" "$SERVER1" 143
  fi
  went_down "$fault" dc1 "$t_closed" "$DOWN_REFUSED_MAX" "$([ "$kind" = crash ] && echo L4CON)" "${IMAP_ALL[@]}"
  sleep 1.5
  # dovecot.sh start empties the log: keep what the stop left in it.
  cp "${LOG_OF[dc1]}" "$HC_DIR/dc1.$label.log"
  e2e_check "$label: dc1 started again" "$MAIL_PEERS/dovecot.sh" start "${DC[0]}" "$NS_SRV" "$SERVER1" "$SOURCE_ADDR/32"
  t_listen=$(hc_now)
  came_up "$fault" dc1 "$t_listen" "${IMAP_ALL[@]}"
  sleep 2.5
  t_end=$(hc_now)
  hc_loop_stop
  for l in "${IMAP_ALL[@]}"; do
    loop_window "$label $l: before the fault, every login worked and they alternated" \
      "$l" "$t_loop" "$t_fault" --ok --alternate --min 4
    if [ "$kind" = stop ]; then
      e2e_log "info: $label $l: logins during Dovecot's shutdown (its port still open):"
      hc_loop_check "$l" "$t_fault" "$t_closed" --min 0 | sed 's/^/      /'
    fi
    if [ -n "${DOWN_AT[$l]:-}" ] && hc_le "${DOWN_AT[$l]}" "$t_closed"; then
      e2e_log "info: $label $l: DOWN came before the port closed (checks failed during the shutdown)"
    else
      loop_window "$label $l: from the port closing to DOWN, no login failed (refused SYNs redispatched)" \
        "$l" "$t_closed" "${DOWN_AT[$l]:-}" --ok --min 1
    fi
    loop_window "$label $l: while DOWN, every login worked and none reached dc1" \
      "$l" "$(plus "${DOWN_AT[$l]:-0}" 0.1)" "$(before_up "$l")" --ok --never dc1 --min 3
    loop_window "$label $l: once UP, every login worked and they alternate again" \
      "$l" "$(plus "${UP_AT[$l]:-0}" 0.1)" "$t_end" --ok --alternate --min 4
  done
}

# ---- b: a frozen server ------------------------------------------------------------------------

# freeze_case LABEL DIR SERVER L4_LISTENER L7_LISTENER...: L4_LISTENER ("-" for none)
# must keep SERVER UP, every L7 listener must mark it DOWN with L7TOUT.
freeze_case() {
  local label=$1 dir=$2 srv=$3 l4=$4 t_loop t_fault t_thaw t_end l fault targets
  shift 4
  fault="$srv frozen"
  e2e_log "---- $label: $fault under a client loop"
  if [ "$l4" = - ]; then
    mapfile -t targets < <(smtp_targets)
    HC_LOOP_INTERVAL=0.5 hc_loop_start "${targets[@]}"
  else
    mapfile -t targets < <(imap_targets)
    hc_loop_start "${targets[@]}"
  fi
  sleep 2
  t_loop=$(hc_now)
  sleep 1.5
  t_fault=$(hc_now)
  e2e_check "$label: SIGSTOP to every $srv process" hc_freeze "$dir"
  went_down "$fault" "$srv" "$t_fault" "$DOWN_TIMEOUT_MAX" L7TOUT "$@"
  # Held a while DOWN, so the clients' view of it has sessions enough to judge.
  sleep 2.5
  if [ "$l4" != - ]; then
    # The time a failing check would have needed has passed: the Layer 4 check still passes.
    while ! hc_le "$(plus "$t_fault" "$DOWN_TIMEOUT_MAX")" "$(hc_now)"; do sleep 0.2; done
    e2e_check "$fault: $l4/$srv not marked DOWN (the kernel still accepts)" hc_no_transition "$l4" "$srv" DOWN "$t_fault"
    e2e_check "  $l4/$srv state UP L4OK" hc_wait_status 1 "$l4" "$srv" UP L4OK
    local st
    st=$(hc_status "$l4" "$srv")
    hc_verdict "$fault" "$l4/$srv" "$(check_of "$l4")" UP "${st%% *}" "${st#* }" \
      "(held $(hc_secs "$t_fault" "$(hc_now)")s)" -
  fi
  t_thaw=$(hc_now)
  e2e_check "$label: SIGCONT to $srv's processes" hc_thaw
  came_up "$fault" "$srv" "$t_thaw" "$@"
  sleep 2.5
  t_end=$(hc_now)
  hc_loop_stop
  for l in "$@"; do
    loop_window "$label $l: before the fault, every session worked and they alternated" \
      "$l" "$t_loop" "$t_fault" --ok --alternate --min 2
    loop_window "$label $l: while DOWN, every session worked and none reached $srv" \
      "$l" "$(plus "${DOWN_AT[$l]:-0}" 0.1)" "$(before_up "$l")" --ok --never "$srv" --min 3
    loop_window "$label $l: the sessions that reached $srv before DOWN waited and completed after the thaw" \
      "$l" "$t_fault" "$t_end" --ok
    loop_window "$label $l: once UP, every session worked and they alternate again" \
      "$l" "$(plus "${UP_AT[$l]:-0}" 0.1)" "$t_end" --ok --alternate --min 3
  done
  if [ "$l4" != - ]; then
    loop_window "$label $l4: with the Layer 4 check, logins kept reaching $srv while frozen (and completed after the thaw)" \
      "$l4" "$(plus "$t_fault" 0.5)" "$t_thaw" --ok --some "$srv" --min 3
  fi
}

postfix_clean() {
  local pf bad=0
  for pf in pf1 pf2; do
    if grep -iE 'fatal|panic|error|warning|throttl' "${LOG_OF[$pf]}"; then bad=1; fi
  done
  [ "$bad" -eq 0 ] && echo "pf1, pf2: nothing of the kind"
}

# ---- lab, peers, balancer ----------------------------------------------------------------------

bal_lab_up hc || e2e_abort "no lab"
mail_peers_start all || e2e_abort "peers"
if [ "$BALANCER" = haproxy ]; then
  e2e_log "skip (haproxy stand-in): option mail-check (Postern's own): imap4mail, smtpmail"
elif [ "$POSTERN_ONLY" = 0 ]; then
  e2e_log "skip (HEALTH_POSTERN_ONLY=0): option mail-check: imap4mail, smtpmail"
fi
hc_init
write_cfg >"$HC_DIR/health.cfg"
BAL_HAPROXY_CHECKS=1 bal_start "$HC_DIR/health.cfg" || e2e_abort "no balancer"
hc_stamp_start
all_up || e2e_abort "servers not UP at start"

stop_case a1 stop
for ((round = 1; round <= ROUNDS; round++)); do
  r=
  [ "$ROUNDS" -eq 1 ] || r=.$round
  stop_case "a2$r" crash
  freeze_case "b$r" "${DC[0]}" dc1 imap4 "${IMAP_L7[@]}"
  freeze_case "b-smtp$r" "${PF[0]}" pf1 - "${SMTP_L7[@]}"
  e2e_check "b-smtp$r: Postfix logged no fatal, panic, error, warning or throttling" postfix_clean
done
