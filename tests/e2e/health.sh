# Health checks as the end-to-end tests see them (bash, sourced after lib.sh, balancer.sh and
# mail.sh, once the lab's env is sourced): one answer for both balancers about a server's
# state, the time each UP/DOWN transition was logged, client loops that run through a fault,
# and faults made by freezing a peer's processes.
#
#   hc_init                       the working directory HC_DIR (under the lab's run directory)
#   hc_status LISTENER SERVER     "STATUS CHECK_STATUS", e.g. "UP L7OK", "DOWN L4CON": Postern's
#                                 state JSON (servers.L/S.status, .check_status), HAProxy's
#                                 `show stat` (status, check_status; "UP 1/2" reads UP, a running
#                                 check's "* " prefix is dropped)
#   hc_wait_status SECS L S STATUS [CHECK]   polls hc_status until it says so
#   hc_stamp_start                follows the balancer's log (Postern's stderr, HAProxy's
#                                 stderr in haproxy.log) and stamps every "Server L/S is UP|DOWN"
#                                 line with the time it appeared, in HC_DIR/transitions
#   hc_wait_transition SECS L S UP|DOWN AFTER   the first such line after Unix time AFTER;
#                                 HC_WHEN its time
#   hc_no_transition L S UP|DOWN AFTER          none since AFTER
#   hc_loop_start TARGET...       health_tool.py loop in the client namespace (TARGET:
#                                 NAME=PROTO:HOST:PORT[/proxy]); hc_loop_stop ends it
#   hc_loop_check NAME FROM TO [health_tool.py check options]   (after hc_loop_stop, which
#                                 waits for the sessions in flight, so every one is counted)
#   hc_freeze DIR / hc_thaw       SIGSTOP / SIGCONT a peer's master (DIR/run/master.pid for
#                                 Dovecot, DIR/queue/pid/master.pid for Postfix) and every
#                                 process under it; hc_cleanup continues whatever is stopped
#   hc_verdict ... / hc_table     rows of the verdict table, printed at the end
#   hc_cleanup                    for the tests' cleanup
#
# Transition lines in both balancers' words (HAProxy 2.6 prints them on stderr with a
# "[WARNING]  (PID) : " prefix; Postern on its stderr):
#   Server imap4/dc1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", ...
#   Server imap4/dc1 is UP, reason: Layer7 check passed, code: 0, info: "(tcp-check)", ...
# shellcheck shell=bash disable=SC2034 # variables are read by the scripts that source this

HC_TOOL=$E2E_ROOT/tests/e2e/health_tool.py
HC_DIR=
HC_STAMP_PID=
HC_LOOP_PID=
HC_LOOP_RESULTS=
HC_LOOP_N=0
HC_LOOP_TIMEOUT=${HC_LOOP_TIMEOUT:-30}
HC_WHEN=
HC_FROZEN=()
HC_VERDICTS=()

hc_init() {
  HC_DIR=$LAB_RUN_DIR/health
  mkdir -p "$HC_DIR"
  : >"$HC_DIR/transitions"
}

hc_log_file() {
  if [ "$BALANCER" = haproxy ]; then
    echo "$BAL_DIR/haproxy.log"
  else
    echo "$BAL_DIR/postern.err"
  fi
}

# hc_now: Unix time with microseconds (bash 5's EPOCHREALTIME).
hc_now() {
  echo "$EPOCHREALTIME"
}

# hc_secs FROM TO: TO - FROM in seconds, two decimals.
hc_secs() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'
}

# hc_le A B: A <= B, as decimals.
hc_le() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'
}

# ---- state -----------------------------------------------------------------------------------

hc_haproxy_stat() {
  echo "show stat" | socat -t 2 - "UNIX-CONNECT:$BAL_DIR/haproxy.sock" 2>/dev/null
}

hc_status() {
  local l=$1 s=$2 st cs
  if [ "$BALANCER" = haproxy ]; then
    hc_haproxy_stat | awk -F, -v l="$l" -v s="$s" '
      NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
      $1 == l && $2 == s {
        st = $col["status"]; cs = $col["check_status"]
        sub(/^\* /, "", cs)
        if (st ~ /^UP( |$)/) st = "UP"; else if (st ~ /^DOWN( |$)/) st = "DOWN"
        gsub(/ /, "_", st)
        print st, (cs == "" ? "-" : cs); found = 1
      }
      END { exit !found }'
  else
    st=$(bal_counter "servers.$l/$s.status" 2>/dev/null) || return 1
    cs=$(bal_counter "servers.$l/$s.check_status" 2>/dev/null) || return 1
    [ "$st" != 0 ] || st="(absent)"
    [ "$cs" != 0 ] || cs="(absent)"
    echo "${st// /_} ${cs// /_}"
  fi
}

hc_status_is() {
  local got
  got=$(hc_status "$1" "$2") || return 1
  [ "${got%% *}" = "$3" ] && { [ -z "${4:-}" ] || [ "${got#* }" = "$4" ]; }
}

hc_wait_status() {
  local limit=$1 l=$2 s=$3 want=$4 check=${5:-}
  if e2e_wait "$limit" hc_status_is "$l" "$s" "$want" "$check"; then
    echo "$l/$s: $(hc_status "$l" "$s")"
    return 0
  fi
  echo "$l/$s: '$(hc_status "$l" "$s" || echo unreadable)', expected '$want${check:+ $check}' within ${limit}s"
  return 1
}

# ---- transitions -----------------------------------------------------------------------------

hc_stamp_stop() {
  [ -n "$HC_STAMP_PID" ] || return 0
  kill -TERM "$HC_STAMP_PID" 2>/dev/null
  wait "$HC_STAMP_PID" 2>/dev/null
  HC_STAMP_PID=
}

# Starts after bal_start (which truncates the log); a restarted balancer needs it again.
hc_stamp_start() {
  hc_stamp_stop
  python3 "$HC_TOOL" stamp --log "$(hc_log_file)" --out "$HC_DIR/transitions" \
    --pattern 'Server [^ ]+ is (UP|DOWN)' </dev/null >"$HC_DIR/stamp.log" 2>&1 &
  HC_STAMP_PID=$!
}

# hc_transition_time L S WHAT AFTER: the time of the first WHAT line for L/S after AFTER.
hc_transition_time() {
  awk -v after="$4" -v key="Server $1/$2 is $3" '
    $1 > after && index($0, key) { k = index($0, key) + length(key); c = substr($0, k, 1)
      if (c == "," || c == " " || c == "") { print $1; found = 1; exit } }
    END { exit !found }' "$HC_DIR/transitions"
}

hc_wait_transition() {
  local limit=$1 l=$2 s=$3 what=$4 after=$5
  if e2e_wait "$limit" hc_transition_time "$l" "$s" "$what" "$after"; then
    HC_WHEN=$(hc_transition_time "$l" "$s" "$what" "$after")
    grep -F "$HC_WHEN" "$HC_DIR/transitions" | grep -F "Server $l/$s is $what" | head -n 1 |
      cut -d' ' -f2- | cut -c1-200
    return 0
  fi
  HC_WHEN=
  echo "no 'Server $l/$s is $what' logged within ${limit}s; state now: $(hc_status "$l" "$s" || echo unreadable)"
  echo "transitions logged since then:"
  awk -v after="$after" '$1 > after' "$HC_DIR/transitions" | cut -c1-200 | sed 's/^/  | /'
  return 1
}

hc_no_transition() {
  local l=$1 s=$2 what=$3 after=$4 t
  if t=$(hc_transition_time "$l" "$s" "$what" "$after"); then
    echo "$l/$s went $what at +$(hc_secs "$after" "$t") s:"
    grep -F "Server $l/$s is $what" "$HC_DIR/transitions" | tail -n 1 | cut -c1-200 | sed 's/^/  | /'
    return 1
  fi
  echo "$l/$s: no $what transition logged in $(hc_secs "$after" "$(hc_now)") s; state $(hc_status "$l" "$s")"
}

# ---- client loops ----------------------------------------------------------------------------

hc_loop_start() {
  local args=() t
  hc_loop_stop
  HC_LOOP_N=$((HC_LOOP_N + 1))
  HC_LOOP_RESULTS=$HC_DIR/loop$HC_LOOP_N.jsonl
  rm -f "$HC_DIR/loop.stop"
  for t in "$@"; do args+=(--target "$t"); done
  ip netns exec "$NS_CLI" python3 "$HC_TOOL" loop "${args[@]}" --interval "${HC_LOOP_INTERVAL:-0.2}" \
    --timeout "$HC_LOOP_TIMEOUT" --results "$HC_LOOP_RESULTS" --stop "$HC_DIR/loop.stop" \
    </dev/null >"$HC_DIR/loop$HC_LOOP_N.log" 2>&1 &
  HC_LOOP_PID=$!
  e2e_log "client loop $HC_LOOP_N: pid $HC_LOOP_PID, a session every ${HC_LOOP_INTERVAL:-0.2}s to each of $*"
}

# Waits for the sessions in flight (each read is bounded by HC_LOOP_TIMEOUT), then kills.
hc_loop_stop() {
  [ -n "$HC_LOOP_PID" ] || return 0
  touch "$HC_DIR/loop.stop"
  local deadline=$((SECONDS + 2 * HC_LOOP_TIMEOUT + 10))
  while kill -0 "$HC_LOOP_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -KILL "$HC_LOOP_PID" 2>/dev/null
  wait "$HC_LOOP_PID" 2>/dev/null
  HC_LOOP_PID=
  e2e_log "client loop $HC_LOOP_N: $(tail -n 1 "$HC_DIR/loop$HC_LOOP_N.log")"
}

# hc_loop_check NAME FROM TO [OPTIONS]: the loop's sessions to NAME started in [FROM, TO).
hc_loop_check() {
  local name=$1 from=$2 to=$3
  shift 3
  python3 "$HC_TOOL" check --results "$HC_LOOP_RESULTS" --target "$name" --from "$from" --to "$to" "$@"
}

# ---- faults ----------------------------------------------------------------------------------

# hc_tree PID: PID and all its descendants, parents first.
hc_tree() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1"); do hc_tree "$c"; done
}

hc_master_pid() {
  local f
  for f in "$1/run/master.pid" "$1/queue/pid/master.pid"; do
    [ -f "$f" ] || continue
    tr -d ' \n' <"$f"
    return 0
  done
  return 1
}

# hc_freeze DIR: SIGSTOP to the peer rooted at DIR, every process of it; they keep their
# sockets, so the kernel still completes handshakes and queues the connections.
hc_freeze() {
  local m pids
  m=$(hc_master_pid "$1") || { echo "no master pid under $1"; return 1; }
  kill -0 "$m" 2>/dev/null || { echo "master $m of $1 is not running"; return 1; }
  mapfile -t pids < <(hc_tree "$m")
  HC_FROZEN+=("${pids[@]}")
  kill -STOP "${pids[@]}" || return 1
  echo "stopped ${#pids[@]} processes of $(basename "$1"): ${pids[*]}"
  ps -o pid=,stat=,args= -p "$(
    IFS=,
    echo "${pids[*]}"
  )" | sed 's/^/  | /'
}

hc_thaw() {
  [ ${#HC_FROZEN[@]} -gt 0 ] || return 0
  kill -CONT "${HC_FROZEN[@]}" 2>/dev/null
  echo "continued ${#HC_FROZEN[@]} processes: ${HC_FROZEN[*]}"
  HC_FROZEN=()
}

# hc_kill DIR: SIGKILL to every process of the peer at once (a crash: its listening sockets
# close at that instant, so new connections are refused from then on).
hc_kill() {
  local m pids
  m=$(hc_master_pid "$1") || { echo "no master pid under $1"; return 1; }
  mapfile -t pids < <(hc_tree "$m")
  kill -KILL "${pids[@]}" || return 1
  echo "killed ${#pids[@]} processes of $(basename "$1"): ${pids[*]}"
}

# hc_listening NS ADDR PORT: something listens there.
hc_listening() {
  ip netns exec "$1" ss -Hltn "src $2:$3" 2>/dev/null | grep -q LISTEN
}

hc_not_listening() {
  ! hc_listening "$@"
}

# ---- the verdict table -----------------------------------------------------------------------

# hc_verdict FAULT LISTENER/SERVER CHECK EXPECTED SEEN CHECK_STATUS VERDICT_AFTER UP_AFTER
hc_verdict() {
  HC_VERDICTS+=("$(printf '%-21s %-14s %-16s %-8s %-6s %-12s %-14s %s' "$@")")
}

hc_table() {
  [ ${#HC_VERDICTS[@]} -gt 0 ] || return 0
  e2e_log "verdicts ($BALANCER):"
  printf '    %-21s %-14s %-16s %-8s %-6s %-12s %-14s %s\n' fault server check expected seen \
    check_status "verdict after" "UP again after"
  printf '    %s\n' "${HC_VERDICTS[@]}"
}

hc_cleanup() {
  hc_thaw >/dev/null
  hc_loop_stop >/dev/null 2>&1
  hc_stamp_stop
}
