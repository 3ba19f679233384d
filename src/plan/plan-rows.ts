// A plan whose entries and skipped routes live in chunked rows (rows.ts,
// entry-columns.ts) rather than arrays, as the incremental planner keeps
// them. Readers that walk or search the rows (the daemon's gauges and
// /status, FPM's verdicts) reach them through entryRowsOf()/skippedRowsOf()
// and planCounts() without making a million objects; `plan.entries` and
// `plan.skipped` still read as arrays for everything else (plan, a full
// reconcile, tests).
import type { Indexed, Rows } from './rows.js';
import type { Plan, PlanEntry, SkippedRoute } from './types.js';

export interface PlanRows {
  readonly entries: Rows<PlanEntry>;
  readonly skipped: Rows<SkippedRoute>;
}

/** Rows, searchable by position and iterable: what both a Rows and an array are. */
export type RowView<T> = Indexed<T> & Iterable<T>;

const ROWS = new WeakMap<Plan, PlanRows>();

/**
 * A plan over `rows`. Its entries/skipped arrays are made on read and held
 * weakly: a reader within one job (a loop, a reconcile) gets one array, and
 * once nothing uses it the collector takes it back instead of the plan
 * keeping a million entry objects for as long as it is current.
 */
export function planOfRows(fields: Omit<Plan, 'entries' | 'skipped'>, rows: PlanRows): Plan {
  const plan = Object.defineProperties({ ...fields } as Plan, {
    entries: { enumerable: true, get: weakArray(rows.entries) },
    skipped: { enumerable: true, get: weakArray(rows.skipped) },
  });
  ROWS.set(plan, rows);
  return plan;
}

/** A getter of `rows` as an array, made when read and kept only while something else holds it. */
function weakArray<T>(rows: Rows<T>): () => T[] {
  let ref: WeakRef<T[]> | undefined;
  return () => {
    let a = ref?.deref();
    if (a === undefined) ref = new WeakRef((a = rows.toArray()));
    return a;
  };
}

/** The plan's entries without making an array of them (a plan over rows), or its array. */
export function entryRowsOf(plan: Plan): RowView<PlanEntry> {
  return ROWS.get(plan)?.entries ?? plan.entries;
}

export function skippedRowsOf(plan: Plan): RowView<SkippedRoute> {
  return ROWS.get(plan)?.skipped ?? plan.skipped;
}

/** What the gauges and /status count, once per plan. */
export interface PlanCounts {
  readonly entries: number;
  readonly forward: number;
  /** Entries per table. */
  readonly byTable: ReadonlyMap<number, number>;
  readonly skipped: number;
  /** Skipped for 'unresolved-neighbor'. */
  readonly unresolved: number;
}

const COUNTS = new WeakMap<Plan, PlanCounts>();

export function planCounts(plan: Plan): PlanCounts {
  let c = COUNTS.get(plan);
  if (c !== undefined) return c;
  let forward = 0;
  let entries = 0;
  const byTable = new Map<number, number>();
  for (const e of entryRowsOf(plan)) {
    entries++;
    if (e.action === 'forward') forward++;
    byTable.set(e.table, (byTable.get(e.table) ?? 0) + 1);
  }
  let skipped = 0;
  let unresolved = 0;
  for (const s of skippedRowsOf(plan)) {
    skipped++;
    if (s.reason === 'unresolved-neighbor') unresolved++;
  }
  c = { entries, forward, byTable, skipped, unresolved };
  COUNTS.set(plan, c);
  return c;
}
