#!/usr/bin/env bash
# The cost of a watch at rest, two healwatch binaries side by side in the same run: a
# reshape of the code must not make a quiet watch dearer. Each binary watches the same
# N healthy URL targets (bench/endpoints.py, one process on 127.0.0.1) for S seconds,
# A and B alternating R times so drift on the machine falls on both; its CPU (user +
# system, with its children) is read from /proc when it ends.
#   bench/rest-ab.sh OLD_BINARY NEW_BINARY [N=20] [S=30] [R=3]
#   REST_AB_ENGINE=1 bench/rest-ab.sh ...   the targets are N containers on a private
#       engine (scripts/engine.sh, root) declared by label, each with a HEALTHCHECK that
#       healwatch acts on (`--discover --unhealthy label`): the Engine API path at rest
#       (its events, its listing), beside the URL looks.
# Prints one line per run and the medians, as CPU-s per 5 minutes. Nothing is written.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/rest-ab.sh OLD_BINARY NEW_BINARY [N] [S] [R]}
new=${2:?usage: bench/rest-ab.sh OLD_BINARY NEW_BINARY [N] [S] [R]}
n=${3:-20}
secs=${4:-30}
reps=${5:-3}
[ "$reps" -ge 1 ] && [ "$reps" -le 20 ] && [ "$secs" -ge 5 ] && [ "$secs" -le 600 ] \
  || { echo "rest-ab: R is 1-20 and S 5-600" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
engine=${REST_AB_ENGINE:-}

python3 bench/endpoints.py --lifetime $((reps * 2 * (secs + 10) + 60)) >"$work/port" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(head -1 "$work/port")
[ -n "$port" ] || { echo "rest-ab: the endpoints did not start" >&2; exit 1; }
if [ -n "$engine" ]; then
  # shellcheck source=scripts/engine.sh
  source scripts/engine.sh
  engine_start
  trap 'engine_stop; cleanup' EXIT
  engine_image
  for i in $(seq 1 "$n"); do
    docker run -d -q --pull never --name "rest-ab-$i" --network host --init \
      --label "healwatch.url=http://127.0.0.1:$port/ok/$i" --label healwatch.enable=true \
      --health-cmd 'true' --health-interval 30s "$HEALWATCH_TEST_IMAGE" sleep 3600 >/dev/null
  done
  printf '[defaults]\ndiscover = true\nunhealthy = "label"\n' >"$work/c.toml"
  hw_host=$DOCKER_HOST
else
  hw_host=unix:///nonexistent
  # URL targets that only notify (no container to list, no engine needed).
  printf '[defaults]\naction = "notify"\n' >"$work/c.toml"
  for i in $(seq 1 "$n"); do
    printf '[[target]]\nname = "svc%s"\nurl = "http://127.0.0.1:%s/ok/%s"\n' "$i" "$port" "$i" >>"$work/c.toml"
  done
fi

# One watch of `secs` by BINARY; prints its CPU-s (user + system, children included).
measure() {
  local binary=$1 state="$work/state.$RANDOM"
  env -i PATH=/usr/bin:/bin HOME="$work" DOCKER_HOST="$hw_host" HEALWATCH_STATE="$state" \
    HEALWATCH_LOCK="$state.lock" "$binary" -c "$work/c.toml" --quiet --watch "${secs}s" >"$work/out" 2>&1 &
  local pid=$! hz ticks=0
  hz=$(getconf CLK_TCK)
  # Its own ticks, read while it lives (a reaped process has no /proc entry).
  while kill -0 "$pid" 2>/dev/null; do
    ticks=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo "$ticks")
    sleep 0.5
  done
  wait "$pid" || true
  python3 -c "print(f'{$ticks / $hz * 300 / $secs:.3f}')"
}

declare -a a_runs=() b_runs=()
for r in $(seq 1 "$reps"); do
  a=$(measure "$old"); b=$(measure "$new")
  a_runs+=("$a"); b_runs+=("$b")
  echo "run $r: old $a, new $b CPU-s per 5 min ($n ${engine:+labelled container }targets, a ${secs}s watch)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "median: old $(median "${a_runs[@]}"), new $(median "${b_runs[@]}") CPU-s per 5 min"
