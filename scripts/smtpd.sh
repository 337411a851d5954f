#!/usr/bin/env bash
# Sourced by scripts/test.sh: aiosmtpd from PyPI, the SMTP server the SMTP notification
# test starts on 127.0.0.1 (tests/smtpd.py), cached in target/aiosmtpd/. Exports
# HEALWATCH_SMTPD_PYTHON, a python3 that imports it.
smtpd_ensure() {
  local dir=${HEALWATCH_SMTPD_CACHE:-$PWD/target/aiosmtpd}
  mkdir -p "$dir"
  if [ ! -d "$dir/lib/aiosmtpd" ]; then
    timeout 300 python3 -m pip install -q --target "$dir/lib" aiosmtpd==1.4.6 >/dev/null
  fi
  printf '#!/bin/sh\nPYTHONPATH=%s exec python3 "$@"\n' "$dir/lib" >"$dir/python"
  chmod 755 "$dir/python"
  export HEALWATCH_SMTPD_PYTHON="$dir/python"
}
