#!/usr/bin/env bash
# Every packet of a mail session's opening exchange can be lost, and the session must still
# work: the client logs in to Dovecot through the VIP and Dovecot logs the real client address
# (rip=/rport= from the PROXY v2 header). Each case drops exactly ONE packet with a one-shot
# nftables rule where a kernel sees it (the client or the server namespace: Postern's veth ends
# belong to DPDK and have no kernel path), and nft's counter must show exactly one drop:
#
#   a  the client's SYN                     (client, out)
#   b  the server's SYN-ACK leaving it      (server, out)
#   c  the SYN-ACK reaching the client      (client, in)
#   d  the client's handshake ACK           (client, out: its first segment after the SYN)
#   e  the PROXY v2 header segment          (server, in: payload starts with the signature)
#   f1 the greeting leaving the server      (server, out: payload "* OK")
#   f2 the greeting reaching the client     (client, in)
#   g1 the client's LOGIN leaving it        (client, out: payload "a1 LOGIN")
#   g2 the LOGIN reaching the server        (server, in: shifted by the header's length)
#   h  the server's ACK of the header       (server, out: Dovecot's kernel acknowledges the
#      header at once with a pure ACK, before the greeting, seen with tcpdump: the first
#      packet from :143 without SYN, FIN, RST or PSH and no payload)
#
# "in" drops in the input hook. "out" must look like a loss in the network, which the output
# hook is not: a packet dropped there fails the sender's transmit call (EPERM), and Linux TCP
# deletes a request socket whose SYN-ACK retransmission fails and keeps unsent data out of
# flight. So "out" is the netdev egress hook of the lab interface, where `fwd to` a veth left
# down (pbh0, a blackhole in the same namespace) takes the packet while the sender sees success.
#   i  a server that answers a retransmitted SYN with a SYN-ACK carrying a NEW ISN (defect 1):
#      the server namespace answers the first SYN with a SYN cookie (tcp_syncookies=2), that
#      SYN-ACK is dropped after the balancer's connecting end saw it... (Postern: on its way to
#      the client, so Postern saw it; HAProxy: as it reaches HAProxy's kernel, the connecting
#      end there), then tcp_syncookies=0 before the retransmitted SYN, which gets a request
#      socket with a random ISN. A capture in the server namespace must show two SYN-ACKs with
#      different ISNs (within a minute, two cookie SYN-ACKs for the same SYN carry the SAME
#      ISN, so cookies alone prove nothing). Postern must put the ISN the client acknowledged
#      into its header's ACK, or the server drops the header and Dovecot logs "haproxy: Client
#      timed out".
#
# Then a loss soak: SOAK_SESSIONS IMAP sessions (SOAK_PARALLEL at a time, client addresses in
# turn) through (1) LOSS_PCT % random loss on both sides, both directions (nft numgen in the
# client and the server namespace, in and out as above), and (2) bursts: everything, both sides
# and both directions, is lost for BURST_MS, every 1.5-2.5 s (the gap drawn anew each time: a
# fixed period would phase-lock with TCP's doubling retransmission timeouts, 1, 2, 4, 8 s, and
# hit the same connection's every retry). Every session must succeed and Dovecot must log each login with its client's address:port,
# exactly once (imap_soak.py check).
#
# Usage: tests/e2e/handshake_loss_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB
#        as in splice_bytes_test.sh; E2E_SOAK=1 runs 1,000 sessions per pattern; HS_SOAK_SESSIONS,
#        HS_SOAK_PARALLEL, HS_LOSS_PCT, HS_BURST_MS change them; HS_CAPTURE=1 keeps the soak's
#        packets; ~35-50 s, with E2E_SOAK=1 ~3-5 min)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"

TITLE="handshake loss ($BALANCER)"
# Payload prefixes (nft @ih is the start of the TCP payload, after the options).
SIG=0x0d0a0d0a000d0a515549540a # PROXY v2 signature (proxy-protocol.txt 2.2)
GREETING=0x2a204f4b            # "* OK"
LOGIN=0x6131204c4f47494e       # "a1 LOGIN" (mailclient.py's tag)
if [ "${E2E_SOAK:-0}" != 0 ]; then
  SOAK_SESSIONS=${HS_SOAK_SESSIONS:-1000}
  WATCHDOG=3600
else
  SOAK_SESSIONS=${HS_SOAK_SESSIONS:-120}
  WATCHDOG=420
fi
SOAK_PARALLEL=${HS_SOAK_PARALLEL:-16}
LOSS_PCT=${HS_LOSS_PCT:-5}
BURST_MS=${HS_BURST_MS:-250}
# A session under loss waits for TCP's own recovery: SYN retries at 1, 3, 7, 15, 31 s; and a
# lost handshake ACK makes the server time its RTO from the first SYN-ACK (the client echoes
# that one's timestamp), e.g. 3 s of handshake -> an RTO near 10 s, doubling on each loss. A
# Postern session under 5 % loss per side was seen waiting 32 s for one reply.
SOAK_READ_TIMEOUT=90
SOAK_PY=$E2E_ROOT/tests/e2e/imap_soak.py
TOGGLER_PID=
TCPDUMP_PID=
WATCHER_PID=
CAPTURE_PIDS=()

stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

cleanup() {
  [ -z "${SOAK_DIR:-}" ] || touch "$SOAK_DIR/stop"
  stop_pid "$TOGGLER_PID"
  stop_pid "$TCPDUMP_PID"
  stop_pid "$WATCHER_PID"
  capture_stop
  TOGGLER_PID='' TCPDUMP_PID='' WATCHER_PID=''
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog "$WATCHDOG"

# ---- helpers ---------------------------------------------------------------------------------

ns_of() {
  case $1 in
  cli) echo "$NS_CLI" ;;
  srv) echo "$NS_SRV" ;;
  dp) echo "$NS_DP" ;;
  esac
}

if_of() {
  case $1 in
  cli) echo cli0 ;;
  srv) echo srv0 ;;
  dp) echo dps0 ;;
  esac
}

# blackhole SIDE: the veth pair pbh0/pbh1, left down, in SIDE's namespace: `fwd to "pbh0"` on
# egress loses a packet without the sender noticing.
blackhole() {
  local ns
  ns=$(ns_of "$1")
  ip netns exec "$ns" ip link show pbh0 >/dev/null 2>&1 ||
    ip netns exec "$ns" ip link add pbh0 type veth peer name pbh1
}

# nft_hook SIDE DIR: the family and chain head for losing packets in direction DIR (in/out) on
# SIDE's lab interface; NFT_LOSE: the verdict that loses the packet.
nft_hook() {
  if [ "$2" = in ]; then
    NFT_FAMILY=inet
    NFT_HOOK="type filter hook input priority filter; policy accept;"
    NFT_LOSE=drop
  else
    NFT_FAMILY=netdev
    NFT_HOOK="type filter hook egress device \"$(if_of "$1")\" priority filter; policy accept;"
    NFT_LOSE='fwd to pbh0'
  fi
}

# drop_once SIDE DIR MATCH: table postern_hs in SIDE's namespace loses the first packet that
# matches in direction DIR (in/out) and counts it; the set `seen` (one key: the protocol) lets
# every later packet pass.
drop_once() {
  local ns
  ns=$(ns_of "$1")
  drop_clear "$1"
  blackhole "$1" || return 1
  nft_hook "$1" "$2"
  ip netns exec "$ns" nft -f - <<EOF
table $NFT_FAMILY postern_hs {
  set seen { type inet_proto; flags dynamic; size 4; }
  counter dropped {}
  chain c {
    $NFT_HOOK
    meta l4proto @seen accept
    $3 add @seen { meta l4proto } counter name dropped $NFT_LOSE
  }
}
EOF
}

drop_clear() {
  local fam
  for fam in inet netdev; do
    ip netns exec "$(ns_of "$1")" nft delete table "$fam" postern_hs 2>/dev/null
  done
  return 0
}

# dropped SIDE [FAMILY]: packets counted by the one-shot rule (of FAMILY only: faster).
dropped() {
  local fam
  for fam in ${2:-inet netdev}; do
    ip netns exec "$(ns_of "$1")" nft list counter "$fam" postern_hs dropped 2>/dev/null
  done | awk '$1 == "packets" { n += $2; seen = 1 } END { if (seen) print n }'
}

exactly_one_dropped() {
  local n
  n=$(dropped "$1")
  echo "nft counter in $(ns_of "$1"): ${n:-?} packet(s) dropped"
  [ "$n" = 1 ]
}

# What the Dovecots said since the last session's mark (warnings, errors, disconnects).
dovecot_said() {
  local dc
  for dc in dc1 dc2; do
    tail -c +"$((${MARK[$dc]:-0} + 1))" "${LOG_OF[$dc]}" 2>/dev/null |
      grep -E 'Error|Warning|Disconnected|timed out' | sed "s/^/      $dc: /"
  done
}

# login_case ID SIDE DIR MATCH WHAT: one packet (WHAT) lost, then an IMAP login that must
# work and be logged with the client's address and port.
login_case() {
  local id=$1 side=$2 dir=$3 match=$4 what=$5 ms
  e2e_log "---- case $id: $what is lost"
  e2e_check "case $id: nft in $(ns_of "$side") ($dir): lose the first packet matching '$match'" \
    drop_once "$side" "$dir" "$match" || return
  if SESSION_TIMEOUT=15 e2e_check "case $id: IMAP login via $VIP:143 although $what was lost" \
    session "$NS_CLI" imap "$VIP" 143; then
    ms=$(sed -n 's/.* ms=\([0-9.]*\) .*/\1/p' <<<"$LAST")
    e2e_log "info: case $id: session took ${ms:-?} ms (client port $LAST_PORT, $LAST_INSTANCE)"
  else
    dovecot_said
  fi
  e2e_check "case $id: exactly one packet dropped ($what)" exactly_one_dropped "$side"
  if [ -n "$LAST_INSTANCE" ] && [ -n "$LAST_PORT" ]; then
    e2e_check "case $id: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
      dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
  fi
  drop_clear "$side"
}

# ---- case i helpers --------------------------------------------------------------------------

syncookies() {
  ip netns exec "$NS_SRV" sysctl -q -w "net.ipv4.tcp_syncookies=$1"
}

capture_listening() {
  grep -q 'listening on' "$CASE_DIR/tcpdump.err"
}

# Waits (5 s at most) for the one-shot rule to drop the cookie SYN-ACK, then turns cookies off
# before the client's (or HAProxy's) SYN retransmission, 1 s after the first SYN.
switch_after_drop() {
  local side=$1 i t0
  t0=$(date +%s%N)
  for i in $(seq 1 250); do
    if [ "$(dropped "$side" inet)" = 1 ]; then
      syncookies 0
      echo "syncookies 0 set $((($(date +%s%N) - t0) / 1000000)) ms after the session started" \
        >"$CASE_DIR/switched"
      return 0
    fi
    sleep 0.02
  done
  echo "the cookie SYN-ACK was not dropped within 5 s" >"$CASE_DIR/switched"
  return 1
}

switched() {
  cat "$CASE_DIR/switched"
  grep -q 'syncookies 0 set' "$CASE_DIR/switched"
}

# The SYN-ACKs the server sent (tcpdump in its namespace): at least two, the ISNs different.
two_isns() {
  local lines first last l
  stop_pid "$TCPDUMP_PID"
  TCPDUMP_PID=
  lines=$(tcpdump -nn -S -r "$CASE_DIR/synack.pcap" 2>/dev/null)
  while IFS= read -r l; do echo "  | $l"; done <<<"$lines"
  first=$(sed -n '1s/.* seq \([0-9]*\),.*/\1/p' <<<"$lines")
  last=$(sed -n '$s/.* seq \([0-9]*\),.*/\1/p' <<<"$lines")
  echo "SYN-ACK ISNs: first ${first:-none}, last ${last:-none}"
  [ "$(grep -c 'Flags \[S\.\]' <<<"$lines")" -ge 2 ] && [ -n "$first" ] && [ "$first" != "$last" ]
}

case_new_isn() {
  local side dir old ms
  if [ "$BALANCER" = postern ]; then
    side=cli # Postern forwarded the SYN-ACK: it is lost between Postern and the client
  else
    side=dp # HAProxy's kernel is the connecting end: lose the SYN-ACK before it sees it
  fi
  dir=in
  CASE_DIR=$LAB_RUN_DIR/case-i
  mkdir -p "$CASE_DIR"
  e2e_log "---- case i: the retransmitted SYN is answered with a new ISN"
  if ! command -v tcpdump >/dev/null; then
    e2e_fail "case i: tcpdump missing (scripts/setup.sh installs it)"
    return
  fi
  old=$(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_syncookies)
  e2e_check "case i: server namespace answers SYNs with SYN cookies (tcp_syncookies=2)" syncookies 2 ||
    return
  e2e_check "case i: nft in $(ns_of "$side") ($dir): drop the first SYN-ACK from :143" \
    drop_once "$side" "$dir" "tcp sport 143 tcp flags & (syn | ack) == (syn | ack)" || return
  ip netns exec "$NS_SRV" tcpdump --immediate-mode -U -nn -i srv0 -w "$CASE_DIR/synack.pcap" \
    'tcp src port 143 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)' \
    </dev/null >/dev/null 2>"$CASE_DIR/tcpdump.err" &
  TCPDUMP_PID=$!
  e2e_check "case i: capture of the server's SYN-ACKs running" e2e_wait 5 capture_listening || return
  rm -f "$CASE_DIR/switched"
  switch_after_drop "$side" &
  WATCHER_PID=$!
  if SESSION_TIMEOUT=15 e2e_check "case i: IMAP login via $VIP:143 although the server changed its ISN" \
    session "$NS_CLI" imap "$VIP" 143; then
    ms=$(sed -n 's/.* ms=\([0-9.]*\) .*/\1/p' <<<"$LAST")
    e2e_log "info: case i: session took ${ms:-?} ms (client port $LAST_PORT, $LAST_INSTANCE)"
  else
    dovecot_said
  fi
  wait "$WATCHER_PID"
  WATCHER_PID=
  e2e_check "case i: cookies turned off after the first SYN-ACK, before the retransmission" switched
  e2e_check "case i: exactly one SYN-ACK dropped" exactly_one_dropped "$side"
  e2e_check "case i: the server's two SYN-ACKs carry different ISNs (capture)" two_isns
  if [ -n "$LAST_INSTANCE" ] && [ -n "$LAST_PORT" ]; then
    e2e_check "case i: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
      dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
  fi
  syncookies "$old"
  drop_clear "$side"
}

# ---- soak helpers ----------------------------------------------------------------------------

# loss_table SIDE: tables postern_loss (one per direction, as for drop_once) on SIDE's lab
# interface, TCP only: chain `loss` (random losses, counted in `rnd`) and chain `outage`
# (filled by the burst toggler, counted in `bursts`), each jumped to from the hook's chain.
loss_table() {
  local ns ifc dir match
  ns=$(ns_of "$1")
  ifc=$(if_of "$1")
  blackhole "$1" || return 1
  for dir in in out; do
    nft_hook "$1" "$dir"
    match=
    [ "$dir" = out ] || match="iifname \"$ifc\""
    ip netns exec "$ns" nft delete table "$NFT_FAMILY" postern_loss 2>/dev/null
    ip netns exec "$ns" nft -f - <<EOF || return 1
table $NFT_FAMILY postern_loss {
  counter rnd {}
  counter bursts {}
  chain loss {}
  chain outage {}
  chain c {
    $NFT_HOOK
    $match meta l4proto tcp jump loss
    $match meta l4proto tcp jump outage
  }
}
EOF
  done
}

# loss_counter SIDE NAME: both directions' counter NAME, added up.
loss_counter() {
  local fam
  for fam in inet netdev; do
    ip netns exec "$(ns_of "$1")" nft list counter "$fam" postern_loss "$2" 2>/dev/null
  done | awk '$1 == "packets" { n += $2 } END { print n + 0 }'
}

# loss_rule SIDE CHAIN STATEMENT...: adds STATEMENT, then the losing verdict, to CHAIN of both
# directions' tables; loss_flush SIDE CHAIN empties them.
loss_rule() {
  local side=$1 chain=$2 dir
  shift 2
  for dir in in out; do
    nft_hook "$side" "$dir"
    # shellcheck disable=SC2086 # NFT_LOSE is two words on egress
    ip netns exec "$(ns_of "$side")" nft add rule "$NFT_FAMILY" postern_loss "$chain" "$@" $NFT_LOSE ||
      return 1
  done
}

loss_flush() {
  local fam
  for fam in inet netdev; do
    ip netns exec "$(ns_of "$1")" nft flush chain "$fam" postern_loss "$2"
  done
}

random_loss() {
  local side
  for side in cli srv; do
    loss_rule "$side" loss numgen random mod 100 '<' "$LOSS_PCT" counter name rnd || return 1
  done
}

random_loss_off() {
  loss_flush cli loss
  loss_flush srv loss
}

outage() {
  if [ "$2" = on ]; then
    loss_rule "$1" outage counter name bursts
  else
    loss_flush "$1" outage
  fi
}

# both WHAT: outage WHAT on both sides at once.
both() {
  outage cli "$1" &
  outage srv "$1"
  wait $!
}

# The burst pattern, until SOAK_DIR/stop appears (bounded by the watchdog's limit): both sides
# down for BURST_MS, then up for 1.25-2.25 s (random), and again.
burst_toggler() {
  local b gap n=0
  b=$(printf '%d.%03d' $((BURST_MS / 1000)) $((BURST_MS % 1000)))
  while [ ! -e "$SOAK_DIR/stop" ] && [ "$SECONDS" -lt "$WATCHDOG" ]; do
    gap=$((1250 + RANDOM % 1000))
    sleep "$(printf '%d.%03d' $((gap / 1000)) $((gap % 1000)))"
    both on
    sleep "$b"
    both off
    n=$((n + 1))
    echo "$n" >"$SOAK_DIR/bursts"
  done
  both off
}

# HS_CAPTURE=1: the soak's packets on cli0 and srv0 (headers only) go to SOAK_DIR/LABEL-*.pcap,
# kept with the run's logs when a check fails. A capture shows what reached an interface: the
# packets lost on input are in it, those lost on egress are not.
capture_start() {
  local side
  [ -n "${HS_CAPTURE:-}" ] || return 0
  for side in cli srv; do
    ip netns exec "$(ns_of "$side")" tcpdump --immediate-mode -U -nn -s 128 -i "$(if_of "$side")" \
      -w "$SOAK_DIR/$1-$side.pcap" tcp </dev/null >/dev/null 2>"$SOAK_DIR/$1-$side.tcpdump.err" &
    CAPTURE_PIDS+=($!)
  done
  sleep 1 # tcpdump needs a moment before it captures
}

capture_stop() {
  local pid
  for pid in "${CAPTURE_PIDS[@]}"; do stop_pid "$pid"; done
  CAPTURE_PIDS=()
}

# soak LABEL: SOAK_SESSIONS sessions under the loss now in force; SOAK_SUMMARY its line.
soak() {
  local label=$1 rc dc
  for dc in dc1 dc2; do MARK[$dc]=$(e2e_size "${LOG_OF[$dc]}"); done
  capture_start "$label"
  SOAK_SUMMARY=$(ip netns exec "$NS_CLI" python3 "$SOAK_PY" run --host "$VIP" --port 143 \
    --sessions "$SOAK_SESSIONS" --parallel "$SOAK_PARALLEL" --sources "$(tr ' ' ',' <<<"$CLIENT_ADDRS")" \
    --timeout "$SOAK_READ_TIMEOUT" --session-limit 300 --max-seconds $((WATCHDOG - SECONDS - 60)) \
    --results "$SOAK_DIR/$label.jsonl" --label "$label" 2>&1)
  rc=$?
  capture_stop
  echo "$SOAK_SUMMARY"
  return $rc
}

soak_logged() {
  python3 "$SOAK_PY" check --results "$SOAK_DIR/$1.jsonl" --wait 10 \
    --log "${LOG_OF[dc1]}:${MARK[dc1]}" --log "${LOG_OF[dc2]}:${MARK[dc2]}"
}

positive() {
  echo "$1: $2"
  [ "${2:-0}" -gt 0 ]
}

# ---- lab, peers, balancer --------------------------------------------------------------------

bal_lab_up hs || e2e_abort "no lab"
mail_peers_start dovecot || e2e_abort "dovecot"
bal_start "$E2E_ROOT/tests/e2e/cfg/imap.cfg" || e2e_abort "no balancer"
via_vip imap 143 || e2e_abort "no IMAP login without loss"

# ---- one lost packet per case ----------------------------------------------------------------

synack="tcp sport 143 tcp flags & (syn | ack) == (syn | ack)"
login_case a cli out "tcp dport 143 tcp flags & (syn | ack) == syn" "the client's SYN"
login_case b srv out "$synack" "the server's SYN-ACK (leaving the server)"
login_case c cli in "$synack" "the SYN-ACK (reaching the client)"
login_case d cli out "tcp dport 143 tcp flags & (syn | ack | fin | rst) == ack" "the client's handshake ACK"
login_case e srv in "tcp dport 143 @ih,0,96 $SIG" "the PROXY v2 header segment"
login_case f1 srv out "tcp sport 143 @ih,0,32 $GREETING" "the greeting (leaving the server)"
login_case f2 cli in "tcp sport 143 @ih,0,32 $GREETING" "the greeting (reaching the client)"
login_case g1 cli out "tcp dport 143 @ih,0,64 $LOGIN" "the client's LOGIN (leaving the client)"
login_case g2 srv in "tcp dport 143 @ih,0,64 $LOGIN" "the client's LOGIN (reaching the server)"
login_case h srv out "tcp sport 143 ip length <= 64 tcp flags & (syn | ack | fin | rst | psh) == ack" \
  "the server's ACK of the header"
case_new_isn

# ---- soak: random and bursty loss ------------------------------------------------------------

SOAK_DIR=$LAB_RUN_DIR/soak
mkdir -p "$SOAK_DIR"
e2e_check "loss tables in $NS_CLI (cli0) and $NS_SRV (srv0), both directions" \
  eval 'loss_table cli && loss_table srv' || e2e_abort "nft"

e2e_log "---- soak: $SOAK_SESSIONS sessions through $LOSS_PCT % random loss on both sides"
e2e_check "random loss $LOSS_PCT % on: client and server namespaces, both directions" random_loss
e2e_check "soak random: every session logs in ($SOAK_SESSIONS, $SOAK_PARALLEL at a time)" soak random
e2e_log "info: ${SOAK_SUMMARY%%$'\n'*}"
random_loss_off
n=$(($(loss_counter cli rnd) + $(loss_counter srv rnd)))
e2e_check "  the loss was real: $n packets dropped at random (client + server)" positive "random drops" "$n"
e2e_check "  Dovecot logged every login once with its client's rip/rport" soak_logged random

e2e_log "---- soak: $SOAK_SESSIONS sessions through ${BURST_MS} ms outages of both sides every 1.5-2.5 s"
rm -f "$SOAK_DIR/stop"
burst_toggler &
TOGGLER_PID=$!
e2e_check "soak bursty: every session logs in ($SOAK_SESSIONS, $SOAK_PARALLEL at a time)" soak bursty
e2e_log "info: ${SOAK_SUMMARY%%$'\n'*}"
touch "$SOAK_DIR/stop"
wait "$TOGGLER_PID"
TOGGLER_PID=
n=$(($(loss_counter cli bursts) + $(loss_counter srv bursts)))
e2e_check "  the outages were real: $(cat "$SOAK_DIR/bursts" 2>/dev/null || echo 0) outages, $n packets dropped" \
  positive "burst drops" "$n"
e2e_check "  Dovecot logged every login once with its client's rip/rport" soak_logged bursty
