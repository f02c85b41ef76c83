#!/usr/bin/env bash
# One quality-gate tier of the project's gates.toml (docs/gates.md), run locally exactly as in
# CI: installs missing packages, builds duende (tier 1: the duende program only, its own
# "build" step builds the rest; tiers 2 and 3: everything, which their steps need), then runs
# `duende gate --tier N`. Reports land in build/gates/ (JUnit, Markdown, HTML; step logs).
# Usage: ci/tier.sh N [extra duende gate options, e.g. --set jobs=4]
set -euo pipefail
tier=${1:?usage: ci/tier.sh N [duende gate options]}
shift
cd "$(dirname "$0")/.."
ci/deps.sh
cmake --preset ci > /dev/null
if [ "$tier" = 1 ]; then
  cmake --build --preset ci -j "$(nproc)" --target duende
else
  cmake --build --preset ci -j "$(nproc)"
fi
mkdir -p build/gates
exec build/ci/harness/cli/duende gate --tier "$tier" --config gates.toml \
  --junit "build/gates/tier$tier.xml" --markdown "build/gates/tier$tier.md" \
  --html "build/gates/tier$tier.html" "$@"
