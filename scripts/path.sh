#!/usr/bin/env bash
# Which of our files one healthy target's pass runs code in, from `main` to its status
# line: the debug binary (no inlining, every file keeps its functions) under valgrind's
# callgrind, which records every function that ran; its files under src/ are counted.
# Two runs: one pass, and `run --watch 3s` (its passes, looks and events). The target is
# one HTTP endpoint on 127.0.0.1 (python3's http.server) that only notifies, on an
# engine that is not there, as in bench/rest-ab.sh: what a pass always does, no more.
#   scripts/path.sh            counts, then the files of each run
#   scripts/path.sh --count    counts only
# Needs valgrind (and python3); nothing is written outside a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "path: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet
bin=$(scripts/target-dir.sh)/debug/healwatch
[ -x "$bin" ] || bin=target/debug/healwatch
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
server=$!
for _ in $(seq 1 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
printf '[defaults]\naction = "notify"\n[[target]]\nname = "web"\nurl = "http://127.0.0.1:%s/"\n' "$port" >"$work/c.toml"

# The src/ files with code that ran in one run of healwatch with ARGS, one per line.
files() {
  local out="$work/cg.$RANDOM"
  DOCKER_HOST=unix:///nonexistent HEALWATCH_STATE="$work/state.json" \
    timeout 120 valgrind --tool=callgrind --callgrind-out-file="$out" -q \
    "$bin" run -c "$work/c.toml" --lock "$work/lock" "$@" >/dev/null 2>&1 || true
  callgrind_annotate --inclusive=no "$out" 2>/dev/null |
    grep -o "$PWD/src/[^:>]*\.rs" | sed "s|$PWD/||" | sort -u
}

files >"$work/pass"
files --watch 3s >"$work/watch"
echo "one healthy target's pass: $(wc -l <"$work/pass") files; with --watch: $(wc -l <"$work/watch") files"
[ "${1:-}" = "--count" ] && exit 0
echo; echo "the pass:"; sed 's/^/  /' "$work/pass"
echo; echo "the watch adds:"; comm -13 "$work/pass" "$work/watch" | sed 's/^/  /'
