# shellcheck shell=bash
# Prometheus, node_exporter and Alertmanager for the end-to-end alerting tests, taken
# from Debian's packages without installing them (installing would start system
# services listening on every interface): `monitoring_ensure` unpacks each into
# target/tools/ and exports HEALWATCH_PROMETHEUS, HEALWATCH_NODE_EXPORTER and
# HEALWATCH_ALERTMANAGER. The tests start each in the foreground on 127.0.0.1 with its
# own data directory, and stop it.

# monitoring_unpack PACKAGE: Debian's PACKAGE unpacked into target/tools/PACKAGE.
monitoring_unpack() {
  local cache="${HEALWATCH_TOOLS_DIR:-$PWD/target/tools}" dl
  if [ ! -d "$cache/$1/usr/bin" ]; then
    echo "monitoring: fetching Debian's $1 package" >&2
    dl=$(mktemp -d)
    (cd "$dl" && timeout 300 apt-get download -q "$1" >/dev/null 2>&1) \
      || { timeout 300 apt-get update -q >/dev/null && (cd "$dl" && timeout 300 apt-get download -q "$1" >/dev/null); } \
      || { echo "monitoring: could not download $1" >&2; rm -rf "$dl"; return 1; }
    mkdir -p "$cache/$1"
    dpkg-deb -x "$dl/$1"_*.deb "$cache/$1"
    rm -rf "$dl"
  fi
}

monitoring_ensure() {
  local cache="${HEALWATCH_TOOLS_DIR:-$PWD/target/tools}"
  monitoring_unpack prometheus
  monitoring_unpack prometheus-node-exporter
  monitoring_unpack prometheus-alertmanager
  export HEALWATCH_PROMETHEUS="$cache/prometheus/usr/bin/prometheus"
  export HEALWATCH_NODE_EXPORTER="$cache/prometheus-node-exporter/usr/bin/prometheus-node-exporter"
  # Debian's Alertmanager reads its default template from /usr/share/prometheus/
  # alertmanager, which only installing the package would create: its wrapper lays the
  # unpacked package's /usr/share over the host's in a private mount namespace (the
  # host's /usr/share is untouched; needs root, as the engine does).
  local share="$cache/prometheus-alertmanager/usr/share" am="$cache/prometheus-alertmanager/usr/bin/prometheus-alertmanager"
  cat >"$cache/alertmanager" <<WRAPPER
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount -t overlay overlay -o lowerdir=$share:/usr/share /usr/share && exec "\$0" "\$@"' $am "\$@"
WRAPPER
  chmod 755 "$cache/alertmanager"
  export HEALWATCH_ALERTMANAGER="$cache/alertmanager"
  "$HEALWATCH_PROMETHEUS" --version 2>&1 | head -1 >&2
}
