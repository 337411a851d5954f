#!/usr/bin/env bash
# Many Docker hosts from one healwatch: private engines with labelled busybox containers
# (all on 127.0.0.1, --network host), discovered by one pass. Measures the wall time of a
# whole pass (median of 5) against one engine with PER containers; against ENGINES
# engines with a tenth of that each (the same number of containers, so only the number
# of engines differs); against ENGINES engines with PER each (all healthy, then 10%
# unhealthy: restarted and recovered), next to the same containers as plain URL targets
# with no Docker at all (what the health checks alone cost on this machine); against the
# default engine through the docker CLI; and against one engine over a real ssh transport
# (a private sshd on 127.0.0.1, as in the tests) with and without connection reuse, next
# to the same engine over its unix socket. Writes bench/results-fleet.md.
#   bench/fleet.sh          10 engines x 50 containers (about 10 minutes)
#   bench/fleet.sh --smoke  2 engines x 3 containers, results to a temp file (the test command runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
# RUNS healing passes; PASSES of every other kind (they are short, and a median of few is noisy).
if [ "$smoke" = 1 ]; then engines=2 per=3 runs=2 passes=2; else engines=10 per=50 runs=5 passes=15; fi

# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_start_more "$engines"
engine_start_ssh
engine_start_second
engine_image
cargo build --release --locked -q
hw=$(bash scripts/target-dir.sh)/release/healwatch
work=$ENGINE_DIR/fleet
mkdir -p "$work"
results=bench/results-fleet.md
[ "$smoke" = 0 ] || results=$work/results.md

hosts=("$DOCKER_HOST")
for k in $(seq 2 "$engines"); do hosts+=("unix://$ENGINE_DIR/e$k/docker.sock"); done
far=$HEALWATCH_SSH_ENGINE_HOST

# populate HOST TAG FROM TO: labelled containers TAG-FROM..TO on HOST, each on its own port.
populate() {
  local host=$1 tag=$2 i port
  for i in $(seq "$3" "$4"); do
    port=$(python3 scripts/port.py "$work/.last-port")
    DOCKER_HOST=$host timeout 60 docker run -d --name "$tag-$i" --network host --init \
      --label "healwatch.url=http://127.0.0.1:$port/health" "$HEALWATCH_TEST_IMAGE" /bin/serve "$port" >/dev/null
  done
}
# Every engine gets FROM..TO, the ssh engine 1..PER.
populate_all() {
  local pids=() k p
  for k in $(seq 1 "$engines"); do populate "${hosts[$((k - 1))]}" "c$k" "$1" "$2" & pids+=($!); done
  [ "$1" != 1 ] || { populate "$far" far 1 "$per" & pids+=($!); }
  [ "$1" != 1 ] || { populate "$HEALWATCH_SECOND_DOCKER_HOST" tls 1 "$per" & pids+=($!); }
  for p in "${pids[@]}"; do wait "$p"; done
  sleep 1
}
small=$(((per + 9) / 10))
echo "fleet: starting $((engines * small + 2 * per)) containers" >&2
populate_all 1 "$small"

# config FILE LOCAL NAME=HOST...: discovery on each engine given, and on the local one
# when LOCAL is true: through its socket when LOCAL is "socket", as the default engine
# (the docker CLI) when it is "cli".
config() {
  local file=$1 pair
  case $2 in
    socket) printf '[[engine]]\nname = "local"\nhost = "%s"\ndiscover = true\n' "$DOCKER_HOST" >"$file" ;;
    cli) printf '[[engine]]\nname = "local"\ndiscover = true\n' >"$file" ;;
    *) printf '[[engine]]\nname = "local"\ndiscover = %s\n' "$2" >"$file" ;;
  esac
  shift 2
  for pair in "$@"; do
    printf '\n[[engine]]\nname = "%s"\nhost = "%s"\ndiscover = true\n' "${pair%%=*}" "${pair#*=}" >>"$file"
  done
}
# pass_ms CONFIG [ENV...]: PASSES passes (after one to warm up): the median wall time, the
# median CPU time of healwatch and its docker children, the median CPU time of the whole
# machine meanwhile (engines and containers included), and the median of the slowest
# engine's list_ms (its listing), all in ms; fails when a pass does not exit 0.
pass_ms() {
  local cfg=$1
  shift
  env "$@" PATH="$HEALWATCH_SSH_BIN:$PATH" python3 - "$hw" "$cfg" "$work" "$passes" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
hw, cfg, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmd = [hw, "-c", cfg, "--state", f"{work}/state.json", "--lock", f"{work}/lock"]
times, cpus, machine, lists = [], [], [], []
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000
def busy():
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) * 1000 / os.sysconf("SC_CLK_TCK")
for i in range(runs + 1):
    before, machine_before, start = cpu(), busy(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    took, used = (time.perf_counter() - start) * 1000, cpu() - before
    machine_used = busy() - machine_before
    if out.returncode != 0:
        sys.exit(f"fleet: pass exited {out.returncode}: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    if i > 0:
        times.append(took)
        cpus.append(used)
        machine.append(machine_used)
        lists.append(max([e.get("list_ms", 0) for e in json.loads(out.stdout).get("engines", [])] or [0]))
print(" ".join(f"{statistics.median(v):.0f}" for v in (times, cpus, machine, lists)))
PY
}

others=()
for k in $(seq 2 "$engines"); do others+=("e$k=${hosts[$((k - 1))]}"); done
config "$work/one.toml" socket
config "$work/cli.toml" cli
config "$work/all.toml" socket "${others[@]}"
read -r few few_cpu few_machine few_list < <(pass_ms "$work/all.toml")
echo "fleet: $engines engines x $small: ${few} ms" >&2
populate_all $((small + 1)) "$per"
read -r one one_cpu one_machine one_list < <(pass_ms "$work/one.toml")
read -r cli cli_cpu cli_machine cli_list < <(pass_ms "$work/cli.toml")
read -r all all_cpu all_machine all_list < <(pass_ms "$work/all.toml")
echo "fleet: one engine ${one} ms (CLI ${cli} ms), $engines engines ${all} ms" >&2
# The same containers as plain URL targets: the health checks alone, no Docker at all.
for host in "${hosts[@]}"; do
  DOCKER_HOST=$host timeout 30 docker ps --format '{{.Names}} {{.Label "healwatch.url"}}'
done | awk '{printf "[[target]]\nname = \"%s\"\nurl = \"%s\"\n\n", $1, $2}' >"$work/urls.toml"
read -r urls urls_cpu urls_machine _ < <(pass_ms "$work/urls.toml")

# 10% unhealthy on every engine: each such pass restarts them all and waits for them.
broken=$(((per + 9) / 10))
unhealthy() {
  local k i
  for k in $(seq 1 "$engines"); do
    for i in $(seq 1 "$broken"); do
      DOCKER_HOST=${hosts[$((k - 1))]} timeout 30 docker exec "c$k-$i" rm /www/health
    done
  done
}
times=()
for _ in $(seq 1 "$runs"); do
  unhealthy
  start=$(date +%s%N)
  "$hw" -c "$work/all.toml" --state "$work/state.json" --lock "$work/lock" >"$work/healed.json"
  times+=($((($(date +%s%N) - start) / 1000000)))
  restarted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["recovered"])' "$work/healed.json")
  [ "$restarted" = $((engines * broken)) ] || { echo "fleet: $restarted recovered, not $((engines * broken))" >&2; exit 1; }
  rm -f "$work/state.json" # the crash-loop guard would count these drills
done
healing=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

# The ssh engine: over its unix socket, over ssh without reuse, over ssh with it.
config "$work/far-unix.toml" false "far=$far"
config "$work/far-ssh.toml" false "far=$HEALWATCH_SSH_DOCKER_HOST"
cp "$work/far-ssh.toml" "$work/far-ssh-plain.toml"
printf '\n[defaults]\nssh_reuse = false\n' >>"$work/far-ssh-plain.toml"
read -r unix_ms _ _ unix_list < <(pass_ms "$work/far-unix.toml")
read -r plain_ms _ _ plain_list < <(pass_ms "$work/far-ssh-plain.toml")
read -r reuse_ms _ _ reuse_list < <(pass_ms "$work/far-ssh.toml")
echo "fleet: ssh engine: unix ${unix_ms} ms, ssh ${plain_ms} ms, ssh reused ${reuse_ms} ms" >&2
"$work/ssh/ssh" -O exit -p "${HEALWATCH_SSH_DOCKER_HOST##*:}" root@127.0.0.1 2>/dev/null || true

# The TLS engine (the second one): over its unix socket, over tcp:// with mutual TLS.
config "$work/tls-unix.toml" false "tls=$HEALWATCH_SECOND_DOCKER_HOST"
config "$work/tls.toml" false "tls=$HEALWATCH_TLS_DOCKER_HOST"
printf 'tls_ca = "%s"\ntls_cert = "%s"\ntls_key = "%s"\n' "$HEALWATCH_TLS_DIR/ca.pem" "$HEALWATCH_TLS_DIR/cert.pem" \
  "$HEALWATCH_TLS_DIR/key.pem" >>"$work/tls.toml"
read -r tls_unix_ms _ _ tls_unix_list < <(pass_ms "$work/tls-unix.toml")
read -r tls_ms _ _ tls_list < <(pass_ms "$work/tls.toml")
echo "fleet: TLS engine: unix ${tls_unix_ms} ms, tcp+TLS ${tls_ms} ms" >&2

ratio=$(python3 -c "print(f'{$all / $one:.2f}')")
few_ratio=$(python3 -c "print(f'{$few / $one:.2f}')")
{
  echo "# Several hosts: one pass over many engines"
  echo
  echo "Measured by \`bench/fleet.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores: private engines on this"
  echo "machine with labelled busybox containers, discovered by one pass. Wall time of a whole pass"
  echo "(median of $passes; of $runs when healing); the CPU time healwatch and its children used; the CPU time the whole"
  echo "machine used meanwhile (engines and containers answering included); the listing (of the"
  echo "slowest engine when there are several)."
  echo
  echo "| pass | wall time | CPU, healwatch | CPU, machine | listing |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| 1 engine, $per containers, all healthy | $one ms | $one_cpu ms | $one_machine ms | $one_list ms |"
  echo "| $engines engines, $small container(s) each ($((engines * small)) in all) | $few ms ($few_ratio x one engine) | $few_cpu ms | $few_machine ms | $few_list ms |"
  echo "| $engines engines, $per containers each, all healthy | $all ms ($ratio x one engine) | $all_cpu ms | $all_machine ms | $all_list ms |"
  echo "| the same $((engines * per)) services as URL targets, no Docker at all | $urls ms | $urls_cpu ms | $urls_machine ms | |"
  echo "| $engines engines, $broken of each $per unhealthy: restarted and recovered | $healing ms | | | |"
  echo "| 1 engine, $per containers, as the default engine (docker ps + docker inspect) | $cli ms | $cli_cpu ms | $cli_machine ms | $cli_list ms |"
  echo "| 1 engine over its unix socket, $per containers | $unix_ms ms | | | $unix_list ms |"
  echo "| the same engine over ssh, a connection per pass | $plain_ms ms | | | $plain_list ms |"
  echo "| the same engine over ssh, one reused connection (the default) | $reuse_ms ms | | | $reuse_list ms |"
  echo "| 1 engine over its unix socket, $per containers (another engine) | $tls_unix_ms ms | | | $tls_unix_list ms |"
  echo "| the same engine over tcp:// with mutual TLS (a handshake each pass) | $tls_ms ms | | | $tls_list ms |"
  echo
  echo "An engine given by a unix:// or ssh:// host, or a tcp:// one with TLS files, is listed with"
  echo "one Engine API request (over ssh through \`docker system dial-stdio\`, as the docker CLI does;"
  echo "over TLS verified as \`docker --tlsverify\` does); only containers that may be"
  echo "healed by their HEALTHCHECK are inspected. Every engine is listed at once. Over ssh, reuse"
  echo "keeps one connection open for ControlPersist $(grep -o 'SSH_PERSIST: &str = "[^"]*"' src/docker/ssh.rs | cut -d'"' -f2) after its last use."
} >"$results"
cat "$results"
