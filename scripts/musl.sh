# shellcheck shell=bash
# The static build (x86_64-unknown-linux-musl: runs on any x86_64 Linux) for
# scripts/package.sh and scripts/image.sh. Source this file, then:
#   musl_toolchain   install what the build needs when missing (Debian's musl-tools, for
#                    musl-gcc and the C parts of the TLS stack; the Rust target), and
#                    export what cargo needs; the build date is the last commit's
# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

MUSL_TARGET=x86_64-unknown-linux-musl

musl_toolchain() {
  if ! command -v musl-gcc >/dev/null 2>&1; then
    echo "musl: installing musl-tools" >&2
    apt_install musl-tools
  fi
  if ! rustup target list --installed | grep -qx "$MUSL_TARGET"; then
    echo "musl: adding the Rust target $MUSL_TARGET" >&2
    timeout 600 rustup target add "$MUSL_TARGET" >/dev/null
  fi
  export CC_x86_64_unknown_linux_musl=musl-gcc
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
}
