#!/usr/bin/env bash
# Bytes through the splice: the recording server (recorder.py) on two servers behind Postern,
# many connections in parallel carrying megabytes each way, every byte checksummed on both
# sides. Each server-side stream must begin with the PROXY v2 header that names the client's
# own address:port and the VIP:port it dialled, followed by exactly the client's bytes; a
# listener without send-proxy-v2 must pass the bytes unchanged. (DESIGN.md steps 1-4.)
#
# Usage: tests/e2e/splice_bytes_test.sh   (root; POSTERN_BUILD_DIR=<dir with postern>, default
#        build/; E2E_BALANCER=haproxy runs the same checks against HAProxy; LAB=name;
#        SPLICE_CONNS / SPLICE_KB to change the load; ~25 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

CONNS=${SPLICE_CONNS:-40}
KB=${SPLICE_KB:-2048}
TITLE="splice bytes ($BALANCER)"

cleanup() {
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

bal_lab_up sp || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" "$SERVER1:9001" "$SERVER2:9001" || e2e_abort "no recorder"
bal_start "$E2E_ROOT/tests/e2e/cfg/recorder.cfg" || e2e_abort "no balancer"

addrs=$(rec_client_addrs)
proxied=0 total=0

# One connection first: if this fails, the parallel run would only repeat it 40 times.
if e2e_check "one connection, 1 MB echoed through $VIP:9000" \
  rec_run single --connect "$VIP:9000" --send 1000000 --timeout 20; then
  e2e_check "  its stream began with the PROXY v2 header naming the client, then its bytes" \
    rec_verify single --expect-proxy v2
fi
proxied=$((proxied + 1))

e2e_check "$CONNS connections in parallel, $KB KB each way (echo), from ${addrs//,/ }" \
  rec_run echo --connect "$VIP:9000" --conns "$CONNS" --parallel "$CONNS" --send $((KB * 1024)) \
  --source "$addrs" --timeout 90
echo_rate=$REC_SUMMARY
e2e_check "  every stream: v2 header (client addr:port, $VIP:9000) + the client's bytes; round robin r1/r2" \
  rec_verify echo --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000" --max-imbalance 2
proxied=$((proxied + CONNS))

e2e_check "8 connections in parallel, 256 KB up and $((KB * 4)) KB down (server sends)" \
  rec_run source --connect "$VIP:9000" --conns 8 --parallel 8 --send 262144 \
  --mode source --reply $((KB * 4 * 1024)) --source "$addrs" --timeout 90
source_rate=$REC_SUMMARY
e2e_check "  every stream: v2 header + the client's bytes; the client got the server's bytes" \
  rec_verify source --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
proxied=$((proxied + 8))

e2e_check "10 connections in parallel to the plain listener $VIP:9001, $KB KB each way" \
  rec_run plain --connect "$VIP:9001" --conns 10 --parallel 10 --send $((KB * 1024)) \
  --source "$addrs" --timeout 90
e2e_check "  no header: the server got exactly the client's bytes" \
  rec_verify plain --expect-proxy none --servers "$SERVER1:9001,$SERVER2:9001" --max-imbalance 2
total=$((proxied + 10))

e2e_log "info: echo: $echo_rate"
e2e_log "info: source: $source_rate"

if bal_postern_only "postern counters"; then
  e2e_check "postern: flows_created >= $total" bal_wait_counter 3 counters.flows_created -ge "$total"
  e2e_check "postern: proxy_headers_sent >= $proxied" bal_wait_counter 3 counters.proxy_headers_sent -ge "$proxied"
  both_used() {
    bal_wait_counter 3 servers.recorder/r1.total -ge 1 && bal_wait_counter 3 servers.recorder/r2.total -ge 1
  }
  e2e_check "postern: recorder/r1 and recorder/r2 both took connections" both_used
  # Informational: flows still open once every client has closed (FIN handling, timers).
  e2e_log "info: postern active_flows after the run: $(bal_counter counters.active_flows 2>&1)"
fi

