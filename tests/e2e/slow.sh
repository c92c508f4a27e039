# The long-lived connection L for the end-to-end tests (bash, sourced after lib.sh and
# recorder.sh, once the lab's env is sourced and the recorder runs): slow_client.py in NAME-cli
# sends SLOW_CHUNK bytes every SLOW_INTERVAL through the balancer to the recorder (echo mode)
# until slow_finish, so a test can change something under an open connection and check that
# bytes still cross it afterwards.
#
#   slow_start ADDR:PORT      starts L; its results in $REC_DIR/slow.jsonl (rec_verify slow ...)
#   slow_flows WHAT           L is open and its echo grows by 4 more chunks within 5 s
#   slow_finish               half-close, L's own verdict (every byte echoed, sha256)
#   slow_stop                 kills L if it still runs (for cleanup)
# shellcheck shell=bash disable=SC2034 # variables are read by the scripts that source this

SLOW_CHUNK=${SLOW_CHUNK:-16384}      # bytes L sends every SLOW_INTERVAL seconds
SLOW_INTERVAL=${SLOW_INTERVAL:-0.1}
SLOW_MAX_SECONDS=${SLOW_MAX_SECONDS:-60} # L gives up (and fails) if the stop file never appears
SLOW_PID=
SLOW_DIR=
SLOW_PY=$E2E_ROOT/tests/e2e/slow_client.py

slow_start() {
  local target=$1
  SLOW_DIR=$REC_DIR/slow
  mkdir -p "$SLOW_DIR"
  rm -f "$SLOW_DIR/stop" "$SLOW_DIR/progress"
  # ip netns exec execs python in place: $! is the client itself.
  ip netns exec "$NS_CLI" python3 "$SLOW_PY" --connect "$target" --id slow-0 \
    --results "$REC_DIR/slow.jsonl" --progress "$SLOW_DIR/progress" --stop "$SLOW_DIR/stop" \
    --chunk "$SLOW_CHUNK" --interval "$SLOW_INTERVAL" --max-seconds "$SLOW_MAX_SECONDS" \
    </dev/null >"$SLOW_DIR/client.log" 2>&1 &
  SLOW_PID=$!
  e2e_log "long-lived connection L: pid $SLOW_PID, $SLOW_CHUNK bytes every ${SLOW_INTERVAL}s to $target"
}

# slow_progress: "SENT RECEIVED STATE" of L (empty before its first line).
slow_progress() {
  cat "$SLOW_DIR/progress" 2>/dev/null
}

slow_received_beyond() {
  local sent recv state
  read -r sent recv state <<<"$(slow_progress)"
  [ "${state:-}" = open ] && [ "${recv:-0}" -gt "$1" ]
}

# slow_flows WHAT: L is still open and the echo grows by at least 4 more chunks from now on
# (what was in flight when the reload came is not enough: bytes must cross after it).
slow_flows() {
  local sent recv state
  read -r sent recv state <<<"$(slow_progress)"
  if [ "${state:-}" != open ]; then
    echo "L is not open (progress: '$(slow_progress)'); its log:"
    sed 's/^/  | /' "$SLOW_DIR/client.log"
    return 1
  fi
  if ! e2e_wait 5 slow_received_beyond $((recv + 4 * SLOW_CHUNK)); then
    echo "L's echo did not grow by $((4 * SLOW_CHUNK)) bytes within 5 s: from '$sent $recv $state'" \
      "to '$(slow_progress)'"
    sed 's/^/  | /' "$SLOW_DIR/client.log"
    return 1
  fi
  echo "L $1: received $recv then $(slow_progress | cut -d' ' -f2) bytes (sent/received/state: $(slow_progress))"
}

# slow_finish: the stop file, then L's own verdict within 25 s.
slow_finish() {
  local rc
  touch "$SLOW_DIR/stop"
  for _ in $(seq 1 250); do
    kill -0 "$SLOW_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SLOW_PID" 2>/dev/null; then
    echo "L did not end within 25 s of the stop file (progress: '$(slow_progress)')"
    return 1
  fi
  wait "$SLOW_PID"
  rc=$?
  SLOW_PID=
  cat "$SLOW_DIR/client.log"
  return "$rc"
}


slow_stop() {
  if [ -n "$SLOW_PID" ]; then
    kill -TERM "$SLOW_PID" 2>/dev/null
    wait "$SLOW_PID" 2>/dev/null
    SLOW_PID=
  fi
}
