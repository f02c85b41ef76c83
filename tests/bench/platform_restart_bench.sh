#!/usr/bin/env bash
# Restart latency per platform: kvd SIGKILLed 20 times (tests/bench/scenarios/platform-restart.toml)
# on native (duende's supervisor), systemd (a private user manager, Restart=always) and oci
# (runc behind the OCI adapter's supervisor), from the SIGKILL (fault.injected) to ready again
# (the next target.ready: kvd's READY=1 as the platform reports it). Median and p99 per
# platform, and each as a ratio to native measured in the same run. A platform this machine
# cannot run is skipped with the reason.
# Usage: tests/bench/platform_restart_bench.sh [path/to/duende]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
duende=${1:-$here/build/ci/harness/cli/duende}
export DUENDE_FIXTURES_DIR=${DUENDE_FIXTURES_DIR:-$(dirname "$(dirname "$(dirname "$duende")")")/fixtures}
work=$(mktemp -d /tmp/duende-platform-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

for p in native systemd oci; do
  if ! "$duende" run "$here/tests/bench/scenarios/platform-restart.toml" --quiet \
      --set "target.kvd.platform=\"$p\"" --events "$work/$p.jsonl" >"$work/$p.txt" 2>&1; then
    echo "platform $p: skipped ($(grep -m1 -iE 'error|unable|fail' "$work/$p.txt" || echo 'run failed'))"
    rm -f "$work/$p.jsonl"
  fi
done

python3 - "$work" <<'PY'
import json, os, sys

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def latencies(path):
    out, kill = [], None
    for line in open(path):
        e = json.loads(line)
        if e["type"] == "fault.injected":
            kill = e["ts_ns"]
        elif e["type"] == "target.ready" and kill is not None:
            out.append((e["ts_ns"] - kill) / 1e6)
            kill = None
    return out

res = {}
for p in ("native", "systemd", "oci"):
    f = os.path.join(sys.argv[1], p + ".jsonl")
    if os.path.exists(f):
        res[p] = latencies(f)
if "native" not in res:
    sys.exit("native did not run: no baseline")
n50, n99 = pct(res["native"], 50), pct(res["native"], 99)
print("restart latency of kvd, SIGKILL to ready again (READY=1 as the platform reports it)")
for p, v in res.items():
    print(f"  {p:8s} n={len(v):2d}  median {pct(v, 50):7.1f} ms ({pct(v, 50) / n50:5.1f}x native)"
          f"  p99 {pct(v, 99):7.1f} ms ({pct(v, 99) / n99:5.1f}x native)")
PY
