#!/usr/bin/env bash
# Postern in front of a small mail cluster, on one machine: installs what it needs
# (scripts/setup.sh), builds build/postern, brings up the network-namespace lab
# (scripts/lab.sh), starts two Dovecots (IMAP, POP3, LMTP, ManageSieve) and two Postfixes
# (submission) in the server namespace, runs Postern with the Dovecot Palomar sample
# configuration (examples/lab/palomar-lab.cfg), then speaks every protocol from the client
# namespace and shows, per connection, which server Postern chose and which client address
# that server logged: the client's own, carried by Postern's PROXY v2 header.
#
# Usage: sudo scripts/demo.sh [--keep] [--name NAME] [--no-build]
#   --keep      leave the lab, the servers and Postern running, and print how to look around
#   --name      lab name (default pt, the name examples/lab/dataplane.yaml is written for)
#   --no-build  skip setup.sh and the build (build/postern must exist)
# POSTERN_BUILD_DIR=DIR runs DIR/postern instead of build/postern (with --no-build).
# Exits non-zero if any step fails; cleans up after itself unless --keep.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

keep=0 name=pt build=1
while [ $# -gt 0 ]; do
  case "$1" in
  --keep) keep=1 ;;
  --no-build) build=0 ;;
  --name)
    [ $# -ge 2 ] || { echo "demo.sh: --name needs a value" >&2; exit 2; }
    name=$2
    shift
    ;;
  -h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: demo.sh [--keep] [--name NAME] [--no-build]" >&2
    exit 2
    ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (network namespaces, packages)" >&2; exit 1; }

peers=$top/scripts/peers
build_dir=${POSTERN_BUILD_DIR:-build}
bin=$build_dir/postern
client=$peers/mailclient.py
upstream_client=203.0.113.7:4444 # who the submission client's own PROXY header says it serves
postern_pid=
cleaned=0

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() {
  printf '\ndemo.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

stop_postern() {
  [ -n "$postern_pid" ] || return 0
  kill -INT "$postern_pid" 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 "$postern_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$postern_pid" 2>/dev/null
  postern_pid=
}

cleanup() {
  local rc=$?
  [ "$cleaned" -eq 0 ] || return 0
  cleaned=1
  if [ "$keep" -eq 1 ] && [ "$rc" -eq 0 ]; then
    return 0
  fi
  if [ "$rc" -ne 0 ] && [ -n "${run:-}" ] && [ -f "${run}/postern.log" ]; then
    say "--- last lines of Postern's log ($run/postern.log):" >&2
    tail -n 15 "$run/postern.log" >&2
  fi
  stop_postern
  local pids=() d
  for d in dc1 dc2; do "$peers/dovecot.sh" stop "${run:-/nonexistent}/$d" & pids+=($!); done
  for d in pf1 pf2; do "$peers/postfix.sh" stop "${run:-/nonexistent}/$d" & pids+=($!); done
  wait "${pids[@]}"
  scripts/lab.sh down "$name" >/dev/null 2>&1
  [ "$rc" -eq 0 ] && say "" && say "demo: everything stopped, lab $name removed."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- setup and build -------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
  step "packages (scripts/setup.sh)"
  bash scripts/setup.sh || die "setup.sh failed"
  step "build (cmake -S . -B build && cmake --build build -j$(nproc))"
  mkdir -p build
  started=$SECONDS
  if ! { cmake -S . -B build && cmake --build build -j"$(nproc)"; } >build/demo-build.log 2>&1; then
    tail -n 40 build/demo-build.log >&2
    die "the build failed (full output in build/demo-build.log)"
  fi
  say "built in $((SECONDS - started)) s (output in build/demo-build.log)"
fi
[ -x "$bin" ] || die "$bin missing (run without --no-build)"

# ---- the lab and the servers -----------------------------------------------------------------
step "lab $name (scripts/lab.sh up $name)"
scripts/lab.sh up "$name" || die "lab.sh up failed"
# shellcheck source=/dev/null
source "/run/postern-lab/$name.env"
run=$LAB_RUN_DIR

step "mail servers in $NS_SRV"
"$peers/dovecot.sh" start "$run/dc1" "$NS_SRV" "$SERVER1" "$SOURCE_ADDR/32" || die "dovecot dc1"
"$peers/dovecot.sh" start "$run/dc2" "$NS_SRV" "$SERVER2" "$SOURCE_ADDR/32" || die "dovecot dc2"
"$peers/postfix.sh" start "$run/pf1" "$NS_SRV" "$SERVER1" || die "postfix pf1"
"$peers/postfix.sh" start "$run/pf2" "$NS_SRV" "$SERVER2" || die "postfix pf2"

# ---- Postern ---------------------------------------------------------------------------------
# The example with this lab's state file and EAL prefix, plus the admin endpoints the demo
# shows at the end: HTTP (status page, /v1/state, /metrics) inside the dataplane's namespace,
# and the runtime API's socket.
dataplane=$run/dataplane.yaml
sock=$run/admin.sock
admin_http=127.0.0.1:8404
{
  sed -e "s#^\( *state_file:\).*#\1 $run/state.json#" -e "s#\"postern-pt\"#\"postern-$name\"#" \
    examples/lab/dataplane.yaml
  printf '  http: %s\n  socket: %s\n' "$admin_http" "$sock"
} >"$dataplane"
state=$run/state.json
cmd="ip netns exec $NS_DP $bin -f $dataplane -f examples/lab/palomar-lab.cfg"
step "Postern: $cmd"
# setsid: with --keep, Postern outlives this script and its terminal.
setsid ip netns exec "$NS_DP" "$bin" -f "$dataplane" -f examples/lab/palomar-lab.cfg \
  </dev/null >"$run/postern.log" 2>&1 &
postern_pid=$!
echo "$postern_pid" >"$run/postern.pid"
for _ in $(seq 1 300); do
  grep -q 'dataplane running' "$run/postern.log" && break
  kill -0 "$postern_pid" 2>/dev/null || die "Postern exited: $(tail -n 5 "$run/postern.log")"
  sleep 0.1
done
grep 'dataplane running' "$run/postern.log" || die "Postern did not start within 30 s"
ready=0
for _ in $(seq 1 20); do
  if ip netns exec "$NS_CLI" python3 "$peers/ping.py" -q --timeout 0.5 "$VIP"; then
    ready=1
    break
  fi
done
[ "$ready" -eq 1 ] || die "no ICMP echo reply from the VIP $VIP within 10 s (ARP unresolved?)"
say "postern pid $postern_pid answers on $VIP; counters every second in $state"

# ---- sessions ---------------------------------------------------------------------------------
declare -A addr_of=([dc1]=$SERVER1 [dc2]=$SERVER2 [pf1]=$SERVER1 [pf2]=$SERVER2)
declare -A log_of=([dc1]=$run/dc1/dovecot.log [dc2]=$run/dc2/dovecot.log
  [pf1]=$run/pf1/maillog [pf2]=$run/pf2/maillog)
failures=0

# logged_since INSTANCE OFFSET REGEX: the first capture of REGEX in what INSTANCE logged after
# byte OFFSET, waiting up to 3 s for the line.
logged_since() {
  local inst=$1 offset=$2 re=$3 line
  for _ in $(seq 1 30); do
    line=$(tail -c +"$((offset + 1))" "${log_of[$inst]}" | grep -aoE -- "$re" | head -n 1)
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

# show PROTO LABEL PORT [mailclient options]: one dialogue and its line in the table.
show() {
  local proto=$1 label=$2 port=$3
  shift 3
  local -A mark=()
  local i out inst lport seen note=""
  for i in "${!log_of[@]}"; do mark[$i]=$(stat -c %s "${log_of[$i]}" 2>/dev/null || echo 0); done
  if ! out=$(ip netns exec "$NS_CLI" timeout 30 python3 "$client" "$proto" "$VIP" "$port" "$@" 2>&1); then
    printf '  %-12s FAILED: %s\n' "$label" "$out"
    failures=$((failures + 1))
    return 1
  fi
  inst=$(grep -oE '(dovecot|postfix)-(dc|pf)[0-9]' <<<"$out" | head -n 1 | sed 's/.*-//')
  lport=$(sed -n 's/.* local=\([0-9.]*:[0-9]*\) .*/\1/p' <<<"$out")
  case "$proto" in
  imap | pop3 | sieve)
    seen=$(logged_since "$inst" "${mark[$inst]}" "rip=[0-9.]+, rport=${lport##*:}\b") ||
      seen="(no login line with rport=${lport##*:})"
    ;;
  lmtp)
    seen=$(logged_since "$inst" "${mark[$inst]}" 'Connect from [0-9.]+$') || seen="(no Connect line)"
    logged_since "$inst" "${mark[$inst]}" 'saved mail to INBOX' >/dev/null && note="; mail saved to alice's INBOX"
    ;;
  smtp)
    seen=$(logged_since "$inst" "${mark[$inst]}" 'connect from unknown\[[0-9.]+\]') || seen="(no connect line)"
    logged_since "$inst" "${mark[$inst]}" 'status=sent' >/dev/null && note="; mail delivered"
    note=" (its PROXY header said $upstream_client)$note"
    ;;
  esac
  printf '  %-12s %-22s %-5s %-13s %s%s\n' "$label" "$lport" "$inst" "${addr_of[$inst]:-?}" "$seen" "$note"
  case "$seen" in "("*) failures=$((failures + 1)) ;; esac
  last_inst=$inst
}

step "sessions from $NS_CLI to the VIP $VIP"
printf '  %-12s %-22s %-19s %s\n' "protocol" "client" "server reached" "client address the server logged"
show imap "IMAP" 143
show imap "IMAP" 143
show pop3 "POP3" 110
show pop3 "POP3" 110
show lmtp "LMTP" 24
show sieve "ManageSieve" 4190
# Submission listens with accept-proxy (in Palomar another proxy tier sits in front of it):
# the client sends its own v2 header, Postern passes the address it names on to Postfix.
show smtp "SMTP 587" 587 --proxy v2 --proxy-src "$upstream_client"

step "Postern's counters ($state)"
sleep 1.2 # the state file is rewritten every second
python3 - "$state" <<'EOF' || say "  (no state file yet)"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
keys = ("flows_created", "proxy_headers_sent", "proxy_headers_received", "proxy_retransmits",
        "syn_redispatched", "rst_sent", "active_flows")
print("  " + ", ".join(f"{k} {c[k]}" for k in keys))
drops = {k: v for k, v in d.get("drops", {}).items() if v}
print("  drops: " + (", ".join(f"{k} {v}" for k, v in drops.items()) or "none"))
print("  servers (listener/server: connections): " +
      ", ".join(f"{s['name']} {s['total']}" for s in d.get("servers", []) if s["total"]))
EOF

# ---- scrape, script, watch ---------------------------------------------------------------------
# What an operator does with HAProxy's tools: Prometheus scrapes /metrics, scripts talk to the
# runtime API with socat, /v1/state and the status page show the same view.
api() { printf '%s\n' "$1" | socat -t 5 stdio "unix-connect:$sock"; }
step "Prometheus: ip netns exec $NS_DP curl -s http://$admin_http/metrics (docs/metrics.md)"
ip netns exec "$NS_DP" curl -sf "http://$admin_http/metrics" |
  grep -E '^haproxy_(backend_sessions_total|server_status\{proxy="imap4".*state="UP"\}|backend_bytes_in_total)' |
  sed 's/^/  /' || die "no /metrics on $admin_http"
step "runtime API: echo 'show stat' | socat stdio unix-connect:$sock (docs/runtime-api.md)"
api "show stat" | cut -d, -f1,2,5,8,9,10,18,19 | grep -E '^(# |imap4|submission)' |
  awk -F, '{ printf "  %-12s %-15s %-5s %-5s %-8s %-8s %-8s %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
step "drain imap4's hac-dc1-proxy1 (dc1) through the runtime API; new logins go to dc2 only"
api "set server imap4/hac-dc1-proxy1 state drain" >/dev/null || die "set server ... state drain"
say "  $(api 'show servers state imap4' | awk '$4 == "hac-dc1-proxy1" { print "show servers state: " $2 "/" $4 " srv_admin_state " $7 " (DRAIN)" }')"
for _ in 1 2; do
  show imap "IMAP" 143
  [ "$last_inst" = dc2 ] || die "a new login reached $last_inst while dc1 was draining"
done
api "set server imap4/hac-dc1-proxy1 state ready" >/dev/null || die "set server ... state ready"
say "  set server imap4/hac-dc1-proxy1 state ready: $(api 'show stat' | awk -F, '$1 == "imap4" && $2 == "hac-dc1-proxy1" { print $18 }')"
say "  the state document: ip netns exec $NS_DP curl -s http://$admin_http/v1/state (also $state);"
say "  the status page: http://$admin_http/ from inside $NS_DP (docs/status-and-state.md)"

if [ "$failures" -gt 0 ]; then
  die "$failures session(s) failed or were not logged as expected"
fi

if [ "$keep" -eq 1 ]; then
  cat <<EOF

== still running (--keep)
  Postern            pid $postern_pid in $NS_DP, log $run/postern.log, counters $state
  Dovecot dc1, dc2   $SERVER1, $SERVER2 (IMAP 143, POP3 110, LMTP 24, ManageSieve 4190); logs $run/dc{1,2}/dovecot.log
  Postfix pf1, pf2   $SERVER1:587, $SERVER2:587; logs $run/pf{1,2}/maillog
  Try:
    ip netns exec $NS_CLI python3 scripts/peers/mailclient.py imap $VIP 143
    ip netns exec $NS_CLI python3 scripts/peers/mailclient.py smtp $VIP 587 --proxy v2 --proxy-src 203.0.113.9:2525
    cat $state
    echo "show stat" | socat stdio unix-connect:$sock
    ip netns exec $NS_DP curl -s http://$admin_http/metrics
    scripts/lab.sh status $name
  Tear down (stops Postern and the servers, removes the namespaces):
    scripts/lab.sh down $name
EOF
  postern_pid= # stays running
fi
say ""
say "demo: all sessions went through Postern, and every server logged the client's own address."
