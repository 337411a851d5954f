#!/usr/bin/env bash
# Builds the portable binary (static, x86_64-unknown-linux-musl: runs on any x86_64
# Linux, Debian 11 and older included) and the .deb, into dist/. Installs what it needs
# when missing: Debian's musl-tools (musl-gcc, for the C parts of the TLS stack), the
# Rust musl target, and cargo-deb from crates.io. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/musl.sh
source scripts/musl.sh
target=$MUSL_TARGET

say() { echo "package: $*" >&2; }
musl_toolchain
if ! cargo deb --version >/dev/null 2>&1; then
  say "installing cargo-deb (a few minutes, once)"
  timeout 1200 cargo install cargo-deb --version 3.8.0 --locked -q
fi

say "building the static release binary and the .deb"
timeout 1800 cargo deb --locked --target "$target" -q >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p dist
rm -f dist/healwatch_*.deb dist/healwatch-*-x86_64-linux-musl
# What cargo-deb leaves to do: no empty Depends field (the binary is static), and
# md5sums (for `dpkg --verify` and debsums).
target_dir=$(bash scripts/target-dir.sh)
deb="$target_dir/$target/debian/healwatch_${version}-1_amd64.deb"
tree=$(mktemp -d /tmp/healwatch-deb.XXXXXX)
trap 'rm -rf "$tree"' EXIT
dpkg-deb -R "$deb" "$tree/root"
sed -i '/^Depends: *$/d' "$tree/root/DEBIAN/control"
(cd "$tree/root" && find . -path ./DEBIAN -prune -o -type f -print | LC_ALL=C sort | sed 's|^\./||' \
  | xargs md5sum) >"$tree/root/DEBIAN/md5sums"
chmod 0644 "$tree/root/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$tree/root" "dist/healwatch_${version}-1_amd64.deb" >/dev/null
cp "$target_dir/$target/release/healwatch" "dist/healwatch-${version}-x86_64-linux-musl"
for f in dist/healwatch_"${version}"-1_amd64.deb "dist/healwatch-${version}-x86_64-linux-musl"; do
  say "$(du -k "$f" | cut -f1) KiB  $f"
done
