#!/usr/bin/env bash
# Builds the sidecar image (image/Dockerfile) without network access.
#   scripts/image.sh [TAG]   this machine's platform, into DOCKER_HOST's engine: the static
#                     binary (x86_64-unknown-linux-musl, as scripts/package.sh builds it)
#                     goes into a copy of image/, and `docker build` makes the image FROM
#                     scratch, so nothing is pulled. Prints the tag; default healwatch:VERSION.
#   scripts/image.sh --oci [OUT]   linux/amd64, linux/arm64 and linux/arm/v7 from the three
#                     static binaries (scripts/package.sh --binaries), as one OCI archive
#                     with an image index naming them (scripts/oci.py: no engine, no
#                     emulation, byte for byte reproducible). Prints its path; default
#                     dist/healwatch_VERSION_oci.tar.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/musl.sh
source scripts/musl.sh
target=$MUSL_TARGET
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
say() { echo "image: $*" >&2; }

if [ "${1:-}" = --oci ]; then
  out=${2:-dist/healwatch_${version}_oci.tar}
  bash scripts/package.sh --binaries
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
  mkdir -p "$(dirname "$out")"
  digest=$(python3 scripts/oci.py "$out" "$version" \
    "amd64=dist/healwatch-${version}-x86_64-linux-musl" \
    "arm64=dist/healwatch-${version}-aarch64-linux-musl" \
    "arm/v7=dist/healwatch-${version}-armv7-linux-musleabihf")
  say "built $out: healwatch:$version for linux/amd64, linux/arm64, linux/arm/v7 (index $digest), $(du -k "$out" | cut -f1) KiB"
  echo "$out"
  exit 0
fi

tag=${1:-healwatch:$version}
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
