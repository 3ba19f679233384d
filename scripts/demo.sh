#!/usr/bin/env bash
# `npm run demo`: a namespace router with routes in every form FRR installs
# (plain gateway, ECMP, the three RFC 5549 forms), then `fib-offload show` and
# `fib-offload plan` inside it. Removes everything it made on exit.
# (The full lab with real FRR peers is `fib-offload lab`, issue 7.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }
[ -f dist/src/cli/main.js ] || npm run build >/dev/null

tag="fod-$$"
r="$tag-r"; p1="$tag-p1"; p2="$tag-p2"
cleanup() { for ns in "$r" "$p1" "$p2"; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

for ns in "$r" "$p1" "$p2"; do ip netns add "$ns"; ip -n "$ns" link set dev lo up; done
ip -n "$r" link add name eth1 type veth peer name eth0 netns "$p1"
ip -n "$r" link add name eth2 type veth peer name eth0 netns "$p2"
for dev in eth1 eth2; do ip -n "$r" link set dev "$dev" up; done
ip -n "$p1" link set dev eth0 up; ip -n "$p2" link set dev eth0 up
for _ in $(seq 50); do
  ip -n "$r" -o link show dev eth2 | grep -q LOWER_UP && ip -n "$r" -o link show dev eth1 | grep -q LOWER_UP && break
  sleep 0.1
done

ip -n "$r" -batch - <<'BATCH'
addr add 10.1.0.1/24 dev eth1
addr add 10.2.0.1/24 dev eth2
neigh replace 10.1.0.2 lladdr 02:00:00:00:01:02 dev eth1 nud permanent
neigh replace 10.2.0.2 lladdr 02:00:00:00:02:02 dev eth2 nud permanent
neigh replace 169.254.0.1 lladdr 02:00:00:00:a9:01 dev eth1 nud permanent
neigh replace 169.254.0.1 lladdr 02:00:00:00:a9:02 dev eth2 nud permanent
neigh replace fe80::2 lladdr 02:00:00:00:61:02 dev eth1 nud reachable
neigh replace fe80::3 lladdr 02:00:00:00:62:02 dev eth2 nud stale
route add 10.0.0.0/8 via 10.1.0.2 dev eth1 proto static
route add 10.20.0.0/16 nexthop via 10.1.0.2 dev eth1 weight 1 nexthop via 10.2.0.2 dev eth2 weight 2
route add 10.30.0.0/24 via 169.254.0.1 dev eth1 onlink proto bgp
route add 10.31.0.0/24 nexthop via 169.254.0.1 dev eth1 onlink nexthop via 169.254.0.1 dev eth2 onlink
route add 10.40.0.0/24 via inet6 fe80::2 dev eth1 proto bgp
nexthop add id 1 via fe80::2 dev eth1
nexthop add id 2 via fe80::3 dev eth2
nexthop add id 10 group 1/2
route add 10.50.0.0/24 nhid 1 proto bgp
route add 10.60.0.0/24 nhid 10 proto bgp
BATCH

run() { echo; echo "# ip netns exec $r fib-offload $*"; ip netns exec "$r" node dist/src/cli/main.js "$@"; }
run show
run plan --ports 'eth*'
run plan --ports 'eth*' --json
