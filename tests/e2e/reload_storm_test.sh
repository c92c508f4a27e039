#!/usr/bin/env bash
# A reload storm: long-lived streaming connections and a steady connection-rate load run
# while Postern reloads again and again, each time with another set of servers (some added,
# some drained with weight 0, some removed, weights changed) and once with an invalid file.
# Nothing a client started may break:
#   - every stream (recorder echo, STORM_STREAMS of them, open before the first reload and
#     streaming until after the last) ends with exactly its bytes echoed, on the server it
#     started on, however that server was drained or removed meanwhile;
#   - the connection-rate load (bench/conn_rate against greet-and-close servers behind a second
#     listener) has no failed connection;
#   - the invalid reload is refused, naming its FILE:LINE, and the storm goes on;
#   - at the end Postern's own counts agree with what was sent (connections per listener in the
#     state file and in /metrics = streams + the load's connections; /metrics counts the
#     reloads, ok and failed) and no flow is left open.
# Postern only (reloading by signal is Postern's own).
#
# Usage: tests/e2e/reload_storm_test.sh   (root; POSTERN_BUILD_DIR, LAB as in splice_bytes_test.sh)
#   STORM_RELOADS (default 50), STORM_STREAMS (default 500), STORM_INTERVAL (s between reloads,
#   default 0.6); E2E_SOAK=1: 200 reloads, 1,000 streams.  (~60 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="reload storm ($BALANCER)"
if ! bal_postern_only "every check: reloading by signal is Postern's own"; then
  echo "$TITLE: took ${SECONDS}s"
  echo "$TITLE: 0 passed, 0 failed"
  exit 0
fi

if [ "${E2E_SOAK:-0}" != 0 ]; then
  RELOADS=${STORM_RELOADS:-200}
  STREAMS=${STORM_STREAMS:-1000}
else
  RELOADS=${STORM_RELOADS:-50}
  STREAMS=${STORM_STREAMS:-500}
fi
INTERVAL=${STORM_INTERVAL:-0.6}
BAD_AT=$((RELOADS / 2))
CONN_RATE=${POSTERN_BUILD_DIR:-$E2E_ROOT/build}/bench/conn_rate
STREAMS_PY=$E2E_ROOT/tests/e2e/streams.py
GREET_PORT=9010
CR_PIDS=()
STREAMS_PID=
LOAD_PID=
STORM_DIR=

cleanup() {
  [ -z "$STORM_DIR" ] || touch "$STORM_DIR/stop"
  local pid
  for pid in $STREAMS_PID $LOAD_PID "${CR_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  STREAMS_PID= LOAD_PID= CR_PIDS=()
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog $((300 + RELOADS * 3))

# write_cfg FILE GEN: the configuration of reload GEN. The three servers take turns being
# present, drained (weight 0) or absent, with changing weights; s1 is always there, so every
# generation can serve.
write_cfg() {
  local file=$1 gen=$2 w2 w3
  {
    printf 'defaults\n    mode tcp\n    retries 3\n    timeout connect 5s\n'
    printf '    timeout client 2m\n    timeout server 2m\n\n'
    for listener in "storm $VIP:9000 9000" "churn $VIP:$GREET_PORT $GREET_PORT"; do
      read -r name bind port <<<"$listener"
      printf 'listen %s\n    bind %s\n    balance roundrobin\n' "$name" "$bind"
      printf '    server s1 %s:%s send-proxy-v2 weight %d\n' "$SERVER1" "$port" $((1 + gen % 3))
      case $((gen % 4)) in
      0) w2=1 w3=2 ;;  # all three
      1) w2=0 w3=1 ;;  # s2 drained
      2) w2=3 w3=- ;;  # s3 removed
      3) w2=- w3=0 ;;  # s2 removed, s3 drained
      esac
      [ "$w2" = - ] || printf '    server s2 %s:%s send-proxy-v2 weight %d\n' "$SERVER2" "$port" "$w2"
      [ "$w3" = - ] || printf '    server s3 %s:%s send-proxy-v2 weight %d\n' "$SERVER3" "$port" "$w3"
      printf '\n'
    done
  } >"$file.new" && mv -f "$file.new" "$file"
}

greeters_start() {
  local s
  for s in "$SERVER1" "$SERVER2" "$SERVER3"; do
    ip netns exec "$NS_SRV" "$CONN_RATE" --serve "$s:$GREET_PORT" --proxy-v2 \
      --greeting "* OK storm" </dev/null >"$STORM_DIR/greet.$s.out" 2>"$STORM_DIR/greet.$s.err" &
    CR_PIDS+=("$!")
    e2e_wait_grep 10 "serving $s:$GREET_PORT" "$STORM_DIR/greet.$s.err" || return 1
  done
}

streams_open() {
  [ -s "$STORM_DIR/streams.ready" ]
}

reloaded() { # reloaded GEN MARK: Postern logged the generation
  e2e_wait_grep 10 "postern: reloaded: generation $1\$" "$BAL_DIR/postern.err" "$2"
}

bal_lab_up st || e2e_abort "no lab"
[ -x "$CONN_RATE" ] || e2e_abort "$CONN_RATE missing (build the conn_rate target)"
STORM_DIR=$LAB_RUN_DIR/storm
mkdir -p "$STORM_DIR"
rec_start "$SERVER1:9000" "$SERVER2:9000" "$SERVER3:9000" || e2e_abort "no recorder"
e2e_check "greet-and-close servers on $SERVER1, $SERVER2, $SERVER3 :$GREET_PORT" greeters_start ||
  e2e_abort "no greeters"
CFG=$BAL_DIR/storm.cfg
write_cfg "$CFG" 0
ADMIN=127.0.0.1:9180 # admin.http inside NS_DP: /metrics is compared with the clients' counts
[ "$BALANCER" != postern ] || export BAL_ADMIN_EXTRA="  http: $ADMIN"
bal_start "$CFG" || e2e_abort "no balancer"

# The streams, all open before the first reload.
ip netns exec "$NS_CLI" python3 "$STREAMS_PY" --connect "$VIP:9000" --conns "$STREAMS" \
  --chunk 512 --interval 0.25 --stop "$STORM_DIR/stop" --ready "$STORM_DIR/streams.ready" \
  --results "$REC_DIR/storm.jsonl" --run storm --max-seconds $((120 + RELOADS * 3)) \
  </dev/null >"$STORM_DIR/streams.log" 2>&1 &
STREAMS_PID=$!
e2e_check "$STREAMS streams open through $VIP:9000" e2e_wait 60 streams_open ||
  e2e_abort "the streams did not open: $(tail -3 "$STORM_DIR/streams.log")"

# The connection-rate load, for the whole storm.
LOAD_SECONDS=$(awk -v n="$RELOADS" -v i="$INTERVAL" 'BEGIN { printf "%d", n * i + 8 }')
ip netns exec "$NS_CLI" "$CONN_RATE" --connect "$VIP:$GREET_PORT" --concurrency 16 \
  --duration "$LOAD_SECONDS" --timeout 10 --expect-prefix "* OK" \
  </dev/null >"$STORM_DIR/load.log" 2>&1 &
LOAD_PID=$!
sleep 2

# ---- the storm --------------------------------------------------------------------------------
refused_ok=0
reloads_ok=0
gen=1
for ((i = 1; i <= RELOADS; i++)); do
  MARK=$(e2e_size "$BAL_DIR/postern.err")
  if [ "$i" -eq "$BAD_AT" ]; then
    write_cfg "$CFG" "$i"
    sed -i '0,/^\( *balance\) roundrobin$/s//\1 roundrobinx/' "$CFG"
    BAD_LINE=$(grep -n 'roundrobinx' "$CFG" | cut -d: -f1)
    kill -HUP "$BAL_PID"
    if e2e_wait_grep 10 'postern: reload refused: the running configuration keeps serving' \
      "$BAL_DIR/postern.err" "$MARK" >/dev/null &&
      e2e_grep_from "$MARK" "^$CFG:$BAD_LINE: error: " "$BAL_DIR/postern.err"; then
      refused_ok=1
    fi
  else
    write_cfg "$CFG" "$i"
    kill -HUP "$BAL_PID"
    gen=$((gen + 1))
    reloaded "$gen" "$MARK" >/dev/null && reloads_ok=$((reloads_ok + 1))
  fi
  sleep "$INTERVAL"
done
e2e_check "$((RELOADS - 1)) reloads taken (generation $gen)" test "$reloads_ok" -eq $((RELOADS - 1))
e2e_check "reload $BAD_AT (balance roundrobinx) refused naming $CFG:${BAD_LINE:-?}" \
  test "$refused_ok" -eq 1

# ---- the verdicts -----------------------------------------------------------------------------
touch "$STORM_DIR/stop"
streams_done() {
  wait "$STREAMS_PID"
  local rc=$?
  STREAMS_PID=
  cat "$STORM_DIR/streams.log"
  return $rc
}
e2e_check "every stream ended with exactly its bytes echoed (none broken by $RELOADS reloads)" \
  streams_done
e2e_check "  and each reached the server with the v2 header naming its client, then its bytes" \
  rec_verify storm --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000,$SERVER3:9000"
e2e_log "info: ${REC_CHECK#check: }"

load_done() {
  wait "$LOAD_PID"
  local rc=$?
  LOAD_PID=
  cat "$STORM_DIR/load.log"
  return $rc
}
e2e_check "the connection-rate load through $VIP:$GREET_PORT: no failed connection" load_done
LOAD_LINE=$(grep '^conns=' "$STORM_DIR/load.log")
e2e_log "info: load during the storm: $LOAD_LINE"
LOAD_CONNS=$(sed -n 's/^conns=\([0-9]*\) .*/\1/p' <<<"$LOAD_LINE")

# Postern's counts: every connection the clients made, per listener, summed over its servers
# (removed ones included: the state file keeps retired servers while they exist).
listener_total() {
  python3 - "$BAL_DIR/state.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(s["total"] for s in d["servers"] if s["name"].startswith(sys.argv[2] + "/")))
EOF
}
counts_agree() {
  local storm churn
  storm=$(listener_total storm) churn=$(listener_total churn)
  echo "state file: storm $storm connections (sent $STREAMS), churn $churn (sent ${LOAD_CONNS:-?})"
  [ "$storm" = "$STREAMS" ] && [ -n "$LOAD_CONNS" ] && [ "$churn" -ge "$LOAD_CONNS" ] &&
    [ "$churn" -le $((LOAD_CONNS + 16)) ]
}
e2e_check "Postern's counts agree with what the clients sent" e2e_wait 5 counts_agree ||
  counts_agree

# The same counts and the reloads in /metrics, as Prometheus would scrape them.
metric() {  # metric 'name{labels}': its value in a fresh scrape
  ip netns exec "$NS_DP" curl -sS --max-time 10 "http://$ADMIN/metrics" |
    awk -v k="$1" '$1 == k { print $2 }'
}
metrics_agree() {
  local storm churn ok fail
  storm=$(metric 'haproxy_frontend_sessions_total{proxy="storm"}')
  churn=$(metric 'haproxy_frontend_sessions_total{proxy="churn"}')
  ok=$(metric 'postern_reloads_total{result="ok"}')
  fail=$(metric 'postern_reloads_total{result="failed"}')
  echo "/metrics: storm $storm sessions (sent $STREAMS), churn $churn (sent ${LOAD_CONNS:-?}), reloads ok $ok failed $fail"
  [ "$storm" = "$STREAMS" ] && [ -n "$LOAD_CONNS" ] && [ -n "$churn" ] &&
    [ "$churn" -ge "$LOAD_CONNS" ] && [ "$churn" -le $((LOAD_CONNS + 16)) ] &&
    [ "$ok" = $((RELOADS - 1)) ] && [ "$fail" = 1 ]
}
if bal_postern_only "/metrics after the storm"; then
  e2e_check "/metrics agrees: sessions per listener as sent, $((RELOADS - 1)) reloads ok, 1 failed" \
    e2e_wait 5 metrics_agree || metrics_agree
fi
