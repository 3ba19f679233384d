// A mirror flattened into sorted plain data, so an event-built mirror and a
// fresh-dump mirror can be compared with deep equality (resync and integration
// tests). Never used for forwarding decisions.
//
// Left out or normalised, because a dump and the event stream legitimately
// disagree on them:
//  - neighbour flags (ndm_flags): diagnostic only, never used for resolution.
//  - neighbour states among reachable/stale/delay/probe collapse to 'valid':
//    the kernel moves REACHABLE→DELAY→PROBE on timers without notifying, and
//    all four carry a usable MAC. Same for a resolved nexthop's neighState.
//  - neighbours in state incomplete or none: created on lookup with no
//    notification, they appear in dumps only; a resolved nexthop's neighState
//    of incomplete/none reads as null (both are unusable either way).
//  - a route's raw per-nexthop dead/linkdown flags and rtm_flags: the kernel
//    flips them silently (and hardware sets offload/trap asynchronously); the
//    resolved nexthops still carry dead/linkdown, derived from link state.
//  - the expanded nexthops of a route that has nhId (nexthop_compat_mode=1):
//    the object is authoritative and the kernel does not re-announce routes
//    when a group shrinks silently.
import type { PolicyRule } from '../model/rule.js';
import type { Address } from '../model/address.js';
import { addressKey } from '../model/address.js';
import type { Link } from '../model/link.js';
import type { Neighbor, NudState } from '../model/neighbor.js';
import type { NexthopObject } from '../model/nexthop.js';
import type { MirrorView, ResolvedNexthop } from '../model/resolved.js';
import { prefixKey, routeKey, type Route, type RouteNexthop } from '../model/route.js';

export type CanonicalNud = Exclude<NudState, 'reachable' | 'stale' | 'delay' | 'probe' | 'incomplete' | 'none'> | 'valid';

export interface CanonicalNeighbor extends Pick<Neighbor, 'ifindex' | 'family' | 'address' | 'mac'> {
  readonly state: CanonicalNud;
}

/** Raw dead/linkdown flags are left out: the resolved ones are compared instead. */
export type CanonicalRouteNexthop = Pick<RouteNexthop, 'ifindex' | 'gateway' | 'gatewayFamily' | 'weight' | 'onlink'>;

export interface CanonicalResolvedNexthop extends Omit<ResolvedNexthop, 'neighState'> {
  readonly neighState: CanonicalNud | null;
}

export interface CanonicalRoute extends Pick<Route,
  'table' | 'family' | 'dst' | 'dstLen' | 'type' | 'protocol' | 'priority' | 'scope' | 'tos' | 'nhId' | 'prefsrc'> {
  /** RTAX_MTU, null when unset (the lock bit only matters to PMTU learning). */
  readonly mtu: number | null;
  readonly nexthops: readonly CanonicalRouteNexthop[];
  /** This route is the one forwarding for its prefix. */
  readonly effective: boolean;
  readonly resolved: readonly CanonicalResolvedNexthop[];
}

export interface CanonicalState {
  readonly links: readonly Link[];
  readonly addresses: readonly Address[];
  readonly neighbors: readonly CanonicalNeighbor[];
  readonly nexthops: readonly NexthopObject[];
  readonly routes: readonly CanonicalRoute[];
  /** Policy rules in kernel order; the *_DETACHED flags follow devices silently, so only the invert bit is kept. */
  readonly rules: readonly PolicyRule[];
}

export function canonicalNud(s: NudState | null): CanonicalNud | null {
  switch (s) {
    case null: case 'incomplete': case 'none': return null;
    case 'reachable': case 'stale': case 'delay': case 'probe': return 'valid';
    default: return s;
  }
}

function byKey<T>(items: Iterable<T>, key: (x: T) => string | number): T[] {
  const arr = [...items];
  const keys = new Map<T, string | number>(arr.map((x) => [x, key(x)]));
  return arr.sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

export function canonicalState(view: MirrorView): CanonicalState {
  const links = byKey(view.links(), (l) => l.ifindex).map((l) => ({ ...l }));
  const addresses = byKey(view.addresses(), addressKey).map((a) => ({ ...a }));
  const neighbors: CanonicalNeighbor[] = [];
  for (const n of byKey(view.neighbors(), (x) => `${x.ifindex}|${x.family}|${x.address}`)) {
    const state = canonicalNud(n.state);
    if (state === null) continue;
    neighbors.push({ ifindex: n.ifindex, family: n.family, address: n.address, mac: n.mac, state });
  }
  const nexthops = byKey(view.nexthopObjects(), (o) => o.id).map((o) => ({ ...o, group: o.group?.map((m) => ({ ...m })) ?? null }));

  const effective = new Set<string>();
  for (const rr of view.effectiveRoutes()) effective.add(routeKey(rr.route));
  const routes: CanonicalRoute[] = [];
  for (const r of byKey(view.routes(), (x) => `${prefixKey(x)}|${x.tos}|${x.priority}`)) {
    routes.push({
      table: r.table, family: r.family, dst: r.dst, dstLen: r.dstLen, type: r.type, protocol: r.protocol,
      priority: r.priority, scope: r.scope, tos: r.tos, nhId: r.nhId, prefsrc: r.prefsrc, mtu: r.mtu ?? null,
      nexthops: r.nhId !== null ? [] : r.nexthops.map((n) => ({
        ifindex: n.ifindex, gateway: n.gateway, gatewayFamily: n.gatewayFamily, weight: n.weight, onlink: n.onlink,
      })),
      effective: effective.has(routeKey(r)),
      resolved: view.resolveRoute(r).nexthops.map((n) => ({ ...n, neighState: canonicalNud(n.neighState) })),
    });
  }
  const rules = (view.policyRules() ?? []).map((r) => ({ ...r, flags: r.flags & 0x2 }));
  return { links, addresses, neighbors, nexthops, routes, rules };
}
