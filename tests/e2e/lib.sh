# Shared helpers for the end-to-end tests (bash, sourced): a check counter, bounded waits and
# a watchdog, so every e2e script reports "<what>: N passed, M failed" and never hangs.
# shellcheck shell=bash

# shellcheck disable=SC2034 # used by the scripts that source this file
E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_PASSED=0
E2E_FAILED=0
E2E_WATCHDOG_PID=
E2E_CLEANUP=
E2E_TITLE=
# The script's own stdout and stderr, kept for the exit path: a signal that arrives during an
# e2e_check runs its trap while the check's output is redirected to a temporary file.
exec {E2E_OUT}>&1 {E2E_ERR}>&2

e2e_log() {
  printf '[%5ss] %s\n' "$SECONDS" "$*"
}

e2e_pass() {
  E2E_PASSED=$((E2E_PASSED + 1))
  e2e_log "PASS $*"
}

e2e_fail() {
  E2E_FAILED=$((E2E_FAILED + 1))
  e2e_log "FAIL $*" >&2
}

# e2e_check DESCRIPTION CMD...: runs CMD in this shell (so it may set variables), counts it as
# passed or failed, and shows its output on failure (always with E2E_VERBOSE=1).
e2e_check() {
  local what=$1 out rc
  shift
  out=$(mktemp)
  "$@" >"$out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    e2e_pass "$what"
    [ -z "${E2E_VERBOSE:-}" ] || sed 's/^/      /' "$out"
  else
    e2e_fail "$what"
    sed 's/^/      /' "$out" >&2
  fi
  rm -f "$out"
  return "$rc"
}

# e2e_wait SECONDS CMD...: retries CMD every 0.1 s until it succeeds or SECONDS pass.
e2e_wait() {
  local limit=$1 deadline
  shift
  deadline=$(($(date +%s%N) + limit * 1000000000))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# e2e_wait_grep SECONDS PATTERN FILE [OFFSET]: waits until FILE, from byte OFFSET on (default
# 0), has a line matching the extended regex. OFFSET comes from e2e_size taken before the
# action, so a line an earlier action logged cannot satisfy the check.
e2e_wait_grep() {
  local limit=$1 pattern=$2 file=$3 offset=${4:-0}
  e2e_wait "$limit" e2e_grep_from "$offset" "$pattern" "$file" && return 0
  echo "no line matching /$pattern/ in $file (from byte $offset) within ${limit}s; last lines:"
  tail -c +"$((offset + 1))" "$file" 2>/dev/null | tail -n 8 | sed 's/^/  | /'
  return 1
}

e2e_grep_from() {
  tail -c +"$(($1 + 1))" "$3" | grep -qE -- "$2"
}

# e2e_size FILE: its size in bytes now (0 if absent), a mark for e2e_wait_grep.
e2e_size() {
  stat -c %s "$1" 2>/dev/null || echo 0
}

# e2e_lab_name PREFIX: a lab name unique to this run (<=6 characters [a-z0-9]), unless LAB is set.
e2e_lab_name() {
  if [ -n "${LAB:-}" ]; then
    echo "$LAB"
  else
    printf '%s%04d\n' "$1" $(($$ % 10000))
  fi
}

e2e_need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$(basename "$0"): needs root (network namespaces)" >&2
    exit 77
  fi
}

# e2e_watchdog SECONDS: sends TERM to this script after SECONDS, so its EXIT trap cleans up.
e2e_watchdog() {
  local limit=$1 self=$$
  (
    sleep "$limit" &
    sleeper=$!
    # Stopped early by e2e_watchdog_stop: take the sleep along, leave nothing behind.
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper"
    echo "$(basename "$0"): watchdog: still running after ${limit}s, stopping" >&2
    kill -TERM "$self"
  ) &
  E2E_WATCHDOG_PID=$!
}

e2e_watchdog_stop() {
  if [ -n "$E2E_WATCHDOG_PID" ]; then
    kill "$E2E_WATCHDOG_PID" 2>/dev/null || true
    wait "$E2E_WATCHDOG_PID" 2>/dev/null || true
    E2E_WATCHDOG_PID=
  fi
}

# e2e_summary LABEL: prints the time taken and the tally; the status says whether all passed.
e2e_summary() {
  echo "$1: took ${SECONDS}s"
  echo "$1: $E2E_PASSED passed, $E2E_FAILED failed"
  [ "$E2E_FAILED" -eq 0 ] && [ "$E2E_PASSED" -gt 0 ]
}

# e2e_run_with CLEANUP TITLE: however the script ends (the end of the file, exit, a failed
# abort, INT/TERM from a user or e2e_watchdog), CLEANUP runs once and the tally is the last
# line, printed on the script's own output; the exit status says whether every check passed.
# Scripts that use it end without calling e2e_summary themselves.
e2e_run_with() {
  E2E_CLEANUP=$1
  E2E_TITLE=$2
  trap _e2e_exit EXIT
  trap _e2e_interrupted INT TERM
}

_e2e_interrupted() {
  exec 1>&"$E2E_OUT" 2>&"$E2E_ERR"
  e2e_fail "interrupted by a signal (or the watchdog): cleaning up"
  exit 1
}

_e2e_exit() {
  trap - EXIT INT TERM
  exec 1>&"$E2E_OUT" 2>&"$E2E_ERR"
  e2e_watchdog_stop
  [ -z "$E2E_CLEANUP" ] || "$E2E_CLEANUP"
  e2e_summary "$E2E_TITLE"
  exit $?
}

# e2e_abort REASON: counts a failure and ends the script (cleanup and tally via e2e_run_with).
e2e_abort() {
  e2e_fail "cannot go on: $*"
  exit 1
}
