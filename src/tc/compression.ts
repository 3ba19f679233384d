// The plan as the tc backend installs it when `tc.compress` is on: each tc
// table's entries ORTC-compressed (src/plan/compress.ts), and each batch's
// entry ops turned into the ops on those compressed entries. Everything
// after it (rules.ts, incremental.ts, the backend's handles and group
// reference counts) works on this view unchanged, so a compressed rule is
// installed, echoed, checked and reported like any other; a failure names
// the compressed prefix (`entry <table>|<dst>`) the rule installs.
//
// Forward entries always name a group the plan holds (the planner makes a
// group for every forward), so the compressed actions of entries a batch
// does not touch never change under it; a group deleted while compressed
// entries still jump to it is caught by incrementalChanges (a full reconcile).
import { CompressedTable, entryChangesOf } from '../plan/compress.js';
import type { Plan, PlanEntry, PlanOp } from '../plan/index.js';
import { tcPortsOf } from './rules.js';

export class TcCompression {
  private table: CompressedTable | null = null;
  private groups = new Set<number>();

  constructor(readonly enabled: boolean) {}

  /** The plan tc installs: with compression on, its tc tables' entries compressed (other tables' entries dropped). */
  full(plan: Plan): Plan {
    if (!this.enabled) return plan;
    const tables = new Set(tcPortsOf(plan).byTable.keys());
    this.groups = new Set(plan.groups.map((g) => g.id));
    this.table = new CompressedTable(plan.entries.filter((e) => tables.has(e.table)), { groupExists: (id) => this.groups.has(id) });
    return { ...plan, entries: this.table.entries() };
  }

  /**
   * The ops that take the compressed form of the installed plan to that of
   * `next`, from `ops` = diffPlans(installed, next): port and group ops as
   * they are, entry ops replaced by the compressed entries they add,
   * replace and delete. Null when nothing was compressed yet (the caller
   * reconciles in full, which calls `full`).
   */
  ops(ops: readonly PlanOp[], next: Plan): readonly PlanOp[] | null {
    if (!this.enabled) return ops;
    if (!this.table) return null;
    this.groups = new Set(next.groups.map((g) => g.id));
    const tables = tcPortsOf(next).byTable;
    const changes = entryChangesOf(ops).filter((c) => tables.has(c.op === 'set' ? c.entry.table : c.table));
    const out: PlanOp[] = ops.filter((op) => !('entry' in op));
    if (changes.length === 0) return out;
    const diff = this.table.update(changes);
    const key = (e: PlanEntry): string => `${e.table}|${e.dst}`;
    const removed = new Map(diff.removed.map((e) => [key(e), e] as const));
    for (const e of diff.added) {
      const old = removed.get(key(e));
      if (old) { removed.delete(key(e)); out.push({ op: 'entry-replace', entry: e, old }); } else out.push({ op: 'entry-add', entry: e });
    }
    for (const e of removed.values()) out.push({ op: 'entry-delete', entry: e });
    return out;
  }

  /** Compressed / source entries of the last plan (1 when off or empty). */
  get ratio(): number {
    return this.table?.ratio ?? 1;
  }

  /** Compressed prefix rules and source entries of the last plan; null when off. */
  get sizes(): { readonly rules: number; readonly entries: number } | null {
    return this.table ? { rules: this.table.size, entries: this.table.sourceSize } : null;
  }
}
