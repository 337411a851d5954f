#!/usr/bin/env bash
# Where the time goes from a watch's failed look to the restart, for one broken endpoint
# (a 404), on a private engine: healwatch runs `--watch 10s` under `strace -f -tt`
# (connects and program starts only), the endpoint is broken 3 s in, and every step
# after the first look that found it broken is listed with its time from that look.
#   bench/trace-heal.sh [HEALWATCH-ARGS...]   e.g. --retries 0
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q strace >/dev/null
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_image
cargo build --release --locked -q
work=$ENGINE_DIR/trace
mkdir -p "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name app --network host --init "$HEALWATCH_TEST_IMAGE" /bin/serve "$port" >/dev/null
for _ in $(seq 1 100); do curl -s -f -m 1 -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
( sleep 3; date +%H:%M:%S.%6N >"$work/broken"; docker exec app rm /www/health ) &
breaker=$!
strace -f -tt -qq -e trace=execve,connect -o "$work/strace" \
  "$(bash scripts/target-dir.sh)/release/healwatch" --watch 10s --state "$work/state.json" --lock "$work/lock" "$@" \
  -t "app=http://127.0.0.1:$port/health" >"$work/lines" 2>&1 || true
wait "$breaker"
python3 - "$work/strace" "$(cat "$work/broken")" "$port" "${DOCKER_HOST#unix://}" <<'PY'
import re, sys
from datetime import datetime
trace, broken, port, sock = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t = lambda s: datetime.strptime(s, "%H:%M:%S.%f")
steps = []
for line in open(trace):
    m = re.match(r"\d+\s+(\S+)\s+(execve|connect)\((.*)", line)
    if not m or "resumed" in line or "ENOENT" in line:
        continue
    at, call, args = t(m.group(1)), m.group(2), m.group(3)
    if call == "execve":
        prog = re.search(r'\["([^"]*)"(?:, "([^"]*)")?', args)
        what = f"starts {prog.group(1).rsplit('/', 1)[-1]} {prog.group(2) or ''}".strip()
    elif f"htons({port})" in args:
        what = "HTTP attempt"
    elif sock in args:
        what = "Engine API request"
    else:
        continue
    steps.append((at, what))
looks = [at for at, what in steps if what == "HTTP attempt" and at > t(broken)]
first = looks[1] if len(looks) > 1 else None  # the first may have raced the break itself
if first is None:
    sys.exit(f"trace-heal: no failed look found ({len(steps)} steps, broken at {broken}; "
             f"first steps: {[(str(a.time()), w) for a, w in steps[:5]]})")
print(f"| ms after the failed look | step |\n| ---: | --- |")
restarted = False
for at, what in steps:
    if at < first:
        continue
    print(f"| {(at - first).total_seconds() * 1000:.0f} | {what} |")
    if "restart" in what:
        restarted = True
    elif restarted and what == "HTTP attempt":
        break
PY
