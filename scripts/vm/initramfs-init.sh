#!/bin/busybox sh
# /init of the test VM's initramfs: load the virtio/9p/overlay modules, mount
# the host's root (9p, read-only) under a tmpfs overlay, mount the shared
# output directory, and hand over to the guest script named on the command line.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "fo-vm: init: $*"; echo o > /proc/sysrq-trigger; sleep 5; }
for m in $(cat /modules.order); do
  insmod "/modules/$m.ko" || fail "insmod $m failed"
done
arg() { sed -n "s/.*\bfo_$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
mkdir -p /lower /rw /newroot
# cache=loose: the host tree does not change under a test run, and metadata caching makes node's many stat()s cheap.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /lower || fail "9p root mount failed"
mount -t tmpfs -o size=1g tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
mkdir -p /newroot/vmout
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 vmout /newroot/vmout || fail "9p output mount failed"
guest=$(arg guest)
umount /sys /dev /proc
exec switch_root /newroot "$guest"
