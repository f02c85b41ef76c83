#!/usr/bin/env bash
# Tier 2 (on commit: all tests, coverage, smoke scenarios).
# Runs `duende gate --tier 2` with the project's gates.toml; builds duende first if needed.
# Runs locally exactly as in CI. Reports land in build/gates/.
# Usage: ci/tier2.sh [extra duende gate options]
set -euo pipefail
cd "$(dirname "$0")/.."
ci/deps.sh
cmake --preset ci > /dev/null
cmake --build --preset ci -j "$(nproc)"
mkdir -p build/gates
exec build/ci/harness/cli/duende gate --tier 2 --config gates.toml \
  --junit build/gates/tier2.xml --markdown build/gates/tier2.md --html build/gates/tier2.html "$@"
