#!/usr/bin/env bash
# Tier 3 (on merge: chaos suite, exploration, sanitizers, mutation score).
# Runs `duende gate --tier 3` with the project's gates.toml; builds duende first if needed.
# Runs locally exactly as in CI. Reports land in build/gates/.
# Usage: ci/tier3.sh [extra duende gate options]
set -euo pipefail
cd "$(dirname "$0")/.."
ci/deps.sh
cmake --preset ci > /dev/null
cmake --build --preset ci -j "$(nproc)"
mkdir -p build/gates
exec build/ci/harness/cli/duende gate --tier 3 --config gates.toml \
  --junit build/gates/tier3.xml --markdown build/gates/tier3.md --html build/gates/tier3.html "$@"
