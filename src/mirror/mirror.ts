// The kernel mirror: tables built from a dump, kept current by events, read
// through MirrorView. Composes storage (tables), kernel rules and resolution.
import type { Address } from '../model/address.js';
import type { KernelEvent, KernelSnapshot } from '../model/events.js';
import type { Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import { neighborKey, type Neighbor } from '../model/neighbor.js';
import type { NexthopObject } from '../model/nexthop.js';
import type { MirrorView, ResolvedRoute } from '../model/resolved.js';
import type { Route } from '../model/route.js';
import type { FirewallState } from '../model/firewall.js';
import { mergeNetconf, type RpFilter } from '../model/netconf.js';
import type { PolicyRule } from '../model/rule.js';
import { DeltaBuilder, type MirrorDelta } from './delta.js';
import { applyEvent } from './kernel-rules.js';
import { resolveRoute, type ResolveLookup } from './resolve.js';
import { KernelTables } from './tables.js';
import { tableOfLink } from './vrf.js';

export class Mirror implements MirrorView {
  private readonly t = new KernelTables();
  /** Resolution reads the tables through this; built once, not per route. */
  private readonly lookup: ResolveLookup;

  private constructor() {
    const t = this.t;
    this.lookup = {
      link: (ifindex) => t.links.get(ifindex),
      neighbor: (ifindex, family, address) => t.neighbors.get(neighborKey(ifindex, family, address)),
      nexthopObject: (id) => t.nexthops.get(id),
      connectedEgress: (table, family, address) => t.connectedEgress(table, family, address),
    };
  }

  static empty(): Mirror {
    return new Mirror();
  }

  /**
   * Build from a full dump. Kernel rules are not applied: a dump is already the
   * kernel's settled state. Routes are indexed as they are inserted, with no
   * per-route allocation beyond the prefix key and the index set entries.
   */
  static fromSnapshot(s: KernelSnapshot): Mirror {
    const m = new Mirror();
    const t = m.t;
    for (const l of s.links) t.setLink(l);
    for (const a of s.addresses) t.setAddress(a);
    for (const n of s.neighbors) t.setNeighbor(n);
    for (const o of s.nexthops) t.setNexthop(o);
    t.reserveRoutes(s.routes.length);
    for (const r of s.routes) t.loadRoute(r);
    if (s.rules) t.rules = [...s.rules];
    if (s.firewall) t.firewall = s.firewall;
    for (const n of s.netconf ?? []) t.netconf.set(n.ifindex, mergeNetconf(t.netconf.get(n.ifindex), n));
    t.delta = new DeltaBuilder();
    return m;
  }

  /** Apply one kernel event; returns what it changed. */
  apply(ev: KernelEvent): MirrorDelta {
    const d = new DeltaBuilder();
    this.t.delta = d;
    applyEvent(this.t, ev);
    this.t.delta = new DeltaBuilder();
    return d.finish();
  }

  // ---- MirrorView ---------------------------------------------------------------

  links(): Iterable<Link> { return this.t.links.values(); }
  link(ifindex: number): Link | undefined { return this.t.links.get(ifindex); }
  linkByName(name: string): Link | undefined { return this.t.linksByName.get(name); }
  addresses(): Iterable<Address> { return this.t.addresses.values(); }
  neighbors(): Iterable<Neighbor> { return this.t.neighbors.values(); }
  neighbor(ifindex: number, family: Family, address: string): Neighbor | undefined {
    return this.t.neighbors.get(neighborKey(ifindex, family, address));
  }
  nexthopObjects(): Iterable<NexthopObject> { return this.t.nexthops.values(); }
  nexthopObject(id: number): NexthopObject | undefined { return this.t.nexthops.get(id); }

  policyRules(): readonly PolicyRule[] | null {
    return this.t.rules;
  }

  firewall(): FirewallState | null {
    return this.t.firewall;
  }

  rpFilter(ifindex: number): RpFilter {
    return this.t.rpFilter(ifindex);
  }

  routes(): Iterable<Route> {
    return this.t.allRoutes();
  }

  tosRoutes(): Iterable<Route> {
    return this.t.tosRoutes();
  }

  /** Resolved lazily on each read: always current, and no per-route cache to invalidate. */
  *effectiveRoutes(): Iterable<ResolvedRoute> {
    for (const slot of this.t.allSlots()) {
      const best = this.t.bestRoute(slot);
      if (best !== undefined) yield resolveRoute(this.lookup, best);
    }
  }

  /** The effective route for one prefix key (see prefixKey), resolved; for consumers of MirrorDelta.routes. */
  effectiveRoute(prefixKey: string): ResolvedRoute | undefined {
    const best = this.t.bestRoute(this.t.slotByKey(prefixKey));
    return best === undefined ? undefined : resolveRoute(this.lookup, best);
  }

  /** Every route competing for one prefix key, in no particular order. */
  routesFor(prefixKey: string): readonly Route[] {
    return this.t.slotRoutes(this.t.slotByKey(prefixKey));
  }

  resolveRoute(route: Route): ResolvedRoute {
    return resolveRoute(this.lookup, route);
  }

  tableOfLink(ifindex: number): number {
    return tableOfLink(this.t.links, ifindex);
  }

  vrfTable(name: string): number | undefined {
    const l = this.t.linksByName.get(name);
    return l !== undefined && l.kind === 'vrf' && l.vrfTable !== null ? l.vrfTable : undefined;
  }

  get counts(): Readonly<{ links: number; addresses: number; neighbors: number; nexthops: number; routes: number; rules: number }> {
    const t = this.t;
    return {
      links: t.links.size, addresses: t.addresses.size, neighbors: t.neighbors.size,
      nexthops: t.nexthops.size, routes: t.routeCount, rules: t.rules?.length ?? 0,
    };
  }

  /** Test aid: differences between the live dependency indexes and ones rebuilt from scratch. */
  verifyIndexes(): string[] {
    return this.t.verifyIndexes();
  }
}
