#!/usr/bin/env bash
# Tier 1 (on save): format, build, fast tests. Builds duende first (the gate runner is duende
# itself), then runs `duende gate --tier 1` with the project's gates.toml. Runs locally exactly
# as in CI. Reports land in build/gates/ (JUnit, Markdown; step logs alongside).
# Usage: ci/tier1.sh [extra duende gate options, e.g. --set jobs=4]
set -euo pipefail
cd "$(dirname "$0")/.."
ci/deps.sh
cmake --preset ci > /dev/null
cmake --build --preset ci -j "$(nproc)" --target duende
mkdir -p build/gates
exec build/ci/harness/cli/duende gate --tier 1 --config gates.toml \
  --junit build/gates/tier1.xml --markdown build/gates/tier1.md "$@"
