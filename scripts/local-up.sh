#!/usr/bin/env bash
# Runs the whole platform locally, no AWS account needed: installs moto (once), builds the
# functions, the agent and the CLI, then `clawless local up`. Extra arguments go to `local up`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-toolchain.sh
scripts/bootstrap.sh
cargo build --workspace --locked
exec target/debug/clawless local up "$@"
