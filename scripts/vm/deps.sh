#!/bin/bash
# Install what the VM tier needs when it is missing (Debian, as root):
# qemu, Debian's 6.1 kernel (its modules carry cls_flower, act_pedit, act_csum),
# a static busybox and cpio for the initramfs, strace for the golden captures.
set -euo pipefail
pkgs=(qemu-system-x86 linux-image-amd64 busybox-static cpio strace tcpdump iputils-ping)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "deps.sh: missing ${missing[*]} and not root" >&2; exit 1; }
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
