#!/usr/bin/env bash
# Builds the portable binary (static, x86_64-unknown-linux-musl: runs on any x86_64
# Linux, Debian 11 and older included) and the .deb, into dist/. Installs what it needs
# when missing: Debian's musl-tools (musl-gcc, for the C parts of the TLS stack), the
# Rust musl target, and cargo-deb from crates.io. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl

say() { echo "package: $*" >&2; }
if ! command -v musl-gcc >/dev/null 2>&1; then
  say "installing musl-tools"
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q musl-tools >/dev/null \
    || { "${sudo[@]}" timeout 300 apt-get update -q >/dev/null \
      && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q musl-tools >/dev/null; }
fi
if ! rustup target list --installed | grep -qx "$target"; then
  say "adding the Rust target $target"
  timeout 600 rustup target add "$target" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
  say "installing cargo-deb (a few minutes, once)"
  timeout 1200 cargo install cargo-deb --version 3.8.0 --locked -q
fi

export CC_x86_64_unknown_linux_musl=musl-gcc
# Reproducible: the build date is the last commit's.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
say "building the static release binary and the .deb"
timeout 1800 cargo deb --locked --target "$target" -q >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p dist
rm -f dist/healwatch_*.deb dist/healwatch-*-x86_64-linux-musl
# What cargo-deb leaves to do: no empty Depends field (the binary is static), and
# md5sums (for `dpkg --verify` and debsums).
deb="target/$target/debian/healwatch_${version}-1_amd64.deb"
tree=$(mktemp -d /tmp/healwatch-deb.XXXXXX)
trap 'rm -rf "$tree"' EXIT
dpkg-deb -R "$deb" "$tree/root"
sed -i '/^Depends: *$/d' "$tree/root/DEBIAN/control"
(cd "$tree/root" && find . -path ./DEBIAN -prune -o -type f -print | LC_ALL=C sort | sed 's|^\./||' \
  | xargs md5sum) >"$tree/root/DEBIAN/md5sums"
chmod 0644 "$tree/root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$tree/root" "dist/healwatch_${version}-1_amd64.deb" >/dev/null
cp "target/$target/release/healwatch" "dist/healwatch-${version}-x86_64-linux-musl"
for f in dist/healwatch_"${version}"-1_amd64.deb "dist/healwatch-${version}-x86_64-linux-musl"; do
  say "$(du -k "$f" | cut -f1) KiB  $f"
done
