#!/usr/bin/env bash
# Which release build to ship: the static musl binary against the glibc one, by size,
# start-up time and the 1000-target pass of bench/run.sh (500 failing, restarts of
# 100 ms through bench/docker-stub). Prints a Markdown table. Builds both (musl needs
# scripts/package.sh's tools: musl-tools and the Rust target).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench/portable.sh: needs hyperfine (bench/run.sh installs it)" >&2; exit 1; }
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -q --target x86_64-unknown-linux-musl
cargo build --release --locked -q
work=$(mktemp -d /tmp/healwatch-portable.XXXXXX)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 bench/endpoints.py --lifetime 900 >"$work/port" &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
base="http://127.0.0.1:$(cat "$work/port")"
{
  for i in $(seq 1 500); do printf '[[target]]\nname = "ok%s"\nurl = "%s/ok/%s"\n' "$i" "$base" "$i"; done
  for i in $(seq 1 500); do printf '[[target]]\nname = "fail%s"\nurl = "%s/fail/%s"\n' "$i" "$base" "$i"; done
} >"$work/half.toml"
export BENCH_RESTART_S=0.1
echo "| build | size | start-up (--version) | 1000 targets, 500 restarts | same, --dry-run | peak RSS |"
echo "| --- | --- | --- | --- | --- | --- |"
target_dir=$(bash scripts/target-dir.sh)
for build in "glibc:$target_dir/release/healwatch" "musl (static):$target_dir/x86_64-unknown-linux-musl/release/healwatch"; do
  name=${build%%:*}; bin=${build#*:}
  run="$bin -c $work/half.toml --docker $PWD/bench/docker-stub --lock $work/lock --state $work/state.json --retries 0 --recovery-timeout 0 --max-restarts 0 --timeout 1s"
  hyperfine -N --style none --warmup 3 --runs 30 --export-json "$work/v.json" "$bin --version" >/dev/null 2>&1
  hyperfine -N --style none --warmup 1 --runs 5 -i --export-json "$work/p.json" "$run" "$run --dry-run" >/dev/null 2>&1
  rss=$(/usr/bin/time -v $run 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
  python3 - "$work/v.json" "$work/p.json" "$name" "$(du -k "$bin" | cut -f1)" "$rss" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["results"][0]["median"]
p = [r["median"] for r in json.load(open(sys.argv[2]))["results"]]
print(f"| {sys.argv[3]} | {sys.argv[4]} KiB | {v*1000:.2f} ms | {p[0]:.2f} s | {p[1]*1000:.0f} ms | {int(sys.argv[5])//1024} MiB |")
PY
done
