#!/usr/bin/env bash
# Tier 2: all tests, coverage, smoke scenarios. See ci/tier.sh and docs/gates.md.
exec "$(dirname "$0")/tier.sh" 2 "$@"
