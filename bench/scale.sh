#!/usr/bin/env bash
# Cost at scale (bench/results-scale.md): what one look costs against the floor, a watch
# over 1,000 targets, and 10,000 targets on 100 engines.
#   1. bench/looks.py: healwatch watching N URL targets beside bench/url-floor.c making the
#      same requests, side by side, on one Debian HAProxy on 127.0.0.1 that counts them:
#      CPU per look and the ratio (N = 20 and 1,000), with the default --watch-cpu and
#      at one look a second (--watch-every 1s) within the default budget and without one
#      (--watch-cpu 100).
#   2. bench/fleet-scale.py: one pass over 100 Engine API stand-ins of 100 labelled
#      containers each (10,000 targets, their endpoints on HAProxy): wall time, peak
#      memory; then a watch over them: its CPU share, its looks a second, its pace.
#   bench/scale.sh [--smoke] [BINARY]   --smoke: tiny sizes, results to stdout only (the
#                                        test command runs it so the benchmark cannot rot)
# Installs HAProxy and time when missing; about 12 minutes in full.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
# shellcheck source=scripts/apt.sh
source scripts/apt.sh
command -v haproxy >/dev/null 2>&1 || apt_install --no-recommends haproxy
[ -x /usr/bin/time ] || apt_install time
if [ -n "${1:-}" ]; then
  hw=$1
else
  cargo build --release --locked -q
  hw=$(bash scripts/target-dir.sh)/release/healwatch
fi
work=$(mktemp -d /tmp/healwatch-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -o "$work/url-floor" bench/url-floor.c
if [ "$smoke" = 1 ]; then
  python3 bench/looks.py --healwatch "$hw" --floor "$work/url-floor" --sizes 20 --seconds 5 --reps 1
  python3 bench/fleet-scale.py --healwatch "$hw" --engines 3 --per-engine 10 --seconds 5
  exit 0
fi
{
  echo "# Cost at scale"
  echo
  # The CPU too: a look's price is mostly the kernel's loopback TCP work, and moves with it.
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  echo "Measured by \`bench/scale.sh\` on $(date -u +%F), $(nproc) cores (${cpu:-CPU unnamed}), $("$hw" --version | head -1)."
  echo
  echo "## 1. A look against the floor (bench/looks.py, medians of 3)"
  echo
  echo "Default \`--watch-cpu\` (10); 60 s windows for 20 targets (40 looks a second: CPU is read"
  echo "in 10 ms ticks), 20 s for 1,000:"
  echo
  echo '```'
  python3 bench/looks.py --healwatch "$hw" --floor "$work/url-floor" --sizes 20 --seconds 60 --reps 3
  python3 bench/looks.py --healwatch "$hw" --floor "$work/url-floor" --sizes 1000 --seconds 20 --reps 3
  echo '```'
  echo
  echo "With \`--watch-every 1s\` (every target once a second, as the floor looks, within the default"
  echo "budget), then with \`--watch-cpu 100\` too (no budget in the way):"
  echo
  echo '```'
  python3 bench/looks.py --healwatch "$hw" --floor "$work/url-floor" --sizes 1000 --seconds 20 --reps 3 --args --watch-every 1s
  python3 bench/looks.py --healwatch "$hw" --floor "$work/url-floor" --sizes 1000 --seconds 20 --reps 3 --args --watch-every 1s --watch-cpu 100
  echo '```'
  echo
  echo "## 2. 10,000 targets on 100 engines (bench/fleet-scale.py)"
  echo
  echo '```'
  python3 bench/fleet-scale.py --healwatch "$hw" --engines 100 --per-engine 100 --seconds 30
  echo '```'
} | tee "$work/results.md"
cp "$work/results.md" bench/results-scale.md
