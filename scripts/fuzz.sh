#!/usr/bin/env bash
# Runs Postern's libFuzzer targets (tests/fuzz, docs/fuzzing.md) under ASan+UBSan, each for a
# bounded time, on a scratch copy of the checked-in seed corpus. Builds build-fuzz with clang
# first (POSTERN_FUZZ=ON). Prints one line per target; exits non-zero if any target found a
# crash, a leak, undefined behaviour or a timeout, and names the file holding the input.
#
# Usage: scripts/fuzz.sh [SECONDS]   (per target; default 45)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
seconds=${1:-45}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS]" >&2
  exit 2
fi
targets=(proxy_decode haproxy_cfg yaml_loader runtime_api packet_path)
build=$top/build-fuzz

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_FUZZ=ON \
    -DPOSTERN_BUILD_TESTS=OFF >/dev/null || { echo "fuzz.sh: cmake failed" >&2; exit 1; }
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/%/_fuzz}" ||
  { echo "fuzz.sh: build failed" >&2; exit 1; }

# Everything a run writes (scratch corpus, log, crash inputs) stays here, never in tests/fuzz.
out=$build/fuzz-out/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "fuzz.sh: $seconds s per target; output in $out"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1

failed=0
for t in "${targets[@]}"; do
  dir=$out/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$top/tests/fuzz/corpus/$t/." "$dir/corpus/" -R
  t0=$(date +%s.%N)
  "$build/tests/fuzz/${t}_fuzz" "$dir/corpus" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
    >"$dir/log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
  corpus=$(find "$dir/corpus" -type f | wc -l)
  if ((rc == 0)); then
    echo "fuzz $t: ${runs:-?} executions in $elapsed s, corpus $corpus, no crash"
  else
    failed=1
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} executions in $elapsed s; log $dir/log"
    for f in "$dir"/artifacts/*; do
      [ -e "$f" ] && echo "fuzz $t: input kept in $f"
    done
    grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$dir/log" | sed "s/^/fuzz $t: /"
  fi
done
exit "$failed"
