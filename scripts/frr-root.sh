#!/usr/bin/env bash
# Print the path of a Debian root with FRR MAJOR.x (default 10) from Debian
# forky, building it the first time (about 50 s: debootstrap minbase, then
# apt-get install frr iproute2). Debian 12's own FRR 8.4 doesn't read FPM
# replies, trixie's 10.3 drops them (fixed in 10.4): forky's 10.7 is the one
# that marks routes offloaded. Cached under .cache/frr/frr-<version> in the
# project (not /tmp; FRR_ROOT_CACHE overrides), keyed by the FRR version actually installed; progress
# goes to stderr, the path alone to stdout.
set -euo pipefail
major=${1:-10}
cd "$(dirname "$0")/.."
cache=${FRR_ROOT_CACHE:-$PWD/.cache/frr}
mirror=${FRR_ROOT_MIRROR:-http://deb.debian.org/debian}

newest() { ls -d "$cache"/frr-"$major".* 2>/dev/null | sort -V | tail -n 1; }
have=$(newest || true)
if [ -n "$have" ] && [ -x "$have/usr/lib/frr/zebra" ]; then echo "$have"; exit 0; fi

command -v debootstrap >/dev/null || { echo "frr-root: installing debootstrap" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2; }
mkdir -p "$cache"
build=$cache/build.$$
trap 'rm -rf "$build"' EXIT
echo "frr-root: building a Debian forky root with FRR $major.x in $build (first time only, about a minute)" >&2
t0=$(date +%s)
debootstrap --variant=minbase forky "$build" "$mirror" /usr/share/debootstrap/scripts/sid >&2
# forky's Release files carry a Valid-Until that bookworm's apt may see as expired.
chroot "$build" apt-get -q -o Acquire::Check-Valid-Until=false update >&2
chroot "$build" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends frr iproute2 >&2
version=$(chroot "$build" dpkg-query -W -f '${Version}' frr)
version=${version%%-*}
case $version in "$major".*) ;; *) echo "frr-root: forky has FRR $version, not $major.x" >&2; exit 1 ;; esac
chroot "$build" apt-get clean >&2
rm -rf "$build"/var/lib/apt/lists/*
mv "$build" "$cache/frr-$version"
trap - EXIT
echo "frr-root: FRR $version ready in $cache/frr-$version ($(( $(date +%s) - t0 )) s)" >&2
echo "$cache/frr-$version"
