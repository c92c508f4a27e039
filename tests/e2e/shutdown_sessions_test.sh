#!/usr/bin/env bash
# `on-marked-down shutdown-sessions`: when a server is marked DOWN, the connections it still
# carries are killed (HAProxy's termination code D), on both sides; without the option they
# carry on. Two listeners over the recorder (echo) on both lab servers, each server checked
# `check inter 1s fall 2 rise 2`:
#
#   down  :9000  `on-marked-down shutdown-sessions` on every server line
#   keep  :9003  the same servers (ports 9003), without the option
#
# A long-lived connection through each (slow_client.py: 16 KB every 0.1 s, echoed), L_down and
# L_keep. The fault must fail the checks yet leave established connections alone (stopping the
# server would kill the sessions itself): nftables in the server namespace drops new SYNs to
# the server:port each L landed on (found with ss: the established socket that received the
# most bytes), so checks time out (L4TOUT) while L's packets pass. Then:
#   - both servers are marked DOWN within fall x (inter + timeout check) (+1.5 s);
#   - L_down ends within 3 s of its server's DOWN (reset or closed by the balancer) and its
#     server-side connection is gone too; L_keep keeps echoing for 3 s more;
#   - the rule removed, both are UP again, and L_keep ends with every byte echoed.
#
# Usage: tests/e2e/shutdown_sessions_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy,
#        LAB as in splice_bytes_test.sh; ~35 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"
# shellcheck source=tests/e2e/health.sh
source "$E2E_ROOT/tests/e2e/health.sh"

TITLE="on-marked-down shutdown-sessions ($BALANCER)"
INTER=1 FALL=2 RISE=2 TCHECK=1 SLACK=1.5
DOWN_MAX=$(awk -v f=$FALL -v i=$INTER -v t=$TCHECK -v s=$SLACK 'BEGIN { print f * (i + t) + s }')
SRV="check inter ${INTER}s fall $FALL rise $RISE"
SLOW_PY=$E2E_ROOT/tests/e2e/slow_client.py
declare -A L_PID=() L_PORT=([down]=9000 [keep]=9003) L_SERVER=() L_NAME=() L_END=()

cleanup() {
  local l
  for l in "${!L_PID[@]}"; do
    [ -z "${L_PID[$l]}" ] || { kill -TERM "${L_PID[$l]}" 2>/dev/null; wait "${L_PID[$l]}" 2>/dev/null; }
  done
  ip netns exec "$NS_SRV" nft delete table inet hc_sd 2>/dev/null
  hc_cleanup
  rec_stop
  bal_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

write_cfg() {
  cat <<EOF
# Written by tests/e2e/shutdown_sessions_test.sh.
defaults
    mode tcp
    retries 3
    timeout connect 2s
    timeout check ${TCHECK}s
    timeout client 1m
    timeout server 1m

listen down
    bind $VIP:9000
    balance roundrobin
    server r1 $SERVER1:9000 $SRV on-marked-down shutdown-sessions
    server r2 $SERVER2:9000 $SRV on-marked-down shutdown-sessions

listen keep
    bind $VIP:9003
    balance roundrobin
    server r1 $SERVER1:9003 $SRV
    server r2 $SERVER2:9003 $SRV
EOF
}

l_dir() {
  echo "$HC_DIR/L-$1"
}

# l_start NAME: the long-lived connection through VIP:port of listener NAME.
l_start() {
  local d
  d=$(l_dir "$1")
  mkdir -p "$d"
  rm -f "$d/stop" "$d/progress"
  ip netns exec "$NS_CLI" python3 "$SLOW_PY" --connect "$VIP:${L_PORT[$1]}" --id "L-$1" \
    --results "$d/result.jsonl" --progress "$d/progress" --stop "$d/stop" --chunk 16384 \
    --interval 0.1 --max-seconds 150 </dev/null >"$d/client.log" 2>&1 &
  L_PID[$1]=$!
}

# l_state NAME: "SENT RECEIVED STATE" of L.
l_state() {
  cat "$(l_dir "$1")/progress" 2>/dev/null
}

l_received_beyond() {
  local sent recv state
  read -r sent recv state <<<"$(l_state "$1")"
  [ "${state:-}" = open ] && [ "${recv:-0}" -gt "$2" ]
}

# l_flows NAME: L is open and 4 more chunks come back within 5 s.
l_flows() {
  local sent recv state
  read -r sent recv state <<<"$(l_state "$1")"
  if ! e2e_wait 5 l_received_beyond "$1" $((${recv:-0} + 4 * 16384)); then
    echo "L_$1 does not flow: progress went from '$sent $recv $state' to '$(l_state "$1")'"
    sed 's/^/  | /' "$(l_dir "$1")/client.log"
    return 1
  fi
  echo "L_$1 flows: $(l_state "$1") (sent, received, state)"
}

# l_server PORT: the server address of the established connection on PORT that received the
# most bytes (L; checks carry none).
l_server() {
  ip netns exec "$NS_SRV" ss -Htni state established "( sport = :$1 )" | awk '
    /^[^ \t]/ { local = $3; next }
    { if (match($0, /bytes_received:[0-9]+/)) { n = substr($0, RSTART + 15, RLENGTH - 15) + 0
        if (n > best) { best = n; addr = local } } }
    END { if (best > 0) { sub(/:[0-9]+$/, "", addr); print addr } else exit 1 }'
}

l_found() {
  local a
  a=$(l_server "${L_PORT[$1]}") || { echo "no established connection with bytes on :${L_PORT[$1]}"; return 1; }
  L_SERVER[$1]=$a
  L_NAME[$1]=$([ "$a" = "$SERVER1" ] && echo r1 || echo r2)
  echo "L_$1 is on ${L_NAME[$1]} ($a:${L_PORT[$1]})"
}

# l_gone_server NAME: no established connection to L's server:port carries bytes any more.
l_gone_server() {
  local a
  if a=$(l_server "${L_PORT[$1]}") && [ "$a" = "${L_SERVER[$1]}" ]; then
    echo "the server still has an established connection on ${L_SERVER[$1]}:${L_PORT[$1]} with bytes"
    return 1
  fi
  echo "no established connection left on ${L_SERVER[$1]}:${L_PORT[$1]}"
}

l_ended() {
  local sent recv state
  read -r sent recv state <<<"$(l_state "$1")"
  [ -n "${state:-}" ] && [ "$state" != open ]
}

# drop_syns: new connections to each L's server:port are dropped (checks time out).
drop_syns() {
  {
    echo "table inet hc_sd {"
    echo "  counter dropped {}"
    echo "  chain c {"
    echo "    type filter hook input priority filter; policy accept;"
    for l in down keep; do
      echo "    ip daddr ${L_SERVER[$l]} tcp dport ${L_PORT[$l]} tcp flags & (syn | ack) == syn counter name dropped drop"
    done
    echo "  }"
    echo "}"
  } | ip netns exec "$NS_SRV" nft -f -
}

l_finish() {
  local d rc
  d=$(l_dir "$1")
  touch "$d/stop"
  for _ in $(seq 1 250); do
    kill -0 "${L_PID[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  wait "${L_PID[$1]}"
  rc=$?
  L_PID[$1]=
  cat "$d/client.log"
  return "$rc"
}

bal_lab_up sd || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" "$SERVER1:9003" "$SERVER2:9003" || e2e_abort "no recorder"
hc_init
write_cfg >"$HC_DIR/sd.cfg"
BAL_HAPROXY_CHECKS=1 bal_start "$HC_DIR/sd.cfg" || e2e_abort "no balancer"
hc_stamp_start
for l in down keep; do
  for s in r1 r2; do
    e2e_check "$l/$s UP, checked" hc_wait_status 15 "$l" "$s" UP L4OK || e2e_abort "not UP"
  done
done

for l in down keep; do
  l_start "$l"
  e2e_check "L_$l: connected through $VIP:${L_PORT[$l]}, echoing" e2e_wait 10 l_received_beyond "$l" 65536 ||
    e2e_abort "no L_$l"
  e2e_check "L_$l: its server found (ss in $NS_SRV)" l_found "$l" || e2e_abort "L_$l's server"
done

t_fault=$(hc_now)
e2e_check "nft in $NS_SRV: drop new SYNs to ${L_SERVER[down]}:9000 and ${L_SERVER[keep]}:9003 (L's packets pass)" \
  drop_syns || e2e_abort "nft"
# marked_down NAME: L's server on listener NAME is marked DOWN in time; L_END[NAME] when.
marked_down() {
  local l=$1 s=${L_NAME[$1]} t
  e2e_check "$l/$s marked DOWN (checks time out)" hc_wait_transition 20 "$l" "$s" DOWN "$t_fault" || return 1
  L_END[$l]=$HC_WHEN
  t=$(hc_secs "$t_fault" "$HC_WHEN")
  e2e_log "info: $l/$s DOWN after $t s ($(hc_status "$l" "$s"))"
  e2e_check "  within ${DOWN_MAX}s ($t s)" hc_le "$t" "$DOWN_MAX"
  e2e_check "  $l/$s state DOWN L4TOUT" hc_wait_status 3 "$l" "$s" DOWN L4TOUT
}

if marked_down down; then
  if e2e_check "L_down ended within 3 s of its server's DOWN (shutdown-sessions)" e2e_wait 3 l_ended down; then
    e2e_log "info: L_down ended $(hc_secs "${L_END[down]}" "$(hc_now)") s after DOWN at most: $(l_state down) (sent, received, state)"
  fi
  e2e_check "  the server's side of L_down is gone too" e2e_wait 3 l_gone_server down
  e2e_check "  L_down's own verdict: the balancer cut it (reset or closed)" eval '! l_finish down'
  e2e_log "info: L_down: $(tail -n 1 "$(l_dir down)/client.log")"
fi
if marked_down keep; then
  e2e_check "L_keep still echoing after its server's DOWN (no option)" l_flows keep
  sleep 2
  e2e_check "  and 2 s later" l_flows keep
fi

t_heal=$(hc_now)
e2e_check "nft rule removed" ip netns exec "$NS_SRV" nft delete table inet hc_sd
for l in down keep; do
  e2e_check "$l/${L_NAME[$l]} marked UP again" hc_wait_transition 20 "$l" "${L_NAME[$l]}" UP "$t_heal"
done
e2e_check "L_keep: every byte echoed to the end" l_finish keep
