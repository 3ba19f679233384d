import { describe, it, expect } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import type { MirrorDelta } from '../../src/mirror/delta.js';
import type { KernelEvent } from '../../src/model/events.js';
import type { Link } from '../../src/model/link.js';
import { neighborKey } from '../../src/model/neighbor.js';
import { prefixKey, routeKey, type Route } from '../../src/model/route.js';
import {
  addr, connected, devNh, gwNh, link, neigh, nhGroup, nhObj, route, snapshot,
} from '../fixtures/mirror/build.js';
import { ReferenceKernel } from '../fixtures/mirror/reference.js';
import { canonicalState } from '../../src/mirror/canonical.js';

const LL = '169.254.0.1';
const K = (p: string, table = 254): string => {
  const [dst, len] = p.split('/') as [string, string];
  return prefixKey({ table, family: dst.includes(':') ? 6 : 4, dst, dstLen: Number(len) });
};

const eth1 = link(2, 'eth1');
const eth2 = link(3, 'eth2');
const eth3 = link(4, 'eth3');

const R = {
  A: route('10.1.0.0/24', [gwNh(2, LL, { onlink: true })]),
  B: route('10.2.0.0/24', [gwNh(2, LL, { onlink: true }), gwNh(3, LL, { onlink: true })]),
  C: route('10.3.0.0/24', [gwNh(3, LL, { onlink: true })]),
  D: route('10.4.0.0/24', [], { nhId: 11 }),
  E: route('10.5.0.0/24', [], { nhId: 30 }),
  F: connected('10.6.0.0/24', 4),
  G: route('2001:db8::/64', [gwNh(2, 'fe80::1')], { priority: 1024 }),
};

function build(): Mirror {
  return Mirror.fromSnapshot(snapshot({
    links: [eth1, eth2, eth3],
    neighbors: [neigh(2, LL, '02:aa:00:00:00:01', 'permanent'), neigh(3, LL, '02:aa:00:00:00:02', 'permanent'),
      neigh(2, 'fe80::1', '02:66:00:00:00:01'), neigh(3, 'fe80::2', '02:66:00:00:00:02')],
    nexthops: [nhObj(11, 2, 'fe80::1'), nhObj(12, 3, 'fe80::2'), nhGroup(30, [[11, 1], [12, 1]])],
    routes: Object.values(R),
  }));
}

function delta(over: Partial<{ routes: string[]; neighbors: string[]; links: number[]; nexthops: number[]; addressesChanged: boolean }>): MirrorDelta {
  return {
    routes: new Set(over.routes ?? []), neighbors: new Set(over.neighbors ?? []), links: new Set(over.links ?? []),
    nexthops: new Set(over.nexthops ?? []), addressesChanged: over.addressesChanged ?? false, rulesChanged: false, firewallChanged: false, netconfChanged: false,
  };
}

function apply(m: Mirror, ev: KernelEvent): MirrorDelta {
  const d = m.apply(ev);
  expect(m.verifyIndexes()).toEqual([]);
  return d;
}

const routeKeys = (m: Mirror): string[] => [...m.routes()].map(routeKey).sort();
const linkEv = (l: Link, over: Partial<Link>): KernelEvent => ({ kind: 'link', op: 'new', link: { ...l, ...over } });
const find = (m: Mirror, r: Route): Route | undefined => m.routesFor(prefixKey(r)).find((x) => routeKey(x) === routeKey(r));

describe('incremental updates: deltas name exactly the dependents', () => {
  it('neighbour MAC change → only routes via that (ifindex, address)', () => {
    const m = build();
    const d = apply(m, { kind: 'neigh', op: 'new', neighbor: neigh(2, LL, '02:bb:00:00:00:01', 'permanent') });
    expect(d).toEqual(delta({ routes: [K('10.1.0.0/24'), K('10.2.0.0/24')], neighbors: [neighborKey(2, 4, LL)] }));
    expect(m.resolveRoute(R.A).nexthops[0]?.mac).toBe('02:bb:00:00:00:01');
  });

  it('an identical neighbour update changes nothing', () => {
    const m = build();
    expect(apply(m, { kind: 'neigh', op: 'new', neighbor: neigh(3, LL, '02:aa:00:00:00:02', 'permanent') })).toEqual(delta({}));
  });

  it('IPv6 link-local neighbour → inline route, object route, and the group using the object', () => {
    const m = build();
    const d = apply(m, { kind: 'neigh', op: 'new', neighbor: neigh(2, 'fe80::1', '02:66:00:00:00:09', 'stale') });
    expect(d).toEqual(delta({
      routes: [K('10.4.0.0/24'), K('10.5.0.0/24'), K('2001:db8::/64')], neighbors: [neighborKey(2, 6, 'fe80::1')],
    }));
  });

  it('neighbour deletion leaves routes in place, unresolved', () => {
    const m = build();
    const d = apply(m, { kind: 'neigh', op: 'del', neighbor: neigh(3, LL, null, 'none') });
    expect(d).toEqual(delta({ routes: [K('10.2.0.0/24'), K('10.3.0.0/24')], neighbors: [neighborKey(3, 4, LL)] }));
    expect(m.counts.routes).toBe(7);
    expect(m.resolveRoute(R.C).nexthops.map((n) => [n.resolved, n.mac])).toEqual([[false, null]]);
  });

  it('nexthop object replace re-resolves its routes and its groups’ routes', () => {
    const m = build();
    const d = apply(m, { kind: 'nexthop', op: 'new', nexthop: nhObj(11, 3, 'fe80::2') });
    expect(d).toEqual(delta({ routes: [K('10.4.0.0/24'), K('10.5.0.0/24')], nexthops: [11] }));
    expect(m.resolveRoute(R.D).nexthops.map((n) => [n.ifindex, n.mac])).toEqual([[3, '02:66:00:00:00:02']]);
    // The old neighbour no longer matters to it.
    expect(apply(m, { kind: 'neigh', op: 'new', neighbor: neigh(2, 'fe80::1', '02:66:00:00:00:77') }).routes)
      .toEqual(new Set([K('2001:db8::/64')]));
  });

  it('group replace moves the parent index', () => {
    const m = build();
    apply(m, { kind: 'nexthop', op: 'new', nexthop: nhGroup(30, [[12, 5]]) });
    const d = apply(m, { kind: 'nexthop', op: 'new', nexthop: nhObj(11, 2, 'fe80::5') });
    expect(d.routes).toEqual(new Set([K('10.4.0.0/24')]));
    expect(m.resolveRoute(R.E).nexthops.map((n) => [n.nhId, n.weight])).toEqual([[12, 5]]);
  });

  it('best-metric selection, and the next best takes over when the best is deleted', () => {
    const m = build();
    const better = route('10.3.0.0/24', [gwNh(2, LL, { onlink: true })], { priority: 10, protocol: 4 });
    const tos = route('10.3.0.0/24', [gwNh(2, LL, { onlink: true })], { priority: 1, tos: 0x10 });
    expect(apply(m, { kind: 'route', op: 'new', route: better })).toEqual(delta({ routes: [K('10.3.0.0/24')] }));
    apply(m, { kind: 'route', op: 'new', route: tos });
    // Routes are stored in columns: a read makes a fresh object with the same content.
    expect(m.effectiveRoute(K('10.3.0.0/24'))?.route).toEqual(better);
    expect(m.routesFor(K('10.3.0.0/24'))).toHaveLength(3);
    expect(apply(m, { kind: 'route', op: 'del', route: better })).toEqual(delta({ routes: [K('10.3.0.0/24')] }));
    expect(m.effectiveRoute(K('10.3.0.0/24'))?.route).toEqual(R.C);
    apply(m, { kind: 'route', op: 'del', route: R.C });
    // Only a tos route left: nothing forwards for the prefix in general.
    expect(m.effectiveRoute(K('10.3.0.0/24'))).toBeUndefined();
    expect([...m.effectiveRoutes()].some((rr) => rr.route.dst === '10.3.0.0')).toBe(false);
  });

  it('route replace (same table/prefix/tos/metric) swaps dependencies', () => {
    const m = build();
    apply(m, { kind: 'route', op: 'new', route: route('10.1.0.0/24', [gwNh(3, LL, { onlink: true })]) });
    expect(m.counts.routes).toBe(7);
    const d = apply(m, { kind: 'neigh', op: 'new', neighbor: neigh(2, LL, '02:cc:00:00:00:01', 'permanent') });
    expect(d.routes).toEqual(new Set([K('10.2.0.0/24')]));
  });
});

describe('kernel rules on link changes', () => {
  it('admin down: IPv4 single-path routes flushed silently, multipath keeps the nexthop marked dead, objects and neighbours go', () => {
    const m = build();
    const d = apply(m, linkEv(eth1, { adminUp: false, carrier: false, operState: 'down' }));
    // A (only eth1) gone; B stays with eth1 dead; G (IPv6 single) gone; object 11 flushed → D gone, group 30 shrinks.
    expect(routeKeys(m)).toEqual([R.B, R.C, R.E, R.F].map(routeKey).sort());
    expect(find(m, R.B)?.nexthops).toEqual([
      gwNh(2, LL, { onlink: true, dead: true, linkdown: true }), gwNh(3, LL, { onlink: true }),
    ]);
    expect(m.nexthopObject(11)).toBeUndefined();
    expect(m.nexthopObject(30)?.group).toEqual([{ id: 12, weight: 1 }]);
    expect([...m.neighbors()].map((n) => n.ifindex)).toEqual([3, 3]);
    expect(d).toEqual(delta({
      routes: ['10.1.0.0/24', '10.2.0.0/24', '10.4.0.0/24', '10.5.0.0/24', '2001:db8::/64'].map((p) => K(p)),
      links: [2], nexthops: [11, 30],
      neighbors: [neighborKey(2, 4, LL), neighborKey(2, 6, 'fe80::1')],
    }));
    // Admin up again: the kernel clears DEAD (and LINKDOWN, carrier is back) silently.
    apply(m, linkEv(eth1, {}));
    expect(find(m, R.B)?.nexthops).toEqual(R.B.nexthops);
  });

  it('admin down keeps scope-host local routes, drops broadcast and connected ones', () => {
    const local = route('10.0.0.1/32', [devNh(2)], { table: 255, type: 'local', protocol: 2, scope: 254, priority: 0, prefsrc: '10.0.0.1' });
    const bcast = route('10.0.0.255/32', [devNh(2)], { table: 255, type: 'broadcast', protocol: 2, scope: 253, priority: 0, prefsrc: '10.0.0.1' });
    const conn = connected('10.0.0.0/24', 2, { prefsrc: '10.0.0.1' });
    const m = Mirror.fromSnapshot(snapshot({ links: [eth1], addresses: [addr(2, '10.0.0.1', 24)], routes: [local, bcast, conn] }));
    apply(m, linkEv(eth1, { adminUp: false }));
    expect(routeKeys(m)).toEqual([routeKey(local)]);
  });

  it('carrier loss: objects on the link flushed, inline nexthops marked linkdown, routes kept', () => {
    const m = build();
    apply(m, linkEv(eth2, { carrier: false, operState: 'lowerlayerdown' }));
    expect(m.nexthopObject(12)).toBeUndefined();
    expect(m.nexthopObject(30)?.group).toEqual([{ id: 11, weight: 1 }]);
    expect(find(m, R.C)?.nexthops).toEqual([gwNh(3, LL, { onlink: true, linkdown: true })]);
    expect(m.resolveRoute(R.C).nexthops[0]).toMatchObject({ linkdown: true, dead: false });
    apply(m, linkEv(eth2, {}));
    expect(find(m, R.C)?.nexthops).toEqual(R.C.nexthops);
  });

  it('link deletion: IPv4 multipath through it goes entirely; IPv6 multipath loses just that nexthop', () => {
    const v6mp = route('2001:db8:1::/64', [gwNh(2, 'fe80::1'), gwNh(3, 'fe80::2')], { priority: 1024 });
    const m = build();
    apply(m, { kind: 'route', op: 'new', route: v6mp });
    apply(m, { kind: 'addr', op: 'new', address: addr(2, '10.0.0.1', 24) });
    const d = apply(m, { kind: 'link', op: 'del', link: eth1 });
    expect(routeKeys(m)).toEqual([R.C, R.E, R.F, v6mp].map(routeKey).sort());
    expect(find(m, v6mp)?.nexthops).toEqual([gwNh(3, 'fe80::2')]);
    expect(m.link(2)).toBeUndefined();
    expect(m.linkByName('eth1')).toBeUndefined();
    expect([...m.addresses()]).toEqual([]);
    expect(d.addressesChanged).toBe(true);
    expect(d.links).toEqual(new Set([2]));
  });

  it('a link flap rewrites IPv6 routes in place: among equal metrics the first one added keeps forwarding', () => {
    // fib6_add_rt2node links a route after those of the same metric and find_match keeps the first
    // of equal score; fib6_ifdown/fib6_ifup flip nexthop flags without unlinking the route.
    const dev = route('2001:db8:1::/64', [devNh(2)], { priority: 1024 });
    const gw = route('2001:db8:1::/64', [gwNh(3, 'fe80::2')], { priority: 1024 });
    const start = snapshot({ links: [eth1, eth2], routes: [dev, gw] });
    const m = Mirror.fromSnapshot(start);
    const ref = new ReferenceKernel(start);
    const effective = (): string | undefined => {
      const r = m.effectiveRoute(prefixKey(dev))?.route;
      return r === undefined ? undefined : routeKey(r);
    };
    expect(effective()).toBe(routeKey(dev));
    for (const ev of [linkEv(eth1, { carrier: false }), linkEv(eth1, {}), linkEv(eth2, { carrier: false }), linkEv(eth2, {})]) {
      apply(m, ev);
      ref.apply(ev);
      expect(routeKeys(m)).toEqual([dev, gw].map(routeKey).sort());
      expect(effective()).toBe(routeKey(dev)); // its nexthop flags change, its place does not
      expect(canonicalState(m)).toEqual(canonicalState(Mirror.fromSnapshot(ref.snapshot())));
    }
  });

  it('blackhole objects survive admin down of their oif but not its deletion', () => {
    const m = Mirror.fromSnapshot(snapshot({ links: [link(1, 'lo')], nexthops: [nhObj(5, 1, null, { blackhole: true })] }));
    apply(m, linkEv(link(1, 'lo'), { adminUp: false }));
    expect(m.nexthopObject(5)).toBeDefined();
    apply(m, { kind: 'link', op: 'del', link: link(1, 'lo') });
    expect(m.nexthopObject(5)).toBeUndefined();
  });

  it('a name change or MTU change reports the link but re-resolves nothing', () => {
    const m = build();
    expect(apply(m, linkEv(eth1, { name: 'uplink', mtu: 9000 }))).toEqual(delta({ links: [2] }));
    expect(m.linkByName('uplink')?.ifindex).toBe(2);
    expect(m.linkByName('eth1')).toBeUndefined();
  });
});

describe('kernel rules on nexthop objects', () => {
  it('deleting a member shrinks the group; deleting the last member removes the group and its routes', () => {
    const m = build();
    let d = apply(m, { kind: 'nexthop', op: 'del', nexthop: nhObj(12, 3, 'fe80::2') });
    expect(d).toEqual(delta({ routes: [K('10.5.0.0/24')], nexthops: [12, 30] }));
    expect(m.nexthopObject(30)?.group).toEqual([{ id: 11, weight: 1 }]);
    d = apply(m, { kind: 'nexthop', op: 'del', nexthop: nhObj(11, 2, 'fe80::1') });
    expect(d).toEqual(delta({ routes: [K('10.4.0.0/24'), K('10.5.0.0/24')], nexthops: [11, 30] }));
    expect(m.nexthopObject(30)).toBeUndefined();
    expect(routeKeys(m)).toEqual([R.A, R.B, R.C, R.F, R.G].map(routeKey).sort());
    // The kernel's own notifications arriving afterwards are no-ops.
    expect(apply(m, { kind: 'nexthop', op: 'del', nexthop: nhGroup(30, []) })).toEqual(delta({}));
  });

  it('deleting a group removes its routes but not its members', () => {
    const m = build();
    apply(m, { kind: 'nexthop', op: 'del', nexthop: nhGroup(30, []) });
    expect(m.nexthopObject(11)).toBeDefined();
    expect(find(m, R.E)).toBeUndefined();
    expect(find(m, R.D)).toBeDefined();
  });

  it('a route to a missing object resolves once the object appears', () => {
    const m = build();
    const r = route('10.9.0.0/24', [], { nhId: 40 });
    apply(m, { kind: 'route', op: 'new', route: r });
    expect(m.resolveRoute(r).nexthops[0]?.ifindex).toBeNull();
    const d = apply(m, { kind: 'nexthop', op: 'new', nexthop: nhObj(40, 3, 'fe80::2') });
    expect(d.routes).toEqual(new Set([K('10.9.0.0/24')]));
    expect(m.resolveRoute(r).nexthops[0]?.resolved).toBe(true);
  });
});

describe('kernel rules on addresses and routes', () => {
  it('deleting an IPv4 address flushes routes using it as prefsrc', () => {
    const withSrc = route('10.20.0.0/24', [gwNh(2, '10.0.0.2')], { prefsrc: '10.0.0.1' });
    const other = route('10.21.0.0/24', [gwNh(3, '10.1.0.2')], { prefsrc: '10.1.0.1' });
    const m = Mirror.fromSnapshot(snapshot({
      links: [eth1, eth2], addresses: [addr(2, '10.0.0.1', 24), addr(2, '10.0.0.5', 24), addr(3, '10.1.0.1', 24)],
      routes: [withSrc, other],
    }));
    const d = apply(m, { kind: 'addr', op: 'del', address: addr(2, '10.0.0.1', 24) });
    expect(routeKeys(m)).toEqual([routeKey(other)]);
    expect(d).toEqual(delta({ routes: [K('10.20.0.0/24')], addressesChanged: true }));
  });

  it('deleting the last IPv4 address of a link flushes IPv4 routes through it, scope host included', () => {
    const viaEth1 = route('10.20.0.0/24', [gwNh(2, '10.0.0.2')]);
    const local = route('10.0.0.1/32', [devNh(2)], { table: 255, type: 'local', scope: 254, protocol: 2, priority: 0 });
    const v6 = route('2001:db8::/64', [gwNh(2, 'fe80::1')], { priority: 1024 });
    const m = Mirror.fromSnapshot(snapshot({
      links: [eth1], addresses: [addr(2, '10.0.0.1', 24)], neighbors: [neigh(2, '10.0.0.2', '02:aa:00:00:00:01'), neigh(2, 'fe80::1', '02:66:00:00:00:01')],
      routes: [viaEth1, local, v6],
    }));
    apply(m, { kind: 'addr', op: 'del', address: addr(2, '10.0.0.1', 24) });
    expect(routeKeys(m)).toEqual([routeKey(v6)]);
    expect([...m.neighbors()].map((n) => n.address)).toEqual(['fe80::1']);
  });

  it('an IPv6 delete naming some nexthops of a multipath route removes only those', () => {
    const mp = route('2001:db8:1::/64', [gwNh(2, 'fe80::1'), gwNh(3, 'fe80::2')], { priority: 1024 });
    const m = Mirror.fromSnapshot(snapshot({ links: [eth1, eth2], routes: [mp] }));
    apply(m, { kind: 'route', op: 'del', route: { ...mp, nexthops: [gwNh(3, 'fe80::2')] } });
    expect([...m.routes()]).toEqual([{ ...mp, nexthops: [gwNh(2, 'fe80::1')] }]);
    apply(m, { kind: 'route', op: 'del', route: mp });
    expect(m.counts.routes).toBe(0);
  });
});

describe('VRF table mapping', () => {
  const m = Mirror.fromSnapshot(snapshot({
    links: [link(2, 'eth1', { master: 10 }), link(3, 'eth2', { master: 11 }), link(4, 'eth3'),
      link(10, 'red', { kind: 'vrf', vrfTable: 1001 }), link(11, 'br0', { kind: 'bridge' })],
  }));
  it.each([[2, 1001], [3, 254], [4, 254], [10, 1001], [99, 254]])('ifindex %i → table %i', (ifx, table) => {
    expect(m.tableOfLink(ifx)).toBe(table);
  });
  it('vrfTable by name', () => {
    expect([m.vrfTable('red'), m.vrfTable('br0'), m.vrfTable('nope')]).toEqual([1001, undefined, undefined]);
  });
});
