# shellcheck shell=bash
# Private Podman services for the tests, beside the private Docker engines of engine.sh
# (source that first, and call engine_start). Source this file, then:
#   podman_packages   install Debian's podman (and netavark, uidmap, catatonit) when
#                     missing, with a policy-rc.d so no system service starts
#   podman_start      rootful: `podman system service` on a socket of its own, with its
#                     own --root, --runroot and containers.conf (HEALWATCH_PODMAN_HOST)
#   podman_start_rootless  the same as an unprivileged user made here (HEALWATCH_PODMAN_USER),
#                     its socket HEALWATCH_PODMAN_USER_HOST, its XDG_RUNTIME_DIR
#                     HEALWATCH_PODMAN_USER_RUNTIME
# Each socket is DIR/docker.sock under ENGINE_DIR, so engine_image imports the test image
# into each, and engine_stop removes their containers and stops them (podman_stop) with
# the engines. Containers run with --network host only; nothing is pulled. This host's
# kernel may offer only cgroup v1: the services use runc (crun refuses hybrid cgroups)
# and cgroupfs, and rootless Podman then cannot pause (it has no cgroup to freeze).

HEALWATCH_PODMAN_USER=${HEALWATCH_PODMAN_USER:-healwatch-podman}
PODMAN_CREATED_USER=

podman_log() { echo "podman: $*" >&2; }

podman_packages() {
  local missing=() p
  for p in podman netavark uidmap catatonit; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  podman_log "installing ${missing[*]} (no system service is started)"
  apt_install --no-recommends "${missing[@]}"
}

# podman_config DIR: a containers.conf for a service whose files are all under DIR.
podman_config() {
  local dir=$1 nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
  cat >"$dir/containers.conf" <<EOF
[containers]
netns = "host"
log_driver = "k8s-file"
# Podman's defaults raise the open-files and process limits past what this host may give.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
runtime = "runc"
tmp_dir = "$dir/tmp"
volume_path = "$dir/volumes"
EOF
}

# podman_serve DIR [runuser -u USER --]: starts the service on DIR/docker.sock and waits
# for it to answer (at most 30 s).
podman_serve() {
  local dir=$1 pid
  shift
  # Short names never go to a registry, docker.io is blocked, and any other pull meets a
  # proxy that is not there (as the engines' in engine_boot): nothing leaves this host.
  cat >"$dir/registries.conf" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
[[registry]]
location = "docker.io"
blocked = true
EOF
  local env=(env "HOME=$dir/home" "XDG_RUNTIME_DIR=$dir/xdg" "CONTAINERS_CONF=$dir/containers.conf"
    "CONTAINERS_REGISTRIES_CONF=$dir/registries.conf" "HTTP_PROXY=$ENGINE_NO_PROXY" "HTTPS_PROXY=$ENGINE_NO_PROXY")
  "$@" "${env[@]}" podman --root "$dir/root" --runroot "$dir/run" --storage-driver "$PODMAN_DRIVER" \
    system service --time=0 "unix://$dir/docker.sock" >"$dir/service.log" 2>&1 &
  pid=$!
  ENGINE_PIDS+=("$pid")
  engine_answers "unix://$dir/docker.sock" "$pid" "$dir/service.log" "podman system service"
}

podman_start() {
  local dir="$ENGINE_DIR/podman"
  mkdir -p "$dir/home" "$dir/xdg" "$dir/tmp"
  chmod 700 "$dir/xdg"
  podman_config "$dir"
  PODMAN_DRIVER=overlay podman_serve "$dir"
  # As Debian's podman.socket unit makes /run/podman/podman.sock (SocketMode=0660).
  chmod 0660 "$dir/docker.sock"
  export HEALWATCH_PODMAN_HOST="unix://$dir/docker.sock"
}

podman_start_rootless() {
  local dir="$ENGINE_DIR/podman-user" user=$HEALWATCH_PODMAN_USER
  # The user is the tests' own (one a killed run left behind is taken over), and goes
  # again with the engines.
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  PODMAN_CREATED_USER=$user
  # Its own range of subordinate ids, far above the usual ones.
  grep -q "^$user:" /etc/subuid 2>/dev/null || echo "$user:3000000:65536" >>/etc/subuid
  grep -q "^$user:" /etc/subgid 2>/dev/null || echo "$user:3000000:65536" >>/etc/subgid
  # The user reaches its folder (and nothing else) under the engines' one.
  chmod 711 "$ENGINE_DIR"
  mkdir -p "$dir/home" "$dir/xdg" "$dir/tmp"
  podman_config "$dir"
  chown -R "$user:" "$dir"
  chmod 700 "$dir" "$dir/xdg"
  # vfs: overlay inside a user namespace is not offered on every kernel and filesystem.
  PODMAN_DRIVER=vfs podman_serve "$dir" runuser -u "$user" --
  export HEALWATCH_PODMAN_USER="$user"
  export HEALWATCH_PODMAN_USER_HOST="unix://$dir/docker.sock" HEALWATCH_PODMAN_USER_RUNTIME="$dir/xdg"
}

# Called by engine_stop once the containers are removed and the services stopped: what
# Podman leaves running (conmon of exec sessions, a rootless user's pause process), and
# the user made here.
podman_stop() {
  [ -n "${ENGINE_DIR:-}" ] || return 0
  pkill -KILL -f "conmon .*$ENGINE_DIR/podman" 2>/dev/null || true
  if id "$HEALWATCH_PODMAN_USER" >/dev/null 2>&1; then
    pkill -KILL -u "$HEALWATCH_PODMAN_USER" 2>/dev/null || true
  fi
  if [ -n "$PODMAN_CREATED_USER" ]; then
    userdel "$PODMAN_CREATED_USER" 2>/dev/null || true
    sed -i "/^$PODMAN_CREATED_USER:/d" /etc/subuid /etc/subgid
    PODMAN_CREATED_USER=
  fi
}
