#!/usr/bin/env bash
# Webhook load benchmark (figures, not pass/fail): 2,000 Telegram updates at concurrency 8 against
# the release webhook binary on a fresh local stack with no dispatcher (scripts/drain-queue.py
# drains the inbound queue). Prints requests/s, latency, CPU per request (webhook and moto), peak
# RSS, AWS calls per request, and the exactly-once checks. See cli/benches/webhook_load.rs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-toolchain.sh
scripts/bootstrap.sh
export PATH="$root/.clawless/venv/bin:$PATH"
export CLAWLESS_MOTO_SERVER="${CLAWLESS_MOTO_SERVER:-$root/.clawless/venv/bin/moto_server}" AWS_EC2_METADATA_DISABLED=true

echo "==> host release build"
cargo build --release --locked --workspace --bins
echo "==> webhook load ($(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ))"
# The functions' own log lines are tagged `[Function] …`; only the figures are kept.
cargo bench --locked -p clawless-cli --bench webhook_load 2>&1 | grep -v '^\[' | grep -v '^$'
