#!/usr/bin/env bash
# Function benchmarks (figures, not pass/fail): zipped arm64 size of each function, init time of
# each release binary beside a hello-world lambda_runtime binary, and peak RSS after a sample
# event; the agent's start until /ping answers, its RSS idle and after a run, and the agent
# image's compressed size. Needs ~15 minutes cold on 2 cores (two release builds: host and arm64),
# plus the agent image's build when it is not built yet.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-toolchain.sh
CLAWLESS_WITH_CARGO_LAMBDA=1 scripts/bootstrap.sh
export PATH="$root/.clawless/venv/bin:$PATH"
export CLAWLESS_MOTO_SERVER="$root/.clawless/venv/bin/moto_server" AWS_EC2_METADATA_DISABLED=true
functions="webhook dispatcher reply approval-timeout scheduler admin"

echo "==> host release build"
cargo build --release --locked --workspace --bins --examples
echo "==> init time and peak RSS"
cargo bench --locked -p clawless-cli --bench functions 2>&1 | grep -v '^\[' | grep -v '^$' | grep -v 'telegram →'

echo "==> arm64 release build (cargo-lambda)"
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu --toolchain stable
args=(); for f in $functions; do args+=(--bin "$f"); done
cargo lambda build --release --arm64 --output-format zip "${args[@]}" >/dev/null
printf '%-18s %12s\n' function "zip arm64 MB"
for f in $functions; do
  size=$(stat -c %s "target/lambda/$f/bootstrap.zip")
  python3 -c "import sys; print(f\"{sys.argv[1]:<18} {int(sys.argv[2])/1048576:12.2f}\")" "$f" "$size"
done

echo "==> agent image (scripts/build-agent-image.sh; seconds when nothing changed)"
scripts/build-agent-image.sh >/dev/null
archive="target/agent-image/clawless-agent-arm64.oci.tar"
python3 - "$archive" <<'PY'
import json, os, subprocess, sys
archive = sys.argv[1]
manifest = json.loads(subprocess.check_output(["skopeo", "inspect", "--raw", f"oci-archive:{archive}"]))
layers = sum(layer["size"] for layer in manifest["layers"])
print(f"agent image: {layers / 1048576:.2f} MiB of gzip-compressed layers (what ECR stores and AgentCore pulls); "
      f"archive {os.path.getsize(archive) / 1048576:.2f} MiB")
PY
