#!/usr/bin/env bash
# One real healwatch pass on a fresh machine: starts a private Docker engine, runs a
# small web service in a container, breaks its health endpoint while the process keeps
# running, and lets healwatch find it, restart it and confirm it recovered.
# Everything it starts is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/engine.sh
source scripts/engine.sh

# The binary: one built here (needs Rust, see README "Install"), or a packaged one.
if command -v cargo >/dev/null 2>&1; then
  echo "== building healwatch (release build: a minute or two the first time)"
  cargo build --release --locked
  bin=$(bash scripts/target-dir.sh)/release/healwatch
elif command -v healwatch >/dev/null 2>&1; then
  bin=$(command -v healwatch)
  echo "== no cargo here: using the installed $bin"
else
  echo "demo: needs either Rust (cargo, via rustup; Debian's rustc is too old) to build healwatch," >&2
  echo "      or healwatch installed from the .deb or the portable binary (README \"Install\")" >&2
  exit 2
fi
echo "== starting a private Docker engine (installs docker.io and busybox-static when missing)"
engine_packages
engine_start
engine_image

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name app --network host --init --restart unless-stopped \
  "$HEALWATCH_TEST_IMAGE" /bin/serve "$port" >/dev/null
for _ in $(seq 1 100); do curl -fs -m 1 -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done

[ -x "$bin" ] || { echo "demo: no healwatch binary at $bin: the build above did not make one" >&2; exit 1; }

# A pass exits 1 when a target is not healthy (the point of the demo); anything else
# (2: usage, 3: lock held, 4: I/O, 101: a crash) stops the demo, saying so.
pass() {
  local status=0
  "$bin" --lock "$ENGINE_DIR/healwatch.lock" --state "$ENGINE_DIR/state.json" --retries 0 --restart-timeout 2s \
    -t "app=http://127.0.0.1:$port/health" || status=$?
  case $status in
    0 | 1) [ "$status" = 0 ] || echo "(exit status 1: not every target is healthy)" ;;
    *) echo "demo: healwatch exited $status: see its message above" >&2; exit 1 ;;
  esac
}
echo "== a healthy pass"
pass
echo "== the endpoint fails (404) while the process keeps running; Docker does nothing:"
docker exec app rm /www/health
docker inspect --format 'state={{.State.Status}} restarts={{.RestartCount}}' app
echo "== healwatch restarts it and waits for it to answer again"
pass
echo "== what healwatch remembers for the next pass (crash-loop guard: 3 restarts in 30m)"
"$bin" status --state "$ENGINE_DIR/state.json" -t "app=http://127.0.0.1:$port/health"
