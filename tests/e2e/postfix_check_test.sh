#!/usr/bin/env bash
# Health checks against Postfix's submission port (smtpd behind `smtpd_upstream_proxy_protocol
# = haproxy`) must leave it serving: a check that sends a PROXY v2 LOCAL header and then resets
# the connection makes smtpd exit with "fatal: smtpd_peer_hostaddr_to_sockaddr: ..." and its
# master throttle the service for 60 s (PEERS.md; HAProxy's plain check does exactly that).
# Three phases, each with fresh Postfixes and submissions through the VIP the whole time
# (Palomar's shape: `bind ... accept-proxy`, so the client sends its own v2 header; one every
# 0.5 s):
#
#   plain      `server pfN ADDR:587 check send-proxy-v2 inter 1s`   (~30 s; soak 5 min)
#   smtpchk    the same with `option smtpchk EHLO lab.example`      (~10 s; soak 2 min)
#   mailcheck  the same with `option mail-check smtp`               (~10 s; soak 2 min)
#
# Each phase: every submission succeeds and they alternate between pf1 and pf2; both servers
# stay UP (no DOWN logged); neither Postfix logs a fatal, a panic, an error, a warning or
# "throttling"; each logged the checks ("connect from unknown[198.19.0.1]": LOCAL keeps the
# real addresses); nftables in the server namespace counts, on :587, a v2 LOCAL header per check
# and a v2 PROXY header per submission, and (Postern) no RST from the balancer. What Postfix
# logs for a check is printed, process ids folded (README.md "Health checks" lists it).
#
# With HAProxy only the smtpchk phase runs: HAProxy 2.6.12's smtpchk says EHLO and QUIT and
# closes with FIN (`connect default linger`, 2.6.7 and later), which Postfix takes cleanly; its
# plain check resets after the LOCAL header (PF_CHECK_HAPROXY=1 runs that phase too, to show
# the fatals and the throttling: expect it to fail); mail-check is Postern's own.
#
# Usage: tests/e2e/postfix_check_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB
#        as in splice_bytes_test.sh; E2E_SOAK=1 for the long phases, PF_PLAIN_SECS and
#        PF_OTHER_SECS set them; ~80 s, with HAProxy ~25 s, soak ~10 min)
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

TITLE="postfix and checks ($BALANCER)"
if [ "${E2E_SOAK:-0}" != 0 ]; then
  PLAIN_SECS=${PF_PLAIN_SECS:-300} OTHER_SECS=${PF_OTHER_SECS:-120}
else
  PLAIN_SECS=${PF_PLAIN_SECS:-30} OTHER_SECS=${PF_OTHER_SECS:-10}
fi
SIG=0x0d0a0d0a000d0a515549540a # PROXY v2 signature (proxy-protocol.txt 2.2)
SRV="check send-proxy-v2 inter 1s fall 2 rise 2"
PHASES_RUN=

cleanup() {
  hc_cleanup
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog $((PLAIN_SECS + 2 * OTHER_SECS + 240))

write_cfg() {
  cat <<EOF
# Written by tests/e2e/postfix_check_test.sh (phase $1).
defaults
    mode tcp
    retries 3
    timeout connect 2s
    timeout check 1s
    timeout client 1m
    timeout server 1m

listen submission
    bind $VIP:587 accept-proxy
    balance roundrobin
EOF
  case $1 in
  smtpchk) echo "    option smtpchk EHLO lab.example" ;;
  mailcheck) echo "    option mail-check smtp" ;;
  esac
  printf '    server pf1 %s:587 %s\n    server pf2 %s:587 %s\n' "$SERVER1" "$SRV" "$SERVER2" "$SRV"
}

nft_counters() {
  ip netns exec "$NS_SRV" nft -f - <<EOF
table inet hc_pf {
  counter syn {}
  counter local {}
  counter proxy {}
  counter fin {}
  counter rst {}
  chain c {
    type filter hook input priority filter; policy accept;
    tcp dport 587 tcp flags & (syn | ack) == syn counter name syn
    tcp dport 587 @ih,0,96 $SIG @ih,96,8 0x20 counter name local
    tcp dport 587 @ih,0,96 $SIG @ih,96,8 0x21 counter name proxy
    tcp dport 587 tcp flags & fin == fin counter name fin
    tcp dport 587 tcp flags & rst == rst counter name rst
  }
}
EOF
}

count() {
  ip netns exec "$NS_SRV" nft list counter inet hc_pf "$1" | awk '$1 == "packets" { print $2 }'
}

no_bad_lines() {
  local pf bad=0
  for pf in pf1 pf2; do
    if logged_since "$pf" | grep -iE 'fatal|panic|error|warning|throttl' >"$HC_DIR/bad.$pf"; then
      echo "$pf logged:"
      head -n 10 "$HC_DIR/bad.$pf" | sed 's/^/  | /'
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] && echo "pf1, pf2: no fatal, panic, error, warning or throttling line"
}

# checks_logged SECONDS: each Postfix logged about one check a second from the balancer.
checks_logged() {
  local pf n bad=0
  for pf in pf1 pf2; do
    n=$(logged_since "$pf" | grep -cE "smtpd\[[0-9]+\]: connect from unknown\[${SOURCE_ADDR//./\\.}\]$")
    echo "$pf: $n check connections logged from $SOURCE_ADDR in $1 s"
    [ "$n" -ge $(($1 / 2)) ] || bad=1
  done
  [ "$bad" -eq 0 ]
}

headers() {
  local syn loc proxy fin rst
  syn=$(count syn) loc=$(count local) proxy=$(count proxy) fin=$(count fin) rst=$(count rst)
  echo ":587: $syn SYNs, $loc LOCAL headers (checks), $proxy PROXY headers (submissions: $1 ok), $fin FINs, $rst RSTs from the balancer"
  [ "$proxy" -ge "$1" ] && [ "$loc" -ge 4 ] && [ "$((loc + proxy))" -ge $((syn - 2)) ]
}

no_rst() {
  local rst
  rst=$(count rst)
  echo "$rst RSTs from the balancer to :587"
  [ "$rst" -eq 0 ]
}

still_up() {
  local s st bad=0
  for s in pf1 pf2; do
    st=$(hc_status submission "$s")
    echo "submission/$s: $st"
    [ "${st%% *}" = UP ] || bad=1
  done
  if grep -E 'Server [^ ]+ is DOWN' "$(hc_log_file)"; then bad=1; fi
  [ "$bad" -eq 0 ]
}

delivered() {
  local n
  n=$(find "${PF[0]}/vmail" "${PF[1]}/vmail" -path '*/Maildir/new/*' -type f | wc -l)
  echo "$n messages in alice's maildirs, $1 expected"
  [ "$n" -ge "$1" ]
}

# The distinct lines Postfix logged about the balancer's own address (the checks).
shapes() {
  local pf
  for pf in pf1 pf2; do logged_since "$pf"; done | grep -F "[$SOURCE_ADDR]" | cut -d' ' -f4- |
    sed -E -e 's/\[[0-9]+\]:/[PID]:/g' |
    sort | uniq -c | sort -rn | sed 's/^/      /'
}

# fresh_postfix: each phase starts with Postfixes the last one cannot have throttled (a
# throttled master waits 60 s and then meets the queued resets again). postfix.sh start
# empties the log: the old one is kept under HC_DIR.
fresh_postfix() {
  local pf
  for pf in pf1 pf2; do cp "${LOG_OF[$pf]}" "$HC_DIR/$pf.before-$1.log"; done
  mail_peers_stop
  mail_peers_start postfix
}

phase() {
  local name=$1 secs=$2 pf t1 ok
  e2e_log "---- phase $name: $secs s of checks under submissions"
  [ -z "$PHASES_RUN" ] || fresh_postfix "$name" || return 1
  PHASES_RUN+=" $name"
  write_cfg "$name" >"$HC_DIR/$name.cfg"
  for pf in pf1 pf2; do MARK[$pf]=$(e2e_size "${LOG_OF[$pf]}"); done
  ip netns exec "$NS_SRV" nft reset counters table inet hc_pf >/dev/null
  BAL_HAPROXY_CHECKS=1 bal_start "$HC_DIR/$name.cfg" || return 1
  local before
  before=$(find "${PF[0]}/vmail" "${PF[1]}/vmail" -path '*/Maildir/new/*' -type f | wc -l)
  HC_LOOP_INTERVAL=0.5 hc_loop_start "sub=smtp:$VIP:587/proxy"
  sleep "$secs"
  t1=$(hc_now)
  hc_loop_stop
  e2e_check "phase $name: every submission worked, alternating pf1/pf2" \
    hc_loop_check sub 0 "$t1" --ok --alternate --min $((secs * 3 / 2))
  e2e_check "phase $name: pf1 and pf2 still UP, none marked DOWN" still_up
  bal_stop
  sleep 1
  ok=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["ok"]))' "$HC_LOOP_RESULTS")
  e2e_check "phase $name: no fatal, panic, error, warning or throttling in Postfix's logs" no_bad_lines
  e2e_check "phase $name: both Postfixes logged the checks from $SOURCE_ADDR" checks_logged "$secs"
  e2e_check "phase $name: a LOCAL header per check, a PROXY header per submission" headers "$ok"
  if bal_postern_only "phase $name: Postern's checks close with FIN, never RST"; then
    e2e_check "phase $name: no RST from the balancer" no_rst
  else
    e2e_log "info: $(headers "$ok")"
  fi
  e2e_check "phase $name: the $ok submissions were delivered" e2e_wait 15 delivered $((before + ok))
  e2e_log "info: phase $name: what Postfix logged about the checks (pf1 + pf2):"
  shapes
}

bal_lab_up pc || e2e_abort "no lab"
mail_peers_start postfix || e2e_abort "peers"
hc_init
e2e_check "nft counters in $NS_SRV (SYN, LOCAL, PROXY, FIN, RST on :587)" nft_counters || e2e_abort "nft"

if [ "$BALANCER" = postern ] || [ "${PF_CHECK_HAPROXY:-0}" = 1 ]; then
  phase plain "$PLAIN_SECS"
else
  e2e_log "skip (haproxy stand-in): phase plain: HAProxy's check resets Postfix after the LOCAL" \
    "header (fatal, 60 s throttle); PF_CHECK_HAPROXY=1 runs it to show that"
fi
phase smtpchk "$OTHER_SECS"
if bal_postern_only "phase mailcheck: option mail-check is Postern's own"; then
  phase mailcheck "$OTHER_SECS"
fi
