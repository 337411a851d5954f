#!/usr/bin/env bash
# Time to heal, on a private engine: healwatch run as its shipped units run it (started
# every 15 s, as healwatch.timer, watching for 14 s of them, as healwatch.service) against autoheal (../shared/bench/peers/autoheal, its 5 s
# loop), side by side on the same engine, each watching its own identical containers
# (busybox httpd; for autoheal a Docker HEALTHCHECK that GETs the same URL every 1 s;
# healwatch checks the URL with its defaults). Breaks them in each way, measures break -> healthy (median and worst) by
# polling every 100 ms, counts restarts of a crash loop, and the CPU-seconds of each
# tool's loop while 20 healthy containers sit idle. Writes bench/results-mttr.md.
#   bench/mttr.sh          the full run (about 25 minutes)
#   bench/mttr.sh --smoke  tiny sizes, results to a temp file (the test command runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
autoheal=${HEALWATCH_AUTOHEAL:-../shared/bench/peers/autoheal/docker-entrypoint}
[ -f "$autoheal" ] || { echo "bench/mttr.sh: autoheal's script not found at $autoheal" >&2; exit 1; }
for tool in curl jq; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "$tool" >/dev/null
done
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_image
cargo build --release --locked -q
hw=$PWD/target/release/healwatch
work=$ENGINE_DIR/mttr
mkdir -p "$work"
loops=()
# Stops the loops and what they run (a healwatch pass ends in order on SIGTERM and frees
# its lock), waiting for them, so the next case starts clean.
stop_loops() {
  local p
  for p in "${loops[@]}"; do
    pkill -TERM -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  for p in "${loops[@]}"; do wait "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do pgrep -f "$hw --quiet" >/dev/null || break; sleep 0.1; done
  loops=()
}
# MTTR_KEEP=DIR keeps the logs and times for a look afterwards.
trap 'stop_loops; if [ -n "${MTTR_KEEP:-}" ]; then cp -r "$work" "$MTTR_KEEP"; fi; engine_stop' EXIT

if [ "$smoke" = 1 ]; then
  many=2; stops=2; loop_s=20; idle_s=10; give_up=60; reps=1; results=$work/results.md
else
  many=20; stops=5; loop_s=300; idle_s=300; give_up=120; reps=5; results=bench/results-mttr.md
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start TOOL N [nohealth]: containers TOOL-1..N, their ports in $work/TOOL.ports
start() {
  local tool=$1 n=$2 mode=${3:-} i p
  : >"$work/$tool.ports"
  for i in $(seq 1 "$n"); do
    p=$(port)
    docker run -d --name "$tool-$i" --network host --init --label autoheal="$([ "$tool" = autoheal ] && echo true || echo false)" \
      --health-cmd "wget -q -T 1 -O /dev/null http://127.0.0.1:$p/health" --health-interval 1s --health-retries 1 --health-timeout 2s \
      "$HEALWATCH_TEST_IMAGE" /bin/serve "$p" $mode >/dev/null
    echo "$p" >>"$work/$tool.ports"
  done
  for p in $(cat "$work/$tool.ports"); do
    for _ in $(seq 1 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.1; done
  done
  if [ "$tool" = healwatch ]; then
    i=0
    : >"$work/hw.toml"
    for p in $(cat "$work/$tool.ports"); do
      i=$((i + 1))
      printf '[[target]]\nname = "healwatch-%s"\nurl = "http://127.0.0.1:%s/health"\n' "$i" "$p" >>"$work/hw.toml"
    done
  fi
}
remove() { docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true; }

# The tools' loops: healwatch every 15 s from the start of the last run (OnUnitActiveSec=15s),
# each run a pass and a 14 s watch (ExecStart=healwatch --quiet --watch 14s).
run_healwatch() {
  ( while true; do
      next=$(($(date +%s%N) + 15000000000))
      "$hw" --quiet --watch 14s -c "$work/hw.toml" --state "$work/hw-state.json" --lock "$work/hw.lock" >>"$work/hw.log" 2>&1 || true
      now=$(date +%s%N); [ "$now" -lt "$next" ] && sleep "$(python3 -c "print(($next - $now) / 1e9)")"
    done ) &
  loops+=($!)
  hw_loop=$!
}
run_autoheal() {
  # Its image runs it with busybox ash (dash has no pipefail) and the argument autoheal.
  DOCKER_SOCK=${DOCKER_HOST#unix://} AUTOHEAL_CONTAINER_LABEL=autoheal AUTOHEAL_INTERVAL=5 busybox sh "$autoheal" autoheal >>"$work/autoheal.log" 2>&1 &
  loops+=($!)
  ah_loop=$!
}

# brk TOOL I HOW: break one container, then note its port and the time the break took
# effect in $work/TOOL.breaks
# (A container a tool is restarting just then cannot be broken: tried again, 10 times at most.)
brk() {
  local c="$1-$2" try
  for try in $(seq 1 10); do
    case $3 in
      fail) docker exec "$c" rm /www/health 2>/dev/null && break ;;
      pause) docker pause "$c" >/dev/null 2>&1 && break ;;
      sigstop) kill -STOP "$(pgrep -P "$(docker inspect --format '{{.State.Pid}}' "$c")" httpd)" 2>/dev/null && break ;;
    esac
    [ "$try" -lt 10 ] || { echo "mttr: could not break $c" >&2; return 1; }
    sleep 0.5
  done
  echo "$(sed -n "${2}p" "$work/$1.ports") $(date +%s.%N)" >>"$work/$1.breaks"
}
# heal_times TOOL N: for each of the first N containers, the seconds from its own break
# (as brk noted it) until it answers 200 again. Started before the breaks; each port is
# polled every 100 ms by its own thread, so hung ones do not slow the others' clocks.
heal_times() {
  local tool=$1 n=$2
  python3 - "$work/$tool.ports" "$n" "$give_up" "$work/$tool.breaks" <<'PY'
import sys, threading, time, urllib.request
ports = open(sys.argv[1]).read().split()[: int(sys.argv[2])]
limit, breaks_file, done = float(sys.argv[3]), sys.argv[4], {}
def broken_at(port):
    for line in open(breaks_file).read().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == port:
            return float(fields[1])
def watch(port):
    start = time.time()
    while time.time() - start < limit:
        at = broken_at(port)
        if at is not None:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5).status == 200:
                    done[port] = time.time() - at
                    return
            except Exception:
                pass
        time.sleep(0.1)
threads = [threading.Thread(target=watch, args=(p,)) for p in ports]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(" ".join(f"{done.get(p, float('inf')):.1f}" for p in ports))
PY
}
summary() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; f=lambda x: "never" if x==float("inf") else f"{x:.1f} s"; print(f"{f(s.median(v))} / {f(max(v))}")' "$@"; }

rows=()
# case LABEL HOW N [REPEATS]: break N containers of each tool at once, time both; REPEATS
# times over (fresh containers and loops each time, so the break falls at a different
# point of each tool's schedule), all times pooled
case_row() {
  local label=$1 how=$2 n=$3 repeats=${4:-1} r
  : >"$work/hw.all"
  : >"$work/ah.all"
  for r in $(seq 1 "$repeats"); do
    one_case "$how" "$n"
    cat "$work/hw.times" >>"$work/hw.all"
    cat "$work/ah.times" >>"$work/ah.all"
  done
  rows+=("| $label | $(summary $(cat "$work/hw.all")) | $(summary $(cat "$work/ah.all")) |")
  echo "mttr: $label done" >&2
}
# one_case HOW N: one round of case_row; times in $work/hw.times and $work/ah.times
one_case() {
  local how=$1 n=$2 i
  remove; start healwatch "$n"; start autoheal "$n"
  # Each case starts with no memory: the crash-loop guard counts only its own restarts.
  rm -f "$work/hw-state.json"
  : >"$work/autoheal.log"
  run_healwatch; run_autoheal
  # A break lands anywhere in each tool's schedule: wait a random 3-8 s first.
  sleep "$(python3 -c 'import random; print(round(random.uniform(3, 8), 2))')"
  : >"$work/healwatch.breaks"
  : >"$work/autoheal.breaks"
  heal_times healwatch "$n" >"$work/hw.times" &
  local hw_waiter=$!
  heal_times autoheal "$n" >"$work/ah.times" &
  local ah_waiter=$!
  for i in $(seq 1 "$n"); do brk healwatch "$i" "$how"; brk autoheal "$i" "$how"; done
  wait "$hw_waiter" "$ah_waiter"
  stop_loops
}
restarts() { docker inspect --format '{{.RestartCount}}' "$1"; }

echo "mttr: measuring (smoke=$smoke)" >&2
case_row "1 container's endpoint broken ($reps breaks)" fail 1 "$reps"
# The smoke run keeps to one case of each code path: it proves the script, not the numbers.
if [ "$smoke" = 0 ]; then
  case_row "$many broken at once" fail "$many"
  case_row "1 paused (hung) ($reps breaks)" pause 1 "$reps"
fi
case_row "1 SIGSTOPped (hung, TCP still accepts) ($reps breaks)" sigstop 1 "$reps"
[ "$smoke" = 1 ] || case_row "$stops SIGSTOPped" sigstop "$stops"

# A crash loop: a service that never becomes healthy; restarts counted over loop_s.
remove; start healwatch 1 nohealth; start autoheal 1 nohealth
rm -f "$work/hw-state.json"
: >"$work/hw.log"
: >"$work/autoheal.log"
run_healwatch; run_autoheal
# Restarts as Docker sees them: each new StartedAt of the container.
starts() {
  python3 - "$1" "$loop_s" <<'PY'
import subprocess, sys, time
seen, end = set(), time.time() + float(sys.argv[2])
while time.time() < end:
    out = subprocess.run(["docker", "inspect", "--format", "{{.State.StartedAt}}", sys.argv[1]], capture_output=True, text=True, timeout=10)
    seen.add(out.stdout.strip())
    time.sleep(0.5)
print(len(seen) - 1)
PY
}
starts healwatch-1 >"$work/hw.starts" &
sampler=$!
ah_restarts=$(starts autoheal-1)
wait "$sampler"
hw_restarts=$(cat "$work/hw.starts")
stop_loops

# Idle: 20 healthy containers each, CPU of each tool's loop and its children.
# Beside them, healwatch at cron's classic pace: one pass (no watch) every 2 minutes.
remove; start healwatch 20; start autoheal 20
run_healwatch; run_autoheal
( while true; do
    "$hw" --quiet -c "$work/hw.toml" --state "$work/cron-state.json" --lock "$work/cron.lock" >>"$work/cron.log" 2>&1 || true
    sleep 120
  done ) &
loops+=($!)
cron_loop=$!
cpu() { awk '{print ($14 + $15 + $16 + $17) }' "/proc/$1/stat"; }
before_hw=$(cpu "$hw_loop"); before_ah=$(cpu "$ah_loop"); before_cron=$(cpu "$cron_loop")
sleep "$idle_s"
hz=$(getconf CLK_TCK)
hw_cpu=$(python3 -c "print(f'{($(cpu "$hw_loop") - $before_hw) / $hz:.2f}')")
ah_cpu=$(python3 -c "print(f'{($(cpu "$ah_loop") - $before_ah) / $hz:.2f}')")
cron_cpu=$(python3 -c "print(f'{($(cpu "$cron_loop") - $before_cron) / $hz:.2f}')")
stop_loops

{
  echo "# Time to heal: healwatch (as its shipped units run it: every 15 s a pass and a 14 s watch; default settings) vs autoheal (5 s loop)"
  echo
  echo "Measured by \`bench/mttr.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, one private engine; break -> healthy"
  echo "again, median / worst, each container from the moment its own break took effect (so each"
  echo "tool's schedule is included)."
  echo
  echo "| case | healwatch | autoheal |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo "| crash loop: restarts in $loop_s s | $hw_restarts (then the crash-loop guard: gave_up) | $ah_restarts |"
  echo "| idle, 20 healthy containers: CPU-seconds in $idle_s s | $hw_cpu (one pass every 2 min, cron's pace: $cron_cpu) | $ah_cpu |"
  echo
  echo "CPU counts each tool's loop and its children (healwatch and docker CLI processes; autoheal's"
  echo "curl and jq), not the daemon's work on their behalf: each child's CPU once it has ended (so"
  echo "the run or curl still going at the end is left out of each)."
} >"$results"
cat "$results"
