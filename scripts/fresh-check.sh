#!/usr/bin/env bash
# A fresh Debian 12 from nothing: builds a clean root with debootstrap, copies the
# repository in (tracked files only, as a clone has them), and runs the README's commands
# there, timing each. Nothing of this machine's build, ccache or packages is used.
#
#   scripts/fresh-check.sh [STEPS]      as root; STEPS default: "deps demo test"
#     deps   scripts/install-deps.sh all   (proves the install list installs together)
#     demo   make demo, then make demo-down
#     test   make test
#
# FRESH_ROOT (default /var/tmp/fedmesh-fresh) holds the root; it is made anew each run, and
# left for inspection (remove it with rm -rf). FRESH_MIRROR picks the Debian mirror.
# Timings go to stdout and to FRESH_ROOT.timings.txt; docs/development.md records them.
set -euo pipefail
steps="${*:-deps demo test}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${FRESH_ROOT:-/var/tmp/fedmesh-fresh}"
mirror="${FRESH_MIRROR:-http://deb.debian.org/debian}"

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-check: run as root (debootstrap and chroot need it)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$root/$m" && umount -l "$root/$m" || true; done
}
trap cleanup EXIT

cleanup
rm -rf "$root"
mkdir -p "$root"
timings="$root.timings.txt"
: >"$timings"
record() { echo "$1: $2 s" | tee -a "$timings"; }

start=$SECONDS
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log" >&2; exit 1; }
record "debootstrap (minbase bookworm)" $((SECONDS - start))
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# make, and the ability to install the rest: what a fresh Debian 12 server has.
chroot "$root" /bin/bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make sudo ca-certificates >/dev/null"

# The repository as a clone has it: tracked files, no build trees.
mkdir -p "$root/srv/fedmesh"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -C "$root/srv/fedmesh" -xf -
git -C "$repo" rev-parse --short HEAD >"$root/srv/fedmesh/.fresh-check-commit" 2>/dev/null || true

in_root() { chroot "$root" /usr/bin/env -i HOME=/srv PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb /bin/bash -c "cd /srv/fedmesh && $1"; }

for step in $steps; do
  start=$SECONDS
  case "$step" in
    deps) in_root "bash scripts/install-deps.sh all" ;;
    demo)
      in_root "make demo" | tail -5
      record "make demo" $((SECONDS - start))
      in_root "make demo-down" >/dev/null
      continue
      ;;
    test) in_root "make test" | tail -5 ;;
    *) echo "fresh-check: unknown step '$step' (deps, demo, test)" >&2; exit 2 ;;
  esac
  record "$step" $((SECONDS - start))
done
echo "fresh-check: all steps passed; timings in $timings"
