#!/usr/bin/env bash
# A server that never answers SYNs must cost a client at most `timeout connect`: Postern sends
# the SYN on to the next server (DESIGN.md step 6; the client never saw a SYN-ACK, so nothing
# is lost). nftables in the server namespace drops every SYN to 198.19.0.10:9000; with
# `timeout connect 1s` (tests/e2e/cfg/redispatch.cfg) every client still connects, reaching
# 198.19.0.11, and Postern's syn_redispatched counter rises. Once the rule is gone, both
# servers take connections again.
#
# Usage: tests/e2e/redispatch_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as
#        in splice_bytes_test.sh; ~15 s)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/recorder.sh
source "$E2E_ROOT/tests/e2e/recorder.sh"

TITLE="redispatch ($BALANCER)"
# `timeout connect 1s`, plus the client's own SYN retransmission (1 s) and scheduling slack.
MAX_CONNECT_MS=${REDISPATCH_MAX_CONNECT_MS:-3500}

cleanup() {
  rec_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 150

nft_drop_syns() {
  ip netns exec "$NS_SRV" nft -f - <<EOF
table inet postern_e2e {
  counter syn_dropped {}
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr $SERVER1 tcp dport 9000 tcp flags & (syn | ack) == syn counter name syn_dropped drop
  }
}
EOF
}

syns_dropped() {
  local n
  n=$(ip netns exec "$NS_SRV" nft list counter inet postern_e2e syn_dropped | awk '$1 == "packets" { print $2 }')
  echo "nft dropped ${n:-?} SYN(s) to $SERVER1:9000"
  [ "${n:-0}" -gt 0 ]
}

bal_lab_up rd || e2e_abort "no lab"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
bal_start "$E2E_ROOT/tests/e2e/cfg/redispatch.cfg" || e2e_abort "no balancer"

# Both servers answer before the rule: the listener really balances over the two.
e2e_check "before: 4 connections" rec_run before --connect "$VIP:9000" --conns 4 --send 4096 --timeout 10
e2e_check "  they reached both servers" rec_verify before --servers "$SERVER1:9000,$SERVER2:9000" --max-imbalance 0

e2e_check "nft in $NS_SRV: drop every SYN to $SERVER1:9000" nft_drop_syns || e2e_abort "nft"

e2e_check "8 connections in parallel while $SERVER1 is silent: all connect" \
  rec_run parallel --connect "$VIP:9000" --conns 8 --parallel 8 --send 65536 --timeout 20 \
  --source "$(rec_client_addrs)"
e2e_check "  all reached $SERVER2, within ${MAX_CONNECT_MS} ms, with their bytes intact" \
  rec_verify parallel --servers "$SERVER2:9000" --max-connect-ms "$MAX_CONNECT_MS"
e2e_log "info: ${REC_CHECK#check: }"

e2e_check "4 connections one after another while $SERVER1 is silent: all connect" \
  rec_run sequential --connect "$VIP:9000" --conns 4 --parallel 1 --send 4096 --timeout 20
e2e_check "  all reached $SERVER2 within ${MAX_CONNECT_MS} ms" \
  rec_verify sequential --servers "$SERVER2:9000" --max-connect-ms "$MAX_CONNECT_MS"
e2e_log "info: ${REC_CHECK#check: }"

e2e_check "the SYNs to $SERVER1 were dropped" syns_dropped
if bal_postern_only "postern syn_redispatched"; then
  e2e_check "postern: syn_redispatched > 0" bal_wait_counter 3 counters.syn_redispatched -gt 0
fi

e2e_check "nft rule removed" ip netns exec "$NS_SRV" nft delete table inet postern_e2e
e2e_check "after: 4 connections" rec_run after --connect "$VIP:9000" --conns 4 --send 4096 --timeout 10
e2e_check "  both servers take connections again" rec_verify after --servers "$SERVER1:9000,$SERVER2:9000" --max-imbalance 0

