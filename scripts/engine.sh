# shellcheck shell=bash
# A private, bridge-less Docker engine for tests and demos. Source this file, then:
#   engine_packages   install docker.io and busybox-static when missing
#   engine_start      start dockerd on a private socket; exports DOCKER_HOST; stops on exit
#   engine_image      build the busybox test image (healwatch-test:latest) with docker import
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
  export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
  unset DOCKER_CONTEXT
  trap engine_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  dockerd --bridge=none --iptables=false --ip-masq=false \
    --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
    -H "$DOCKER_HOST" --pidfile "$ENGINE_DIR/dockerd.pid" \
    >"$ENGINE_DIR/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  local i
  for i in $(seq 1 150); do # at most 30 s
    if timeout 5 docker info >/dev/null 2>&1; then
      engine_log "dockerd $ENGINE_PID ready on $DOCKER_HOST after ${i}x0.2s"
      return 0
    fi
    kill -0 "$ENGINE_PID" 2>/dev/null || break
    sleep 0.2
  done
  engine_log "dockerd did not answer; its log:"
  tail -20 "$ENGINE_DIR/dockerd.log" >&2
  return 1
}

engine_stop() {
  local status=$?
  [ -n "${ENGINE_DIR:-}" ] || return "$status"
  if [ -n "${ENGINE_PID:-}" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    local ids
    ids=$(timeout 10 docker ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 30 docker rm -f $ids >/dev/null 2>&1 || true
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do # at most 20 s, then SIGKILL
      kill -0 "$ENGINE_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
  fi
  # Leftover mounts under the data root would make rm fail; unmount them first.
  grep -o " $ENGINE_DIR[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$ENGINE_DIR" 2>/dev/null || true
  engine_log "stopped dockerd and removed $ENGINE_DIR"
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
  tar -C "$root" -c . | timeout 60 docker import - "$HEALWATCH_TEST_IMAGE" >/dev/null
  rm -rf "$root"
  engine_log "built $HEALWATCH_TEST_IMAGE"
}
