# shellcheck shell=bash
# A private, bridge-less Docker engine for tests and demos. Source this file, then:
#   engine_packages   install docker.io and busybox-static when missing
#   engine_start      start dockerd on a private socket; exports DOCKER_HOST; stops on exit
#   engine_start_second  a second engine (HEALWATCH_SECOND_DOCKER_HOST), for multi-host tests
#   engine_image      build the busybox test image (healwatch-test:latest) with docker import
#                     on every engine started
# Every container runs with --network host and listens on 127.0.0.1: the daemon is started
# with --bridge=none --iptables=false --ip-masq=false, so it creates no network at all.

HEALWATCH_TEST_IMAGE=${HEALWATCH_TEST_IMAGE:-healwatch-test:latest}
export HEALWATCH_TEST_IMAGE

engine_log() { echo "engine: $*" >&2; }

engine_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
  [ ${#missing[@]} -eq 0 ] && return 0
  engine_log "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${missing[@]}" >/dev/null \
    || { "${sudo[@]}" timeout 300 apt-get update -q >/dev/null && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${missing[@]}" >/dev/null; }
}

engine_start() {
  if [ "$(id -u)" -ne 0 ]; then
    engine_log "dockerd needs root: run this as root (or with sudo)"
    return 1
  fi
  ENGINE_DIR=$(mktemp -d /tmp/healwatch-engine.XXXXXX)
  export ENGINE_DIR
  ENGINE_PIDS=()
  trap engine_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  engine_boot "$ENGINE_DIR/one"
  export DOCKER_HOST="unix://$ENGINE_DIR/one/docker.sock"
  unset DOCKER_CONTEXT
}

# A second private engine, for tests of one pass across several hosts.
# Exports HEALWATCH_SECOND_DOCKER_HOST; engine_stop stops it too.
engine_start_second() {
  engine_boot "$ENGINE_DIR/two"
  export HEALWATCH_SECOND_DOCKER_HOST="unix://$ENGINE_DIR/two/docker.sock"
}

# engine_boot DIR: one dockerd with its state, socket and pidfile under DIR.
engine_boot() {
  local dir=$1 host="unix://$1/docker.sock" pid i
  mkdir -p "$dir"
  dockerd --bridge=none --iptables=false --ip-masq=false \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "$host" --pidfile "$dir/dockerd.pid" \
    >"$dir/dockerd.log" 2>&1 &
  pid=$!
  ENGINE_PIDS+=("$pid")
  for i in $(seq 1 150); do # at most 30 s
    if DOCKER_HOST=$host timeout 5 docker info >/dev/null 2>&1; then
      engine_log "dockerd $pid ready on $host after ${i}x0.2s"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  engine_log "dockerd did not answer on $host; its log:"
  tail -20 "$dir/dockerd.log" >&2
  return 1
}

engine_stop() {
  local status=$?
  [ -n "${ENGINE_DIR:-}" ] || return "$status"
  local dir pid i ids
  for dir in "$ENGINE_DIR"/one "$ENGINE_DIR"/two; do
    [ -S "$dir/docker.sock" ] || continue
    ids=$(DOCKER_HOST="unix://$dir/docker.sock" timeout 10 docker ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || DOCKER_HOST="unix://$dir/docker.sock" timeout 30 docker rm -f $ids >/dev/null 2>&1 || true
  done
  for pid in "${ENGINE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${ENGINE_PIDS[@]}"; do
    for i in $(seq 1 100); do # at most 20 s each, then SIGKILL
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Leftover mounts under the data roots would make rm fail; unmount them first.
  grep -o " $ENGINE_DIR[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$ENGINE_DIR" 2>/dev/null || true
  engine_log "stopped ${#ENGINE_PIDS[@]} dockerd and removed $ENGINE_DIR"
  ENGINE_DIR=
  return "$status"
}

# The test image: busybox-static and a tiny entrypoint. `serve PORT [nohealth]` writes
# /www/health ("ok") unless told not to, then runs busybox httpd on 127.0.0.1:PORT as PID 1
# (which ignores SIGTERM, as a real hung process would).
engine_image() {
  local root busybox
  busybox=$(command -v busybox || echo /bin/busybox)
  root=$(mktemp -d "$ENGINE_DIR/rootfs.XXXXXX")
  mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
  cp "$busybox" "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  cat >"$root/bin/serve" <<'SH'
#!/bin/sh
# serve PORT [nohealth]: the test service. Its health file is written at every start.
port=${1:?port}
mkdir -p /www
if [ "${2:-}" = nohealth ]; then rm -f /www/health; else echo ok > /www/health; fi
exec httpd -f -p "127.0.0.1:$port" -h /www
SH
  chmod 755 "$root/bin/serve"
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  local host
  for host in "$DOCKER_HOST" ${HEALWATCH_SECOND_DOCKER_HOST:+"$HEALWATCH_SECOND_DOCKER_HOST"}; do
    tar -C "$root" -c . | DOCKER_HOST=$host timeout 60 docker import - "$HEALWATCH_TEST_IMAGE" >/dev/null
    engine_log "built $HEALWATCH_TEST_IMAGE on $host"
  done
  rm -rf "$root"
}
