// Route resolution: each nexthop of a kernel route turned into an egress port
// and a destination MAC, read against the mirror's current tables. Pure.
//
// Rules (each mirrors what the kernel's forwarding path does):
//  1. A route with RTA_NH_ID resolves through the nexthop object only; any
//     expanded RTA_GATEWAY/RTA_MULTIPATH it also carries (nexthop_compat_mode=1)
//     is ignored, because with compat mode 0 it is absent and the two must agree.
//  2. A group object (mpath or resilient) yields one nexthop per member, with
//     the member's 1-based weight and nhId. A member id that is missing, or that
//     is itself a group (the kernel forbids nesting), yields an unresolved
//     placeholder (kind 'gateway', ifindex null, dead). A missing top-level
//     object yields the same placeholder with weight 1: the route can't forward.
//  3. A blackhole object yields kind 'blackhole' (never resolved, no MAC).
//  4. A gateway nexthop is kind 'gateway'. Its neighbour is looked up on the
//     egress ifindex in the GATEWAY's family, not the route's: an IPv4 route
//     via an IPv6 gateway (RTA_VIA, or an IPv6 nexthop object as FRR 8.4
//     installs) uses the IPv6 neighbour table. `via 169.254.0.1 onlink` is
//     simply the IPv4 neighbour 169.254.0.1 on that ifindex (keys include the
//     ifindex, so each interface has its own MAC).
//  5. A gateway without an ifindex gets its egress from a longest-prefix match
//     of the gateway among connected routes (no gateway, an ifindex, scope
//     link) of the route's table in the gateway's family: the kernel only
//     accepts gateways reachable by a scope-link route. None → ifindex null.
//  6. No gateway and an ifindex → kind 'connected' (each destination is its
//     own neighbour): resolved false, mac and neighState null.
//  7. resolved = kind 'gateway' && egress known && neighborUsable(neighbour)
//     (STALE/DELAY/PROBE count; INCOMPLETE/FAILED/NONE/missing don't). mac and
//     neighState come from the neighbour whenever it exists, usable or not.
//  8. dead = RTNH_F_DEAD as reported || egress unknown/missing || admin down.
//     linkdown = RTNH_F_LINKDOWN as reported || egress unknown/missing || no carrier.
//  9. Routes without nexthops and without an object (blackhole, unreachable,
//     prohibit, throw types) resolve to an empty nexthop list; route.type says why.
import type { Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import { neighborUsable, type Neighbor } from '../model/neighbor.js';
import type { NexthopObject } from '../model/nexthop.js';
import type { ResolvedNexthop, ResolvedRoute } from '../model/resolved.js';
import type { Route, RouteNexthop } from '../model/route.js';

/** What resolution reads; the mirror's tables implement it. */
export interface ResolveLookup {
  link(ifindex: number): Link | undefined;
  neighbor(ifindex: number, family: Family, address: string): Neighbor | undefined;
  nexthopObject(id: number): NexthopObject | undefined;
  /** Rule 5: egress ifindex of a gateway via connected routes of `table`, or null. */
  connectedEgress(table: number, family: Family, address: string): number | null;
}

const NO_NEXTHOPS: readonly ResolvedNexthop[] = Object.freeze([]);

/** A route's own nexthop or a nexthop object's, before resolution. */
interface NexthopSpec extends RouteNexthop {
  readonly nhId: number | null;
}

export function resolveRoute(t: ResolveLookup, route: Route): ResolvedRoute {
  if (route.nhId !== null) {
    const obj = t.nexthopObject(route.nhId);
    if (obj === undefined) return { route, nexthops: [unresolvedMember(route.nhId, 1)] };
    return { route, nexthops: resolveObject(t, obj, route.table) };
  }
  if (route.nexthops.length === 0) return { route, nexthops: NO_NEXTHOPS };
  const out: ResolvedNexthop[] = [];
  for (const nh of route.nexthops) {
    out.push(resolveSpec(t, route.table, {
      ifindex: nh.ifindex,
      gateway: nh.gateway,
      gatewayFamily: nh.gateway === null ? null : nh.gatewayFamily ?? route.family,
      weight: nh.weight,
      onlink: nh.onlink,
      linkdown: nh.linkdown,
      dead: nh.dead,
      nhId: null,
    }));
  }
  return { route, nexthops: out };
}

/** Resolve a nexthop object as a route in `table` would use it (rules 2–3). */
export function resolveObject(t: ResolveLookup, obj: NexthopObject, table: number): readonly ResolvedNexthop[] {
  if (obj.group === null) return [resolveSingle(t, obj, 1, table)];
  const out: ResolvedNexthop[] = [];
  for (const m of obj.group) {
    const member = t.nexthopObject(m.id);
    out.push(member === undefined || member.group !== null
      ? unresolvedMember(m.id, m.weight)
      : resolveSingle(t, member, m.weight, table));
  }
  return out;
}

function resolveSingle(t: ResolveLookup, obj: NexthopObject, weight: number, table: number): ResolvedNexthop {
  if (obj.blackhole) {
    return {
      kind: 'blackhole', ifindex: obj.oif, gateway: null, gatewayFamily: null, weight,
      onlink: false, linkdown: false, dead: false, nhId: obj.id, mac: null, neighState: null, resolved: false,
    };
  }
  const r = resolveSpec(t, table, {
    ifindex: obj.oif,
    gateway: obj.gateway?.address ?? null,
    gatewayFamily: obj.gateway?.family ?? null,
    weight,
    onlink: obj.onlink,
    linkdown: obj.linkdown,
    dead: obj.dead,
    nhId: obj.id,
  });
  return obj.encap ? { ...r, encap: true } : r;
}

function resolveSpec(t: ResolveLookup, table: number, s: NexthopSpec): ResolvedNexthop {
  let ifindex = s.ifindex;
  if (s.gateway !== null && s.gatewayFamily !== null && ifindex === null) {
    ifindex = t.connectedEgress(table, s.gatewayFamily, s.gateway);
  }
  const link = ifindex === null ? undefined : t.link(ifindex);
  const dead = s.dead || link === undefined || !link.adminUp;
  const linkdown = s.linkdown || link === undefined || !link.carrier;
  if (s.gateway === null || s.gatewayFamily === null) {
    return {
      kind: 'connected', ifindex, gateway: null, gatewayFamily: null, weight: s.weight, onlink: s.onlink,
      linkdown, dead, nhId: s.nhId, mac: null, neighState: null, resolved: false,
    };
  }
  const neigh = ifindex === null ? undefined : t.neighbor(ifindex, s.gatewayFamily, s.gateway);
  return {
    kind: 'gateway', ifindex, gateway: s.gateway, gatewayFamily: s.gatewayFamily, weight: s.weight,
    onlink: s.onlink, linkdown, dead, nhId: s.nhId,
    mac: neigh?.mac ?? null,
    neighState: neigh?.state ?? null,
    resolved: ifindex !== null && neighborUsable(neigh),
  };
}

function unresolvedMember(id: number, weight: number): ResolvedNexthop {
  return {
    kind: 'gateway', ifindex: null, gateway: null, gatewayFamily: null, weight, onlink: false,
    linkdown: true, dead: true, nhId: id, mac: null, neighState: null, resolved: false,
  };
}
