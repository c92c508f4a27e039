#!/usr/bin/env bash
# The SYN proxy with real kernel peers (docs/hostile-traffic.md): `defense: syn_proxy: on`, so
# every SYN is answered by Postern with a cookie and the server side is opened only by the
# client's ACK. Real mail sessions (Dovecot: IMAP, POP3, ManageSieve, LMTP; Dovecot must log
# each client's own address from the PROXY v2 header) and megabytes each way through the
# recorder (every byte checksummed; the server reads the v2 header, then exactly the client's
# bytes) must work as without it, also
#   - for a client whose kernel sends no TCP timestamps (the cookie then keeps only the MSS),
#   - towards servers whose kernel declines window scaling (Postern rescales the windows),
#   - for an IMAP client whose handshake ACK is lost (nft in the client namespace drops the
#     first pure ACK towards the VIP's port 143): Dovecot speaks first, so only Postern's SYN-ACK
#     sent again a second later gets the session going.
# Postern's counters must show that every connection came through a cookie.
#
# Usage: tests/e2e/syn_proxy_test.sh   (root; POSTERN_BUILD_DIR, LAB as in
#        splice_bytes_test.sh; Postern only; ~40 s)
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

TITLE="syn proxy ($BALANCER)"
if [ "$BALANCER" != postern ]; then
  echo "$TITLE: Postern only (the SYN proxy is Postern's)"
  exit 0
fi

cleanup() {
  [ -z "${NS_CLI:-}" ] || ip netns exec "$NS_CLI" nft delete table inet postern_sp 2>/dev/null
  [ -z "${NS_CLI:-}" ] || ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_timestamps=1 2>/dev/null
  [ -z "${NS_SRV:-}" ] || ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_window_scaling=1 2>/dev/null
  rec_stop
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

bal_lab_up sy || e2e_abort "no lab"
mail_peers_start dovecot || e2e_abort "dovecot"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
DEFENSE=$LAB_RUN_DIR/defense.yaml
printf 'defense:\n  syn_proxy: on\n' >"$DEFENSE"
BAL_EXTRA_FILES=$DEFENSE bal_start "$E2E_ROOT/examples/lab/palomar-lab.cfg" \
  "$E2E_ROOT/tests/e2e/cfg/recorder.cfg" || e2e_abort "no balancer"

sessions=0
bulk() {  # bulk NAME: 4 connections, 1 MB each way, verified byte for byte
  rec_run "$1" --connect "$VIP:9000" --conns 4 --parallel 4 --send 1048576 --timeout 30 &&
    rec_verify "$1" --expect-proxy v2
}

# ---- as a client with every option ---------------------------------------------------------
dovecot_sessions "$LAB_RUN_DIR"
sessions=$((sessions + 4))
e2e_check "recorder: 4 x 1 MB echoed, the v2 header then exactly the client's bytes" bulk full
sessions=$((sessions + 4))

# ---- a client without TCP timestamps: the SYN-ACK offers only the MSS ----------------------
ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_timestamps=0
via_vip imap 143
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "no timestamps: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
fi
e2e_check "no timestamps: 4 x 1 MB echoed exactly" bulk nots
ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_timestamps=1
sessions=$((sessions + 5))

# ---- servers without window scaling: their windows rescaled into the client's --------------
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_window_scaling=0
e2e_check "servers without window scaling: 4 x 1 MB echoed exactly" bulk nows
via_vip imap 143
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_window_scaling=1
sessions=$((sessions + 5))

# ---- a lost handshake ACK: the SYN-ACK goes again and the session goes on -------------------
lose_first_ack() {
  ip netns exec "$NS_CLI" nft -f - <<EOF
table inet postern_sp {
  set seen { type inet_proto; flags dynamic; size 4; }
  counter lost {}
  chain out {
    type filter hook output priority filter; policy accept;
    meta l4proto @seen accept
    ip daddr $VIP tcp dport 143 tcp flags == ack add @seen { meta l4proto } counter name lost drop
  }
}
EOF
}
ack_lost_once() {
  local n
  n=$(ip netns exec "$NS_CLI" nft list counter inet postern_sp lost | awk '$1 == "packets" { print $2 }')
  echo "nft counter in $NS_CLI: ${n:-?} handshake ACK(s) dropped"
  [ "$n" = 1 ]
}
resent0=$(bal_counter counters.syn_cookies_resent)
e2e_check "nft in $NS_CLI drops the next handshake ACK towards $VIP:143" lose_first_ack
via_vip imap 143
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "lost handshake ACK: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
fi
e2e_check "lost handshake ACK: exactly that ACK was dropped" ack_lost_once
e2e_check "postern: the SYN-ACK was sent again (syn_cookies_resent grew)" \
  bal_wait_counter 3 counters.syn_cookies_resent -gt "${resent0:-0}"
ip netns exec "$NS_CLI" nft delete table inet postern_sp
sessions=$((sessions + 1))

# ---- every connection came through a cookie ------------------------------------------------
e2e_check "postern: syn_cookies_valid >= $sessions" \
  bal_wait_counter 3 counters.syn_cookies_valid -ge "$sessions"
same_count() {
  local created valid
  created=$(bal_counter counters.flows_created) valid=$(bal_counter counters.syn_cookies_valid)
  echo "flows_created=$created syn_cookies_valid=$valid"
  [ -n "$created" ] && [ "$created" = "$valid" ]
}
e2e_check "postern: every flow was opened by a cookie (flows_created = syn_cookies_valid)" \
  e2e_wait 3 same_count
e2e_check "postern: no cookie ACK refused (drops.syn_cookie_invalid = 0)" \
  bal_wait_counter 1 drops.syn_cookie_invalid -eq 0
