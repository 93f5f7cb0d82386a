#!/usr/bin/env bash
# rust-toolchain.toml pins Rust 1.95.0. Machines here have it as their stable toolchain but may
# not know it by that name; link it rather than download (only package registries are reachable).
set -euo pipefail
want="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../rust-toolchain.toml")"
if rustup toolchain list | grep -q "^$want"; then exit 0; fi
stable_version="$(rustc +stable --version | awk '{print $2}')"
if [ "$stable_version" = "$want" ]; then
  rustup toolchain link "$want" "$(rustc +stable --print sysroot)"
else
  echo "Rust $want is required (rust-toolchain.toml); this machine's stable is $stable_version" >&2
  exit 1
fi
