#!/usr/bin/env bash
# HAProxy inside a lab namespace: the yardstick Postern is measured against, and the upstream
# proxy that sends PROXY headers to Postern's accept-proxy listeners. It runs in the foreground
# (-db) as a background job of this script, so its PID is known without daemon mode.
#
# Usage: haproxy.sh start DIR NS CFG    (validates CFG, logs stdout/stderr to DIR/haproxy.log)
#        haproxy.sh stop DIR
set -euo pipefail

die() {
  echo "haproxy.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: haproxy.sh start DIR NS CFG | stop DIR" >&2
  exit 2
}

running_pid() {
  local dir=$1 pid
  [ -f "$dir/haproxy.pid" ] || return 1
  pid=$(cat "$dir/haproxy.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The address:port pairs the config binds, to wait until they listen (bounded).
bind_addrs() {
  awk '$1 == "bind" { split($2, a, ","); print a[1] }' "$1" | grep -E '^[0-9.]+:[0-9]+$' || true
}

start() {
  local dir=$1 ns=$2 cfg=$3 pid a deadline
  ip netns list | awk '{print $1}' | grep -qx -- "$ns" || die "no namespace $ns"
  [ -f "$cfg" ] || die "no config $cfg"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if running_pid "$dir" >/dev/null; then
    die "an instance already runs in $dir (pid $(running_pid "$dir"))"
  fi
  haproxy -c -q -f "$cfg" >"$dir/haproxy.log" 2>&1 || die "config rejected: $(cat "$dir/haproxy.log")"
  # ip netns exec execs haproxy in place, so $! is haproxy's own PID.
  ip netns exec "$ns" haproxy -db -f "$cfg" </dev/null >>"$dir/haproxy.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/haproxy.pid"
  deadline=$((SECONDS + 10))
  for a in $(bind_addrs "$cfg"); do
    until ip netns exec "$ns" ss -Hltn "src $a" 2>/dev/null | grep -q LISTEN; do
      if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
        cat "$dir/haproxy.log" >&2
        stop "$dir"
        die "haproxy did not listen on $a"
      fi
      sleep 0.1
    done
  done
  echo "haproxy in $ns: pid $pid, config $cfg, log $dir/haproxy.log"
}

stop() {
  local dir=$1 pid
  [ -d "$dir" ] || return 0
  pid=$(running_pid "$dir") || {
    rm -f "$dir/haproxy.pid"
    return 0
  }
  # SIGUSR1 is HAProxy's soft stop (finish connections); TERM is immediate, which tests want.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/haproxy.pid"
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/haproxy.pid"
  echo "haproxy.sh: $pid killed after 5 s" >&2
}

[ $# -ge 2 ] || usage
case "$1" in
start)
  [ $# -eq 4 ] || usage
  start "$2" "$3" "$4"
  ;;
stop) stop "$2" ;; # NS CFG may follow, as for start; they are not needed
*) usage ;;
esac
