# shellcheck shell=bash
# promtool for the tests. Source this file, then `promtool_ensure` exports HEALWATCH_PROMTOOL.
# Uses promtool from PATH when there is one; otherwise takes it from Debian's `prometheus`
# package without installing that package: installing it would start a Prometheus server
# listening on every interface, which these machines must not do.

promtool_ensure() {
  if command -v promtool >/dev/null 2>&1; then
    HEALWATCH_PROMTOOL=$(command -v promtool)
  else
    local cache="${HEALWATCH_TOOLS_DIR:-$PWD/target/tools}"
    HEALWATCH_PROMTOOL="$cache/prometheus/usr/bin/promtool"
    if [ ! -x "$HEALWATCH_PROMTOOL" ]; then
      echo "promtool: fetching Debian's prometheus package to take promtool from it" >&2
      local dl
      dl=$(mktemp -d)
      (cd "$dl" && timeout 300 apt-get download -q prometheus >/dev/null 2>&1) \
        || { timeout 300 apt-get update -q >/dev/null && (cd "$dl" && timeout 300 apt-get download -q prometheus >/dev/null); } \
        || { echo "promtool: could not download the prometheus package" >&2; rm -rf "$dl"; return 1; }
      mkdir -p "$cache/prometheus"
      dpkg-deb -x "$dl"/prometheus_*.deb "$cache/prometheus"
      rm -rf "$dl"
    fi
  fi
  export HEALWATCH_PROMTOOL
  "$HEALWATCH_PROMTOOL" --version | head -1 >&2
}
