#!/bin/bash
# Runs as PID 1 inside the test VM, on the host's root under an overlay:
# set up a minimal system, run the command the host wrote to /vmout/cmd
# (argv, one per line) in the project directory, record its exit status in
# /vmout/status, and power off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mountpoint -q /proc || mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set dev lo up
hostname fo-vm
for m in cls_flower act_pedit act_csum act_mirred act_gact sch_ingress veth 8021q; do modprobe "$m" || echo "fo-vm: modprobe $m failed"; done
echo "fo-vm: up in $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"

status=1
if [ -r /vmout/cmd ]; then
  mapfile -t argv < /vmout/cmd
  cd "$(cat /vmout/cwd)" || argv=(false)
  # The env file holds NAME=VALUE lines for the command (no shell evaluation).
  envs=()
  [ -r /vmout/env ] && mapfile -t envs < /vmout/env
  env "${envs[@]}" "${argv[@]}" </dev/null
  status=$?
fi
echo "$status" > /vmout/status
echo "fo-vm: command exited $status after $(cut -d' ' -f1 /proc/uptime)s"
sync
echo o > /proc/sysrq-trigger
while :; do :; done  # until the power-off lands (the root may be gone: no external commands)
