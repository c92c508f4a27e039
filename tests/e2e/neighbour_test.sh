#!/usr/bin/env bash
# Neighbours (ARP) as the hosts around Postern see them: Postern announces its addresses itself,
# and it follows a neighbour whose MAC address changes under open connections.
#
#   a1 At start, before any traffic, Postern announces every VIP and interface address with
#      gratuitous ARP (RFC 5227 section 3): with arp_accept=1 on the lab's veths, the client
#      namespace learns 198.18.0.100 (VIP) and 198.18.0.1 with the MAC of Postern's client-side
#      port and the server namespace learns 198.19.0.1 with the server-side port's MAC. (No
#      echo probe first: BAL_SKIP_ECHO.)
#   a2 A reload (SIGHUP) adds a listener with `bind 198.18.0.101:143`, an address named by no
#      `vips:` entry: an explicit bind address is a VIP, so Postern announces it and a client
#      logs in through it (Dovecot logs lip=198.18.0.101 and the client's rip/rport).
#   b1 A server's MAC changes mid-connection (`ip link set srv0 address ...` with arp_notify=1,
#      so its kernel announces the new one): a long-lived connection L (slow.sh, the recorder
#      echoing) carries more data afterwards and ends with every byte intact; new connections
#      and an IMAP login work.
#   b2 The same for the client-side gateway: in a lab with a router (lab.sh --router) the
#      router's Postern-facing port changes its MAC mid-connection.
#
# With HAProxy (the yardstick) the lab's kernel owns the addresses and HAProxy announces
# nothing: for a1 the kernel of the balancer's namespace stands in (arp_notify=1 and its links
# set down and up, which makes it send gratuitous ARP for every address), so the check's own
# logic is proven; a2's announcement is skipped (a kernel announces nothing when an address is
# added, and HAProxy has no ARP of its own), its login through 198.18.0.101 runs (the address
# added to the kernel, HAProxy restarted with the listener). b1 and b2 run unchanged.
#
# Usage: tests/e2e/neighbour_test.sh   (root; POSTERN_BUILD_DIR, E2E_BALANCER=haproxy, LAB as
#        in splice_bytes_test.sh; ~15 s with HAProxy, ~70 s when connections stall)
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
# shellcheck source=tests/e2e/slow.sh
source "$E2E_ROOT/tests/e2e/slow.sh"

TITLE="neighbour ($BALANCER)"
EXTRA_VIP=198.18.0.101
NEW_SERVER_MAC=02:00:5e:19:00:10 # locally administered
NEW_ROUTER_MAC=02:00:5e:18:00:fe

cleanup() {
  slow_stop
  rec_stop
  bal_stop
  mail_peers_stop
  bal_cleanup
}
e2e_run_with cleanup "$TITLE"
e2e_watchdog 300

# ---- helpers ---------------------------------------------------------------------------------

mac_of() {
  ip netns exec "$1" cat "/sys/class/net/$2/address"
}

# neigh_is NS IF IP MAC: NS's ARP table holds IP on IF with MAC (any state but FAILED).
neigh_is() {
  ip netns exec "$1" ip -4 neigh show "$3" dev "$2" | grep -v FAILED | grep -qi "lladdr $4"
}

# neigh_learned NS IF IP MAC: within 5 s (the announcements go out once, at start or reload).
neigh_learned() {
  if e2e_wait 5 neigh_is "$@"; then
    echo "$1: $(ip netns exec "$1" ip -4 neigh show "$3" dev "$2")"
    return 0
  fi
  echo "$1 has no ARP entry $3 -> $4 on $2 within 5 s; its table:"
  ip netns exec "$1" ip -4 neigh show | sed 's/^/  | /'
  return 1
}

accept_garp() {
  ip netns exec "$1" sysctl -q -w "net.ipv4.conf.$2.arp_accept=1"
}

# write_cfg FILE [extra]: IMAP and the recorder through the VIP; with `extra` also an IMAP
# listener bound to EXTRA_VIP. Written beside and renamed, so a reload never reads half a file.
write_cfg() {
  local file=$1 extra=${2:-}
  {
    cat <<EOF
# Written by tests/e2e/neighbour_test.sh.
defaults
    mode tcp
    retries 3
    timeout connect 10s
    timeout client 2m
    timeout server 2m
EOF
    bal_listen imap4 "$VIP:143" dc 143
    bal_listen recorder "$VIP:9000" r 9000
    [ -z "$extra" ] || bal_listen imap4-extra "$EXTRA_VIP:143" x 143
  } >"$file.new" && mv -f "$file.new" "$file"
}

# The kernel of the balancer's namespace announces its addresses (HAProxy's stand-in for a1).
kernel_announces() {
  local ifc
  for ifc in dpc0 dps0; do
    ip netns exec "$NS_DP" sysctl -q -w "net.ipv4.conf.$ifc.arp_notify=1" || return 1
    ip netns exec "$NS_DP" ip link set "$ifc" down || return 1
    ip netns exec "$NS_DP" ip link set "$ifc" up || return 1
  done
}

# works NAME CONNS: CONNS connections (32 KB echoed each) through VIP:9000, each server-side
# stream checked: the v2 header naming the client, then its bytes.
works() {
  rec_run "$1" --connect "$VIP:9000" --conns "$2" --parallel "$2" --send 32768 --timeout 15 \
    --connect-timeout 10 || return 1
  rec_verify "$1" --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
}

# l_opens: L connected and echoing through VIP:9000.
l_opens() {
  slow_start "$VIP:9000"
  e2e_check "L: connected through $VIP:9000" e2e_wait 10 slow_received_beyond -1 || return 1
  e2e_check "L: echoing" slow_flows "before the MAC change"
}

# set_mac NS IF MAC: the kernel announces the new MAC itself (arp_notify, NETDEV_CHANGEADDR).
set_mac() {
  ip netns exec "$1" sysctl -q -w "net.ipv4.conf.$2.arp_notify=1" &&
    ip netns exec "$1" ip link set dev "$2" address "$3" &&
    [ "$(mac_of "$1" "$2")" = "$3" ]
}

# ---- a: announcements --------------------------------------------------------------------------

bal_lab_up nb || e2e_abort "no lab"
e2e_check "arp_accept=1 on cli0 in $NS_CLI (gratuitous ARP creates entries)" accept_garp "$NS_CLI" cli0 ||
  e2e_abort "sysctl"
e2e_check "arp_accept=1 on srv0 in $NS_SRV" accept_garp "$NS_SRV" srv0 || e2e_abort "sysctl"
mail_peers_start dovecot || e2e_abort "dovecot"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
CFG=$LAB_RUN_DIR/neighbour.cfg
write_cfg "$CFG"
DP_CLIENT_MAC=$(mac_of "$NS_DP" dpc0)
DP_SERVER_MAC=$(mac_of "$NS_DP" dps0)
e2e_log "balancer ports: dpc0 $DP_CLIENT_MAC, dps0 $DP_SERVER_MAC"

if [ "$BALANCER" = haproxy ]; then
  e2e_check "a1 stand-in: the $NS_DP kernel announces its addresses (arp_notify, links down/up)" \
    kernel_announces
fi
BAL_SKIP_ECHO=1 bal_start "$CFG" || e2e_abort "no balancer"
e2e_check "a1: $NS_CLI learned the VIP $VIP -> $DP_CLIENT_MAC before any traffic" \
  neigh_learned "$NS_CLI" cli0 "$VIP" "$DP_CLIENT_MAC"
e2e_check "a1: $NS_CLI learned ${DP_CLIENT_ADDR%/*} -> $DP_CLIENT_MAC" \
  neigh_learned "$NS_CLI" cli0 "${DP_CLIENT_ADDR%/*}" "$DP_CLIENT_MAC"
e2e_check "a1: $NS_SRV learned ${DP_SERVER_ADDR%/*} -> $DP_SERVER_MAC" \
  neigh_learned "$NS_SRV" srv0 "${DP_SERVER_ADDR%/*}" "$DP_SERVER_MAC"
if [ "$BALANCER" = postern ]; then
  e2e_check "postern answers ICMP echo on $VIP" bal_vip_answers
fi
via_vip imap 143
if [ -n "$LAST_INSTANCE" ]; then
  e2e_check "  $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$VIP" 143
fi

# a2: a listener bound to a new address.
ip netns exec "$NS_CLI" ip neigh flush to "$EXTRA_VIP" 2>/dev/null
write_cfg "$CFG" extra
if [ "$BALANCER" = postern ]; then
  MARK_ERR=$(e2e_size "$BAL_DIR/postern.err")
  kill -HUP "$BAL_PID"
  e2e_check "a2: SIGHUP with a listener bound to $EXTRA_VIP: 'reloaded: generation 2'" \
    e2e_wait_grep 5 'postern: reloaded: generation 2$' "$BAL_DIR/postern.err" "$MARK_ERR"
  e2e_check "a2: $NS_CLI learned $EXTRA_VIP -> $DP_CLIENT_MAC (announced on reload)" \
    neigh_learned "$NS_CLI" cli0 "$EXTRA_VIP" "$DP_CLIENT_MAC"
else
  e2e_log "skip (haproxy stand-in): a2's announcement: a kernel announces nothing when an address is added"
  e2e_check "a2: $EXTRA_VIP/32 on dpc0 in $NS_DP (the kernel owns HAProxy's addresses)" \
    ip netns exec "$NS_DP" ip addr add "$EXTRA_VIP/32" dev dpc0
  bal_stop
  bal_start "$CFG" || e2e_abort "haproxy did not restart"
fi
if SESSION_TIMEOUT=10 e2e_check "a2: imap via $EXTRA_VIP:143: every reply as expected" \
  session "$NS_CLI" imap "$EXTRA_VIP" 143; then
  e2e_log "     $LAST"
fi
if [ -n "$LAST_INSTANCE" ] && [ -n "$LAST_PORT" ]; then
  e2e_check "a2: $LAST_INSTANCE logs rip=$CLIENT_ADDR rport=$LAST_PORT lip=$EXTRA_VIP" \
    dovecot_login_logged "$LAST_INSTANCE" imap-login "$CLIENT_ADDR" "$LAST_PORT" "$EXTRA_VIP" 143
fi

# ---- b1: the servers' MAC changes under an open connection ----------------------------------

e2e_log "---- b1: srv0 (every server address) changes its MAC under L"
if l_opens; then
  OLD_MAC=$(mac_of "$NS_SRV" srv0)
  e2e_check "b1: srv0 in $NS_SRV: $OLD_MAC -> $NEW_SERVER_MAC (arp_notify announces it)" \
    set_mac "$NS_SRV" srv0 "$NEW_SERVER_MAC"
  e2e_check "b1: L still flows after the server's MAC changed" slow_flows "after the server's MAC change"
  e2e_check "b1: 4 new connections through $VIP:9000" works b1new 4
  via_vip imap 143
  e2e_check "b1: L half-closed, the whole echo came back" slow_finish
  e2e_check "b1: L's server-side stream: v2 header, then exactly its bytes" \
    rec_verify slow --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
fi
slow_stop
rec_stop
bal_stop
mail_peers_stop
bal_cleanup

# ---- b2: the client-side gateway's MAC changes under an open connection ---------------------

e2e_log "---- b2: the router's Postern-facing port changes its MAC under L"
bal_lab_up nr --router || e2e_abort "no router lab"
# The router lab narrows the path towards the clients (route MTU, for pmtu_test.sh); here the
# router is only a gateway: its route gets the links' MTU back, so no ICMP is involved.
e2e_check "router $NS_RTR: route to $CLIENT_NET without the narrow MTU" \
  ip netns exec "$NS_RTR" ip route replace "$CLIENT_NET" dev "$RTR_IF_CLIENT" proto kernel scope link \
  src "$ROUTER_CLIENT_ADDR" || e2e_abort "router route"
rec_start "$SERVER1:9000" "$SERVER2:9000" || e2e_abort "no recorder"
CFG=$LAB_RUN_DIR/neighbour.cfg
write_cfg "$CFG"
bal_start "$CFG" || e2e_abort "no balancer"
if l_opens; then
  OLD_MAC=$(mac_of "$NS_RTR" "$RTR_IF_DP")
  e2e_check "b2: $RTR_IF_DP in $NS_RTR: $OLD_MAC -> $NEW_ROUTER_MAC (arp_notify announces it)" \
    set_mac "$NS_RTR" "$RTR_IF_DP" "$NEW_ROUTER_MAC"
  e2e_check "b2: L still flows after the gateway's MAC changed" slow_flows "after the gateway's MAC change"
  e2e_check "b2: 4 new connections through $VIP:9000" works b2new 4
  e2e_check "b2: L half-closed, the whole echo came back" slow_finish
  e2e_check "b2: L's server-side stream: v2 header, then exactly its bytes" \
    rec_verify slow --expect-proxy v2 --servers "$SERVER1:9000,$SERVER2:9000"
fi
