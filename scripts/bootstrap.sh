#!/usr/bin/env bash
# Installs the local toolchain into .clawless/venv (git-ignored), idempotently:
# moto's server (the local AWS emulator), cfn-lint and aws-sam-cli (template checks).
# Set CLAWLESS_WITH_CARGO_LAMBDA=1 to add cargo-lambda + zig (only the benchmarks and `sam build` need them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.clawless/venv"
stamp="$venv/.clawless-stamp"
# slack-sdk, PyNaCl and lark-oapi sign test payloads the way the channels do (cross-checks in the tests).
want="moto[server]==5.2.5 cfn-lint==1.58.0 aws-sam-cli==1.170.0 slack-sdk==3.47.0 pynacl==1.6.2 lark-oapi==1.7.5"
if [ "${CLAWLESS_WITH_CARGO_LAMBDA:-0}" = 1 ]; then want="$want cargo-lambda==1.9.2 ziglang==0.14.1"; fi
# Done already if every wanted package was installed before (the stamp lists one per line).
missing=0
for spec in $want; do grep -qxF "$spec" "$stamp" 2>/dev/null || missing=1; done
[ "$missing" = 0 ] && exit 0
mkdir -p "$root/.clawless"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
# shellcheck disable=SC2086
{ cat "$stamp" 2>/dev/null || true; printf '%s\n' $want; } | sort -u > "$stamp.new" && mv "$stamp.new" "$stamp"
echo "bootstrap: tools installed in $venv" >&2
