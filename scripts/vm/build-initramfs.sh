#!/bin/bash
# Build the test VM's initramfs: busybox (static) + the virtio/9p/overlay
# modules of the Debian kernel (6.1 or 6.12) + initramfs-init.sh as /init.
# Usage: build-initramfs.sh KERNEL_VERSION OUTPUT.cpio.gz
set -euo pipefail
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
mods=/lib/modules/$kver
busybox=/bin/busybox
[ -d "$mods" ] || { echo "no module tree $mods" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,proc,sys,dev,modules,lower,rw,newroot}
cp "$busybox" "$tmp/bin/busybox"
# What /init needs: virtio PCI, 9p over virtio, overlay. Each is resolved through
# the kernel's modules.dep (dependencies first, in the order modprobe loads them);
# what this kernel has built in (modules.builtin) is skipped: 6.1 has virtio as
# modules and a separate fscache, 6.12 has virtio built in and fscache inside netfs.
wanted=(virtio_pci 9pnet_virtio 9p overlay)
: > "$tmp/modules.order"
declare -A seen=()
add() {  # add RELPATH (as in modules.dep)
  local rel=$1 m f
  m=$(basename "$rel"); m=${m%%.ko*}
  [ -z "${seen[$m]:-}" ] || return 0
  seen[$m]=1
  f=$mods/$rel
  case "$f" in
    *.xz) xz -dc "$f" > "$tmp/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$tmp/modules/$m.ko" ;;
    *) cp "$f" "$tmp/modules/$m.ko" ;;
  esac
  echo "$m" >> "$tmp/modules.order"
}
for w in "${wanted[@]}"; do
  line=$(grep -E "(^|/)$w\.ko(\.xz|\.zst)?:" "$mods/modules.dep" || true)
  if [ -z "$line" ]; then
    grep -qE "(^|/)$w\.ko\$" "$mods/modules.builtin" || { echo "module $w neither built into nor under $mods" >&2; exit 1; }
    continue
  fi
  read -r -a deps <<< "${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add "${deps[i]}"; done  # modprobe's order: last listed first
  add "${line%%:*}"
done
cp "$here/initramfs-init.sh" "$tmp/init"
chmod +x "$tmp/init"
(cd "$tmp" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
