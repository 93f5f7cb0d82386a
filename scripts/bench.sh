#!/usr/bin/env bash
# Every benchmark, then the cost model (figures, not pass/fail; ~25 minutes cold on 2 cores):
# functions and the agent (zip and image size, init time and instructions, peak RSS), webhook under load,
# dispatcher and reply paths, the whole path end to end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bench-functions.sh
echo "==> init instructions (valgrind)"
scripts/bench-init-instructions.sh
scripts/bench-webhook.sh
echo "==> dispatcher and reply paths"
# The channel stand-ins echo every piece they receive; only the figures (from the heading on) are kept.
cargo bench --locked -p clawless-cli --bench paths 2>&1 | sed -n '/^Path benchmarks:/,$p'
echo "==> the whole path, end to end"
scripts/bench-e2e.sh
echo "==> cost model"
python3 scripts/cost-model.py
