#!/usr/bin/env bash
# The whole path measured (figures, not pass/fail): webhook → dispatcher → agent (offline model) →
# reply → channel stand-in on a fresh local stack with the release binaries
# (cli/benches/end_to_end.rs): latency one message at a time with the platform's own share
# (the functions' invocations and the agent's run, less their time in the emulator), then 8
# senders at once for messages/s and CPU per message per component. Exits non-zero if a message
# was lost, duplicated or answered out of order. CLAWLESS_BENCH_N / CLAWLESS_BENCH_LOAD_N size it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-toolchain.sh
scripts/bootstrap.sh
export CLAWLESS_MOTO_SERVER="$root/.clawless/venv/bin/moto_server" AWS_EC2_METADATA_DISABLED=true

cargo build --release --locked --workspace --bins
# The channel stand-in echoes every message it receives; only the figures (from the heading on) are kept.
cargo bench --locked -p clawless-cli --bench end_to_end 2>&1 | sed -n '/^End-to-end benchmark:/,$p'
