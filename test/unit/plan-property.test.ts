// Property tests: for random tables and random destinations, a longest-prefix
// lookup over the plan's entries gives exactly the egress/MAC set a reference
// lookup over the mirror gives, or the kernel where the offload must not act;
// and applying a diff step by step never leaves an entry without its group.
import { describe, it, expect } from 'vitest';
import { bigIntToIp, formatIp, ipToBigInt, parseIp, type Family } from '../../src/model/ip.js';
import type { KernelSnapshot } from '../../src/model/events.js';
import type { Link } from '../../src/model/link.js';
import { neighborUsable, type Neighbor, type NudState } from '../../src/model/neighbor.js';
import type { MirrorView, ResolvedRoute } from '../../src/model/resolved.js';
import type { Route, RouteNexthop } from '../../src/model/route.js';
import { buildPlan, diffPlans, PUNT_BUCKET, type Plan, type PlanEntry, type PlanGroup } from '../../src/plan/index.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, via } from './plan-helpers.js';

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const big = (text: string) => ipToBigInt(parseIp(text));
const width = (f: Family) => (f === 4 ? 32 : 128);
function inPrefix(a: bigint, f: Family, net: bigint, len: number): boolean {
  const shift = BigInt(width(f) - len);
  return a >> shift === net >> shift;
}
/** Canonical text, through the model's formatter so keys match the mirror's. */
function fmt(v: bigint, f: Family): string {
  return formatIp(bigIntToIp(v, f));
}

// Offload ports eth1..eth4 (ifindex 2..5); mgmt0 (6) is not.
const PORTS = [2, 3, 4, 5];
const ALL = [2, 3, 4, 5, 6];
const STATES: NudState[] = ['reachable', 'reachable', 'stale', 'delay', 'probe', 'permanent', 'failed', 'incomplete'];

function gw(f: Family, ifindex: number, host: number): string {
  return f === 4 ? `192.168.${ifindex}.${host}` : `2001:db8:f${ifindex}::${host}`;
}

function randomPrefix(r: Rng, f: Family): string {
  if (f === 4) {
    const len = r.pick([0, 8, 12, 16, 20, 24, 28, 32, 24, 16]);
    const v = (10n << 24n) | (BigInt(r.int(4)) << 16n) | (BigInt(r.int(4) * 16) << 8n) | BigInt(r.int(4) * 32 + r.int(2));
    const masked = len === 0 ? 0n : (v >> BigInt(32 - len)) << BigInt(32 - len);
    return `${fmt(masked, 4)}/${len}`;
  }
  const len = r.pick([0, 32, 40, 48, 56, 64, 96, 128, 48]);
  const v = (0x20010db8n << 96n) | (BigInt(r.int(3)) << 88n) | (BigInt(r.int(3) * 256) << 64n) | BigInt(r.int(4));
  const masked = len === 0 ? 0n : (v >> BigInt(128 - len)) << BigInt(128 - len);
  return `${fmt(masked, 6)}/${len}`;
}

function randomSnapshot(r: Rng): Partial<KernelSnapshot> {
  const links: Link[] = [loopback()];
  ALL.forEach((i) => {
    const adminUp = !r.chance(0.08);
    const carrier = adminUp && !r.chance(0.08);
    const mtu = r.pick([1500, 1500, 1500, 9000, 1280]);
    links.push(link(i, i === 6 ? 'mgmt0' : `eth${i - 1}`, { adminUp, carrier, mtu }));
  });
  const addresses = [addr(1, `10.${r.int(4)}.${r.int(4) * 16}.${r.int(4) * 32 + 1}/32`), addr(1, '2001:db8::1/128')];
  const neighbors: Neighbor[] = [];
  const routes: Route[] = [];
  for (const i of ALL) {
    addresses.push(addr(i, `192.168.${i}.1/24`), addr(i, `2001:db8:f${i}::1/64`));
    routes.push(route(`192.168.${i}.0/24`, [dev(i)], { mtu: randomMtu(r) }), route(`2001:db8:f${i}::/64`, [dev(i)], { mtu: randomMtu(r) }));
    for (const f of [4, 6] as const) {
      for (let h = 2; h < 6; h++) {
        if (r.chance(0.15)) continue;
        const state = r.pick(STATES);
        const mac = state === 'failed' || state === 'incomplete' ? null : `0a:00:00:0${f}:${i.toString(16).padStart(2, '0')}:0${h}`;
        neighbors.push(neigh(i, gw(f, i, h), mac, state));
      }
    }
  }
  const seen = new Set<string>();
  const count = 10 + r.int(40);
  for (let n = 0; n < count; n++) {
    const f: Family = r.chance(0.5) ? 4 : 6;
    const prefix = randomPrefix(r, f);
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    const roll = r.next();
    if (roll < 0.06) { routes.push(route(prefix, [], { type: r.pick(['blackhole', 'unreachable', 'prohibit'] as const) })); continue; }
    if (roll < 0.12) { routes.push(route(prefix, [dev(r.pick(ALL))], { mtu: randomMtu(r) })); continue; }
    const hops: RouteNexthop[] = [];
    const k = 1 + (r.chance(0.4) ? r.int(4) : 0);
    // Mostly offload ports; sometimes mgmt0, which must keep the whole route with the kernel.
    for (let j = 0; j < k; j++) {
      const i = r.chance(0.1) ? 6 : r.pick(PORTS);
      hops.push(via(gw(f, i, 2 + r.int(4)), i, 1 + r.int(4), { linkdown: r.chance(0.03), dead: r.chance(0.03) }));
    }
    routes.push(route(prefix, hops, { mtu: randomMtu(r) }));
  }
  return { links, addresses, neighbors, routes };
}

/** A route's MTU metric, sometimes: below, at and above the ports' MTUs, and below IPv6's minimum. */
function randomMtu(r: Rng): number | undefined {
  return r.chance(0.25) ? r.pick([1000, 1280, 1400, 1500, 9000]) : undefined;
}

/**
 * The largest packet the kernel forwards out of `ifindex` for a route: its
 * MTU metric when set (ip_dst_mtu_maybe_forward; IPv6 at least 1280), within
 * the device's MTU (bpf_check_mtu in XDP, the device in the kernel).
 */
function fits(view: MirrorView, r: Route, ifindex: number): number {
  const dev = view.link(ifindex)!.mtu;
  if (r.mtu === undefined) return dev;
  return Math.min(dev, r.family === 6 ? Math.max(r.mtu, 1280) : r.mtu);
}

// ---- reference: the kernel's view, straight from the mirror -----------------------------

type Outcome = 'kernel' | { members: string[]; punts: boolean };

const KERNEL_ONLY: [Family, string, number][] = [
  [4, '0.0.0.0', 8], [4, '127.0.0.0', 8], [4, '224.0.0.0', 4], [4, '255.255.255.255', 32],
  [6, '::', 128], [6, '::1', 128], [6, '::ffff:0.0.0.0', 96], [6, 'fe80::', 10], [6, 'ff00::', 8],
];

function reference(view: MirrorView, ignoreLinkdown: boolean, f: Family, dst: bigint): Outcome {
  for (const [kf, a, len] of KERNEL_ONLY) if (kf === f && inPrefix(dst, f, big(a), len)) return 'kernel';
  for (const a of view.addresses()) {
    if (a.family !== f) continue;
    if (big(a.address) === dst) return 'kernel';
    if (f === 4 && a.prefixLen < 31) {
      const host = (1n << BigInt(32 - a.prefixLen)) - 1n;
      if (((big(a.address) & ~host) | host) === dst) return 'kernel';
    }
  }
  let best: ResolvedRoute | undefined;
  for (const rr of view.effectiveRoutes()) {
    const r = rr.route;
    if (r.table !== 254 || r.family !== f || !inPrefix(dst, f, big(r.dst), r.dstLen)) continue;
    if (!best || r.dstLen > best.route.dstLen) best = rr;
  }
  if (!best || best.route.type !== 'unicast' || best.nexthops.length === 0) return 'kernel';
  const nhs = best.nexthops;
  const port = (i: number | null) => i !== null && PORTS.includes(i) && view.link(i)!.mac !== null;
  if (nhs.some((n) => n.kind === 'blackhole' || (n.ifindex === null && !n.dead))) return 'kernel';
  if (nhs.some((n) => n.ifindex !== null && !port(n.ifindex))) return 'kernel';
  if (nhs.some((n) => n.kind === 'connected')) {
    const n = nhs[0]!;
    if (nhs.length !== 1 || n.dead || n.linkdown) return 'kernel';
    const nb = view.neighbor(n.ifindex!, f, fmt(dst, f));
    return neighborUsable(nb) ? { members: [`${n.ifindex}|${nb!.mac}|${fits(view, best.route, n.ifindex!)}`], punts: false } : 'kernel';
  }
  const members = new Set<string>();
  let punts = false;
  for (const n of nhs) {
    if (n.dead || (n.linkdown && ignoreLinkdown)) continue;
    if (n.linkdown || !n.resolved || n.mac === null) { punts = true; continue; }
    members.add(`${n.ifindex}|${n.mac}|${fits(view, best.route, n.ifindex!)}`);
  }
  return members.size === 0 ? 'kernel' : { members: [...members].sort(), punts };
}

// ---- the plan's answer: longest match over entries ---------------------------------------

interface Indexed { entry: PlanEntry; net: bigint; len: number }

function planOutcome(entries: readonly Indexed[], groups: ReadonlyMap<number, PlanGroup>, plan: Plan, dst: bigint, f: Family): Outcome {
  let best: Indexed | undefined;
  for (const e of entries) {
    if (e.entry.family !== f || !inPrefix(dst, f, e.net, e.len)) continue;
    if (!best || e.len > best.len) best = e;
    else if (e.len === best.len) throw new Error(`duplicate entry ${e.entry.dst}`);
  }
  if (!best || best.entry.action === 'punt') return 'kernel';
  const g = groups.get(best.entry.group!)!;
  if (g.members.length === 0) return 'kernel';
  for (const m of g.members) {
    expect(m.smac).toBe(plan.ports.find((p) => p.ifindex === m.ifindex)!.mac);
  }
  const targets = new Set(g.buckets);
  // Every member owns at least one bucket (k gives >= 4 buckets per member up to 16 members).
  g.members.forEach((_, i) => expect(targets.has(i)).toBe(true));
  // What a member forwards: what fits both the group's route MTU (checked per packet) and the port (bpf_check_mtu).
  const portMtu = (i: number) => plan.ports.find((p) => p.ifindex === i)!.mtu!;
  const members = g.members.map((m) => `${m.ifindex}|${m.dmac}|${Math.min(g.mtu ?? Infinity, portMtu(m.ifindex))}`);
  return { members: members.sort(), punts: targets.has(PUNT_BUCKET) };
}

function randomDst(r: Rng, snap: Partial<KernelSnapshot>): { f: Family; dst: bigint } {
  const roll = r.next();
  if (roll < 0.55) {
    const rt = r.pick(snap.routes!);
    const f = rt.family;
    const host = (1n << BigInt(width(f) - rt.dstLen)) - 1n;
    const noise = BigInt(r.int(2 ** 30)) * BigInt(r.int(2 ** 30)) + BigInt(r.int(4));
    return { f, dst: big(rt.dst) | (noise & host & (r.chance(0.5) ? 0xffn : host)) };
  }
  if (roll < 0.75) { const n = r.pick(snap.neighbors!); return { f: n.family, dst: big(n.address) }; }
  if (roll < 0.85) { const a = r.pick(snap.addresses!); return { f: a.family, dst: big(a.address) }; }
  if (roll < 0.93) return { f: 4, dst: BigInt(r.int(2 ** 32)) };
  return { f: 6, dst: r.chance(0.5) ? (0xfe80n << 112n) | BigInt(r.int(1000)) : (BigInt(r.int(2 ** 16)) << 112n) | BigInt(r.int(2 ** 30)) };
}

describe('plan lookup equals the kernel reference (property)', () => {
  it('holds for 400 random tables × 40 random destinations (seeded)', () => {
    const r = rng(20240601);
    let forwarded = 0;
    let total = 0;
    for (let c = 0; c < 400; c++) {
      const snap = randomSnapshot(r);
      const view = mirrorOf(snap);
      const ignoreLinkdown = r.chance(0.3);
      const plan = buildPlan(view, { ports: ['eth*'], ignoreLinkdown, tables: [254] });
      const indexed = plan.entries.map((entry) => {
        const [a, l] = entry.dst.split('/') as [string, string];
        return { entry, net: big(a), len: Number(l) };
      });
      const groups = new Map(plan.groups.map((g) => [g.id, g] as const));
      for (let d = 0; d < 40; d++) {
        const { f, dst } = randomDst(r, snap);
        const want = reference(view, ignoreLinkdown, f, dst);
        const got = planOutcome(indexed, groups, plan, dst, f);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`case ${c}: ${fmt(dst, f)} plan ${JSON.stringify(got)} reference ${JSON.stringify(want)}\n` +
            `entries: ${plan.entries.map((e) => `${e.dst} ${e.action}${e.group ? ' ' + e.group : ''}`).join('; ')}`);
        }
        total++;
        if (want !== 'kernel') forwarded++;
      }
    }
    expect(total).toBe(16000);
    // The generator must exercise both sides, not just punts.
    expect(forwarded).toBeGreaterThan(total / 5);
    expect(forwarded).toBeLessThan(total * 0.9);
  });
});

describe('diff applied op by op (property)', () => {
  it('never leaves an entry pointing at a missing group and ends at the new plan', () => {
    const r = rng(99);
    for (let c = 0; c < 150; c++) {
      const s1 = randomSnapshot(r);
      // Mutate: some MACs, some link states, some routes.
      const s2: Partial<KernelSnapshot> = {
        ...s1,
        neighbors: s1.neighbors!.map((n) => (r.chance(0.1) && n.mac ? { ...n, mac: `0b:00:00:00:00:${r.int(99).toString().padStart(2, '0')}` } : n)),
        links: s1.links!.map((l) => (l.ifindex > 1 && r.chance(0.1) ? { ...l, carrier: !l.carrier, mtu: r.pick([1500, 1280, 9000]) } : l)),
        // Some routes go, some change their MTU metric (set, changed or removed).
        routes: s1.routes!.filter(() => !r.chance(0.2)).map((rt) => {
          if (!r.chance(0.15)) return rt;
          const { mtu: _old, ...rest } = rt;
          const mtu = randomMtu(r);
          return mtu === undefined ? rest : { ...rest, mtu };
        }),
      };
      const p1 = buildPlan(mirrorOf(s1), { ports: ['eth*'] });
      const p2 = buildPlan(mirrorOf(s2), { ports: ['eth*'], previous: p1 });
      const groups = new Map(p1.groups.map((g) => [g.id, g] as const));
      const entries = new Map(p1.entries.map((e) => [`${e.table}|${e.dst}`, e] as const));
      const check = () => {
        for (const e of entries.values()) if (e.group !== undefined) expect(groups.has(e.group)).toBe(true);
      };
      for (const op of diffPlans(p1, p2)) {
        switch (op.op) {
          case 'group-add': case 'group-update': groups.set(op.group.id, op.group); break;
          case 'group-delete': groups.delete(op.group.id); break;
          case 'entry-add': case 'entry-replace': entries.set(`${op.entry.table}|${op.entry.dst}`, op.entry); break;
          case 'entry-delete': entries.delete(`${op.entry.table}|${op.entry.dst}`); break;
          default: break;
        }
        check();
      }
      expect([...groups.values()].sort((a, b) => a.id - b.id)).toEqual(p2.groups);
      const strip = (e: PlanEntry) => `${e.table}|${e.dst}|${e.action}|${e.group ?? ''}`;
      expect([...entries.values()].map(strip).sort()).toEqual(p2.entries.map(strip).sort());
    }
  });
});
