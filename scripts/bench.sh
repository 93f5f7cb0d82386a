#!/usr/bin/env bash
# Every benchmark, then the cost model (figures, not pass/fail; ~25 minutes cold on 2 cores):
# functions (zip size, init time, peak RSS), webhook under load, dispatcher and reply paths.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bench-functions.sh
scripts/bench-webhook.sh
echo "==> dispatcher and reply paths"
cargo bench --locked -p clawless-cli --bench paths 2>&1 | grep -v '^\[' | grep -v '^$' | grep -v ' → '
echo "==> cost model"
python3 scripts/cost-model.py
