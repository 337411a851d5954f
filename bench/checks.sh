#!/usr/bin/env bash
# The cost of each check kind per target, and the log scan's throughput and memory, on a
# private engine (scripts/engine.sh, which it starts and stops): one container, checked
# by http, tcp (send/expect), exec and log_pattern; then 50 MB of log lines between two
# passes. Prints a Markdown table; bench/results.md keeps the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_image
command -v hyperfine >/dev/null || { echo "bench/checks.sh: needs hyperfine (bench/run.sh installs it)" >&2; exit 1; }
cargo build --release --locked -q
hw=$(bash scripts/target-dir.sh)/release/healwatch
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
docker run -d --name bench-checks --network host --init "$HEALWATCH_TEST_IMAGE" /bin/serve "$port" >/dev/null
for _ in $(seq 1 100); do curl -fs -m 1 -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
work=$ENGINE_DIR/bench-checks
mkdir -p "$work"
config() { printf '[defaults]\nretries = 0\n[[target]]\nname = "app"\ncontainer = "bench-checks"\n%s\n' "$1" >"$work/$2.toml"; }
config "url = \"http://127.0.0.1:$port/health\"" http
config "url = \"tcp://127.0.0.1:$port\"
send = \"GET /health HTTP/1.0\\r\\n\\r\\n\"
expect = \"200 OK\"" tcp
config 'exec = ["test", "-f", "/www/health"]' exec
config 'log_pattern = "FATAL"' log
echo "| check | one pass, one target (median) |"
echo "| --- | --- |"
for kind in http tcp exec log; do
  hyperfine -N --style none --warmup 2 --runs 20 --export-json "$work/h.json" \
    "$hw -c $work/$kind.toml --state $work/$kind.json --lock $work/lock" >/dev/null 2>&1
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["results"][0]["median"]; print(f"| {sys.argv[2]} | {m*1000:.1f} ms |")' "$work/h.json" "$kind"
done
"$hw" -c "$work/log.toml" --state "$work/scan.json" --lock "$work/lock" >/dev/null
docker exec bench-checks sh -c "yes 'an ordinary log line of a busy service, nothing wrong here' | head -c 50000000 > /proc/1/fd/1"
start=$(date +%s.%N)
rss=$(/usr/bin/time -v "$hw" -c "$work/log.toml" --state "$work/scan.json" --lock "$work/lock" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
end=$(date +%s.%N)
python3 -c 'import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f"\nlog scan: 50 MB in {s:.2f} s ({50/s:.0f} MB/s, docker logs included), peak RSS {int(sys.argv[3])//1024} MiB")' "$start" "$end" "$rss"
