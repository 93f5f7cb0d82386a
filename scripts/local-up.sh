#!/usr/bin/env bash
# Runs the whole platform locally, no AWS account needed: installs moto (once), builds the
# functions, the agent, the CLI and the web console, then `clawless local up`. Extra arguments go
# to `local up`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-toolchain.sh
scripts/bootstrap.sh
cargo build --workspace --locked
# The console (console/dist), which the local run serves at its console_url.
if [ ! -d console/node_modules ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
  npm ci --prefix console --no-audit --no-fund
fi
npm run --prefix console build >/dev/null
exec target/debug/clawless local up "$@"
