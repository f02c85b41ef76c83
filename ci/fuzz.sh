#!/usr/bin/env bash
# Runs duende's libFuzzer targets (tests/fuzz) one after the other, each for a bounded time.
#   ci/fuzz.sh [--time SECONDS] [TARGET...]      default: 60 s each, every target
# Builds the fuzz preset (clang-14, ASan+UBSan) first. Each target starts from its seed corpus
# (tests/fuzz/TARGET/, read only) plus what earlier runs found (build/fuzz/corpus/TARGET/);
# crashes are written to build/fuzz/artifacts/TARGET/ and the log to build/fuzz/logs/TARGET.log.
# Prints one line per target (executions, exec/s, coverage); exits 1 when any target found a
# crash, leak, sanitizer report or timeout. Docs: docs/security.md ("Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(notify journal load_reply config services gates event_log scenario explore)
fi

build=build/fuzz
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz -j "${JOBS:-2}"

failed=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/duende-fuzz-$t"
  if [[ ! -x "$bin" || ! -d "tests/fuzz/$t" ]]; then
    echo "fuzz: no target '$t' (known: tests/fuzz/*_fuzz.cc)" >&2
    exit 2
  fi
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
  log="$build/logs/$t.log"
  status=0
  # -timeout: one input taking this long is a finding (a regex or loop gone quadratic);
  # generous because the machine running this may be shared. -max_len: without it libFuzzer
  # mutates inputs as long as the longest seed: explore's 40 kB regression inputs (replayed
  # whole by FuzzCorpus.explore) held it to 23 exec/s; longer inputs are cut to this length.
  "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "tests/fuzz/$t" > "$log" 2>&1 ||
    status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [[ $status -eq 0 ]]; then
    echo "fuzz: $t: ok, ${execs:-?} executions (${rate:-?} exec/s), cov ${cov:-?}, ${seconds}s"
  else
    failed=1
    echo "fuzz: $t: FAILED (exit $status), see $log; the input is in $build/artifacts/$t/"
    grep -m3 -E 'ERROR: |FUZZ_CHECK|runtime error' "$log" || true
  fi
done
exit $failed
