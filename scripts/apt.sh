# shellcheck shell=bash
# Debian packages for the tests and benches, installed without starting any service they
# ship. Source this file, then:
#   apt_install [--no-recommends] PKG...   apt-get install (with one `apt-get update` and
#                     a retry when the first try fails), under a policy-rc.d that says no
#                     to every service start where the machine has none of its own
#                     (its own is left as it is); as root, or through sudo

apt_install() {
  local recommends=() sudo=() policy= status=0
  if [ "${1:-}" = --no-recommends ]; then
    recommends=(--no-install-recommends)
    shift
  fi
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
  fi
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${recommends[@]}" "$@")
  "${install[@]}" >/dev/null \
    || { "${sudo[@]}" timeout 300 apt-get update -q >/dev/null && "${install[@]}" >/dev/null; } \
    || status=$?
  [ -z "$policy" ] || "${sudo[@]}" rm -f "$policy"
  return "$status"
}
