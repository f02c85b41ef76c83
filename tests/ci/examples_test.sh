#!/usr/bin/env bash
# Runs the steps of the CI examples users copy (ci/examples/github-actions.yml and
# gitlab-ci.yml, and their sharded twins github-actions-sharded.yml and gitlab-ci-sharded.yml)
# for real, against duende installed from this build into a scratch prefix: validate, run a
# scenario with every report, the job summary, the re-render from the event log; four shards of
# a suite as the matrix / parallel jobs run them, and the final job's merge. Every `duende`
# command line in the examples is checked against the installed CLI's help (verb, subcommand,
# options). What it cannot run here: the hosted runners' own actions (checkout, upload-artifact,
# the JUnit publisher) and the compile of duende (InstallTest covers the install tree).
# It checks the reports exist and hold the verdict, the JUnit validates against our schema, and
# a missing DUENDE_REPO stops the build step with the message saying what to set.
# Usage: examples_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/duende-ci-examples-XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# "sudo cmake --install build/release" in the examples: the same install, into a prefix.
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install"; }
export PATH="$work/prefix/bin:$PATH"
duende version > /dev/null || fail "the installed duende does not run"
sudo() { "$@"; }  # root here; the examples' sudo is for hosted runners
export -f sudo

# The user's repository: one scenario in chaos/, naming their daemon (here: kvd, by path).
# This test checks the examples' steps, not kvd's latency: the request timeout is 1 s instead
# of 300 ms, as on a shared CI runner whose disk can hold an fsync for hundreds of ms (kvd logs
# such commits as "slow WAL commit"; twice a 300 ms timeout failed a shard here under make test).
make_project() {
  mkdir -p "$1/chaos"
  sed -e "s|\"duende-fixture-kvd\"|\"$build/fixtures/duende-fixture-kvd\"|" \
      -e 's|^timeout = "300ms"$|timeout = "1s"|' \
    "$src/scenarios/kill-under-load.toml" > "$1/chaos/kv.toml"
  grep -q '^timeout = "1s"$' "$1/chaos/kv.toml" || fail "kill-under-load.toml has no 300ms timeout to relax"
}

# Extracts the shell of the examples' steps (python3-yaml, from ci/deps.sh).
python3 - "$src/ci/examples" "$work" <<'PY'
import re, sys, yaml
examples, work = sys.argv[1], sys.argv[2]
gh = yaml.safe_load(open(f"{examples}/github-actions.yml"))
steps = {s.get("name"): s for s in gh["jobs"]["chaos"]["steps"]}
for name, out in [("Build duende", "gh-build.sh"), ("Run the chaos scenarios", "gh-run.sh"),
                  ("Job summary", "gh-summary.sh")]:
    open(f"{work}/{out}", "w").write(steps[name]["run"])
assert steps["Test report"]["with"]["report_paths"] == "reports/junit.xml"
assert "reports/" in steps["Upload reports"]["with"]["path"]
gl = yaml.safe_load(open(f"{examples}/gitlab-ci.yml"))
job = gl["chaos"]
script = [l for l in job["script"] if not l.startswith("make")]  # the user's own build
open(f"{work}/gl-script.sh", "w").write("\n".join(script) + "\n")
open(f"{work}/gl-after.sh", "w").write("\n".join(job["after_script"]) + "\n")
open(f"{work}/gl-clone.sh", "w").write(job["before_script"][1] + "\n")
assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
assert gl["gate:tier2"]["extends"] == "chaos"

# The sharded examples: the matrix / parallel job and the final merge job.
ghs = yaml.safe_load(open(f"{examples}/github-actions-sharded.yml"))
shards = int(ghs["env"]["SHARDS"])
assert ghs["jobs"]["chaos"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1)), \
    "the matrix must list shards 1..SHARDS"
assert ghs["jobs"]["chaos"]["strategy"]["fail-fast"] is False
s_steps = {s.get("name"): s for s in ghs["jobs"]["chaos"]["steps"]}
open(f"{work}/ghs-run.sh", "w").write(s_steps["Run this shard"]["run"])
assert s_steps["Upload this shard's report"]["with"]["name"] == "chaos-shard-${{ matrix.shard }}"
merge = ghs["jobs"]["merge"]
assert merge["needs"] == "chaos" and merge["if"] == "always()"
m_steps = {s.get("name") or s.get("uses"): s for s in merge["steps"]}
assert m_steps["actions/download-artifact@v4"]["with"]["pattern"] == "chaos-shard-*"
open(f"{work}/ghs-merge.sh", "w").write(m_steps["Merge the shard reports"]["run"])
assert m_steps["Test report"]["with"]["report_paths"] == "reports/junit.xml"
gls = yaml.safe_load(open(f"{examples}/gitlab-ci-sharded.yml"))
assert gls["chaos:shard"]["parallel"] == shards
open(f"{work}/gls-run.sh", "w").write(
    "\n".join(l for l in gls["chaos:shard"]["script"] if not l.startswith("make")) + "\n")
assert gls["chaos:merge"]["needs"][0]["job"] == "chaos:shard"
assert gls["chaos:merge"]["when"] == "always"
assert gls["chaos:merge"]["artifacts"]["reports"]["junit"] == "reports/junit.xml"
open(f"{work}/gls-merge.sh", "w").write("\n".join(gls["chaos:merge"]["script"]) + "\n")
open(f"{work}/shards", "w").write(str(shards))

# Every duende command line of every example (steps, scripts, before/after scripts), for the
# check against the installed CLI's help below: one line per command, its words.
def shell_texts(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("run", "script", "before_script", "after_script"):
                for t in (v if isinstance(v, list) else [v]):
                    if isinstance(t, str):
                        yield t
            else:
                yield from shell_texts(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from shell_texts(v)
with open(f"{work}/duende-commands", "w") as f:
    for doc in (gh, gl, ghs, gls):
        for text in shell_texts(doc):
            text = text.replace("\\\n", " ")
            for m in re.finditer(r"(?:^|[\s;&|(])duende ([a-z][a-z-]*)((?:[^\n;&|)]*))", text):
                f.write(m.group(1) + " " + m.group(2).strip() + "\n")

# Where each job runs, and the ci/deps.sh profiles it installs: every job that calls
# ci/deps.sh must run in a debian:12 container (its package names are Debian 12's).
calls = []
for fname, doc in (("github-actions.yml", gh), ("github-actions-sharded.yml", ghs)):
  for name, j in doc["jobs"].items():
    image = (j.get("container") or {}).get("image") if isinstance(j.get("container"), dict) else j.get("container")
    for st in j["steps"]:
        for args in re.findall(r"ci/deps\.sh([^\n&;|]*)", st.get("run", "")):
            calls.append((f"{fname} job {name}", image, args.split()))
for fname, doc in (("gitlab-ci.yml", gl), ("gitlab-ci-sharded.yml", gls)):
  for name, j in doc.items():
    if not isinstance(j, dict) or "script" not in j and "extends" not in j:
        continue
    base = doc.get(j.get("extends"), {}) if j.get("extends") else {}
    image = j.get("image", base.get("image"))
    for line in j.get("before_script", base.get("before_script", [])):
        for args in re.findall(r"ci/deps\.sh([^\n&;|]*)", line):
            calls.append((f"{fname} job {name}", image, args.split()))
for fname in ("github-actions-sharded.yml", "gitlab-ci-sharded.yml"):
    assert any(w.startswith(fname) for w, _, _ in calls), f"{fname} calls no ci/deps.sh"

assert calls, "no example calls ci/deps.sh"
with open(f"{work}/deps-calls", "w") as f:
    for where, image, args in calls:
        if image != "debian:12":
            sys.exit(f"{where} calls ci/deps.sh (Debian 12 package names) but runs on {image!r}, not debian:12")
        f.write(where + "\t" + " ".join(args) + "\n")
PY

# The package names of the profiles the examples install exist in Debian 12: checked against
# this machine's apt lists (it is Debian 12; `apt-cache madison` names the archive each
# version comes from), counting only versions from deb.debian.org's bookworm suites, not
# third-party sources such as nodesource.
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
  fail "the package check reads Debian 12's apt lists, and this machine is $PRETTY_NAME"
checked=0
declare -A seen_package=()  # each name is looked up once, however many jobs install it
while IFS=$'\t' read -r where args; do
  for p in $(bash "$src/ci/deps.sh" --list $args); do
    [ -z "${seen_package[$p]:-}" ] || continue
    seen_package[$p]=1
    versions=$(apt-cache madison "$p" 2>/dev/null || true)  # (no pipe: grep -q would cut it)
    grep -qE 'debian(-security)? bookworm(-updates|-security)?/main' <<< "$versions" ||
      fail "$where: ci/deps.sh $args installs '$p', which is not a Debian 12 package"
    checked=$((checked + 1))
  done
done < "$work/deps-calls"
[ "$checked" -gt 10 ] || fail "only $checked package names checked"
echo "deps: $checked package names of the examples' ci/deps.sh profiles are Debian 12 packages"
# The check can fail: a name that exists only on Ubuntu is refused.
versions=$(apt-cache madison libtomlplusplus3t64 2>/dev/null || true)
grep -q bookworm <<< "$versions" &&
  fail "the archive check accepts an Ubuntu-only name"

# Every duende command the examples call exists: its verb in `duende help`, its subcommand
# and each of its options in the verb's --help (a renamed option would break users' CI).
commands=0
duende help > "$work/help.txt"
while read -r verb rest; do
  grep -qE "^  $verb( |\$)" "$work/help.txt" || fail "the examples call 'duende $verb', which 'duende help' does not list"
  set -- $rest
  helpcmd=(duende "$verb")
  if [ "$verb" = report ] && [ "${1:-}" = merge ]; then helpcmd+=(merge); fi
  "${helpcmd[@]}" --help > "$work/verb-help.txt" || fail "${helpcmd[*]} --help"
  if [ "${#helpcmd[@]}" = 3 ]; then
    duende report --help > "$work/help-report.txt"
    grep -q "duende report merge" "$work/help-report.txt" ||
      fail "'duende report --help' does not mention 'duende report merge'"
  fi
  for word in $rest; do
    case $word in
      --*|-[a-z]) opt=${word%%=*}
        grep -qE -- "(^|[ ,])$opt([ ,=]|\$)" "$work/verb-help.txt" ||
          fail "the examples call '${helpcmd[*]} ... $opt', which '${helpcmd[*]} --help' does not list";;
    esac
  done
  commands=$((commands + 1))
done < "$work/duende-commands"
[ "$commands" -ge 12 ] || fail "only $commands duende commands found in the examples"
# The check can fail: an option the CLI does not have is refused.
duende run --help | grep -qE -- "(^|[ ,])--no-such-option([ ,=]|\$)" &&
  fail "the option check accepts an option duende run does not have"
echo "commands: $commands duende command lines of the examples checked against the CLI's help"

check_reports() {  # DIR
  local d=$1
  for f in events.jsonl junit.xml chaos.html; do
    [ -s "$d/reports/$f" ] || fail "$d/reports/$f was not written"
  done
  xmllint --noout --schema "$src/reporters/schema/junit.xsd" "$d/reports/junit.xml" ||
    fail "junit.xml does not validate"
  grep -q '"verdict":"PASS"' "$d/reports/events.jsonl" || fail "the run did not PASS"
  grep -q '<svg' "$d/reports/chaos.html" || fail "the HTML report has no timeline"
}

# GitHub Actions: bash -e per step, in the checkout.
gh=$work/github && make_project "$gh"
(cd "$gh" && GITHUB_STEP_SUMMARY="$gh/summary" bash -e "$work/gh-run.sh") > "$work/gh.log" 2>&1 ||
  { cat "$work/gh.log"; fail "the GitHub 'Run the chaos scenarios' step"; }
check_reports "$gh"
grep -q PASS "$gh/reports/summary.md" || fail "summary.md has no verdict"
(cd "$gh" && GITHUB_STEP_SUMMARY="$gh/summary" bash -e "$work/gh-summary.sh") ||
  fail "the GitHub 'Job summary' step"
grep -q 'kill-under-load' "$gh/summary" || fail "the job summary is empty"
# Without DUENDE_REPO the build step stops at once and says what to set.
if (cd "$gh" && DUENDE_REPO= RUNNER_TEMP="$work" bash -e "$work/gh-build.sh") > "$work/gh-build.log" 2>&1; then
  fail "the build step ran without DUENDE_REPO"
fi
grep -q 'set the repository variable DUENDE_REPO' "$work/gh-build.log" ||
  { cat "$work/gh-build.log"; fail "no hint about DUENDE_REPO"; }

# GitLab CI: the script lines in one shell (-e), then after_script.
gl=$work/gitlab && make_project "$gl"
(cd "$gl" && CI_PROJECT_DIR="$gl" bash -e "$work/gl-script.sh") > "$work/gl.log" 2>&1 ||
  { cat "$work/gl.log"; fail "the GitLab script"; }
check_reports "$gl"
# after_script re-renders from the event log when the run was cut short: cut it short.
rm "$gl/reports/junit.xml" "$gl/reports/chaos.html"
(cd "$gl" && bash -e "$work/gl-after.sh") || fail "the GitLab after_script"
check_reports "$gl"
if (DUENDE_REPO= bash -e "$work/gl-clone.sh") > "$work/gl-clone.log" 2>&1; then
  fail "the GitLab clone ran without DUENDE_REPO"
fi
grep -q 'set the CI/CD variable DUENDE_REPO' "$work/gl-clone.log" || fail "no hint about DUENDE_REPO"

# The sharded examples: a suite of three scenarios, run as the matrix / parallel jobs run it
# (each shard in a checkout of its own), the shards' reports collected as the artifact
# downloads collect them, then the final job's merge.
shards=$(cat "$work/shards")
make_suite() {  # DIR: kv (kill-under-load) and two short ones, the fixture by path
  make_project "$1"
  for f in self-test/lost-writes-healthy.toml self-test/lost-writes-memory-healthy.toml; do
    sed "s|\"duende-fixture-\([a-z-]*\)\"|\"$build/fixtures/duende-fixture-\1\"|" \
      "$src/scenarios/$f" > "$1/chaos/$(basename "$f")"
  done
}
merged_check() {  # DIR: the merged report holds every scenario of the suite, verdict PASS
  local d=$1
  for f in junit.xml chaos.html summary.md report.json; do
    [ -s "$d/reports/$f" ] || fail "$d/reports/$f was not written by the merge"
  done
  xmllint --noout --schema "$src/reporters/schema/junit.xsd" "$d/reports/junit.xml" ||
    fail "the merged junit.xml does not validate"
  python3 - "$d/reports/report.json" <<'PY' || fail "the merged report.json ($d)"
import json, sys
r = json.load(open(sys.argv[1]))
names = sorted(s["name"] for s in r["scenarios"])
assert names == ["kill-under-load", "lost-writes-healthy", "lost-writes-memory-healthy"], names
assert r["verdict"] == "PASS", r["verdict"]
assert [s["name"] for s in r["suite"]["scenarios"]] == [s["name"] for s in r["scenarios"]]
PY
}
for k in $(seq 1 "$shards"); do
  d=$work/ghs-$k && make_suite "$d"
  (cd "$d" && SHARD=$k SHARDS=$shards bash -e "$work/ghs-run.sh") > "$work/ghs-$k.log" 2>&1 ||
    { cat "$work/ghs-$k.log"; fail "the GitHub 'Run this shard' step of shard $k"; }
  grep -q "shard $k/$shards: " "$work/ghs-$k.log" || fail "shard $k did not say which scenarios it ran"
  mkdir -p "$work/ghs-merge/shards" && cp "$d"/reports/* "$work/ghs-merge/shards/"
done
(cd "$work/ghs-merge" && bash -e "$work/ghs-merge.sh") > "$work/ghs-merge.log" 2>&1 ||
  { cat "$work/ghs-merge.log"; fail "the GitHub 'Merge the shard reports' step"; }
merged_check "$work/ghs-merge"
# GitLab: parallel jobs numbered CI_NODE_INDEX of CI_NODE_TOTAL; the merge job gets every
# shard's reports/ as artifacts, in its own checkout.
for k in $(seq 1 "$shards"); do
  d=$work/gls-$k && make_suite "$d"
  (cd "$d" && CI_NODE_INDEX=$k CI_NODE_TOTAL=$shards bash -e "$work/gls-run.sh") \
    > "$work/gls-$k.log" 2>&1 || { cat "$work/gls-$k.log"; fail "the GitLab chaos:shard job $k"; }
  mkdir -p "$work/gls-merge/reports" && cp "$d"/reports/* "$work/gls-merge/reports/"
done
(cd "$work/gls-merge" && bash -e "$work/gls-merge.sh") > "$work/gls-merge.log" 2>&1 ||
  { cat "$work/gls-merge.log"; fail "the GitLab chaos:merge job"; }
merged_check "$work/gls-merge"
# A missing shard is not hidden: the merge of all but one shard that ran a scenario says so.
for k in $(seq 1 "$shards"); do
  if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["scenarios"] else 1)' \
      "$work/gls-merge/reports/shard-$k.json"; then
    rm "$work/gls-merge/reports/shard-$k.json"
    break
  fi
done
if (cd "$work/gls-merge" && bash -e "$work/gls-merge.sh") > "$work/gls-gap.log" 2>&1; then
  fail "the merge passed with a shard's report missing"
fi
grep -q "no report of shard $k/$shards was given" "$work/gls-gap.log" ||
  { cat "$work/gls-gap.log"; fail "the merge did not name the missing shard"; }

echo "ci examples: ok (GitHub Actions and GitLab CI steps ran, sharded ones over $shards shards and merged; reports checked)"
