// diffPlans: the ordered change list that takes the installed plan to the
// desired one without a moment where an entry points at a missing group.
import { compareRows, isOrdered } from './order.js';
import type { Indexed } from './rows.js';
import type { Plan, PlanEntry, PlanGroup, PlanPort } from './types.js';

export type PlanOp =
  | { readonly op: 'port-add'; readonly port: PlanPort }
  | { readonly op: 'port-update'; readonly port: PlanPort; readonly old: PlanPort }
  | { readonly op: 'group-add'; readonly group: PlanGroup }
  | { readonly op: 'group-update'; readonly group: PlanGroup; readonly old: PlanGroup }
  | { readonly op: 'entry-add'; readonly entry: PlanEntry }
  | { readonly op: 'entry-replace'; readonly entry: PlanEntry; readonly old: PlanEntry }
  | { readonly op: 'entry-delete'; readonly entry: PlanEntry }
  | { readonly op: 'group-delete'; readonly group: PlanGroup }
  | { readonly op: 'port-delete'; readonly port: PlanPort };

export function entryKey(e: Pick<PlanEntry, 'table' | 'dst'>): string {
  return `${e.table}|${e.dst}`;
}

/**
 * What is installed for an entry: its action and group. The reason is
 * informational — in particular a forward entry's reason flips when its group
 * empties or refills, which must stay a single group change.
 */
function sameEntry(a: PlanEntry, b: PlanEntry): boolean {
  return a.action === b.action && a.group === b.group;
}

/**
 * Entry ops between old[from, to) and `next`, both in canonical order, by one
 * merge walk: adds and replaces go to `ops` in new order, deletes to `deletes`
 * in old order.
 */
export function diffEntryRun(old: Indexed<PlanEntry>, from: number, to: number, next: readonly PlanEntry[], ops: PlanOp[], deletes: PlanOp[]): void {
  let i = from;
  let j = 0;
  while (i < to || j < next.length) {
    const o = i < to ? old.at(i) : undefined;
    const e = next[j];
    const c = o === undefined ? 1 : e === undefined ? -1 : compareRows(o, e);
    if (c < 0) { deletes.push({ op: 'entry-delete', entry: o! }); i++; } else if (c > 0) { ops.push({ op: 'entry-add', entry: e! }); j++; } else {
      if (!sameEntry(o!, e!)) ops.push({ op: 'entry-replace', entry: e!, old: o! });
      i++;
      j++;
    }
  }
}

export function sameGroup(a: PlanGroup, b: PlanGroup): boolean {
  if (a.key !== b.key || a.bucketBits !== b.bucketBits || a.mtu !== b.mtu || a.members.length !== b.members.length) return false;
  for (let i = 0; i < a.members.length; i++) {
    const x = a.members[i]!;
    const y = b.members[i]!;
    if (x.ifindex !== y.ifindex || x.dmac !== y.dmac || x.smac !== y.smac || x.weight !== y.weight || x.dev !== y.dev) return false;
  }
  for (let i = 0; i < a.buckets.length; i++) if (a.buckets[i] !== b.buckets[i]) return false;
  return true;
}

function samePort(a: PlanPort, b: PlanPort): boolean {
  return a.backend === b.backend && a.table === b.table && a.dev === b.dev && a.mac === b.mac
    && a.policy?.reason === b.policy?.reason && a.policy?.rule === b.policy?.rule && a.rpFilter === b.rpFilter
    && String(a.policy?.families ?? '') === String(b.policy?.families ?? '')
    // A VLAN port's MTU is in the XDP group members that leave through it (the parent can't check it).
    && a.vlan?.parent === b.vlan?.parent && a.vlan?.vid === b.vlan?.vid && (!a.vlan || a.mtu === b.mtu);
}

/**
 * Order: ports added/changed, groups added/updated, entries added/replaced,
 * entries deleted, groups deleted, ports deleted. Within each step, new-plan
 * order for adds and old-plan order for deletes. O(n) in entries: a merge
 * walk when both are in canonical order (buildPlan's), else one hash map. A neighbour MAC change or a member going down is
 * exactly one group-update: group ids don't depend on MACs or member state.
 * Ids are stable when the new plan was built with `previous: old`.
 */
export function diffPlans(old: Plan, next: Plan): PlanOp[] {
  const ports = diffPorts(old.ports, next.ports);
  const ops: PlanOp[] = [...ports.changes];

  const oldGroups = new Map(old.groups.map((g) => [g.id, g] as const));
  const newGroups = new Map(next.groups.map((g) => [g.id, g] as const));
  for (const g of next.groups) {
    const o = oldGroups.get(g.id);
    if (!o) ops.push({ op: 'group-add', group: g });
    else if (!sameGroup(o, g)) ops.push({ op: 'group-update', group: g, old: o });
  }

  const deletes: PlanOp[] = [];
  if (isOrdered(old.entries) && isOrdered(next.entries)) {
    // Both in canonical order (buildPlan's): one merge walk, no hashing.
    diffEntryRun(old.entries, 0, old.entries.length, next.entries, ops, deletes);
  } else {
    const oldEntries = new Map<string, PlanEntry>();
    for (const e of old.entries) oldEntries.set(entryKey(e), e);
    for (const e of next.entries) {
      const k = entryKey(e);
      const o = oldEntries.get(k);
      if (!o) ops.push({ op: 'entry-add', entry: e });
      else {
        oldEntries.delete(k);
        if (!sameEntry(o, e)) ops.push({ op: 'entry-replace', entry: e, old: o });
      }
    }
    // What is left was not matched; a Map iterates in insertion (old-plan) order.
    for (const e of oldEntries.values()) deletes.push({ op: 'entry-delete', entry: e });
  }
  for (const d of deletes) ops.push(d);

  for (const g of old.groups) if (!newGroups.has(g.id)) ops.push({ op: 'group-delete', group: g });
  ops.push(...ports.deletes);
  return ops;
}

/** Port ops between two port lists: adds and updates (they go first), deletes (last). */
export function diffPorts(old: readonly PlanPort[], next: readonly PlanPort[]): { changes: PlanOp[]; deletes: PlanOp[] } {
  const changes: PlanOp[] = [];
  const deletes: PlanOp[] = [];
  const oldPorts = new Map(old.filter((p) => p.backend !== 'none').map((p) => [p.ifindex, p] as const));
  const newPorts = new Map(next.filter((p) => p.backend !== 'none').map((p) => [p.ifindex, p] as const));
  for (const [ifindex, p] of newPorts) {
    const o = oldPorts.get(ifindex);
    if (!o) changes.push({ op: 'port-add', port: p });
    else if (!samePort(o, p)) changes.push({ op: 'port-update', port: p, old: o });
  }
  for (const [ifindex, p] of oldPorts) if (!newPorts.has(ifindex)) deletes.push({ op: 'port-delete', port: p });
  return { changes, deletes };
}
