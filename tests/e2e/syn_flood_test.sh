#!/usr/bin/env bash
# A spoofed SYN flood against the VIP's IMAP port while real IMAP sessions (Dovecot, real logins)
# and long-lived streams (streams.py, recorder echo) run (issue 9). bench/synflood sends SYNs
# from random addresses of FLOOD_SOURCES (default 100.64.0.0/10, outside the lab's own
# 198.18.0.0/24 and 198.19.0.0/24) and random ports, random ISNs and Linux's SYN options, from
# inside the client namespace, bounded by FLOOD_COUNT packets and FLOOD_SECONDS.
#
# The spoofed prefix has a way back that goes nowhere: the balancer routes it via the client
# namespace (Postern: a `routes` entry in dataplane.yaml; HAProxy: a kernel route in NAME-dp),
# whose kernel does not forward and owns none of those addresses, so SYN-ACKs to them are
# dropped there silently (no RST: a host answers only for its own addresses; no ICMP: with
# forwarding off the kernel counts them in InAddrErrors and says nothing).
#
# Phases: 20 IMAP sessions before the flood; FLOOD_STREAMS streams opened; the flood, with IMAP
# sessions (FLOOD_PARALLEL at a time, a new one as each ends) started during it; then sessions
# again until a batch of 10 all succeed (the recovery time is printed); the streams end.
# Printed, for Postern and HAProxy alike: SYN rate sent; sessions attempted/succeeded before,
# during and after; streams broken; the balancer's VmRSS/VmHWM before, at the peak during, and
# after; Postern's /metrics (drops by reason, flows, any SYN proxy or cookie counters) or the
# HAProxy namespace's kernel counters (SYN cookies sent/received, listen overflows).
# Asserted:
#   - the flood was sent, and reached the balancer (>= 1 % of it counted there);
#   - every session before the flood succeeds;
#   - no established stream breaks (every echo exact);
#   - the balancer's RSS grows by at most FLOOD_RSS_MB (default 64) from before to the peak;
#   - after the flood a batch of 10 sessions all succeed within FLOOD_RECOVER_S (default 60 s);
#   - Postern: every flow, the flood's half-open ones included, is gone within 60 s;
#   - "SYN proxy: >= 90 % of the real sessions during the flood succeed", a check of its own:
#     HAProxy with the kernel's SYN cookies passes it, and so does Postern with its SYN proxy
#     (issue 9) in the short form. The figures print either way.
# HAProxy (E2E_BALANCER=haproxy) runs with net.ipv4.tcp_syncookies=1 in NAME-dp, and
# tcp_max_syn_backlog and somaxconn 4096 (HAProxy's listen backlog follows its maxconn, 4000
# here, and the kernel caps it at somaxconn: 4096 lets the whole backlog through; at 100k+
# SYN/s any queue fills within milliseconds, so the cookies are what keeps it serving).
#
# Usage: tests/e2e/syn_flood_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as in
#        splice_bytes_test.sh; ~60-90 s). Short form: a 10 s flood of at most 5,000,000 SYNs.
#        E2E_SOAK=1 (scripts/test.sh --soak): a 60 s flood of at most 50,000,000 SYNs.
#        FLOOD_SECONDS, FLOOD_COUNT, FLOOD_RATE (SYN/s cap; default: as fast as it goes),
#        FLOOD_SOURCES, FLOOD_STREAMS (default 50), FLOOD_PARALLEL (default 4), FLOOD_RSS_MB,
#        FLOOD_RECOVER_S override. FLOOD_ACK_LOSS=PCT (default 0, off) also loses PCT % of the
#        real clients' pure ACKs towards port 143 during the flood (nft numgen in the client
#        namespace), handshake ACKs among them, as a receive ring that overflows more would:
#        a server-speaks-first session whose handshake ACK is lost waits for its greeting.
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="syn flood ($BALANCER)"
if [ "${E2E_SOAK:-0}" != 0 ]; then
  FLOOD_SECONDS=${FLOOD_SECONDS:-60}
  FLOOD_COUNT=${FLOOD_COUNT:-50000000}
else
  FLOOD_SECONDS=${FLOOD_SECONDS:-10}
  FLOOD_COUNT=${FLOOD_COUNT:-5000000}
fi
FLOOD_RATE=${FLOOD_RATE:-}
FLOOD_SOURCES=${FLOOD_SOURCES:-100.64.0.0/10}
FLOOD_STREAMS=${FLOOD_STREAMS:-50}
FLOOD_PARALLEL=${FLOOD_PARALLEL:-4}
FLOOD_RSS_MB=${FLOOD_RSS_MB:-64}
FLOOD_RECOVER_S=${FLOOD_RECOVER_S:-60}
FLOOD_ACK_LOSS=${FLOOD_ACK_LOSS:-0}
SYNFLOOD=${POSTERN_BUILD_DIR:-$E2E_ROOT/build}/bench/synflood
SOAK_PY=$E2E_ROOT/tests/e2e/imap_soak.py
STREAMS_PY=$E2E_ROOT/tests/e2e/streams.py
ADMIN=127.0.0.1:9180 # Postern's admin.http, inside NS_DP
STREAM_PORT=9000
# A session may wait out TCP's SYN retries (1, 3, 7 s) but no longer.
SESSION_TIMEOUT=10
SESSION_LIMIT=15
SYN_PROXY_PCT=90
FLOOD_PID=
STREAMS_PID=
SAMPLER_PID=
SESSIONS_PID=
FL_DIR=

stop_pid() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

cleanup() {
  [ -z "$FL_DIR" ] || touch "$FL_DIR/stop" "$FL_DIR/sampler.stop"
  stop_pid "$FLOOD_PID"
  stop_pid "$SESSIONS_PID"
  stop_pid "$SAMPLER_PID"
  stop_pid "$STREAMS_PID"
  FLOOD_PID='' SESSIONS_PID='' SAMPLER_PID='' STREAMS_PID=''
  [ -z "${NS_CLI:-}" ] || ip netns exec "$NS_CLI" nft delete table inet postern_fl 2>/dev/null
  rec_stop
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog $((300 + 3 * FLOOD_SECONDS))

# ---- helpers ---------------------------------------------------------------------------------

# mem FIELD: VmRSS or VmHWM of the balancer's process, in kB.
mem() {
  awk -v f="$1:" '$1 == f { print $2 }' "/proc/$BAL_PID/status" 2>/dev/null
}

mb() {
  awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'
}

# The sampler: VmRSS and VmHWM every 0.2 s until FL_DIR/sampler.stop appears; with Postern also
# its SYN proxy gauges (switched on, half-open flows; summed over workers) every second.
sampler() {
  local i=0
  while [ ! -e "$FL_DIR/sampler.stop" ]; do
    echo "$(mem VmRSS) $(mem VmHWM)" >>"$FL_DIR/mem.samples"
    if [ "$BALANCER" = postern ] && [ $((i++ % 5)) -eq 0 ]; then
      echo "$(metric_sum postern_syn_proxy_active) $(metric_sum postern_half_open_flows)" \
        >>"$FL_DIR/gauges.samples"
    fi
    sleep 0.2
  done
}

# metric NAME_OR_PREFIX: the lines of a fresh /metrics scrape whose name starts with it.
metrics() {
  ip netns exec "$NS_DP" curl -sS --max-time 10 "http://$ADMIN/metrics" 2>/dev/null |
    grep -v '^#' | grep -E "^$1" || true
}

# metric_sum NAME: the sum of every series of NAME.
metric_sum() {
  metrics "$1[{ ]" | awk '{ n += $2 } END { printf "%d\n", n }'
}

# nstat_of NAME...: the kernel's counters in NAME-dp (HAProxy's namespace), absolute.
nstat_of() {
  ip netns exec "$NS_DP" nstat -asz "$@" 2>/dev/null | awk 'NR > 1 { printf "%s=%s ", $1, $2 } END { print "" }'
}

nstat_value() {
  ip netns exec "$NS_DP" nstat -asz "$1" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'
}

# received: what the balancer's side took in so far (Postern: frames its worker received;
# HAProxy: IP packets its namespace's kernel received).
received() {
  if [ "$BALANCER" = postern ]; then
    metric_sum postern_worker_rx_packets_total
  else
    nstat_value IpInReceives
  fi
}

# link_drops: frames lost on the lab's client link itself, before any balancer saw them: the
# veth's own drops at both ends (cli0 counts a frame its peer's backlog refused) and the
# kernel's per-CPU backlog overflows (/proc/net/softnet_stat, second column, machine-wide).
link_drops() {
  local tx rx cpu n=0 d
  tx=$(ip netns exec "$NS_CLI" cat /sys/class/net/cli0/statistics/tx_dropped)
  rx=$(ip netns exec "$NS_DP" cat /sys/class/net/dpc0/statistics/rx_dropped)
  while read -r cpu d _; do n=$((n + 16#$d)); done </proc/net/softnet_stat
  : "$cpu"
  echo "$((tx + rx)) $n"
}

# sessions LABEL SESSIONS MAX_SECONDS [--finish]: IMAP logins from the real client addresses,
# FLOOD_PARALLEL at a time, none started after MAX_SECONDS (--finish: those running then go on
# to SESSION_LIMIT); results in FL_DIR/LABEL.jsonl.
sessions() {
  ip netns exec "$NS_CLI" python3 "$SOAK_PY" run --host "$VIP" --port 143 --sessions "$2" \
    --parallel "$FLOOD_PARALLEL" --sources "$(tr ' ' ',' <<<"$CLIENT_ADDRS")" \
    --timeout "$SESSION_TIMEOUT" --session-limit "$SESSION_LIMIT" --max-seconds "$3" \
    --results "$FL_DIR/$1.jsonl" --label "$1" "${@:4}"
}

# failures LABEL: the failed sessions' errors, most frequent first (at most 3 kinds).
failures() {
  python3 - "$FL_DIR/$1.jsonl" <<'EOF'
import collections, json, re, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
errs = collections.Counter(re.sub(r"[0-9.:]+", "N", r["error"] or "?")[:90]
                           for r in rs if not r["ok"] and not (r["error"] or "").startswith("not started"))
print("; ".join(f"{n}x {e}" for e, n in errs.most_common(3)) or "none")
EOF
}

# tally LABEL: "ATTEMPTED OK" of a sessions run (those never started do not count).
tally() {
  python3 - "$FL_DIR/$1.jsonl" <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rs = [r for r in rs if not (r["error"] or "").startswith("not started")]
print(len(rs), sum(1 for r in rs if r["ok"]))
EOF
}

# pct OK ATTEMPTED
pct() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", 100 * a / b; else print "n/a" }'
}

# The MAC the client resolved for the VIP (Postern answers ARP itself), else dpc0's own.
vip_mac() {
  local m
  m=$(ip netns exec "$NS_CLI" ip neigh show "$VIP" dev cli0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
  [ -n "$m" ] || m=$(ip netns exec "$NS_DP" cat /sys/class/net/dpc0/address)
  echo "$m"
}

streams_open() {
  [ -s "$FL_DIR/streams.ready" ]
}

# ---- lab, peers, balancer --------------------------------------------------------------------

[ -x "$SYNFLOOD" ] || e2e_abort "$SYNFLOOD missing (build the synflood target)"
bal_lab_up fl || e2e_abort "no lab"
FL_DIR=$LAB_RUN_DIR/flood
mkdir -p "$FL_DIR"

if [ "$BALANCER" = postern ]; then
  export BAL_ROUTES="{to: $FLOOD_SOURCES, via: $CLIENT_ADDR}"
  export BAL_ADMIN_EXTRA="  http: $ADMIN"
else
  kernel_setup() {
    ip netns exec "$NS_DP" sysctl -q -w net.ipv4.tcp_syncookies=1 net.ipv4.tcp_max_syn_backlog=4096 \
      net.core.somaxconn=4096 &&
      ip netns exec "$NS_DP" ip route add "$FLOOD_SOURCES" via "$CLIENT_ADDR" dev dpc0 &&
      ip netns exec "$NS_DP" sysctl net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog \
        net.core.somaxconn net.ipv4.conf.all.rp_filter net.ipv4.conf.dpc0.rp_filter
  }
  e2e_check "NAME-dp kernel: tcp_syncookies=1, backlogs 4096, route $FLOOD_SOURCES via $CLIENT_ADDR" \
    kernel_setup || e2e_abort "kernel settings"
  e2e_log "info: NAME-dp: $(ip netns exec "$NS_DP" sysctl net.ipv4.tcp_syncookies \
    net.ipv4.tcp_max_syn_backlog net.core.somaxconn net.ipv4.conf.all.rp_filter | tr '\n' ' ')"
fi
e2e_log "info: client namespace: ip_forward=$(ip netns exec "$NS_CLI" sysctl -n net.ipv4.ip_forward)" \
  "rp_filter all=$(ip netns exec "$NS_CLI" sysctl -n net.ipv4.conf.all.rp_filter)" \
  "(SYN-ACKs to the spoofed sources end there); server namespace tcp_syncookies=$(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_syncookies)"

mail_peers_start dovecot || e2e_abort "dovecot"
rec_start "$SERVER1:$STREAM_PORT" "$SERVER2:$STREAM_PORT" || e2e_abort "no recorder"
CFG=$FL_DIR/flood.cfg
{
  cat "$E2E_ROOT/tests/e2e/cfg/imap.cfg"
  bal_listen streams "$VIP:$STREAM_PORT" r "$STREAM_PORT"
} >"$CFG"
bal_start "$CFG" || e2e_abort "no balancer"
via_vip imap 143 || e2e_abort "no IMAP login before the flood"

# ---- before ----------------------------------------------------------------------------------

e2e_check "before the flood: 20 IMAP sessions, every one logs in" sessions before 20 60

ip netns exec "$NS_CLI" python3 "$STREAMS_PY" --connect "$VIP:$STREAM_PORT" --conns "$FLOOD_STREAMS" \
  --chunk 256 --interval 0.5 --stop "$FL_DIR/stop" --ready "$FL_DIR/streams.ready" \
  --results "$REC_DIR/flood.jsonl" --run flood --max-seconds $((240 + 3 * FLOOD_SECONDS)) \
  --idle-timeout 60 </dev/null >"$FL_DIR/streams.log" 2>&1 &
STREAMS_PID=$!
e2e_check "$FLOOD_STREAMS streams open through $VIP:$STREAM_PORT" e2e_wait 30 streams_open ||
  e2e_abort "the streams did not open: $(tail -3 "$FL_DIR/streams.log")"

RSS0=$(mem VmRSS) HWM0=$(mem VmHWM)
RX0=$(received)
read -r LINK0 BACKLOG0 <<<"$(link_drops)"
if [ "$BALANCER" = postern ]; then
  metrics postern_drops_total >"$FL_DIR/drops.before"
else
  NSTAT0=$(nstat_of TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtSyncookiesFailed \
    TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDoCookies)
fi
e2e_log "info: memory before the flood: VmRSS $(mb "$RSS0") MB, VmHWM $(mb "$HWM0") MB (pid $BAL_PID)"

# ---- the flood -------------------------------------------------------------------------------

MAC=$(vip_mac)
rate_args=()
[ -z "$FLOOD_RATE" ] || rate_args=(--rate "$FLOOD_RATE")
: >"$FL_DIR/mem.samples"
: >"$FL_DIR/gauges.samples"
sampler &
SAMPLER_PID=$!
ACKS_LOST=
if [ "$FLOOD_ACK_LOSS" -gt 0 ]; then
  ip netns exec "$NS_CLI" nft -f - <<EOF || e2e_abort "nft: FLOOD_ACK_LOSS"
table inet postern_fl {
  counter lost {}
  chain out {
    type filter hook output priority filter; policy accept;
    ip daddr $VIP tcp dport 143 tcp flags == ack numgen random mod 100 < $FLOOD_ACK_LOSS counter name lost drop
  }
}
EOF
fi
e2e_log "flood: $SYNFLOOD --interface cli0 --dst-mac $MAC --dst $VIP --dport 143 --count $FLOOD_COUNT --seconds $FLOOD_SECONDS --sources $FLOOD_SOURCES ${rate_args[*]}"
ip netns exec "$NS_CLI" "$SYNFLOOD" --interface cli0 --dst-mac "$MAC" --dst "$VIP" --dport 143 \
  --count "$FLOOD_COUNT" --seconds "$FLOOD_SECONDS" --sources "$FLOOD_SOURCES" "${rate_args[@]}" \
  </dev/null >"$FL_DIR/synflood.out" 2>&1 &
FLOOD_PID=$!
T_FLOOD=$(date +%s.%N)
# The real clients start once the flood is under way and start no session after it ends.
sleep 1
sessions during 100000 $((FLOOD_SECONDS - 2)) --finish >"$FL_DIR/during.out" 2>&1 &
SESSIONS_PID=$!
wait "$FLOOD_PID"
FLOOD_RC=$?
FLOOD_PID=
T_END=$(date +%s.%N)
RX1=$(received)
read -r LINK1 BACKLOG1 <<<"$(link_drops)"
LINK_LOST=$((LINK1 - LINK0)) BACKLOG_LOST=$((BACKLOG1 - BACKLOG0))
wait "$SESSIONS_PID"
SESSIONS_PID=
if [ "$FLOOD_ACK_LOSS" -gt 0 ]; then
  # The sessions started during the flood have ended: the loss ends with them.
  ACKS_LOST=$(ip netns exec "$NS_CLI" nft list counter inet postern_fl lost | awk '$1 == "packets" { print $2 }')
  ip netns exec "$NS_CLI" nft delete table inet postern_fl
fi
touch "$FL_DIR/sampler.stop"
wait "$SAMPLER_PID"
SAMPLER_PID=

FLOOD_LINE=$(cat "$FL_DIR/synflood.out")
e2e_log "info: generator: $FLOOD_LINE"
SENT=$(sed -n 's/^sent=\([0-9]*\) .*/\1/p' <<<"$FLOOD_LINE")
PPS=$(sed -n 's/.* pps=\([0-9]*\) .*/\1/p' <<<"$FLOOD_LINE")
flood_sent() {
  echo "$FLOOD_LINE (exit $FLOOD_RC)"
  [ "$FLOOD_RC" -eq 0 ] && [ "${SENT:-0}" -ge 1000 ]
}
e2e_check "the flood was sent: ${SENT:-?} SYNs at ${PPS:-?} SYN/s from $FLOOD_SOURCES" flood_sent
RECEIVED=$((${RX1:-0} - ${RX0:-0}))
PORT_LOST=$((${SENT:-0} - RECEIVED - LINK_LOST - BACKLOG_LOST))
[ "$PORT_LOST" -ge 0 ] || PORT_LOST=0
reached() {
  echo "sent ${SENT:-0}; the balancer's side received $RECEIVED packets meanwhile"
  [ "$RECEIVED" -ge $((${SENT:-0} / 100)) ] && [ "$RECEIVED" -ge 1000 ]
}
# Proof that nothing on the way (rp_filter, martian checks) filtered the flood out. At the
# highest rate most of it is lost at Postern's port (its receive ring full), so the bound is low.
e2e_check "the flood reached the balancer (at least 1 % of it, and 1,000 packets, counted there)" reached

read -r PROXY_ON HALF_OPEN_PEAK < <(awk '$1 > a { a = $1 } $2 > h { h = $2 } END { print a + 0, h + 0 }' "$FL_DIR/gauges.samples" 2>/dev/null)
read -r RSS_PEAK HWM_PEAK < <(awk '$1 > r { r = $1 } $2 > h { h = $2 } END { print r + 0, h + 0 }' "$FL_DIR/mem.samples")
read -r D_ATT D_OK <<<"$(tally during)"

# ---- after -----------------------------------------------------------------------------------

# Batches of 10 until one succeeds whole (bounded): how long real clients wait after a flood.
A_ATT=0 A_OK=0 RECOVERED=
t_after=$SECONDS
for ((b = 1; SECONDS - t_after < FLOOD_RECOVER_S; b++)); do
  sessions "after$b" 10 30 >"$FL_DIR/after$b.out" 2>&1
  read -r att ok <<<"$(tally "after$b")"
  A_ATT=$((A_ATT + att)) A_OK=$((A_OK + ok))
  if [ "$att" -gt 0 ] && [ "$att" -eq "$ok" ]; then
    RECOVERED=$(awk -v a="$T_END" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    break
  fi
done
recovered() {
  echo "after the flood: $A_OK of $A_ATT sessions succeeded in $((b)) batch(es)"
  [ -n "$RECOVERED" ]
}
e2e_check "after the flood: a batch of 10 sessions all log in within ${FLOOD_RECOVER_S} s (took ${RECOVERED:-more} s)" \
  recovered

touch "$FL_DIR/stop"
streams_done() {
  wait "$STREAMS_PID"
  local rc=$?
  STREAMS_PID=
  cat "$FL_DIR/streams.log"
  return $rc
}
e2e_check "no established stream broken: all $FLOOD_STREAMS echo exactly what they sent" streams_done
BROKEN=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and not json.loads(l)["ok"]))' "$REC_DIR/flood.jsonl" 2>/dev/null || echo "?")

RSS2=$(mem VmRSS) HWM2=$(mem VmHWM)
growth_kb=$((RSS_PEAK > RSS2 ? RSS_PEAK - RSS0 : RSS2 - RSS0))
rss_bounded() {
  echo "VmRSS before $(mb "$RSS0") MB, peak during $(mb "$RSS_PEAK") MB, after $(mb "$RSS2") MB: growth $(mb "$growth_kb") MB"
  [ "$growth_kb" -le $((FLOOD_RSS_MB * 1024)) ]
}
e2e_check "the balancer's memory stays bounded: VmRSS grows by at most $FLOOD_RSS_MB MB" rss_bounded

if [ "$BALANCER" = postern ]; then
  metrics postern_drops_total >"$FL_DIR/drops.after"
  COUNTERS=$(metrics 'postern_(flows_created_total|flows_closed_total|flows_expired_total|active_flows|flow_table_used|rst_sent_total|connect_failures_total|syn_redispatched_total|interface_rx_missed_total|interface_rx_nombuf_total)[{ ]' |
    awk '{ sub(/\{.*\}/, "", $1); v[$1] += $2 } END { for (k in v) printf "%s=%d ", k, v[k]; print "" }')
  DROPS=$(awk '$2 > 0 { match($1, /reason="[^"]*"/); r = substr($1, RSTART + 8, RLENGTH - 9); v[r] += $2 } END { for (k in v) printf "%s=%d ", k, v[k]; print "" }' "$FL_DIR/drops.after")
  COOKIES=$(metrics 'postern_[a-z_]*(syn_proxy|cookie)[a-z_]*[{ ]' |
    awk '{ sub(/\{.*\}/, "", $1); v[$1] += $2 } END { for (k in v) printf "%s=%d ", k, v[k]; print "" }')
else
  NSTAT1=$(nstat_of TcpExtSyncookiesSent TcpExtSyncookiesRecv TcpExtSyncookiesFailed \
    TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDoCookies)
fi

# ---- the figures -----------------------------------------------------------------------------

read -r B_ATT B_OK <<<"$(tally before)"
FLOOD_S=$(awk -v a="$T_FLOOD" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }')
e2e_log "==== SYN flood figures ($BALANCER)"
e2e_log "  flood            ${SENT:-?} SYNs in ${FLOOD_S} s, ${PPS:-?} SYN/s sent, from $FLOOD_SOURCES; $RECEIVED packets received by the balancer's side"
[ -z "$ACKS_LOST" ] ||
  e2e_log "  ACKs lost        $ACKS_LOST of the real clients' pure ACKs to port 143 (FLOOD_ACK_LOSS=$FLOOD_ACK_LOSS %)"
e2e_log "  lab link lost    $LINK_LOST frames at the veth, $BACKLOG_LOST in kernel backlogs (machine-wide) during the flood"
e2e_log "  port lost        ~$PORT_LOST SYNs neither received nor lost on the link: lost at the balancer's port (Postern: its net_af_packet receive ring full)"
e2e_log "  IMAP before      $B_OK / $B_ATT succeeded"
e2e_log "  IMAP during      $D_OK / $D_ATT succeeded ($(pct "$D_OK" "$D_ATT") %)"
e2e_log "    failures       $(failures during)"
e2e_log "  IMAP after       $A_OK / $A_ATT succeeded; a whole batch of 10 ok ${RECOVERED:-never} s after the flood"
e2e_log "  streams broken   $BROKEN of $FLOOD_STREAMS"
e2e_log "  VmRSS MB         before $(mb "$RSS0"), peak $(mb "$RSS_PEAK"), after $(mb "$RSS2")"
e2e_log "  VmHWM MB         before $(mb "$HWM0"), peak $(mb "$HWM_PEAK"), after $(mb "$HWM2")"
if [ "$BALANCER" = postern ]; then
  e2e_log "  counters         $COUNTERS"
  e2e_log "  drops by reason  ${DROPS:-none}"
  e2e_log "  SYN proxy        ${COOKIES:-(no SYN proxy or cookie counters in /metrics)}"
  e2e_log "    during flood   workers with the SYN proxy on (peak): ${PROXY_ON:-0}; half-open flows (peak): ${HALF_OPEN_PEAK:-0}"
else
  e2e_log "  kernel before    $NSTAT0"
  e2e_log "  kernel after     $NSTAT1"
fi
printf 'FIGURES balancer=%s sent=%s pps=%s received=%s link_lost=%s port_lost=%s before=%s/%s during=%s/%s after=%s/%s recovered_s=%s broken=%s rss_kb=%s/%s/%s hwm_kb=%s/%s/%s\n' \
  "$BALANCER" "${SENT:-0}" "${PPS:-0}" "$RECEIVED" "$((LINK_LOST + BACKLOG_LOST))" "$PORT_LOST" "$B_OK" "$B_ATT" "$D_OK" "$D_ATT" "$A_OK" "$A_ATT" \
  "${RECOVERED:-never}" "$BROKEN" "$RSS0" "$RSS_PEAK" "$RSS2" "$HWM0" "$HWM_PEAK" "$HWM2" >"$FL_DIR/figures"
# Kept for the side-by-side table: the other balancer's last run, if there is one.
mkdir -p "$E2E_ARTIFACTS" && cp "$FL_DIR/figures" "$E2E_ARTIFACTS/syn_flood.$BALANCER.figures"
side_by_side() {
  python3 - "$E2E_ARTIFACTS/syn_flood.postern.figures" "$E2E_ARTIFACTS/syn_flood.haproxy.figures" <<'EOF'
import os, sys, time
runs = []
for path in sys.argv[1:]:
    if os.path.exists(path):
        kv = dict(w.split("=", 1) for w in open(path).read().split()[1:])
        kv["age"] = f"{(time.time() - os.path.getmtime(path)) / 60:.0f} min ago"
        runs.append(kv)
if len(runs) < 2:
    sys.exit(0)
mb = lambda v: "/".join(f"{int(x) / 1024:.1f}" for x in v.split("/"))
rows = [("run", "age"), ("SYNs sent", "sent"), ("SYN/s sent", "pps"),
        ("received by the balancer's side", "received"), ("lost on the lab's link", "link_lost"),
        ("lost at the balancer's port", "port_lost"), ("IMAP before ok/attempted", "before"),
        ("IMAP during ok/attempted", "during"), ("IMAP after ok/attempted", "after"),
        ("recovered after (s)", "recovered_s"), ("streams broken", "broken")]
print(f"  {'':34} {'postern':>24} {'haproxy':>24}")
for label, key in rows:
    print(f"  {label:34} {runs[0].get(key, '?'):>24} {runs[1].get(key, '?'):>24}")
for label, key in (("VmRSS MB before/peak/after", "rss_kb"), ("VmHWM MB before/peak/after", "hwm_kb")):
    print(f"  {label:34} {mb(runs[0][key]):>24} {mb(runs[1][key]):>24}")
EOF
}
TABLE=$(side_by_side)
if [ -n "$TABLE" ]; then
  e2e_log "==== side by side (the latest run of each balancer, from $E2E_ARTIFACTS)"
  while IFS= read -r line; do e2e_log "$line"; done <<<"$TABLE"
fi

syn_proxy_served() {
  echo "during the flood: $D_OK of $D_ATT real sessions succeeded ($(pct "$D_OK" "$D_ATT") %), need $SYN_PROXY_PCT %"
  [ "$D_ATT" -gt 0 ] && [ $((D_OK * 100)) -ge $((D_ATT * SYN_PROXY_PCT)) ]
}
e2e_check "SYN proxy: at least $SYN_PROXY_PCT % of the real IMAP sessions during the flood succeed" \
  syn_proxy_served

if [ "$BALANCER" = postern ]; then
  e2e_check "postern: every flow, the flood's half-open ones included, gone within 60 s" \
    bal_wait_counter 60 counters.active_flows -eq 0
fi
