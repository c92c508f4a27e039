#!/usr/bin/env bash
# Runs every test of Postern on a fresh Debian 12 machine as root: installs packages, builds
# the Release tree (as operators build it) and the sanitizer (ASan+UBSan) Debug tree, both with
# warnings as errors, runs the unit tests in both, the fuzz targets (the parsers and the
# packet path) for 45 s each (scripts/fuzz.sh), then the end-to-end tests in network-namespace
# labs against the Release build. Ends with one line "N passed, N failed".
#
# Usage: scripts/test.sh [--soak]
#   --soak  the end-to-end tests run their long variants (E2E_SOAK=1): handshake_loss_test.sh
#           runs 1,000 IMAP sessions per loss pattern instead of 120, timewait_test.sh loads
#           for 75 s, longer than TIME_WAIT, instead of 100,000 connections, syn_flood_test.sh
#           floods for 60 s instead of 10 s)
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
faillogs=()
steplogs=$(mktemp -d)
trap 'rm -rf "$steplogs"' EXIT
step() {  # step NAME COMMAND...: its output goes to the terminal and to a log for the summary
  local name=$1
  shift
  echo "=== $name"
  local t0=$SECONDS log
  log=$steplogs/$((passed + failed)).log
  if "$@" 2>&1 | tee "$log"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    faillogs+=("$log")
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
step "fuzz (libFuzzer, ASan+UBSan)" bash scripts/fuzz.sh 45

for t in tests/e2e/*_test.sh; do
  [ -e "$t" ] || continue
  step "e2e $(basename "$t" .sh)" env POSTERN_BUILD_DIR="$top/build" E2E_SOAK="$soak" \
    timeout 900 bash "$t"
done

echo
# The summary repeats what failed, so the end of the output is enough to see why: every FAIL
# line of an e2e test with the lines it showed, or the last lines of any other step.
for i in "${!failures[@]}"; do
  echo "--- ${failures[$i]}: what failed"
  if grep -q '\] FAIL ' "${faillogs[$i]}"; then
    awk '/\] FAIL /{n=12} n>0{print; n--}' "${faillogs[$i]}" | head -n 80
  else
    tail -n 40 "${faillogs[$i]}"
  fi
done
if ((failed)); then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "test.sh: $passed passed, $failed failed"
((failed == 0))
