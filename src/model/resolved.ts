// The mirror's answer for a route: each nexthop resolved to an egress port and
// a destination MAC. This is what `show` prints and what the planner consumes.
import type { Address } from './address.js';
import type { Family } from './ip.js';
import type { Link } from './link.js';
import type { Neighbor, NudState } from './neighbor.js';
import type { NexthopObject } from './nexthop.js';
import type { Route } from './route.js';
import type { FirewallState } from './firewall.js';
import type { RpFilter } from './netconf.js';
import type { PolicyRule } from './rule.js';

export type NexthopKind =
  /** Via a gateway: needs the gateway's neighbour entry on the egress link. */
  | 'gateway'
  /** Directly connected (no gateway): each destination is its own neighbour. */
  | 'connected'
  /** Blackhole nexthop object. */
  | 'blackhole';

export interface ResolvedNexthop {
  readonly kind: NexthopKind;
  /** Egress interface; null when it can't be determined (e.g. a gateway with no route to it). */
  readonly ifindex: number | null;
  readonly gateway: string | null;
  readonly gatewayFamily: Family | null;
  /** 1-based weight, as the kernel uses it for hash-threshold ECMP. */
  readonly weight: number;
  readonly onlink: boolean;
  /** RTNH_F_LINKDOWN as the kernel reports it, or egress link without carrier. */
  readonly linkdown: boolean;
  /** RTNH_F_DEAD as reported, or egress link admin down / missing. The kernel skips dead nexthops. */
  readonly dead: boolean;
  /** Nexthop object the member came from, when the route uses objects. */
  readonly nhId: number | null;
  /** The gateway's MAC on the egress link (from the neighbour table), when known. */
  readonly mac: string | null;
  readonly neighState: NudState | null;
  /** kind 'gateway' with a usable neighbour MAC (STALE/DELAY/PROBE count). */
  readonly resolved: boolean;
  /** The route or nexthop object adds an encapsulation the offload can't reproduce. */
  readonly encap?: true;
}

export interface ResolvedRoute {
  readonly route: Route;
  readonly nexthops: readonly ResolvedNexthop[];
}

/**
 * Read-only view of the kernel tables the mirror holds. The planner and the
 * CLI read only through this; nothing outside the mirror mutates it.
 */
export interface MirrorView {
  links(): Iterable<Link>;
  link(ifindex: number): Link | undefined;
  linkByName(name: string): Link | undefined;
  addresses(): Iterable<Address>;
  neighbors(): Iterable<Neighbor>;
  neighbor(ifindex: number, family: Family, address: string): Neighbor | undefined;
  nexthopObjects(): Iterable<NexthopObject>;
  nexthopObject(id: number): NexthopObject | undefined;
  /** Policy rules in the kernel's list order; null when they were never dumped (then the kernel's defaults are assumed). */
  policyRules(): readonly PolicyRule[] | null;
  /** The IPv4 reverse-path filter the kernel applies on a device: max(conf.all, conf.DEV). */
  rpFilter(ifindex: number): RpFilter;
  /** Netfilter as last read; null when it was never read (synthetic snapshots: no firewall assumed). */
  firewall(): FirewallState | null;
  /** Every route the kernel holds, including ones shadowed by a lower metric. */
  routes(): Iterable<Route>;
  /** The routes with a TOS selector (IPv4 tos != 0), which never forward in general: what routes() filtered, without walking the table. */
  tosRoutes(): Iterable<Route>;
  /** The best (lowest priority) route per (table, family, prefix), resolved. */
  effectiveRoutes(): Iterable<ResolvedRoute>;
  /** Resolve one route's nexthops against the current tables. */
  resolveRoute(route: Route): ResolvedRoute;
  /** Routing table of an interface: its VRF's table when enslaved to one, else main (254). */
  tableOfLink(ifindex: number): number;
  /** Table number of a VRF device name, if such a VRF exists. */
  vrfTable(name: string): number | undefined;
  readonly counts: Readonly<{ links: number; addresses: number; neighbors: number; nexthops: number; routes: number }>;
}
