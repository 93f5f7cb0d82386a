#!/usr/bin/env bash
# Installs AWS CloudFormation Guard (the policy-as-code checker of template.yaml) into
# .clawless/cargo (git-ignored), pinned, only when that binary is missing: a clean machine or CI
# builds it once from crates.io (unoptimised: a few minutes on 2 cores), later runs reuse it.
# Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="3.2.1"
prefix="$root/.clawless/cargo"
bin="$prefix/bin/cfn-guard"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$version"; then
  echo "$bin"
  exit 0
fi
# One already on the PATH at the pinned version (e.g. from `cargo install cfn-guard`) will do.
if command -v cfn-guard >/dev/null 2>&1 && cfn-guard --version 2>/dev/null | grep -qF "$version"; then
  command -v cfn-guard
  exit 0
fi
mkdir -p "$prefix"
# Its own build directory: the workspace's target (CARGO_TARGET_DIR) stays as it is. An unoptimised
# build (--debug) checks one template as fast as an optimised one, and builds in a fraction of the
# time (the optimised build took about 11 minutes on 2 cores, most of a CI run's spare time).
(cd "$root" && env -u CARGO_TARGET_DIR cargo install cfn-guard --debug --locked --version "$version" --root "$prefix" >&2)
echo "$bin"
