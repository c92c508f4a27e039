#!/usr/bin/env bash
# Connection logs: one HAProxy `option tcplog` line per session, sent to the configuration's
# `log` targets, here a UDP syslog receiver (local0) and a UNIX datagram socket (local1), both
# read by logs_tool.py sink in the balancer's namespace. Sessions of known shapes go through
# the balancer from known client ports, to logs_tool.py serve (a 17-byte greeting, then an echo):
#
#   41000 normal: greeting + 100 bytes echoed, FIN     logs logs/m1 B=117 --
#   41001 the client resets after 50 bytes echoed      logs logs/m1 B=67  CD
#   41002 the server has no listener (retries 1)       refused refused/s1 Tc=-1 B=0 SC rc=1
#   41003 no byte from the client, dontlognull         no line at all
#   41004 10 bytes, dontlognull                        quiet quiet/q1 --
#   41005 the only server is disabled                  nosrv nosrv/<NOSRV> Tw=-1 Tc=-1 SC
#   41006 a frontend and its backend                   fe be/b1 --
#   then a connection-rate load (bench/conn_rate, greet-and-close servers, 50 in flight for
#   8 s): one line per connection, and no record dropped
#
# Each line's fields are checked (client ip:port as the client saw itself, frontend, backend/
# server, bytes, termination state, counts, queues) on both targets with their own priority;
# then the health check's "Server chk/c1 is DOWN" and, once a server listens, "... is UP"
# reach the receiver; Postern's reload message too, a load of 2000 sessions gives 2000
# lines, and so does the connection-rate load, with no record dropped (logs_dropped 0). E2E_BALANCER=haproxy runs the same sessions
# and field checks against Debian's HAProxy (the reload and counter checks are Postern's own).
#
# Usage: tests/e2e/logs_test.sh   (root; POSTERN_BUILD_DIR, LAB as in splice_bytes_test.sh;
#        ~50 s; bench/conn_rate built)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"

TITLE="logs ($BALANCER)"
TOOL=$E2E_ROOT/tests/e2e/logs_tool.py
SINK_PID=
SERVE_PID=
CHK_PID=
RATE_PID=
LOAD_CONNS=${LOGS_LOAD_CONNS:-2000}
RATE_SECONDS=${LOGS_RATE_SECONDS:-8}
CONN_RATE=${POSTERN_BUILD_DIR:-$E2E_ROOT/build}/bench/conn_rate
export BAL_HAPROXY_CHECKS=1 # keep the health check of listener chk (no Postfix here)

stop_pid() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

cleanup() {
  bal_stop
  stop_pid "$SERVE_PID"
  stop_pid "$CHK_PID"
  stop_pid "$RATE_PID"
  stop_pid "$SINK_PID"
  SERVE_PID= CHK_PID= RATE_PID= SINK_PID=
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 300

# started NAME FILE: waits for a helper's ready file.
started() {
  e2e_wait 10 test -s "$2" || {
    echo "$1 did not start"
    return 1
  }
}

client() {
  ip netns exec "$NS_CLI" python3 "$TOOL" client --source "$CLIENT_ADDR" "$@"
}

# line PORT FIELD=VALUE...: the UDP receiver got the line of the session from PORT, with those
# fields (waits: the control thread sends within milliseconds, the machine may be loaded).
line() {
  local port=$1
  shift
  e2e_wait 10 python3 "$TOOL" line --out "$OUT" --port "$port" "$@"
  python3 "$TOOL" line --out "$OUT" --port "$port" "$@"
}

bal_lab_up lg || e2e_abort "no lab"
ip -n "$NS_DP" link set lo up

OUT=$BAL_DIR/syslog.txt
SOCK=$BAL_DIR/log.sock
rm -f "$OUT" "$BAL_DIR/sink.ready" "$BAL_DIR/serve.ready"
ip netns exec "$NS_DP" python3 "$TOOL" sink --udp 127.0.0.1:5514 --unix "$SOCK" --out "$OUT" \
  --ready "$BAL_DIR/sink.ready" </dev/null >"$BAL_DIR/sink.log" 2>&1 &
SINK_PID=$!
e2e_check "syslog receiver on udp 127.0.0.1:5514 and unix $SOCK" started sink "$BAL_DIR/sink.ready" ||
  e2e_abort "no receiver"
ip netns exec "$NS_SRV" python3 "$TOOL" serve --listen "$SERVER1:9200" --ready "$BAL_DIR/serve.ready" \
  </dev/null >"$BAL_DIR/serve.log" 2>&1 &
SERVE_PID=$!
e2e_check "greeting/echo server on $SERVER1:9200" started serve "$BAL_DIR/serve.ready" ||
  e2e_abort "no server"

CFG=$BAL_DIR/logs.cfg
cat >"$CFG" <<EOF
# Written by tests/e2e/logs_test.sh.
global
    log 127.0.0.1:5514 local0
    log $SOCK local1

defaults
    mode tcp
    log global
    option tcplog
    retries 1
    timeout connect 2s
    timeout client 30s
    timeout server 30s

listen logs
    bind $VIP:9200
    server m1 $SERVER1:9200 send-proxy-v2

listen refused
    bind $VIP:9201
    server s1 $SERVER1:9299 send-proxy-v2

listen quiet
    bind $VIP:9202
    option dontlognull
    server q1 $SERVER1:9200 send-proxy-v2

listen nosrv
    bind $VIP:9203
    server n1 $SERVER1:9200 send-proxy-v2 disabled

frontend fe
    bind $VIP:9204
    default_backend be

backend be
    server b1 $SERVER1:9200 send-proxy-v2

listen chk
    bind $VIP:9205
    server c1 $SERVER2:9206 check inter 500 fall 2 rise 2

listen rate
    bind $VIP:9210
    server r1 $SERVER2:9210 send-proxy-v2
EOF
bal_start "$CFG" || e2e_abort "no balancer"

# ---- sessions of known shapes ----------------------------------------------------------------

e2e_check "41000: a normal session through :9200" \
  client --connect "$VIP:9200" --port 41000 --shape normal --send 100
e2e_check "41001: a session the client resets" \
  client --connect "$VIP:9200" --port 41001 --shape reset --send 50
e2e_check "41002: refused, its server has no listener" \
  client --connect "$VIP:9201" --port 41002 --shape refused
e2e_check "41003: dontlognull, the client sends nothing" \
  client --connect "$VIP:9202" --port 41003 --shape silent
e2e_check "41004: dontlognull, the client sends 10 bytes" \
  client --connect "$VIP:9202" --port 41004 --shape normal --send 10
e2e_check "41005: refused, the only server is disabled" \
  client --connect "$VIP:9203" --port 41005 --shape refused
e2e_check "41006: through frontend fe to backend be" \
  client --connect "$VIP:9204" --port 41006 --shape normal --send 20

COMMON=(ci="$CLIENT_ADDR" sq=0 bq=0 pri=134)
e2e_check "line 41000: logs logs/m1, 117 bytes (greeting + echo), '--', 1/1/0/0/0" \
  line 41000 "${COMMON[@]}" ft=logs b=logs s=m1 tw='*' tc='>=0' B=117 ts=-- ac='>=1' fc=1 bc=0 sc=0 rc=0
e2e_check "line 41001: client reset after 67 bytes: 'CD'" \
  line 41001 "${COMMON[@]}" ft=logs b=logs s=m1 tc='>=0' B=67 ts=CD fc=1 bc=0 sc=0 rc=0
e2e_check "line 41002: refused by the server: 'SC', Tc -1, 1 retry, 0 bytes" \
  line 41002 "${COMMON[@]}" ft=refused b=refused s=s1 tc=-1 B=0 ts=SC fc=1 bc=0 sc=0 rc=1
e2e_check "line 41004: dontlognull still logs a session with client bytes" \
  line 41004 "${COMMON[@]}" ft=quiet b=quiet s=q1 B=27 ts=-- fc=1 bc=0 sc=0 rc=0
e2e_check "line 41005: no server to take it: <NOSRV>, -1/-1, 'SC'" \
  line 41005 "${COMMON[@]}" ft=nosrv b=nosrv s='<NOSRV>' tw=-1 tc=-1 B=0 ts=SC fc=1 bc=0 sc=0 rc=0
e2e_check "line 41006: frontend fe, backend be: 'fe be/b1'" \
  line 41006 "${COMMON[@]}" ft=fe b=be s=b1 B=37 ts=-- fc=1 bc=0 sc=0 rc=0
e2e_check "no line for 41003 (dontlognull, nothing sent), the lines after it came" \
  python3 "$TOOL" line --out "$OUT" --port 41003 --absent
e2e_check "the UNIX datagram socket got the 41000 line too, as local1 (<142>)" \
  e2e_wait 10 python3 "$TOOL" line --out "$OUT" --target unix --port 41000 pri=142 ft=logs s=m1 B=117 ts=--

# ---- server state changes and reloads ----------------------------------------------------------

e2e_check "health: 'Server chk/c1 is DOWN' reaches the receiver" \
  e2e_wait 20 python3 "$TOOL" grep --out "$OUT" --regex 'Server chk/c1 is DOWN, reason: Layer4'
python3 "$TOOL" grep --out "$OUT" --regex 'Server chk/c1 is DOWN' | sed 's/^/      /'
ip netns exec "$NS_SRV" python3 "$TOOL" serve --listen "$SERVER2:9206" --ready "$BAL_DIR/chk.ready" \
  </dev/null >"$BAL_DIR/chk.log" 2>&1 &
CHK_PID=$!
e2e_check "a server now listens on $SERVER2:9206" started chk "$BAL_DIR/chk.ready"
e2e_check "health: 'Server chk/c1 is UP' reaches the receiver" \
  e2e_wait 20 python3 "$TOOL" grep --out "$OUT" --regex 'Server chk/c1 is UP'
python3 "$TOOL" grep --out "$OUT" --regex 'Server chk/c1 is UP' | sed 's/^/      /'

if bal_postern_only "the reload message and logs_dropped are Postern's"; then
  kill -HUP "$BAL_PID"
  e2e_check "reload: 'Reloaded: generation 2' reaches the receiver" \
    e2e_wait 15 python3 "$TOOL" grep --out "$OUT" --regex 'postern\[[0-9]+\]: Reloaded: generation 2'
fi

# ---- a load: every session logged, no record dropped -------------------------------------------

BEFORE=$(python3 "$TOOL" count --out "$OUT" --ft logs)
e2e_check "load: $LOAD_CONNS sessions through :9200, 50 at a time" \
  ip netns exec "$NS_CLI" python3 "$TOOL" load --connect "$VIP:9200" --conns "$LOAD_CONNS" --parallel 50
all_logged() {
  local n
  n=$(python3 "$TOOL" count --out "$OUT" --ft logs)
  echo "$((n - BEFORE)) lines for the load's $LOAD_CONNS sessions"
  [ "$((n - BEFORE))" -eq "$LOAD_CONNS" ]
}
e2e_check "load: $LOAD_CONNS lines arrived" e2e_wait 30 all_logged
all_logged | sed 's/^/      /'
if [ "$BALANCER" = postern ]; then
  e2e_check "postern: no record dropped (logs_dropped 0)" bal_wait_counter 5 counters.logs_dropped -eq 0
  e2e_check "postern: every session queued a record (logs_queued >= $((LOAD_CONNS + 7)))" \
    bal_wait_counter 5 counters.logs_queued -ge $((LOAD_CONNS + 7))
fi

# ---- a connection-rate load: one line per connection --------------------------------------------

[ -x "$CONN_RATE" ] || e2e_abort "$CONN_RATE missing (build the conn_rate target)"
ip netns exec "$NS_SRV" "$CONN_RATE" --serve "$SERVER2:9210" --proxy-v2 --greeting "* OK conn_rate ready" \
  </dev/null >"$BAL_DIR/rate.out" 2>"$BAL_DIR/rate.err" &
RATE_PID=$!
e2e_check "conn_rate server on $SERVER2:9210" e2e_wait_grep 10 "serving $SERVER2:9210" "$BAL_DIR/rate.err"
RATE_LINE=
rate_load() {
  local out
  out=$(ip netns exec "$NS_CLI" timeout $((RATE_SECONDS + 40)) "$CONN_RATE" --connect "$VIP:9210" \
    --concurrency 50 --duration "$RATE_SECONDS" --timeout 10 --expect-prefix "* OK" \
    --source "$(tr ' ' ',' <<<"$CLIENT_ADDRS")" 2>&1)
  echo "$out"
  RATE_LINE=$(grep '^conns=' <<<"$out")
  [ -n "$RATE_LINE" ]
}
e2e_check "conn_rate: 50 connections in flight for ${RATE_SECONDS}s through :9210" rate_load
RATE_CONNS=$(sed -n 's/^conns=\([0-9]*\) .*/\1/p' <<<"$RATE_LINE")
RATE_FAILED=$(sed -n 's/.* failed=\([0-9]*\) .*/\1/p' <<<"$RATE_LINE")
e2e_log "conn_rate: $RATE_LINE"
rate_logged() {
  local n
  n=$(python3 "$TOOL" count --out "$OUT" --ft rate)
  echo "$n lines for $RATE_CONNS connections ($RATE_FAILED failed)"
  [ "$n" -ge "${RATE_CONNS:-1}" ] && [ "$n" -le $((RATE_CONNS + RATE_FAILED)) ]
}
e2e_check "conn_rate: one line per connection" e2e_wait 30 rate_logged
rate_logged | sed 's/^/      /'
if [ "$BALANCER" = postern ]; then
  e2e_check "postern: no record dropped under the connection-rate load (logs_dropped 0)" \
    bal_wait_counter 5 counters.logs_dropped -eq 0
fi
