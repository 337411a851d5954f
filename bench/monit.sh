# shellcheck shell=bash
# Monit for the benches, as Debian ships it: installed without starting the system
# service (policy-rc.d says no during the install, and the service is stopped and
# disabled if the package started it anyway), run in the foreground (`monit -I`) with
# its own control file, state and log under a directory of the caller's.
#   monit_install             apt-get install monit, services left stopped
#   monit_config DIR SOCK     start DIR/monitrc: a 1 s cycle, no HTTP interface
#   monit_http NAME PORT      a check of http://127.0.0.1:PORT/health that restarts NAME
#   monit_run DIR             monit -I in the background; its PID in MONIT_PID

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/apt.sh"

monit_install() {
  command -v monit >/dev/null 2>&1 && return 0
  local installed=0
  apt_install monit || installed=$?
  # Where policy-rc.d was the machine's own, make sure no system monit was left running.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now monit >/dev/null 2>&1 || true
  fi
  return "$installed"
}

# monit_config DIR SOCK: the control file's head; checks are appended by monit_http.
monit_config() {
  local dir=$1 sock=$2
  mkdir -p "$dir"
  MONIT_SOCK=$sock
  cat >"$dir/monitrc" <<CONF
set daemon 1
set logfile $dir/monit.log
set pidfile $dir/monit.pid
set idfile $dir/monit.id
set statefile $dir/monit.state
set limits { programTimeout: 30 seconds }
CONF
  chmod 600 "$dir/monitrc"
}

# monit_http DIR NAME PORT: the check people write for a container's health endpoint.
monit_http() {
  local dir=$1 name=$2 port=$3
  cat >>"$dir/monitrc" <<CONF
check host $name with address 127.0.0.1
  if failed port $port protocol http request "/health" with timeout 2 seconds
    then exec "$(command -v docker) -H unix://$MONIT_SOCK restart $name"
CONF
}

monit_run() {
  local dir=$1
  monit -t -c "$dir/monitrc" >/dev/null
  monit -I -c "$dir/monitrc" >>"$dir/monit.out" 2>&1 &
  MONIT_PID=$!
}
