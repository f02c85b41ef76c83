#!/usr/bin/env bash
# The README's main job (`make demo`, after the build): run the shipped chaos suite against the
# reference daemon (and Debian's redis-server and nginx), write every report, print the verdicts.
# scenarios/examples/memcached-kill.toml is left out on purpose: it FAILs, as it must (memcached
# keeps its data in memory only).
#
#   ci/demo.sh [BUILD_DIR]     reports go to BUILD_DIR/demo/ (report.html, junit.xml, ...)
#
# Exit code: duende run's (0 every invariant held, 1 one failed, 3 environment error).
set -uo pipefail
build=${1:-build/ci}
duende="$build/harness/cli/duende"
out="$build/demo"
mkdir -p "$out"
export DUENDE_FIXTURES_DIR="$(cd "$build/fixtures" && pwd)"
echo "$("$duende" version): running the shipped scenarios (a few seconds each)"
scenarios=(scenarios/*.toml scenarios/examples/nginx-kill.toml)
"$duende" validate "${scenarios[@]}" || exit $?
"$duende" run "${scenarios[@]}" --quiet \
  --events "$out/events.jsonl" --junit "$out/junit.xml" --json "$out/report.json" \
  --markdown "$out/summary.md" --html "$out/report.html"
rc=$?
# The same daemon on other platforms (scenarios/platforms/), where this machine can run them.
platforms=()
for f in scenarios/platforms/*.toml; do
  p=$(sed -n 's/^platform = "\(.*\)"/\1/p' "$f" | head -1)
  why=""
  if [ "$(id -u)" != 0 ]; then why="needs root (a private systemd manager, runc, qemu)"
  elif [ "$p" = systemd ] && [ ! -x /lib/systemd/systemd ]; then why="systemd is not installed"
  elif [ "$p" = oci ] && ! command -v runc >/dev/null; then why="runc is not installed"
  elif [ "$p" = oci ] && [ ! -x /usr/bin/tini ]; then why="tini is not installed"
  elif no=$("$duende" adapter detect 2>/dev/null |
            awk -F'\t' -v p="  $p" '$1 == p && $2 ~ /^no: / { sub(/^no: /, "", $2); print $2 }') &&
       [ -n "$no" ]; then why=$no
  elif ! "$duende" validate "$f" >/dev/null 2>&1; then
    why=$("$duende" validate "$f" 2>&1 | head -1)
  fi
  if [ -n "$why" ]; then echo "skipped $f (platform $p): $why"; else platforms+=("$f"); fi
done
if [ ${#platforms[@]} -gt 0 ]; then
  "$duende" run "${platforms[@]}" --quiet --events "$out/platforms.jsonl"
  prc=$?
  [ $rc -eq 0 ] && rc=$prc
  cat "$out/platforms.jsonl" >>"$out/events.jsonl"
fi
echo
echo "verdicts:"
grep -h '"type":"run.finished"' "$out/events.jsonl" >/dev/null 2>&1 &&
  paste <(grep -h '"type":"run.started"' "$out/events.jsonl" | sed 's/.*"scenario":"\([^"]*\)".*/\1/') \
        <(grep -h '"type":"run.finished"' "$out/events.jsonl" | sed 's/.*"verdict":"\([^"]*\)".*/\1/') |
  awk '{ printf "  %-22s %s\n", $1, $2 }'
echo
echo "HTML report: $(cd "$out" && pwd)/report.html"
echo "re-check a run:   $duende check $out/events.jsonl scenarios/kill-under-load.toml"
exit $rc
