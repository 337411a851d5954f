#!/usr/bin/env bash
# What a socket proxy costs a pass: the same pass over N labelled containers (discovered,
# each with its own URL, one of them broken and healed each time) on a private engine,
# alternately on the engine's socket and through a socket proxy (scripts/proxy.sh:
# HAProxy with the socket-proxy images' rules, allowing CONTAINERS POST EVENTS EXEC), R
# times each in the same run. Prints each pass's wall time and healwatch's CPU (user +
# system, from /proc at its end, via `time`), and the medians; the proxy's own CPU is
# the proxy's, not healwatch's, and is printed apart. Needs root (dockerd).
#   bench/proxy.sh [N=10] [R=10]        bench/proxy.sh --smoke (N=2, R=1)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --smoke ]; then n=2 reps=1; else n=${1:-10} reps=${2:-10}; fi
[ "$n" -ge 1 ] && [ "$n" -le 50 ] && [ "$reps" -ge 1 ] && [ "$reps" -le 50 ] \
  || { echo "proxy: N is 1-50 and R 1-50" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "proxy: needs root (dockerd)" >&2; exit 2; }
timeout 1800 cargo build --release --locked -q
binary="$(bash scripts/target-dir.sh)/release/healwatch"
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
# shellcheck source=scripts/proxy.sh
source scripts/proxy.sh
engine_packages
engine_start
engine_image
proxy_start bench CONTAINERS POST EVENTS EXEC
socket=$DOCKER_HOST
work=$(mktemp -d "$ENGINE_DIR/bench.XXXXXX")
ports=()
for i in $(seq 1 "$n"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ports+=("$port")
  timeout 60 docker run -d --pull never --init --name "bench-$i" --network host --restart unless-stopped \
    --label "healwatch.url=http://127.0.0.1:$port/health" "$HEALWATCH_TEST_IMAGE" /bin/serve "$port" >/dev/null
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" \
      2>/dev/null && break
    sleep 0.1
  done
done

# One pass by `host`, after breaking bench-1: its wall, user and system seconds (bash's
# `time`, which counts the child it waited for).
one() {
  local host=$1 out
  timeout 60 docker exec bench-1 rm -f /www/health
  local TIMEFORMAT='%R %U %S'
  out=$( { time env -i PATH=/usr/bin:/bin HOME="$work" DOCKER_HOST="$host" HEALWATCH_STATE="$work/state-$2.json" \
    HEALWATCH_LOCK="$work/lock" "$binary" --discover --retries 0 --recovery-timeout 20s --max-restarts 0 \
    >"$work/line" 2>"$work/err"; } 2>&1)
  grep -q '"outcome":"restarted"' "$work/line" || { echo "proxy: the pass by $host did not heal:" >&2; cat "$work/line" "$work/err" >&2; exit 1; }
  echo "$out"
}
cpu_of() { awk '{ printf "%.3f", $2 + $3 }'; }
proxy_pid=${ENGINE_PIDS[-1]}
proxy_cpu() { awk '{ print $14 + $15 }' "/proc/$proxy_pid/stat"; }
declare -a s_wall=() s_cpu=() p_wall=() p_cpu=()
ticks_before=$(proxy_cpu)
for r in $(seq 1 "$reps"); do
  a=$(one "$socket" socket); b=$(one "$PROXY_HOST" proxy)
  s_wall+=("$(echo "$a" | awk '{print $1}')"); s_cpu+=("$(echo "$a" | cpu_of)")
  p_wall+=("$(echo "$b" | awk '{print $1}')"); p_cpu+=("$(echo "$b" | cpu_of)")
  echo "run $r: socket wall ${s_wall[-1]} s cpu ${s_cpu[-1]} s | proxy wall ${p_wall[-1]} s cpu ${p_cpu[-1]} s"
done
ticks=$(( $(proxy_cpu) - ticks_before ))
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
sw=$(median "${s_wall[@]}"); sc=$(median "${s_cpu[@]}"); pw=$(median "${p_wall[@]}"); pc=$(median "${p_cpu[@]}")
echo "medians over $reps, $n containers, one healed per pass: socket wall $sw s cpu $sc s; proxy wall $pw s cpu $pc s"
awk -v a="$sw" -v b="$pw" -v c="$sc" -v d="$pc" 'BEGIN { printf "proxy / socket: wall %.2f, healwatch cpu %.2f\n", b / a, (c > 0 ? d / c : 0) }'
echo "the proxy's own CPU over the $reps proxied passes: $((ticks)) ticks ($(getconf CLK_TCK)/s)"
