#!/usr/bin/env bash
# Memory and time of one pass on a node with many containers: an Engine API stand-in on
# a unix socket (bench/big-node.py) lists N containers with compose's labels, 20 of them
# labelled for healwatch; one `--discover --dry-run` pass reads the list and reports.
# Prints a Markdown table (peak RSS, wall time); bench/results-big-node.md keeps the last.
#   bench/big-node.sh [--smoke] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=(1000 10000 100000)
if [ "${1:-}" = --smoke ]; then
  sizes=(1000)
  shift
fi
if [ -n "${1:-}" ]; then
  hw=$1
else
  cargo build --release --locked -q
  hw=$(bash scripts/target-dir.sh)/release/healwatch
fi
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q time >/dev/null
work=$(mktemp -d /tmp/healwatch-big-node.XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
echo "| containers | labelled | peak RSS | wall time | targets found |"
echo "| --- | --- | --- | --- | --- |"
for n in "${sizes[@]}"; do
  python3 bench/big-node.py "$work/docker.sock" "$n" --labelled 20 --lifetime 300 >"$work/ready" &
  server=$!
  for _ in $(seq 1 600); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/ready" || { echo "bench/big-node.sh: the stand-in did not start" >&2; exit 1; }
  start=$(date +%s.%N)
  rss=$(env -i PATH=/usr/bin:/bin HOME="$work" DOCKER_HOST="unix://$work/docker.sock" /usr/bin/time -v \
    "$hw" --discover --dry-run --retries 0 --timeout 200ms --state "$work/state.json" --lock "$work/lock" \
    2>"$work/time" >"$work/line" || true; awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  end=$(date +%s.%N)
  found=$(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
t = len(e["targets"]); e = e["engines"][0]
print("{} of {}".format(t, e["containers"]) if "containers" in e else "none, engine down: " + e.get("error", "?")[:80])' "$work/line")
  python3 -c 'import sys; print(f"| {int(sys.argv[1]):,} | 20 | {int(sys.argv[2])/1024:.1f} MiB | {float(sys.argv[4])-float(sys.argv[3]):.2f} s | {sys.argv[5]} |")' \
    "$n" "$rss" "$start" "$end" "$found"
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null || true
  server=
done
