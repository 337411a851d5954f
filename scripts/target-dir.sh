#!/usr/bin/env bash
# Prints the directory cargo builds into: CARGO_TARGET_DIR, a config's build.target-dir,
# or target/ here. Scripts find the binaries they built there, never in target/ by name.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
  || { echo "target-dir: cargo metadata failed: is this the healwatch checkout, with Rust installed?" >&2; exit 1; }
