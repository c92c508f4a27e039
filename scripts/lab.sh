#!/usr/bin/env bash
# The network-namespace lab: clients, Postern's dataplane and mail servers in three namespaces
# joined by two veth pairs, so real kernel TCP runs through Postern without a NIC
# (DESIGN.md "Testing without a NIC"). Several labs coexist; nothing lands in the root namespace.
#
#   NAME-cli  cli0 198.18.0.2/24 (+ .3-.9)  <-veth->  dpc0  NAME-dp  dps0  <-veth->  srv0 198.19.0.10-.12/24  NAME-srv
#
# With --router a router namespace stands between the clients and Postern's client side, and
# its route towards the clients has a narrower MTU than every link (a route MTU, so the router
# answers oversize packets with ICMP "fragmentation needed"; a veth alone drops them silently):
#
#   NAME-cli  cli0 198.18.1.2/24 (+ .3-.9), default via 198.18.1.1
#     <-veth->  r1 198.18.1.1/24  NAME-rtr  r0 198.18.0.254/24  (forwarding; 198.18.1.0/24 mtu 1280)
#     <-veth->  dpc0  NAME-dp ...
#
# Postern (or, with --kernel, the NAME-dp kernel) then needs a route to 198.18.1.0/24 via
# 198.18.0.254: tests/e2e/balancer.sh writes it into the lab's dataplane.yaml.
#
# Postern owns 198.18.0.1 and the VIP 198.18.0.100 on dpc0, 198.19.0.1 (its full-NAT source) on
# dps0, and answers ARP for them itself; the kernel in NAME-dp stays silent. With --kernel the
# NAME-dp kernel holds those addresses instead, so HAProxy (the yardstick) or the peers' own
# tests run in the same topology without Postern.
#
# Usage: lab.sh up [NAME] [--kernel] [--router] | down [NAME] | down --all | status [NAME]
set -euo pipefail

readonly kEnvDir=/run/postern-lab
readonly kClientPrimary=198.18.0.2
readonly kClientExtra=(198.18.0.3 198.18.0.4 198.18.0.5 198.18.0.6 198.18.0.7 198.18.0.8 198.18.0.9)
readonly kServers=(198.19.0.10 198.19.0.11 198.19.0.12)
readonly kDpClient=198.18.0.1/24
readonly kDpServer=198.19.0.1/24
readonly kVip=198.18.0.100
readonly kSource=198.19.0.1
# --router: the clients' own subnet behind NAME-rtr, and the router's addresses.
readonly kRoutedClientNet=198.18.1.0/24
readonly kRoutedClientPrimary=198.18.1.2
readonly kRoutedClientExtra=(198.18.1.3 198.18.1.4 198.18.1.5 198.18.1.6 198.18.1.7 198.18.1.8 198.18.1.9)
readonly kRouterClientSide=198.18.1.1
readonly kRouterDpSide=198.18.0.254
readonly kRouterPathMtu=1280

usage() {
  echo "usage: lab.sh up [NAME] [--kernel] [--router] | down [NAME] | down --all | status [NAME]" >&2
  echo "  NAME: 1-6 characters [a-z0-9], default pt" >&2
  exit 2
}

die() {
  echo "lab.sh: $*" >&2
  exit 1
}

check_name() {
  [[ "$1" =~ ^[a-z0-9]{1,6}$ ]] || die "bad lab name '$1' (1-6 characters [a-z0-9])"
}

ns_exists() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"
}

# Runs in a namespace, quietly: ethtool prints "Actual changes" on success.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# Checksum and segmentation offloads off: net_af_packet hands frames to DPDK as the kernel
# built them, so partial checksums or 64 KB GSO super-frames must never be produced (PEERS.md).
offloads_off() {
  local ns=$1 dev=$2
  in_ns "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 ||
    die "ethtool -K $dev (in $ns) failed"
  in_ns "$ns" ethtool -K "$dev" rx off >/dev/null 2>&1 || true
}

wait_link_up() {
  local ns=$1 dev=$2
  for _ in $(seq 1 50); do
    in_ns "$ns" ip -o link show dev "$dev" | grep -q 'state UP' && return 0
    sleep 0.1
  done
  die "$dev in $ns did not come up within 5 s"
}

sysctl_ns() {
  local ns=$1
  shift
  in_ns "$ns" sysctl -q -w "$@" >/dev/null
}

# Kills every process left in a namespace (TERM, then KILL after a bounded wait) by PID.
kill_ns_pids() {
  local ns=$1 pids
  ns_exists "$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  [ -n "${pids// /}" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 30); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    sleep 0.1
  done
  echo "lab.sh: warning: processes still in $ns: $pids" >&2
}

lab_down() {
  local name=$1 ns
  for ns in "$name-cli" "$name-rtr" "$name-dp" "$name-srv"; do
    kill_ns_pids "$ns"
  done
  for ns in "$name-cli" "$name-rtr" "$name-dp" "$name-srv"; do
    if ns_exists "$ns"; then
      # Deleting a namespace destroys its veth ends, and with them the peers.
      ip netns del "$ns" 2>/dev/null || echo "lab.sh: warning: could not delete $ns" >&2
    fi
  done
  rm -f "$kEnvDir/$name.env"
  rm -rf "${kEnvDir:?}/$name"
  # Postern's EAL runtime directory for this lab (--file-prefix postern-NAME in
  # examples/lab/dataplane.yaml and its copies): empty once Postern has stopped.
  rmdir "/var/run/dpdk/postern-$name" 2>/dev/null || true
}

lab_names() {
  {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^\([a-z0-9]\{1,6\}\)-\(cli\|rtr\|dp\|srv\)$/\1/p'
    if [ -d "$kEnvDir" ]; then
      find "$kEnvDir" -maxdepth 1 -name '*.env' -printf '%f\n' | sed 's/\.env$//'
    fi
  } | sort -u
}

lab_up() {
  local name=$1 mode=$2 router=$3
  local cli="$name-cli" dp="$name-dp" srv="$name-srv" rtr="$name-rtr" ns a
  local all_ns=("$cli" "$dp" "$srv") links=("$cli cli0" "$dp dpc0" "$dp dps0" "$srv srv0")
  local client_primary=$kClientPrimary client_extra=("${kClientExtra[@]}")
  if [ "$router" -eq 1 ]; then
    all_ns+=("$rtr")
    links+=("$rtr r1" "$rtr r0")
    client_primary=$kRoutedClientPrimary
    client_extra=("${kRoutedClientExtra[@]}")
  fi

  lab_down "$name"
  # Anything going wrong half-way leaves no half-built lab behind.
  trap 'echo "lab.sh: up failed, removing lab $name" >&2; lab_down "$name"' EXIT

  for ns in "${all_ns[@]}"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done

  # IPv6 off in NAME-dp altogether, and before the links exist on the other sides too:
  # router solicitations, DAD and MLD reports would otherwise reach the dataplane as noise.
  for ns in "${all_ns[@]}"; do
    sysctl_ns "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done

  # The veth ends are created straight inside their namespaces: no interface ever appears in
  # the root namespace, so labs never collide there.
  if [ "$router" -eq 1 ]; then
    ip link add cli0 netns "$cli" type veth peer name r1 netns "$rtr"
    ip link add r0 netns "$rtr" type veth peer name dpc0 netns "$dp"
  else
    ip link add cli0 netns "$cli" type veth peer name dpc0 netns "$dp"
  fi
  ip link add srv0 netns "$srv" type veth peer name dps0 netns "$dp"

  for a in "${links[@]}"; do
    # shellcheck disable=SC2086
    set -- $a
    sysctl_ns "$1" "net.ipv6.conf.$2.disable_ipv6=1"
    offloads_off "$1" "$2"
  done

  in_ns "$cli" ip addr add "$client_primary/24" dev cli0
  for a in "${client_extra[@]}"; do
    in_ns "$cli" ip addr add "$a/24" dev cli0
  done
  for a in "${kServers[@]}"; do
    in_ns "$srv" ip addr add "$a/24" dev srv0
  done

  if [ "$mode" = kernel ]; then
    in_ns "$dp" ip addr add "$kDpClient" dev dpc0
    in_ns "$dp" ip addr add "$kVip/32" dev dpc0
    in_ns "$dp" ip addr add "$kDpServer" dev dps0
    sysctl_ns "$dp" net.ipv4.ip_forward=1
  else
    # No address, no forwarding, and arp_ignore=8 (never reply): the kernel in NAME-dp must not
    # answer ARP, ping or TCP for addresses that Postern serves from userspace.
    sysctl_ns "$dp" net.ipv4.ip_forward=0
    for a in all default dpc0 dps0; do
      sysctl_ns "$dp" "net.ipv4.conf.$a.arp_ignore=8" "net.ipv4.conf.$a.arp_announce=2"
    done
  fi

  for a in "${links[@]}"; do
    # shellcheck disable=SC2086
    set -- $a
    in_ns "$1" ip link set "$2" up
  done
  if [ "$router" -eq 1 ]; then
    in_ns "$rtr" ip addr add "$kRouterClientSide/24" dev r1
    in_ns "$rtr" ip addr add "$kRouterDpSide/24" dev r0
    sysctl_ns "$rtr" net.ipv4.ip_forward=1
    # The narrow hop: a route MTU towards the clients (PEERS.md), so oversize packets from the
    # servers' side get "fragmentation needed" back instead of vanishing on the veth.
    in_ns "$rtr" ip route replace "$kRoutedClientNet" dev r1 proto kernel scope link \
      src "$kRouterClientSide" mtu "$kRouterPathMtu"
    in_ns "$cli" ip route add default via "$kRouterClientSide" dev cli0
    if [ "$mode" = kernel ]; then
      in_ns "$dp" ip route add "$kRoutedClientNet" via "$kRouterDpSide" dev dpc0
    fi
  fi
  # The kernel reports a veth operationally UP a moment after both ends are up (linkwatch);
  # callers start DPDK or send traffic right away, so wait for it (bounded).
  for a in "${links[@]}"; do
    # shellcheck disable=SC2086
    set -- $a
    wait_link_up "$1" "$2"
  done

  mkdir -p "$kEnvDir/$name"
  # Peers' directories go under here; Dovecot's unprivileged processes must traverse the path.
  chmod 755 "$kEnvDir" "$kEnvDir/$name"
  cat >"$kEnvDir/$name.env.tmp" <<EOF
# Written by scripts/lab.sh up $name ($mode mode); removed by lab.sh down $name.
LAB_NAME=$name
LAB_MODE=$mode
LAB_RUN_DIR=$kEnvDir/$name
NS_CLI=$cli
NS_DP=$dp
NS_SRV=$srv
DP_IF_CLIENT=dpc0
DP_IF_SERVER=dps0
CLIENT_ADDR=$client_primary
CLIENT_ADDRS="$client_primary ${client_extra[*]}"
VIP=$kVip
DP_CLIENT_ADDR=$kDpClient
DP_SERVER_ADDR=$kDpServer
SOURCE_ADDR=$kSource
SERVER1=${kServers[0]}
SERVER2=${kServers[1]}
SERVER3=${kServers[2]}
EOF
  if [ "$router" -eq 1 ]; then
    cat >>"$kEnvDir/$name.env.tmp" <<EOF
LAB_ROUTER=1
NS_RTR=$rtr
RTR_IF_CLIENT=r1
RTR_IF_DP=r0
ROUTER_CLIENT_ADDR=$kRouterClientSide
ROUTER_ADDR=$kRouterDpSide
CLIENT_NET=$kRoutedClientNet
PATH_MTU=$kRouterPathMtu
EOF
  else
    echo "LAB_ROUTER=0" >>"$kEnvDir/$name.env.tmp"
  fi
  mv "$kEnvDir/$name.env.tmp" "$kEnvDir/$name.env"
  trap - EXIT
  echo "lab $name up ($mode): ${all_ns[*]}; env in $kEnvDir/$name.env"
}

lab_status() {
  local name=$1 ns pids
  echo "lab $name:"
  if [ -f "$kEnvDir/$name.env" ]; then
    echo "  env $kEnvDir/$name.env ($(sed -n 's/^LAB_MODE=//p' "$kEnvDir/$name.env") mode)"
  else
    echo "  env (none)"
  fi
  for ns in "$name-cli" "$name-rtr" "$name-dp" "$name-srv"; do
    if [ "$ns" = "$name-rtr" ] && ! ns_exists "$ns"; then
      continue # only labs brought up with --router have one
    fi
    if ! ns_exists "$ns"; then
      echo "  $ns: absent"
      continue
    fi
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    echo "  $ns: processes [${pids% }]"
    in_ns "$ns" ip -brief addr show 2>/dev/null | sed 's/^/    /'
  done
}

[ $# -ge 1 ] || usage
[ "$(id -u)" -eq 0 ] || die "run as root (it creates network namespaces)"
cmd=$1
shift

case "$cmd" in
up)
  name=pt mode=dpdk router=0
  for arg in "$@"; do
    case "$arg" in
    --kernel) mode=kernel ;;
    --router) router=1 ;;
    -*) usage ;;
    *) name=$arg ;;
    esac
  done
  check_name "$name"
  lab_up "$name" "$mode" "$router"
  ;;
down)
  if [ "${1:-}" = --all ]; then
    for n in $(lab_names); do
      lab_down "$n"
      echo "lab $n down"
    done
    rmdir "$kEnvDir" 2>/dev/null || true
  else
    name=${1:-pt}
    check_name "$name"
    lab_down "$name"
    echo "lab $name down"
  fi
  ;;
status)
  if [ $# -ge 1 ]; then
    check_name "$1"
    lab_status "$1"
  else
    names=$(lab_names)
    [ -n "$names" ] || echo "no labs"
    for n in $names; do lab_status "$n"; done
  fi
  ;;
*) usage ;;
esac
