#!/usr/bin/env bash
# Tier 1: format, build, fast tests. See ci/tier.sh and docs/gates.md.
exec "$(dirname "$0")/tier.sh" 1 "$@"
