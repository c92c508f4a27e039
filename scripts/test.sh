#!/usr/bin/env bash
# Runs every test of Postern on a fresh Debian 12 machine as root: installs packages, builds
# the Release tree (as operators build it) and the sanitizer (ASan+UBSan) Debug tree, both with
# warnings as errors, runs the unit tests in both, then the end-to-end tests in network-namespace
# labs against the Release build. Ends with one line "N passed, N failed".
#
# Usage: scripts/test.sh [--soak]
#   --soak  the end-to-end tests run their long variants (E2E_SOAK=1): handshake_loss_test.sh
#           runs 1,000 IMAP sessions per loss pattern instead of 120, timewait_test.sh loads
#           for 75 s, longer than TIME_WAIT, instead of 100,000 connections)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
jobs=$(nproc)
soak=0
for arg in "$@"; do
  case "$arg" in
  --soak) soak=1 ;;
  *)
    echo "usage: scripts/test.sh [--soak]" >&2
    exit 2
    ;;
  esac
done

bash scripts/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }

passed=0
failed=0
failures=()
step() {  # step NAME COMMAND...
  local name=$1
  shift
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

build() {  # build DIR CMAKE-ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs"
}

format_check() {  # every C++ file as .clang-format wants it
  git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror
}

step "clang-format" format_check
step "build (Release)" build build -DCMAKE_BUILD_TYPE=Release -DPOSTERN_WERROR=ON
step "unit tests" ctest --test-dir build --output-on-failure -j"$jobs"
step "build (ASan+UBSan)" build build-asan -DCMAKE_BUILD_TYPE=Debug -DPOSTERN_SANITIZE=ON \
  -DPOSTERN_WERROR=ON
step "unit tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

for t in tests/e2e/*_test.sh; do
  [ -e "$t" ] || continue
  step "e2e $(basename "$t" .sh)" env POSTERN_BUILD_DIR="$top/build" E2E_SOAK="$soak" \
    timeout 900 bash "$t"
done

echo
if ((failed)); then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "test.sh: $passed passed, $failed failed"
((failed == 0))
