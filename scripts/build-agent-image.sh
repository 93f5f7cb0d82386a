#!/usr/bin/env bash
# Builds the AgentCore agent image (linux/arm64) without a Docker engine and writes it as an OCI
# image archive: target/agent-image/clawless-agent-arm64.oci.tar (push it with
# `skopeo copy oci-archive:<that file> docker://<repository>:<tag>`, see docs/deploy.md).
#
# The image holds what agent-container/Dockerfile's does, for the same contract: the agent at
# /usr/local/bin/clawless-agent as the entrypoint, port 8080, user 10001:10001 (`clawless`),
# Debian's PATH, a /bin/sh and the usual commands for the `shell` tool, the CA bundle for
# CLAWLESS_TLS_ROOTS=native, and a world-writable /tmp for the session workspaces. The agent is
# cross-compiled as one static binary (aarch64-unknown-linux-musl, linked with zig through
# cargo-lambda), the commands are Debian's static busybox; umoci assembles the image.
#
# Installs what it needs: umoci, skopeo and qemu-user-static (apt-get), the Rust target
# (rustup), cargo-lambda and zig (scripts/bootstrap.sh, into .clawless/venv). Reproducible for
# a given commit: every timestamp is the commit's time (or SOURCE_DATE_EPOCH when set).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target=aarch64-unknown-linux-musl
out_dir="$root/target/agent-image"
archive="$out_dir/clawless-agent-arm64.oci.tar"
ref=clawless-agent

# Debian bookworm packages, pinned by version and checksum (`apt-cache show <pkg>:arm64` gives
# both). A pinned version that has left the mirror fails the download: update the pin then.
busybox_deb="pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_arm64.deb"
busybox_sha256=732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5
cacerts_deb="pool/updates/main/c/ca-certificates/ca-certificates_20250419~deb12u2_all.deb"
cacerts_sha256=b9f76b5271a7ac373fd5e7e1b5b826a71ddd702b42a0d104955ecb1acfffc94b
debian_mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
debian_security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# The cargo profile: the release profile tuned for build time (see the README's Tests section
# for the measurements). The agent waits on the network and the model almost all the time, so
# opt-level 1 costs it little; LTO and a single codegen unit would add minutes to every CI run.
# Unwinding stays on: the agent turns a panicking model call into a failed message.
profile=agent-release
profile_config=(
  --config "profile.$profile.inherits=\"release\""
  --config "profile.$profile.opt-level=1"
  --config "profile.$profile.lto=false"
  --config "profile.$profile.codegen-units=16"
  --config "profile.$profile.debug=false"
  --config "profile.$profile.strip=\"debuginfo\""
  --config "profile.$profile.panic=\"unwind\""
  --config "profile.$profile.incremental=false"
)

step() { printf '\n==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools (umoci, skopeo, qemu-user-static, the Rust target, cargo-lambda and zig)"
missing=()
command -v umoci >/dev/null || missing+=(umoci)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v file >/dev/null || missing+=(file)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
scripts/ensure-toolchain.sh
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
CLAWLESS_WITH_CARGO_LAMBDA=1 scripts/bootstrap.sh
# cargo finds cargo-lambda here, and cargo-lambda finds zig as the venv's `python3 -m ziglang`.
export PATH="$root/.clawless/venv/bin:$PATH"

epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

step "agent binary ($target, profile $profile)"
cargo lambda build --locked -p clawless-agent --bin clawless-agent --target "$target" --profile "$profile" \
  "${profile_config[@]}" --lambda-dir "$out_dir/lambda"
# cargo-lambda leaves the binary as <lambda dir>/<name>/bootstrap.
binary="$out_dir/lambda/clawless-agent/bootstrap"
# A dynamically linked binary would start on the build machine and fail in the image.
if ! file "$binary" | grep -Eq 'statically linked|static-pie linked'; then
  file "$binary" >&2
  echo "build-agent-image: $binary is not statically linked" >&2
  exit 1
fi

step "Debian packages (busybox-static arm64, ca-certificates)"
debs="$out_dir/debs"
mkdir -p "$debs"
fetch_deb() { # <mirror> <pool path> <sha256>; prints the local file
  local file="$debs/${2##*/}"
  if ! echo "$3  $file" | sha256sum --check --status 2>/dev/null; then
    curl -fsSL --retry 3 -o "$file.part" "$1/$2"
    if ! echo "$3  $file.part" | sha256sum --check --status; then
      echo "build-agent-image: ${2##*/} does not have the pinned sha256 $3" >&2
      rm -f "$file.part"
      exit 1
    fi
    mv "$file.part" "$file"
  fi
  echo "$file"
}
busybox_file="$(fetch_deb "$debian_mirror" "$busybox_deb" "$busybox_sha256")"
cacerts_file="$(fetch_deb "$debian_security_mirror" "$cacerts_deb" "$cacerts_sha256")"

step "root filesystem"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$busybox_file" "$work/busybox"
dpkg-deb -x "$cacerts_file" "$work/cacerts"
staged="$work/rootfs"
mkdir -p "$staged"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/ssl/certs,tmp}
install -m 0755 "$binary" "$staged/usr/local/bin/clawless-agent"
install -m 0755 "$work/busybox/bin/busybox" "$staged/bin/busybox"
# One link per applet where busybox itself would install it (bin/sh, usr/bin/head, ...).
qemu-aarch64-static "$staged/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] || ln -s /bin/busybox "$staged/$applet"
done
[ -L "$staged/bin/sh" ] || { echo "build-agent-image: busybox has no sh applet" >&2; exit 1; }
# The bundle update-ca-certificates would write from the package's certificates.
for cert in "$work"/cacerts/usr/share/ca-certificates/mozilla/*.crt; do
  awk 1 "$cert" # ends the last line with a newline if it has none
done >"$staged/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$staged/etc/ssl/certs/ca-certificates.crt"
# The packages' licence terms travel with what they cover.
install -D -m 0644 "$work/busybox/usr/share/doc/busybox-static/copyright" "$staged/usr/share/doc/busybox-static/copyright"
install -D -m 0644 "$work/cacerts/usr/share/doc/ca-certificates/copyright" "$staged/usr/share/doc/ca-certificates/copyright"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'clawless:x:10001:10001::/nonexistent:/usr/sbin/nologin' >"$staged/etc/passwd"
printf '%s\n' 'root:x:0:' 'clawless:x:10001:' >"$staged/etc/group"
chmod 0644 "$staged/etc/passwd" "$staged/etc/group"
# The agent (uid 10001) creates its session workspaces under /tmp.
chmod 1777 "$staged/tmp"
find "$staged" -exec touch -h -d "@$epoch" {} +

step "image (umoci)"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:$ref"
umoci unpack "${rootless[@]}" --image "$layout:$ref" "$work/bundle"
cp -a "$staged/." "$work/bundle/rootfs/"
touch -h -d "@$epoch" "$work/bundle/rootfs"
umoci repack "${rootless[@]}" --image "$layout:$ref" \
  --history.created "$created" --history.created_by "scripts/build-agent-image.sh" "$work/bundle"
umoci config --image "$layout:$ref" --no-history --created "$created" --architecture arm64 --os linux \
  --config.entrypoint /usr/local/bin/clawless-agent \
  --config.user 10001:10001 \
  --config.exposedports 8080/tcp \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.workingdir / \
  --config.label org.opencontainers.image.title=clawless-agent
umoci gc --layout "$layout"

step "archive"
# An OCI archive is the layout directory as a tar; GNU tar writes it with fixed metadata.
mkdir -p "$out_dir"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=go+rX --format=gnu \
  -cf "$archive.part" -C "$layout" oci-layout index.json blobs
mv "$archive.part" "$archive"
# What the push will read: the archive must open as an arm64 image with the agent as entrypoint.
config="$(skopeo inspect --config "oci-archive:$archive")"
python3 - "$config" <<'EOF'
import json, sys
c = json.loads(sys.argv[1])
assert c["architecture"] == "arm64" and c["os"] == "linux", c
assert c["config"]["Entrypoint"] == ["/usr/local/bin/clawless-agent"], c
assert c["config"]["User"] == "10001:10001", c
assert "8080/tcp" in c["config"]["ExposedPorts"], c
EOF
digest="$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive")"
echo "build-agent-image: $archive ($(du -h "$archive" | cut -f1), manifest $digest)" >&2
