#!/usr/bin/env bash
# The chaos soak: 20 services on a private engine under the shipped schedule (a run of
# `healwatch --quiet --watch 14s` every 15 s, as healwatch.timer does), and every 5-30 s
# a random fault. Invariants are checked throughout; one JSON line at the end says what
# happened (bench/soak.py has the faults and the invariants). Exit 1 when an invariant
# failed. Needs root (dockerd, a small tmpfs for the state directory).
#   bash bench/soak.sh [DURATION]      DURATION like 2m or 1h (default 1h)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-1h}
case $duration in
  *h) seconds=$(( ${duration%h} * 3600 )) ;;
  *m) seconds=$(( ${duration%m} * 60 )) ;;
  *s) seconds=${duration%s} ;;
  *) echo "soak: DURATION like 2m or 1h, not $duration" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (dockerd, tmpfs)" >&2; exit 2; }
timeout 1800 cargo build --release --locked -q
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
work=$(mktemp -d /tmp/healwatch-soak.XXXXXX)
finish() {
  local status=$?
  umount -l "$work/state" 2>/dev/null || true
  rm -rf "$work"
  engine_stop
  return "$status"
}
engine_start
trap finish EXIT
engine_image
mkdir -p "$work/state"
# The runs under a process limit are an unprivileged user in the engine socket's group:
# it reads the config and the binary, and shares the state directory.
socket_gid=$(stat -c %g "${DOCKER_HOST#unix://}")
chmod o+x "$ENGINE_DIR" "$ENGINE_DIR/one"
chmod 0755 "$work"
install -m 0755 "$(bash scripts/target-dir.sh)/release/healwatch" "$work/healwatch"
# A small tmpfs for the state directory: the "disk full" fault fills it.
mount -t tmpfs -o "size=4m,mode=0770,gid=$socket_gid" healwatch-soak "$work/state"
python3 bench/soak.py --seconds "$seconds" --work "$work" --binary "$work/healwatch" \
  --image "$HEALWATCH_TEST_IMAGE" --socket-gid "$socket_gid"
