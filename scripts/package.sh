#!/usr/bin/env bash
# Builds the release, into dist/: a static binary and a .deb for each of x86_64
# (x86_64-unknown-linux-musl), arm64 (aarch64-unknown-linux-musl) and armhf
# (armv7-unknown-linux-musleabihf), each running on any Linux of its architecture,
# Debian 11 and older included; then the sidecar image for the three platforms as one
# OCI archive (scripts/image.sh --oci). Installs what it needs when missing: Debian's
# musl-tools (musl-gcc, for the C parts of the TLS stack on x86_64), zig and
# cargo-zigbuild for the ARM builds (scripts/cross.sh says why), the Rust targets, and
# cargo-deb from crates.io. Needs root for apt-get. Reproducible: the build date and
# every time stamp are the last commit's (SOURCE_DATE_EPOCH).
#   scripts/package.sh [--binaries]   --binaries: the three binaries only
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/musl.sh
source scripts/musl.sh
# shellcheck source=scripts/cross.sh
source scripts/cross.sh

say() { echo "package: $*" >&2; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target_dir=$(bash scripts/target-dir.sh)
targets=("$MUSL_TARGET" "${CROSS_TARGETS[@]}")

# The file name of a target's binary in dist/: healwatch-VERSION-ARCH-linux-ABI.
binary_name() {
  local arch=${1%%-*} abi=${1##*-}
  echo "healwatch-${version}-${arch}-linux-${abi}"
}

musl_toolchain
cross_toolchain
mkdir -p dist
for target in "${targets[@]}"; do
  say "building the static release binary for $target"
  if [ "$target" = "$MUSL_TARGET" ]; then
    timeout 1800 cargo build --release --locked --target "$target" -q
  else
    timeout 1800 bash -c 'cross_cargo "$@"' cross "$target" build --release --locked -q
  fi
  rm -f "dist/$(binary_name "$target")"
  cp "$target_dir/$target/release/healwatch" "dist/$(binary_name "$target")"
done
if [ "${1:-}" = --binaries ]; then
  exit 0
fi

if ! cargo deb --version >/dev/null 2>&1; then
  say "installing cargo-deb (a few minutes, once)"
  timeout 1200 cargo install cargo-deb --version 3.8.0 --locked -q
fi
tree=$(mktemp -d /tmp/healwatch-deb.XXXXXX)
trap 'rm -rf "$tree"' EXIT
for target in "${targets[@]}"; do
  arch=$(deb_arch "$target")
  say "the .deb for $arch"
  # Built above: cargo-deb only packs it (its strip would be the host's, for x86_64 only;
  # the release profile strips already).
  timeout 600 cargo deb --locked --no-build --no-strip --target "$target" -q >/dev/null
  deb="$target_dir/$target/debian/healwatch_${version}-1_${arch}.deb"
  # What cargo-deb leaves to do: no empty Depends field (the binary is static), and
  # md5sums (for `dpkg --verify` and debsums).
  rm -rf "$tree/root"
  dpkg-deb -R "$deb" "$tree/root"
  sed -i '/^Depends: *$/d' "$tree/root/DEBIAN/control"
  (cd "$tree/root" && find . -path ./DEBIAN -prune -o -type f -print | LC_ALL=C sort | sed 's|^\./||' \
    | xargs md5sum) >"$tree/root/DEBIAN/md5sums"
  chmod 0644 "$tree/root/DEBIAN/md5sums"
  rm -f "dist/healwatch_${version}-1_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$tree/root" "dist/healwatch_${version}-1_${arch}.deb" >/dev/null
done
bash scripts/image.sh --oci >/dev/null
for f in dist/healwatch-"${version}"-* dist/healwatch_"${version}"*; do
  say "$(du -k "$f" | cut -f1) KiB  $f"
done
