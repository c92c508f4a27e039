#!/usr/bin/env bash
# The runtime API (HAProxy's CLI on a UNIX socket, control/src/runtime_api.cpp) as an
# operator's scripts use it: socat sends the same commands to Postern and, with
# E2E_BALANCER=haproxy, to Debian's HAProxy over the same configuration, and every check
# below holds for both (the values HAProxy 2.6 gives are the expected ones). Two recorders
# behind `listen mail` (r1, r2, roundrobin, no checks: HAProxy's checks on the recorders would
# count as connections):
#
#   1. show info names the process; show stat: FRONTEND OPEN, r1 and r2 "no check" weight 1,
#      BACKEND UP weight 2, act 2; show servers state: op_state 2, admin 0, weights 1 1
#   2. 6 connections: FRONTEND stot 6, r1 + r2 stot 6, bin = bout = 6144 + the control
#      lines (FRONTEND, BACKEND, r1 + r2), CurrConns back to 0
#   3. a long-lived connection L; the server holding it (scur 1) is drained: status DRAIN,
#      6 new connections all go to the other one, L still flows; state ready again
#   4. disable server r2: MAINT; 4 connections all go to r1; enable server: "no check"
#   5. set server r1 weight 0: get weight "0 (initial 1)", 4 connections all to r2;
#      set weight r1 100%: "1 (initial 1)"
#   6. errors: No such server., No such backend., Require 'backend/server'., Unknown command;
#      prompt mode: "> " after each answer, CRLF taken
#   7. (Postern) `reload` through the socket: "Success=1", r1's DRAIN kept; a bad file:
#      "Success=0" and FILE:LINE; the old configuration keeps serving; a checked backup r3
#      with nothing listening: DOWN (L4CON), disabled: MAINT and its checks stop (chkfail
#      stays put), show health says so; enabled: checked again
#   8. restart with server-state-file: `show servers state` written to the file, the balancer
#      stopped and started: r1 still DRAIN, r2 still weight 3 (HAProxy does the same)
#   9. hatop (Debian's 0.8.2) under a pty against the socket shows both servers, if installed
#  10. (Postern's run) side by side: the script runs again against HAProxy and against Postern,
#      and what show stat and show servers state said at each point (fresh, after traffic,
#      MAINT, weight 0) is compared column by column (scur stot status weight act bck type;
#      op_state admin_state uweight iweight)
#
# Usage: tests/e2e/runtime_api_test.sh   (root; POSTERN_BUILD_DIR, LAB, E2E_BALANCER as in
#        reload_test.sh)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"
# shellcheck source=tests/e2e/slow.sh
source "$E2E_ROOT/tests/e2e/slow.sh"

TITLE="runtime api ($BALANCER)"

cleanup() {
  slow_stop
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

# ---- helpers ---------------------------------------------------------------------------------

# api COMMANDS: one non-interactive line to the socket, the answer on stdout.
api() {
  printf '%s\n' "$1" | timeout 15 socat -t 10 - "UNIX-CONNECT:$SOCK"
}

# col PX SV COLUMN: one cell of show stat, found by the header's names.
col() {
  api "show stat" | awk -F, -v px="$1" -v sv="$2" -v c="$3" '
    NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) idx[$i] = i; next }
    $1 == px && $2 == sv { print $(idx[c]); exit }'
}

# is PX SV COLUMN VALUE: that cell holds VALUE.
is() {
  local got
  got=$(col "$1" "$2" "$3")
  [ "$got" = "$4" ] && return 0
  echo "show stat $1/$2 $3: '$got', expected '$4'"
  return 1
}

# cells PX SV COLUMN=VALUE...: every one holds.
cells() {
  local px=$1 sv=$2 kv
  shift 2
  for kv in "$@"; do
    is "$px" "$sv" "${kv%%=*}" "${kv#*=}" || return 1
  done
}

# answer_is COMMAND EXPECTED: the whole answer, its final empty line included, is EXPECTED.
answer_is() {
  local got want
  got=$(api "$1" | od -c)
  want=$(printf '%b' "$2" | od -c)
  [ "$got" = "$want" ] && return 0
  echo "answer to '$1':"
  api "$1" | cat -A | sed 's/^/  | /'
  echo "expected:"
  printf '%b' "$2" | cat -A | sed 's/^/  | /'
  return 1
}

# snap LABEL: into SNAP_FILE (RUNTIME_API_COMPARE in the side-by-side HAProxy run, a file of
# this run's own in Postern's), appends what `show stat` and `show servers
# state` say of `mail` at this point, in the columns both balancers must agree on (bytes vary
# with the recorder's control lines, times with the machine).
snap() {
  [ -n "${SNAP_FILE:-}" ] || return 0
  {
    echo "== $1"
    api "show stat" | awk -F, 'NR == 1 { for (i = 2; i <= NF; i++) c[$i] = i; next }
      $1 == "mail" { print $1, $2, $c["scur"], $c["stot"], $c["status"], $c["weight"], $c["act"], $c["bck"], $c["type"] }'
    api "show servers state mail" | awk 'NF > 8 { print $2, $4, $6, $7, $8, $9 }'
  } >>"$SNAP_FILE"
}

# conns NAME N: N connections (1 KB echoed each) through the VIP, one after the other.
conns() {
  rec_run "$1" --connect "$VIP:9000" --conns "$2" --parallel 1 --send 1024 --timeout 10 \
    --connect-timeout 5 >/dev/null
}

stot() { col mail "$1" stot; }

# went NAME N TO: N connections, and server TO took all of them (its stot grew by N, the
# other's did not).
went() {
  local name=$1 n=$2 to=$3 other b_to b_other a_to a_other
  other=$([ "$to" = r1 ] && echo r2 || echo r1)
  b_to=$(stot "$to")
  b_other=$(stot "$other")
  conns "$name" "$n" || return 1
  a_to=$(stot "$to")
  a_other=$(stot "$other")
  echo "$to: $b_to -> $a_to, $other: $b_other -> $a_other"
  [ "$((a_to - b_to))" -eq "$n" ] && [ "$a_other" -eq "$b_other" ]
}

servers_state_line() { # SERVER -> be_name srv_name op_state admin_state uweight iweight
  api "show servers state mail" | awk -v s="$1" '$4 == s { print $2, $4, $6, $7, $8, $9 }'
}

state_is() {
  local got
  got=$(servers_state_line "$1")
  [ "$got" = "$2" ] && return 0
  echo "show servers state: '$got', expected '$2'"
  return 1
}

write_cfg() {
  local file=$1 extra=${2:-}
  {
    cat <<EOF
# Written by tests/e2e/runtime_api_test.sh.
global
    stats socket $SOCK mode 600 level admin
    stats timeout 30s
    server-state-file $BAL_DIR/servers.state

defaults
    mode tcp
    retries 3
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    load-server-state-from-file global
EOF
    printf '\nlisten mail\n    bind %s:9000\n    balance roundrobin\n' "$VIP"
    printf '    server r1 %s:9000 send-proxy-v2\n    server r2 %s:9000 send-proxy-v2\n' \
      "$SERVER1" "$SERVER2"
    [ -z "$extra" ] || printf '%s\n' "$extra"
  } >"$file.new" && mv -f "$file.new" "$file"
}

# ---- 1. what a fresh balancer shows ----------------------------------------------------------

bal_lab_up ra || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
SOCK=$BAL_DIR/api.sock
CFG=$BAL_DIR/mail.cfg
rm -f "$BAL_DIR/servers.state"
write_cfg "$CFG"
bal_start "$CFG" || e2e_abort "no balancer"
e2e_check "the socket $SOCK is there, mode 600" \
  e2e_wait 10 bash -c "[ -S '$SOCK' ] && [ \"\$(stat -c %a '$SOCK')\" = 600 ]" || e2e_abort "no socket"

NAME=$([ "$BALANCER" = haproxy ] && echo HAProxy || echo Postern)
info_names() { api "show info" | grep -qx "Name: $NAME" && api "show info" | grep -q '^CurrConns: 0$'; }
e2e_check "show info: 'Name: $NAME', 'CurrConns: 0'" info_names
header() { api "show stat" | head -n 1 | grep -q '^# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,'; }
e2e_check "show stat: HAProxy's header, columns in place" header
e2e_check "show stat: mail FRONTEND OPEN" is mail FRONTEND status OPEN
for s in r1 r2; do
  e2e_check "show stat: $s 'no check', weight 1, act 1, bck 0" \
    cells mail "$s" "status=no check" "weight=1" "act=1" "bck=0"
  e2e_check "show servers state: $s running, admin 0, weights 1 1" state_is "$s" "mail $s 2 0 1 1"
done
e2e_check "show stat: BACKEND UP, weight 2, act 2" \
  cells mail BACKEND "status=UP" "weight=2" "act=2"

SNAP_FILE=${RUNTIME_API_COMPARE:-}
if [ "$BALANCER" = postern ] && [ -z "$SNAP_FILE" ]; then
  mkdir -p "$BAL_DIR/compare"
  SNAP_FILE=$BAL_DIR/compare/postern.txt
  : >"$SNAP_FILE"
fi
snap "fresh"

# ---- 2. counts after known traffic -----------------------------------------------------------

e2e_check "6 connections through $VIP:9000" conns t1 6
sum_is() { [ "$(($(stot r1) + $(stot r2)))" -eq "$1" ] || { echo "r1 $(stot r1) + r2 $(stot r2) != $1"; return 1; }; }
e2e_check "show stat: FRONTEND stot 6" is mail FRONTEND stot 6
e2e_check "show stat: r1 stot + r2 stot = 6" sum_is 6
e2e_check "show stat: BACKEND stot 6" is mail BACKEND stot 6
# Each connection sent its control line (about 60 bytes) and 1 KB, and got both echoed: bin
# and bout 6144 plus the control lines (the PROXY header is not counted).
bytes_are() {  # NAME: bin in 6144..6624 and bout the same
  local bin bout
  bin=$(col mail "$1" bin)
  bout=$(col mail "$1" bout)
  echo "$1: bin $bin, bout $bout"
  [ "$bin" -ge 6144 ] && [ "$bin" -le 6624 ] && [ "$bout" -eq "$bin" ]
}
e2e_check "show stat: FRONTEND bin = bout = 6144 + the control lines" bytes_are FRONTEND
e2e_check "show stat: BACKEND bytes as FRONTEND's" \
  cells mail BACKEND "bin=$(col mail FRONTEND bin)" "bout=$(col mail FRONTEND bout)"
bin_sum() {
  [ "$(($(col mail r1 bin) + $(col mail r2 bin)))" -eq "$(col mail FRONTEND bin)" ] &&
    [ "$(($(col mail r1 bout) + $(col mail r2 bout)))" -eq "$(col mail FRONTEND bout)" ]
}
e2e_check "show stat: r1 + r2 bin and bout add up to FRONTEND's" bin_sum
no_conns() { api "show info" | grep -q '^CurrConns: 0$'; }
e2e_check "show info: CurrConns back to 0" e2e_wait 10 no_conns
snap "6 connections"

# ---- 3. drain: new connections avoid it, the established one continues -----------------------

slow_start "$VIP:9000"
e2e_check "L: connected through $VIP:9000" e2e_wait 10 slow_received_beyond -1 ||
  e2e_abort "the long-lived connection does not connect"
holder() {
  HOLDER=
  [ "$(col mail r1 scur)" = 1 ] && HOLDER=r1
  [ "$(col mail r2 scur)" = 1 ] && HOLDER=r2
  [ -n "$HOLDER" ]
}
e2e_check "show stat: one server holds L (scur 1)" e2e_wait 10 holder || e2e_abort "L on no server"
holder
OTHER=$([ "$HOLDER" = r1 ] && echo r2 || echo r1)
e2e_log "L is on $HOLDER"
e2e_check "set server mail/$HOLDER state drain: empty answer" answer_is "set server mail/$HOLDER state drain" '\n'
e2e_check "show stat: $HOLDER DRAIN, scur 1" \
  cells mail "$HOLDER" "status=DRAIN" "scur=1"
e2e_check "show servers state: $HOLDER admin_state 8 (FDRAIN)" state_is "$HOLDER" "mail $HOLDER 2 8 1 1"
e2e_check "6 new connections all go to $OTHER" went d1 6 "$OTHER"
e2e_check "L still flows through the draining $HOLDER" slow_flows "while $HOLDER drains"
e2e_check "L: half-closed, the whole echo came back" slow_finish
e2e_check "set server mail/$HOLDER state ready" answer_is "set server mail/$HOLDER state ready" '\n'
e2e_check "show stat: $HOLDER 'no check' again" is mail "$HOLDER" status "no check"

# ---- 4. maintenance --------------------------------------------------------------------------

e2e_check "disable server mail/r2: empty answer" answer_is "disable server mail/r2" '\n'
e2e_check "show stat: r2 MAINT (weight 1 still: HAProxy 2.6 shows it so)" \
  cells mail r2 "status=MAINT" "weight=1"
e2e_check "show servers state: r2 stopped, admin_state 1 (FMAINT)" state_is r2 "mail r2 0 1 1 1"
e2e_check "4 connections all go to r1" went m1 4 r1
snap "r2 disabled, 4 more connections"
e2e_check "enable server mail/r2" answer_is "enable server mail/r2" '\n'
e2e_check "show stat: r2 'no check' again, weight 1" \
  cells mail r2 "status=no check" "weight=1"

# ---- 5. weights ------------------------------------------------------------------------------

e2e_check "set server mail/r1 weight 0" answer_is "set server mail/r1 weight 0" '\n'
e2e_check "get weight mail/r1: '0 (initial 1)'" answer_is "get weight mail/r1" '0 (initial 1)\n\n'
e2e_check "show stat: r1 weight 0, uweight 0" \
  cells mail r1 "weight=0" "uweight=0"
e2e_check "4 connections all go to r2" went w1 4 r2
snap "r1 weight 0, 4 more connections"
e2e_check "set weight mail/r1 100%" answer_is "set weight mail/r1 100%" '\n'
e2e_check "get weight mail/r1: '1 (initial 1)'" answer_is "get weight mail/r1" '1 (initial 1)\n\n'
e2e_check "set weight mail/r1 300: HAProxy's refusal" answer_is "set weight mail/r1 300" \
  'Absolute weight can only be between 0 and 256 inclusive.\n\n'

# ---- 6. errors and framing -------------------------------------------------------------------

e2e_check "unknown server: 'No such server.'" answer_is "set server mail/zz state drain" 'No such server.\n\n'
e2e_check "unknown backend: 'No such backend.'" answer_is "set server nope/r1 state drain" 'No such backend.\n\n'
e2e_check "get weight without a server: 'Require 'backend/server'.'" answer_is "get weight mail" "Require 'backend/server'.\\n\\n"
e2e_check "two commands on a line, each answer ended by an empty line" \
  answer_is "get weight mail/r1; get weight mail/r2" '1 (initial 1)\n\n1 (initial 1)\n\n'
unknown() { api "foo" | head -n 1 | grep -q '^Unknown command'; }
e2e_check "unknown command: 'Unknown command...'" unknown
prompt_mode() {
  local out
  out=$(printf 'prompt\r\nget weight mail/r1\r\nget weight mail/r2\nquit\n' | timeout 15 socat -t 10 - "UNIX-CONNECT:$SOCK" | od -c)
  [ "$out" = "$(printf '\n> 1 (initial 1)\n\n> 1 (initial 1)\n\n> ' | od -c)" ] && return 0
  printf 'prompt\r\nget weight mail/r1\r\nget weight mail/r2\nquit\n' | timeout 15 socat -t 10 - "UNIX-CONNECT:$SOCK" | cat -A
  return 1
}
e2e_check "prompt mode (CRLF and LF): '> ' after every answer, quit closes" prompt_mode

# ---- 7. reload through the socket (Postern) --------------------------------------------------

if bal_postern_only "the runtime API's reload is Postern's (HAProxy 2.6 reloads from its master)"; then
  api "set server mail/r1 state drain" >/dev/null
  reload_ok() { api "reload" | tee "$BAL_DIR/reload.out" | head -n 1 | grep -qx 'Success=1'; }
  e2e_check "reload: 'Success=1'" reload_ok
  e2e_check "  the answer names the generation" grep -q 'reloaded: generation 2' "$BAL_DIR/reload.out"
  e2e_check "  r1 still DRAIN after the reload" is mail r1 status DRAIN
  write_cfg "$CFG" "    balance roundrobinx"
  BAD_LINE=$(grep -n 'roundrobinx' "$CFG" | cut -d: -f1)
  reload_bad() {
    api "reload" >"$BAL_DIR/reload.out"
    head -n 1 "$BAL_DIR/reload.out" | grep -qx 'Success=0' && grep -q "^$CFG:$BAD_LINE: error: " "$BAL_DIR/reload.out" && return 0
    sed 's/^/  | /' "$BAL_DIR/reload.out"
    return 1
  }
  e2e_check "reload of a bad file: 'Success=0' and '$CFG:$BAD_LINE: error:'" reload_bad
  write_cfg "$CFG"
  e2e_check "  the running configuration still serves" conns b1 2
  e2e_check "  r1 still DRAIN" is mail r1 status DRAIN

  # A checked server nobody listens for: DOWN by its checks; in MAINT its checks stop.
  write_cfg "$CFG" "    server r3 $SERVER1:9009 check inter 300 backup"
  e2e_check "reload with a checked backup r3 (nothing listens on :9009): 'Success=1'" reload_ok
  e2e_check "  show stat: r3 DOWN, check_status L4CON" e2e_wait 10 cells mail r3 "status=DOWN" "check_status=L4CON"
  chkfail() { col mail r3 chkfail; }
  e2e_check "disable server mail/r3" answer_is "disable server mail/r3" '\n'
  e2e_check "  show stat: r3 MAINT" is mail r3 status MAINT
  no_checks() {
    local a b
    a=$(chkfail)
    sleep 2
    b=$(chkfail)
    echo "chkfail $a, 2 s later $b"
    [ -n "$a" ] && [ "$a" = "$b" ]
  }
  e2e_check "  no check in maintenance: chkfail stays put over 2 s (inter 300 ms)" no_checks
  health_says() { api "show health" | grep -q '^mail/r3 "MAINT" .* maint '; }
  e2e_check "  show health: r3 MAINT, admin maint" health_says
  # The count in maintenance is the baseline: the first check after `enable` may fail (and
  # show) before a count read after it, and a DOWN server's failures add no more.
  maint_chkfail=$(chkfail)
  e2e_check "enable server mail/r3" answer_is "enable server mail/r3" '\n'
  grows() { [ "$(chkfail)" -gt "$1" ]; }
  e2e_check "  chkfail grows again" e2e_wait 10 grows "$maint_chkfail"
  write_cfg "$CFG"
  e2e_check "reload without r3: 'Success=1'" reload_ok
else
  api "set server mail/r1 state drain" >/dev/null
fi

# ---- 8. restart with server-state-file ------------------------------------------------------

e2e_check "set server mail/r2 weight 3" answer_is "set server mail/r2 weight 3" '\n'
dump_state() { api "show servers state" >"$BAL_DIR/servers.state" && grep -q '^1$' "$BAL_DIR/servers.state"; }
e2e_check "show servers state written to the server-state-file" dump_state
bal_stop
e2e_check "the balancer restarted" bal_start "$CFG" || e2e_abort "no balancer after the restart"
e2e_check "  the socket is back" e2e_wait 10 test -S "$SOCK"
e2e_check "  r1 still DRAIN (from the server-state-file)" e2e_wait 10 is mail r1 status DRAIN
e2e_check "  get weight mail/r2: '3 (initial 1)'" answer_is "get weight mail/r2" '3 (initial 1)\n\n'
e2e_check "  4 connections all go to r2" went s1 4 r2

# ---- 9. hatop -------------------------------------------------------------------------------

if command -v hatop >/dev/null; then
  hatop_screen() {
    # hatop draws with curses: run it under a pty (script(1), sized 160x40) for a few seconds
    # and keep what it drew.
    local ts=$BAL_DIR/hatop.typescript
    TERM=xterm timeout 8 script -qfc "stty rows 40 cols 160; hatop -s $SOCK" "$ts" </dev/null >/dev/null 2>&1
    grep -aq 'r1' "$ts" && grep -aq 'r2' "$ts" && grep -aq 'BACKEND' "$ts" && grep -aq 'FRONTEND' "$ts" &&
      grep -aq '1-STATUS' "$ts" && ! grep -aq 'curses error\|Traceback' "$ts" && return 0
    tail -c 2000 "$ts" | cat -v | sed 's/^/  | /'
    return 1
  }
  e2e_check "hatop under a pty draws its STATUS screen with mail's FRONTEND, r1, r2, BACKEND" hatop_screen
else
  e2e_log "skip: hatop is not installed (Debian 12 has it: apt-get install hatop)"
fi

e2e_log "show stat at the end:"
api "show stat" | cut -d, -f1-8,18-21 | sed 's/^/  | /'

# ---- 10. side by side: the same script against Debian's HAProxy -------------------------------
# Postern's run (not itself a comparison run) runs this script once more against HAProxy, and
# what `show stat` and `show servers state` said at each point must be the same on both.
if [ "$BALANCER" = postern ] && [ -z "${RUNTIME_API_COMPARE:-}" ]; then
  if command -v haproxy >/dev/null; then
    CMP_DIR=$BAL_DIR/compare
    side_by_side() {
      : >"$CMP_DIR/haproxy.txt"
      RUNTIME_API_COMPARE=$CMP_DIR/haproxy.txt E2E_BALANCER=haproxy timeout 300 bash "$0" \
        >"$CMP_DIR/haproxy.log" 2>&1 || { echo "the HAProxy run failed:"; tail -n 20 "$CMP_DIR/haproxy.log"; return 1; }
      [ -s "$SNAP_FILE" ] || { echo "no snapshot taken"; return 1; }
      diff -u "$CMP_DIR/haproxy.txt" "$SNAP_FILE"
    }
    e2e_check "the same socat script against HAProxy 2.6 and Postern: show stat and show servers state agree at every point" side_by_side
    e2e_log "info: what both said (pxname svname scur stot status weight act bck type / be srv op_state admin_state uweight iweight):"
    sed 's/^/      /' "$SNAP_FILE"
  else
    e2e_log "skip: no haproxy for the side-by-side run"
  fi
fi
