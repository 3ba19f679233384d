#!/bin/bash
# Boot a Debian kernel (bookworm's 6.1 by default, or bookworm-backports' 6.12)
# under qemu (TCG) on the host's root filesystem
# (9p, read-only, tmpfs overlay) and run one command in it, in the current
# directory. The command's output goes to the serial console (this script's
# stdout); its exit status becomes this script's. OUTDIR is shared read-write
# with the guest at /vmout (reports, captures).
#
# Usage: scripts/vm/run.sh [--kernel 6.1|6.12|VERSION] [--out DIR] [--timeout SECONDS] [--mem MIB] [--smp N] -- CMD [ARG...]
#   --kernel  a short name picks the newest installed /boot/vmlinuz-SHORT.*; a full
#             version (6.1.0-57-amd64) boots exactly that one. Default: $FO_VM_KERNEL, else 6.1.
#             scripts/vm/deps.sh installs both (6.12 from bookworm-backports).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out='' timeout=600 mem=2048 smp=2 kernel=${FO_VM_KERNEL:-6.1}
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run.sh: no command (give it after --)" >&2; exit 2; }

# The kernel: an exact version, or the newest installed SHORT.* (6.1 never matches 6.12.*).
kver=''
if [ -r "/boot/vmlinuz-$kernel" ]; then
  kver=$kernel
else
  for k in $(ls -1 /boot/vmlinuz-"$kernel".* 2>/dev/null | sort -V); do kver=${k#/boot/vmlinuz-}; done
fi
if [ -z "$kver" ] || [ ! -r "/boot/vmlinuz-$kver" ] || [ ! -d "/lib/modules/$kver" ]; then
  case "$kernel" in
    6.1|6.1.*) how="apt-get install linux-image-amd64 (bookworm), or scripts/vm/deps.sh 6.1" ;;
    6.12|6.12.*) how="scripts/vm/deps.sh 6.12 (adds bookworm-backports to apt's sources, then apt-get install -t bookworm-backports linux-image-amd64)" ;;
    *) how="install a Debian linux-image package that provides /boot/vmlinuz-$kernel and /lib/modules/$kernel" ;;
  esac
  echo "run.sh: kernel $kernel is not installed${kver:+ (found /boot/vmlinuz-$kver but not /lib/modules/$kver)}; install it with: $how" >&2
  exit 3
fi
command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: no qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2; exit 3; }

cleanup_out=0
if [ -z "$out" ]; then out=$(mktemp -d /tmp/fo-vm-out.XXXXXX); cleanup_out=1; fi
mkdir -p "$out"
rm -f "$out/status"

# The initramfs depends only on the kernel (its modules: the version is in the name)
# and the init scripts (their hash): cache it.
cache=${FO_VM_CACHE:-/var/tmp/fib-offload-vm}
mkdir -p "$cache"
key=$(cat "$here/initramfs-init.sh" "$here/build-initramfs.sh" | sha256sum | cut -c1-12)
initrd="$cache/initramfs-$kver-$key.cpio.gz"
[ -s "$initrd" ] || "$here/build-initramfs.sh" "$kver" "$initrd"

printf '%s\n' "$@" > "$out/cmd"
pwd > "$out/cwd"
{
  echo "FO_VM=1"
  echo "CI=${CI:-}"
  for v in $(compgen -e | grep -E '^(FO_|VITEST_)' || true); do [ "$v" = FO_VM_KERNEL ] || echo "$v=${!v}"; done
} > "$out/env"

# TCG: KVM hangs on these machines. The console is the serial port on stdio.
qemu=(qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp "$smp" -m "$mem"
  -nographic -no-reboot -nodefaults -serial stdio
  -kernel "/boot/vmlinuz-$kver" -initrd "$initrd"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off fo_guest=$here/guest.sh"
  -fsdev "local,id=root,path=/,security_model=passthrough,readonly=on,multidevs=remap"
  -device virtio-9p-pci,fsdev=root,mount_tag=hostroot
  -fsdev "local,id=out,path=$out,security_model=passthrough"
  -device virtio-9p-pci,fsdev=out,mount_tag=vmout)
set +e
timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null
rc=$?
set -e
if [ -r "$out/status" ]; then rc=$(cat "$out/status"); elif [ "$rc" -eq 124 ]; then echo "run.sh: VM timed out after ${timeout}s" >&2; else echo "run.sh: VM ended without a status (qemu exit $rc)" >&2; rc=4; fi
[ "$cleanup_out" = 1 ] && rm -rf "$out"
exit "$rc"
