// What the XDP maps must hold for a plan, and the ordered map changes that
// take what is installed there. Pure: keys and values are the encoded bytes
// (layout.ts), compared as bytes, so a read-back diff finds any drift.
import { entryRowsOf, type Plan, type PlanEntry, type PlanGroup, type PlanOp, type PlanPort } from '../plan/index.js';
import { d24Value } from './dir24.js';
import {
  BUCKET_PUNT,
  encodeGroupKey,
  encodeGroupValue,
  encodeLpmKey,
  encodePortKey,
  encodePortValue,
  encodeRouteValue,
  encodeU32,
  ipv4Prefix,
  type MapName,
} from './layout.js';

/** The maps the programmer keeps equal to the plan (fo_config and the counters are not plan state), in dependency order. */
export const PLAN_MAPS = ['fo_tx', 'fo_groups', 'fo_lpm4', 'fo_lpm6', 'fo_ports'] as const;
export type PlanMap = (typeof PLAN_MAPS)[number];

/** Map contents keyed by the key's hex (Buffer isn't a usable Map key). */
export type MapContents = Map<string, { readonly key: Buffer; readonly value: Buffer }>;
export type XdpState = Record<PlanMap, MapContents>;

export function emptyState(): XdpState {
  return { fo_tx: new Map(), fo_groups: new Map(), fo_lpm4: new Map(), fo_lpm6: new Map(), fo_ports: new Map() };
}

function put(m: MapContents, key: Buffer, value: Buffer): void {
  m.set(key.toString('hex'), { key, value });
}

export const isXdp = (p: PlanPort): boolean => p.backend === 'xdp' && p.mac !== null;

/** The device the program runs on for a port: a VLAN sub-interface's parent, else the port. */
export const attachIfindex = (p: PlanPort): number => p.vlan?.parent ?? p.ifindex;

/** How the program sends out of an XDP port: the devmap device, and for a VLAN port the tag to push and its MTU. */
export interface XdpEgress {
  readonly tx: number;
  readonly vid: number;
  readonly mtu: number;
}

/** Usable XDP ports by ifindex, with how the program sends out of each. */
export function xdpEgresses(ports: readonly PlanPort[]): Map<number, XdpEgress> {
  const out = new Map<number, XdpEgress>();
  for (const p of ports) out.set(p.ifindex, p.vlan ? { tx: p.vlan.parent, vid: p.vlan.vid, mtu: p.mtu ?? 0 } : { tx: p.ifindex, vid: 0, mtu: 0 });
  return out;
}

/**
 * A group as the program sees it: members whose egress is not an XDP port
 * can't be reached through the devmap, so their buckets go to the kernel;
 * a member leaving through a VLAN sub-interface is sent from its parent
 * with the tag; the route MTU is checked per packet.
 */
export function xdpGroupValue(g: PlanGroup, egress: ReadonlyMap<number, XdpEgress>): Buffer {
  const buckets = g.buckets.map((t) => (t >= 0 && egress.has(g.members[t]!.ifindex) ? t : BUCKET_PUNT));
  const members = g.members.map((m) => {
    const e = egress.get(m.ifindex);
    if (!e || e.vid === 0) return m;
    return { ifindex: e.tx, dmac: m.dmac, smac: m.smac, vid: e.vid, mtu: e.mtu, port: m.ifindex };
  });
  return encodeGroupValue({ members, buckets, ...(g.mtu !== undefined ? { mtu: g.mtu } : {}) });
}

export function routeEntry(table: number, dst: string, action: 'forward' | 'punt', group: number): { map: PlanMap; key: Buffer; value: Buffer } {
  const { family, key } = encodeLpmKey(table, dst);
  return { map: family === 4 ? 'fo_lpm4' : 'fo_lpm6', key, value: encodeRouteValue({ action, group }) };
}

/** IPv4 entries per table: what decides which tables get a flat (DIR-24-8) array. */
export function v4Counts(plan: Plan): Map<number, number> {
  const n = new Map<number, number>();
  for (const e of entryRowsOf(plan)) if (e.family === 4) n.set(e.table, (n.get(e.table) ?? 0) + 1);
  return n;
}

/**
 * The tables whose IPv4 lookup is a flat array: those with at least
 * `threshold` IPv4 entries. A flat table stays flat until it falls under
 * half the threshold, so a table hovering at the threshold doesn't move back
 * and forth (each move rewrites it). With no usable XDP port, none.
 */
export function chooseFlat(counts: ReadonlyMap<number, number>, previous: ReadonlySet<number>, threshold: number): Set<number> {
  const out = new Set<number>();
  for (const [table, n] of counts) {
    if (n >= threshold || (previous.has(table) && n >= threshold / 2)) out.add(table);
  }
  return out;
}

/** An entry's value in a flat table (dir24.ts). */
export function flatValue(e: Pick<PlanEntry, 'action' | 'group'>): number {
  return d24Value(e.action, e.action === 'forward' ? e.group ?? 0 : 0);
}

/**
 * The maps' contents for a plan. With no XDP port, everything is empty.
 * `unusable`: XDP ports the program could not be attached to; they are left
 * out, and group members behind them punt. IPv4 entries of `flat` tables
 * live in their flat arrays, not in fo_lpm4 (the backend writes those).
 */
export function desiredState(plan: Plan, unusable: ReadonlySet<number> = new Set(), flat: ReadonlySet<number> = new Set()): XdpState {
  const s = emptyState();
  const ports = plan.ports.filter((p) => isXdp(p) && !unusable.has(p.ifindex));
  if (ports.length === 0) return s;
  const egress = xdpEgresses(ports);
  for (const p of ports) {
    const tx = attachIfindex(p);
    put(s.fo_tx, encodeU32(tx), encodeU32(tx));
    // A port whose ingress the policy rules leave to the kernel stays an egress only: without
    // its fo_ports record the program passes everything arriving on it.
    // A port whose ingress goes to the kernel for one family only keeps its record, flagged.
    const kernel = p.policy?.families;
    if (!p.policy || kernel) {
      // A VLAN port: its parent's frames tagged with its vid.
      put(s.fo_ports, encodePortKey(tx, p.vlan?.vid ?? 0), encodePortValue({
        table: p.table, mac: p.mac!, ifindex: p.ifindex, ...(p.rpFilter ? { rpFilter: p.rpFilter } : {}), ...(kernel ? { kernel } : {}),
      }));
    }
  }
  for (const g of plan.groups) put(s.fo_groups, encodeGroupKey(g.id), xdpGroupValue(g, egress));
  for (const e of entryRowsOf(plan)) {
    if (e.family === 4 && flat.has(e.table)) continue;
    const r = routeEntry(e.table, e.dst, e.action, e.group ?? 0);
    put(s[r.map], r.key, r.value);
  }
  return s;
}

export type MapOp =
  | { readonly op: 'set'; readonly map: PlanMap; readonly key: Buffer; readonly value: Buffer; readonly add: boolean }
  | { readonly op: 'delete'; readonly map: PlanMap; readonly key: Buffer }
  /** A route of a flat table: the backend applies a run of these to the table's DIR-24-8 and writes the result. */
  | { readonly op: 'flat-set'; readonly table: number; readonly addr: number; readonly len: number; readonly value: number; readonly add: boolean }
  | { readonly op: 'flat-delete'; readonly table: number; readonly addr: number; readonly len: number };

/** Adds and updates in dependency order (PLAN_MAPS: egress, groups, routes, then ingress ports), deletes in reverse. */
const SET_ORDER: readonly PlanMap[] = PLAN_MAPS;
const DELETE_ORDER: readonly PlanMap[] = ['fo_ports', 'fo_lpm4', 'fo_lpm6', 'fo_groups', 'fo_tx'];

/**
 * The map changes from `installed` to `desired`: a route never points at a
 * group that isn't there yet, and a group or egress leaves only after nothing
 * points at it. Identical entries produce nothing, so a second apply is empty.
 */
export function diffStates(installed: XdpState, desired: XdpState): MapOp[] {
  const ops: MapOp[] = [];
  for (const map of SET_ORDER) {
    const have = installed[map];
    for (const [hex, want] of desired[map]) {
      const got = have.get(hex);
      if (!got) ops.push({ op: 'set', map, key: want.key, value: want.value, add: true });
      else if (!got.value.equals(want.value)) ops.push({ op: 'set', map, key: want.key, value: want.value, add: false });
    }
  }
  for (const map of DELETE_ORDER) {
    const want = desired[map];
    for (const [hex, got] of installed[map]) if (!want.has(hex)) ops.push({ op: 'delete', map, key: got.key });
  }
  return ops;
}

/**
 * Plan ops (diffPlans, already in a safe order) → map ops, for the daemon's
 * incremental path. `next` is the plan the ops lead to. A port change also
 * changes which group members are reachable (every group value), so with a
 * port op this returns null: reconcile the whole state instead. IPv4 entries
 * of `flat` tables become flat-set / flat-delete ops in the same place.
 */
export function planOpsToMapOps(
  ops: readonly PlanOp[], next: Plan, unusable: ReadonlySet<number> = new Set(), flat: ReadonlySet<number> = new Set(),
): MapOp[] | null {
  const xdp = xdpEgresses(next.ports.filter((p) => isXdp(p) && !unusable.has(p.ifindex)));
  if (ops.some((o) => o.op === 'port-add' || o.op === 'port-update' || o.op === 'port-delete')) return null;
  // desiredState keeps every map empty without a usable XDP port; so does this.
  if (xdp.size === 0) return [];
  const out: MapOp[] = [];
  for (const op of ops) {
    switch (op.op) {
      case 'port-add':
      case 'port-update':
      case 'port-delete':
        return null;
      case 'group-add':
      case 'group-update':
        out.push({ op: 'set', map: 'fo_groups', key: encodeGroupKey(op.group.id), value: xdpGroupValue(op.group, xdp), add: op.op === 'group-add' });
        break;
      case 'group-delete':
        out.push({ op: 'delete', map: 'fo_groups', key: encodeGroupKey(op.group.id) });
        break;
      case 'entry-add':
      case 'entry-replace': {
        const e = op.entry;
        if (e.family === 4 && flat.has(e.table)) {
          const { addr, len } = ipv4Prefix(e.dst);
          out.push({ op: 'flat-set', table: e.table, addr, len, value: flatValue(e), add: op.op === 'entry-add' });
          break;
        }
        const r = routeEntry(e.table, e.dst, e.action, e.group ?? 0);
        out.push({ op: 'set', map: r.map, key: r.key, value: r.value, add: op.op === 'entry-add' });
        break;
      }
      case 'entry-delete': {
        if (op.entry.family === 4 && flat.has(op.entry.table)) {
          const { addr, len } = ipv4Prefix(op.entry.dst);
          out.push({ op: 'flat-delete', table: op.entry.table, addr, len });
          break;
        }
        const r = routeEntry(op.entry.table, op.entry.dst, 'punt', 0);
        out.push({ op: 'delete', map: r.map, key: r.key });
        break;
      }
    }
  }
  return out;
}
