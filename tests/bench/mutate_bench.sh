#!/usr/bin/env bash
# Mutants per minute of `duende mutate` on tests/mutate/sample: the schemata path (one build
# for every mutant, coverage-selected tests) against rebuild mode (one incremental build per
# mutant, every test), measured in the same run on this machine. Prints both rates and their
# ratio. Wall time includes copying, configuring, building and the baseline in both modes.
#
# Usage: tests/bench/mutate_bench.sh [path/to/duende] [jobs]
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
duende=${1:-$(ls -t "$here"/build/*/harness/cli/duende 2>/dev/null | head -1)}
jobs=${2:-2}
[ -x "$duende" ] || { echo "mutate_bench: no duende binary (pass its path)" >&2; exit 2; }

work=$(mktemp -d /tmp/duende-mutate-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$here/tests/mutate/sample" "$work/src"
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

run() {  # mode -> prints "seconds tested"
  local mode=$1 t0 t1
  t0=$(date +%s.%N)
  "$duende" mutate -q -p "$work/build" --mode "$mode" -j "$jobs" --timeout-margin 1s \
    --json "$work/$mode.json" >/dev/null || true
  t1=$(date +%s.%N)
  python3 - "$work/$mode.json" "$t0" "$t1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
tested = sum(1 for f in doc["files"].values() for m in f["mutants"]
             if m["status"] not in ("Ignored", "Pending"))
print(f"{float(sys.argv[3]) - float(sys.argv[2]):.2f} {tested}")
PY
}

read -r s_secs s_n < <(run schemata)
read -r r_secs r_n < <(run rebuild)
python3 - "$s_secs" "$s_n" "$r_secs" "$r_n" "$jobs" <<'PY'
import sys
s_secs, s_n, r_secs, r_n, jobs = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
s_rate, r_rate = s_n / s_secs * 60, r_n / r_secs * 60
print(f"BM_MutateSchemata  {s_n:3d} mutants in {s_secs:6.2f} s: {s_rate:7.1f} mutants/min (-j {jobs})")
print(f"BM_MutateRebuild   {r_n:3d} mutants in {r_secs:6.2f} s: {r_rate:7.1f} mutants/min (-j {jobs})")
print(f"schemata/rebuild ratio: {s_rate / r_rate:.1f}x")
PY
