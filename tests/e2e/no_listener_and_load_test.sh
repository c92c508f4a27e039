#!/usr/bin/env bash
# A SYN to a VIP port nobody listens on is answered with a RST at once (the client sees
# "connection refused" in well under a second, as from a host with the port closed; DESIGN.md
# step 1), and load that a mail tier sees is carried without a loss: 1,000 connections one
# after another and 200 at the same time, every one with its PROXY v2 header and its bytes
# verified by the recorder. Rates and throughput are printed as information, not asserted.
#
# Usage: tests/e2e/no_listener_and_load_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy,
#        LAB as in splice_bytes_test.sh; LOAD_SEQUENTIAL / LOAD_CONCURRENT change the counts; ~25 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="no listener and load ($BALANCER)"
SEQUENTIAL=${LOAD_SEQUENTIAL:-1000}
CONCURRENT=${LOAD_CONCURRENT:-200}
NO_LISTENER_PORT=9002 # tests/e2e/cfg/recorder.cfg binds 9000 and 9001 only
REFUSE_MAX_MS=500

cleanup() {
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

# refused ADDR:PORT: one connect that must be refused fast; its report also in REFUSED.
refused() {
  REFUSED=$(ip netns exec "$NS_CLI" python3 "$REC_PY" refused --connect "$1" --timeout 5 --max-ms "$REFUSE_MAX_MS")
  local rc=$?
  echo "$REFUSED"
  return $rc
}

bal_lab_up ld || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
bal_start "$E2E_ROOT/tests/e2e/cfg/recorder.cfg" || e2e_abort "no balancer"

# ---- no listener: RST at once --------------------------------------------------------------
for i in 1 2 3; do
  e2e_check "connect to $VIP:$NO_LISTENER_PORT (no listener), try $i: refused within $REFUSE_MAX_MS ms" \
    refused "$VIP:$NO_LISTENER_PORT" && e2e_log "     $REFUSED"
done
if bal_postern_only "postern no_listener / rst_sent counters"; then
  e2e_check "postern: drops.no_listener >= 3" bal_wait_counter 3 drops.no_listener -ge 3
  e2e_check "postern: rst_sent >= 3" bal_wait_counter 3 counters.rst_sent -ge 3
fi

# ---- load ----------------------------------------------------------------------------------
e2e_check "$SEQUENTIAL connections one after another (64 bytes echoed each)" \
  rec_run sequential --connect "$VIP:9000" --conns "$SEQUENTIAL" --parallel 1 --send 64 --timeout 10
seq_rate=$REC_SUMMARY
e2e_check "  every one: v2 header naming the client, then its bytes; round robin" \
  rec_verify sequential --servers "$SERVER1:9000,$SERVER2:9000" --max-imbalance 1 --wait 10

e2e_check "$CONCURRENT connections at once (4 KB echoed each), from the 8 client addresses" \
  rec_run concurrent --connect "$VIP:9000" --conns "$CONCURRENT" --parallel "$CONCURRENT" --send 4096 \
  --source "$(rec_client_addrs)" --timeout 30
conc_rate=$REC_SUMMARY
e2e_check "  every one: v2 header naming the client, then its bytes" \
  rec_verify concurrent --servers "$SERVER1:9000,$SERVER2:9000" --max-imbalance 2 --wait 10
conc_check=$REC_CHECK

e2e_check "bulk: 1 connection, 32 MB each way" \
  rec_run bulk1 --connect "$VIP:9000" --send $((32 * 1024 * 1024)) --timeout 90
bulk1=$REC_SUMMARY
e2e_check "bulk: 4 connections, 16 MB each way each" \
  rec_run bulk4 --connect "$VIP:9000" --conns 4 --parallel 4 --send $((16 * 1024 * 1024)) --timeout 90
bulk4=$REC_SUMMARY
e2e_check "  bulk streams verified" rec_verify bulk4

e2e_log "info: sequential: ${seq_rate#client: }"
e2e_log "info: concurrent: ${conc_rate#client: }"
e2e_log "info: concurrent: ${conc_check#check: }"
e2e_log "info: bulk x1: ${bulk1#client: }"
e2e_log "info: bulk x4: ${bulk4#client: }"

if bal_postern_only "postern counters after the load"; then
  total=$((SEQUENTIAL + CONCURRENT + 5))
  e2e_check "postern: flows_created >= $total" bal_wait_counter 3 counters.flows_created -ge "$total"
  e2e_check "postern: proxy_headers_sent >= $total" bal_wait_counter 3 counters.proxy_headers_sent -ge "$total"
  e2e_log "info: postern active_flows after the load: $(bal_counter counters.active_flows 2>&1)"
fi

