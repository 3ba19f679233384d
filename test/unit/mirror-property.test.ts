// Random event sequences: the index-driven incremental mirror must equal a
// mirror rebuilt from a naively maintained snapshot after every event, and
// every delta must name everything whose resolved state changed.
import { describe, it, expect } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import { canonicalState } from '../../src/mirror/canonical.js';
import type { KernelEvent } from '../../src/model/events.js';
import { neighborKey, type NudState } from '../../src/model/neighbor.js';
import type { NexthopObject } from '../../src/model/nexthop.js';
import { prefixKey, type Route, type RouteNexthop } from '../../src/model/route.js';
import { addr, devNh, gwNh, link, neigh, nhGroup, nhObj, route, snapshot } from '../fixtures/mirror/build.js';
import { ReferenceKernel } from '../fixtures/mirror/reference.js';
import { rng } from '../fixtures/rng.js';

const IFS = [2, 3, 4];
const GW4 = ['169.254.0.1', '10.0.0.2'];
const GW6 = ['fe80::1', 'fe80::2'];
const PREFIX4 = ['10.1.0.0/24', '10.2.0.0/24', '10.3.0.0/24', '0.0.0.0/0', '10.0.0.0/24'];
const PREFIX6 = ['2001:db8::/64', '2001:db8:1::/64', '::/0'];
const SRC = ['10.0.0.1', '10.0.0.9'];
const STATES: NudState[] = ['reachable', 'stale', 'delay', 'probe', 'permanent', 'incomplete', 'failed'];

function gen(r: () => number): KernelEvent {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const op = r() < 0.7 ? 'new' : 'del';
  const ifx = pick(IFS);
  const roll = r();
  if (roll < 0.12) {
    const up = r() < 0.6;
    return { kind: 'link', op: r() < 0.05 ? 'del' : 'new', link: link(ifx, `eth${ifx}`, { adminUp: up, carrier: up && r() < 0.8 }) };
  }
  if (roll < 0.18) return { kind: 'addr', op, address: addr(ifx, pick(SRC), 24) };
  if (roll < 0.4) {
    const six = r() < 0.5;
    const state = pick(STATES);
    const mac = state === 'incomplete' ? null : `02:00:00:00:${ifx}:0${Math.floor(r() * 3)}`;
    return { kind: 'neigh', op, neighbor: neigh(ifx, six ? pick(GW6) : pick(GW4), mac, state) };
  }
  if (roll < 0.55) {
    const id = pick([11, 12, 13, 20, 30, 31]);
    let o: NexthopObject;
    if (id === 20) o = nhObj(20, 1, null, { blackhole: true });
    else if (id >= 30) {
      const members: Array<readonly [number, number]> = [[pick([11, 12, 13, 14]), 1 + Math.floor(r() * 3)], [pick([11, 12, 13]), 1]];
      o = nhGroup(id, members.filter((m, i, a) => a.findIndex((x) => x[0] === m[0]) === i));
    }
    else o = nhObj(id, ifx, r() < 0.6 ? pick(GW6) : pick(GW4), { onlink: r() < 0.3 });
    return { kind: 'nexthop', op, nexthop: o };
  }
  const six = r() < 0.3;
  const prefix = six ? pick(PREFIX6) : pick(PREFIX4);
  const nh = (): RouteNexthop => {
    const x = r();
    const i = pick(IFS);
    if (x < 0.2) return devNh(i);
    if (x < 0.25) return gwNh(null, six ? 'fe80::1' : '10.0.0.7');
    return gwNh(i, six || r() < 0.3 ? pick(GW6) : pick(GW4), { onlink: r() < 0.3 });
  };
  const n = Math.floor(r() * 3);
  const over: Partial<Route> = {
    priority: pick([10, 20]),
    tos: !six && r() < 0.05 ? 0x10 : 0,
    scope: r() < 0.15 ? 254 : r() < 0.3 ? 253 : 0,
    prefsrc: !six && r() < 0.3 ? pick(SRC) : null,
  };
  if (r() < 0.3) return { kind: 'route', op, route: route(prefix, [], { ...over, nhId: pick([11, 12, 13, 20, 30, 31, 40]) }) };
  let nexthops = Array.from({ length: n + 1 }, nh).filter((x, i, a) => a.findIndex((y) => y.ifindex === x.ifindex && y.gateway === x.gateway) === i);
  // IPv6 multipath routes are built from gateway siblings only; device routes
  // to one prefix stay separate routes (their device is part of their identity).
  if (six && nexthops.length > 1) {
    const gws = nexthops.filter((x) => x.gateway !== null);
    nexthops = gws.length > 0 ? gws : nexthops.slice(0, 1);
  }
  return { kind: 'route', op, route: route(prefix, nexthops, over) };
}

function effectiveByPrefix(m: Mirror): Map<string, string> {
  const out = new Map<string, string>();
  for (const rr of m.effectiveRoutes()) out.set(prefixKey(rr.route), JSON.stringify(rr));
  return out;
}

function changedKeys<K>(a: Map<K, string>, b: Map<K, string>): K[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
}

function jsonMap<K, V>(items: Iterable<V>, key: (v: V) => K): Map<K, string> {
  return new Map([...items].map((v) => [key(v), JSON.stringify(v)]));
}

describe('mirror property: incremental == rebuilt from snapshot', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i', (seed) => {
    const r = rng(seed);
    const initial = snapshot({
      links: [link(1, 'lo', { kind: null }), ...IFS.map((i) => link(i, `eth${i}`))],
      addresses: [addr(2, '10.0.0.1', 24)],
      routes: [route('10.0.0.0/24', [devNh(2)], { scope: 253, protocol: 2, priority: 0 })],
    });
    const m = Mirror.fromSnapshot(initial);
    const ref = new ReferenceKernel(initial);
    for (let step = 0; step < 400; step++) {
      const ev = gen(r);
      const before = {
        routes: effectiveByPrefix(m),
        neighbors: jsonMap(m.neighbors(), (n) => neighborKey(n.ifindex, n.family, n.address)),
        links: jsonMap(m.links(), (l) => l.ifindex),
        nexthops: jsonMap(m.nexthopObjects(), (o) => o.id),
        addresses: JSON.stringify([...m.addresses()].sort()),
      };
      const d = m.apply(ev);
      ref.apply(ev);
      const ctx = `seed ${seed} step ${step} ${JSON.stringify(ev)}`;
      expect(m.verifyIndexes(), ctx).toEqual([]);
      expect(canonicalState(m), ctx).toEqual(canonicalState(Mirror.fromSnapshot(ref.snapshot())));
      const missing = (changed: unknown[], got: ReadonlySet<unknown>): unknown[] => changed.filter((k) => !got.has(k));
      expect(missing(changedKeys(before.routes, effectiveByPrefix(m)), d.routes), ctx).toEqual([]);
      expect(missing(changedKeys(before.neighbors, jsonMap(m.neighbors(), (n) => neighborKey(n.ifindex, n.family, n.address))), d.neighbors), ctx).toEqual([]);
      expect(missing(changedKeys(before.links, jsonMap(m.links(), (l) => l.ifindex)), d.links), ctx).toEqual([]);
      expect(missing(changedKeys(before.nexthops, jsonMap(m.nexthopObjects(), (o) => o.id)), d.nexthops), ctx).toEqual([]);
      if (before.addresses !== JSON.stringify([...m.addresses()].sort())) expect(d.addressesChanged, ctx).toBe(true);
    }
  });
});
