#!/usr/bin/env bash
# Tier 3: chaos suite, exploration, sanitizers, mutation score. See ci/tier.sh and docs/gates.md.
exec "$(dirname "$0")/tier.sh" 3 "$@"
