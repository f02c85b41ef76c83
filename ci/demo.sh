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
