# shellcheck shell=bash
# A private, bridge-less Docker engine for tests and demos. Source this file, then:
#   engine_packages   install docker.io and busybox-static when missing
#   engine_start      start dockerd on a private socket; exports DOCKER_HOST; stops on exit
#   engine_start_second  a second engine (HEALWATCH_SECOND_DOCKER_HOST), for multi-host tests,
#                     also on 127.0.0.1 over mutual TLS (HEALWATCH_TLS_DOCKER_HOST, HEALWATCH_TLS_DIR)
#   engine_start_ssh  a third engine, reached over ssh: an sshd of its own on 127.0.0.1
#                     with a key made here (HEALWATCH_SSH_DOCKER_HOST, HEALWATCH_SSH_BIN)
#   engine_start_swarm  an engine of its own as a one-node swarm on 127.0.0.1
#                     (HEALWATCH_SWARM_DOCKER_HOST), left again by engine_stop
#   engine_image      build the busybox test image (healwatch-test:latest) with docker import
#                     on every engine started
# Every container runs with --network host and listens on 127.0.0.1: the daemon is started
# with --bridge=none --iptables=false --ip-masq=false, so it creates no network at all.

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

HEALWATCH_TEST_IMAGE=${HEALWATCH_TEST_IMAGE:-healwatch-test:latest}
export HEALWATCH_TEST_IMAGE
# Port 9 (discard) on loopback, where nothing listens: the engines' proxy (engine_boot).
ENGINE_NO_PROXY=http://127.0.0.1:9

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

# A second private engine, for tests of one pass across several hosts. Besides its socket
# it listens on 127.0.0.1 with mutual TLS, as remote engines are reached over tcp://, with
# a CA, server and client certificates made here (valid for two days). Exports
# HEALWATCH_SECOND_DOCKER_HOST, HEALWATCH_TLS_DOCKER_HOST (tcp://127.0.0.1:PORT) and
# HEALWATCH_TLS_DIR (the client's ca.pem, cert.pem and key.pem); engine_stop stops it too.
engine_start_second() {
  local d="$ENGINE_DIR/tls" port
  command -v openssl >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q openssl >/dev/null
  mkdir -p "$d"
  chmod 700 "$d"
  (
    cd "$d"
    local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${key[@]}" -days 2 -subj /CN=healwatch-test-ca -keyout ca-key.pem -out ca.pem
    openssl req "${key[@]}" -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem
    openssl req "${key[@]}" -subj /CN=healwatch-test-client -keyout key.pem -out client.csr
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem
  ) 2>"$d/openssl.log" || { engine_log "making TLS certificates failed:"; cat "$d/openssl.log" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  engine_boot "$ENGINE_DIR/two" -H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$d/ca.pem" \
    --tlscert "$d/server-cert.pem" --tlskey "$d/server-key.pem"
  export HEALWATCH_SECOND_DOCKER_HOST="unix://$ENGINE_DIR/two/docker.sock"
  export HEALWATCH_TLS_DOCKER_HOST="tcp://127.0.0.1:$port" HEALWATCH_TLS_DIR="$d"
  if ! timeout 10 docker -H "$HEALWATCH_TLS_DOCKER_HOST" --tlsverify --tlscacert "$d/ca.pem" --tlscert "$d/cert.pem" \
    --tlskey "$d/key.pem" version --format '{{.Server.Version}}' >/dev/null; then
    engine_log "the second engine does not answer over TLS on $HEALWATCH_TLS_DOCKER_HOST"
    return 1
  fi
  engine_log "the second engine answers over mutual TLS on $HEALWATCH_TLS_DOCKER_HOST"
}

# A third private engine behind a private sshd, as remote engines are reached: Debian's
# openssh-server with its own config, on 127.0.0.1 only, key authentication with keys
# made here, and the session's DOCKER_HOST set (SetEnv) to the third engine's socket, so
# `docker -H ssh://root@127.0.0.1:PORT` runs `docker system dial-stdio` against it, never
# the system daemon. The client side never reads ~/.ssh (ssh takes it from the password
# file, not $HOME): HEALWATCH_SSH_BIN is a directory with an `ssh` that runs the real one
# with -F and this client config (the key, a known_hosts with the host key). Put it first
# on PATH. The host is an IP literal, so nothing is ever looked up. Exports
# HEALWATCH_SSH_DOCKER_HOST, HEALWATCH_SSH_BIN, and the engine's own socket
# HEALWATCH_SSH_ENGINE_HOST. engine_stop stops the sshd with the engines.
engine_start_ssh() {
  local d="$ENGINE_DIR/sshd" port pid i
  if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
    engine_log "installing openssh-server and openssh-client (the system's ssh service is not started)"
    # The package would start the system sshd on every address: apt_install's
    # policy-rc.d says no, and the service is never enabled here.
    apt_install openssh-server openssh-client || return
  fi
  if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE '(^|:)22$'; then
    engine_log "something listens on port 22 (a system sshd?): not this script's; stop it, it is not needed"
  fi
  engine_boot "$ENGINE_DIR/three"
  export HEALWATCH_SSH_ENGINE_HOST="unix://$ENGINE_DIR/three/docker.sock"
  mkdir -p "$d" /run/sshd
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -C healwatch-test-host -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -C healwatch-test-client -f "$d/client_key"
  cp "$d/client_key.pub" "$d/authorized_keys"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
MaxStartups 200:30:400
MaxSessions 200
SetEnv DOCKER_HOST=$HEALWATCH_SSH_ENGINE_HOST SHLVL=1
EOF
  # SHLVL=1 above: bash sources ~/.bashrc for an ssh command only at shell level 1, and
  # this machine's root .bashrc (pyenv) costs 100 ms per command. A real host's account
  # pays its own rc files on every ssh command in the same way (see README, Several hosts).
  /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
  pid=$!
  ENGINE_PIDS+=("$pid")
  echo "[127.0.0.1]:$port $(cat "$d/host_key.pub")" >"$d/known_hosts"
  cat >"$d/client_config" <<EOF
Host 127.0.0.1
  IdentityFile $d/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
  mkdir -p "$d/bin"
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$d/client_config" >"$d/bin/ssh"
  chmod 755 "$d/bin/ssh"
  export HEALWATCH_SSH_BIN="$d/bin" HEALWATCH_SSH_DOCKER_HOST="ssh://root@127.0.0.1:$port"
  for i in $(seq 1 50); do # at most 10 s
    if timeout 10 "$d/bin/ssh" -p "$port" root@127.0.0.1 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      engine_log "sshd $pid on 127.0.0.1:$port reaches $HEALWATCH_SSH_ENGINE_HOST"
      return 0
    fi
    sleep 0.2
  done
  engine_log "sshd did not let docker through; its log:"
  tail -20 "$d/sshd.log" >&2
  return 1
}

# engine_start_more N: engines e2..eN beside the first, for the fleet benchmark; their
# hosts are unix://$ENGINE_DIR/eK/docker.sock. engine_stop stops them too.
# A one-node Docker Swarm on an engine of its own: advertising and listening on
# 127.0.0.1 only (its gossip port, 7946, too), for the global-service test. The daemon
# runs tasks from images it has (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE), never pulling.
# Exports HEALWATCH_SWARM_DOCKER_HOST; engine_stop leaves the swarm before stopping it.
engine_start_swarm() {
  local dir="$ENGINE_DIR/swarm" port
  DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 engine_boot "$dir"
  port=$(python3 scripts/port.py "$ENGINE_DIR/.last-port")
  DOCKER_HOST="unix://$dir/docker.sock" timeout 60 docker swarm init \
    --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$port" >/dev/null
  export HEALWATCH_SWARM_DOCKER_HOST="unix://$dir/docker.sock"
  engine_log "a one-node swarm on $HEALWATCH_SWARM_DOCKER_HOST, listening on 127.0.0.1:$port"
}

engine_start_more() {
  local k
  for k in $(seq 2 "$1"); do engine_boot "$ENGINE_DIR/e$k"; done
}

# engine_boot DIR [DOCKERD ARGS...]: one dockerd with its state, socket and pidfile under
# DIR (and the extra arguments given).
engine_boot() {
  local dir=$1 host="unix://$1/docker.sock" pid i
  shift
  mkdir -p "$dir"
  # A proxy that is not there: were an image ever missing, the daemon's pull would fail
  # here, on 127.0.0.1, instead of looking up and calling a registry.
  HTTP_PROXY=$ENGINE_NO_PROXY HTTPS_PROXY=$ENGINE_NO_PROXY NO_PROXY= \
    dockerd --bridge=none --iptables=false --ip-masq=false \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "$host" --pidfile "$dir/dockerd.pid" "$@" \
    >"$dir/dockerd.log" 2>&1 &
  pid=$!
  ENGINE_PIDS+=("$pid")
  engine_answers "$host" "$pid" "$dir/dockerd.log" dockerd
}

# engine_answers HOST PID LOG WHAT: waits (at most 30 s) until the engine at HOST, served
# by process PID, answers; past that, or when PID ends, prints the end of its LOG.
engine_answers() {
  local host=$1 pid=$2 log=$3 what=$4 i
  for i in $(seq 1 150); do
    if DOCKER_HOST=$host timeout 5 docker info >/dev/null 2>&1; then
      engine_log "$what $pid ready on $host after ${i}x0.2s"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  engine_log "$what did not answer on $host; its log:"
  tail -20 "$log" >&2
  return 1
}

engine_stop() {
  local status=$?
  [ -n "${ENGINE_DIR:-}" ] || return "$status"
  local dir pid i ids
  for dir in "$ENGINE_DIR"/*/; do
    dir=${dir%/}
    [ -S "$dir/docker.sock" ] || continue
    # A swarm's services go first (their tasks would come back), then the swarm itself.
    if [ "$(DOCKER_HOST="unix://$dir/docker.sock" timeout 10 docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; then
      ids=$(DOCKER_HOST="unix://$dir/docker.sock" timeout 10 docker service ls -q 2>/dev/null || true)
      # shellcheck disable=SC2086
      [ -z "$ids" ] || DOCKER_HOST="unix://$dir/docker.sock" timeout 30 docker service rm $ids >/dev/null 2>&1 || true
      DOCKER_HOST="unix://$dir/docker.sock" timeout 60 docker swarm leave --force >/dev/null 2>&1 || true
    fi
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
  # What Podman's services leave behind (scripts/podman.sh), when they were started.
  if declare -F podman_stop >/dev/null; then podman_stop; fi
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
  # mktemp makes it 0700: the image's / must let any user through.
  chmod 755 "$root"
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
  local socket host
  for socket in "$ENGINE_DIR"/*/docker.sock; do
    host="unix://$socket"
    tar -C "$root" -c . | DOCKER_HOST=$host timeout 60 docker import - "$HEALWATCH_TEST_IMAGE" >/dev/null
    engine_log "built $HEALWATCH_TEST_IMAGE on $host"
  done
  rm -rf "$root"
}
