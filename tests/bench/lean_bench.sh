#!/usr/bin/env bash
# Lean programs: what a `duende` verb costs to start, and what `duende supervise` holds while
# idle, beside peers measured in the same run on this machine (absolute figures drift with
# load; the ratios are the result).
#
#  - startup: median wall time and peak RSS (ru_maxrss) of `duende version` and `duende
#    validate`, against /bin/true (the cost of exec'ing any dynamically linked program);
#  - idle memory: PSS (/proc/PID/smaps_rollup) of the whole supervision tree, every process
#    except the services themselves, with 1 and 10 services (/bin/sleep): `duende supervise`
#    (one process), s6-svscan (plus one s6-supervise per service), runsvdir (plus one runsv
#    per service) and a bare C parent that only spawns and waits (the floor). A peer that is
#    not installed is skipped (apt-get install s6 runit).
#
# Usage: tests/bench/lean_bench.sh [path/to/duende] [path/to/lean-bench-bare-parent] [runs]
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
duende=${1:-$(ls -t "$here"/build/*/harness/cli/duende 2>/dev/null | head -1)}
[ -x "$duende" ] || { echo "lean_bench: no duende binary (pass its path)" >&2; exit 2; }
bare=${2:-$(dirname "$duende")/../../tests/bench/lean-bench-bare-parent}
runs=${3:-20}

work=$(mktemp -d "${TMPDIR:-/tmp}/duende-lean-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 - "$duende" "$bare" "$runs" "$work" "$here" <<'PY'
import os, shutil, signal, statistics, sys, time

duende, bare, runs, work, here = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
SLEEP = shutil.which("sleep") or "/bin/sleep"
SLEEP_REAL = os.path.realpath(SLEEP)
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time
devnull = os.open(os.devnull, os.O_RDWR)


def run_quiet(argv):
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def startup(argv):
    """Median wall ms over `runs` runs, the peak RSS in KiB (None without GNU time) and the
    exit code. The peak comes from GNU time's own fork: a child spawned from this Python
    inherits Python's RSS high-water mark at exec, which would hide a small program's."""
    times, code = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        code = run_quiet(argv)
        times.append((time.perf_counter() - t0) * 1e3)
    peak = None
    if TIME:
        out = os.path.join(work, "maxrss")
        for _ in range(5):
            run_quiet([TIME, "-f", "%M", "-o", out] + argv)
            with open(out) as f:
                peak = max(peak or 0, int(f.read().split()[-1]))
    return statistics.median(times), peak, code


def children(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def tree(root):
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    return pids


def is_service(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe") == SLEEP_REAL
    except OSError:
        return False


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(argv, n):
    """Starts a supervision tree, waits until it runs n services and settles, and returns the
    PSS (KiB) of its processes other than the services, and their count."""
    root = os.posix_spawn(argv[0], argv, os.environ, setsid=True,
                          file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                        (os.POSIX_SPAWN_DUP2, devnull, 2)])
    seen = set()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pids = tree(root)
            seen.update(pids)
            if sum(1 for p in pids if is_service(p)) >= n:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{argv[0]} did not start {n} services within 15 s")
        time.sleep(1.0)  # idle: let start-up allocations settle
        pids = tree(root)
        seen.update(pids)
        managers = [p for p in pids if not is_service(p)]
        return sum(pss_kib(p) for p in managers), len(managers)
    finally:
        os.kill(root, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and os.waitpid(root, os.WNOHANG) == (0, 0):
            time.sleep(0.02)
        # Whatever this tree started and that outlived it: end it by pid.
        for p in seen:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(root, 0)
        except ChildProcessError:
            pass


def service_dirs(top, n):
    os.makedirs(top)
    for i in range(n):
        d = os.path.join(top, f"s{i}")
        os.makedirs(d)
        with open(os.path.join(d, "run"), "w") as f:
            f.write(f"#!/bin/sh\nexec {SLEEP} 1000000\n")
        os.chmod(os.path.join(d, "run"), 0o755)
    return top


def duende_tree(n):
    d = os.path.join(work, f"duende-{n}")
    os.makedirs(d)
    path = os.path.join(d, "services.toml")
    with open(path, "w") as f:
        f.write('[supervisor]\ncontrol_socket = "ctl.sock"\n')
        for i in range(n):
            f.write(f'\n[[service]]\nname = "s{i}"\ncommand = ["{SLEEP}", "1000000"]\n')
    return [duende, "supervise", "--quiet", path]


def s6_tree(n):
    return [shutil.which("s6-svscan"), service_dirs(os.path.join(work, f"s6-{n}"), n)]


def runit_tree(n):
    return [shutil.which("runsvdir"), service_dirs(os.path.join(work, f"runit-{n}"), n)]


def bare_tree(n):
    return [bare, str(n), SLEEP, "1000000"]


print(f"lean_bench: {duende}")
def mib(kib):
    return "    n/a" if kib is None else f"{kib / 1024:7.1f}"


print(f"startup: median wall time of {runs} runs, peak RSS (ratios against /bin/true)")
if not TIME:
    print("  (peak RSS needs GNU time: apt-get install time)")
floor_ms, floor_rss, _ = startup(["/bin/true"])
print(f"  {'/bin/true':34s} {floor_ms:7.2f} ms {mib(floor_rss)} MiB")
scenario = os.path.join(here, "scenarios", "crash-loop-backoff.toml")
for label, argv in [("duende version", [duende, "version"]),
                    ("duende validate crash-loop-backoff", [duende, "validate", scenario]),
                    ("duende mutate --help (LLVM)", [duende, "mutate", "--help"])]:
    ms, rss, code = startup(argv)
    note = "" if code == 0 else f"  (exit {code})"
    rss_ratio = "" if rss is None else f" {rss / floor_rss:5.1f}x"
    print(f"  {label:34s} {ms:7.2f} ms {mib(rss)} MiB   {ms / floor_ms:5.1f}x{rss_ratio}{note}")

print("idle PSS of the supervision tree (services excluded), /bin/sleep services")
print(f"  {'':24s} {'1 service':>12s} {'10 services':>12s} {'per service':>12s}  processes")
peers = [("bare C parent (floor)", bare_tree, os.access(bare, os.X_OK)),
         ("s6-svscan + s6-supervise", s6_tree, shutil.which("s6-svscan") is not None),
         ("runsvdir + runsv", runit_tree, shutil.which("runsvdir") is not None),
         ("duende supervise", duende_tree, True)]
results = {}
for label, make, present in peers:
    if not present:
        print(f"  {label:24s} skipped (not installed)")
        continue
    one, procs1 = measure(make(1), 1)
    ten, procs10 = measure(make(10), 10)
    results[label] = (one, ten)
    print(f"  {label:24s} {one / 1024:8.2f} MiB {ten / 1024:8.2f} MiB "
          f"{(ten - one) / 9 / 1024:8.3f} MiB  {procs1}/{procs10}")
d1, d10 = results["duende supervise"]
for label, (one, ten) in results.items():
    if label != "duende supervise":
        print(f"duende supervise / {label}: {d1 / one:.1f}x (1 service), "
              f"{d10 / ten:.1f}x (10 services)")
PY
