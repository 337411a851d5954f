#!/usr/bin/env bash
# Builds the sidecar image (image/Dockerfile) without network access: the static binary
# (x86_64-unknown-linux-musl, as scripts/package.sh builds it) goes into a copy of image/,
# and `docker build` makes the image FROM scratch, so nothing is pulled. The engine is
# DOCKER_HOST's. Prints the image's tag and size.
#   scripts/image.sh [TAG]     default: healwatch:VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/musl.sh
source scripts/musl.sh
target=$MUSL_TARGET
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${1:-healwatch:$version}
say() { echo "image: $*" >&2; }

musl_toolchain
say "building the static binary"
timeout 1800 cargo build --release --locked --target "$target" -q

context=$(mktemp -d /tmp/healwatch-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp image/Dockerfile image/passwd image/group "$context/"
install -m 0755 "$(bash scripts/target-dir.sh)/$target/release/healwatch" "$context/healwatch"
mkdir -m 0750 "$context/state"
mkdir -m 0755 "$context/metrics"
# The classic builder: FROM scratch needs no BuildKit, and no builder image is pulled.
if ! DOCKER_BUILDKIT=0 timeout 300 docker build -q -t "$tag" "$context" >"$context/build.log" 2>&1; then
  cat "$context/build.log" >&2
  exit 1
fi
size=$(timeout 30 docker image inspect --format '{{.Size}}' "$tag")
say "built $tag: $((size / 1024)) KiB"
echo "$tag"
