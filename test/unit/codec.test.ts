// Decoders against real kernel messages captured by scripts/capture-fixtures.ts
// (kernel 6.18, iproute2 6.1): whole-record assertions per scenario.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../src/model/events.js';
import type { Link } from '../../src/model/link.js';
import type { NexthopObject } from '../../src/model/nexthop.js';
import type { Route, RouteNexthop } from '../../src/model/route.js';
import { decodeEvent } from '../../src/netlink/codec/decode.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netlink');

interface FixtureMessage { readonly what: string; readonly type: number; readonly name: string; readonly flags: number; readonly hex: string }
interface FixtureSegment { readonly label: string; readonly commands: string[]; readonly messages: FixtureMessage[] }
interface Fixture {
  readonly scenario: string;
  readonly commands?: string[];
  readonly messages?: FixtureMessage[];
  readonly segments?: FixtureSegment[];
  readonly neighUseErrno?: number;
}

function load(name: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, name.endsWith('.json') ? name : `${name}.json`), 'utf8')) as Fixture;
}

function messagesOf(fx: Fixture): FixtureMessage[] {
  return fx.messages ?? (fx.segments ?? []).flatMap((s) => s.messages);
}

/** Decode one captured message (header included) through the production entry point. */
function decodeMessage(m: FixtureMessage): KernelEvent | null {
  const buf = Buffer.from(m.hex, 'hex');
  let ev: KernelEvent | null = null;
  let count = 0;
  forEachMessage(buf, (type, _flags, _seq, _pid, b, off, end) => { ev = decodeEvent(type, b, off, end); count++; });
  if (count !== 1) throw new Error(`fixture message is not exactly one netlink message: ${m.name}`);
  return ev;
}

function decodeAll(messages: readonly FixtureMessage[]): KernelEvent[] {
  return messages.map(decodeMessage).filter((e): e is KernelEvent => e !== null);
}

function segment(fx: Fixture, label: string): KernelEvent[] {
  const s = fx.segments?.find((x) => x.label === label);
  if (!s) throw new Error(`no segment ${label} in ${fx.scenario}`);
  return decodeAll(s.messages);
}

const routesOf = (evs: readonly KernelEvent[]): Route[] => evs.flatMap((e) => (e.kind === 'route' ? [e.route] : []));
const nexthopsOf = (evs: readonly KernelEvent[]): NexthopObject[] => evs.flatMap((e) => (e.kind === 'nexthop' ? [e.nexthop] : []));
const summary = (evs: readonly KernelEvent[]): string[] => evs.map((e) => {
  switch (e.kind) {
    case 'link': return `${e.op} link ${e.link.name}`;
    case 'addr': return `${e.op} addr ${e.address.address}/${e.address.prefixLen}`;
    case 'neigh': return `${e.op} neigh ${e.neighbor.address} ${e.neighbor.state}`;
    case 'nexthop': return `${e.op} nexthop ${e.nexthop.id}`;
    case 'route': return `${e.op} route t${e.route.table} ${e.route.dst}/${e.route.dstLen}`;
  }
});

function findRoute(routes: readonly Route[], dst: string, dstLen: number, extra: (r: Route) => boolean = () => true): Route {
  const r = routes.find((x) => x.dst === dst && x.dstLen === dstLen && extra(x));
  if (!r) throw new Error(`no route ${dst}/${dstLen}`);
  return r;
}

const hop = (ifindex: number | null, gateway: string | null, over: Partial<RouteNexthop> = {}): RouteNexthop => ({
  ifindex, gateway, gatewayFamily: gateway === null ? null : gateway.includes(':') ? 6 : 4,
  weight: 1, onlink: false, linkdown: false, dead: false, ...over,
});

const route = (over: Partial<Route> & Pick<Route, 'family' | 'dst' | 'dstLen'>): Route => ({
  table: 254, type: 'unicast', protocol: 3, priority: 0, scope: 0, tos: 0, nhId: null, nexthops: [], prefsrc: null, flags: 0, ...over,
});

const nexthop = (over: Partial<NexthopObject> & Pick<NexthopObject, 'id'>): NexthopObject => ({
  family: 0, protocol: 0, blackhole: false, oif: null, gateway: null, onlink: false, dead: false, linkdown: false,
  group: null, groupType: null, resilientBuckets: null, fdb: false, ...over,
});

const link = (over: Partial<Link> & Pick<Link, 'ifindex' | 'name'>): Link => ({
  mac: null, adminUp: true, carrier: true, operState: 'up', mtu: 1500, master: null, kind: 'veth', vrfTable: null,
  physSwitchId: null, physPortName: null, ...over,
});

describe('codec: every captured message', () => {
  const files = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json')).sort();

  it('has fixtures to read', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
  });

  it.each(files)('%s decodes completely', (file) => {
    const msgs = messagesOf(load(file));
    expect(msgs.length).toBeGreaterThan(0);
    for (const m of msgs) {
      // Captures hold only types the mirror follows, all IP families: none may be dropped.
      const ev = decodeMessage(m);
      expect(ev, `${file} ${m.name}`).not.toBeNull();
      expect(ev!.op).toBe(m.name.startsWith('RTM_DEL') ? 'del' : 'new');
    }
  });
});

describe('codec: links', () => {
  const links = decodeAll(load('links').messages!).map((e) => (e.kind === 'link' ? e.link : null));

  it('decodes mac, mtu, carrier and operstate of an up veth', () => {
    expect(links[0]).toEqual(link({ ifindex: 2, name: 'v0', mac: '02:00:00:00:00:00', mtu: 9000 }));
  });

  it('admin up without carrier: carrier false, operstate down', () => {
    expect(links[1]).toEqual(link({ ifindex: 3, name: 'v1', mac: '02:00:00:00:00:01', carrier: false, operState: 'down' }));
  });

  it('admin down', () => {
    expect(links[2]).toEqual(link({ ifindex: 4, name: 'v2', mac: '02:00:00:00:00:02', adminUp: false, carrier: false, operState: 'down' }));
  });
});

describe('codec: addresses', () => {
  const addrs = decodeAll(load('addresses').messages!).map((e) => (e.kind === 'addr' ? e.address : null));

  it('IPv4, IPv4 point-to-point (IFA_LOCAL wins over the peer), IPv6 global and link-local', () => {
    expect(addrs).toEqual([
      { ifindex: 2, family: 4, address: '192.0.2.1', prefixLen: 24, scope: 0 },
      { ifindex: 2, family: 4, address: '10.9.9.1', prefixLen: 32, scope: 0 },
      { ifindex: 2, family: 6, address: '2001:db8:1::1', prefixLen: 64, scope: 0 },
      { ifindex: 2, family: 6, address: 'fe80::ff:fe00:0', prefixLen: 64, scope: 253 },
    ]);
  });
});

describe('codec: neighbours', () => {
  const neighbors = decodeAll(load('neighbors').messages!).flatMap((e) => (e.kind === 'neigh' ? [e.neighbor] : []));
  const byAddr = (ifindex: number, address: string) => neighbors.find((n) => n.ifindex === ifindex && n.address === address);

  it('each NUD state the kernel kept', () => {
    expect(byAddr(2, '192.0.2.10')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.10', mac: '02:00:00:00:0a:10', state: 'permanent', flags: 0 });
    expect(byAddr(2, '192.0.2.11')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.11', mac: '02:00:00:00:0a:11', state: 'stale', flags: 0 });
    expect(byAddr(2, '192.0.2.12')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.12', mac: '02:00:00:00:0a:12', state: 'reachable', flags: 0 });
    expect(byAddr(2, '192.0.2.13')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.13', mac: '02:00:00:00:0a:13', state: 'noarp', flags: 0 });
    // `nud delay` is accepted but the kernel reports it as PROBE by the time of the dump.
    expect(byAddr(2, '192.0.2.14')?.state).toBe('probe');
    expect(byAddr(2, '192.0.2.15')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.15', mac: '02:00:00:00:0a:15', state: 'probe', flags: 0 });
    expect(byAddr(2, '192.0.2.16')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.16', mac: null, state: 'incomplete', flags: 0 });
    expect(byAddr(2, '192.0.2.17')).toEqual({ ifindex: 2, family: 4, address: '192.0.2.17', mac: null, state: 'failed', flags: 0 });
  });

  it('169.254.0.1 on two interfaces with different MACs', () => {
    expect(byAddr(2, '169.254.0.1')).toEqual({ ifindex: 2, family: 4, address: '169.254.0.1', mac: '02:00:00:00:01:00', state: 'permanent', flags: 0 });
    expect(byAddr(3, '169.254.0.1')).toEqual({ ifindex: 3, family: 4, address: '169.254.0.1', mac: '02:00:00:00:01:01', state: 'permanent', flags: 0 });
  });

  it('IPv6 global and link-local (router flag kept in flags)', () => {
    expect(byAddr(2, '2001:db8:1::10')).toEqual({ ifindex: 2, family: 6, address: '2001:db8:1::10', mac: '02:00:00:00:0b:10', state: 'permanent', flags: 0 });
    expect(byAddr(2, 'fe80::2')).toEqual({ ifindex: 2, family: 6, address: 'fe80::2', mac: '02:00:00:00:01:00', state: 'stale', flags: 0x80 });
  });
});

describe('codec: IPv4 routes', () => {
  const routes = routesOf(decodeAll(load('routes-v4').messages!));

  it('connected (proto kernel, scope link, prefsrc)', () => {
    expect(findRoute(routes, '192.0.2.0', 24)).toEqual(route({
      family: 4, dst: '192.0.2.0', dstLen: 24, protocol: 2, scope: 253, prefsrc: '192.0.2.1', nexthops: [hop(2, null)],
    }));
  });

  it('default via gateway with src', () => {
    expect(findRoute(routes, '0.0.0.0', 0)).toEqual(route({
      family: 4, dst: '0.0.0.0', dstLen: 0, prefsrc: '192.0.2.1', nexthops: [hop(2, '192.0.2.2')],
    }));
  });

  it('the same prefix at two metrics', () => {
    expect(routes.filter((r) => r.dst === '10.2.0.0')).toEqual([
      route({ family: 4, dst: '10.2.0.0', dstLen: 16, priority: 100, nexthops: [hop(2, '192.0.2.2')] }),
      route({ family: 4, dst: '10.2.0.0', dstLen: 16, priority: 200, nexthops: [hop(3, '198.51.100.2')] }),
    ]);
  });

  it('multipath with weights 1 and 3', () => {
    expect(findRoute(routes, '10.3.0.0', 16)).toEqual(route({
      family: 4, dst: '10.3.0.0', dstLen: 16, protocol: 4,
      nexthops: [hop(2, '192.0.2.2'), hop(3, '198.51.100.2', { weight: 3 })],
    }));
  });

  it('via 169.254.0.1 onlink: single path (flag in rtm_flags) and multipath over two interfaces', () => {
    expect(findRoute(routes, '10.4.0.0', 16)).toEqual(route({
      family: 4, dst: '10.4.0.0', dstLen: 16, flags: 4, nexthops: [hop(2, '169.254.0.1', { onlink: true })],
    }));
    expect(findRoute(routes, '10.5.0.0', 16)).toEqual(route({
      family: 4, dst: '10.5.0.0', dstLen: 16, protocol: 186, priority: 20,
      nexthops: [hop(2, '169.254.0.1', { onlink: true }), hop(3, '169.254.0.1', { onlink: true })],
    }));
  });

  it('RTA_VIA inet6 gateway on an IPv4 route, single and multipath', () => {
    expect(findRoute(routes, '10.6.0.0', 16)).toEqual(route({
      family: 4, dst: '10.6.0.0', dstLen: 16, nexthops: [hop(2, 'fe80::1')],
    }));
    expect(findRoute(routes, '10.6.1.0', 24).nexthops).toEqual([hop(2, 'fe80::1'), hop(3, 'fe80::2')]);
    expect(findRoute(routes, '10.6.0.0', 16).nexthops[0]!.gatewayFamily).toBe(6);
  });

  it('blackhole, unreachable, prohibit carry no nexthops', () => {
    expect(findRoute(routes, '10.7.0.0', 16)).toEqual(route({ family: 4, dst: '10.7.0.0', dstLen: 16, type: 'blackhole' }));
    expect(findRoute(routes, '10.8.0.0', 16)).toEqual(route({ family: 4, dst: '10.8.0.0', dstLen: 16, type: 'unreachable' }));
    expect(findRoute(routes, '10.9.0.0', 16)).toEqual(route({ family: 4, dst: '10.9.0.0', dstLen: 16, type: 'prohibit' }));
  });

  it('table from rtm_table (100) and from RTA_TABLE (1000)', () => {
    expect(routes.filter((r) => r.dst === '10.10.0.0').map((r) => r.table)).toEqual([100, 1000]);
  });

  it('a gateway route over a link without carrier is RTNH_F_LINKDOWN', () => {
    expect(findRoute(routes, '10.11.0.0', 16)).toEqual(route({
      family: 4, dst: '10.11.0.0', dstLen: 16, flags: 16, nexthops: [hop(4, '203.0.113.2', { linkdown: true })],
    }));
  });

  it('local and broadcast routes in table local', () => {
    expect(findRoute(routes, '192.0.2.1', 32)).toEqual(route({
      family: 4, dst: '192.0.2.1', dstLen: 32, table: 255, type: 'local', protocol: 2, scope: 254, prefsrc: '192.0.2.1', nexthops: [hop(2, null)],
    }));
    expect(findRoute(routes, '192.0.2.255', 32).type).toBe('broadcast');
  });
});

describe('codec: IPv6 routes', () => {
  const routes = routesOf(decodeAll(load('routes-v6').messages!));

  it('via link-local gateway', () => {
    expect(findRoute(routes, '2001:db8:10::', 48)).toEqual(route({
      family: 6, dst: '2001:db8:10::', dstLen: 48, protocol: 186, priority: 20, nexthops: [hop(2, 'fe80::1:0')],
    }));
    expect(findRoute(routes, '::', 0)).toEqual(route({ family: 6, dst: '::', dstLen: 0, priority: 512, nexthops: [hop(2, 'fe80::1:0')] }));
  });

  it('multipath with weights', () => {
    expect(findRoute(routes, '2001:db8:12::', 48)).toEqual(route({
      family: 6, dst: '2001:db8:12::', dstLen: 48, protocol: 186, priority: 20,
      nexthops: [hop(2, 'fe80::1:0', { weight: 2 }), hop(3, 'fe80::1:1')],
    }));
  });

  it('reject routes: the kernel reports RTA_OIF lo, the decoder drops it', () => {
    expect(findRoute(routes, '2001:db8:13::', 48)).toEqual(route({ family: 6, dst: '2001:db8:13::', dstLen: 48, type: 'blackhole', priority: 1024 }));
    expect(findRoute(routes, '2001:db8:14::', 48).type).toBe('unreachable');
    expect(findRoute(routes, '2001:db8:15::', 48).type).toBe('prohibit');
  });

  it('connected', () => {
    expect(findRoute(routes, '2001:db8:1::', 64)).toEqual(route({
      family: 6, dst: '2001:db8:1::', dstLen: 64, protocol: 2, priority: 256, nexthops: [hop(2, null)],
    }));
  });
});

describe('codec: route MTU metrics (RTA_METRICS)', () => {
  const routes = routesOf(decodeAll(load('routes-mtu').messages!));

  it('mtu lock 1000 and mtu 1400 on a gateway route: the value, and the lock bit only where set', () => {
    expect(findRoute(routes, '10.20.0.0', 16)).toEqual(route({
      family: 4, dst: '10.20.0.0', dstLen: 16, nexthops: [hop(2, '192.0.2.2')], mtu: 1000, mtuLocked: true,
    }));
    expect(findRoute(routes, '10.21.0.0', 16)).toEqual(route({ family: 4, dst: '10.21.0.0', dstLen: 16, nexthops: [hop(2, '192.0.2.2')], mtu: 1400 }));
  });

  it('multipath and nexthop-object routes carry it on the route; other metrics beside it are skipped', () => {
    expect(findRoute(routes, '10.22.0.0', 16)).toEqual(route({
      family: 4, dst: '10.22.0.0', dstLen: 16, nexthops: [hop(2, '192.0.2.2'), hop(3, '198.51.100.2')], mtu: 1200,
    }));
    expect(findRoute(routes, '10.23.0.0', 16).mtu).toBe(1500);
    const nh = findRoute(routes, '10.24.0.0', 16);
    expect([nh.nhId, nh.mtu, nh.mtuLocked]).toEqual([7, 900, undefined]);
  });

  it('IPv6: mtu 1280 and mtu lock 1400', () => {
    expect(findRoute(routes, '2001:db8:20::', 48)).toEqual(route({
      family: 6, dst: '2001:db8:20::', dstLen: 48, priority: 1024, nexthops: [hop(2, '2001:db8:1::2')], mtu: 1280,
    }));
    expect(findRoute(routes, '2001:db8:21::', 48)).toMatchObject({ mtu: 1400, mtuLocked: true });
  });

  it('routes without the metric have no mtu field', () => {
    for (const f of ['routes-v4', 'routes-v6']) {
      for (const r of routesOf(decodeAll(load(f).messages!))) expect(r.mtu, `${f} ${r.dst}/${r.dstLen}`).toBeUndefined();
    }
  });
});

describe('codec: nexthop objects and nhid routes', () => {
  const compat1 = decodeAll(load('nexthops-compat1').messages!);
  const compat0 = decodeAll(load('nexthops-compat0').messages!);
  const objects = nexthopsOf(compat1);
  const byId = (id: number) => objects.find((n) => n.id === id);

  it('single nexthops: IPv6 link-local gateway, IPv4 gateway, device only, onlink', () => {
    expect(byId(1)).toEqual(nexthop({ id: 1, family: 6, oif: 2, gateway: { family: 6, address: 'fe80::1:0' } }));
    expect(byId(3)).toEqual(nexthop({ id: 3, family: 4, oif: 2, gateway: { family: 4, address: '192.0.2.2' } }));
    expect(byId(4)).toEqual(nexthop({ id: 4, family: 4, oif: 3 }));
    expect(byId(6)).toEqual(nexthop({ id: 6, family: 4, oif: 3, gateway: { family: 4, address: '169.254.0.1' }, onlink: true }));
  });

  it('blackhole', () => {
    expect(byId(5)).toEqual(nexthop({ id: 5, family: 4, blackhole: true }));
  });

  it('group with 1-based weights', () => {
    expect(byId(10)).toEqual(nexthop({ id: 10, group: [{ id: 1, weight: 2 }, { id: 2, weight: 3 }], groupType: 'mpath' }));
  });

  it('resilient group with buckets', () => {
    expect(byId(11)).toEqual(nexthop({ id: 11, group: [{ id: 1, weight: 1 }, { id: 2, weight: 1 }], groupType: 'resilient', resilientBuckets: 8 }));
  });

  it('objects are the same whatever the compat mode', () => {
    expect(nexthopsOf(compat0)).toEqual(objects);
  });

  it('compat mode 1: RTA_NH_ID plus the expanded nexthops', () => {
    const r = routesOf(compat1);
    expect(findRoute(r, '10.20.0.0', 16)).toEqual(route({
      family: 4, dst: '10.20.0.0', dstLen: 16, protocol: 186, priority: 20, nhId: 1, nexthops: [hop(2, 'fe80::1:0')],
    }));
    expect(findRoute(r, '10.21.0.0', 16)).toEqual(route({
      family: 4, dst: '10.21.0.0', dstLen: 16, protocol: 186, priority: 20, nhId: 10,
      nexthops: [hop(2, 'fe80::1:0', { weight: 2 }), hop(3, 'fe80::1:1', { weight: 3 })],
    }));
    expect(findRoute(r, '10.22.0.0', 16).nexthops).toEqual([hop(2, 'fe80::1:0'), hop(3, 'fe80::1:1')]);
    expect(findRoute(r, '10.23.0.0', 16)).toEqual(route({ family: 4, dst: '10.23.0.0', dstLen: 16, type: 'blackhole', nhId: 5 }));
    expect(findRoute(r, '10.25.0.0', 16)).toEqual(route({
      family: 4, dst: '10.25.0.0', dstLen: 16, nhId: 6, flags: 4, nexthops: [hop(3, '169.254.0.1', { onlink: true })],
    }));
    expect(findRoute(r, '2001:db8:21::', 48)).toEqual(route({
      family: 6, dst: '2001:db8:21::', dstLen: 48, priority: 1024, nhId: 10,
      nexthops: [hop(2, 'fe80::1:0', { weight: 2 }), hop(3, 'fe80::1:1', { weight: 3 })],
    }));
  });

  it('compat mode 0: only RTA_NH_ID', () => {
    const r = routesOf(compat0);
    expect(findRoute(r, '10.20.0.0', 16)).toEqual(route({ family: 4, dst: '10.20.0.0', dstLen: 16, protocol: 186, priority: 20, nhId: 1 }));
    expect(findRoute(r, '10.23.0.0', 16)).toEqual(route({ family: 4, dst: '10.23.0.0', dstLen: 16, type: 'blackhole', nhId: 5 }));
    expect(r.every((x) => x.nhId !== null && x.nexthops.length === 0)).toBe(true);
    expect(r.map((x) => `${x.dst}/${x.dstLen}`)).toEqual(routesOf(compat1).map((x) => `${x.dst}/${x.dstLen}`));
  });
});

describe('codec: events', () => {
  it('route add / replace / del', () => {
    const fx = load('events-route');
    const r = route({ family: 4, dst: '10.30.0.0', dstLen: 16, protocol: 186, priority: 20, nexthops: [hop(2, '192.0.2.2')] });
    expect(segment(fx, 'route-add')).toEqual([{ kind: 'route', op: 'new', route: r }]);
    expect(segment(fx, 'route-replace')).toEqual([{ kind: 'route', op: 'new', route: { ...r, nexthops: [hop(3, '198.51.100.2')] } }]);
    expect(segment(fx, 'route-del')).toEqual([{ kind: 'route', op: 'del', route: { ...r, nexthops: [hop(3, '198.51.100.2')] } }]);
  });

  it('an IPv6 multipath add and delete are one notification each', () => {
    const fx = load('events-route');
    const r = route({ family: 6, dst: '2001:db8:30::', dstLen: 48, priority: 1024, nexthops: [hop(2, 'fe80::1:0'), hop(3, 'fe80::1:1')] });
    expect(segment(fx, 'route6-multipath-add')).toEqual([{ kind: 'route', op: 'new', route: r }]);
    expect(segment(fx, 'route6-multipath-del')).toEqual([{ kind: 'route', op: 'del', route: r }]);
  });

  it('neighbour add, change, NTF_USE keepalive, delete', () => {
    const fx = load('events-neigh');
    const n = { ifindex: 2, family: 4 as const, address: '192.0.2.50', flags: 0 };
    expect(segment(fx, 'neigh-add')).toEqual([{ kind: 'neigh', op: 'new', neighbor: { ...n, mac: '02:00:00:00:0c:50', state: 'reachable' } }]);
    expect(segment(fx, 'neigh-change')).toEqual([{ kind: 'neigh', op: 'new', neighbor: { ...n, mac: '02:00:00:00:0c:51', state: 'stale' } }]);
    // The kernel acked encodeNeighborUse and started probing (DELAY is not notified, PROBE is).
    expect(fx.neighUseErrno).toBe(0);
    expect(segment(fx, 'neigh-use')).toEqual([{ kind: 'neigh', op: 'new', neighbor: { ...n, mac: '02:00:00:00:0c:51', state: 'probe' } }]);
    expect(segment(fx, 'neigh-del').at(-1)).toEqual({ kind: 'neigh', op: 'del', neighbor: { ...n, mac: null, state: 'failed' } });
  });

  it('nexthop add/replace notify the object and (compat 1) each route using it; del notifies only the object', () => {
    const fx = load('events-nexthop');
    const nh = nexthop({ id: 40, family: 4, oif: 2, gateway: { family: 4, address: '192.0.2.2' } });
    expect(segment(fx, 'nexthop-add')).toEqual([
      { kind: 'nexthop', op: 'new', nexthop: nh },
      { kind: 'route', op: 'new', route: route({ family: 4, dst: '10.40.0.0', dstLen: 16, nhId: 40, nexthops: [hop(2, '192.0.2.2')] }) },
    ]);
    expect(summary(segment(fx, 'nexthop-replace'))).toEqual(['new nexthop 40', 'new route t254 10.40.0.0/16']);
    const gw3 = { ...nh, gateway: { family: 4 as const, address: '192.0.2.3' } };
    // The route 10.40.0.0/16 disappears with the object, without an RTM_DELROUTE.
    expect(segment(fx, 'nexthop-del')).toEqual([{ kind: 'nexthop', op: 'del', nexthop: gw3 }]);
  });

  it('compat mode 0: no route notification on nexthop replace; routes carry only the id', () => {
    const fx = load('events-nexthop');
    const evs = segment(fx, 'compat0-nexthop-replace');
    expect(summary(evs)).toEqual(['new nexthop 45', 'new route t254 10.45.0.0/16', 'new nexthop 45', 'del nexthop 45']);
    expect(routesOf(evs)).toEqual([route({ family: 4, dst: '10.45.0.0', dstLen: 16, nhId: 45 })]);
  });

  it('admin down: link, neighbours (PERMANENT too), IPv6 routes and addresses; no IPv4 route or nexthop deletions', () => {
    const evs = segment(load('events-link'), 'link-down');
    expect(evs[0]).toEqual({ kind: 'link', op: 'new', link: link({ ifindex: 3, name: 'v1', mac: '02:00:00:00:00:01', adminUp: false, carrier: false, operState: 'down' }) });
    expect(summary(evs)).toEqual([
      'new link v1',
      'del neigh 169.254.0.1 permanent', 'del neigh 198.51.100.2 reachable',
      'del route t254 2001:db8:2::/64', 'del route t254 2001:db8:42::/48', 'del route t254 fe80::/64',
      'del route t255 2001:db8:2::1/128', 'del route t255 fe80::ff:fe00:1/128', 'del route t255 ff00::/8',
      'del neigh ff02::2 noarp', 'del neigh ff02::16 noarp',
      'del addr 2001:db8:2::1/64', 'del addr fe80::ff:fe00:1/64',
    ]);
  });

  it('carrier loss: neighbours flushed and the link updated; routes turn linkdown silently', () => {
    const evs = segment(load('events-link'), 'carrier-down');
    expect(summary(evs)).toEqual(['del neigh 192.0.2.2 reachable', 'del neigh ff02::2 noarp', 'del neigh ff02::16 noarp', 'new link v0']);
    expect(evs[3]).toEqual({ kind: 'link', op: 'new', link: link({ ifindex: 2, name: 'v0', mac: '02:00:00:00:00:00', carrier: false, operState: 'down' }) });
    expect(summary(segment(load('events-link'), 'carrier-up'))).toEqual(['new link v0']);
  });

  it('link delete ends with RTM_DELLINK', () => {
    const evs = segment(load('events-link'), 'link-del');
    expect(evs.at(-1)).toEqual({ kind: 'link', op: 'del', link: link({ ifindex: 4, name: 'v2', mac: '02:00:00:00:00:02', adminUp: false, carrier: false, operState: 'down' }) });
  });

  it('address add and delete', () => {
    const fx = load('events-addr');
    const a = { ifindex: 3, family: 6, address: '2001:db8:9::1', prefixLen: 64, scope: 0 };
    expect(segment(fx, 'addr-add').filter((e) => e.kind === 'addr')).toContainEqual({ kind: 'addr', op: 'new', address: a });
    expect(segment(fx, 'addr-del').filter((e) => e.kind === 'addr')).toEqual([{ kind: 'addr', op: 'del', address: a }]);
  });
});
