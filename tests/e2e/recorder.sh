# The recording server and its client (recorder.py) in a lab (bash, sourced after lib.sh and
# balancer.sh, once the lab's env is sourced).
#
#   rec_start ADDR:PORT...      the server in NAME-srv; records in $REC_DIR/server.jsonl
#   rec_run NAME ARGS...        a client run from NAME-cli (recorder.py client ARGS), results in
#                               $REC_DIR/NAME.jsonl, its summary line in REC_SUMMARY
#   rec_verify NAME ARGS...     recorder.py check of that run against the server's records
#   rec_stop
# shellcheck shell=bash disable=SC2034 # variables are read by the scripts that source this

REC_PY=$E2E_ROOT/tests/e2e/recorder.py
REC_PID=
REC_DIR=
REC_SUMMARY=
REC_CHECK=

rec_listening() {
  [ -s "$REC_DIR/ready" ]
}

rec_start() {
  local args=() a
  REC_DIR=$LAB_RUN_DIR/recorder
  mkdir -p "$REC_DIR"
  rm -f "$REC_DIR/ready"
  for a in "$@"; do args+=(--listen "$a"); done
  ip netns exec "$NS_SRV" python3 "$REC_PY" serve "${args[@]}" --records "$REC_DIR/server.jsonl" \
    --ready "$REC_DIR/ready" </dev/null >"$REC_DIR/server.log" 2>&1 &
  REC_PID=$!
  e2e_check "recorder listening on $*" e2e_wait 10 rec_listening || {
    cat "$REC_DIR/server.log" >&2
    return 1
  }
}

rec_stop() {
  [ -n "$REC_PID" ] || return 0
  kill -TERM "$REC_PID" 2>/dev/null
  for _ in $(seq 1 30); do
    kill -0 "$REC_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$REC_PID" 2>/dev/null
  wait "$REC_PID" 2>/dev/null
  REC_PID=
}

# rec_run NAME ARGS...: prints the client's summary (and failures); status 0 if all succeeded.
rec_run() {
  local name=$1 rc
  shift
  REC_SUMMARY=$(ip netns exec "$NS_CLI" timeout "${REC_RUN_LIMIT:-120}" python3 "$REC_PY" client \
    --run "$name" --results "$REC_DIR/$name.jsonl" "$@" 2>&1)
  rc=$?
  echo "$REC_SUMMARY"
  REC_SUMMARY=$(head -n 1 <<<"$REC_SUMMARY")
  return $rc
}

# rec_verify NAME ARGS...: prints the check's report; its first line also in REC_CHECK.
rec_verify() {
  local name=$1 out rc
  shift
  out=$(python3 "$REC_PY" check --client "$REC_DIR/$name.jsonl" --server "$REC_DIR/server.jsonl" "$@" 2>&1)
  rc=$?
  echo "$out"
  REC_CHECK=$(head -n 1 <<<"$out")
  return $rc
}

# The client addresses of the lab as one comma-separated list (connections take them in turn).
rec_client_addrs() {
  tr ' ' ',' <<<"$CLIENT_ADDRS"
}
