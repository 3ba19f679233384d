#!/bin/bash
# Build the test VM's initramfs: busybox (static) + the virtio/9p/overlay
# modules of the Debian kernel + initramfs-init.sh as /init.
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
# Load order matters: each after what it depends on (see modules.dep).
order=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay)
: > "$tmp/modules.order"
for m in "${order[@]}"; do
  f=$(find "$mods/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
  [ -n "$f" ] || { echo "module $m not found under $mods" >&2; exit 1; }
  case "$f" in
    *.xz) xz -dc "$f" > "$tmp/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$tmp/modules/$m.ko" ;;
    *) cp "$f" "$tmp/modules/$m.ko" ;;
  esac
  echo "$m" >> "$tmp/modules.order"
done
cp "$here/initramfs-init.sh" "$tmp/init"
chmod +x "$tmp/init"
(cd "$tmp" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
