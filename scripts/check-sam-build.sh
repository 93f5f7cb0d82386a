#!/usr/bin/env bash
# `sam build` as a deploy runs it: every function of template.yaml (BuildMethod rust-cargolambda)
# built for arm64 by cargo-lambda with zig, into .aws-sam/build; then checks that each function
# got an aarch64 `bootstrap`. Not part of scripts/test.sh: a release build of the six functions
# for another target is too slow for every CI run (measured in the README's Tests section). Run
# it before a deploy and after changing how the functions build. Extra arguments go to
# `sam build` (e.g. --config-env prod).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/ensure-toolchain.sh
CLAWLESS_WITH_CARGO_LAMBDA=1 scripts/bootstrap.sh
# sam runs `cargo lambda`: cargo finds cargo-lambda here, and cargo-lambda finds zig.
export PATH="$root/.clawless/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

rm -rf .aws-sam/build
sam build "$@"

expected="$(grep -c 'BuildMethod: rust-cargolambda' template.yaml)"
found=0
for bootstrap in .aws-sam/build/*/bootstrap; do
  [ -e "$bootstrap" ] || continue
  # An ELF file whose e_machine (bytes 18-19) is 183, EM_AARCH64.
  if ! python3 -c 'import sys; h = open(sys.argv[1], "rb").read(20); sys.exit(h[:4] != b"\x7fELF" or int.from_bytes(h[18:20], "little") != 183)' "$bootstrap"; then
    echo "check-sam-build: $bootstrap is not an aarch64 ELF binary" >&2
    exit 1
  fi
  found=$((found + 1))
done
if [ "$found" != "$expected" ]; then
  echo "check-sam-build: $found bootstrap binaries in .aws-sam/build, template.yaml builds $expected" >&2
  exit 1
fi
echo "check-sam-build: $found functions built for arm64 in .aws-sam/build"
