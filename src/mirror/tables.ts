// The mirror's storage: kernel tables plus the dependency indexes that let an
// event find the routes it affects without scanning. Every mutation goes
// through here so the indexes and the pending delta stay right.
//
// Memory at 1M routes matters more than elegance here: routes live in
// columns (route-store.ts), found through per-(table, family, length) maps
// keyed by the network bits, and indexes hold row numbers, so a route costs
// its row, one map entry and one set entry per distinct dependency, and no
// object or string of its own.
import type { Address } from '../model/address.js';
import { addressKey } from '../model/address.js';
import { addrBits, formatIp, isMulticast, maskBytes, parseIp, type Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import { sameFirewall, type FirewallState } from '../model/firewall.js';
import { effectiveRpFilter, mergeNetconf, NETCONF_ALL, NETCONF_DEFAULT, type Netconf, type RpFilter } from '../model/netconf.js';
import { neighborKey, type Neighbor } from '../model/neighbor.js';
import type { NexthopObject } from '../model/nexthop.js';
import { ipv6DeviceRouteIfindex, prefixKey, type Route } from '../model/route.js';
import { ruleKey, type PolicyRule } from '../model/rule.js';
import { DeltaBuilder } from './delta.js';
import { RouteStore } from './route-store.js';

/** Rows of the routes to one prefix: a bare row in the common case, an array only when several compete. */
export type PrefixSlot = number | number[];

const RT_SCOPE_LINK = 253;

/**
 * Same kernel identity (what RTM_DELROUTE matches) given the same prefix: tos
 * and priority, and for IPv6 device routes the device (see ipv6DeviceRouteIfindex).
 */
export function sameRouteIdentity(a: Route, b: Route): boolean {
  return a.tos === b.tos && a.priority === b.priority && ipv6DeviceRouteIfindex(a) === ipv6DeviceRouteIfindex(b);
}

function slotRows(slot: PrefixSlot | undefined): readonly number[] {
  if (slot === undefined) return [];
  return Array.isArray(slot) ? slot : [slot];
}

/** Outer key of the route store; exact in a double for any 32-bit table. */
function lenKey(table: number, family: Family, len: number): number {
  return table * 512 + (family === 6 ? 256 : 0) + len;
}

/**
 * Inner key of the route store. IPv4 uses the network bits as a number (a
 * small integer for any length up to /30, so V8 stores it unboxed; 30% faster
 * to insert than hashing the text at 1M routes); IPv6 uses the text.
 */
function dstKey(family: Family, dst: string, len: number): number | string {
  if (family !== 4) return dst;
  let v = 0;
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < dst.length; i++) {
    const c = dst.charCodeAt(i);
    if (c === 46) { v = v * 256 + octet; octet = 0; dots++; } else if (c >= 48 && c <= 57) { octet = octet * 10 + c - 48; } else { return dst; }
  }
  if (dots !== 3) return dst;
  v = v * 256 + octet;
  return len <= 0 ? 0 : Math.floor(v / 2 ** (32 - Math.min(len, 32)));
}

/** Parse a prefixKey() back into its parts; undefined if malformed. */
export function parsePrefixKey(key: string): { table: number; family: Family; dst: string; dstLen: number } | undefined {
  const m = /^(\d+)\|([46])\|([^/]+)\/(\d+)$/.exec(key);
  if (m === null) return undefined;
  return { table: Number(m[1]), family: m[2] === '6' ? 6 : 4, dst: m[3]!, dstLen: Number(m[4]) };
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (s === undefined) { s = new Set(); m.set(k, s); }
  s.add(v);
}

function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function addTo2<K1, K2, V>(m: Map<K1, Map<K2, Set<V>>>, k1: K1, k2: K2, v: V): void {
  let inner = m.get(k1);
  if (inner === undefined) { inner = new Map(); m.set(k1, inner); }
  addTo(inner, k2, v);
}

function removeFrom2<K1, K2, V>(m: Map<K1, Map<K2, Set<V>>>, k1: K1, k2: K2, v: V): void {
  const inner = m.get(k1);
  if (inner === undefined) return;
  removeFrom(inner, k2, v);
  if (inner.size === 0) m.delete(k1);
}

function isConnected(r: Route): boolean {
  const nh = r.nhId === null && r.nexthops.length > 0 ? r.nexthops[0] : undefined;
  return nh !== undefined && nh.gateway === null && nh.ifindex !== null;
}

export class KernelTables {
  readonly links = new Map<number, Link>();
  readonly linksByName = new Map<string, Link>();
  readonly addresses = new Map<string, Address>();
  readonly addressesByIfindex = new Map<number, Set<string>>();
  readonly neighbors = new Map<string, Neighbor>();
  readonly neighborsByIfindex = new Map<number, Set<string>>();
  readonly nexthops = new Map<number, NexthopObject>();
  /** Every route, one row each. */
  private readonly store = new RouteStore();
  /** lenKey(table, family, dstLen) → dstKey(dst) → rows. */
  private readonly routes = new Map<number, Map<number | string, PrefixSlot>>();
  routeCount = 0;

  // Route dependency indexes, by row (routes using their own nexthops, unless
  // noted). A gateway is indexed by (egress ifindex, gateway text): the text
  // alone tells IPv4 from IPv6, and the link's state is reached through the same key.
  private readonly rByGw = new Map<number, Map<string, Set<number>>>();
  /** Gateway-less nexthops per ifindex. */
  private readonly rByIf = new Map<number, Set<number>>();
  /** Routes with RTA_NH_ID (they depend on nothing else: the object is authoritative). */
  private readonly rByNh = new Map<number, Set<number>>();
  /** IPv4 routes by table and prefsrc, for the kernel's flush on address removal. */
  private readonly rBySrc = new Map<number, Map<string, Set<number>>>();
  /** Gateways without an ifindex (resolved by longest-prefix match). */
  private readonly rFloating = new Set<number>();
  /** Routes with a TOS selector (IPv4 tos != 0): never effective, and few; the planner asks for them alone. */
  private readonly rTos = new Set<number>();
  // Nexthop object indexes.
  private readonly nhByGw = new Map<number, Map<string, Set<number>>>();
  private readonly nhByIf = new Map<number, Set<number>>();
  /** member id → groups listing it (kept while the member object is missing). */
  private readonly nhParents = new Map<number, Set<number>>();
  private readonly nhFloating = new Set<number>();

  /**
   * Policy rules in the kernel's list order (per family: by priority, equal
   * priorities in insertion order); null while never dumped (synthetic
   * snapshots), which the planner reads as the kernel's default rules.
   */
  rules: PolicyRule[] | null = null;
  /** Netfilter as last read; null when never read (synthetic snapshots). */
  firewall: FirewallState | null = null;
  /** IPv4 netconf by ifindex (NETCONF_ALL, NETCONF_DEFAULT, devices). */
  readonly netconf = new Map<number, Netconf>();

  /** Where mutations record what changed; the mirror swaps in a fresh one per apply(). */
  delta = new DeltaBuilder();

  // ---- links ---------------------------------------------------------------

  setLink(l: Link): Link | undefined {
    const prev = this.links.get(l.ifindex);
    if (prev !== undefined && this.linksByName.get(prev.name) === prev) this.linksByName.delete(prev.name);
    this.links.set(l.ifindex, l);
    this.linksByName.set(l.name, l);
    if (prev === undefined || !sameLink(prev, l)) this.delta.links.add(l.ifindex);
    if (prev === undefined || prev.adminUp !== l.adminUp || prev.carrier !== l.carrier) this.markLinkDependents(l.ifindex);
    return prev;
  }

  deleteLink(ifindex: number): Link | undefined {
    const prev = this.links.get(ifindex);
    if (prev === undefined) return undefined;
    this.links.delete(ifindex);
    if (this.linksByName.get(prev.name) === prev) this.linksByName.delete(prev.name);
    this.delta.links.add(ifindex);
    this.markLinkDependents(ifindex);
    return prev;
  }

  // ---- addresses -----------------------------------------------------------

  setAddress(a: Address): void {
    const k = addressKey(a);
    const prev = this.addresses.get(k);
    this.addresses.set(k, a);
    addTo(this.addressesByIfindex, a.ifindex, k);
    if (prev === undefined || prev.scope !== a.scope) this.delta.addressesChanged = true;
  }

  deleteAddress(a: Pick<Address, 'ifindex' | 'family' | 'address' | 'prefixLen'>): Address | undefined {
    const k = addressKey(a);
    const prev = this.addresses.get(k);
    if (prev === undefined) return undefined;
    this.addresses.delete(k);
    removeFrom(this.addressesByIfindex, a.ifindex, k);
    this.delta.addressesChanged = true;
    return prev;
  }

  addressesOn(ifindex: number): Address[] {
    const out: Address[] = [];
    for (const k of this.addressesByIfindex.get(ifindex) ?? []) {
      const a = this.addresses.get(k);
      if (a !== undefined) out.push(a);
    }
    return out;
  }

  // ---- netconf ---------------------------------------------------------------

  /** A netconf notification: only rp_filter matters to the plan, so only its change is a delta. */
  setNetconf(n: Netconf): void {
    const old = this.netconf.get(n.ifindex);
    const next = mergeNetconf(old, n);
    this.netconf.set(n.ifindex, next);
    if ((old?.rpFilter ?? null) !== next.rpFilter) this.delta.netconfChanged = true;
  }

  deleteNetconf(ifindex: number): void {
    if (this.netconf.delete(ifindex)) this.delta.netconfChanged = true;
  }

  /**
   * The rp_filter the kernel applies to packets arriving on `ifindex`:
   * max(conf.all, conf.DEV). A device with no record yet has what it was
   * created with, conf.default (a change since would have been notified).
   */
  rpFilter(ifindex: number): RpFilter {
    const dev = this.netconf.get(ifindex) ?? this.netconf.get(NETCONF_DEFAULT);
    return effectiveRpFilter(this.netconf.get(NETCONF_ALL)?.rpFilter ?? null, dev?.rpFilter ?? null);
  }

  // ---- netfilter ---------------------------------------------------------------

  setFirewall(f: FirewallState): void {
    if (sameFirewall(this.firewall, f)) return;
    this.firewall = f;
    this.delta.firewallChanged = true;
  }

  // ---- policy rules ----------------------------------------------------------

  /**
   * RTM_NEWRULE: the kernel puts a new rule after every rule of its family
   * with a priority <= its own. A rule equal to one already held is not
   * added twice: an event replayed after the dump that already showed it
   * must not duplicate it (two identical rules select the same traffic for
   * the same action, so one stands for both; the periodic resync recounts).
   */
  setRule(r: PolicyRule): void {
    if (this.rules === null) return;
    const k = ruleKey(r);
    if (this.rules.some((x) => ruleKey(x) === k)) return;
    let at = this.rules.length;
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const x = this.rules[i]!;
      if (x.family !== r.family) continue;
      if (x.priority <= r.priority) break;
      at = i;
    }
    this.rules.splice(at, 0, r);
    this.delta.rulesChanged = true;
  }

  deleteRule(r: PolicyRule): void {
    if (this.rules === null) return;
    const k = ruleKey(r);
    const i = this.rules.findIndex((x) => ruleKey(x) === k);
    if (i < 0) return;
    this.rules.splice(i, 1);
    this.delta.rulesChanged = true;
  }

  // ---- neighbours ----------------------------------------------------------

  setNeighbor(n: Neighbor): void {
    // Multicast entries (NOARP, created silently when a group is joined) are
    // never a gateway; keeping them would only make the mirror drift from dumps.
    if (isMulticast(n.address)) return;
    const k = neighborKey(n.ifindex, n.family, n.address);
    const prev = this.neighbors.get(k);
    this.neighbors.set(k, n);
    addTo(this.neighborsByIfindex, n.ifindex, k);
    if (prev !== undefined && prev.mac === n.mac && prev.state === n.state && prev.flags === n.flags) return;
    this.delta.neighbors.add(k);
    // Flags are diagnostic only; resolution reads MAC and state.
    if (prev === undefined || prev.mac !== n.mac || prev.state !== n.state) this.markNeighborDependents(n);
  }

  deleteNeighbor(k: string): Neighbor | undefined {
    const prev = this.neighbors.get(k);
    if (prev === undefined) return undefined;
    this.neighbors.delete(k);
    removeFrom(this.neighborsByIfindex, prev.ifindex, k);
    this.delta.neighbors.add(k);
    this.markNeighborDependents(prev);
    return prev;
  }

  neighborsOn(ifindex: number): string[] {
    return [...(this.neighborsByIfindex.get(ifindex) ?? [])];
  }

  // ---- nexthop objects -----------------------------------------------------

  setNexthop(o: NexthopObject): NexthopObject | undefined {
    const prev = this.nexthops.get(o.id);
    if (prev !== undefined) this.indexNexthop(prev, false);
    this.nexthops.set(o.id, o);
    this.indexNexthop(o, true);
    this.delta.nexthops.add(o.id);
    this.markNexthopDependents(o.id);
    return prev;
  }

  /** Removes the object only; cascading to groups and routes is kernel-rules' job. */
  deleteNexthop(id: number): NexthopObject | undefined {
    const prev = this.nexthops.get(id);
    if (prev === undefined) return undefined;
    this.indexNexthop(prev, false);
    this.nexthops.delete(id);
    this.delta.nexthops.add(id);
    this.markNexthopDependents(id);
    return prev;
  }

  /** Groups listing `id` as a member (whether or not `id` exists). */
  groupsContaining(id: number): number[] {
    return [...(this.nhParents.get(id) ?? [])];
  }

  nexthopsOnIfindex(ifindex: number): number[] {
    return [...(this.nhByIf.get(ifindex) ?? [])];
  }

  /** The one place that says what a nexthop object depends on (add or remove its index entries). */
  private indexNexthop(o: NexthopObject, add: boolean): void {
    if (o.group !== null) {
      for (const m of o.group) {
        if (add) addTo(this.nhParents, m.id, o.id); else removeFrom(this.nhParents, m.id, o.id);
      }
      return;
    }
    if (o.oif !== null) {
      if (add) addTo(this.nhByIf, o.oif, o.id); else removeFrom(this.nhByIf, o.oif, o.id);
    }
    if (o.gateway === null) return;
    if (o.oif === null) {
      if (add) this.nhFloating.add(o.id); else this.nhFloating.delete(o.id);
    } else if (add) {
      addTo2(this.nhByGw, o.oif, o.gateway.address, o.id);
    } else {
      removeFrom2(this.nhByGw, o.oif, o.gateway.address, o.id);
    }
  }

  // ---- routes --------------------------------------------------------------

  slot(table: number, family: Family, dst: string, dstLen: number): PrefixSlot | undefined {
    return this.routes.get(lenKey(table, family, dstLen))?.get(dstKey(family, dst, dstLen));
  }

  slotByKey(key: string): PrefixSlot | undefined {
    const p = parsePrefixKey(key);
    return p === undefined ? undefined : this.slot(p.table, p.family, p.dst, p.dstLen);
  }

  /** Every route of a slot, in insertion order, as fresh objects. */
  slotRoutes(slot: PrefixSlot | undefined): Route[] {
    return slotRows(slot).map((row) => this.store.get(row));
  }

  /**
   * The route that forwards for a prefix: lowest priority, the first of
   * equals. IPv4 routes with tos != 0 only match packets with that TOS, so
   * they never win here; they stay visible in routes() for the planner to
   * punt such prefixes. Read from the columns; only the winner is made.
   */
  bestRoute(slot: PrefixSlot | undefined): Route | undefined {
    if (slot === undefined) return undefined;
    const st = this.store;
    if (!Array.isArray(slot)) return st.tosOf(slot) === 0 ? st.get(slot) : undefined;
    let best = -1;
    for (const row of slot) {
      if (st.tosOf(row) !== 0) continue;
      if (best < 0 || st.priorityOf(row) < st.priorityOf(best)) best = row;
    }
    return best < 0 ? undefined : st.get(best);
  }

  /** sameRouteIdentity() of a stored row and a route of the same prefix, read from the columns. */
  private rowIs(row: number, r: Route): boolean {
    const st = this.store;
    if (st.tosOf(row) !== r.tos || st.priorityOf(row) !== r.priority) return false;
    const dev = ipv6DeviceRouteIfindex({ family: st.familyOf(row), nhId: st.hasNhId(row) ? 0 : null, nexthops: st.nexthopsOf(row) });
    return dev === ipv6DeviceRouteIfindex(r);
  }

  private findRow(slot: PrefixSlot | undefined, r: Route): number {
    if (slot === undefined) return -1;
    if (!Array.isArray(slot)) return this.rowIs(slot, r) ? slot : -1;
    for (const row of slot) if (this.rowIs(row, r)) return row;
    return -1;
  }

  /** The stored route with the same kernel identity, if any. */
  findRoute(r: Route): Route | undefined {
    const row = this.findRow(this.slot(r.table, r.family, r.dst, r.dstLen), r);
    return row < 0 ? undefined : this.store.get(row);
  }

  /** Add or replace (same identity) a route. Returns the replaced route. */
  putRoute(r: Route): Route | undefined {
    const k = lenKey(r.table, r.family, r.dstLen);
    const dk = dstKey(r.family, r.dst, r.dstLen);
    let inner = this.routes.get(k);
    if (inner === undefined) { inner = new Map(); this.routes.set(k, inner); }
    const slot = inner.get(dk);
    const at = this.findRow(slot, r);
    let old: Route | undefined;
    if (at >= 0) {
      // Replaced in place: same row, so the same position among routes of equal metric.
      old = this.store.get(at);
      this.indexRoute(at, old, false);
      this.store.replace(at, r);
      this.indexRoute(at, r, true);
    } else {
      const row = this.store.add(r);
      if (slot === undefined) inner.set(dk, row);
      else if (Array.isArray(slot)) slot.push(row);
      else inner.set(dk, [slot, row]);
      this.routeCount++;
      this.indexRoute(row, r, true);
      if (r.tos !== 0) this.rTos.add(row);
    }
    this.delta.routes.add(prefixKey(r));
    if (this.hasFloating() && (isConnected(r) || (old !== undefined && isConnected(old)))) this.markFloating();
    return old;
  }

  /** Remove the stored route with r's identity. Returns what was removed. */
  deleteRoute(r: Route): Route | undefined {
    const k = lenKey(r.table, r.family, r.dstLen);
    const dk = dstKey(r.family, r.dst, r.dstLen);
    const inner = this.routes.get(k);
    const slot = inner?.get(dk);
    const row = this.findRow(slot, r);
    if (inner === undefined || slot === undefined || row < 0) return undefined;
    if (!Array.isArray(slot)) {
      inner.delete(dk);
      if (inner.size === 0) this.routes.delete(k);
    } else {
      slot.splice(slot.indexOf(row), 1);
      if (slot.length === 1) inner.set(dk, slot[0]!);
    }
    const old = this.store.get(row);
    this.indexRoute(row, old, false);
    this.rTos.delete(row);
    this.store.remove(row);
    this.routeCount--;
    this.delta.routes.add(prefixKey(old));
    if (this.hasFloating() && isConnected(old)) this.markFloating();
    return old;
  }

  /** Room for `n` more routes before a bulk load. */
  reserveRoutes(n: number): void {
    this.store.reserve(n);
  }

  /** Bulk load for fromSnapshot: putRoute without the delta bookkeeping in the common case. */
  loadRoute(r: Route): void {
    const k = lenKey(r.table, r.family, r.dstLen);
    const dk = dstKey(r.family, r.dst, r.dstLen);
    let inner = this.routes.get(k);
    if (inner === undefined) { inner = new Map(); this.routes.set(k, inner); }
    if (inner.has(dk)) { this.putRoute(r); return; }
    const row = this.store.add(r);
    inner.set(dk, row);
    this.routeCount++;
    this.indexRoute(row, r, true);
    if (r.tos !== 0) this.rTos.add(row);
  }

  /**
   * The one place that says what a route depends on (add or remove the
   * index entries of its row). A gateway on an ifindex is indexed by
   * (ifindex, gateway) only: the link is reached through it, so no second
   * entry per route is needed.
   */
  private indexRoute(row: number, r: Route, add: boolean): void {
    if (r.prefsrc !== null && r.family === 4) {
      if (add) addTo2(this.rBySrc, r.table, r.prefsrc, row); else removeFrom2(this.rBySrc, r.table, r.prefsrc, row);
    }
    if (r.nhId !== null) {
      if (add) addTo(this.rByNh, r.nhId, row); else removeFrom(this.rByNh, r.nhId, row);
      return;
    }
    for (const nh of r.nexthops) {
      if (nh.gateway !== null) {
        if (nh.ifindex === null) {
          if (add) this.rFloating.add(row); else this.rFloating.delete(row);
        } else if (add) {
          addTo2(this.rByGw, nh.ifindex, nh.gateway, row);
        } else {
          removeFrom2(this.rByGw, nh.ifindex, nh.gateway, row);
        }
      } else if (nh.ifindex !== null) {
        if (add) addTo(this.rByIf, nh.ifindex, row); else removeFrom(this.rByIf, nh.ifindex, row);
      }
    }
  }

  *allRoutes(): Generator<Route> {
    for (const inner of this.routes.values()) {
      for (const slot of inner.values()) {
        if (Array.isArray(slot)) for (const row of slot) yield this.store.get(row);
        else yield this.store.get(slot);
      }
    }
  }

  /** Routes with tos != 0 (tos is part of a route's identity, so a replacement keeps its row's membership). */
  tosRoutes(): Route[] {
    return this.routesOf(this.rTos);
  }

  *allSlots(): Generator<PrefixSlot> {
    for (const inner of this.routes.values()) yield* inner.values();
  }

  // ---- dependency queries ----------------------------------------------------

  private routesOf(rows: Iterable<number> | undefined): Route[] {
    const out: Route[] = [];
    for (const row of rows ?? []) out.push(this.store.get(row));
    return out;
  }

  /** Routes whose own (non-object) nexthops use ifindex. */
  routesOnIfindex(ifindex: number): Route[] {
    const rows = new Set<number>(this.rByIf.get(ifindex));
    for (const set of this.rByGw.get(ifindex)?.values() ?? []) for (const row of set) rows.add(row);
    return this.routesOf(rows);
  }

  /** Routes whose RTA_NH_ID is exactly id. */
  routesWithNhId(id: number): Route[] {
    return this.routesOf(this.rByNh.get(id));
  }

  /** IPv4 routes of `table` whose prefsrc is `address`. */
  routesWithPrefsrc(table: number, address: string): Route[] {
    return this.routesOf(this.rBySrc.get(table)?.get(address));
  }

  // ---- marking dependents in the delta ----------------------------------------

  private markRoutes(rows: Iterable<number> | undefined): void {
    if (rows === undefined) return;
    const d = this.delta.routes;
    for (const row of rows) d.add(prefixKey(this.store.get(row)));
  }

  private markNeighborDependents(n: Pick<Neighbor, 'ifindex' | 'address'>): void {
    this.markRoutes(this.rByGw.get(n.ifindex)?.get(n.address));
    for (const id of this.nhByGw.get(n.ifindex)?.get(n.address) ?? []) this.markNexthopDependents(id);
    this.markFloating();
  }

  private markNexthopDependents(id: number): void {
    this.markRoutes(this.rByNh.get(id));
    for (const g of this.nhParents.get(id) ?? []) this.markRoutes(this.rByNh.get(g));
  }

  private markLinkDependents(ifindex: number): void {
    this.markRoutes(this.rByIf.get(ifindex));
    for (const set of this.rByGw.get(ifindex)?.values() ?? []) this.markRoutes(set);
    for (const id of this.nhByIf.get(ifindex) ?? []) this.markNexthopDependents(id);
    this.markFloating();
  }

  private hasFloating(): boolean {
    return this.rFloating.size > 0 || this.nhFloating.size > 0;
  }

  /**
   * Gateways without an ifindex resolve through whatever connected route and
   * link state currently match; the kernel never produces them (it always
   * reports an oif), so they are simply re-marked on any relevant change.
   */
  private markFloating(): void {
    if (!this.hasFloating()) return;
    this.markRoutes(this.rFloating);
    for (const id of this.nhFloating) this.markNexthopDependents(id);
  }

  // ---- lookups used by resolution --------------------------------------------

  /** Longest-prefix match of a gateway among connected (scope link, no gateway) routes of a table. */
  connectedEgress(table: number, family: Family, address: string): number | null {
    let bytes: Uint8Array;
    try { bytes = parseIp(address); } catch { return null; }
    if ((bytes.length === 4 ? 4 : 6) !== family) return null;
    for (let len = addrBits(family); len >= 0; len--) {
      const inner = this.routes.get(lenKey(table, family, len));
      if (inner === undefined) continue;
      const slot = inner.get(dstKey(family, formatIp(maskBytes(bytes, len)), len));
      for (const r of this.slotRoutes(slot)) {
        if (r.tos === 0 && r.scope === RT_SCOPE_LINK && isConnected(r)) return r.nexthops[0]!.ifindex;
      }
    }
    return null;
  }

  // ---- self-check for tests ------------------------------------------------

  /** Compare every index with one rebuilt from the tables; returns the differences. */
  verifyIndexes(): string[] {
    const fresh = new KernelTables();
    for (const o of this.nexthops.values()) fresh.indexNexthop(o, true);
    for (const inner of this.routes.values()) {
      for (const slot of inner.values()) for (const row of slotRows(slot)) fresh.indexRoute(row, this.store.get(row), true);
    }
    const problems: string[] = [];
    const show = (v: unknown): string => String(v);
    const setText = (s: Iterable<unknown> | undefined): string => [...(s ?? [])].map(show).sort().join(',');
    const sameSet = <V>(a: Set<V> | undefined, b: Set<V> | undefined): boolean =>
      (a?.size ?? 0) === (b?.size ?? 0) && [...(a ?? [])].every((v) => b?.has(v) === true);
    const cmp = <K, V>(name: string, a: Map<K, Set<V>>, b: Map<K, Set<V>>): void => {
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        // Rows, not text: a replaced route left behind under its old row would print the same.
        if (!sameSet(a.get(k), b.get(k))) problems.push(`${name}[${String(k)}]: have {${setText(a.get(k))}} want {${setText(b.get(k))}}`);
      }
    };
    const cmp2 = <K1, K2, V>(name: string, a: Map<K1, Map<K2, Set<V>>>, b: Map<K1, Map<K2, Set<V>>>): void => {
      for (const k of new Set([...a.keys(), ...b.keys()])) cmp(`${name}[${String(k)}]`, a.get(k) ?? new Map(), b.get(k) ?? new Map());
      for (const [k, inner] of a) if (inner.size === 0) problems.push(`${name}[${String(k)}] empty map kept`);
    };
    cmp2('rByGw', this.rByGw, fresh.rByGw);
    cmp('rByIf', this.rByIf, fresh.rByIf);
    cmp('rByNh', this.rByNh, fresh.rByNh);
    cmp2('rBySrc', this.rBySrc, fresh.rBySrc);
    cmp2('nhByGw', this.nhByGw, fresh.nhByGw);
    cmp('nhByIf', this.nhByIf, fresh.nhByIf);
    cmp('nhParents', this.nhParents, fresh.nhParents);
    if (!sameSet(this.rFloating, fresh.rFloating)) problems.push('rFloating differs');
    if (!sameSet(this.nhFloating, fresh.nhFloating)) problems.push('nhFloating differs');
    let count = 0;
    for (const [k, inner] of this.routes) {
      if (inner.size === 0) problems.push(`empty route map ${k} kept`);
      for (const [dst, slot] of inner) {
        if (Array.isArray(slot) && slot.length < 2) problems.push(`slot ${dst} is an array of ${slot.length}`);
        for (const r of this.slotRoutes(slot)) {
          if (dstKey(r.family, r.dst, r.dstLen) !== dst || lenKey(r.table, r.family, r.dstLen) !== k) problems.push(`route ${routeText(r)} misfiled`);
          count++;
        }
      }
    }
    if (count !== this.routeCount) problems.push(`routeCount ${this.routeCount} != ${count}`);
    if (this.store.size !== this.routeCount) problems.push(`route rows ${this.store.size} != routeCount ${this.routeCount}`);
    const tos = [...this.allRoutes()].filter((r) => r.tos !== 0).length;
    if (tos !== this.rTos.size) problems.push(`rTos holds ${this.rTos.size} rows, ${tos} routes have a tos`);
    for (const [ifx, keys] of this.neighborsByIfindex) {
      for (const k of keys) if (this.neighbors.get(k)?.ifindex !== ifx) problems.push(`neighborsByIfindex stale ${k}`);
    }
    for (const [k, n] of this.neighbors) {
      if (!this.neighborsByIfindex.get(n.ifindex)?.has(k)) problems.push(`neighbor ${k} not indexed`);
    }
    for (const [ifx, keys] of this.addressesByIfindex) {
      for (const k of keys) if (this.addresses.get(k)?.ifindex !== ifx) problems.push(`addressesByIfindex stale ${k}`);
    }
    for (const [k, a] of this.addresses) {
      if (!this.addressesByIfindex.get(a.ifindex)?.has(k)) problems.push(`address ${k} not indexed`);
    }
    for (const [name, l] of this.linksByName) if (this.links.get(l.ifindex) !== l) problems.push(`linksByName stale ${name}`);
    return problems;
  }
}

function routeText(r: Route): string {
  return `${prefixKey(r)}|${r.tos}|${r.priority}`;
}

function sameLink(a: Link, b: Link): boolean {
  return a.name === b.name && a.mac === b.mac && a.adminUp === b.adminUp && a.carrier === b.carrier
    && a.operState === b.operState && a.mtu === b.mtu && a.master === b.master && a.kind === b.kind
    && a.vrfTable === b.vrfTable && a.physSwitchId === b.physSwitchId && a.physPortName === b.physPortName;
}
