#!/usr/bin/env bash
# Time to heal and cost at rest, on one private engine, four tools side by side, each
# watching its own identical containers (busybox httpd serving /health, with a Docker
# HEALTHCHECK that GETs it every 1 s, restart policy `no`):
#   healwatch, labels       as its shipped units run it (a pass every 15 s, then a 14 s
#                           watch: --quiet --watch 14s), --discover, healwatch.url labels
#   healwatch, HEALTHCHECK  the same schedule, --unhealthy label, healwatch.enable=true
#   autoheal                ../shared/bench/peers/autoheal, its 5 s loop
#   Monit                   Debian's monit in the foreground, a 1 s cycle, one
#                           `if failed port … protocol http … then exec "docker restart …"`
#                           per container
# Breaks containers in each way and times break -> healthy again (median and worst) by
# polling every 100 ms; measures the floor (a `docker restart` and the service's start on
# their own); counts restarts of a crash loop and false restarts under CPU load; and, one
# tool at a time beside 20 healthy containers, each tool's CPU with its children, the
# engine's CPU above a run with no tool, and the programs each starts per minute, with
# the floor for URL checks (bench/url-floor.c, the least a client making the same
# requests can spend).
# Writes bench/results-mttr.md.
#   bench/mttr.sh          the full run (about 55 minutes)
#   bench/mttr.sh --smoke  tiny sizes, results to a temp file (the test command runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
autoheal=${HEALWATCH_AUTOHEAL:-../shared/bench/peers/autoheal/docker-entrypoint}
[ -f "$autoheal" ] || { echo "bench/mttr.sh: autoheal's script not found at $autoheal" >&2; exit 1; }
for tool in curl jq strace; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "$tool" >/dev/null
done
# shellcheck source=bench/monit.sh
source bench/monit.sh
monit_install
# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_image
cargo build --release --locked -q
hw=$(bash scripts/target-dir.sh)/release/healwatch
work=$ENGINE_DIR/mttr
mkdir -p "$work"
# The floor at rest for URL checks: a minimal C client (cc is there wherever cargo links).
cc -O2 -Wall -Wextra -o "$work/url-floor" bench/url-floor.c
sock=${DOCKER_HOST#unix://}
tools=(hwlabels hwhealth autoheal monit)
declare -A loop_pid=()
hog_pids=()
# Stops the loops and what they run (a healwatch pass ends in order on SIGTERM and frees
# its lock), waiting for them, so the next case starts clean.
stop_loops() {
  local p
  for p in "${loop_pid[@]}"; do
    pkill -TERM -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  for p in "${loop_pid[@]}"; do wait "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do pgrep -f "$hw --quiet" >/dev/null || break; sleep 0.1; done
  loop_pid=()
}
stop_hogs() {
  local p
  for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${hog_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  hog_pids=()
}
# MTTR_KEEP=DIR keeps the logs and times for a look afterwards.
trap 'stop_hogs; stop_loops; if [ -n "${MTTR_KEEP:-}" ]; then cp -r "$work" "$MTTR_KEEP"; fi; engine_stop' EXIT

if [ "$smoke" = 1 ]; then
  many=2; stops=2; loop_s=20; load_s=10; load_n=1; idle_s=10; exec_s=5; give_up=20; reps=1; results=$work/results.md
else
  many=20; stops=5; loop_s=300; load_s=600; load_n=5; idle_s=${MTTR_IDLE_S:-180}; exec_s=60; give_up=90; reps=${MTTR_REPS:-5}; results=bench/results-mttr.md
fi

# A port for a service, never the one another service got (scripts/port.py says why).
port() { python3 scripts/port.py "$work/.last-port"; }
# labels TOOL PORT: what makes TOOL watch a container
labels() {
  case $1 in
    hwlabels) echo "--label healwatch.url=http://127.0.0.1:$2/health" ;;
    hwhealth) echo "--label healwatch.enable=true" ;;
    autoheal) echo "--label autoheal=true" ;;
    monit) echo "" ;;
    all) echo "--label healwatch.url=http://127.0.0.1:$2/health --label healwatch.enable=true --label autoheal=true" ;;
  esac
}
# start TOOL N [nohealth]: containers TOOL-1..N, their ports in $work/TOOL.ports; their
# HEALTHCHECK runs every $health_every (1s unless set)
health_every=1s
start() {
  local tool=$1 n=$2 mode=${3:-} i p
  : >"$work/$tool.ports"
  for i in $(seq 1 "$n"); do
    p=$(port)
    # shellcheck disable=SC2046
    docker run -d --name "$tool-$i" --network host --init $(labels "$tool" "$p") \
      --health-cmd "wget -q -O /dev/null http://127.0.0.1:$p/health" --health-interval "$health_every" --health-retries 1 --health-timeout 2s \
      "$HEALWATCH_TEST_IMAGE" /bin/serve "$p" $mode >/dev/null
    echo "$p" >>"$work/$tool.ports"
  done
  for p in $(cat "$work/$tool.ports"); do
    for _ in $(seq 1 100); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.1; done
  done
}
remove() { docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true; }

# run_tool TOOL [CONTAINER-PREFIX]: TOOL's loop in the background, its PID in loop_pid.
# healwatch runs every 15 s from the start of the last run (OnUnitActiveSec=15s), each run
# a pass and a 14 s watch (ExecStart=healwatch --quiet --watch 14s).
run_tool() {
  local tool=$1 prefix=${2:-$1} i=0 p
  case $tool in
    hwlabels | hwhealth)
      local mode=--discover
      [ "$tool" = hwhealth ] && mode="--unhealthy label"
      rm -f "$work/$tool-state.json"
      # shellcheck disable=SC2086
      # The schedule in bash alone (microseconds), so the loop adds no CPU of its own.
      # (Microseconds from EPOCHREALTIME by cutting at its decimal point: a pattern
      # substitution once left it whole, and the loop died of the arithmetic error.)
      ( set +e
        while true; do
          t=$EPOCHREALTIME; next=$(( ${t%[.,]*} * 1000000 + 10#${t#*[.,]} + 15000000 ))
          "$hw" --quiet --watch 14s $mode ${MTTR_HW_ARGS:-} --state "$work/$tool-state.json" --lock "$work/$tool.lock" >>"$work/$tool.log" 2>&1
          t=$EPOCHREALTIME; left=$(( next - ${t%[.,]*} * 1000000 - 10#${t#*[.,]} ))
          [ "$left" -le 0 ] || sleep "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))"
        done ) 2>>"$work/$tool.log" &
      ;;
    autoheal)
      # Its image runs it with busybox ash (dash has no pipefail) and the argument autoheal.
      DOCKER_SOCK=$sock AUTOHEAL_CONTAINER_LABEL=autoheal AUTOHEAL_INTERVAL=5 busybox sh "$autoheal" autoheal >>"$work/autoheal.log" 2>&1 &
      ;;
    floor)
      # Not a tool: the least CPU any URL checker spends (bench/url-floor.c), bounded.
      # shellcheck disable=SC2046
      "$work/url-floor" "$((idle_s + exec_s + 30))" $(cat "$work/$prefix.ports") &
      ;;
    monit)
      rm -rf "$work/monit"
      monit_config "$work/monit" "$sock"
      for p in $(cat "$work/$prefix.ports"); do
        i=$((i + 1))
        monit_http "$work/monit" "$prefix-$i" "$p"
      done
      monit_run "$work/monit"
      loop_pid[$tool]=$MONIT_PID
      return
      ;;
  esac
  loop_pid[$tool]=$!
}

# brk TOOL I HOW: break one container, then note its port and the time the break took
# effect in $work/TOOL.breaks
# (A container a tool is restarting just then cannot be broken: tried again, 10 times at most.)
brk() {
  local c="$1-$2" try init
  for try in $(seq 1 10); do
    init=$(docker inspect --format '{{.State.Pid}}' "$c")
    case $3 in
      fail) docker exec "$c" rm /www/health 2>/dev/null && break ;;
      pause) docker pause "$c" >/dev/null 2>&1 && break ;;
      sigstop) kill -STOP "$(pgrep -P "$init" httpd)" 2>/dev/null && break ;;
      # A real crash: the container's PID 1 (the init) killed from the host.
      exit) [ "$init" != 0 ] && kill -KILL "$init" 2>/dev/null && break ;;
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
    # Each container gets `limit` from its own break: breaking many one after another
    # takes a while (80 `docker exec`s took 5.5 min on a busy engine), and the last ones
    # must not be cut short, nor given up before their break.
    start = time.time()
    while True:
        at, now = broken_at(port), time.time()
        if (at is None and now - start > 10 * limit) or (at is not None and now - at > limit):
            return
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
summary() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; f=lambda x: "never" if x==float("inf") else f"{x:.1f}"; print(f"{f(s.median(v))} / {f(max(v))}")' "$@"; }

rows=()
# case_row LABEL HOW N [REPEATS]: break N containers of each tool at once, time every
# tool; REPEATS times over (fresh containers and loops each time, so the break falls at a
# different point of each tool's schedule), all times pooled
case_row() {
  local label=$1 how=$2 n=$3 repeats=${4:-1} r tool row
  for tool in "${tools[@]}"; do : >"$work/$tool.all"; done
  for r in $(seq 1 "$repeats"); do
    one_case "$how" "$n"
    for tool in "${tools[@]}"; do cat "$work/$tool.times" >>"$work/$tool.all"; done
  done
  row="| $label |"
  for tool in "${tools[@]}"; do row+=" $(summary $(cat "$work/$tool.all")) |"; done
  rows+=("$row")
  echo "mttr: $label done" >&2
}
# one_case HOW N: one round of case_row; times in $work/TOOL.times
one_case() {
  local how=$1 n=$2 i tool waiters=()
  remove
  for tool in "${tools[@]}"; do start "$tool" "$n"; done
  for tool in "${tools[@]}"; do run_tool "$tool"; done
  # A break lands anywhere in each tool's schedule: wait a random 3-8 s first.
  sleep "$(python3 -c 'import random; print(round(random.uniform(3, 8), 2))')"
  for tool in "${tools[@]}"; do
    : >"$work/$tool.breaks"
    heal_times "$tool" "$n" >"$work/$tool.times" &
    waiters+=($!)
  done
  # The tools in a new order for each container: the first broken was always the same
  # tool's, and the two healwatch columns' restarts (both quick to see a break) then
  # landed on the engine together while the others' came after.
  for i in $(seq 1 "$n"); do
    for tool in $(printf '%s\n' "${tools[@]}" | shuf); do brk "$tool" "$i" "$how"; done
  done
  wait "${waiters[@]}"
  stop_loops
}

# The floor: no tool, the break then at once `docker restart` (as every tool runs it) and
# the service's start, timed to the first 200.
floor_times=()
remove; start floor 1
for _ in $(seq 1 "$reps"); do
  p=$(cat "$work/floor.ports")
  t0=$(date +%s.%N)
  docker exec floor-1 rm /www/health
  docker restart floor-1 >/dev/null
  for _ in $(seq 1 200); do curl -s -f -m 1 -o /dev/null "http://127.0.0.1:$p/health" && break; sleep 0.05; done
  floor_times+=("$(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")")
done

echo "mttr: measuring (smoke=$smoke)" >&2
# MTTR_ONLY=one, many: only the one-broken or the many-broken row, printed (to rerun
# that row alone). MTTR_ONLY=idle: only the rows at rest, printed. MTTR_HW_ARGS: more
# flags for both healwatch columns (e.g. "--retries 0", to see what the blip rule costs).
# MTTR_REPS: breaks per single-container row (5 unless set).
only=${MTTR_ONLY:-}
if [ "$only" = one ] || [ "$only" = many ]; then
  if [ "$only" = one ]; then case_row "1 endpoint broken ($reps breaks)" fail 1 "$reps"; fi
  if [ "$only" = many ]; then case_row "$many broken at once" fail "$many"; fi
  printf '%s\n' "${rows[@]}"
  exit 0
fi
if [ "$only" != idle ]; then
case_row "1 endpoint broken ($reps breaks)" fail 1 "$reps"
# The smoke run keeps to one case of each code path: it proves the script, not the numbers.
if [ "$smoke" = 0 ]; then
  case_row "$many broken at once" fail "$many"
  case_row "1 paused ($reps breaks)" pause 1 "$reps"
  case_row "1 SIGSTOPped ($reps breaks)" sigstop 1 "$reps"
  case_row "$stops SIGSTOPped" sigstop "$stops"
fi
case_row "1 whose process exits, restart policy \`no\` ($reps breaks)" exit 1 "$reps"

# Restarts as Docker sees them: each new StartedAt of each container, sampled every
# 0.5 s for SECONDS. starts SECONDS NAME...: one count per name.
starts() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
end, names = time.time() + float(sys.argv[1]), sys.argv[2:]
seen = {n: set() for n in names}
while time.time() < end:
    out = subprocess.run(["docker", "inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *names], capture_output=True, text=True, timeout=10)
    for line in out.stdout.splitlines():
        name, started = line.lstrip("/").split(" ", 1)
        seen[name].add(started)
    time.sleep(0.5)
print(" ".join(str(len(seen[n]) - 1) for n in names))
PY
}

# A crash loop: a service that never becomes healthy; restarts counted over loop_s.
remove
for tool in "${tools[@]}"; do start "$tool" 1 nohealth; done
for tool in "${tools[@]}"; do run_tool "$tool"; done
read -r -a crash <<<"$(starts "$loop_s" $(for t in "${tools[@]}"; do echo "$t-1"; done))"
stop_loops

# False restarts: load_n healthy containers each, under a CPU hog (two busy loops per
# core, started and stopped by PID), for load_s; every restart is a false one.
remove
for tool in "${tools[@]}"; do start "$tool" "$load_n"; done
for tool in "${tools[@]}"; do run_tool "$tool"; done
for _ in $(seq 1 $(($(nproc) * 2))); do
  python3 -c 'while True: pass' &
  hog_pids+=($!)
done
names=()
for tool in "${tools[@]}"; do for i in $(seq 1 "$load_n"); do names+=("$tool-$i"); done; done
read -r -a restarted <<<"$(starts "$load_s" "${names[@]}")"
stop_hogs
stop_loops
false_restarts=()
for k in "${!tools[@]}"; do
  total=0
  for i in $(seq 0 $((load_n - 1))); do total=$((total + restarted[k * load_n + i])); done
  false_restarts+=("$total")
done
fi

# At rest: 20 healthy containers labelled for every tool, then one tool at a time for
# idle_s, between two runs with no tool (the baseline, their mean): the tool's CPU with its
# children; the engine's (dockerd, containerd, the shims: every process whose command line
# names the private engine's directory, with their reaped children); then, for exec_s
# more, the programs the tool starts (execve under strace, which slows what it traces, so
# apart; the healwatch loops' own `sleep`, which stands for systemd's timer, left out).
# Their HEALTHCHECKs run every 30 s here: every second, they were most of the engine's
# work and drowned what the tools cost it.
remove; health_every=30s; start all 20; health_every=1s
hz=$(getconf CLK_TCK)
# The CPU ticks of a process and its descendants alive now, with what they reaped.
tree() { local c; echo "$1"; for c in $(pgrep -P "$1"); do tree "$c"; done; }
tool_ticks() {
  local files=() p
  for p in $(tree "$1"); do files+=("/proc/$p/stat"); done
  awk '{s += $14 + $15 + $16 + $17} END {print s + 0}' "${files[@]}" 2>/dev/null || echo 0
}
# The engine's processes (dockerd, containerd, the shims: their command lines name the
# private engine's directory), "PID TICKS" each, their own CPU only.
engine_sample() {
  local p
  for p in $(pgrep -f "$ENGINE_DIR/"); do
    grep -qE '^(dockerd|containerd)' "/proc/$p/comm" 2>/dev/null || continue
    awk -v p="$p" '{print p, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
  done
}
# engine_delta BEFORE AFTER: seconds of CPU between two samples, over the processes in both.
engine_delta() {
  python3 - "$1" "$2" "$hz" <<'PY'
import sys
read = lambda f: dict(l.split() for l in open(f) if l.strip())
a, b = read(sys.argv[1]), read(sys.argv[2])
print(sum(int(b[p]) - int(a[p]) for p in a if p in b) / int(sys.argv[3]))
PY
}
declare -A idle_cpu=() idle_engine=() idle_execs=()
for tool in none "${tools[@]}" floor none2; do
  if [ "$tool" != none ] && [ "$tool" != none2 ]; then run_tool "$tool" all; sleep 2; fi
  engine_sample >"$work/engine.before"
  case $tool in none*) ;; *) t0=$(tool_ticks "${loop_pid[$tool]}") ;; esac
  sleep "$idle_s"
  engine_sample >"$work/engine.after"
  idle_engine[$tool]=$(engine_delta "$work/engine.before" "$work/engine.after")
  case $tool in none*) continue ;; esac
  idle_cpu[$tool]=$(python3 -c "print(f'{($(tool_ticks "${loop_pid[$tool]}") - $t0) / $hz:.2f}')")
  # The floor starts no program: nothing to count.
  if [ "$tool" = floor ]; then stop_loops; continue; fi
  timeout "$exec_s" strace -f -qq -e trace=execve -o "$work/$tool.execs" -p "${loop_pid[$tool]}" 2>/dev/null || true
  # Each program once: a successful execve (the shell's PATH search fails first); the
  # healwatch loops' `sleep` stands for systemd's timer.
  idle_execs[$tool]=$(grep -E 'execve\(.* = 0$' "$work/$tool.execs" | grep -vcE 'execve\("[^"]*/sleep"' || true)
  stop_loops
done

baseline=$(python3 -c "print((${idle_engine[none]} + ${idle_engine[none2]}) / 2)")
per5() { python3 -c "print(f'{$1 * 300 / $idle_s:.2f}')"; }
idle_rows() {
  local row tool
  row="| at rest, 20 healthy: the tool's CPU-s per 5 min, with its children |"
  for tool in "${tools[@]}"; do row+=" $(per5 "${idle_cpu[$tool]}") |"; done
  echo "$row"
  row="| at rest: the engine's CPU-s per 5 min above no tool ($(per5 "${idle_engine[none]}"), $(per5 "${idle_engine[none2]}") without) |"
  for tool in "${tools[@]}"; do row+=" $(per5 "$(python3 -c "print(${idle_engine[$tool]} - $baseline)")") |"; done
  echo "$row"
  row="| at rest: programs started per minute |"
  for tool in "${tools[@]}"; do row+=" $(python3 -c "print(f'{${idle_execs[$tool]} * 60 / $exec_s:.1f}')") |"; done
  echo "$row"
  echo
  echo "The floor at rest for a URL checker (bench/url-floor.c: one GET a second to each of the"
  echo "20 services, each on a fresh connection, bounded, read to its end, nothing else):"
  echo "$(per5 "${idle_cpu[floor]}") CPU-s per 5 min."
}
if [ "$only" = idle ]; then
  idle_rows
  exit 0
fi
{
  echo "# Time to heal and cost at rest: healwatch, autoheal and Monit side by side"
  echo
  echo "Measured by \`bench/mttr.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, one private engine, healwatch $("$hw" --version | head -1 | awk '{print $2}')."
  echo "Break -> healthy again in seconds, median / worst, each container from the moment its own"
  echo "break took effect (so each tool's schedule is included). healwatch runs as its units"
  echo "ship it (a pass every 15 s, then a 14 s watch), with URL labels and \`--discover\`, and"
  echo "with \`--unhealthy label\`; autoheal with its 5 s loop; Monit with a 1 s cycle and one"
  echo "\`if failed port … protocol http … then exec \"docker restart …\"\` per container."
  echo
  echo "| case | healwatch, labels | healwatch, HEALTHCHECK | autoheal | Monit |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo "| crash loop: restarts in $loop_s s | ${crash[0]} | ${crash[1]} | ${crash[2]} | ${crash[3]} |"
  echo "| false restarts: $load_n healthy each, $load_s s under $(($(nproc) * 2)) busy loops | ${false_restarts[0]} | ${false_restarts[1]} | ${false_restarts[2]} | ${false_restarts[3]} |"
  idle_rows
  echo
  echo "The floor, a \`docker restart\` and the service's start with no tool, break -> 200: $(summary "${floor_times[@]}") s."
  echo "At rest the containers' HEALTHCHECKs run every 30 s, so the engine's own work does not"
  echo "drown what each tool costs it; the baseline is the mean of a run with no tool before"
  echo "and after the tools."
} >"$results"
cat "$results"
