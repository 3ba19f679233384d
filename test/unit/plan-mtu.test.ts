// Route MTU (issue 16 item 4): a route's RTAX_MTU below an egress port's MTU
// makes its adjacency group carry the MTU (XDP checks each packet against it;
// tc, which can't match a length, leaves the group's traffic to the kernel).
import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import { buildPlan, diffPlans, planJson, tcBatch, type Plan, type PlanOptions } from '../../src/plan/index.js';
import { PlanState } from '../../src/plan/incremental.js';
import { groupFilters } from '../../src/tc/rules.js';
import { decodeGroup, encodeGroupKey } from '../../src/xdp/layout.js';
import { xdpGroupValue, xdpEgresses } from '../../src/xdp/state.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, snapshot, via } from './plan-helpers.js';

const MAC_A = '0a:00:00:00:00:0a';
const MAC_B = '0a:00:00:00:00:0b';
const OPTS: PlanOptions = { ports: ['eth*'] };

// eth1 (2) MTU 1500, eth2 (3) MTU 9000.
const LINKS = [loopback(), link(2, 'eth1'), link(3, 'eth2', { mtu: 9000 })];
const BASE = {
  links: LINKS,
  addresses: [addr(2, '192.168.1.1/24'), addr(3, '192.168.2.1/24'), addr(2, '2001:db8:1::1/64')],
  neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(2, '2001:db8:1::2', MAC_A)],
};

function groupOf(plan: Plan, dst: string) {
  const e = plan.entries.find((x) => x.dst === dst);
  if (!e || e.action !== 'forward') throw new Error(`${dst} is not forwarded: ${JSON.stringify(e)}`);
  return plan.groups.find((g) => g.id === e.group)!;
}

describe('route MTU in the plan', () => {
  const plan = buildPlan(mirrorOf({
    ...BASE,
    routes: [
      route('192.168.1.0/24', [dev(2)]),
      route('192.168.2.0/24', [dev(3)]),
      route('2001:db8:1::/64', [dev(2)]),
      route('10.0.0.0/16', [via('192.168.1.2', 2)]),
      route('10.1.0.0/16', [via('192.168.1.2', 2)], { mtu: 1000 }),
      route('10.2.0.0/16', [via('192.168.1.2', 2)], { mtu: 1000 }),
      route('10.3.0.0/16', [via('192.168.1.2', 2)], { mtu: 1400 }),
      route('10.4.0.0/16', [via('192.168.1.2', 2)], { mtu: 1500 }),
      route('10.5.0.0/16', [via('192.168.1.2', 2)], { mtu: 9000 }),
      route('10.6.0.0/16', [via('192.168.1.2', 2), via('192.168.2.2', 3)], { mtu: 1500 }),
      route('2001:db8:100::/48', [via('2001:db8:1::2', 2)], { mtu: 1280 }),
      route('2001:db8:101::/48', [via('2001:db8:1::2', 2)], { mtu: 1000 }),
    ],
  }), OPTS);

  it('a route MTU below the egress MTU is its group\'s, in the identity: one group per (nexthops, MTU)', () => {
    const plain = groupOf(plan, '10.0.0.0/16');
    const g1000 = groupOf(plan, '10.1.0.0/16');
    expect(plain.mtu).toBeUndefined();
    expect(g1000).toMatchObject({ key: '2/192.168.1.2@1|mtu1000', mtu: 1000, members: plain.members, buckets: plain.buckets });
    expect(groupOf(plan, '10.2.0.0/16')).toBe(g1000);
    expect(groupOf(plan, '10.3.0.0/16')).toMatchObject({ key: '2/192.168.1.2@1|mtu1400', mtu: 1400 });
  });

  it('at or above every egress MTU the device check decides: the route shares the plain group', () => {
    expect(groupOf(plan, '10.4.0.0/16')).toBe(groupOf(plan, '10.0.0.0/16'));
    expect(groupOf(plan, '10.5.0.0/16')).toBe(groupOf(plan, '10.0.0.0/16'));
  });

  it('ECMP: below one member\'s egress MTU is enough (eth2 has 9000)', () => {
    expect(groupOf(plan, '10.6.0.0/16')).toMatchObject({ mtu: 1500 });
    expect(groupOf(plan, '10.6.0.0/16').members.map((m) => m.dev)).toEqual(['eth1', 'eth2']);
  });

  it('IPv6: the MTU as ip6_forward() uses it, at least 1280', () => {
    expect(groupOf(plan, '2001:db8:100::/48')).toMatchObject({ key: '2/2001:db8:1::2@1|mtu1280', mtu: 1280 });
    expect(groupOf(plan, '2001:db8:101::/48')).toBe(groupOf(plan, '2001:db8:100::/48'));
  });

  it('routes with a route MTU are forwarded, not skipped; plan --json shows the group\'s mtu (additive)', () => {
    expect(plan.skipped.filter((s) => s.dst.startsWith('10.'))).toEqual([]);
    const j = planJson(plan).groups.find((g) => g.id === groupOf(plan, '10.1.0.0/16').id)!;
    expect(j).toEqual({ id: j.id, members: [{ dev: 'eth1', ifindex: 2, dmac: MAC_A, smac: '02:00:00:00:00:02', weight: 1 }], mtu: 1000 });
    expect(planJson(plan).groups.find((g) => g.id === groupOf(plan, '10.0.0.0/16').id)).not.toHaveProperty('mtu');
  });

  it('XDP: the group value carries the MTU', () => {
    const g = groupOf(plan, '10.1.0.0/16');
    const v = xdpGroupValue(g, xdpEgresses(plan.ports.filter((p) => p.ifindex === 2 || p.ifindex === 3)));
    expect(decodeGroup(encodeGroupKey(g.id), v)).toMatchObject({ mtu: 1000, buckets: [0] });
    expect(decodeGroup(encodeGroupKey(1), xdpGroupValue(groupOf(plan, '10.0.0.0/16'), xdpEgresses(plan.ports.filter((p) => p.ifindex === 2 || p.ifindex === 3))))).not.toHaveProperty('mtu');
  });

  it('tc: every bucket of a route-MTU group passes to the kernel (no length match); the plain group forwards', () => {
    const tcPorts = new Set([2, 3]);
    const acts = (dst: string) => groupFilters(254, 4, groupOf(plan, dst), tcPorts, 'none').map((f) => f.filter.actions.map((a) => a.kind));
    expect(acts('10.1.0.0/16')).toEqual([['pass']]);
    expect(acts('10.6.0.0/16').every((a) => a.length === 1 && a[0] === 'pass')).toBe(true);
    expect(acts('10.0.0.0/16')).toEqual([['rewrite', 'csum-ip4h', 'redirect']]);
    const batch = tcBatch({ ...plan, ports: plan.ports.map((p) => (p.backend === 'xdp' ? { ...p, backend: 'tc' as const } : p)) });
    expect(batch).toMatch(/# group \d+ \(2\/192\.168\.1\.2@1\|mtu1000\): route mtu 1000: punt/);
  });
});

describe('route MTU on a connected subnet', () => {
  it('its neighbours\' host entries use a group with the subnet route\'s MTU, apart from gateway routes via them', () => {
    const plan = buildPlan(mirrorOf({
      ...BASE,
      routes: [route('192.168.1.0/24', [dev(2)], { mtu: 1200 }), route('10.0.0.0/16', [via('192.168.1.2', 2)])],
    }), OPTS);
    expect(groupOf(plan, '192.168.1.2/32')).toMatchObject({ key: '2/192.168.1.2@1|mtu1200', mtu: 1200 });
    expect(groupOf(plan, '10.0.0.0/16')).toMatchObject({ key: '2/192.168.1.2@1' });
    expect(groupOf(plan, '10.0.0.0/16').mtu).toBeUndefined();
  });
});

describe('route MTU changes, planned incrementally', () => {
  const initial = () => snapshot({
    ...BASE,
    routes: [route('192.168.1.0/24', [dev(2)]), route('10.0.0.0/16', [via('192.168.1.2', 2)]), route('10.1.0.0/16', [via('192.168.1.2', 2)])],
  });

  it('setting, changing and removing a route\'s MTU (and its connected subnet\'s) equals planning from scratch', () => {
    const m = Mirror.fromSnapshot(initial());
    let state = PlanState.build(m, OPTS);
    const steps = [
      route('10.1.0.0/16', [via('192.168.1.2', 2)], { mtu: 1000 }),
      route('10.1.0.0/16', [via('192.168.1.2', 2)], { mtu: 1400 }),
      route('192.168.1.0/24', [dev(2)], { mtu: 1300 }),
      route('192.168.1.0/24', [dev(2)], { mtu: 1100 }),
      route('10.1.0.0/16', [via('192.168.1.2', 2)], { mtu: 1500 }),
      route('192.168.1.0/24', [dev(2)]),
      route('10.1.0.0/16', [via('192.168.1.2', 2)]),
    ];
    const mtus: (number | undefined)[] = [];
    const changed: boolean[] = [];
    for (const r of steps) {
      const d = m.apply({ kind: 'route', op: 'new', route: r });
      const next = state.next(m, d, OPTS);
      const full = buildPlan(m, { ...OPTS, previous: state.plan });
      expect(next.how).toBe('incremental');
      expect(next.state.plan).toEqual(full);
      expect(next.ops).toEqual(diffPlans(state.plan, full));
      changed.push(next.ops.length > 0);
      state = next.state;
      mtus.push(groupOf(state.plan, r.dstLen === 16 ? '10.1.0.0/16' : '192.168.1.2/32').mtu);
    }
    expect(mtus).toEqual([1000, 1400, 1300, 1100, undefined, undefined, undefined]);
    // The last step drops an MTU that no longer mattered (1500 on a 1500 port): nothing to change.
    expect(changed).toEqual([true, true, true, true, true, true, false]);
    // The route via the same neighbour without an MTU never moved.
    expect(groupOf(state.plan, '10.0.0.0/16').key).toBe('2/192.168.1.2@1');
  });

  it('a port MTU change re-plans from scratch, and a route MTU stops (or starts) mattering', () => {
    const s = initial();
    const m = Mirror.fromSnapshot({ ...s, routes: [...s.routes.filter((r) => r.dst !== '10.1.0.0'), route('10.1.0.0/16', [via('192.168.1.2', 2)], { mtu: 1400 })] });
    let state = PlanState.build(m, OPTS);
    expect(groupOf(state.plan, '10.1.0.0/16').mtu).toBe(1400);
    for (const [mtu, want] of [[1400, undefined], [9000, 1400]] as const) {
      const next = state.next(m, m.apply({ kind: 'link', op: 'new', link: link(2, 'eth1', { mtu }) }), OPTS);
      expect(next.how).toBe('links');
      expect(next.state.plan).toEqual(buildPlan(m, { ...OPTS, previous: state.plan }));
      state = next.state;
      expect(groupOf(state.plan, '10.1.0.0/16').mtu).toBe(want);
    }
  });
});
