#!/usr/bin/env bash
# Checks the .deb (scripts/package.sh builds it): lintian clean, no Depends and no
# Recommends (healwatch speaks the Engine API itself: nothing may pull in an engine), a
# docker CLI only suggested, md5sums, a Debian changelog at this version. Then installs it in
# minimal Debian 11 (bullseye) and Debian 13 (trixie) root filesystems made with
# debootstrap, and in each, by chroot: `healwatch --version`, the man page, `healwatch
# validate` on the shipped config, a real pass against an HTTP server on 127.0.0.1,
# crontab.example's line as written, `dpkg --verify`, the shipped /etc/cron.d/healwatch
# (a conffile, off until turned on by the command it gives, then run as cron would run it);
# then remove (the cron line, kept, must say nothing) and purge, which must leave
# nothing but the documented state directory (not the timer's enable link either). The root filesystems are cached in
# target/rootfs/ (or $HEALWATCH_ROOTFS_CACHE), so reruns take seconds. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
cache=${HEALWATCH_ROOTFS_CACHE:-$PWD/target/rootfs}
mirror=${HEALWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suites=(bullseye trixie)
say() { echo "package-test: $*" >&2; }

# --no-build: check what dist/ holds (after a scripts/package.sh of this commit).
[ "${1:-}" = --no-build ] || bash scripts/package.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb="$PWD/dist/healwatch_${version}-1_amd64.deb"
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q debootstrap >/dev/null \
    || { timeout 300 apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q debootstrap >/dev/null; }
fi

# lintian: clean, every remaining tag overridden with its reason in packaging/lintian/.
if ! command -v lintian >/dev/null 2>&1; then
  say "installing lintian"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q lintian >/dev/null \
    || { timeout 300 apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q lintian >/dev/null; }
fi
# Each architecture's .deb: the same checks, the same files and conffiles as amd64's.
contents() { dpkg-deb --fsys-tarfile "$1" | tar -t | LC_ALL=C sort; }
for arch in amd64 arm64 armhf; do
  one="$PWD/dist/healwatch_${version}-1_${arch}.deb"
  timeout 600 lintian --fail-on error,warning "$one" 2> >(grep -v 'root privileges' >&2) \
    || { say "$arch: lintian is not clean (above)"; exit 1; }
  say "$arch: lintian clean"
  field() { dpkg-deb -f "$one" "$1"; }
  [ "$(field Architecture)" = "$arch" ] || { say "$arch: Architecture is '$(field Architecture)'"; exit 1; }
  [ -z "$(field Recommends)" ] || { say "Recommends is '$(field Recommends)': it may install an engine"; exit 1; }
  [ "$(field Suggests)" = "docker-ce-cli | docker-cli" ] || { say "Suggests is '$(field Suggests)'"; exit 1; }
  [ -z "$(field Depends)" ] || { say "a static binary depends on '$(field Depends)'"; exit 1; }
  # Read whole before matching: `grep -q` leaving early would make the writer die of
  # SIGPIPE, which pipefail reports as a failure (it did, now and then).
  control=$(dpkg-deb --ctrl-tarfile "$one" | tar -t)
  grep -qx './md5sums' <<<"$control" || { say "$arch: no md5sums"; exit 1; }
  changelog=$(dpkg-deb --fsys-tarfile "$one" | tar -xO ./usr/share/doc/healwatch/changelog.Debian.gz | gzip -dc)
  grep -q "^healwatch (${version}-1) " <<<"${changelog%%$'\n'*}" \
    || { say "$arch: the Debian changelog does not start at ${version}-1"; exit 1; }
  [ "$(contents "$one")" = "$(contents "$deb")" ] || { say "$arch: its files are not amd64's"; exit 1; }
  [ "$(dpkg-deb -I "$one" conffiles)" = "$(dpkg-deb -I "$deb" conffiles)" ] \
    || { say "$arch: its conffiles are not amd64's"; exit 1; }
done

work=$(mktemp -d /tmp/healwatch-package-test.XXXXXX)
server_pid=
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A health endpoint on the host's loopback, which a chroot shares.
python3 - "$work/port" <<'PY' &
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
threading.Timer(900, s.shutdown).start()  # never outlives the test by much
s.serve_forever()
PY
server_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")

in_root() { timeout 300 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

for suite in "${suites[@]}"; do
  base="$cache/$suite"
  if [ ! -f "$base/.healwatch-complete" ]; then
    say "debootstrap $suite (once; cached in $base)"
    rm -rf "$base.partial"
    mkdir -p "$cache"
    timeout 1800 debootstrap --variant=minbase "$suite" "$base.partial" "$mirror" >"$work/debootstrap-$suite.log" 2>&1 \
      || { tail -20 "$work/debootstrap-$suite.log" >&2; exit 1; }
    touch "$base.partial/.healwatch-complete"
    rm -rf "$base"
    mv "$base.partial" "$base"
  fi
  root="$work/$suite"
  cp -a "$base" "$root"
  mount -t proc proc "$root/proc"
  mounted+=("$root/proc")
  cp "$deb" "$root/tmp/healwatch.deb"

  say "$suite: apt install"
  in_root apt-get install -y -q --no-install-recommends /tmp/healwatch.deb >"$work/apt-$suite.log" 2>&1 \
    || { cat "$work/apt-$suite.log" >&2; exit 1; }
  in_root healwatch --version | grep -q "^commit: " || { say "$suite: --version lacks the commit"; exit 1; }
  in_root healwatch version >&2
  test -s "$root/usr/share/man/man1/healwatch.1.gz" && test -s "$root/usr/share/man/man1/healwatch-drill.1.gz" \
    && test -s "$root/usr/share/man/man5/healwatch.toml.5.gz" \
    || { say "$suite: man pages missing"; exit 1; }
  if [ -x "$root/usr/bin/man" ]; then in_root man healwatch >/dev/null; fi
  test -s "$root/usr/share/bash-completion/completions/healwatch" || { say "$suite: no bash completion"; exit 1; }
  test -d "$root/var/lib/healwatch" || { say "$suite: no state directory"; exit 1; }
  # The shipped config parses and names nothing: validate says so and, as a pass would,
  # refuses to watch nothing (exit 2).
  code=0; in_root healwatch validate --offline >"$work/validate" 2>"$work/validate.err" || code=$?
  cat "$work/validate" "$work/validate.err" >&2
  [ "$code" = 2 ] && grep -q "^0 target(s) valid" "$work/validate" && grep -q "no targets" "$work/validate.err" \
    || { say "$suite: the shipped config is not an empty, valid one (validate exit $code)"; exit 1; }
  in_root healwatch -n -t "web=http://127.0.0.1:$port/" >"$work/pass" \
    || { say "$suite: the pass failed"; cat "$work/pass" >&2; exit 1; }
  grep -q '"outcome":"healthy"' "$work/pass" || { say "$suite: not healthy"; cat "$work/pass" >&2; exit 1; }
  # crontab.example's line, as written, on the installed layout with cron's PATH: a
  # healthy quiet pass prints nothing (so cron mails nothing) and logs its line. The
  # config and a docker CLI stand-in come from the environment, not the line; the
  # stand-in's engine runs the target's container (a missing one is said, and mailed).
  cron_line=$(grep -E '^[*0-9][^=]* ' "$root/usr/share/doc/healwatch/crontab.example" | head -1)
  cron_cmd=$(echo "$cron_line" | cut -d' ' -f6-)
  printf '[[target]]\nname = "web"\nurl = "http://127.0.0.1:%s/"\n' "$port" >"$root/tmp/cron.toml"
  cat >"$root/tmp/docker" <<'STANDIN'
#!/bin/sh
case "$1" in
  ps) echo web ;;
  inspect) echo '[{"Id":"web","Name":"/web","State":{"Status":"running","Running":true,"Pid":1},"HostConfig":{"RestartPolicy":{"Name":"no"}},"Config":{"Labels":{}}}]' ;;
esac
STANDIN
  chmod 0755 "$root/tmp/docker"
  timeout 60 chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root HEALWATCH_CONFIG=/tmp/cron.toml \
    HEALWATCH_DOCKER=/tmp/docker sh -c "$cron_cmd" >"$work/cron-$suite" 2>&1 \
    || { say "$suite: crontab.example's line failed: $cron_cmd"; cat "$work/cron-$suite" >&2; exit 1; }
  [ ! -s "$work/cron-$suite" ] || { say "$suite: the cron line would mail:"; cat "$work/cron-$suite" >&2; exit 1; }
  grep -q '"outcome":"healthy"' "$root/var/log/healwatch/healwatch.jsonl" \
    || { say "$suite: the cron line logged no healthy pass"; exit 1; }
  in_root dpkg -L healwatch >"$work/files-$suite"
  # Every installed file is what the package shipped (md5sums).
  in_root dpkg --verify healwatch >"$work/verify-$suite" 2>&1 && [ ! -s "$work/verify-$suite" ] \
    || { say "$suite: dpkg --verify"; cat "$work/verify-$suite" >&2; exit 1; }
  # The schedule the package ships: /etc/cron.d/healwatch, a conffile (as the logrotate
  # file), installed off. Turned on with the command its own comment gives, its line runs
  # as cron would run it (the user it names, cron's environment: the file's PATH and
  # SHELL) and logs a healthy pass to the one log path.
  conffiles=$(in_root dpkg-query -W -f='${Conffiles}' healwatch)
  for f in /etc/cron.d/healwatch /etc/logrotate.d/healwatch /etc/healwatch/healwatch.toml; do
    grep -q " $f " <<<"$conffiles " || { say "$suite: $f is not a conffile"; exit 1; }
  done
  crond="$root/etc/cron.d/healwatch"
  ! grep -qE '^[*0-9]' "$crond" || { say "$suite: /etc/cron.d/healwatch runs before the operator turns it on"; exit 1; }
  turn_on=$(sed -n 's/^#   \(sed -i .*\)$/\1/p' "$crond")
  [ -n "$turn_on" ] || { say "$suite: /etc/cron.d/healwatch does not say how to turn it on"; exit 1; }
  in_root sh -c "$turn_on" || { say "$suite: its own command did not turn it on: $turn_on"; exit 1; }
  crond_line=$(grep -E '^[*0-9]' "$crond") || { say "$suite: $turn_on turned no line on"; exit 1; }
  read -r _ _ _ _ _ crond_user crond_cmd <<<"$crond_line"
  [ "$crond_user" = root ] || { say "$suite: the system crontab's line runs as '$crond_user', not root"; exit 1; }
  crond_path=$(sed -n 's/^PATH=//p' "$crond")
  run_crond() {
    timeout 60 chroot --userspec="$crond_user" "$root" /usr/bin/env -i PATH="$crond_path" HOME=/root \
      HEALWATCH_CONFIG=/tmp/cron.toml HEALWATCH_DOCKER=/tmp/docker /bin/sh -c "$crond_cmd"
  }
  before=$(wc -l <"$root/var/log/healwatch/healwatch.jsonl")
  run_crond >"$work/crond-$suite" 2>&1 || { say "$suite: /etc/cron.d/healwatch's line failed"; cat "$work/crond-$suite" >&2; exit 1; }
  [ ! -s "$work/crond-$suite" ] || { say "$suite: /etc/cron.d/healwatch's line would mail:"; cat "$work/crond-$suite" >&2; exit 1; }
  [ "$(wc -l <"$root/var/log/healwatch/healwatch.jsonl")" -gt "$before" ] \
    || { say "$suite: /etc/cron.d/healwatch's line logged nothing"; exit 1; }

  # What `systemctl enable healwatch.timer` makes (and an other package's timer beside it).
  wants="$root/etc/systemd/system/timers.target.wants"
  mkdir -p "$wants"
  ln -sf /usr/lib/systemd/system/healwatch.timer "$wants/healwatch.timer"
  ln -sf /usr/lib/systemd/system/other.timer "$wants/other.timer"

  # apt remove keeps the conffile, turned on: its line finds no binary and says nothing.
  say "$suite: apt remove"
  in_root apt-get remove -y -q healwatch >>"$work/apt-$suite.log" 2>&1 || { cat "$work/apt-$suite.log" >&2; exit 1; }
  [ -f "$crond" ] || { say "$suite: apt remove took the operator's /etc/cron.d/healwatch"; exit 1; }
  run_crond >"$work/crond-removed-$suite" 2>&1 || true
  [ ! -s "$work/crond-removed-$suite" ] \
    || { say "$suite: after apt remove the cron line would mail:"; cat "$work/crond-removed-$suite" >&2; exit 1; }

  say "$suite: apt purge"
  in_root apt-get purge -y -q healwatch >>"$work/apt-$suite.log" 2>&1 || { cat "$work/apt-$suite.log" >&2; exit 1; }
  left=()
  while read -r path; do
    [ -f "$root$path" ] && left+=("$path")
  done <"$work/files-$suite"
  [ -e "$root/etc/healwatch" ] && left+=("/etc/healwatch")
  for f in /etc/cron.d/healwatch /etc/logrotate.d/healwatch /var/log/healwatch; do
    [ -e "$root$f" ] && left+=("$f")
  done
  [ -L "$wants/healwatch.timer" ] && left+=("/etc/systemd/system/timers.target.wants/healwatch.timer")
  [ -L "$wants/other.timer" ] || { say "$suite: purge removed another package's timer link"; exit 1; }
  if [ ${#left[@]} -gt 0 ]; then say "$suite: purge left ${left[*]}"; exit 1; fi
  umount "$root/proc"
  say "$suite: ok (purge left only the state directory /var/lib/healwatch, as documented)"
done

# arm64 and armhf: a root filesystem of that architecture, by debootstrap's first stage
# (--foreign: unpacked, nothing run in it); the .deb unpacked into it as dpkg would, and
# the binary there run by Debian's qemu-user (scripts/cross.sh unpacks it), straight: no
# binfmt handler is registered on the host, so dpkg and the maintainer scripts, programs
# of that architecture, cannot run here, and the package is inspected instead.
# shellcheck source=scripts/cross.sh
source scripts/cross.sh
qemu_ensure
for arch in arm64 armhf; do
  one="$PWD/dist/healwatch_${version}-1_${arch}.deb"
  base="$cache/bookworm-$arch"
  if [ ! -f "$base/.healwatch-complete" ]; then
    say "debootstrap --foreign bookworm for $arch (once; cached in $base)"
    rm -rf "$base.partial"
    mkdir -p "$cache"
    timeout 1800 debootstrap --foreign --arch="$arch" --variant=minbase bookworm "$base.partial" "$mirror" \
      >"$work/debootstrap-$arch.log" 2>&1 || { tail -20 "$work/debootstrap-$arch.log" >&2; exit 1; }
    touch "$base.partial/.healwatch-complete"
    rm -rf "$base"
    mv "$base.partial" "$base"
  fi
  root="$work/$arch"
  cp -a "$base" "$root"
  [ -x "$root/bin/sh" ] || [ -L "$root/bin/sh" ] || { say "$arch: the root has no /bin/sh"; exit 1; }
  file -L "$root/usr/bin/dpkg" | grep -q "$([ "$arch" = arm64 ] && echo aarch64 || echo 'ARM, EABI5')" \
    || { say "$arch: the root's dpkg is not $arch"; exit 1; }
  dpkg-deb -x "$one" "$root"
  case $arch in arm64) qemu=$(qemu_for aarch64-unknown-linux-musl) ;; *) qemu=$(qemu_for armv7-unknown-linux-musleabihf) ;; esac
  # Its files in this test's folder, never the host's; no engine (the system's is not ours).
  in_qemu() {
    timeout 120 env -i PATH=/usr/bin:/bin HOME="$work" HEALWATCH_STATE="$work/state-$arch.json" \
      HEALWATCH_LOCK="$work/lock-$arch" HEALWATCH_DEFAULT_CONFIG="$work/none.toml" \
      DOCKER_HOST=unix:///nonexistent/healwatch-package-test.sock "$qemu" "$root/usr/bin/healwatch" "$@"
  }
  in_qemu --version | grep -q "^commit: " || { say "$arch: --version lacks the commit"; exit 1; }
  in_qemu version >&2
  in_qemu validate --offline -c "$root/etc/healwatch/healwatch.toml" >"$work/validate-$arch" 2>&1 || true
  grep -q "^0 target(s) valid" "$work/validate-$arch" || { say "$arch: the shipped config"; cat "$work/validate-$arch" >&2; exit 1; }
  in_qemu -n -t "web=http://127.0.0.1:$port/" >"$work/pass-$arch" \
    || { say "$arch: the pass failed"; cat "$work/pass-$arch" >&2; exit 1; }
  grep -q '"outcome":"healthy"' "$work/pass-$arch" || { say "$arch: not healthy"; cat "$work/pass-$arch" >&2; exit 1; }
  say "$arch: ok (unpacked into a debootstrapped $arch root; its binary ran a real pass under qemu-user)"
done

for f in dist/healwatch-"${version}"-*; do
  size=$(stat -c %s "$f")
  [ "$size" -le $((7500 * 1000)) ] || { say "$f is $size bytes, over 7.5 MB"; exit 1; }
  say "binary $(du -k "$f" | cut -f1) KiB: $f"
done
say ".deb $(du -k "$deb" | cut -f1) KiB, $(($(date +%s) - started)) s"
echo "package-test: 4 passed, 0 failed"
