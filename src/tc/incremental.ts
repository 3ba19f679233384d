// One batch's plan ops → the flower filter changes they need, without a
// dump: pure. An entry op is its prefix-chain rule; a group's bucket rules exist
// in a family's block while at least one entry of that family jumps to the
// group, so entry ops move per (table, family, group) reference counts and a
// group op rewrites only the families that hold it. Port ops change which
// blocks exist and which members redirect: those take a full reconcile.
import type { Family } from '../model/ip.js';
import { blockOf, entryRowsOf, type Plan, type PlanEntry, type PlanGroup, type PlanOp } from '../plan/index.js';
import type { FilterPlacement } from '../netlink/codec/tc.js';
import { entryFilter, entryGroup, groupFilters, tcPortsOf, type DesiredFilter } from './rules.js';

export type FilterChangeKind = 'add' | 'replace' | 'delete';

export interface FilterChange {
  readonly kind: FilterChangeKind;
  readonly table: number;
  readonly block: number;
  /** add/replace: the rule to install (handle 0); delete: the rule as the installed plan had it (its key finds the handle). */
  readonly filter: DesiredFilter;
}

/**
 * The changes in the order they must reach the kernel: group chains filled
 * or rewritten, prefix-chain adds and replaces, prefix-chain deletes, group chains
 * emptied. No rule ever jumps to a chain that is not there yet or any more.
 */
export type FilterPhases = readonly [readonly FilterChange[], readonly FilterChange[], readonly FilterChange[], readonly FilterChange[]];

/** `${table}|${family}|${group}` → how many entries of that table and family jump to the group. */
export type GroupRefs = ReadonlyMap<string, number>;

export function groupRefKey(table: number, family: Family, group: number): string {
  return `${table}|${family}|${group}`;
}

export type Incremental =
  | { readonly full: null; readonly phases: FilterPhases; /** New counts of the (table, family, group)s the ops touched; 0 = gone. */ readonly refs: ReadonlyMap<string, number> }
  | { readonly full: string };

/** Reference counts of a whole plan, for the tables that have tc ports. */
export function groupRefsOf(plan: Plan): Map<string, number> {
  const tables = tcPortsOf(plan).byTable;
  const groups = new Set(plan.groups.map((g) => g.id));
  const refs = new Map<string, number>();
  for (const e of entryRowsOf(plan)) {
    if (!tables.has(e.table)) continue;
    const g = entryGroup(e, (id) => groups.has(id));
    if (g === null) continue;
    const k = groupRefKey(e.table, e.family, g);
    refs.set(k, (refs.get(k) ?? 0) + 1);
  }
  return refs;
}

function opName(op: PlanOp): string {
  if ('port' in op) return `${op.op} ${op.port.dev}`;
  if ('group' in op) return `${op.op} ${op.group.id}`;
  return `${op.op} ${op.entry.table}|${op.entry.dst}`;
}

/**
 * The filter changes that take the installed plan (the one `refs` counts,
 * with `ops` = diffPlans(installed, next)) to `next`. `placementFor` must be
 * the placement the blocks were installed with: a placement change rewrites
 * every rule and is a reconcile's job.
 */
export function incrementalChanges(ops: readonly PlanOp[], next: Plan, placementFor: (table: number) => FilterPlacement, refs: GroupRefs): Incremental {
  const port = ops.find((op) => 'port' in op);
  if (port) return { full: opName(port) };

  const { byTable, ifindexes } = tcPortsOf(next);
  const newGroups = new Map(next.groups.map((g) => [g.id, g] as const));
  // The installed plan's groups: the next ones, less those added, plus the old side of updates and deletes.
  const oldGroups = new Map(newGroups);
  for (const op of ops) {
    if (op.op === 'group-add') oldGroups.delete(op.group.id);
    else if (op.op === 'group-update') oldGroups.set(op.old.id, op.old);
    else if (op.op === 'group-delete') oldGroups.set(op.group.id, op.group);
  }
  const updated = new Set(ops.filter((op) => op.op === 'group-update').map((op) => (op as { group: PlanGroup }).group.id));
  const existsNew = (id: number): boolean => newGroups.has(id);
  const existsOld = (id: number): boolean => oldGroups.has(id);

  const prefixes: FilterChange[] = [];
  const prefixDeletes: FilterChange[] = [];
  const counts = new Map<string, { table: number; family: Family; group: number; before: number; after: number }>();
  const count = (e: PlanEntry, group: number | null, delta: number): void => {
    if (group === null) return;
    const k = groupRefKey(e.table, e.family, group);
    let c = counts.get(k);
    if (!c) {
      const before = refs.get(k) ?? 0;
      c = { table: e.table, family: e.family, group, before, after: before };
      counts.set(k, c);
    }
    c.after += delta;
  };

  for (const op of ops) {
    if (!('entry' in op)) continue;
    const e = op.entry;
    if (!byTable.has(e.table)) continue; // no tc port reads this table: it has no block
    const placement = placementFor(e.table);
    const block = blockOf(e.table);
    if (op.op === 'entry-add') {
      prefixes.push({ kind: 'add', table: e.table, block, filter: entryFilter(e, existsNew, placement) });
      count(e, entryGroup(e, existsNew), +1);
    } else if (op.op === 'entry-replace') {
      prefixes.push({ kind: 'replace', table: e.table, block, filter: entryFilter(e, existsNew, placement) });
      count(op.old, entryGroup(op.old, existsOld), -1);
      count(e, entryGroup(e, existsNew), +1);
    } else {
      prefixDeletes.push({ kind: 'delete', table: e.table, block, filter: entryFilter(e, existsOld, placement) });
      count(e, entryGroup(e, existsOld), -1);
    }
  }

  // Groups whose counts the entry ops left alone but whose buckets changed: every family that holds them.
  for (const id of updated) {
    for (const table of byTable.keys()) {
      for (const family of [4, 6] as const) {
        const k = groupRefKey(table, family, id);
        const n = refs.get(k) ?? 0;
        if (n > 0 && !counts.has(k)) counts.set(k, { table, family, group: id, before: n, after: n });
      }
    }
  }

  const groupWrites: FilterChange[] = [];
  const groupDeletes: FilterChange[] = [];
  const after = new Map<string, number>();
  for (const [k, c] of counts) {
    if (c.after < 0) return { full: `group ${c.group} in table ${c.table} IPv${c.family}: more entries left it than used it` };
    after.set(k, c.after);
    const placement = placementFor(c.table);
    const block = blockOf(c.table);
    const was = c.before > 0 ? oldGroups.get(c.group) : undefined;
    const now = c.after > 0 ? newGroups.get(c.group) : undefined;
    if (c.after > 0 && !now) return { full: `group ${c.group} is deleted while entries of table ${c.table} still use it` };
    if (c.before > 0 && !was) return { full: `group ${c.group} was used in table ${c.table} without existing` };
    const oldRules = was && (!now || updated.has(c.group)) ? groupFilters(c.table, c.family, was, ifindexes, placement) : [];
    const newRules = now && (!was || updated.has(c.group)) ? groupFilters(c.table, c.family, now, ifindexes, placement) : [];
    const oldByKey = new Map(oldRules.map((f) => [f.key, f] as const));
    for (const f of newRules) {
      const o = oldByKey.get(f.key);
      if (!o) groupWrites.push({ kind: 'add', table: c.table, block, filter: f });
      else if (Buffer.compare(o.filter.cookie, f.filter.cookie) !== 0) groupWrites.push({ kind: 'replace', table: c.table, block, filter: f });
      oldByKey.delete(f.key);
    }
    for (const f of oldByKey.values()) groupDeletes.push({ kind: 'delete', table: c.table, block, filter: f });
  }
  return { full: null, phases: [groupWrites, prefixes, prefixDeletes, groupDeletes], refs: after };
}
