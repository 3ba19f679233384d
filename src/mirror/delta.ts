// What one kernel event (or a batch of them) changed in the mirror, as plain
// keys, so the planner recompiles only what depends on them.

export interface MirrorDelta {
  /** prefixKey()s whose effective route or its resolution may have changed (superset is allowed). */
  readonly routes: ReadonlySet<string>;
  /** neighborKey()s added, changed or removed. */
  readonly neighbors: ReadonlySet<string>;
  /** ifindexes added, changed or removed. */
  readonly links: ReadonlySet<number>;
  /** Nexthop object ids added, changed (including silent group shrinkage) or removed. */
  readonly nexthops: ReadonlySet<number>;
  /** Any interface address was added or removed. */
  readonly addressesChanged: boolean;
  /** A policy rule (`ip rule`) was added or removed. */
  readonly rulesChanged: boolean;
  /** Netfilter's chains or legacy tables changed. */
  readonly firewallChanged: boolean;
  /** A device's (or conf.all's) rp_filter changed. */
  readonly netconfChanged: boolean;
}

/** Accumulates a delta while the mirror applies an event; the only mutable form. */
export class DeltaBuilder {
  readonly routes = new Set<string>();
  readonly neighbors = new Set<string>();
  readonly links = new Set<number>();
  readonly nexthops = new Set<number>();
  addressesChanged = false;
  rulesChanged = false;
  firewallChanged = false;
  netconfChanged = false;

  addRoutes(keys: Iterable<string> | undefined): void {
    if (!keys) return;
    for (const k of keys) this.routes.add(k);
  }

  finish(): MirrorDelta {
    return {
      routes: this.routes,
      neighbors: this.neighbors,
      links: this.links,
      nexthops: this.nexthops,
      addressesChanged: this.addressesChanged,
      rulesChanged: this.rulesChanged,
      firewallChanged: this.firewallChanged,
      netconfChanged: this.netconfChanged,
    };
  }
}

export function emptyDelta(): MirrorDelta {
  return new DeltaBuilder().finish();
}

export function isEmptyDelta(d: MirrorDelta): boolean {
  return d.routes.size === 0 && d.neighbors.size === 0 && d.links.size === 0
    && d.nexthops.size === 0 && !d.addressesChanged && !d.rulesChanged && !d.firewallChanged && !d.netconfChanged;
}

/** Union of deltas, for consumers that batch events (e.g. every 100 ms) before planning. */
export function mergeDeltas(deltas: Iterable<MirrorDelta>): MirrorDelta {
  const b = new DeltaBuilder();
  for (const d of deltas) {
    b.addRoutes(d.routes);
    for (const k of d.neighbors) b.neighbors.add(k);
    for (const k of d.links) b.links.add(k);
    for (const k of d.nexthops) b.nexthops.add(k);
    b.addressesChanged ||= d.addressesChanged;
    b.rulesChanged ||= d.rulesChanged;
    b.firewallChanged ||= d.firewallChanged;
    b.netconfChanged ||= d.netconfChanged;
  }
  return b.finish();
}
