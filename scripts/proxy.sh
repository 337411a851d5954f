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

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

proxy_start() {
  local name=$1 dir port inner pid i switch allowed=()
  shift
  command -v haproxy >/dev/null 2>&1 || apt_install --no-recommends haproxy
  dir="$ENGINE_DIR/proxy-$name"
  mkdir -p "$dir"
  free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  port=$(free)
  # SLOW puts a TCP front before the rules, holding each connection 2 s (HTTP mode
  # evaluates a whole request at once, so the wait must come before it).
  for switch in "$@"; do allowed+=("$switch"); done
  has() { local s; for s in "${allowed[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
  inner=$port
  if has SLOW; then inner=$(free); fi
  {
    echo "global"
    echo "  maxconn 256"
    echo "  log stdout format raw local0"
    echo "defaults"
    echo "  mode http"
    echo "  log global"
    echo "  timeout connect 5s"
    # A watch's event stream stays open for as long as the watch runs.
    echo "  timeout client 1h"
    echo "  timeout server 1h"
    if has SLOW; then
      echo "frontend slow"
      echo "  mode tcp"
      echo "  no log"
      echo "  bind 127.0.0.1:$port"
      echo "  tcp-request inspect-delay 2s"
      echo "  tcp-request content accept if WAIT_END"
      echo "  default_backend rules"
      echo "backend rules"
      echo "  mode tcp"
      echo "  server rules 127.0.0.1:$inner"
    fi
    echo "frontend api"
    echo "  bind 127.0.0.1:$inner"
    echo "  log-format \"%{+Q}[capture.req.hdr(0)] %ST %{+Q}r\""
    echo "  http-request capture req.hdr(User-Agent) len 64"
    has CLOSE && echo "  http-request reject"
    # Without POST only reads pass, as the images' POST=0.
    has POST || echo "  http-request deny unless METH_GET || METH_HEAD"
    # Each switch opens its paths, with or without the API version prefix.
    has CONTAINERS && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/containers }"
    has EVENTS && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/events }"
    has EXEC && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/exec }"
    has PING && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/_ping }"
    has VERSION && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/version }"
    has INFO && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/info }"
    has IMAGES && echo "  http-request allow if { path,url_dec -m reg -i ^(/v[0-9.]+)?/images }"
    echo "  http-request deny"
    echo "  default_backend engine"
    echo "backend engine"
    echo "  server engine unix@${DOCKER_HOST#unix://}"
  } >"$dir/haproxy.cfg"
  haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
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
