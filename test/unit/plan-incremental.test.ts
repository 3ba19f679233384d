// Incremental planning must be exactly planning from scratch: after every
// batch of random kernel events, PlanState.next() gives the plan buildPlan()
// gives (with the previous plan for group ids) and the ops diffPlans() gives,
// in the same order. Events are drawn to hit what the sweep decides from
// enclosing prefixes: nested routes across offload and kernel-only ports,
// connected subnets with host entries, overlays, ECMP groups whose members
// resolve and unresolve, nexthop objects, TOS routes, route MTU metrics
// (connected subnets' too); plus the rarer events
// that make it plan from scratch (links, addresses, the local table).
import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import { mergeDeltas, type MirrorDelta } from '../../src/mirror/delta.js';
import type { KernelEvent } from '../../src/model/events.js';
import type { NudState } from '../../src/model/neighbor.js';
import type { Route, RouteNexthop } from '../../src/model/route.js';
import { buildPlan, diffPlans, type PlanOptions } from '../../src/plan/index.js';
import { PlanState, type PlanHow } from '../../src/plan/incremental.js';
import { addr, connected, devNh, gwNh, link, neigh, nhGroup, nhObj, route, snapshot } from '../fixtures/mirror/build.js';
import { rng } from '../fixtures/rng.js';

// eth2 and eth3 are offload ports, eth4 is not.
const OPTS: PlanOptions = { ports: ['eth2', 'eth3'] };
const IFS = [2, 3, 4];
const GW4: Record<number, readonly string[]> = { 2: ['10.0.0.2', '10.0.0.3', '169.254.0.1'], 3: ['10.0.1.2', '169.254.0.1'], 4: ['10.0.2.2'] };
const GW6 = ['fe80::1', 'fe80::2', '2001:db8:f::2'];
// Nested on purpose: /8 ⊃ /16 ⊃ /24 ⊃ /25 ⊃ /32, a connected /24 with hosts, overlays (127/8, 224/4, 10.0.0.1).
const PREFIX4 = [
  '0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/16', '10.0.0.0/24', '10.0.0.0/25', '10.0.0.128/25', '10.0.0.5/32', '10.0.0.2/32',
  '10.0.1.0/24', '10.9.0.0/16', '10.9.1.0/24', '192.0.2.0/24', '192.0.2.0/25', '198.51.100.0/24', '127.0.0.0/8', '224.0.0.0/4',
];
const PREFIX6 = ['::/0', '2001:db8::/32', '2001:db8:f::/64', '2001:db8:f::/80', '2001:db8:1::/48', '2001:db8:1:2::/64', 'fe80::/64'];
const HOSTS4: Record<number, readonly string[]> = { 2: ['10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.130', '169.254.0.1'], 3: ['10.0.1.2', '10.0.1.9', '169.254.0.1'], 4: ['10.0.2.2'] };
const HOSTS6 = ['fe80::1', 'fe80::2', '2001:db8:f::2', '2001:db8:f::9'];
const STATES: NudState[] = ['reachable', 'stale', 'delay', 'probe', 'permanent', 'incomplete', 'failed'];

function gen(r: () => number, scratchShare: number): KernelEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const op = r() < 0.65 ? 'new' : 'del';
  const ifx = pick(IFS);
  const roll = r();
  if (roll < scratchShare) {
    const what = r();
    if (what < 0.4) {
      const up = r() < 0.7;
      // MTU changes move route MTUs in and out of mattering (plan/classify.ts routeMtu).
      return { kind: 'link', op: 'new', link: link(ifx, `eth${ifx}`, { adminUp: up, carrier: up && r() < 0.8, mtu: pick([1500, 1500, 1280, 9000]) }) };
    }
    if (what < 0.7) return { kind: 'addr', op, address: addr(ifx, pick(['10.0.0.1', '10.0.0.200', '10.9.1.1']), 24) };
    return { kind: 'route', op, route: route(pick(['10.0.0.77/32', '10.9.1.255/32']), [devNh(ifx)], { table: 255, type: pick(['local', 'broadcast'] as const), protocol: 2, priority: 0, scope: 254 }) };
  }
  if (roll < 0.35) {
    const six = r() < 0.35;
    const state = pick(STATES);
    const mac = state === 'incomplete' || state === 'failed' ? null : `02:00:00:00:${ifx}:0${Math.floor(r() * 3)}`;
    return { kind: 'neigh', op, neighbor: neigh(ifx, six ? pick(HOSTS6) : pick(HOSTS4[ifx]!), mac, state) };
  }
  if (roll < 0.45) {
    const id = pick([11, 12, 13, 30]);
    if (id === 30) return { kind: 'nexthop', op, nexthop: nhGroup(30, r() < 0.5 ? [[11, 1], [12, 2]] : [[11, 1], [13, 1]]) };
    const oif = id === 13 ? 4 : pick([2, 3]);
    return { kind: 'nexthop', op, nexthop: nhObj(id, oif, pick(GW4[oif]!)) };
  }
  const six = r() < 0.3;
  const prefix = six ? pick(PREFIX6) : pick(PREFIX4);
  const over: Partial<Route> = {
    priority: pick([10, 20]),
    tos: !six && r() < 0.04 ? 0x10 : 0,
    type: r() < 0.08 ? pick(['blackhole', 'unreachable'] as const) : 'unicast',
    // `mtu N` on a route: the same nexthops with another MTU is another group; a replace may set, change or drop it.
    ...(r() < 0.25 ? { mtu: pick([1000, 1280, 1400, 1500, 9000]) } : {}),
  };
  if (over.type !== 'unicast') return { kind: 'route', op, route: route(prefix, [], over) };
  if (!six && r() < 0.2) return { kind: 'route', op, route: route(prefix, [], { ...over, nhId: pick([11, 12, 13, 30]) }) };
  const nh = (): RouteNexthop => {
    const i = pick(IFS);
    if (r() < 0.15) return devNh(i);
    if (six) return gwNh(i, pick(GW6));
    const gw = pick(GW4[i]!);
    return gwNh(i, gw, { onlink: gw === '169.254.0.1' });
  };
  const nexthops = Array.from({ length: 1 + Math.floor(r() * 3) }, nh)
    .filter((x, i, a) => a.findIndex((y) => y.ifindex === x.ifindex && y.gateway === x.gateway) === i);
  const multi = nexthops.filter((x) => x.gateway !== null);
  return { kind: 'route', op, route: route(prefix, nexthops.length > 1 ? (multi.length > 0 ? multi : nexthops.slice(0, 1)) : nexthops, over) };
}

function initial() {
  return snapshot({
    links: [link(1, 'lo', { kind: null }), ...IFS.map((i) => link(i, `eth${i}`))],
    addresses: [addr(2, '10.0.0.1', 24), addr(3, '10.0.1.1', 24), addr(4, '10.0.2.1', 24), addr(2, '2001:db8:f::1', 64)],
    routes: [
      connected('10.0.0.0/24', 2), connected('10.0.1.0/24', 3), connected('10.0.2.0/24', 4), connected('2001:db8:f::/64', 2),
      route('10.0.0.1/32', [devNh(2)], { table: 255, type: 'local', protocol: 2, priority: 0, scope: 254 }),
    ],
    neighbors: [neigh(2, '10.0.0.2', '02:00:00:00:02:01', 'reachable'), neigh(3, '10.0.1.2', '02:00:00:00:03:01', 'stale')],
  });
}

describe('incremental planning == planning from scratch', () => {
  it.each(Array.from({ length: 24 }, (_, i) => i + 1))('seed %i: 300 batches of 1–4 events', (seed) => {
    const r = rng(seed);
    const m = Mirror.fromSnapshot(initial());
    let state = PlanState.build(m, OPTS);
    const hows = new Map<PlanHow, number>();
    let opsSeen = 0;
    for (let step = 0; step < 300; step++) {
      const evs = Array.from({ length: 1 + Math.floor(r() * 4) }, () => gen(r, 0.03));
      const deltas: MirrorDelta[] = evs.map((ev) => m.apply(ev));
      const prev = state.plan;
      const next = state.next(m, mergeDeltas(deltas), OPTS);
      const full = buildPlan(m, { ...OPTS, previous: prev });
      const ctx = `seed ${seed} step ${step} (${next.how}): ${JSON.stringify(evs)}`;
      expect(next.state.plan, ctx).toEqual(full);
      expect(next.ops, ctx).toEqual(diffPlans(prev, full));
      hows.set(next.how, (hows.get(next.how) ?? 0) + 1);
      opsSeen += next.ops.length;
      state = next.state;
    }
    // Most batches must have been planned incrementally, and they must have changed things.
    expect(hows.get('incremental') ?? 0).toBeGreaterThan(200);
    expect(opsSeen).toBeGreaterThan(100);
  });

  it('a route change deep inside a large table re-sweeps one region and leaves the rest of the plan shared', () => {
    const routes: Route[] = [];
    for (let i = 0; i < 2000; i++) routes.push(route(`172.16.${i >> 8}.${i & 255}/32`, [gwNh(2, '10.0.0.2')]));
    const s = initial();
    const m = Mirror.fromSnapshot({ ...s, routes: [...s.routes, ...routes] });
    const state = PlanState.build(m, OPTS);
    const d = m.apply({ kind: 'route', op: 'new', route: route('172.16.3.0/24', [gwNh(3, '10.0.1.9')]) });
    const next = state.next(m, d, OPTS);
    expect(next.how).toBe('incremental');
    expect(next.regions).toBe(1);
    // The /24 forwards via a new group; the /32s inside it keep forwarding via theirs.
    expect(next.ops.map((o) => o.op)).toEqual(['group-add', 'entry-add']);
    expect(next.state.plan).toEqual(buildPlan(m, { ...OPTS, previous: state.plan }));
    // Entries are stored in column chunks: all but the one or two chunks the re-swept /24 (257 rows) falls in are the previous plan's.
    const before = state.internals.rows.entries;
    const after = next.state.internals.rows.entries;
    expect(before.chunkCount).toBeGreaterThan(3);
    expect(after.sharedChunks(before)).toBeGreaterThanOrEqual(before.chunkCount - 2);
    expect(after.sharedChunks(before)).toBeGreaterThan(0);
  });

  it('a neighbour MAC change is one group update, planned incrementally', () => {
    const s = initial();
    const m = Mirror.fromSnapshot({ ...s, routes: [...s.routes, route('198.51.100.0/24', [gwNh(2, '10.0.0.2')])] });
    const state = PlanState.build(m, OPTS);
    const d = m.apply({ kind: 'neigh', op: 'new', neighbor: neigh(2, '10.0.0.2', '02:00:00:00:02:09', 'reachable') });
    const next = state.next(m, d, OPTS);
    expect(next.how).toBe('incremental');
    expect(next.ops.map((o) => o.op)).toEqual(['group-update']);
    expect(next.state.plan).toEqual(buildPlan(m, { ...OPTS, previous: state.plan }));
  });

  it('link, address and local-table changes, and large batches, are planned from scratch (and still equal)', () => {
    const s = initial();
    const m = Mirror.fromSnapshot(s);
    let state = PlanState.build(m, OPTS);
    const cases: Array<[PlanHow, KernelEvent[]]> = [
      ['links', [{ kind: 'link', op: 'new', link: link(3, 'eth3', { carrier: false }) }]],
      ['addresses', [{ kind: 'addr', op: 'new', address: addr(2, '10.0.0.9', 24) }]],
      ['local-table', [{ kind: 'route', op: 'new', route: route('10.9.9.9/32', [devNh(2)], { table: 255, type: 'local', protocol: 2, priority: 0, scope: 254 }) }]],
      ['large', Array.from({ length: 300 }, (_, i) => ({ kind: 'route', op: 'new', route: route(`172.17.${i >> 8}.${i & 255}/32`, [gwNh(2, '10.0.0.2')]) }) as KernelEvent)],
    ];
    for (const [how, evs] of cases) {
      const d = mergeDeltas(evs.map((ev) => m.apply(ev)));
      const next = state.next(m, d, OPTS);
      expect(next.how).toBe(how);
      const full = buildPlan(m, { ...OPTS, previous: state.plan });
      expect(next.state.plan).toEqual(full);
      expect(next.ops).toEqual(diffPlans(state.plan, full));
      state = next.state;
    }
  });
});
