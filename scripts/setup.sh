#!/usr/bin/env bash
# Installs every Debian package Postern needs to build, test and run its demo.
# Idempotent: packages already present are skipped; waits for the dpkg lock instead of failing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang-format clang-tidy
  libdpdk-dev dpdk libboost-program-options-dev libyaml-cpp-dev prometheus-cpp-dev
  libcpp-httplib-dev nlohmann-json3-dev
  libgtest-dev googletest libbenchmark-dev valgrind
  # the libFuzzer targets (scripts/fuzz.sh): clang 14 and its fuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # lab and end-to-end tests
  iproute2 ethtool nftables procps psmisc python3 socat netcat-openbsd tcpdump curl
  # admin: Prometheus (promtool, a real scraper), etcd, a headless browser for the status page
  prometheus etcd-server etcd-client chromium
  # the runtime API: hatop (a curses client of HAProxy's socket), script(1) to give it a pty
  hatop bsdutils
  # real peers
  haproxy dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved postfix
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks for a mailer type; "No configuration" keeps the system instance off.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt_opts=(-o DPkg::Lock::Timeout=600 -q -y)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
# Debian starts the packaged daemons; the lab runs its own private instances instead.
for svc in haproxy dovecot postfix; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
echo "setup.sh: done"
