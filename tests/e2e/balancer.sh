# The balancer under test, for the end-to-end tests (bash, sourced after lib.sh): Postern in a
# DPDK lab (the default), or HAProxy in a --kernel lab as the yardstick (E2E_BALANCER=haproxy),
# so every test's own logic can be proven against a known-good balancer first. Both read the
# same haproxy.cfg-style files; for HAProxy the `check` keywords are dropped (its check with
# send-proxy-v2 resets Postfix, PEERS.md) unless BAL_HAPROXY_CHECKS=1 (the health-check tests,
# which keep HAProxy's checks away from Postfix), and Postern-only assertions (its counters)
# are skipped. HAProxy's runtime API listens on BAL_DIR/haproxy.sock (health.sh reads it).
#
#   bal_lab_up PREFIX [OPT...] lab up (name from e2e_lab_name PREFIX), its env sourced; OPT are
#                              more lab.sh options (--router)
#   bal_start CFG...           starts the balancer with dataplane.yaml (Postern) + CFG...; with
#                              BAL_ROUTES more routes in dataplane.yaml (Postern); with
#                              BAL_SKIP_ECHO=1 Postern is not pinged (no traffic to the VIP);
#                              BAL_ADMIN_EXTRA adds keys to its admin section (http, etcd);
#                              BAL_EXTRA_FILES (Postern) adds more -f files after CFG...
#   bal_stop                   stops it (Postern: SIGINT, its final counters to BAL_DIR/final.json)
#   bal_counter PATH           a number from Postern's state JSON, e.g. counters.flows_created,
#                              drops.no_listener, servers.recorder/r1.total
#   bal_wait_counter SECONDS PATH OP VALUE   polls the state file until PATH OP VALUE holds
#   bal_cleanup                bal_stop, lab down; keeps the run directory on failure
# shellcheck shell=bash

BALANCER=${E2E_BALANCER:-postern}
case "$BALANCER" in
postern | haproxy) ;;
*)
  echo "E2E_BALANCER must be postern or haproxy, not '$BALANCER'" >&2
  exit 2
  ;;
esac
POSTERN_BIN=${POSTERN_BUILD_DIR:-$E2E_ROOT/build}/postern
BAL_PID=
BAL_DIR=
BAL_LAB_UP=0
E2E_ARTIFACTS=${E2E_ARTIFACTS:-/tmp/postern-e2e}

# bal_lab_up PREFIX [LAB_OPTION...]: the lab for this balancer; sets LAB_NAME and sources the
# lab's env file.
bal_lab_up() {
  LAB_NAME=$(e2e_lab_name "$1")
  shift
  local mode=() lab_opts=("$@")
  [ "$BALANCER" = postern ] || mode=(--kernel)
  if [ "$BALANCER" = postern ] && [ ! -x "$POSTERN_BIN" ]; then
    e2e_fail "postern binary: $POSTERN_BIN missing (set POSTERN_BUILD_DIR, or build it)"
    return 1
  fi
  BAL_LAB_UP=1
  e2e_check "lab $LAB_NAME up (${mode[*]:-dpdk}${lab_opts[*]:+ ${lab_opts[*]}})" \
    "$E2E_ROOT/scripts/lab.sh" up "$LAB_NAME" "${mode[@]}" "${lab_opts[@]}" || return 1
  # shellcheck source=/dev/null
  source "/run/postern-lab/$LAB_NAME.env"
  BAL_DIR=$LAB_RUN_DIR/balancer
  mkdir -p "$BAL_DIR"
}

# The lab's dataplane.yaml with this lab's state file and EAL file prefix; a lab with a router
# (lab.sh --router) also gets the route back to the clients' subnet behind it, and BAL_ROUTES
# (YAML flow items, e.g. "{to: 100.64.0.0/10, via: 198.18.0.2}") more routes.
bal_dataplane_yaml() {
  local route=() routes=${BAL_ROUTES:-}
  if [ "${LAB_ROUTER:-0}" = 1 ]; then
    routes="{to: $CLIENT_NET, via: $ROUTER_ADDR}${routes:+, $routes}"
  fi
  if [ -n "$routes" ]; then
    route=(-e "s#^\(  \)vips:#\1routes: [$routes]\n&#")
  fi
  sed -e "s#^\( *state_file:\).*#\1 $BAL_DIR/state.json#" \
    -e "s#\"postern-pt\"#\"postern-$LAB_NAME\"#" "${route[@]}" \
    "$E2E_ROOT/examples/lab/dataplane.yaml" >"$BAL_DIR/dataplane.yaml"
  grep -q "state_file: $BAL_DIR/state.json" "$BAL_DIR/dataplane.yaml" || return 1
  # BAL_ADMIN_EXTRA: more keys for the admin section (the file's last), indented two spaces.
  [ -z "${BAL_ADMIN_EXTRA:-}" ] || printf '%s\n' "$BAL_ADMIN_EXTRA" >>"$BAL_DIR/dataplane.yaml"
  [ "${LAB_ROUTER:-0}" != 1 ] || grep -q "^  routes: \[{to: $CLIENT_NET, via: $ROUTER_ADDR}" "$BAL_DIR/dataplane.yaml" || return 1
  [ -z "${BAL_ROUTES:-}" ] || grep -qF "$BAL_ROUTES]" "$BAL_DIR/dataplane.yaml"
}

# HAProxy stands in with the same listeners: no health checks (BAL_HAPROXY_CHECKS=1 keeps
# them), and one global section with the runtime API's socket.
bal_haproxy_cfg() {
  local keep='/^[[:space:]]*server[[:space:]]/ s/[[:space:]]check([[:space:]]|$)/\1/g'
  [ "${BAL_HAPROXY_CHECKS:-0}" != 1 ] || keep=
  {
    printf 'global\n    maxconn 4000\n    stats socket %s/haproxy.sock mode 600 level admin\n\n' "$BAL_DIR"
    for f in "$@"; do
      sed -E -e "$keep" "$f"
      echo
    done
  } >"$BAL_DIR/haproxy.cfg"
}

bal_postern_up() {
  local deadline=$((SECONDS + 30))
  until grep -q 'dataplane running' "$BAL_DIR/postern.err" 2>/dev/null; do
    if ! kill -0 "$BAL_PID" 2>/dev/null; then
      echo "postern exited before the dataplane ran:"
      tail -n 30 "$BAL_DIR/postern.err" | sed 's/^/  | /'
      BAL_PID=
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "no 'dataplane running' within 30 s:"
      tail -n 30 "$BAL_DIR/postern.err" | sed 's/^/  | /'
      return 1
    fi
    sleep 0.1
  done
  grep 'dataplane running' "$BAL_DIR/postern.err"
}

# Postern answers ARP and ICMP echo for the VIP itself: one echo reply from the client side
# proves the client port is polled; the server side resolves the servers on the first SYN.
# (scripts/peers/ping.py: iputils-ping is not among the lab's packages.)
bal_vip_answers() {
  for _ in $(seq 1 20); do
    ip netns exec "$NS_CLI" python3 "$E2E_ROOT/scripts/peers/ping.py" -q --timeout 0.5 "$VIP" && return 0
    kill -0 "$BAL_PID" 2>/dev/null || { echo "postern died"; return 1; }
  done
  echo "no echo reply from $VIP to 20 requests (10 s)"
  ip netns exec "$NS_CLI" ip neigh show | sed 's/^/  | /'
  return 1
}

# bal_start CFG...: the balancer up and answering on the VIP, as checks.
bal_start() {
  if [ "$BALANCER" = haproxy ]; then
    bal_haproxy_cfg "$@"
    e2e_check "haproxy (stand-in) in $NS_DP with $*" \
      "$E2E_ROOT/scripts/peers/haproxy.sh" start "$BAL_DIR" "$NS_DP" "$BAL_DIR/haproxy.cfg" || return 1
    BAL_PID=$(cat "$BAL_DIR/haproxy.pid")
    return 0
  fi
  e2e_check "dataplane.yaml for lab $LAB_NAME" bal_dataplane_yaml || return 1
  local args=(-f "$BAL_DIR/dataplane.yaml") f
  for f in "$@" ${BAL_EXTRA_FILES:-}; do args+=(-f "$f"); done
  # ip netns exec execs postern in place: $! is postern itself.
  ip netns exec "$NS_DP" "$POSTERN_BIN" "${args[@]}" </dev/null >"$BAL_DIR/postern.out" 2>"$BAL_DIR/postern.err" &
  BAL_PID=$!
  e2e_log "postern pid $BAL_PID: $POSTERN_BIN ${args[*]}"
  e2e_check "postern dataplane running" bal_postern_up || return 1
  [ -z "${BAL_SKIP_ECHO:-}" ] || return 0
  e2e_check "postern answers ICMP echo on $VIP (ARP resolved)" bal_vip_answers || return 1
}

bal_stop() {
  [ -n "$BAL_PID" ] || return 0
  if [ "$BALANCER" = haproxy ]; then
    "$E2E_ROOT/scripts/peers/haproxy.sh" stop "$BAL_DIR" >/dev/null 2>&1
    BAL_PID=
    return 0
  fi
  # Every connection of the test is over by now: each one Postern opened must have been closed
  # (FINs both ways, or a RST it believed), none left to its idle timeout. Set
  # BAL_OPEN_FLOWS_AT_STOP=1 before stopping on purpose with connections open.
  if [ "${BAL_OPEN_FLOWS_AT_STOP:-0}" != 1 ]; then
    e2e_check "postern: active_flows back to 0 before it stops" \
      bal_wait_counter 10 counters.active_flows -eq 0
  fi
  kill -INT "$BAL_PID" 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 "$BAL_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$BAL_PID" 2>/dev/null; then
    e2e_log "postern $BAL_PID did not stop within 10 s of SIGINT; killing it" >&2
    kill -KILL "$BAL_PID" 2>/dev/null
  fi
  wait "$BAL_PID" 2>/dev/null
  BAL_PID=
  # The summary it prints on stderr when it stops: from the first line that opens the JSON.
  sed -n '/^{/,$p' "$BAL_DIR/postern.err" >"$BAL_DIR/final.json" 2>/dev/null
  [ -s "$BAL_DIR/final.json" ] || rm -f "$BAL_DIR/final.json"
}

# bal_counter PATH [FILE]: prints the number at PATH (dots; servers.NAME.FIELD looks a server
# up by name) in Postern's state JSON (default: the state file, or final.json once stopped).
bal_counter() {
  local path=$1 file=${2:-}
  if [ -z "$file" ]; then
    file=$BAL_DIR/state.json
    [ -n "$BAL_PID" ] || [ ! -s "$BAL_DIR/final.json" ] || file=$BAL_DIR/final.json
  fi
  python3 - "$file" "$path" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"cannot read {sys.argv[1]}: {e}")
parts = sys.argv[2].split(".")
if parts[0] == "servers":
    name, field = ".".join(parts[1:-1]), parts[-1]
    for s in d.get("servers", []):
        if s.get("name") == name:
            print(s.get(field, 0)); break
    else:
        sys.exit(f"no server {name!r} in {sys.argv[1]}")
else:
    v = d
    for p in parts:
        v = v[p]
    print(v)
EOF
}

# num_cmp A OP B: test(1)'s integer comparison, OP one of -eq -ne -lt -le -gt -ge.
num_cmp() {
  case $2 in
  -eq | -ne | -lt | -le | -gt | -ge) test "$1" "$2" "$3" ;;
  *) return 2 ;;
  esac
}

# bal_wait_counter SECONDS PATH OP VALUE: waits until the state file shows PATH OP VALUE
# (OP: -ge -gt -eq ...); the file is rewritten every second. Prints the last value seen.
bal_wait_counter() {
  local limit=$1 path=$2 op=$3 want=$4 v deadline
  deadline=$((SECONDS + limit))
  while :; do
    v=$(bal_counter "$path" 2>/dev/null)
    if [ -n "$v" ] && num_cmp "$v" "$op" "$want"; then
      echo "$path = $v"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.3
  done
  echo "$path = ${v:-(unreadable)}, expected $op $want within ${limit}s"
  return 1
}

# Postern's counters, for the log of a failed run.
bal_show_state() {
  local f=$BAL_DIR/final.json
  [ -s "$f" ] || f=$BAL_DIR/state.json
  [ -s "$f" ] || return 0
  e2e_log "postern counters ($f), non-zero:"
  python3 - "$f" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for sect in ("counters", "drops"):
    print("    " + sect + ": " + ", ".join(f"{k}={v}" for k, v in d.get(sect, {}).items() if v))
print("    servers: " + ", ".join(f"{s['name']} active={s['active']} total={s['total']}" for s in d.get("servers", [])))
EOF
}

# bal_cleanup: stops the balancer, keeps the run directory under E2E_ARTIFACTS when a check
# failed (lab.sh down removes it), then removes the lab.
bal_cleanup() {
  bal_stop
  [ "$BAL_LAB_UP" -eq 1 ] || return 0
  if [ "$E2E_FAILED" -gt 0 ] && [ -n "${LAB_RUN_DIR:-}" ] && [ -d "$LAB_RUN_DIR" ]; then
    [ "$BALANCER" != postern ] || bal_show_state
    local keep
    keep=$E2E_ARTIFACTS/$(basename "$0" .sh).$LAB_NAME
    rm -rf "$keep"
    mkdir -p "$keep" && cp -a "$LAB_RUN_DIR/." "$keep/" 2>/dev/null
    e2e_log "logs of the failed run kept in $keep" >&2
  fi
  "$E2E_ROOT/scripts/lab.sh" down "$LAB_NAME" >/dev/null
  BAL_LAB_UP=0
}

# bal_postern_only: true with Postern; with HAProxy logs that a Postern-only check is skipped.
bal_postern_only() {
  [ "$BALANCER" = postern ] && return 0
  e2e_log "skip (haproxy stand-in): $*"
  return 1
}

# bal_listen NAME BIND PREFIX PORT: a haproxy.cfg `listen` section balancing BIND round-robin
# over PREFIX1 at SERVER1:PORT and PREFIX2 at SERVER2:PORT, both with send-proxy-v2 (the shape
# of most listeners the tests write), preceded by a blank line.
bal_listen() {
  printf '\nlisten %s\n    bind %s\n    balance roundrobin\n' "$1" "$2"
  printf '    server %s1 %s:%s send-proxy-v2\n    server %s2 %s:%s send-proxy-v2\n' \
    "$3" "$SERVER1" "$4" "$3" "$SERVER2" "$4"
}
