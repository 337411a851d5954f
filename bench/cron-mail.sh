#!/usr/bin/env bash
# What an operator's inbox gets from healwatch under Debian's real cron: the .deb and
# Debian's `cron` installed in a Debian 13 root filesystem (debootstrap, cached as for
# scripts/package-test.sh), crontab.example's line as written in root's crontab, cron
# run in the foreground in that chroot, and its mail captured by a sendmail stand-in.
# Against a private engine (scripts/engine.sh): one service whose endpoint breaks, one
# that is paused, one crash loop (restart: unless-stopped), one that breaks during a
# maintenance pause. Counts the mails and prints each one's subject and body; the claim
# is one mail per change and none else. Needs root; MINUTES (default 20) long.
#   bash bench/cron-mail.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-20}
[ "$minutes" -ge 12 ] || { echo "cron-mail: at least 12 minutes (the scenario takes 10)" >&2; exit 2; }
say() { echo "cron-mail: $(date -u +%T) $*" >&2; }

# shellcheck source=scripts/engine.sh
source scripts/engine.sh
engine_packages
engine_start
engine_image
work=$(mktemp -d /tmp/healwatch-cron-mail.XXXXXX)
root="$work/trixie"
cron_pid=
mounted=()
finish() {
  [ -n "$cron_pid" ] && kill "$cron_pid" 2>/dev/null || true
  [ -n "$cron_pid" ] && wait "$cron_pid" 2>/dev/null || true
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  engine_stop
}
trap finish EXIT

[ -f dist/healwatch_*_amd64.deb ] 2>/dev/null || bash scripts/package.sh
deb=$(ls dist/healwatch_*_amd64.deb | head -1)
cache=${HEALWATCH_ROOTFS_CACHE:-$PWD/target/rootfs}
if [ ! -f "$cache/trixie/.healwatch-complete" ]; then
  say "debootstrap trixie (once; cached in $cache)"
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q debootstrap >/dev/null
  mkdir -p "$cache"
  rm -rf "$cache/trixie.partial"
  timeout 1800 debootstrap --variant=minbase trixie "$cache/trixie.partial" \
    "${HEALWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1
  touch "$cache/trixie.partial/.healwatch-complete"
  mv "$cache/trixie.partial" "$cache/trixie"
fi
cp -a "$cache/trixie" "$root"
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
# The engine's socket at the same path inside, and its docker CLI.
sock_dir=${DOCKER_HOST#unix://}; sock_dir=$(dirname "$sock_dir")
mkdir -p "$root$sock_dir"
mount --bind "$sock_dir" "$root$sock_dir"; mounted=("$root$sock_dir" "${mounted[@]}")
cp "$(command -v docker)" "$root/usr/bin/docker"
in_root() { timeout 600 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

say "installing cron and the .deb in the chroot (no service is started)"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/healwatch.deb"
{ in_root apt-get update -q && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cron /tmp/healwatch.deb; } \
  >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
# The inbox: every mail cron sends, one file each.
mkdir -p "$root/var/mail-captured"
printf '#!/bin/sh\ncat >"/var/mail-captured/$(date +%%s.%%N)"\n' >"$root/usr/sbin/sendmail"
chmod 755 "$root/usr/sbin/sendmail"

# Four services on the private engine.
image=$HEALWATCH_TEST_IMAGE
# A port for a service, never the one another service got (scripts/port.py says why).
port() { python3 scripts/port.py "$work/.last-port"; }
declare -A ports
for name in web frozen maint; do
  ports[$name]=$(port)
  docker run -d --init --name "$name" --network host "$image" /bin/serve "${ports[$name]}" >/dev/null
done
ports[looper]=$(port)
docker run -d --name looper --network host --restart unless-stopped "$image" sh -c 'sleep 1; exit 1' >/dev/null
{
  for name in web frozen maint looper; do
    printf '[[target]]\nname = "%s"\nurl = "http://127.0.0.1:%s/health"\n' "$name" "${ports[$name]}"
  done
} >"$root/etc/healwatch/healwatch.toml"

# Root's crontab: crontab.example's line as written, with where the engine and the mail go.
{
  echo "MAILTO=root"
  echo "DOCKER_HOST=$DOCKER_HOST"
  grep -v '^#' "$root/usr/share/doc/healwatch/crontab.example" | grep -v '^$'
} >"$work/crontab"
cp "$work/crontab" "$root/tmp/crontab"
in_root crontab -u root /tmp/crontab
say "crontab: $(grep -E '^[*0-9]' "$work/crontab")"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/cron -f -L 0 &
cron_pid=$!
start=$(date +%s)
at() { # at SECONDS: sleep until then (bounded by the run's length)
  local left=$(( start + $1 - $(date +%s) ))
  [ "$left" -le 0 ] || sleep "$left"
}
at 150; say "web: its endpoint breaks"; docker exec web rm /www/health
at 390; say "frozen: docker pause"; docker pause frozen >/dev/null
at 510; say "maint: healwatch pause maint --for 6m"
in_root healwatch pause maint --for 6m >&2
at 540; say "maint: its endpoint breaks during the pause"; docker exec maint rm /www/health
at $(( minutes * 60 )); say "done after $minutes minutes"
kill "$cron_pid" 2>/dev/null || true; wait "$cron_pid" 2>/dev/null || true; cron_pid=

runs=$(wc -l <"$root/var/log/healwatch/healwatch.jsonl" 2>/dev/null || echo 0)
mails=("$root"/var/mail-captured/*)
[ -e "${mails[0]}" ] || mails=()
echo "## healwatch under Debian's cron: $minutes minutes, $runs passes, ${#mails[@]} mails"
echo
for m in "${mails[@]}"; do
  echo "### $(date -u -d "@$(basename "$m" | cut -d. -f1)" +%T) $(grep -m1 '^Subject:' "$m")"
  echo
  sed '1,/^$/d' "$m" | sed 's/^/    /'
  echo
done
echo "### what each pass found (outcomes, from --log)"
echo
python3 - "$root/var/log/healwatch/healwatch.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    l = json.loads(line)
    outcomes = " ".join(f"{t['name']}={t['outcome']}" for t in l.get("targets", []))
    print(f"    {l['time'][11:19]} changed={','.join(l.get('changed', [])) or '-':20} {outcomes}")
PY
