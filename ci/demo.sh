#!/usr/bin/env bash
# The README's main job. Until the chaos harness lands (issue 5) it starts the reference
# daemon and talks to it.
set -euo pipefail
build=${1:-build/ci}
echo "duende $("$build/harness/cli/duende" version)"
