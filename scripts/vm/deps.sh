#!/bin/bash
# Install what the VM tier needs when it is missing (Debian 12, as root):
# qemu, a static busybox and cpio (and xz/zstd for compressed modules) for the
# initramfs, strace/tcpdump/ping for the tests, and the two kernels it boots:
#   6.1   bookworm's linux-image-amd64 (its modules carry cls_flower, act_pedit, act_csum)
#   6.12  bookworm-backports' linux-image-amd64 (the XDP suites run on both)
# Both stay installed side by side: the 6.1 image is marked manually installed
# before the backports one goes in (which upgrades the linux-image-amd64
# meta-package to 6.12), so nothing replaces or autoremoves it.
#
# Usage: deps.sh [6.1] [6.12]   (default: both). Idempotent; quiet when nothing is missing.
# bookworm-backports is added to apt's sources (sources.list.d/fib-offload-backports.sources)
# from the URI of the existing bookworm entry: no mirror is named here.
set -euo pipefail
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

have_kernel() {  # have_kernel 6.1: a /boot/vmlinuz-6.1.* with its module tree
  local k
  for k in /boot/vmlinuz-"$1".*; do
    [ -r "$k" ] && [ -d "/lib/modules/${k#/boot/vmlinuz-}" ] && return 0
  done
  return 1
}

need_root() {
  [ "$(id -u)" = 0 ] || { echo "deps.sh: missing $* and not root" >&2; exit 1; }
}

export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() { [ "$updated" = 1 ] || { apt-get update -q >&2; updated=1; }; }

# --- packages from bookworm -------------------------------------------------
pkgs=(qemu-system-x86 busybox-static cpio xz-utils zstd strace tcpdump iputils-ping)
for k in "${kernels[@]}"; do [ "$k" = 6.1 ] && ! have_kernel 6.1 && pkgs+=(linux-image-amd64); done
missing=()
for p in "${pkgs[@]}"; do
  if [ "$p" = linux-image-amd64 ]; then missing+=("$p"); continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root "${missing[*]}"
  echo "deps.sh: installing ${missing[*]}" >&2
  apt_update
  # linux-image-amd64 comes from bookworm (6.1): backports' priority (100) never wins a plain install.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  have_kernel 6.1 || [[ " ${kernels[*]} " != *" 6.1 "* ]] || { echo "deps.sh: linux-image-amd64 installed, but no /boot/vmlinuz-6.1.*" >&2; exit 1; }
fi

# --- 6.12 from bookworm-backports -------------------------------------------
[[ " ${kernels[*]} " == *" 6.12 "* ]] || exit 0
# The 6.1 image must survive: installing from backports also upgrades the linux-image-amd64
# meta-package to 6.12, which would leave the 6.1 image to `apt-get autoremove`. Mark it manual.
auto61=$(apt-mark showauto 'linux-image-6.1.*' 2>/dev/null || true)
if [ -n "$auto61" ] && [ "$(id -u)" = 0 ]; then apt-mark manual $auto61 >&2; fi
have_kernel 6.12 && exit 0
need_root "the 6.12 kernel (bookworm-backports linux-image-amd64)"

# Some source already carries bookworm-backports? (sources.list, *.list, *.sources; enabled ones only)
sources_files() { ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; }
ours=/etc/apt/sources.list.d/fib-offload-backports.sources
has_backports=0
for f in $(sources_files); do
  [ "$f" = "$ours" ] && continue
  if grep -Eq '^[^#]*\bbookworm-backports\b' "$f"; then has_backports=1; fi
done

if [ "$has_backports" = 0 ]; then
  # The URI (and keyring) of the existing bookworm entry: deb822 first, then one-line format.
  uri='' signed=''
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && [ "$f" != "$ours" ] || continue
    # Stanzas are separated by blank lines; pick the first "Types: deb" one whose Suites has bookworm.
    read -r uri signed < <(awk -v RS='' '
      {
        types=""; uris=""; suites=""; signed=""; enabled="yes"
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          l = lines[i]
          if (l ~ /^#/) continue
          if (l ~ /^Types:/)     { sub(/^Types:[ \t]*/, "", l); types = l }
          if (l ~ /^URIs:/)      { sub(/^URIs:[ \t]*/, "", l); uris = l }
          if (l ~ /^Suites:/)    { sub(/^Suites:[ \t]*/, "", l); suites = " " l " " }
          if (l ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", l); signed = l }
          if (l ~ /^Enabled:/)   { sub(/^Enabled:[ \t]*/, "", l); enabled = l }
        }
        if (enabled != "no" && (" " types " ") ~ / deb / && suites ~ / bookworm /) {
          split(uris, u, /[ \t]+/); print u[1], signed; exit
        }
      }' "$f") || true
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -r "$f" ] || continue
      # deb [options] URI bookworm components...
      uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == "bookworm") { print $i; exit } }' "$f")
      [ -n "$uri" ] && break
    done
  fi
  [ -n "$uri" ] || { echo "deps.sh: no bookworm entry in apt's sources to derive bookworm-backports from; add bookworm-backports and run: apt-get install -t bookworm-backports linux-image-amd64" >&2; exit 1; }
  want="# Written by fib-offload scripts/vm/deps.sh: the 6.12 kernel for the VM test tier.
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
${signed:+Signed-By: $signed
}"
  if [ "$(cat "$ours" 2>/dev/null)" != "$(printf '%s' "$want")" ]; then
    printf '%s' "$want" > "$ours"
    echo "deps.sh: wrote $ours (bookworm-backports from $uri)" >&2
  fi
fi

apt-get update -q >&2
# The backports meta-package names the current versioned image (linux-image-6.12.*-amd64).
image=$(apt-cache depends -t bookworm-backports linux-image-amd64 2>/dev/null |
  awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.12\./ { print $2; exit }')
[ -n "$image" ] || { echo "deps.sh: bookworm-backports has no linux-image-amd64 for 6.12 (apt-cache policy linux-image-amd64)" >&2; exit 1; }
echo "deps.sh: installing $image from bookworm-backports (update-initramfs takes a minute)" >&2
apt-get install -y -q --no-install-recommends -t bookworm-backports "$image" >&2
# Nothing may have taken 6.1 away.
if [[ " ${kernels[*]} " == *" 6.1 "* ]] && ! have_kernel 6.1; then echo "deps.sh: the 6.1 kernel is gone after installing $image" >&2; exit 1; fi
have_kernel 6.12 || { echo "deps.sh: $image installed, but no /boot/vmlinuz-6.12.*" >&2; exit 1; }
