#!/usr/bin/env bash
# healwatch against the classic cron script (../shared/bench/seed-watchdog.sh, vendored as
# bench/seed-watchdog.sh), on local endpoints and a docker stand-in. Writes bench/results.md.
#   bench/run.sh          the full run (several minutes)
#   bench/run.sh --smoke  tiny sizes, one run each, results to a temp file (the test command runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
here=bench

smoke=0
[ "${1:-}" = --smoke ] && smoke=1

need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${need[@]}" >/dev/null \
    || { "${sudo[@]}" timeout 300 apt-get update -q >/dev/null \
      && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${need[@]}" >/dev/null; }
fi

cargo build --release --locked -q
hw=$(bash scripts/target-dir.sh)/release/healwatch
work=$(mktemp -d /tmp/healwatch-bench.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 "$here/endpoints.py" --lifetime 3600 >"$work/port" &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
[ -n "$port" ] || { echo "bench: the endpoint server did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

# targets FILE N_OK N_FAIL N_HANG: a healwatch config and the classic script's arguments.
targets() {
  local name=$1 ok=$2 fail=$3 hang=$4 i
  : >"$work/$name.args"
  {
    echo "[defaults]"
    for i in $(seq 1 "$ok"); do echo "[[target]]"; echo "name = \"ok$i\""; echo "url = \"$base/ok/$i\""; echo "ok$i=$base/ok/$i" >>"$work/$name.args"; done
    for i in $(seq 1 "$fail"); do echo "[[target]]"; echo "name = \"fail$i\""; echo "url = \"$base/fail/$i\""; echo "fail$i=$base/fail/$i" >>"$work/$name.args"; done
    for i in $(seq 1 "$hang"); do echo "[[target]]"; echo "name = \"hang$i\""; echo "url = \"$base/hang/$i\""; echo "hang$i=$base/hang/$i" >>"$work/$name.args"; done
  } >"$work/$name.toml"
}

if [ "$smoke" = 1 ]; then
  sizes=(1 5 5:1 10:5); runs=1; slow_runs=1; results=$work/results.md
else
  sizes=(1 200 200:20 1000:500); runs=20; slow_runs=3; results=$here/results.md
fi
IFS=: read -r n2 _ <<<"${sizes[1]}"
IFS=: read -r n3 h3 <<<"${sizes[2]}"
IFS=: read -r n4 f4 <<<"${sizes[3]}"
targets one 1 0 0
targets many "$n2" 0 0
targets hung $((n3 - h3)) 0 "$h3"
targets half $((n4 - f4)) "$f4" 0

export BENCH_RESTART_S=0.1
# healwatch as the classic script runs: one attempt, no recovery wait, restarts that never
# give up, its own lock and state; --timeout 1s matches curl -m 1.
hwrun() { # hwrun CONFIG [extra args]: the command line, for hyperfine
  local config=$1; shift
  echo "$hw -c $work/$config.toml --docker $PWD/$here/docker-stub --lock $work/lock --state $work/state-$config.json --retries 0 --recovery-timeout 0 --max-restarts 0 --timeout 1s $*"
}
classic() { # classic CONFIG
  echo "env DOCKER=$PWD/$here/docker-stub SEED_STRICT=1 SEED_CURL_TIMEOUT=1 bash $PWD/$here/seed-watchdog.sh $(tr '\n' ' ' <"$work/$1.args")"
}

declare -a rows
# measure LABEL RUNS CLASSIC HEALWATCH [HEALWATCH_DRY_RUN]: table rows of medians and the
# ratio classic/healwatch; the classic script is measured once for both healwatch variants.
measure() {
  local label=$1 n=$2 classic=$3; shift 3
  hyperfine -N --style none --warmup 1 --runs "$n" --export-json "$work/h.json" -i "$classic" "$@" >/dev/null
  rows+=("$(python3 - "$work/h.json" "$label" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
classic = results[0]["median"]
def fmt(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"
for i, r in enumerate(results[1:]):
    label = sys.argv[2] if i == 0 else "   same, --dry-run"
    print(f"| {label} | {fmt(r['median'])} | {fmt(classic)} | {classic / r['median']:.1f}x |")
PY
)")
}

peak_kib() { # peak_kib CMD...: maximum resident set size, KiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'
}

echo "bench: measuring (runs=$runs, slow cases $slow_runs)" >&2
measure "1. one healthy target (whole invocation)" "$runs" "$(classic one)" "$(hwrun one)"
measure "2. $n2 healthy targets" "$runs" "$(classic many)" "$(hwrun many)"
measure "3. $n3 targets, $h3 never answer, 1 s timeout" "$slow_runs" "$(classic hung)" "$(hwrun hung)" "$(hwrun hung --dry-run)"
measure "4. $n4 targets, $f4 failing, restarts of 100 ms" "$slow_runs" "$(classic half)" "$(hwrun half)" "$(hwrun half --dry-run)"
hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$work/v.json" "$hw --version" >/dev/null 2>&1
startup=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["results"][0]["median"]; print("%.2f ms" % (m*1000))' "$work/v.json")
# shellcheck disable=SC2046
hw_peak=$(peak_kib $(hwrun half))
# shellcheck disable=SC2046
classic_peak=$(peak_kib $(classic half))
calls=$(BENCH_DOCKER_LOG=$work/calls; export BENCH_DOCKER_LOG; rm -f "$work/state-half.json"; $(hwrun half) >/dev/null || true; grep -c '^restart' "$work/calls" || true)

{
  echo "# healwatch vs the classic cron script"
  echo
  echo "Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), healwatch $("$hw" --version | head -1 | cut -d' ' -f2)."
  echo "Medians of hyperfine runs ($runs per case, $slow_runs for the slow ones). healwatch runs with"
  echo "\`--retries 0 --recovery-timeout 0 --timeout 1s\` (as the script: one attempt, no recovery check);"
  echo "the script runs with \`SEED_STRICT=1\` (so 503 is a failure) and \`SEED_CURL_TIMEOUT=1\`."
  echo "Restarts go to a stand-in that sleeps 100 ms, as a real restart of a well-behaved container takes."
  echo
  echo "| case | healwatch | classic script | classic / healwatch |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "- healwatch start-up (\`healwatch --version\`): $startup"
  echo "- peak memory, case 4 ($n4 targets, $f4 restarts): healwatch $((hw_peak / 1024)) MiB ($hw_peak KiB), classic script $((classic_peak / 1024)) MiB"
  echo "- restarts healwatch issued in case 4: $calls of $f4 failing targets"
} >"$results"
cat "$results"
