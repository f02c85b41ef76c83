#!/usr/bin/env bash
# Syscall-trace overhead: kvd under the same closed-loop load (4 connections, SET with a
# durable WAL write + fsync per request) for a few seconds, once untraced and once with
# `duende run --trace` (strace -f -ttt -T attached), in one invocation, alternating the two
# `rounds` times. Prints each run's throughput and p50/p99, then the medians and the ratios
# (traced / untraced). Absolute figures drift with the machine's load; the ratio is the result.
#
# Usage: tests/bench/trace_overhead_bench.sh [path/to/duende] [rounds] [seconds]
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
duende=${1:-$(ls -t "$here"/build/*/harness/cli/duende 2>/dev/null | head -1)}
[ -x "$duende" ] || { echo "trace_overhead_bench: no duende binary (pass its path)" >&2; exit 2; }
rounds=${2:-3}
seconds=${3:-4}
command -v strace >/dev/null || { echo "trace_overhead_bench: strace is not installed" >&2; exit 3; }

work=$(mktemp -d "${TMPDIR:-/tmp}/duende-trace-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/load.toml" <<TOML
[scenario]
name = "trace-overhead"
duration = "${seconds}s"
seed = 1

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"

[load]
mode = "closed"
connections = 4
timeout = "2s"
request = "SET {key} {seq}"
expect = "OK"
TOML

python3 - "$duende" "$rounds" "$work" <<'PY'
import json, statistics, subprocess, sys
duende, rounds, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
res = {"untraced": [], "traced": []}
for r in range(rounds):
    for mode in ("untraced", "traced"):
        out = f"{work}/{mode}-{r}.json"
        args = [duende, "run", "-q", f"{work}/load.toml", "--json", out, "--keep"]
        if mode == "traced":
            args.append("--trace")
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{mode} run failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        for line in p.stdout.splitlines():  # the kept run directory: remove it
            if line.startswith("run directory (kept): "):
                subprocess.run(["rm", "-rf", line.split(": ", 1)[1]])
        sc = json.load(open(out))["scenarios"][0]
        s = next(e for e in sc["events"] if e["type"] == "load.summary")
        calls = next((e["calls"] for e in sc["events"] if e["type"] == "trace.summary"), 0)
        res[mode].append((s["achieved_rate"], s["p50_us"], s["p99_us"], calls))
        print(f"{mode:9} round {r + 1}: {s['achieved_rate']:8.0f} req/s  p50 {s['p50_us']:6d} us"
              f"  p99 {s['p99_us']:6d} us" + (f"  {calls} syscalls traced" if calls else ""))
med = {m: [statistics.median(x[i] for x in v) for i in range(4)] for m, v in res.items()}
u, t = med["untraced"], med["traced"]
print(f"median untraced: {u[0]:.0f} req/s, p50 {u[1]:.0f} us, p99 {u[2]:.0f} us")
print(f"median traced:   {t[0]:.0f} req/s, p50 {t[1]:.0f} us, p99 {t[2]:.0f} us"
      f" ({t[3]:.0f} syscalls)")
print(f"ratio traced/untraced: throughput {t[0] / u[0]:.2f}x, p50 {t[1] / max(u[1], 1):.2f}x, "
      f"p99 {t[2] / max(u[2], 1):.2f}x")
PY
