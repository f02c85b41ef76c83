#!/usr/bin/env bash
# Runs the steps of the CI examples users copy (ci/examples/github-actions.yml and
# gitlab-ci.yml) for real, against duende installed from this build into a scratch prefix:
# validate, run a scenario with every report, the job summary, the re-render from the event
# log. What it cannot run here: the hosted runners' own actions (checkout, upload-artifact,
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
make_project() {
  mkdir -p "$1/chaos"
  sed "s|\"duende-fixture-kvd\"|\"$build/fixtures/duende-fixture-kvd\"|" \
    "$src/scenarios/kill-under-load.toml" > "$1/chaos/kv.toml"
}

# Extracts the shell of the examples' steps (python3-yaml, from ci/deps.sh).
python3 - "$src/ci/examples" "$work" <<'PY'
import sys, yaml
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

# Where each job runs, and the ci/deps.sh profiles it installs: every job that calls
# ci/deps.sh must run in a debian:12 container (its package names are Debian 12's).
import re
calls = []
for name, j in gh["jobs"].items():
    image = (j.get("container") or {}).get("image") if isinstance(j.get("container"), dict) else j.get("container")
    for st in j["steps"]:
        for args in re.findall(r"ci/deps\.sh([^\n&;|]*)", st.get("run", "")):
            calls.append((f"github-actions.yml job {name}", image, args.split()))
for name, j in gl.items():
    if not isinstance(j, dict) or "script" not in j and "extends" not in j:
        continue
    base = gl.get(j.get("extends"), {}) if j.get("extends") else {}
    image = j.get("image", base.get("image"))
    for line in j.get("before_script", base.get("before_script", [])):
        for args in re.findall(r"ci/deps\.sh([^\n&;|]*)", line):
            calls.append((f"gitlab-ci.yml job {name}", image, args.split()))
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
while IFS=$'\t' read -r where args; do
  for p in $(bash "$src/ci/deps.sh" --list $args); do
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

echo "ci examples: ok (GitHub Actions and GitLab CI steps ran; reports checked)"
