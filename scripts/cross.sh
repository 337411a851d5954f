# shellcheck shell=bash
# The ARM builds (aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf: static, as
# the x86_64 one), made on an x86_64 machine with no network but the package registries,
# and Debian's qemu-user-static to run them. Source this file, then:
#   cross_toolchain        install what the ARM builds need when missing, and export what
#                          cargo needs (the build date is the last commit's)
#   cross_cargo TARGET ARGS...   cargo zigbuild (or test) ARGS for TARGET, std built from
#                          source where rustup has no std for it
#   qemu_ensure            Debian's qemu-user-static, unpacked (never installed: its
#                          postinst would register binfmt handlers on the host), into
#                          $CROSS_TOOLS/qemu; sets QEMU_BIN
#   qemu_for TARGET        the qemu-user binary that runs TARGET's programs
#   deb_arch TARGET        its Debian architecture (arm64, armhf)
#
# Why zig: its `zig cc` brings musl for every target and links a static binary with the C
# parts of the TLS stack (ring) in one tool, from one registry package (ziglang on PyPI),
# driven by cargo-zigbuild (its PyPI wheel: nothing to compile). Debian's cross compilers (gcc-aarch64-linux-gnu,
# gcc-arm-linux-gnueabihf) bring glibc, not musl: an armhf musl would have to come from a
# foreign-architecture package added to the host's dpkg. Where rustup's registry holds no
# std for a target (here: armv7-unknown-linux-musleabihf answers 404), std is built from
# the rust-src component (cargo's build-std, allowed on the stable toolchain by
# RUSTC_BOOTSTRAP for that build only).

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

CROSS_TARGETS=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
CROSS_TOOLS=${HEALWATCH_CROSS_TOOLS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/cross-tools}
ZIG_VERSION=0.13.0
ZIGBUILD_VERSION=0.24.1

cross_say() { echo "cross: $*" >&2; }

cross_toolchain() {
  mkdir -p "$CROSS_TOOLS/bin"
  local venv="$CROSS_TOOLS/zig"
  if ! "$venv/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION" \
    || ! "$venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION$"; then
    cross_say "installing zig $ZIG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION (PyPI) into $venv"
    rm -rf "$venv"
    timeout 300 python3 -m venv "$venv"
    timeout 900 "$venv/bin/pip" install -q --disable-pip-version-check \
      "ziglang==$ZIG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
  fi
  # cargo-zigbuild finds `zig` on PATH.
  printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$venv/bin/python" >"$CROSS_TOOLS/bin/zig"
  chmod 755 "$CROSS_TOOLS/bin/zig"
  ln -sf "$venv/bin/cargo-zigbuild" "$CROSS_TOOLS/bin/cargo-zigbuild"
  case ":$PATH:" in *":$CROSS_TOOLS/bin:"*) ;; *) export PATH="$CROSS_TOOLS/bin:$PATH" ;; esac
  local target installed
  installed=$(rustup target list --installed)
  for target in "${CROSS_TARGETS[@]}"; do
    grep -qx "$target" <<<"$installed" && continue
    cross_say "adding the Rust target $target"
    if ! timeout 600 rustup target add "$target" >/dev/null 2>&1; then
      cross_say "rustup has no std for $target: it is built from source (rust-src)"
      timeout 600 rustup component add rust-src >/dev/null 2>&1
    fi
  done
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
}

# Whether rustup holds a std for $1 (else cross_cargo builds it).
cross_has_std() {
  rustup target list --installed | grep -qx "$1"
}

# cross_cargo TARGET build|test ARGS...: cargo-zigbuild's zigbuild or test for TARGET; std
# built from source when rustup has none for it.
cross_cargo() {
  local target=$1 sub=$2 std=()
  shift 2
  if ! cross_has_std "$target"; then
    std=(-Zbuild-std=std,panic_unwind)
  fi
  [ "$sub" = build ] && sub=zigbuild
  if [ ${#std[@]} -gt 0 ]; then
    # Without rustup's std there are no musl start files of Rust's own: zig's are linked.
    local flags
    flags=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
    env "$flags=-C link-self-contained=no" RUSTC_BOOTSTRAP=1 \
      cargo-zigbuild "$sub" --target "$target" "${std[@]}" "$@"
  else
    cargo-zigbuild "$sub" --target "$target" "$@"
  fi
}

# `timeout` runs programs, not functions: these two go to the shells it starts.
export -f cross_cargo cross_has_std

qemu_ensure() {
  QEMU_BIN="$CROSS_TOOLS/qemu/usr/bin"
  if [ -x "$QEMU_BIN/qemu-aarch64-static" ] && [ -x "$QEMU_BIN/qemu-arm-static" ]; then
    return 0
  fi
  cross_say "unpacking Debian's qemu-user-static into $CROSS_TOOLS/qemu (not installed: no binfmt)"
  local dl
  dl=$(mktemp -d /tmp/healwatch-qemu.XXXXXX)
  (cd "$dl" && { timeout 600 apt-get download -q qemu-user-static >/dev/null 2>&1 \
    || { timeout 300 apt-get update -q >/dev/null && timeout 600 apt-get download -q qemu-user-static >/dev/null; }; })
  rm -rf "$CROSS_TOOLS/qemu"
  mkdir -p "$CROSS_TOOLS/qemu"
  dpkg-deb -x "$dl"/qemu-user-static_*.deb "$CROSS_TOOLS/qemu"
  rm -rf "$dl"
  [ -x "$QEMU_BIN/qemu-aarch64-static" ] || { cross_say "qemu-user-static has no qemu-aarch64-static"; return 1; }
}

qemu_for() {
  case $1 in
    aarch64-*) echo "$QEMU_BIN/qemu-aarch64-static" ;;
    armv7-* | arm-*) echo "$QEMU_BIN/qemu-arm-static" ;;
    *) return 1 ;;
  esac
}

deb_arch() {
  case $1 in
    x86_64-*) echo amd64 ;;
    aarch64-*) echo arm64 ;;
    armv7-*) echo armhf ;;
    *) return 1 ;;
  esac
}
