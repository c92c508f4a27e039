#!/usr/bin/env bash
# Prometheus /metrics on admin.http, as a user scrapes it: curl, promtool and a real Prometheus
# server (Debian's), against known traffic through the lab.
#
#   rec    VIP:9000  r1, r2: the recorder (echo), roundrobin, send-proxy-v2
#   chk    VIP:9010  g1, g2: greet-and-close servers (bench/conn_rate --serve), checked
#                    `inter 1s fall 2 rise 2`
#
# 1. /metrics answers with promex's content type, and `promtool check metrics` accepts it;
#    ?scope= selects families as promex does (an unknown scope is a 400)
#    (HAProxy's own output has one finding, haproxy_process_failed_resolutions without _total:
#    tolerated for HAProxy only).
# 2. 20 recorder connections (5,000 bytes each, echoed) through rec: per server, sessions_total
#    and bytes in/out equal what the recorder received and sent back (the client's bytes, never
#    the PROXY header); the frontend and backend carry the sums; current sessions back to 0.
# 3. 10 long-lived streams (tests/e2e/streams.py) open: current sessions 10 on the frontend,
#    backend and process; closed: back to 0.
# 4. g2's server process stopped: haproxy_server_status goes DOWN (L4CON, one up/down
#    transition), the backend stays UP with one active server; g1 stopped too: the backend is
#    DOWN; g2 started again: UP.
# 5. (Postern) SIGHUP with the same files: postern_reloads_total{result="ok"} and the config
#    generation go up by one and the counts stay; a broken file by SIGUSR2:
#    postern_reloads_total{result="failed"} 1; a reload without r2: its series go, its
#    listener's counters keep what it carried; r2 back: its own counts go on; `reload` through
#    the runtime API (stats socket, socat) is counted too.
# 6. A Prometheus server (own storage in the run directory, its own loopback port in the
#    namespace where admin.http listens) scrapes /metrics every second; its HTTP API returns
#    Postern's haproxy_server_status series (5 states x 4 servers) and its up{job} is 1.
# Figures (info lines): scrape time for this many servers, series and family counts.
#
# E2E_BALANCER=haproxy runs 1-4 and 6 against Debian's HAProxy with its own exporter
# (promex) on the same port: the same names, labels and values (its process connections count
# the scrape's own).
#
# Usage: tests/e2e/metrics_test.sh   (root; POSTERN_BUILD_DIR, LAB as in splice_bytes_test.sh;
#        needs curl and prometheus (promtool) from Debian; ~60 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="metrics ($BALANCER)"
ADMIN=127.0.0.1:9180     # admin.http, inside NS_DP
PROM_ADDR=127.0.0.1:9190 # the Prometheus server, inside NS_DP
CONN_RATE=${POSTERN_BUILD_DIR:-$E2E_ROOT/build}/bench/conn_rate
STREAMS_PY=$E2E_ROOT/tests/e2e/streams.py
CONNS=20
SEND=5000
STREAMS=10
GREET_PORT=9010
# HAProxy checks the greeters too (they are not Postfix: its LOCAL-header-then-RST is harmless).
export BAL_HAPROXY_CHECKS=1
declare -A GREETER=()
PROM_PID=
STREAMS_PID=
M_DIR=

cleanup() {
  [ -z "$M_DIR" ] || touch "$M_DIR/stop"
  local pid
  for pid in $PROM_PID $STREAMS_PID "${GREETER[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PROM_PID=''
  STREAMS_PID=''
  GREETER=()
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 400

for tool in curl promtool prometheus socat; do
  command -v "$tool" >/dev/null || e2e_abort "$tool missing (scripts/setup.sh installs it)"
done
[ -x "$CONN_RATE" ] || e2e_abort "$CONN_RATE missing (build the conn_rate target)"

# admin.http in the dataplane.yaml bal_start writes (a test-local wrapper: balancer.sh stays as
# it is).
eval "bal_dataplane_yaml_plain() $(declare -f bal_dataplane_yaml | tail -n +2)"
bal_dataplane_yaml() {
  bal_dataplane_yaml_plain || return 1
  printf '  http: %s\n' "$ADMIN" >>"$BAL_DIR/dataplane.yaml"
  grep -q "^admin:" "$BAL_DIR/dataplane.yaml" && grep -q "^  http: $ADMIN\$" "$BAL_DIR/dataplane.yaml"
}

write_cfg() {
  local srv="check inter 1s fall 2 rise 2 send-proxy-v2"
  {
    # Postern's runtime API, for a reload through it (balancer.sh gives HAProxy its own).
    [ "$BALANCER" != postern ] || printf 'global\n    stats socket %s mode 600 level admin\n\n' "$SOCK"
    printf 'defaults\n    mode tcp\n    retries 3\n    timeout connect 5s\n    timeout check 1s\n'
    printf '    timeout client 1m\n    timeout server 1m\n\n'
    printf 'listen rec\n    bind %s:9000\n    balance roundrobin\n' "$VIP"
    printf '    server r1 %s:9000 send-proxy-v2\n    server r2 %s:9000 send-proxy-v2\n\n' \
      "$SERVER1" "$SERVER2"
    printf 'listen chk\n    bind %s:%s\n    balance roundrobin\n' "$VIP" "$GREET_PORT"
    printf '    server g1 %s:%s %s\n    server g2 %s:%s %s\n' \
      "$SERVER1" "$GREET_PORT" "$srv" "$SERVER2" "$GREET_PORT" "$srv"
  } >"$1"
}

# HAProxy's own exporter where Postern's admin.http is.
write_promex_cfg() {
  printf 'frontend prom\n    mode http\n    bind %s\n' "$ADMIN"
  printf '    http-request use-service prometheus-exporter if { path /metrics }\n'
}

greeter_start() { # greeter_start ADDR
  ip netns exec "$NS_SRV" "$CONN_RATE" --serve "$1:$GREET_PORT" --proxy-v2 --greeting "* OK m" \
    </dev/null >>"$M_DIR/greet.$1.out" 2>"$M_DIR/greet.$1.err" &
  GREETER[$1]=$!
  e2e_wait_grep 10 "serving $1:$GREET_PORT" "$M_DIR/greet.$1.err"
}

greeter_stop() { # greeter_stop ADDR: the server process ends (its port refuses)
  kill -TERM "${GREETER[$1]}" 2>/dev/null
  wait "${GREETER[$1]}" 2>/dev/null
  unset "GREETER[$1]"
}

# ---- scraping ---------------------------------------------------------------------------------

# scrape [FILE]: GET /metrics from inside NS_DP into FILE (default M_DIR/last.txt); the
# response's headers go to FILE.headers.
scrape() {
  local out=${1:-$M_DIR/last.txt}
  ip netns exec "$NS_DP" curl -sS --max-time 10 -D "$out.headers" -o "$out" "http://$ADMIN/metrics"
}

# mval 'name{labels}' [FILE]: the value of one series of the last scrape (empty if absent).
mval() {
  awk -v k="$1" '$1 == k { print $2; exit }' "${2:-$M_DIR/last.txt}"
}

# is 'name{labels}' VALUE: scrapes and compares numerically; says what it saw.
is() {
  scrape || return 1
  local v
  v=$(mval "$1")
  echo "$1 = ${v:-(absent)}, expected $2"
  [ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'
}

# becomes SECONDS 'name{labels}' VALUE: waits until the series shows VALUE.
becomes() {
  local limit=$1 deadline
  shift
  deadline=$((SECONDS + limit))
  until is "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.5
  done
  is "$@"
}

server_state_is() { # server_state_is SECONDS PROXY SERVER STATE: 1 for STATE, 0 for the rest
  local limit=$1 px=$2 sv=$3 want=$4 st ok=0
  becomes "$limit" "haproxy_server_status{proxy=\"$px\",server=\"$sv\",state=\"$want\"}" 1 || ok=1
  for st in DOWN UP MAINT DRAIN NOLB; do
    [ "$st" = "$want" ] || is "haproxy_server_status{proxy=\"$px\",server=\"$sv\",state=\"$st\"}" 0 || ok=1
  done
  return $ok
}

# all 'CMD' ...: every command string holds (run in this shell, in turn).
all() {
  local c
  for c in "$@"; do
    eval "$c" || return 1
  done
}

backend_state_is() { # backend_state_is SECONDS PROXY STATE
  local other=UP
  [ "$3" = DOWN ] || other=DOWN
  becomes "$1" "haproxy_backend_status{proxy=\"$2\",state=\"$3\"}" 1 &&
    is "haproxy_backend_status{proxy=\"$2\",state=\"$other\"}" 0
}

content_type_ok() {
  scrape || return 1
  grep -i '^content-type:' "$M_DIR/last.txt.headers"
  grep -qi '^content-type: text/plain; version=0.0.4' "$M_DIR/last.txt.headers"
}

promtool_ok() {
  scrape "$M_DIR/promtool.txt" || return 1
  local out rc
  out=$(promtool check metrics <"$M_DIR/promtool.txt" 2>&1)
  rc=$?
  echo "$(grep -vc '^#' "$M_DIR/promtool.txt") series; promtool: ${out:-no findings}"
  if [ "$BALANCER" = haproxy ]; then
    # HAProxy 2.6's own exporter has one lint finding of its own: a counter without _total.
    out=$(grep -v '^haproxy_process_failed_resolutions counter metrics should have "_total" suffix$' <<<"$out")
    [ -n "$out" ] || rc=0
  fi
  [ "$rc" -eq 0 ] && [ -z "$out" ]
}

# promex's query string: ?scope=frontend gives frontend families only, ?scope= nothing,
# ?scope=bogus a 400.
scope_ok() {
  local url="http://$ADMIN/metrics" names code
  names=$(ip netns exec "$NS_DP" curl -sS --max-time 10 "$url?scope=frontend" | awk '$1 == "#" && $2 == "TYPE" { print $3 }')
  echo "scope=frontend: $(wc -l <<<"$names") families"
  [ -n "$names" ] && ! grep -v '^haproxy_frontend_' <<<"$names" || return 1
  names=$(ip netns exec "$NS_DP" curl -sS --max-time 10 "$url?scope=" | grep -c '^# TYPE')
  echo "scope=: $names families"
  [ "$names" -eq 0 ] || return 1
  code=$(ip netns exec "$NS_DP" curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$url?scope=bogus")
  echo "scope=bogus: HTTP $code"
  [ "$code" = 400 ]
}

# What the recorder received and sent back, per server, for the connections of run $1:
# lines "SERVER conns recv_bytes sent_bytes".
recorded() {
  python3 - "$REC_DIR/server.jsonl" "$1" <<'EOF'
import collections, json, sys
t = collections.defaultdict(lambda: [0, 0, 0])
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("id") or "").startswith(sys.argv[2] + "-"):
        s = t[r["server"].rsplit(":", 1)[0]]
        s[0] += 1; s[1] += r["recv_bytes"]; s[2] += r["sent_bytes"]
for addr, (n, rb, sb) in sorted(t.items()):
    print(addr, n, rb, sb)
EOF
}

recorded_complete() { # all $CONNS connections of run $1 in the server's records
  [ "$(recorded "$1" | awk '{ n += $2 } END { print n + 0 }')" -eq "$CONNS" ]
}

# ---- the lab ----------------------------------------------------------------------------------

bal_lab_up mt || e2e_abort "no lab"
M_DIR=$LAB_RUN_DIR/metrics
mkdir -p "$M_DIR"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
for s in "$SERVER1" "$SERVER2"; do
  e2e_check "greet-and-close server on $s:$GREET_PORT" greeter_start "$s" || e2e_abort "no greeter"
done
CFG=$BAL_DIR/metrics.cfg
SOCK=$BAL_DIR/api.sock
write_cfg "$CFG"
if [ "$BALANCER" = haproxy ]; then
  write_promex_cfg >"$BAL_DIR/promex.cfg"
  bal_start "$CFG" "$BAL_DIR/promex.cfg" || e2e_abort "no balancer"
else
  bal_start "$CFG" || e2e_abort "no balancer"
fi

# ---- 1. the endpoint --------------------------------------------------------------------------
e2e_check "GET http://$ADMIN/metrics answers with promex's content type" \
  e2e_wait 20 content_type_ok || content_type_ok
e2e_check "promtool check metrics accepts the scrape" promtool_ok
e2e_check "?scope=frontend, ?scope= and ?scope=bogus answered as promex answers them" scope_ok
e2e_check "the dashboards' anchor series are there (process_start_time_seconds)" \
  grep -E '^haproxy_process_start_time_seconds [0-9]' "$M_DIR/last.txt"
e2e_check "g1 and g2 UP by their checks" server_state_is 20 chk g1 UP
e2e_check "  (g2)" server_state_is 20 chk g2 UP
e2e_check "rec: no session yet" is 'haproxy_frontend_sessions_total{proxy="rec"}' 0

# ---- 2. known traffic -------------------------------------------------------------------------
e2e_check "$CONNS recorder connections through $VIP:9000, $SEND bytes each, echoed" \
  rec_run m1 --connect "$VIP:9000" --conns "$CONNS" --parallel 4 --send "$SEND" --mode echo
e2e_check "  the recorder saw all of them" e2e_wait 10 recorded_complete m1
recorded m1 >"$M_DIR/m1.recorded"
e2e_log "info: recorder per server (addr conns bytes_received bytes_sent): $(paste -sd';' "$M_DIR/m1.recorded")"
declare -A ADDR_OF=([r1]=$SERVER1 [r2]=$SERVER2)
total_in=0 total_out=0
for sv in r1 r2; do
  read -r _ n rb sb < <(grep "^${ADDR_OF[$sv]} " "$M_DIR/m1.recorded" || echo "- 0 0 0")
  total_in=$((total_in + rb)) total_out=$((total_out + sb))
  ps="proxy=\"rec\",server=\"$sv\""
  e2e_check "$sv: haproxy_server_sessions_total = $n connections it got" \
    becomes 10 "haproxy_server_sessions_total{$ps}" "$n"
  e2e_check "$sv: haproxy_server_bytes_in_total = $rb bytes it received from clients" \
    becomes 10 "haproxy_server_bytes_in_total{$ps}" "$rb"
  e2e_check "$sv: haproxy_server_bytes_out_total = $sb bytes it sent back" \
    becomes 10 "haproxy_server_bytes_out_total{$ps}" "$sb"
  e2e_check "$sv: haproxy_server_current_sessions back to 0" \
    becomes 15 "haproxy_server_current_sessions{$ps}" 0
done
for side in frontend backend; do
  e2e_check "rec $side: sessions_total $CONNS, bytes in $total_in, out $total_out" all \
    "is 'haproxy_${side}_sessions_total{proxy=\"rec\"}' $CONNS" \
    "is 'haproxy_${side}_bytes_in_total{proxy=\"rec\"}' $total_in" \
    "is 'haproxy_${side}_bytes_out_total{proxy=\"rec\"}' $total_out" \
    "is 'haproxy_${side}_current_sessions{proxy=\"rec\"}' 0"
done
e2e_check "rec: haproxy_frontend_connections_total $CONNS" \
  is 'haproxy_frontend_connections_total{proxy="rec"}' "$CONNS"
e2e_check "rec: haproxy_backend_connection_attempts_total $CONNS, no connection error" all \
  "is 'haproxy_backend_connection_attempts_total{proxy=\"rec\"}' $CONNS" \
  "is 'haproxy_backend_connection_errors_total{proxy=\"rec\"}' 0"
e2e_check "no log line lost (haproxy_process_dropped_logs_total 0)" \
  is 'haproxy_process_dropped_logs_total' 0
e2e_log "info: connect time (SYN to SYN-ACK) average: r1 $(mval 'haproxy_server_connect_time_average_seconds{proxy="rec",server="r1"}') s, r2 $(mval 'haproxy_server_connect_time_average_seconds{proxy="rec",server="r2"}') s"

# ---- 3. sessions open now ---------------------------------------------------------------------
ip netns exec "$NS_CLI" python3 "$STREAMS_PY" --connect "$VIP:9000" --conns "$STREAMS" \
  --chunk 100 --interval 0.5 --stop "$M_DIR/stop" --ready "$M_DIR/streams.ready" \
  --results "$M_DIR/streams.jsonl" --run st --max-seconds 120 \
  </dev/null >"$M_DIR/streams.log" 2>&1 &
STREAMS_PID=$!
e2e_check "$STREAMS streams open through $VIP:9000" e2e_wait 30 test -s "$M_DIR/streams.ready"
e2e_check "  haproxy_frontend_current_sessions{rec} = $STREAMS" \
  becomes 15 'haproxy_frontend_current_sessions{proxy="rec"}' "$STREAMS"
e2e_check "  haproxy_backend_current_sessions{rec} = $STREAMS" \
  is 'haproxy_backend_current_sessions{proxy="rec"}' "$STREAMS"
servers_sum_is() { # servers_sum_is VALUE: r1 + r2 current sessions
  scrape || return 1
  local a b
  a=$(mval 'haproxy_server_current_sessions{proxy="rec",server="r1"}')
  b=$(mval 'haproxy_server_current_sessions{proxy="rec",server="r2"}')
  echo "r1 ${a:-?} r2 ${b:-?}"
  [ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) -eq "$1" ]
}
e2e_check "  r1 + r2 current sessions = $STREAMS" servers_sum_is "$STREAMS"
touch "$M_DIR/stop"
streams_done() {
  wait "$STREAMS_PID"
  local rc=$?
  STREAMS_PID=
  cat "$M_DIR/streams.log"
  return $rc
}
e2e_check "  the streams end with their bytes echoed" streams_done
e2e_check "  then current sessions back to 0 (frontend)" \
  becomes 15 'haproxy_frontend_current_sessions{proxy="rec"}' 0
# HAProxy counts the scrape's own connection to its exporter among its connections.
SCRAPE_CONNS=0
[ "$BALANCER" != haproxy ] || SCRAPE_CONNS=1
e2e_check "  (process: haproxy_process_current_connections $SCRAPE_CONNS)" \
  becomes 15 'haproxy_process_current_connections' "$SCRAPE_CONNS"
e2e_check "  sessions_total{rec} = $((CONNS + STREAMS))" \
  is 'haproxy_frontend_sessions_total{proxy="rec"}' $((CONNS + STREAMS))

# ---- 4. a stopped server ----------------------------------------------------------------------
greeter_stop "$SERVER2"
e2e_log "g2's server ($SERVER2:$GREET_PORT) stopped"
e2e_check "g2: haproxy_server_status DOWN (1 for DOWN, 0 for the other four states)" \
  server_state_is 20 chk g2 DOWN
e2e_check "  its last check L4CON" \
  is 'haproxy_server_check_status{proxy="chk",server="g2",state="L4CON"}' 1
e2e_check "  one UP to DOWN transition" \
  is 'haproxy_server_check_up_down_total{proxy="chk",server="g2"}' 1
at_least() { # at_least 'name{labels}' VALUE
  scrape || return 1
  local v
  v=$(mval "$1")
  echo "$1 = ${v:-(absent)}, expected >= $2"
  [ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}
e2e_check "  failed checks counted (>= 1)" \
  at_least 'haproxy_server_check_failures_total{proxy="chk",server="g2"}' 1
e2e_check "  g1 still UP" server_state_is 5 chk g1 UP
e2e_check "  the chk backend UP, with 1 active server" all \
  "backend_state_is 5 chk UP" "is 'haproxy_backend_active_servers{proxy=\"chk\"}' 1"
greeter_stop "$SERVER1"
e2e_log "g1's server ($SERVER1:$GREET_PORT) stopped"
e2e_check "g1 DOWN too: the chk backend DOWN" backend_state_is 20 chk DOWN
e2e_check "  and haproxy_backend_check_up_down_total{chk} 1" \
  is 'haproxy_backend_check_up_down_total{proxy="chk"}' 1
e2e_check "g2's server started again" greeter_start "$SERVER2"
e2e_check "g2: UP again" server_state_is 20 chk g2 UP
e2e_check "  the chk backend UP again" backend_state_is 10 chk UP

# ---- 5. reloads -------------------------------------------------------------------------------
if [ "$BALANCER" = postern ]; then
  e2e_check "no reload yet: postern_reloads_total{result=\"ok\"} 0, generation 1" all \
    "is 'postern_reloads_total{result=\"ok\"}' 0" "is postern_config_generation 1"
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  kill -HUP "$BAL_PID"
  e2e_check "SIGHUP: reloaded" e2e_wait_grep 20 'postern: reloaded: generation 2$' "$BAL_DIR/postern.err" "$MARK"
  e2e_check "  postern_reloads_total{result=\"ok\"} 1" becomes 10 'postern_reloads_total{result="ok"}' 1
  e2e_check "  postern_config_generation 2" is postern_config_generation 2
  e2e_check "  the counts stay (rec sessions_total $((CONNS + STREAMS)))" \
    is 'haproxy_frontend_sessions_total{proxy="rec"}' $((CONNS + STREAMS))
  cp "$CFG" "$M_DIR/good.cfg"
  sed -i 's/balance roundrobin/balance roundrobinx/' "$CFG"
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  kill -USR2 "$BAL_PID"
  e2e_check "SIGUSR2 with a broken file: refused" \
    e2e_wait_grep 20 'postern: reload refused' "$BAL_DIR/postern.err" "$MARK"
  e2e_check "  postern_reloads_total{result=\"failed\"} 1" \
    becomes 10 'postern_reloads_total{result="failed"}' 1
  e2e_check "  still generation 2" is postern_config_generation 2

  # A reload that removes r2: it has no series any more, and what it carried stays in its
  # listener's counters (they never go back); put back, it goes on from its own counts.
  scrape "$M_DIR/before-removal.txt"
  R2_TOTAL=$(mval 'haproxy_server_sessions_total{proxy="rec",server="r2"}' "$M_DIR/before-removal.txt")
  FE_IN=$(mval 'haproxy_frontend_bytes_in_total{proxy="rec"}' "$M_DIR/before-removal.txt")
  grep -v "^    server r2 " "$M_DIR/good.cfg" >"$CFG"
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  kill -HUP "$BAL_PID"
  e2e_check "SIGHUP without r2: reloaded" \
    e2e_wait_grep 20 'postern: reloaded: generation 3$' "$BAL_DIR/postern.err" "$MARK"
  r2_gone() {
    scrape || return 1
    ! grep 'server="r2"' "$M_DIR/last.txt"
  }
  e2e_check "  r2 has no series" e2e_wait 10 r2_gone
  e2e_check "  rec's counters keep what r2 carried (bytes in $FE_IN, sessions $((CONNS + STREAMS)))" all \
    "is 'haproxy_frontend_bytes_in_total{proxy=\"rec\"}' '$FE_IN'" \
    "is 'haproxy_backend_sessions_total{proxy=\"rec\"}' $((CONNS + STREAMS))"
  cp "$M_DIR/good.cfg" "$CFG"
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  kill -HUP "$BAL_PID"
  e2e_check "SIGHUP with r2 back: reloaded" \
    e2e_wait_grep 20 'postern: reloaded: generation 4$' "$BAL_DIR/postern.err" "$MARK"
  e2e_check "  r2 goes on from its own count ($R2_TOTAL sessions)" \
    becomes 10 'haproxy_server_sessions_total{proxy="rec",server="r2"}' "$R2_TOTAL"
  e2e_check "  postern_reloads_total{result=\"ok\"} 3, generation 4" all \
    "is 'postern_reloads_total{result=\"ok\"}' 3" "is postern_config_generation 4"
  api_reload() {
    printf 'reload\n' | timeout 15 socat -t 10 - "UNIX-CONNECT:$SOCK" | tee "$M_DIR/api-reload.out" |
      head -n 1 | grep -qx 'Success=1'
  }
  e2e_check "reload through the runtime API ($SOCK): Success=1" api_reload
  e2e_check "  postern_reloads_total{result=\"ok\"} 4, generation 5" all \
    "becomes 10 'postern_reloads_total{result=\"ok\"}' 4" "is postern_config_generation 5"
else
  e2e_log "skip: reload counts (postern_reloads_total) are Postern's own"
fi

# ---- 6. a real Prometheus server --------------------------------------------------------------
mkdir -p "$M_DIR/prom-data"
cat >"$M_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: $BALANCER
    static_configs:
      - targets: ["$ADMIN"]
EOF
e2e_check "promtool check config" promtool check config "$M_DIR/prometheus.yml"
# ip netns exec execs prometheus in place: $! is its PID.
ip netns exec "$NS_DP" prometheus --config.file="$M_DIR/prometheus.yml" \
  --storage.tsdb.path="$M_DIR/prom-data" --web.listen-address="$PROM_ADDR" \
  </dev/null >"$M_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
e2e_log "prometheus pid $PROM_PID on $PROM_ADDR (inside $NS_DP)"

# prom_query EXPR: the API's JSON answer for an instant query.
prom_query() {
  ip netns exec "$NS_DP" curl -sS --max-time 5 -G "http://$PROM_ADDR/api/v1/query" \
    --data-urlencode "query=$1"
}
prom_series() { # prom_series EXPR: how many series the query returns
  prom_query "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
print(len(d["data"]["result"]))'
}
prom_has_servers() {
  local n
  n=$(prom_series "haproxy_server_status{job=\"$BALANCER\"}" 2>/dev/null) || return 1
  echo "haproxy_server_status: $n series stored"
  [ "$n" -eq 20 ]
}
e2e_check "Prometheus stored haproxy_server_status (4 servers x 5 states)" \
  e2e_wait 90 prom_has_servers || { prom_has_servers; tail -5 "$M_DIR/prometheus.log"; }
prom_values() {
  prom_query "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    m = r["metric"]
    print(m.get("proxy", "-"), m.get("server", "-"), m.get("state", "-"), r["value"][1])'
}
prom_agrees() {
  local got
  got=$(prom_values 'haproxy_server_status{proxy="chk",server="g1"} == 1')
  echo "chk/g1 as Prometheus has it: $got"
  grep -q '^chk g1 DOWN 1$' <<<"$got" || return 1
  got=$(prom_values "up{job=\"$BALANCER\"}")
  echo "up: $got"
  grep -q ' 1$' <<<"$got" || return 1
  got=$(prom_values 'haproxy_frontend_sessions_total{proxy="rec"}')
  echo "rec sessions_total: $got"
  grep -q " $((CONNS + STREAMS))\$" <<<"$got"
}
e2e_check "  its API: g1 DOWN, up 1, rec sessions_total $((CONNS + STREAMS))" \
  e2e_wait 10 prom_agrees || prom_agrees
if [ "$BALANCER" = postern ]; then
  prom_reloads() {
    local v
    v=$(prom_values 'postern_reloads_total')
    echo "$v"
    [ "$(wc -l <<<"$v")" -eq 2 ]
  }
  e2e_check "  and Postern's own (postern_reloads_total by result)" e2e_wait 10 prom_reloads
fi
e2e_log "info: prometheus: $(prom_series '{__name__=~".+",job="'"$BALANCER"'"}') series stored for job $BALANCER"

# ---- figures ----------------------------------------------------------------------------------
scrape_times() {
  local _
  for _ in $(seq 1 20); do
    ip netns exec "$NS_DP" curl -sS --max-time 10 -o /dev/null -w '%{time_total}\n' "http://$ADMIN/metrics"
  done
}
scrape
SERIES=$(grep -vc '^#' "$M_DIR/last.txt")
FAMILIES=$(grep -c '^# TYPE' "$M_DIR/last.txt")
BYTES=$(stat -c %s "$M_DIR/last.txt")
SERVERS=$(grep -c '^haproxy_server_status{.*state="UP"}' "$M_DIR/last.txt")
TIMES=$(scrape_times | sort -n)
e2e_log "info: scrape of $SERVERS servers: $SERIES series in $FAMILIES families, $BYTES bytes; $(awk '{ s += $1; a[NR] = $1 } END { printf "%.2f ms mean, %.2f ms median, %.2f ms max over %d scrapes (curl time_total)", s / NR * 1000, a[int((NR + 1) / 2)] * 1000, a[NR] * 1000, NR }' <<<"$TIMES")"
