import { describe, it, expect } from 'vitest';
import { buildPlan, diffPlans, planJson, PUNT_BUCKET, type Plan, type PlanOptions } from '../../src/plan/index.js';
import { addr, dev, link, loopback, macOf, mirrorOf, neigh, nhObject, route, via } from './plan-helpers.js';

const MAC_A = '0a:00:00:00:00:0a';
const MAC_B = '0a:00:00:00:00:0b';
const MAC_C = '0a:00:00:00:00:0c';
const MAC_D = '0a:00:00:00:00:0d';

const OPTS: PlanOptions = { ports: ['eth*'] };

function gid(plan: Plan, key: string): number {
  const g = plan.groups.find((x) => x.key === key);
  if (!g) throw new Error(`no group ${key} in ${plan.groups.map((x) => x.key).join(' ')}`);
  return g.id;
}

// lo(1), eth1(2) and eth2(3) are offload ports, mgmt0(4) is not.
const LINKS = [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'mgmt0'), link(5, 'eth3')];

describe('buildPlan: overlapping prefixes (IPv4)', () => {
  const m = mirrorOf({
    links: LINKS,
    addresses: [addr(1, '10.9.9.9/32'), addr(2, '192.168.1.1/24'), addr(3, '192.168.2.1/24'), addr(4, '192.168.9.1/24')],
    neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(4, '192.168.9.2', MAC_C)],
    routes: [
      route('192.168.1.0/24', [dev(2)]),
      route('192.168.2.0/24', [dev(3)]),
      route('192.168.9.0/24', [dev(4)]),
      route('10.0.0.0/8', [via('192.168.1.2', 2)]),
      route('10.1.0.0/16', [via('192.168.9.2', 4)]),
      route('10.1.2.0/24', [via('192.168.2.2', 3)]),
    ],
  });
  const plan = buildPlan(m, OPTS);
  const gA = gid(plan, '2/192.168.1.2@1');
  const gB = gid(plan, '3/192.168.2.2@1');

  it('forwards the /8 and the /24, punts the /16 between them and the local /32', () => {
    expect(plan.entries).toEqual([
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: gA },
      { table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'egress-not-offloaded' },
      { table: 254, family: 4, dst: '10.1.2.0/24', action: 'forward', group: gB },
      { table: 254, family: 4, dst: '10.9.9.9/32', action: 'punt', reason: 'local' },
      { table: 254, family: 4, dst: '192.168.1.2/32', action: 'forward', group: gA },
      { table: 254, family: 4, dst: '192.168.2.2/32', action: 'forward', group: gB },
    ]);
  });

  it('lists every route it does not forward, with a reason', () => {
    expect(plan.skipped).toEqual([
      { table: 254, family: 4, dst: '10.1.0.0/16', reason: 'egress-not-offloaded' },
      { table: 254, family: 4, dst: '192.168.1.0/24', reason: 'connected' },
      { table: 254, family: 4, dst: '192.168.2.0/24', reason: 'connected' },
      { table: 254, family: 4, dst: '192.168.9.0/24', reason: 'egress-not-offloaded' },
    ]);
  });

  it('builds one group per adjacency, shared by routes and connected hosts, smac = egress port MAC', () => {
    expect(planJson(plan).groups).toEqual([
      { id: gA, members: [{ dev: 'eth1', ifindex: 2, dmac: MAC_A, smac: macOf(2), weight: 1 }] },
      { id: gB, members: [{ dev: 'eth2', ifindex: 3, dmac: MAC_B, smac: macOf(3), weight: 1 }] },
    ].sort((a, b) => a.id - b.id));
  });

  it('marks ports by spec and states the TTL punt', () => {
    const j = planJson(plan);
    expect(j.ports).toEqual([
      { ifindex: 1, dev: 'lo', backend: 'none', table: 254 },
      { ifindex: 2, dev: 'eth1', backend: 'xdp', table: 254 },
      { ifindex: 3, dev: 'eth2', backend: 'xdp', table: 254 },
      { ifindex: 4, dev: 'mgmt0', backend: 'none', table: 254 },
      { ifindex: 5, dev: 'eth3', backend: 'xdp', table: 254 },
    ]);
    expect(j.ttlPunt).toBe(true);
  });
});

describe('buildPlan: overlapping prefixes (IPv6)', () => {
  const m = mirrorOf({
    links: LINKS,
    addresses: [addr(1, '2001:db8:ffff::1/128'), addr(2, 'fe80::1/64', 253)],
    neighbors: [neigh(2, 'fe80::a', MAC_A), neigh(3, 'fe80::b', MAC_B), neigh(4, 'fe80::c', MAC_C)],
    routes: [
      route('fe80::/64', [dev(2)]),
      route('::/0', [via('fe80::a', 2)]),
      route('2001:db8::/32', [via('fe80::a', 2)]),
      route('2001:db8:1::/48', [via('fe80::c', 4)]),
      route('2001:db8:1:2::/64', [via('fe80::b', 3)]),
    ],
  });
  const plan = buildPlan(m, OPTS);
  const gA = gid(plan, '2/fe80::a@1');
  const gB = gid(plan, '3/fe80::b@1');

  it('gives the exact entries: LPM-safe punts, local address, and the kernel-only ranges the default shadows', () => {
    expect(plan.entries).toEqual([
      { table: 254, family: 6, dst: '::/0', action: 'forward', group: gA },
      { table: 254, family: 6, dst: '::/128', action: 'punt', reason: 'martian' },
      { table: 254, family: 6, dst: '::1/128', action: 'punt', reason: 'martian' },
      { table: 254, family: 6, dst: '::ffff:0.0.0.0/96', action: 'punt', reason: 'martian' },
      { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: gA },
      { table: 254, family: 6, dst: '2001:db8:1::/48', action: 'punt', reason: 'egress-not-offloaded' },
      { table: 254, family: 6, dst: '2001:db8:1:2::/64', action: 'forward', group: gB },
      { table: 254, family: 6, dst: '2001:db8:ffff::1/128', action: 'punt', reason: 'local' },
      { table: 254, family: 6, dst: 'fe80::/10', action: 'punt', reason: 'link-local' },
      { table: 254, family: 6, dst: 'ff00::/8', action: 'punt', reason: 'multicast' },
    ]);
    expect(plan.skipped).toEqual([
      { table: 254, family: 6, dst: '2001:db8:1::/48', reason: 'egress-not-offloaded' },
      { table: 254, family: 6, dst: 'fe80::/64', reason: 'link-local' },
    ]);
  });
});

describe('buildPlan: route kinds and reasons', () => {
  const base = {
    links: LINKS,
    neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B)],
  };

  it('skips blackhole / unreachable / prohibit and punts them under a forwarded prefix', () => {
    const m = mirrorOf({
      ...base,
      routes: [
        route('0.0.0.0/0', [via('192.168.1.2', 2)]),
        route('10.1.0.0/16', [], { type: 'blackhole' }),
        route('10.2.0.0/16', [], { type: 'unreachable' }),
        route('10.3.0.0/16', [], { type: 'prohibit' }),
      ],
    });
    const plan = buildPlan(m, OPTS);
    const punts = plan.entries.filter((e) => e.action === 'punt').map((e) => [e.dst, e.reason]);
    expect(punts).toEqual([
      ['0.0.0.0/8', 'martian'],
      ['10.1.0.0/16', 'blackhole'],
      ['10.2.0.0/16', 'unreachable'],
      ['10.3.0.0/16', 'prohibit'],
      ['127.0.0.0/8', 'martian'],
      ['224.0.0.0/4', 'multicast'],
      ['255.255.255.255/32', 'broadcast'],
    ]);
  });

  it('keeps a TOS route\'s prefix with the kernel', () => {
    const m = mirrorOf({
      ...base,
      routes: [
        route('10.0.0.0/8', [via('192.168.1.2', 2)]),
        route('10.5.0.0/16', [via('192.168.2.2', 3)], { tos: 0x10 }),
      ],
    });
    const plan = buildPlan(m, OPTS);
    expect(plan.entries.map((e) => [e.dst, e.action, e.reason])).toEqual([
      ['10.0.0.0/8', 'forward', undefined],
      ['10.5.0.0/16', 'punt', 'tos'],
    ]);
  });

  it('keeps encapsulating routes (route RTA_ENCAP or nexthop object NHA_ENCAP) with the kernel', () => {
    const m = mirrorOf({
      ...base,
      nexthops: [nhObject(7, { family: 4, oif: 2, gateway: { family: 4, address: '192.168.1.2' }, encap: true })],
      routes: [
        route('10.0.0.0/8', [via('192.168.1.2', 2)]),
        { ...route('10.6.0.0/16', [via('192.168.1.2', 2)]), encap: true },
        route('10.7.0.0/16', [], { nhId: 7 }),
      ],
    });
    const plan = buildPlan(m, OPTS);
    expect(plan.entries.map((e) => [e.dst, e.action, e.reason])).toEqual([
      ['10.0.0.0/8', 'forward', undefined],
      ['10.6.0.0/16', 'punt', 'encap'],
      ['10.7.0.0/16', 'punt', 'encap'],
    ]);
  });

  it('a member on a non-offload port makes the whole ECMP route skipped', () => {
    const m = mirrorOf({
      ...base,
      neighbors: [...base.neighbors, neigh(4, '192.168.9.2', MAC_C)],
      routes: [route('10.0.0.0/8', [via('192.168.1.2', 2), via('192.168.9.2', 4)])],
    });
    const plan = buildPlan(m, OPTS);
    expect(plan.entries).toEqual([]);
    expect(plan.groups).toEqual([]);
    expect(plan.skipped).toEqual([{ table: 254, family: 4, dst: '10.0.0.0/8', reason: 'egress-not-offloaded' }]);
  });

  it('resolves RFC 5549 (IPv4 via an IPv6 link-local gateway) and nexthop objects', () => {
    const m = mirrorOf({
      links: LINKS,
      neighbors: [neigh(2, 'fe80::a', MAC_A), neigh(3, 'fe80::b', MAC_B)],
      nexthops: [
        nhObject(10, { family: 6, oif: 2, gateway: { family: 6, address: 'fe80::a' } }),
        nhObject(11, { family: 6, oif: 3, gateway: { family: 6, address: 'fe80::b' } }),
        nhObject(20, { group: [{ id: 10, weight: 1 }, { id: 11, weight: 1 }], groupType: 'mpath' }),
      ],
      routes: [
        route('10.0.0.0/8', [via('fe80::a', 2)]),
        route('10.1.0.0/16', [], { nhId: 20 }),
      ],
    });
    const plan = buildPlan(m, OPTS);
    const g20 = plan.groups.find((g) => g.key === 'nh:20')!;
    expect(g20.members.map((x) => [x.dev, x.dmac])).toEqual([['eth1', MAC_A], ['eth2', MAC_B]]);
    expect(plan.entries).toEqual([
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: gid(plan, '2/fe80::a@1') },
      { table: 254, family: 4, dst: '10.1.0.0/16', action: 'forward', group: g20.id },
    ]);
  });

  it('covers main and every VRF by default, never the local table', () => {
    const m = mirrorOf({
      links: [...LINKS, link(10, 'red', { kind: 'vrf', vrfTable: 100, mac: macOf(10) }), link(11, 'eth10', { master: 10 })],
      addresses: [addr(11, '10.0.0.1/24'), addr(11, '172.20.0.1/32')],
      neighbors: [neigh(11, '10.0.0.2', MAC_D)],
      routes: [
        route('10.0.0.0/24', [dev(11)], { table: 100 }),
        route('0.0.0.0/0', [via('10.0.0.2', 11)], { table: 100 }),
        route('10.0.0.1/32', [dev(11)], { table: 255, type: 'local' }),
      ],
    });
    const plan = buildPlan(m, OPTS);
    expect(plan.tables).toEqual([100, 254]);
    expect(plan.ports.find((p) => p.dev === 'red')!.backend).toBe('none');
    const g = gid(plan, '11/10.0.0.2@1');
    expect(plan.entries.filter((e) => e.table === 100 && !['martian', 'multicast', 'broadcast'].includes(e.reason ?? ''))).toEqual([
      { table: 100, family: 4, dst: '0.0.0.0/0', action: 'forward', group: g },
      // The connected subnet is shadowed by the default: punted, which also covers the
      // VRF's own address and broadcast inside it; the known neighbour is forwarded.
      { table: 100, family: 4, dst: '10.0.0.0/24', action: 'punt', reason: 'connected' },
      { table: 100, family: 4, dst: '10.0.0.2/32', action: 'forward', group: g },
      { table: 100, family: 4, dst: '172.20.0.1/32', action: 'punt', reason: 'local' },
    ]);
    expect(plan.entries.filter((e) => e.table === 254)).toEqual([]);
  });

  it('honours an explicit table list', () => {
    const m = mirrorOf({ ...base, routes: [route('10.0.0.0/8', [via('192.168.1.2', 2)], { table: 7 })] });
    expect(buildPlan(m, OPTS).entries).toEqual([]);
    expect(buildPlan(m, { ...OPTS, tables: [7] }).entries.map((e) => e.dst)).toEqual(['10.0.0.0/8']);
  });

  it('a neighbour host under a more specific route is not forwarded directly', () => {
    const m = mirrorOf({
      links: LINKS,
      neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(2, '192.168.1.200', MAC_C), neigh(3, '192.168.2.2', MAC_B)],
      routes: [
        route('192.168.1.0/24', [dev(2)]),
        route('192.168.1.128/25', [via('192.168.2.2', 3)]),
      ],
    });
    const plan = buildPlan(m, OPTS);
    expect(plan.entries.map((e) => [e.dst, e.action])).toEqual([
      ['192.168.1.2/32', 'forward'],
      ['192.168.1.128/25', 'forward'],
    ]);
  });
});

describe('adjacency groups and the diff', () => {
  const snap = {
    links: LINKS,
    neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(5, '192.168.3.2', MAC_D)],
    routes: [
      route('192.168.1.0/24', [dev(2)]),
      ...Array.from({ length: 50 }, (_, i) => route(`10.${i}.0.0/16`, [via('192.168.1.2', 2), via('192.168.2.2', 3), via('192.168.3.2', 5)])),
      ...Array.from({ length: 50 }, (_, i) => route(`172.16.${i}.0/24`, [via('192.168.1.2', 2)])),
    ],
  };

  it('a neighbour MAC change is exactly one group update', () => {
    const m = mirrorOf(snap);
    const p1 = buildPlan(m, OPTS);
    m.apply({ kind: 'neigh', op: 'new', neighbor: neigh(2, '192.168.1.2', '0a:00:00:00:99:99') });
    const p2 = buildPlan(m, { ...OPTS, previous: p1 });
    const ops = diffPlans(p1, p2);
    // The ECMP group and the single-path group both contain that neighbour: one update each, no entry ops.
    expect(ops.map((o) => o.op)).toEqual(['group-update', 'group-update']);
    const single = gid(p1, '2/192.168.1.2@1');
    const singleOnly = buildPlan(mirrorOf({ ...snap, routes: snap.routes.filter((r) => r.nexthops.length === 1) }), OPTS);
    const m2 = mirrorOf({ ...snap, routes: snap.routes.filter((r) => r.nexthops.length === 1) });
    m2.apply({ kind: 'neigh', op: 'new', neighbor: neigh(2, '192.168.1.2', '0a:00:00:00:99:99') });
    const ops2 = diffPlans(singleOnly, buildPlan(m2, { ...OPTS, previous: singleOnly }));
    expect(ops2).toHaveLength(1);
    expect(ops2[0]).toMatchObject({ op: 'group-update', group: { id: single, members: [{ dmac: '0a:00:00:00:99:99' }] } });
  });

  it('a member link going down rewrites one group (same id), its buckets move to the others only', () => {
    const m = mirrorOf(snap);
    const p1 = buildPlan(m, OPTS);
    m.apply({ kind: 'link', op: 'new', link: link(5, 'eth3', { adminUp: false, carrier: false, operState: 'down' }) });
    const p2 = buildPlan(m, { ...OPTS, previous: p1 });
    const ops = diffPlans(p1, p2);
    expect(ops.map((o) => o.op)).toEqual(['group-update']);
    const before = p1.groups.find((g) => g.members.length === 3)!;
    const after = p2.groups.find((g) => g.id === before.id)!;
    expect(after.members.map((x) => x.dev)).toEqual(['eth1', 'eth2']);
    // Buckets of eth1/eth2 stay where they were; only eth3's (index 2) are handed out.
    before.buckets.forEach((t, i) => {
      if (t !== 2) expect(after.members[after.buckets[i]!]!.dev).toBe(before.members[t]!.dev);
      else expect(after.buckets[i]).not.toBe(PUNT_BUCKET);
    });
    // 16 buckets over 2 equal members again.
    expect(after.buckets.filter((b) => b === 0)).toHaveLength(8);
  });

  it('carrier loss: the member\'s share punts (kernel default) or is redistributed (ignore_routes_with_linkdown)', () => {
    const m = mirrorOf(snap);
    m.apply({ kind: 'link', op: 'new', link: link(5, 'eth3', { carrier: false, operState: 'lowerlayerdown' }) });
    const keep = buildPlan(m, OPTS).groups.find((g) => g.key.split(',').length === 3)!;
    expect(keep.members.map((x) => x.dev)).toEqual(['eth1', 'eth2']);
    expect(keep.buckets.filter((b) => b === PUNT_BUCKET)).toHaveLength(5);
    const ignore = buildPlan(m, { ...OPTS, ignoreLinkdown: true }).groups.find((g) => g.key.split(',').length === 3)!;
    expect(ignore.buckets.filter((b) => b === PUNT_BUCKET)).toHaveLength(0);
    expect(ignore.id).toBe(keep.id);
  });

  it('an unresolved member is left out, its share punted; resolving it moves no other flow', () => {
    const m = mirrorOf({ ...snap, neighbors: [...snap.neighbors.slice(0, 2), neigh(5, '192.168.3.2', null, 'failed')] });
    const p1 = buildPlan(m, OPTS);
    const g1 = p1.groups.find((g) => g.key.split(',').length === 3)!;
    expect(g1.members.map((x) => x.dev)).toEqual(['eth1', 'eth2']);
    m.apply({ kind: 'neigh', op: 'new', neighbor: neigh(5, '192.168.3.2', MAC_D, 'stale') });
    const p2 = buildPlan(m, { ...OPTS, previous: p1 });
    const g2 = p2.groups.find((g) => g.id === g1.id)!;
    g1.buckets.forEach((t, i) => {
      if (t === PUNT_BUCKET) expect(g2.members[g2.buckets[i]!]!.dev).toBe('eth3');
      else expect(g2.buckets[i]).toBe(t);
    });
    expect(diffPlans(p1, p2).map((o) => o.op)).toEqual(['group-update']);
  });

  it('all members unresolved: the entry stays (pointing at an all-punt group) and the route is listed as skipped', () => {
    const m = mirrorOf({ links: LINKS, routes: [route('10.0.0.0/8', [via('192.168.1.2', 2)])] });
    const plan = buildPlan(m, OPTS);
    const g = plan.groups[0]!;
    expect(g.members).toEqual([]);
    expect(g.buckets).toEqual([PUNT_BUCKET]);
    expect(plan.entries).toEqual([{ table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: g.id, reason: 'unresolved-neighbor' }]);
    expect(plan.skipped).toEqual([{ table: 254, family: 4, dst: '10.0.0.0/8', reason: 'unresolved-neighbor' }]);
  });

  it('orders the diff: groups added before entries, entries deleted before groups', () => {
    const p1 = buildPlan(mirrorOf(snap), OPTS);
    const p2 = buildPlan(mirrorOf({ ...snap, routes: [route('10.200.0.0/16', [via('192.168.2.2', 3)])] }), { ...OPTS, previous: p1 });
    const ops = diffPlans(p1, p2).map((o) => o.op);
    const first = (op: string) => ops.indexOf(op);
    const last = (op: string) => ops.lastIndexOf(op);
    expect(last('group-add')).toBeLessThan(first('entry-add'));
    expect(last('entry-add')).toBeLessThan(first('entry-delete'));
    expect(last('entry-delete')).toBeLessThan(first('group-delete'));
    expect(diffPlans(p2, p2)).toEqual([]);
  });

  it('gives the same changes for entries out of canonical order (hash-map path)', () => {
    const p1 = buildPlan(mirrorOf(snap), OPTS);
    const p2 = buildPlan(mirrorOf({ ...snap, routes: snap.routes.slice(20) }), { ...OPTS, previous: p1 });
    const shuffled: Plan = { ...p2, entries: [...p2.entries].reverse() };
    const key = (o: ReturnType<typeof diffPlans>[number]) => JSON.stringify(o);
    expect(diffPlans(p1, shuffled).map(key).sort()).toEqual(diffPlans(p1, p2).map(key).sort());
    expect(planJson(shuffled)).toEqual(planJson(p2));
  });

  it('group ids are stable across recomputation and independent of route order', () => {
    const p1 = buildPlan(mirrorOf(snap), OPTS);
    const p2 = buildPlan(mirrorOf({ ...snap, routes: [...snap.routes].reverse() }), OPTS);
    expect(p2.groups.map((g) => [g.id, g.key])).toEqual(p1.groups.map((g) => [g.id, g.key]));
    for (const g of p1.groups) {
      expect(g.id).toBeGreaterThanOrEqual(0x100);
      expect(g.id).toBeLessThanOrEqual(0x0fffffff);
    }
    expect(planJson(p2)).toEqual(planJson(p1));
  });
});
