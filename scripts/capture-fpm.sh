#!/usr/bin/env bash
# Capture zebra's FPM messages for test/fixtures/fpm/zebra-<version>.json.
# FRR 10 (scripts/frr-root.sh) runs chrooted in a throw-away namespace with
# dplane_fpm_nl and --asic-offload=notify_on_offload; a capture server
# (fpm-capture-server.mjs) records every frame and answers each route with
# RTM_F_OFFLOAD. Sessions: plain (no fpm use-next-hop-groups), nhg (with it),
# and replay (zebra reconnecting to a fresh server). Static routes: one path,
# ECMP over two peers, IPv6, a blackhole; then the single-path one is removed.
# Run as root under `flock /work/ns.lock` (it creates namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(bash scripts/frr-root.sh 10)
OUT=${1:-test/fixtures/fpm}
W=$(mktemp -d)
NS=fot-fpmcap-$$; P=$NS-p
cleanup() {
  for d in staticd zebra mgmtd; do [ -f "$ROOT/run/frr/$NS/$d.pid" ] && kill "$(cat "$ROOT/run/frr/$NS/$d.pid")" 2>/dev/null || true; done
  [ -n "${CAP:-}" ] && kill "$CAP" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true; ip netns del "$P" 2>/dev/null || true
  rm -rf "$ROOT/etc/frr/$NS" "$ROOT/run/frr/$NS" "$ROOT/var/log/frr/$NS" "$W"
}
trap cleanup EXIT
V=(chroot "$ROOT" vtysh -N "$NS")
# Daemons get /dev/null for stdio (they keep it after -d) and /proc mounted in the root, in the namespace's own mount namespace.
IN_ROOT='mount -t proc proc "$1/proc" && root=$1 && shift && exec chroot "$root" "$@" </dev/null >/dev/null 2>&1'

session() { # label, extra zebra config line
  local label=$1 nhg=$2
  ip netns del "$NS" 2>/dev/null || true; ip netns del "$P" 2>/dev/null || true
  ip netns add "$NS"; ip netns add "$P"
  ip -n "$NS" link set lo up
  ip -n "$NS" link add name v0 type veth peer name v1 netns "$P"
  ip -n "$NS" link add name w0 type veth peer name w1 netns "$P"
  ip -n "$NS" addr add 10.0.0.1/24 dev v0; ip -n "$P" addr add 10.0.0.2/24 dev v1
  ip -n "$NS" addr add 10.0.1.1/24 dev w0; ip -n "$P" addr add 10.0.1.2/24 dev w1
  ip -n "$NS" addr add 2001:db8::1/64 dev v0 nodad; ip -n "$P" addr add 2001:db8::2/64 dev v1 nodad
  for i in v0 w0; do ip -n "$NS" link set "$i" up; done
  for i in v1 w1; do ip -n "$P" link set "$i" up; done
  sleep 1
  ip netns exec "$NS" node scripts/fpm-capture-server.mjs "$W/$label.json" reply > "$W/$label.log" 2>&1 < /dev/null &
  CAP=$!
  mkdir -p "$ROOT/etc/frr/$NS" "$ROOT/run/frr/$NS" "$ROOT/var/log/frr/$NS"
  printf 'fpm address 127.0.0.1 port 2620\n%s\n' "$nhg" > "$ROOT/etc/frr/$NS/frr.conf"
  : > "$ROOT/etc/frr/$NS/vtysh.conf"
  chroot "$ROOT" chown -R frr:frr "/etc/frr/$NS" "/run/frr/$NS" "/var/log/frr/$NS"
  ip netns exec "$NS" sh -c "$IN_ROOT" sh "$ROOT" /usr/lib/frr/mgmtd -d -N "$NS" --log "file:/var/log/frr/$NS/mgmtd.log"
  ip netns exec "$NS" sh -c "$IN_ROOT" sh "$ROOT" /usr/lib/frr/zebra -d -N "$NS" -M dplane_fpm_nl --asic-offload=notify_on_offload --log "file:/var/log/frr/$NS/zebra.log"
  ip netns exec "$NS" sh -c "$IN_ROOT" sh "$ROOT" /usr/lib/frr/staticd -d -N "$NS" --log "file:/var/log/frr/$NS/staticd.log"
  sleep 2
  "${V[@]}" -f "/etc/frr/$NS/frr.conf"
  sleep 4 # zebra connects to the FPM server (it retries every 3 s)
  "${V[@]}" -c 'conf t' -c 'ip route 192.0.2.0/24 10.0.0.2' -c 'ip route 198.51.100.0/24 10.0.0.2' -c 'ip route 198.51.100.0/24 10.0.1.2' \
    -c 'ipv6 route 2001:db8:1::/48 2001:db8::2' -c 'ip route 203.0.113.0/24 blackhole'
  sleep 2
  "${V[@]}" -c 'show ip route json' > "$W/$label-zebra4.json"
  "${V[@]}" -c 'show ipv6 route json' > "$W/$label-zebra6.json"
  "${V[@]}" -c 'conf t' -c 'no ip route 192.0.2.0/24 10.0.0.2'
  sleep 2
  kill "$CAP"; CAP=
  if [ "$label" = plain ]; then
    # zebra reconnects to the next server and replays its table.
    ip netns exec "$NS" node scripts/fpm-capture-server.mjs "$W/replay.json" > "$W/replay.log" 2>&1 < /dev/null &
    CAP=$!
    sleep 7
    kill "$CAP"; CAP=
  fi
  for d in staticd zebra mgmtd; do kill "$(cat "$ROOT/run/frr/$NS/$d.pid")" 2>/dev/null || true; done
  sleep 1
}

session plain 'no fpm use-next-hop-groups'
session nhg 'fpm use-next-hop-groups'
version=$(chroot "$ROOT" dpkg-query -W -f '${Version}' frr); version=${version%%-*}
mkdir -p "$OUT"
node - "$W" "$version" "$OUT/zebra-$version.json" <<'JS'
const fs = require('node:fs');
const [w, version, out] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${w}/${f}`, 'utf8'));
const offload = (f) => Object.fromEntries(Object.entries(read(f)).flatMap(([p, rs]) => rs.filter((r) => r.protocol === 'static')
  .map((r) => [p, { offloaded: r.offloaded ?? null, queued: r.queued ?? false, installed: r.installed ?? false }])));
const fx = {
  frr: version,
  how: 'scripts/capture-fpm.sh: zebra (dplane_fpm_nl, --asic-offload=notify_on_offload) in a namespace, static routes added then 192.0.2.0/24 removed; every route answered RTM_F_OFFLOAD',
  sessions: {
    plain: { config: ['no fpm use-next-hop-groups'], frames: read('plain.json') },
    nhg: { config: ['fpm use-next-hop-groups'], frames: read('nhg.json') },
    replay: { config: ['no fpm use-next-hop-groups', 'zebra reconnected to a new server'], frames: read('replay.json') },
  },
  zebraAfterOffloadReplies: { plain: { ...offload('plain-zebra4.json'), ...offload('plain-zebra6.json') }, nhg: { ...offload('nhg-zebra4.json'), ...offload('nhg-zebra6.json') } },
};
fs.writeFileSync(out, JSON.stringify(fx, null, 1) + '\n');
console.log(`wrote ${out}: ${Object.values(fx.sessions).map((s) => s.frames.length).join(' + ')} frames`);
JS
