# shellcheck shell=bash
# A Docker socket proxy in front of the private engine, as the self-hosting community runs
# one (Tecnativa's docker-socket-proxy, LinuxServer's socket-proxy): Debian's HAProxy in
# HTTP mode with per-endpoint method-and-path rules, the same facts those images' configs
# carry (no code copied), in the foreground on 127.0.0.1 with its own config. Source
# scripts/engine.sh first (engine_start), then this file, then:
#   proxy_start NAME SWITCHES...   a proxy allowing what the switches allow (CONTAINERS,
#                     POST, EVENTS, EXEC, PING, VERSION, INFO, IMAGES; and two faults:
#                     SLOW holds every request 2 s, CLOSE closes every connection
#                     without an answer), on a port of its
#                     own; sets PROXY_HOST=tcp://127.0.0.1:PORT and PROXY_LOG (a line per
#                     request: client, User-Agent, status, request line). engine_stop stops it.
#                     (Not in $(...): the proxy's pid must reach engine_stop.)
#   proxy_image TAG   the same rules as an image (below).
# The rules are socket-proxy.cfg's.

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

proxy_start() {
  local name=$1 dir port inner pid i switch has_slow=0
  shift
  command -v haproxy >/dev/null 2>&1 || apt_install --no-recommends haproxy
  dir="$ENGINE_DIR/proxy-$name"
  mkdir -p "$dir"
  free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  port=$(free)
  inner=$port
  local env=(PROXY_SOCKET="${DOCKER_HOST#unix://}")
  for switch in "$@"; do
    if [ "$switch" = SLOW ]; then has_slow=1; else env+=("$switch=1"); fi
  done
  cp "$(dirname "${BASH_SOURCE[0]}")/socket-proxy.cfg" "$dir/haproxy.cfg"
  # SLOW puts a TCP front before the rules, holding each connection 2 s (HTTP mode
  # evaluates a whole request at once, so the wait must come before it).
  if [ "$has_slow" = 1 ]; then
    inner=$(free)
    cat >>"$dir/haproxy.cfg" <<CFG

frontend slow
  mode tcp
  no log
  bind 127.0.0.1:$port
  tcp-request inspect-delay 2s
  tcp-request content accept if WAIT_END
  default_backend rules

backend rules
  mode tcp
  server rules 127.0.0.1:$inner
CFG
  fi
  env+=(PROXY_BIND="127.0.0.1:$inner")
  env -i PATH="$PATH" "${env[@]}" haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  pid=$!
  ENGINE_PIDS+=("$pid")
  for i in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then
      echo "proxy $name ($*) on tcp://127.0.0.1:$port" >&2
      PROXY_HOST="tcp://127.0.0.1:$port"
      PROXY_LOG="$dir/haproxy.log"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "proxy $name did not start; its log:" >&2
  tail -20 "$dir/haproxy.log" >&2
  return 1
}

# proxy_image TAG: a socket-proxy image for the first engine, from scratch: Debian's
# HAProxy and the libraries it links, with socket-proxy.cfg, listening on :2375 and
# forwarding to /var/run/docker.sock, its switches from the environment with the images'
# defaults (EVENTS, PING, VERSION on; the rest off). The compose example is brought up
# with it (tests/it/examples.rs) as the proxy image it names.
proxy_image() {
  local tag=$1 root haproxy lib
  command -v haproxy >/dev/null 2>&1 || apt_install --no-recommends haproxy
  haproxy=$(command -v haproxy)
  root=$(mktemp -d "$ENGINE_DIR/proxy-image.XXXXXX")
  chmod 755 "$root"
  mkdir -p "$root/usr/sbin" "$root/usr/local/etc/haproxy" "$root/var/run" "$root/tmp"
  cp "$haproxy" "$root/usr/sbin/haproxy"
  for lib in $(ldd "$haproxy" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp "$(dirname "${BASH_SOURCE[0]}")/socket-proxy.cfg" "$root/usr/local/etc/haproxy/haproxy.cfg"
  tar -C "$root" -c . | timeout 60 docker import \
    --change 'ENV CONTAINERS=0 POST=0 EXEC=0 EVENTS=1 PING=1 VERSION=1 PROXY_BIND=:2375 PROXY_SOCKET=/var/run/docker.sock' \
    --change 'EXPOSE 2375' \
    --change 'ENTRYPOINT ["/usr/sbin/haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    - "$tag" >/dev/null
  rm -rf "$root"
  echo "proxy: built the socket-proxy image $tag" >&2
}
