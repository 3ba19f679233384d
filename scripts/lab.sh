#!/usr/bin/env bash
# `npm run lab`: on a fresh Debian 12 machine (root, Node 20), install what the
# build needs, build, bring the lab up (FRR peers over BGP unnumbered, the
# agent offloading their routes over XDP) and send traffic through it.
# `npm run lab -- ACTION [options]` runs `fib-offload lab ACTION` instead
# (down, status, traffic, up --frr-nexthop-objects=off, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "npm run lab: needs root (network namespaces, FRR, BPF)" >&2; exit 1; }

# The build: the netlink addon (g++, make, python3) and bpf/ (clang, llvm, libbpf-dev).
# `lab up` installs what the lab itself runs (frr, bpftool, iproute2, ethtool, ping).
bash scripts/apt-ensure.sh g++ make python3 clang llvm libbpf-dev
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build

cli=(node dist/src/cli/main.js)
if [ $# -gt 0 ]; then exec "${cli[@]}" lab "$@"; fi

if "${cli[@]}" lab status >/dev/null 2>&1; then
  echo "lab fol is already up (npm run lab -- down removes it)"
else
  "${cli[@]}" lab up
fi
echo
"${cli[@]}" lab traffic
echo
echo "more: npm run lab -- status | npm run lab -- traffic --kernel-forwarding | npm run lab -- down"
