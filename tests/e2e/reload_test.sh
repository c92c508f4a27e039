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

TITLE="reload ($BALANCER)"
if ! bal_postern_only "every check: reloading on SIGHUP/SIGUSR2 is Postern's own"; then
  echo "$TITLE: took ${SECONDS}s"
  echo "$TITLE: 0 passed, 0 failed"
  exit 0
fi

REFUSE_MAX_MS=500
SLOW_CHUNK=16384     # bytes L sends every SLOW_INTERVAL seconds
SLOW_INTERVAL=0.1
SLOW_MAX_SECONDS=60  # L gives up (and fails) if the stop file never appears
SLOW_PID=
SLOW_DIR=

cleanup() {
  if [ -n "$SLOW_PID" ]; then
    kill -TERM "$SLOW_PID" 2>/dev/null
    wait "$SLOW_PID" 2>/dev/null
    SLOW_PID=
  fi
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

listen recorder
    bind $VIP:9000
    balance roundrobin
    server r1 $SERVER1:9000 send-proxy-v2
    server r2 $SERVER2:9000 send-proxy-v2
EOF
    if [ -n "$extra" ]; then
      cat <<EOF

listen extra
    bind $VIP:9002
    balance roundrobin
    server x1 $SERVER1:9000 send-proxy-v2
    server x2 $SERVER2:9000 send-proxy-v2
EOF
    fi
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

# The long-lived connection L: a client in NAME-cli that speaks the recorder's protocol (echo
# mode), sends a SLOW_CHUNK every SLOW_INTERVAL until the stop file appears, then half-closes
# and reads the rest of the echo. It keeps "SENT RECEIVED STATE" in a progress file and writes
# one result line in recorder.py's client format, so rec_verify checks it like any other run.
write_slow_client() {
  cat >"$SLOW_DIR/slow_client.py" <<'EOF'
import argparse, hashlib, json, os, random, socket, sys, threading, time

p = argparse.ArgumentParser()
for a in ("--connect", "--id", "--results", "--progress", "--stop"):
    p.add_argument(a, required=True)
p.add_argument("--chunk", type=int, required=True)
p.add_argument("--interval", type=float, required=True)
p.add_argument("--max-seconds", type=float, required=True)
args = p.parse_args()
host, _, port = args.connect.rpartition(":")
rng = random.Random(random.Random(f"{args.id}/send").getrandbits(63))
res = {"id": args.id, "local": None, "remote": args.connect, "mode": "echo", "sent_bytes": 0,
       "recv_bytes": 0, "ok": False, "error": None}
sent_h, recv_h, errors = hashlib.sha256(), hashlib.sha256(), []
started = time.monotonic()


def progress(state):
    with open(args.progress + ".tmp", "w") as f:
        f.write(f"{res['sent_bytes']} {res['recv_bytes']} {state}\n")
    os.replace(args.progress + ".tmp", args.progress)


def reader(sock):
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                return
            recv_h.update(b)
            res["recv_bytes"] += len(b)
    except OSError as e:
        errors.append(f"receive: {type(e).__name__}: {e}")


sock = None
chunks = 0
try:
    sock = socket.create_connection((host, int(port)), timeout=10)
    res["connect_ms"] = round((time.monotonic() - started) * 1000, 2)
    res["local"] = "%s:%d" % sock.getsockname()[:2]
    sock.settimeout(15)
    t = threading.Thread(target=reader, args=(sock,), daemon=True)
    t.start()

    def send(b):
        sock.sendall(b)
        sent_h.update(b)
        res["sent_bytes"] += len(b)

    send(f"RECORDER id={args.id} mode=echo reply=0 seed=0\n".encode())
    progress("open")
    deadline = started + args.max_seconds
    while not os.path.exists(args.stop) and not errors:
        if time.monotonic() > deadline:
            errors.append(f"no stop file within {args.max_seconds:.0f} s")
            break
        send(rng.randbytes(args.chunk))
        chunks += 1
        progress("open")
        time.sleep(args.interval)
    sock.shutdown(socket.SHUT_WR)
    progress("closing")
    t.join(20)
    if t.is_alive():
        errors.append("no end of the echo within 20 s of the half-close")
except OSError as e:
    errors.append(f"{type(e).__name__}: {e}")
res["sent_sha256"], res["recv_sha256"] = sent_h.hexdigest(), recv_h.hexdigest()
res["seconds"] = round(time.monotonic() - started, 3)
if not errors and (res["recv_bytes"], res["recv_sha256"]) != (res["sent_bytes"], res["sent_sha256"]):
    errors.append(f"echo differs: sent {res['sent_bytes']} bytes sha256 {res['sent_sha256'][:16]}, "
                  f"received {res['recv_bytes']} sha256 {res['recv_sha256'][:16]}")
res["ok"] = not errors
res["error"] = "; ".join(errors) or None
progress("done" if res["ok"] else "failed")
with open(args.results, "w") as f:
    f.write(json.dumps(res, sort_keys=True) + "\n")
print(f"slow client {args.id} {res['local']} -> {args.connect}: {chunks} chunks, sent "
      f"{res['sent_bytes']} received {res['recv_bytes']} bytes in {res['seconds']} s: "
      f"{'ok' if res['ok'] else 'FAILED: ' + res['error']}", flush=True)
sys.exit(0 if res["ok"] else 1)
EOF
}

slow_start() {
  SLOW_DIR=$REC_DIR/slow
  mkdir -p "$SLOW_DIR"
  rm -f "$SLOW_DIR/stop" "$SLOW_DIR/progress"
  write_slow_client
  # ip netns exec execs python in place: $! is the client itself.
  ip netns exec "$NS_CLI" python3 "$SLOW_DIR/slow_client.py" --connect "$VIP:9000" --id slow-0 \
    --results "$REC_DIR/slow.jsonl" --progress "$SLOW_DIR/progress" --stop "$SLOW_DIR/stop" \
    --chunk "$SLOW_CHUNK" --interval "$SLOW_INTERVAL" --max-seconds "$SLOW_MAX_SECONDS" \
    </dev/null >"$SLOW_DIR/client.log" 2>&1 &
  SLOW_PID=$!
  e2e_log "long-lived connection L: pid $SLOW_PID, $SLOW_CHUNK bytes every ${SLOW_INTERVAL}s to $VIP:9000"
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

# ---- generation 1: :9000 only ----------------------------------------------------------------

bal_lab_up rl || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
CFG=$BAL_DIR/reload.cfg
write_cfg "$CFG"
bal_start "$CFG" || e2e_abort "no balancer"

e2e_check "gen 1: 2 connections through $VIP:9000, v2 header + bytes verified" works g1a 9000 2
e2e_check "gen 1: $VIP:9002 (no listener) refused within $REFUSE_MAX_MS ms" refused "$VIP:9002"

slow_start
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
