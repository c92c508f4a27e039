#!/usr/bin/env bash
# ICMP through the balancer: path MTU discovery and TTL expiry (DESIGN.md step 8). The lab gets
# a router namespace between the clients and Postern (lab.sh up NAME --router) whose route
# towards the clients has MTU 1280, narrower than every link: a server's full-size segment
# (MSS 1460) reaches the router, which answers with ICMP "fragmentation needed" (type 3 code 4,
# MTU 1280) to the packet's source, the VIP. Postern must translate that error to the server
# side like the flow's own packets (quoted header included), so the server lowers its path MTU
# towards Postern's source address and the data gets through. HAProxy terminates TCP, so its
# own kernel takes the ICMP and sends smaller segments: the yardstick passes without any ICMP
# reaching the server.
#
#   - a 4 MB message (alice's INBOX on both Dovecots) fetched whole with IMAP FETCH through
#     the narrow hop: size and sha256 as stored, and Dovecot logs rip=<client behind the router>
#   - a 10 MB server->client stream (recorder, mode source) after the PROXY v2 header: every
#     byte as the server sent it
#   - the router really sent "fragmentation needed" (nft counter on its output); with Postern
#     the server received translated ones (nft counter on its input) and its route cache shows
#     `mtu 1280` towards 198.19.0.1 (Postern's source address); with HAProxy the route cache of
#     the balancer's own namespace shows it towards the client
#   - TTL: a SYN with TTL 1 expires at the router, which answers ICMP time exceeded (the probe
#     itself works, both balancers); a SYN with TTL 2 reaches Postern with TTL 1, and Postern
#     (a hop on the way to the servers) must answer time exceeded from 198.18.0.1, its client-
#     side address. With HAProxy the balancer's namespace is the end host: TTL 1 is delivered,
#     not expired (RFC 1812 5.3.1 applies to forwarded packets only), so that check is skipped.
#
# Usage: tests/e2e/pmtu_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as in
#        splice_bytes_test.sh; ~6 s with HAProxy, ~60 s when the transfers stall)
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

TITLE="pmtu ($BALANCER)"
MESSAGE_BYTES=${PMTU_MESSAGE_BYTES:-4000000}
STREAM_BYTES=${PMTU_STREAM_BYTES:-10485760}
PROBE=$E2E_ROOT/tests/e2e/ttl_probe.py

cleanup() {
  rec_stop
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 240

# ---- helpers ---------------------------------------------------------------------------------

# make_message FILE BYTES: a deterministic mail of about BYTES with CRLF line ends.
make_message() {
  python3 - "$1" "$2" <<'EOF'
import base64, random, sys
path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(1280)
head = (b"From: <bob@example.net>\r\nTo: <alice@example.org>\r\nSubject: postern lab pmtu\r\n"
        b"Message-ID: <pmtu.1280@client.lab.example>\r\n\r\n")
with open(path, "wb") as f:
    f.write(head)
    n = len(head)
    while n < size:
        line = base64.b64encode(rng.randbytes(57)) + b"\r\n"
        f.write(line)
        n += len(line)
EOF
}

# icmp_counters NS CHAIN-HOOK: table postern_icmp counting "fragmentation needed" (3/4) and
# "time exceeded" (11) on the hook (the router's output: those it sends; the server's input:
# those it receives).
icmp_counters() {
  ip netns exec "$1" nft -f - <<EOF
table inet postern_icmp {
  counter frag_needed {}
  counter time_exceeded {}
  chain c {
    type filter hook $2 priority filter; policy accept;
    icmp type destination-unreachable icmp code frag-needed counter name frag_needed
    icmp type time-exceeded counter name time_exceeded
  }
}
EOF
}

icmp_count() {
  ip netns exec "$1" nft list counter inet postern_icmp "$2" 2>/dev/null | awk '$1 == "packets" { print $2 }'
}

icmp_counted() {
  local n
  n=$(icmp_count "$1" "$2")
  echo "$2 counted in $1: ${n:-?}"
  [ "${n:-0}" -gt 0 ]
}

# route_mtu NS DST: the namespace's route to DST shows the lowered path MTU (a cached
# exception from "fragmentation needed").
route_mtu() {
  local out
  out=$(ip netns exec "$1" ip route get "$2" 2>&1)
  echo "$1: ip route get $2: ${out//$'\n'/ | }"
  grep -q "mtu $PATH_MTU" <<<"$out"
}

fetched_as_stored() {
  local got
  got=$(grep -o 'fetched=[0-9]* sha256=[0-9a-f]*' <<<"$LAST")
  echo "client: ${got:-nothing fetched}; stored: fetched=$MSG_SIZE sha256=$MSG_SHA"
  [ "$got" = "fetched=$MSG_SIZE sha256=$MSG_SHA" ]
}

ttl_probe() {
  ip netns exec "$NS_CLI" python3 "$PROBE" --connect "$VIP:143" "$@"
}

# ---- lab, peers, balancer --------------------------------------------------------------------

bal_lab_up pm --router || e2e_abort "no lab"
[ "${LAB_ROUTER:-0}" = 1 ] || e2e_abort "lab.sh did not build the router namespace"
mail_peers_start dovecot || e2e_abort "dovecot"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
MSG=$LAB_RUN_DIR/pmtu-message.eml
make_message "$MSG" "$MESSAGE_BYTES"
MSG_SIZE=$(stat -c %s "$MSG")
MSG_SHA=$(sha256sum "$MSG" | cut -d' ' -f1)
e2e_check "a $MSG_SIZE-byte message in alice's INBOX on dc1" maildir_add dc1 "$MSG" || e2e_abort "maildir"
e2e_check "the same message in alice's INBOX on dc2" maildir_add dc2 "$MSG" || e2e_abort "maildir"
e2e_check "nft in $NS_RTR counts the ICMP errors the router sends" icmp_counters "$NS_RTR" output ||
  e2e_abort "nft"
e2e_check "nft in $NS_SRV counts the ICMP errors the servers receive" icmp_counters "$NS_SRV" input ||
  e2e_abort "nft"
e2e_log "router $NS_RTR: $(ip netns exec "$NS_RTR" ip route show "$CLIENT_NET")"
bal_start "$E2E_ROOT/tests/e2e/cfg/imap.cfg" "$E2E_ROOT/tests/e2e/cfg/recorder.cfg" || e2e_abort "no balancer"

# ---- TTL ---------------------------------------------------------------------------------------

e2e_check "TTL 1: the router ($ROUTER_CLIENT_ADDR) answers ICMP time exceeded (the probe works)" \
  ttl_probe --ttl 1 --expect-from "$ROUTER_CLIENT_ADDR"
if bal_postern_only "TTL 2 expiring at the balancer: HAProxy's namespace is the end host, TTL 1 is delivered"; then
  e2e_check "TTL 2: the SYN reaches Postern with TTL 1, Postern answers time exceeded from ${DP_CLIENT_ADDR%/*}" \
    ttl_probe --ttl 2 --expect-from "${DP_CLIENT_ADDR%/*}"
fi

# ---- a large IMAP FETCH through the narrow hop ---------------------------------------------

if SESSION_TIMEOUT=20 e2e_check "imap: login and FETCH of the $MSG_SIZE-byte message through the $PATH_MTU-byte hop" \
  session "$NS_CLI" imap "$VIP" 143 --fetch 1; then
  e2e_log "info: $(sed -E 's/ greeting=.*//' <<<"$LAST")"
fi
e2e_check "  the client got the message byte for byte (size and sha256)" fetched_as_stored
if [ -n "$LAST_INSTANCE" ] && [ -n "$LAST_PORT" ]; then
  e2e_check "  $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT (the client behind the router)" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
fi

# ---- a 10 MB server->client stream -----------------------------------------------------------

REC_RUN_LIMIT=45 e2e_check "recorder: $STREAM_BYTES bytes server->client through the $PATH_MTU-byte hop" \
  rec_run pmtu --connect "$VIP:9000" --mode source --reply "$STREAM_BYTES" --send 0 --timeout 25 \
  --connect-timeout 10
e2e_log "info: ${REC_SUMMARY#client: }"
e2e_check "  the server's stream: v2 header naming the client, then the whole reply arrived" \
  rec_verify pmtu --expect-proxy v2

# ---- the ICMP really flowed -----------------------------------------------------------------

e2e_check "the router sent ICMP fragmentation needed" icmp_counted "$NS_RTR" frag_needed
if [ "$BALANCER" = postern ]; then
  e2e_check "the servers received fragmentation needed (translated by Postern)" \
    icmp_counted "$NS_SRV" frag_needed
  e2e_check "the server's route cache towards Postern's source ${SOURCE_ADDR} shows mtu $PATH_MTU" \
    route_mtu "$NS_SRV" "$SOURCE_ADDR"
else
  e2e_log "info: with HAProxy the servers received $(icmp_count "$NS_SRV" frag_needed) fragmentation needed (its kernel took them)"
  e2e_check "HAProxy's kernel route cache towards the client $CLIENT_ADDR shows mtu $PATH_MTU" \
    route_mtu "$NS_DP" "$CLIENT_ADDR"
fi
e2e_log "info: the router sent $(icmp_count "$NS_RTR" frag_needed) fragmentation needed, $(icmp_count "$NS_RTR" time_exceeded) time exceeded"
