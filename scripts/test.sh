#!/usr/bin/env bash
# The whole test suite (what .ci/run runs): installs the local tools it needs, then checks
# formatting and lints, builds every binary and the agent image (arm64, without Docker), runs
# every test (unit and end-to-end against a fresh moto per test, the image's agent under qemu
# and the web console in headless chromium among them), fuzzes every fuzz target for a few
# seconds, lints template.yaml, checks it against the Guard rules (policy/guard) and simulates
# its IAM policies (tests/iam).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/ensure-toolchain.sh
scripts/bootstrap.sh
export CLAWLESS_MOTO_SERVER="$root/.clawless/venv/bin/moto_server"
export SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true
# A clean CI build gains nothing from incremental caches, which would double the disk it needs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Keep tests away from any real AWS account configured on this machine.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all --check
step "lock files (the workspace's and fuzz/'s, checked before the long steps so a stale one fails in seconds)"
cargo metadata --format-version 1 --locked >/dev/null
cargo metadata --format-version 1 --locked --manifest-path fuzz/Cargo.toml >/dev/null
step "build (every function, the agent and the CLI: the end-to-end tests run these binaries)"
cargo build --workspace --locked
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "agent image (scripts/build-agent-image.sh: target/agent-image/clawless-agent-arm64.oci.tar)"
# Built before the tests, so the end-to-end test that runs it never skips here.
scripts/build-agent-image.sh
# That test runs the image's arm64 binary with qemu-user-static (the build installs it as well).
if ! command -v qemu-aarch64-static >/dev/null; then
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
step "console (npm ci, strict type check and build of console/: the local run serves console/dist)"
if [ ! -d console/node_modules ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
  npm ci --prefix console --no-audit --no-fund
fi
npm run --prefix console build
# The console's end-to-end test (cli/tests/e2e/console.rs) drives it in Debian's chromium through
# the playwright-core library (Playwright's own browser download is not used); it fails without.
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
step "tests"
cargo test --workspace --locked
step "fuzz smoke (every fuzz target of fuzz/ for a few seconds, from its committed corpus; an unoptimised build)"
# The long runs are scripts/fuzz.sh [SECONDS_PER_TARGET]; this one proves every target builds,
# replays its seeds and fuzzes without a crash.
scripts/fuzz.sh --smoke 3
step "template lint"
.clawless/venv/bin/cfn-lint template.yaml
.clawless/venv/bin/sam validate --lint --template template.yaml --region us-east-1
step "policy as code (CloudFormation Guard rules on template.yaml; each broken template must fail)"
# Installs cfn-guard into .clawless/cargo the first time (about 11 minutes on 2 cores).
scripts/check-guard.sh
step "cost model (runs on its defaults; figures in the README; its self-test checks hand-computed figures)"
python3 scripts/cost-model.py --no-figures >/dev/null
python3 scripts/cost-model.py --self-test >/dev/null
step "IAM attack suite (offline policy simulation of template.yaml)"
# Node's test runner and @cloud-copilot/iam-simulate (test-only; see tests/iam/README.md).
if [ ! -d tests/iam/node_modules ] || [ tests/iam/package-lock.json -nt tests/iam/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/iam --no-audit --no-fund
fi
node --test tests/iam/
step "all checks passed"
