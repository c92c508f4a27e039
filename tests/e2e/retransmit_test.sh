#!/usr/bin/env bash
# The PROXY v2 header is Postern's own data: when the network loses it, Postern must send it
# again (DESIGN.md step 4: a timer with backoff, and at once on a duplicate ACK stopping at the
# client's ISN + 1). nftables in the server namespace drops the first packet whose TCP payload
# starts with the v2 signature, once per destination port:
#   - IMAP (server speaks first): the header goes alone on the handshake ACK and is lost;
#     Dovecot waits (haproxy_timeout 3 s) until the retransmission arrives, then the login
#     works and Dovecot logs the client's address;
#   - the recorder (client speaks at once): its bytes reach the server ahead of the lost
#     header, the server's duplicate ACKs must bring the header back, and the stream the server
#     reads must still be header + every client byte in order.
# nft counts exactly one drop per case; Postern's proxy_retransmits must show the resends.
#
# Usage: tests/e2e/retransmit_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as
#        in splice_bytes_test.sh; ~12 s)
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

TITLE="retransmit ($BALANCER)"
# The 12-byte PROXY v2 signature (proxy-protocol.txt section 2.2), matched at the start of the
# TCP payload: @ih is the inner header base, i.e. right after the TCP header and its options
# (with timestamps the payload starts 32 bytes in, so @th,160,96 would miss it).
SIG=0x0d0a0d0a000d0a515549540a
# A retransmission timer starts at 200 ms or more; a resend prompted by duplicate ACKs comes
# within a few milliseconds.
DUPACK_MAX_MS=${RETRANSMIT_DUPACK_MAX_MS:-100}

cleanup() {
  rec_stop
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 150

# A set of destination ports already hit: the first header to each port is dropped and
# counted, every later one passes.
nft_rules() {
  ip netns exec "$NS_SRV" nft -f - <<EOF
table inet postern_e2e {
  set seen { type inet_service; flags dynamic; size 64; }
  counter imap_header_dropped {}
  counter recorder_header_dropped {}
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport @seen @ih,0,96 $SIG accept
    tcp dport 143 @ih,0,96 $SIG add @seen { tcp dport } counter name imap_header_dropped drop
    tcp dport 9000 @ih,0,96 $SIG add @seen { tcp dport } counter name recorder_header_dropped drop
  }
}
EOF
}

# nft_dropped COUNTER: packets the named counter has seen.
nft_dropped() {
  ip netns exec "$NS_SRV" nft list counter inet postern_e2e "$1" | awk '$1 == "packets" { print $2 }'
}

nft_dropped_is() {
  local n
  n=$(nft_dropped "$1")
  echo "nft counter $1: ${n:-?} packet(s)"
  [ "$n" = "$2" ]
}

bal_lab_up rt || e2e_abort "no lab"
mail_peers_start dovecot || e2e_abort "dovecot"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
bal_start "$E2E_ROOT/examples/lab/palomar-lab.cfg" "$E2E_ROOT/tests/e2e/cfg/recorder.cfg" || e2e_abort "no balancer"
e2e_check "nft in $NS_SRV: drop the first packet carrying the v2 signature, per port" nft_rules || e2e_abort "nft"

# ---- IMAP: the header alone is lost --------------------------------------------------------
SESSION_TIMEOUT=8 via_vip imap 143
imap_ms=$(sed -n 's/.* ms=\([0-9.]*\) .*/\1/p' <<<"$LAST")
e2e_check "nft dropped exactly one IMAP header" nft_dropped_is imap_header_dropped 1
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "imap: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT (the resent header)" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
  e2e_log "info: imap session with the header resent took ${imap_ms:-?} ms"
fi
if bal_postern_only "postern proxy_retransmits after the IMAP login"; then
  e2e_check "postern: proxy_retransmits >= 1" bal_wait_counter 3 counters.proxy_retransmits -ge 1
fi
via_vip imap 143
e2e_check "the next IMAP header passed (nft count still 1)" nft_dropped_is imap_header_dropped 1

# ---- the recorder: client bytes overtake the lost header -----------------------------------
e2e_check "recorder: 256 KB echoed although the header was lost behind the client's bytes" \
  rec_run lost --connect "$VIP:9000" --send 262144 --timeout 20
e2e_log "info: ${REC_SUMMARY#client: }"
e2e_check "nft dropped exactly one recorder header" nft_dropped_is recorder_header_dropped 1
e2e_check "  the server read the v2 header, then exactly the client's bytes" \
  rec_verify lost --expect-proxy v2
e2e_log "info: ${REC_CHECK#check: }"
# The server's duplicate ACKs (ack = ISN + 1, SACK for the client's bytes) bring the header
# back at once, not after the retransmission timer (DESIGN.md step 4).
e2e_check "  the header came back on the server's duplicate ACKs (first byte < ${DUPACK_MAX_MS} ms after accept)" \
  rec_verify lost --expect-proxy v2 --max-first-byte-ms "$DUPACK_MAX_MS"
if bal_postern_only "postern proxy_retransmits after the recorder run"; then
  e2e_check "postern: proxy_retransmits >= 2" bal_wait_counter 3 counters.proxy_retransmits -ge 2
fi

