#!/usr/bin/env bash
# What Dovecot sees of health checks: every check connection arrives with a PROXY v2 LOCAL
# header (never a PROXY one: no client is behind a check), Dovecot takes it (the log names the
# balancer's own address, rip=198.19.0.1, as LOCAL asks) and logs no error or warning, and no
# "haproxy:" line (a header missing, late or refused). Two phases, a few seconds of checks each
# (`inter 1s`), on both lab Dovecots and all four of their services:
#
#   A (both balancers)  imap  :143   `check` with send-proxy-v2 (connect, LOCAL, close)
#                       pop3  :110   `option tcp-check`: expect "+OK", send QUIT, expect "+OK"
#                       lmtp  :24    `option tcp-check`: expect rstring "^220 ", QUIT, "221"
#                       sieve :4190  `check port 4190 check-send-proxy` (the check port set, so
#                                    the header needs check-send-proxy, as in HAProxy)
#   B (Postern only)    `option mail-check` on each: imap, pop3, lmtp and (no protocol named,
#                       port 4190) sieve: the greeting, then LOGOUT/QUIT, closed with FIN
#
# nftables in the server namespace counts, per port, the SYNs, the first segments that carry
# a v2 LOCAL header and a v2 PROXY header, and the balancer's FINs and RSTs. Postern's checks
# always close with FIN (never RST: PEERS.md, Postfix); HAProxy's close with RST (reported).
# Every server stays UP. The log lines each kind of check leaves are printed, ids folded
# (README.md "Health checks" lists them).
#
# Usage: tests/e2e/dovecot_check_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB
#        as in splice_bytes_test.sh; E2E_SOAK=1 checks for 60 s per phase; ~15 s with HAProxy,
#        ~30 s with Postern)
set -uo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_need_root
# shellcheck source=tests/e2e/balancer.sh
source "$E2E_ROOT/tests/e2e/balancer.sh"
# shellcheck source=tests/e2e/mail.sh
source "$E2E_ROOT/tests/e2e/mail.sh"
# shellcheck source=tests/e2e/health.sh
source "$E2E_ROOT/tests/e2e/health.sh"

TITLE="dovecot and checks ($BALANCER)"
if [ "${E2E_SOAK:-0}" != 0 ]; then
  PHASE_SECS=${DC_CHECK_SECS:-60}
else
  PHASE_SECS=${DC_CHECK_SECS:-6}
fi
SIG=0x0d0a0d0a000d0a515549540a # PROXY v2 signature (proxy-protocol.txt 2.2)
PORTS=(143 110 24 4190)
declare -A SERVICE=([143]=imap [110]=pop3 [24]=lmtp [4190]=sieve)
# The line a service logs per connection, and how it names the client.
declare -A CONN_LINE=([143]='imap-login: Info: Disconnected' [110]='pop3-login: Info: Disconnected'
  [24]='lmtp\([0-9]+\): Info: Connect from' [4190]='managesieve-login: Info: Disconnected')

cleanup() {
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog $((PHASE_SECS * 2 + 180))

SRV="check send-proxy-v2 inter 1s fall 2 rise 2"

cfg_head() {
  cat <<EOF
# Written by tests/e2e/dovecot_check_test.sh (phase $1).
defaults
    mode tcp
    balance roundrobin
    timeout connect 2s
    timeout check 1s
    timeout client 1m
    timeout server 1m
EOF
}

cfg_a() {
  cfg_head A
  cat <<EOF

listen imap4
    bind $VIP:143
    server dc1 $SERVER1:143 $SRV
    server dc2 $SERVER2:143 $SRV

listen pop3
    bind $VIP:110
    option tcp-check
    tcp-check expect string "+OK"
    tcp-check send "QUIT\r\n"
    tcp-check expect string "+OK"
    server dc1 $SERVER1:110 $SRV
    server dc2 $SERVER2:110 $SRV

listen lmtp
    bind $VIP:24
    option tcp-check
    tcp-check expect rstring "^220 "
    tcp-check send "QUIT\r\n"
    tcp-check expect string "221"
    server dc1 $SERVER1:24 $SRV
    server dc2 $SERVER2:24 $SRV

listen sieve
    bind $VIP:4190
    server dc1 $SERVER1:4190 $SRV port 4190 check-send-proxy
    server dc2 $SERVER2:4190 $SRV port 4190 check-send-proxy
EOF
}

cfg_b() {
  local l p proto
  cfg_head B
  for l in imap4:143:imap pop3:110:pop3 lmtp:24:lmtp sieve:4190:; do
    IFS=: read -r l p proto <<<"$l"
    printf '\nlisten %s\n    bind %s:%s\n    option mail-check%s\n' "$l" "$VIP" "$p" "${proto:+ $proto}"
    printf '    server dc1 %s:%s %s\n    server dc2 %s:%s %s\n' "$SERVER1" "$p" "$SRV" "$SERVER2" "$p" "$SRV"
  done
}

# nft_counters: per port, SYNs, first segments with a v2 LOCAL / PROXY header, FINs and RSTs
# coming from the balancer.
nft_counters() {
  local p
  {
    echo "table inet hc_dc {"
    for p in "${PORTS[@]}"; do
      echo "  counter syn$p {}"
      echo "  counter local$p {}"
      echo "  counter proxy$p {}"
      echo "  counter fin$p {}"
      echo "  counter rst$p {}"
    done
    echo "  chain c {"
    echo "    type filter hook input priority filter; policy accept;"
    for p in "${PORTS[@]}"; do
      echo "    tcp dport $p tcp flags & (syn | ack) == syn counter name syn$p"
      echo "    tcp dport $p @ih,0,96 $SIG @ih,96,8 0x20 counter name local$p"
      echo "    tcp dport $p @ih,0,96 $SIG @ih,96,8 0x21 counter name proxy$p"
      echo "    tcp dport $p tcp flags & fin == fin counter name fin$p"
      echo "    tcp dport $p tcp flags & rst == rst counter name rst$p"
    done
    echo "  }"
    echo "}"
  } | ip netns exec "$NS_SRV" nft -f -
}

nft_reset() {
  ip netns exec "$NS_SRV" nft reset counters table inet hc_dc >/dev/null
}

count() {
  ip netns exec "$NS_SRV" nft list counter inet hc_dc "$1" | awk '$1 == "packets" { print $2 }'
}

no_error_lines() {
  local dc bad=0
  for dc in dc1 dc2; do
    if logged_since "$dc" | grep -E ': (Error|Warning|Fatal|Panic): |: haproxy: ' >"$HC_DIR/bad.$dc"; then
      echo "$dc logged:"
      head -n 10 "$HC_DIR/bad.$dc" | sed 's/^/  | /'
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] && echo "dc1, dc2: no Error, Warning, Fatal, Panic or haproxy: line"
}

# headers PORT: the check connections to PORT carried a LOCAL header, none a PROXY one.
headers() {
  local p=$1 syn loc proxy
  syn=$(count "syn$p") loc=$(count "local$p") proxy=$(count "proxy$p")
  echo "port $p: $syn SYNs, $loc LOCAL headers, $proxy PROXY headers, $(count "fin$p") FINs, $(count "rst$p") RSTs from the balancer"
  [ "$syn" -ge 4 ] && [ "$proxy" -eq 0 ] && [ "$loc" -ge $((syn - 2)) ]
}

# logged_checks PORT: each Dovecot logged connections from the balancer's own address on PORT.
logged_checks() {
  local p=$1 dc n total=0 pat
  for dc in dc1 dc2; do
    if [ "$p" = 24 ]; then
      pat="${CONN_LINE[$p]} ${SOURCE_ADDR//./\\.}\$"
    else
      pat="${CONN_LINE[$p]}.*rip=${SOURCE_ADDR//./\\.}, rport=[0-9]+, lip=[0-9.]+, lport=$p\$"
    fi
    n=$(logged_since "$dc" | grep -cE "$pat")
    echo "$dc: $n ${SERVICE[$p]} check connections logged from $SOURCE_ADDR"
    [ "$n" -ge 2 ] || return 1
    total=$((total + n))
  done
}

# closed_with_fin: on every port the balancer closed each check with a FIN, never a RST.
closed_with_fin() {
  local p syn fin rst bad=0
  for p in "${PORTS[@]}"; do
    syn=$(count "syn$p") fin=$(count "fin$p") rst=$(count "rst$p")
    echo "port $p: $syn SYNs, $fin FINs, $rst RSTs from the balancer"
    { [ "$syn" -ge 4 ] && [ "$fin" -ge $((syn - 2)) ] && [ "$rst" -eq 0 ]; } || bad=1
  done
  [ "$bad" -eq 0 ]
}

still_up() {
  local l s st bad=0
  for l in imap4 pop3 lmtp sieve; do
    for s in dc1 dc2; do
      st=$(hc_status "$l" "$s")
      echo "$l/$s: $st"
      [ "${st%% *}" = UP ] || bad=1
    done
  done
  if grep -E 'Server [^ ]+ is DOWN' "$(hc_log_file)"; then bad=1; fi
  [ "$bad" -eq 0 ]
}

# shapes: the distinct lines Dovecot logged in the phase, process ids, session ids and client
# ports and server addresses folded.
shapes() {
  local dc
  for dc in dc1 dc2; do logged_since "$dc"; done | cut -d' ' -f4- |
    sed -E -e 's/<[^>]+>/<ID>/g' -e 's/\(([0-9]+)\)/(PID)/g' -e 's/rport=[0-9]+/rport=N/g' -e 's/lip=[0-9.]+/lip=SERVER/g' |
    sort | uniq -c | sort -rn | sed 's/^/      /'
}

phase() {
  local name=$1 cfg=$2 p dc
  e2e_log "---- phase $name: $PHASE_SECS s of checks"
  "$cfg" >"$HC_DIR/phase-$name.cfg"
  for dc in dc1 dc2; do MARK[$dc]=$(e2e_size "${LOG_OF[$dc]}"); done
  nft_reset
  BAL_HAPROXY_CHECKS=1 bal_start "$HC_DIR/phase-$name.cfg" || return 1
  sleep "$PHASE_SECS"
  e2e_check "phase $name: every server still UP, none marked DOWN" still_up
  bal_stop
  sleep 1
  for p in "${PORTS[@]}"; do
    e2e_check "phase $name: ${SERVICE[$p]} checks on :$p came with a v2 LOCAL header, none with PROXY" headers "$p"
    e2e_check "phase $name: both Dovecots logged ${SERVICE[$p]} checks from $SOURCE_ADDR (LOCAL keeps the real addresses)" \
      logged_checks "$p"
  done
  e2e_check "phase $name: no error, warning or haproxy: line in Dovecot's logs" no_error_lines
  if bal_postern_only "phase $name: Postern's checks close with FIN, never RST"; then
    e2e_check "phase $name: the checks closed with FIN, no RST" closed_with_fin
  else
    for p in "${PORTS[@]}"; do e2e_log "info: $(headers "$p")"; done
  fi
  e2e_log "info: phase $name: what Dovecot logged (dc1 + dc2):"
  shapes
}

bal_lab_up dk || e2e_abort "no lab"
mail_peers_start dovecot || e2e_abort "peers"
hc_init
e2e_check "nft counters in $NS_SRV (SYN, LOCAL, PROXY, FIN, RST per port)" nft_counters || e2e_abort "nft"

phase A cfg_a
if bal_postern_only "phase B: option mail-check is Postern's own"; then
  phase B cfg_b
fi
