#!/usr/bin/env bash
# Configuration reload under traffic: Postern re-reads its -f files on SIGHUP and SIGUSR2
# (control/src/daemon.cpp). A valid file is published as the next generation at once; a file
# that does not parse or validate is refused with its FILE:LINE diagnostics and the running
# configuration keeps serving; so is a change of the dataplane section. A connection that was
# established before the reloads keeps flowing through all of them and ends with its bytes
# intact. With the recorder (recorder.py) on two servers behind Postern:
#
#   1. generation 1 (one listener, :9000): :9000 carries a connection, :9002 is refused (RST)
#   2. a long-lived connection L to :9000 sends a chunk every 0.1 s, echoed, from here to the end
#   3. the file gains a listener on :9002, SIGHUP: "reloaded: generation 2"; :9002 carries
#      connections with the right PROXY v2 header (VIP:9002), :9000 still does, L still flows
#   4. the file gets `balance roundrobinx` on a known line, SIGUSR2: "FILE:LINE: error:" and
#      "reload refused"; :9000 and :9002 still work, L still flows
#      (4b. the dataplane section of dataplane.yaml changes, SIGHUP: refused, it needs a restart)
#   5. the file drops the :9002 listener, SIGHUP: "reloaded: generation 3" (the refusals did
#      not use a generation); :9002 is refused again, :9000 works, L still flows
#   then L closes: the server got exactly its bytes after the PROXY v2 header, it got them back.
#
# Postern only: with E2E_BALANCER=haproxy there is nothing to check (a no-op pass).
#
# Usage: tests/e2e/reload_test.sh   (root; POSTERN_BUILD_DIR, LAB as in splice_bytes_test.sh;
#        ~10 s alone, ~17 s with two more running)
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

TITLE="reload ($BALANCER)"
if ! bal_postern_only "every check: reloading on SIGHUP/SIGUSR2 is Postern's own"; then
  echo "$TITLE: took ${SECONDS}s"
  echo "$TITLE: 0 passed, 0 failed"
  exit 0
fi

REFUSE_MAX_MS=500

cleanup() {
  slow_stop
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 150

# ---- helpers ---------------------------------------------------------------------------------

# refused ADDR:PORT: one connect that must be refused (RST) fast.
refused() {
  ip netns exec "$NS_CLI" python3 "$REC_PY" refused --connect "$1" --timeout 5 --max-ms "$REFUSE_MAX_MS"
}

# works NAME PORT CONNS: CONNS connections (32 KB echoed each) through VIP:PORT, then each
# server-side stream checked: the v2 header naming the client and VIP:PORT, then its bytes.
works() {
  local name=$1 port=$2 conns=$3
  rec_run "$name" --connect "$VIP:$port" --conns "$conns" --parallel "$conns" --send 32768 \
    --timeout 10 --connect-timeout 5 || return 1
  rec_verify "$name" --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
}

# write_cfg FILE [extra]: generation 1's file (one listener, :9000), or with `extra` a second
# listener on :9002 to the same two recorders. Written beside and renamed, as an operator's
# tooling would, so a reload never reads half a file.
write_cfg() {
  local file=$1 extra=${2:-}
  {
    cat <<EOF
# Written by tests/e2e/reload_test.sh; rewritten between reloads.
defaults
    mode tcp
    retries 3
    timeout connect 5s
    timeout client 60s
    timeout server 60s
EOF
    bal_listen recorder "$VIP:9000" r 9000
    [ -z "$extra" ] || bal_listen extra "$VIP:9002" x 9000
  } >"$file.new" && mv -f "$file.new" "$file"
}

# reload SIGNAL: sends it to Postern; MARK is where its stderr stood just before.
reload() {
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  kill -"$1" "$BAL_PID"
}

# no_line_from PATTERN: nothing after MARK in Postern's stderr matches.
no_line_from() {
  if e2e_grep_from "$MARK" "$1" "$BAL_DIR/postern.err"; then
    echo "unexpected line matching /$1/ in postern's stderr:"
    tail -c +"$((MARK + 1))" "$BAL_DIR/postern.err" | grep -E -- "$1" | sed 's/^/  | /'
    return 1
  fi
}

# no_server NAME: Postern's state file has no server NAME (bal_counter cannot find it).
# server_retired NAME: the state file marks NAME retired (removed by a reload, kept in its
# slot while its connections drain, never chosen again).
server_retired() {
  case "$(bal_counter "servers.$1.retired" 2>/dev/null)" in
  True | true) return 0 ;;
  *) return 1 ;;
  esac
}

# ---- generation 1: :9000 only ----------------------------------------------------------------

bal_lab_up rl || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
CFG=$BAL_DIR/reload.cfg
write_cfg "$CFG"
bal_start "$CFG" || e2e_abort "no balancer"

e2e_check "gen 1: 2 connections through $VIP:9000, v2 header + bytes verified" works g1a 9000 2
e2e_check "gen 1: $VIP:9002 (no listener) refused within $REFUSE_MAX_MS ms" refused "$VIP:9002"

slow_start "$VIP:9000"
e2e_check "L: connected through $VIP:9000" e2e_wait 5 slow_received_beyond -1 ||
  { cat "$SLOW_DIR/client.log"; e2e_abort "the long-lived connection does not connect"; }
e2e_check "L: open through $VIP:9000 and echoing" slow_flows "before any reload" ||
  e2e_abort "the long-lived connection does not flow"

# ---- generation 2: + :9002 -------------------------------------------------------------------

write_cfg "$CFG" extra
reload HUP
e2e_check "SIGHUP with a listener on :9002 added: 'reloaded: generation 2'" \
  e2e_wait_grep 5 'postern: reloaded: generation 2$' "$BAL_DIR/postern.err" "$MARK"
e2e_check "gen 2: 2 connections through $VIP:9002, v2 header names $VIP:9002" works g2b 9002 2
e2e_check "gen 2: $VIP:9000 still works" works g2a 9000 2
e2e_check "gen 2: L still flows" slow_flows "across reload 1"
new_servers_listed() {
  bal_wait_counter 3 servers.extra/x1.total -ge 0 && bal_wait_counter 3 servers.extra/x2.total -ge 0
}
e2e_check "gen 2: state file lists the new servers extra/x1 and extra/x2" new_servers_listed

# ---- a refused reload: an error on a known line ----------------------------------------------

# Only the first listener's `balance` line: one error, on one known line.
sed -i '0,/^\( *balance\) roundrobin$/s//\1 roundrobinx/' "$CFG"
BAD_LINE=$(grep -n 'roundrobinx' "$CFG" | cut -d: -f1)
e2e_log "$CFG: 'balance roundrobinx' on line $BAD_LINE"
reload USR2
e2e_check "SIGUSR2 with the bad file: 'reload refused'" \
  e2e_wait_grep 5 'postern: reload refused: the running configuration keeps serving' "$BAL_DIR/postern.err" "$MARK"
e2e_check "  stderr has '$CFG:$BAD_LINE: error:'" \
  e2e_wait_grep 1 "^$CFG:$BAD_LINE: error: " "$BAL_DIR/postern.err" "$MARK"
e2e_check "  and no 'reloaded'" no_line_from 'reloaded'
e2e_check "refused reload: $VIP:9000 still works" works r1a 9000 2
e2e_check "refused reload: $VIP:9002 still works (the old configuration serves)" works r1b 9002 2
e2e_check "refused reload: L still flows" slow_flows "across the refused reload"

# ---- a refused reload: the dataplane section changed -----------------------------------------

write_cfg "$CFG" extra # the listeners as generation 2 has them, valid again
cp "$BAL_DIR/dataplane.yaml" "$BAL_DIR/dataplane.yaml.orig"
sed -i 's/^\( *flows:\) .*/\1 32768/' "$BAL_DIR/dataplane.yaml"
if e2e_check "dataplane.yaml edited: dataplane.flows 32768" grep -q '^ *flows: 32768$' "$BAL_DIR/dataplane.yaml"; then
  reload HUP
  e2e_check "SIGHUP with the dataplane section changed: refused, needs a restart" \
    e2e_wait_grep 5 'postern: reload refused: the dataplane section changed' "$BAL_DIR/postern.err" "$MARK"
  e2e_check "  and no 'reloaded'" no_line_from 'reloaded'
  e2e_check "dataplane change refused: $VIP:9002 still works" works r2b 9002 1
fi
mv -f "$BAL_DIR/dataplane.yaml.orig" "$BAL_DIR/dataplane.yaml"

# ---- generation 3: :9002 dropped -------------------------------------------------------------

write_cfg "$CFG"
reload HUP
e2e_check "SIGHUP with the :9002 listener dropped: 'reloaded: generation 3'" \
  e2e_wait_grep 5 'postern: reloaded: generation 3$' "$BAL_DIR/postern.err" "$MARK"
e2e_check "gen 3: $VIP:9002 refused again within $REFUSE_MAX_MS ms" refused "$VIP:9002"
e2e_check "gen 3: $VIP:9000 works" works g3a 9000 2
e2e_check "gen 3: L still flows" slow_flows "across reload 2"
e2e_check "gen 3: state file marks extra/x1 retired" e2e_wait 3 server_retired extra/x1

# ---- L ends ----------------------------------------------------------------------------------

e2e_check "L: half-closed, the whole echo came back (sha256 of every byte)" slow_finish
e2e_check "  the server's stream: v2 header naming L's client and $VIP:9000, then exactly its bytes" \
  rec_verify slow --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
e2e_check "postern: drops.no_listener >= 2 (the two refusals of :9002)" \
  bal_wait_counter 3 drops.no_listener -ge 2
e2e_log "info: postern active_flows at the end: $(bal_counter counters.active_flows 2>&1)"
