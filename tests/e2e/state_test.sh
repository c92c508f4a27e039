#!/usr/bin/env bash
# Backend state for people and for the cluster layer: the status page at / (read by a real
# headless browser), /v1/state, admin.state_file, and etcd (a real etcd, Debian's etcd-server,
# reached through its v3 JSON gateway). Two servers behind one listener, both checked
# (`check inter 1s fall 2 rise 2`): r1 is the recorder (recorder.py), r2 a socat sink that can
# be stopped. etcd runs in the lab's dataplane namespace on its own loopback ports, with its
# data directory in the run directory; Postern's admin.http listens there too.
#
#   1. keys appear: PREFIX/NODE/state (the whole document) and PREFIX/NODE/servers/mail/r1, r2,
#      both UP; the state file, /v1/state and etcd's state key tell the same story (node,
#      generation, config hash, every server's address, state and check)
#   2. the status page in chromium (--dump-dom) shows both servers UP in HAProxy's colours;
#      a screenshot goes to the test's output directory (logged), never into git
#   3. r2 stopped: etcd's r2 key, the state file, /v1/state and the page say DOWN (L4CON)
#   4. r1 drained through the runtime API (admin.socket): DRAIN in etcd, the file, /v1/state
#      and the page (active_draining), then ready again; skipped when the build has no
#      runtime API
#   4b. a reload renames the node (admin.etcd.node): the old node's keys go at once (its lease
#      revoked), the new node's keys appear, generation 2 everywhere
#   5. etcd frozen (SIGSTOP: its port accepts, nothing answers), then killed: Postern keeps
#      serving (20 connections through r1, each verified by the recorder), logs etcd as
#      unreachable; r2 started again meanwhile and seen UP in the state file; etcd started
#      again with an empty data dir: the keys come back, r2 UP, and the
#      counts in the state file, /v1/state and etcd match what was sent (20 connections through
#      r1; where the dataplane counts bytes per server, the bytes the recorder got and sent)
#   6. Postern killed with SIGKILL: its keys vanish once the lease's TTL (5 s) expires
#
# Postern only: HAProxy has neither etcd publishing nor this JSON (with E2E_BALANCER=haproxy
# the script is a no-op pass).
#
# Usage: tests/e2e/state_test.sh   (root; POSTERN_BUILD_DIR, LAB as in splice_bytes_test.sh;
#        E2E_ARTIFACTS for the screenshots, default /tmp/postern-e2e)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="state, status page and etcd ($BALANCER)"
if ! bal_postern_only "every check: the state file, /v1/state, the status page and etcd are Postern's own"; then
  echo "$TITLE: took ${SECONDS}s"
  echo "$TITLE: 0 passed, 0 failed"
  exit 0
fi

for tool in etcd etcdctl chromium socat curl; do
  command -v "$tool" >/dev/null || {
    echo "$TITLE: $tool missing (scripts/setup.sh installs it)" >&2
    exit 1
  }
done

ADMIN=127.0.0.1:18404
SOCK=
ETCD_CLIENT=127.0.0.1:23791
ETCD_PEER=127.0.0.1:23801
PREFIX=/postern
TTL_S=5
CONNS=20
SEND_BYTES=16384
ETCD_PID=
SINK_PID=

etcd_stop() {
  [ -n "$ETCD_PID" ] || return 0
  kill -TERM "$ETCD_PID" 2>/dev/null
  kill -CONT "$ETCD_PID" 2>/dev/null # a frozen one must run to take the TERM
  for _ in $(seq 1 50); do
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$ETCD_PID" 2>/dev/null
  wait "$ETCD_PID" 2>/dev/null
  ETCD_PID=
}

sink_stop() {
  [ -n "$SINK_PID" ] || return 0
  kill -TERM "$SINK_PID" 2>/dev/null
  wait "$SINK_PID" 2>/dev/null
  SINK_PID=
}

cleanup() {
  sink_stop
  rec_stop
  bal_cleanup
  etcd_stop
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 300

bal_lab_up st || e2e_abort "no lab"
NODE=lab-$LAB_NAME
OUT=$E2E_ARTIFACTS/state_test.$LAB_NAME
rm -rf "$OUT"
mkdir -p "$OUT"
e2e_log "screenshots and page dumps go to $OUT"
ETCD_DIR=$LAB_RUN_DIR/etcd
SOCK=$LAB_RUN_DIR/admin.sock

# ---- helpers ---------------------------------------------------------------------------------

# etcd_start: a one-member etcd in the dataplane namespace, on loopback ports of its own, with
# an empty data directory.
etcd_up() {
  ip netns exec "$NS_DP" env ETCDCTL_API=3 etcdctl --endpoints="http://$ETCD_CLIENT" \
    --dial-timeout=1s --command-timeout=2s endpoint health
}
etcd_start() {
  rm -rf "$ETCD_DIR"
  mkdir -p "$ETCD_DIR"
  ip netns exec "$NS_DP" etcd --name st --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
    --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
    --initial-cluster "st=http://$ETCD_PEER" --log-outputs stderr \
    </dev/null >>"$LAB_RUN_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  e2e_log "etcd pid $ETCD_PID on $ETCD_CLIENT, data in $ETCD_DIR"
  e2e_wait 30 etcd_up
}

etcdctl_get() {
  ip netns exec "$NS_DP" env ETCDCTL_API=3 etcdctl --endpoints="http://$ETCD_CLIENT" \
    --dial-timeout=2s --command-timeout=5s get "$@"
}

# etcd_keys: this node's keys, one a line.
etcd_keys() {
  etcdctl_get --prefix "$PREFIX/$NODE/" --keys-only | sed '/^$/d'
}

# etcd_value KEY: the value at KEY.
etcd_value() {
  etcdctl_get "$1" --print-value-only
}

# server_key_state NAME WANT: etcd's key for server NAME says state WANT.
server_key_state() {
  local v
  v=$(etcd_value "$PREFIX/$NODE/servers/mail/$1") || return 1
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(d["state"] != sys.argv[2])' "$v" "$2"
}

v1_state() {
  ip netns exec "$NS_DP" curl -sf --max-time 5 "http://$ADMIN/v1/state"
}

# file_state NAME WANT [FILE]: the state file's (or FILE's) listeners[].servers[] entry for
# NAME says WANT.
file_state() {
  python3 - "${3:-$BAL_DIR/state.json}" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s = [s for l in d["listeners"] for s in l["servers"] if s["name"] == sys.argv[2]]
sys.exit(not s or s[0]["state"] != sys.argv[3])
EOF
}

# agree: the state file, /v1/state and etcd's state key describe the same node, configuration
# and servers (states, addresses, checks, weights); with COUNT, the same connection counts too,
# r1's total being COUNT. Prints what it compared.
agree() {
  local count=${1:-} api etcd
  api=$(v1_state) || { echo "no /v1/state"; return 1; }
  etcd=$(etcd_value "$PREFIX/$NODE/state") || { echo "no state key in etcd"; return 1; }
  python3 - "$BAL_DIR/state.json" "$api" "$etcd" "$NODE" "$count" "$(recorded during-outage)" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
api = json.loads(sys.argv[2])
etcd = json.loads(sys.argv[3])
node, count = sys.argv[4], sys.argv[5]
def states(d):
    return {(l["name"], s["name"]): (s["address"], s["state"], s["status"], s["weight"],
                                     s.get("check", {}).get("status"))
            for l in d["listeners"] for s in l["servers"]}
ok = True
for name, d in (("file", f), ("/v1/state", api), ("etcd", etcd)):
    print(f"{name}: node {d['node']} generation {d['generation']} config {d['config_hash']} "
          f"servers {states(d)}")
    if d["node"] != node:
        print(f"  {name}: node {d['node']!r}, expected {node!r}"); ok = False
    for key in ("generation", "config_hash", "node"):
        if d[key] != f[key]:
            print(f"  {name}: {key} differs from the file's"); ok = False
    if states(d) != states(f):
        print(f"  {name}: server states differ from the file's"); ok = False
    if count:
        totals = {s["name"]: (s["active"], s["total"]) for l in d["listeners"] for s in l["servers"]}
        if totals.get("r1") != (0, int(count)) or totals.get("r2", (0, 0))[1] != 0:
            print(f"  {name}: connections {totals}, expected r1 0 open {count} in all, r2 none"); ok = False
        # Payload bytes, where the dataplane counts them per server: what the recorder got
        # from the clients and sent back (the PROXY header is Postern's, not counted).
        r1 = [s for l in d["listeners"] for s in l["servers"] if s["name"] == "r1"][0]
        want = tuple(int(x) for x in sys.argv[6].split())
        if "bytes_in" in r1 and (r1["bytes_in"], r1["bytes_out"]) != want:
            print(f"  {name}: r1 bytes in/out {r1['bytes_in']}/{r1['bytes_out']}, the recorder's {want}"); ok = False
sys.exit(not ok)
EOF
}

# recorded RUN: "RECEIVED SENT", the bytes the recorder got from RUN's clients and sent back.
recorded() {
  [ -s "${REC_DIR:-}/server.jsonl" ] || { echo "0 0"; return 0; }
  python3 - "$REC_DIR/server.jsonl" "$1" <<'EOF'
import json, sys
rb = sb = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("id") or "").startswith(sys.argv[2] + "-"):
        rb += r["recv_bytes"]; sb += r["sent_bytes"]
print(rb, sb)
EOF
}

# page NAME: chromium loads the status page; its DOM to OUT/NAME.html, a screenshot to
# OUT/NAME.png.
page() {
  local name=$1 url="http://$ADMIN/"
  local profile=$LAB_RUN_DIR/chromium
  mkdir -p "$profile"
  ip netns exec "$NS_DP" env HOME="$profile" timeout 120 chromium --headless --no-sandbox \
    --disable-gpu --disable-dev-shm-usage --user-data-dir="$profile" --window-size=1300,900 \
    --screenshot="$OUT/$name.png" "$url" >"$OUT/$name.chromium.log" 2>&1 || return 1
  ip netns exec "$NS_DP" env HOME="$profile" timeout 120 chromium --headless --no-sandbox \
    --disable-gpu --disable-dev-shm-usage --user-data-dir="$profile" --dump-dom "$url" \
    >"$OUT/$name.html" 2>>"$OUT/$name.chromium.log" || return 1
  [ -s "$OUT/$name.png" ] && [ -s "$OUT/$name.html" ]
}

# page_shows FILE NAME=STATE/CLASS...: the DOM has, for every server NAME, a row of class CLASS
# whose status cell starts with STATE.
page_shows() {
  local file=$1
  shift
  python3 - "$file" "$@" <<'EOF'
import re, sys
html = open(sys.argv[1]).read()
rows = {}
for m in re.finditer(r'<tr class="server ([a-z_]+)"><td class="name">([^<]*)</td>(.*?)</tr>', html, re.S):
    st = re.search(r'<td class="st">([^<]*)</td>', m.group(3))
    rows[m.group(2)] = (m.group(1), st.group(1) if st else None)
print("rows:", rows)
ok = True
for want in sys.argv[2:]:
    name, rest = want.split("=")
    state, cls = rest.split("/")
    got = rows.get(name)
    if not got or got[0] != cls or not (got[1] or "").startswith(state):
        print(f"  {name}: {got}, expected {state} in a row of class {cls}"); ok = False
sys.exit(not ok)
EOF
}

sink_start() {
  ip netns exec "$NS_SRV" socat -u "TCP-LISTEN:9000,bind=$SERVER2,reuseaddr,fork" OPEN:/dev/null \
    </dev/null >/dev/null 2>&1 &
  SINK_PID=$!
}

# ---- set-up ----------------------------------------------------------------------------------

e2e_check "etcd $(etcd --version | head -1 | awk '{print $3}') up on $ETCD_CLIENT (empty data dir)" \
  etcd_start || e2e_abort "no etcd"
e2e_check "recorder r1 on $SERVER1:9000" rec_start "$SERVER1:9000" || e2e_abort "no recorder"
sink_start
e2e_check "socat sink r2 on $SERVER2:9000" e2e_wait 10 \
  ip netns exec "$NS_SRV" sh -c "ss -ltn | grep -q '$SERVER2:9000'"

cat >"$LAB_RUN_DIR/state.cfg" <<EOF
# Written by tests/e2e/state_test.sh.
defaults
    mode tcp
    retries 3
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout check 1s

listen mail
    bind $VIP:9000
    balance roundrobin
    server r1 $SERVER1:9000 send-proxy-v2 check inter 1s fall 2 rise 2
    server r2 $SERVER2:9000 send-proxy-v2 check inter 1s fall 2 rise 2
EOF
# shellcheck disable=SC2034 # read by bal_start (balancer.sh)
BAL_ADMIN_EXTRA="  http: $ADMIN
  socket: $SOCK
  etcd:
    endpoints: [\"http://$ETCD_CLIENT\"]
    prefix: $PREFIX
    node: $NODE
    ttl: ${TTL_S}s
    refresh: 1s"
bal_start "$LAB_RUN_DIR/state.cfg" || e2e_abort "postern did not start"

# ---- 1. keys appear, three views agree --------------------------------------------------------

keys_are() {
  local want got
  want=$(printf '%s\n' "$PREFIX/$NODE/servers/mail/r1" "$PREFIX/$NODE/servers/mail/r2" "$PREFIX/$NODE/state" | sort)
  got=$(etcd_keys | sort)
  echo "keys: $(tr '\n' ' ' <<<"$got")"
  [ "$got" = "$want" ]
}
e2e_check "etcd: $PREFIX/$NODE/state and servers/mail/r1, r2 appear" e2e_wait 30 keys_are || keys_are
both_up() {
  server_key_state r1 UP && server_key_state r2 UP
}
e2e_check "etcd: r1 and r2 UP" e2e_wait 20 both_up
# etcdctl -w json prints the key's lease (0: none) and the lease's TTL as granted.
on_lease() {
  local lease
  lease=$(etcdctl_get "$PREFIX/$NODE/state" -w json |
    python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["kvs"][0].get("lease", 0))')
  echo "lease $lease"
  [ "$lease" != 0 ] &&
    ip netns exec "$NS_DP" env ETCDCTL_API=3 etcdctl --endpoints="http://$ETCD_CLIENT" \
      lease timetolive "$lease" | grep -E "granted with TTL\($TTL_S""s\)"
}
e2e_check "the keys hang on a lease granted with a ${TTL_S} s TTL" on_lease
e2e_check "state file, /v1/state and etcd agree (node, generation, config hash, servers)" \
  e2e_wait 15 agree || agree

# ---- 2. the status page in a real browser -----------------------------------------------------

e2e_check "chromium loads / (screenshot $OUT/up.png)" page up
e2e_check "the page shows r1 and r2 UP in HAProxy's active_up colour" \
  page_shows "$OUT/up.html" r1=UP/active_up r2=UP/active_up
self_contained() {
  grep -q 'http-equiv="refresh"' "$1" && ! grep -Eq '(src|href)="(https?:)?//' "$1"
}
e2e_check "the page refreshes itself and loads nothing from elsewhere" self_contained "$OUT/up.html"

# ---- 3. r2 stopped: DOWN everywhere -----------------------------------------------------------

sink_stop
e2e_log "r2 (socat pid) stopped"
e2e_check "etcd: r2 DOWN" e2e_wait 20 server_key_state r2 DOWN
e2e_check "state file: r2 DOWN" e2e_wait 10 file_state r2 DOWN
r2_refused() {
  etcd_value "$PREFIX/$NODE/servers/mail/r2" | grep -q '"L4CON"' && server_key_state r1 UP
}
e2e_check "etcd: r2's check L4CON, r1 still UP" r2_refused
e2e_check "state file, /v1/state and etcd agree on r2 DOWN" e2e_wait 15 agree || agree
e2e_check "chromium loads / again (screenshot $OUT/r2-down.png)" page r2-down
e2e_check "the page shows r1 UP and r2 DOWN (active_down)" \
  page_shows "$OUT/r2-down.html" r1=UP/active_up r2=DOWN/active_down

# ---- 4. drain ---------------------------------------------------------------------------------

# The runtime API (admin.socket, HAProxy's CLI) lives on another branch of issue 8: with it,
# `set server mail/r1 state drain` must show DRAIN everywhere; without it, skipped.
cli() {
  printf '%s\n' "$1" | ip netns exec "$NS_DP" socat -t 5 - "UNIX-CONNECT:$SOCK"
}
if [ -S "$SOCK" ]; then
  e2e_check "runtime API: set server mail/r1 state drain" cli "set server mail/r1 state drain"
  e2e_check "etcd: r1 DRAIN" e2e_wait 10 server_key_state r1 DRAIN
  e2e_check "state file: r1 DRAIN" e2e_wait 10 file_state r1 DRAIN
  e2e_check "state file, /v1/state and etcd agree on r1 DRAIN" e2e_wait 15 agree || agree
  e2e_check "chromium loads / (screenshot $OUT/r1-drain.png)" page r1-drain
  e2e_check "the page shows r1 DRAIN (active_draining)" \
    page_shows "$OUT/r1-drain.html" r1=DRAIN/active_draining r2=DOWN/active_down
  e2e_check "runtime API: set server mail/r1 state ready" cli "set server mail/r1 state ready"
  e2e_check "etcd: r1 UP again" e2e_wait 10 server_key_state r1 UP
else
  e2e_log "skip: drain through the runtime API: no admin.socket at $SOCK (not in this build)"
fi

# ---- 4b. a reload renames the node: the old keys go with their lease, the new ones appear ------

OLD_NODE=$NODE
sed -i "s#^\( *node:\) $OLD_NODE\$#\1 $OLD_NODE-b#" "$BAL_DIR/dataplane.yaml"
NODE=$OLD_NODE-b
ERR_MARK=$(e2e_size "$BAL_DIR/postern.err")
kill -HUP "$BAL_PID"
e2e_check "SIGHUP with admin.etcd.node $NODE: reloaded" \
  e2e_wait_grep 20 'reloaded: generation 2' "$BAL_DIR/postern.err" "$ERR_MARK"
old_keys_gone() {
  [ -z "$(etcdctl_get --prefix "$PREFIX/$OLD_NODE/" --keys-only | sed '/^$/d')" ]
}
e2e_check "etcd: $PREFIX/$OLD_NODE/ emptied (its lease revoked)" e2e_wait 20 old_keys_gone
e2e_check "etcd: $PREFIX/$NODE/state and servers/mail/r1, r2 appear" e2e_wait 20 keys_are || keys_are
e2e_check "state file, /v1/state and etcd agree on node $NODE, generation 2" e2e_wait 15 agree || agree

# ---- 5. etcd outage ---------------------------------------------------------------------------

ERR_MARK=$(e2e_size "$BAL_DIR/postern.err")
# Frozen first: the worst kind of outage, connections accepted by the kernel and never
# answered, so every request runs into its timeout.
kill -STOP "$ETCD_PID"
e2e_log "etcd frozen (SIGSTOP): its port accepts, nothing answers"
e2e_check "postern logs etcd as unreachable" \
  e2e_wait_grep 20 'etcd: .* unreachable' "$BAL_DIR/postern.err" "$ERR_MARK"
traffic() {
  rec_run during-outage --connect "$VIP:9000" --conns "$CONNS" --parallel 5 --send "$SEND_BYTES" \
    --timeout 20 --connect-timeout 10 || return 1
  rec_verify during-outage --expect-proxy v2 --servers "$SERVER1:9000"
}
e2e_check "$CONNS connections through Postern while etcd is down, every byte to r1 and back" traffic
e2e_check "/v1/state still answers" v1_state
sink_start
r2_up_locally() {
  file_state r2 UP && v1_state >"$LAB_RUN_DIR/v1-state.json" &&
    file_state r2 UP "$LAB_RUN_DIR/v1-state.json"
}
e2e_check "r2 back: checks, the state file and /v1/state go on (r2 UP) while etcd hangs" \
  e2e_wait 20 r2_up_locally
kill -KILL "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
ETCD_PID=
e2e_log "etcd killed (SIGKILL while frozen)"
e2e_check "etcd started again with an empty data dir" etcd_start
e2e_check "etcd: the keys come back" e2e_wait 30 keys_are || keys_are
e2e_check "etcd: r2 UP again" e2e_wait 20 server_key_state r2 UP
e2e_check "postern logs that etcd answers again" \
  e2e_wait_grep 20 'etcd: .* answers again' "$BAL_DIR/postern.err" "$ERR_MARK"
e2e_check "state file, /v1/state and etcd agree, with r1's $CONNS connections and the recorder's bytes" \
  e2e_wait 20 agree "$CONNS" || agree "$CONNS"

# ---- 6. SIGKILL: the keys vanish with the lease -----------------------------------------------

kill -KILL "$BAL_PID"
wait "$BAL_PID" 2>/dev/null
BAL_PID=
e2e_log "postern SIGKILLed; keys now: $(etcd_keys | wc -l)"
no_keys() {
  [ -z "$(etcd_keys)" ]
}
e2e_check "etcd: every key of $NODE gone once the lease expired (TTL ${TTL_S} s)" \
  e2e_wait $((TTL_S + 20)) no_keys
