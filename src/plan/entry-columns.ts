// Plan entries packed into columns, one chunk of the incremental planner's
// rows (rows.ts) at a time: a table number, a code (family, action, group
// present, reason) and the group id in typed arrays, and the prefix text
// shared with the sweep item that made the entry. About 19 bytes an entry
// against 72 for an object and its pointer: 50 MB at 1M routes. An entry is
// made as an object when something reads it (a step's diff, a full
// reconcile, `plan`), and nothing keeps it.
import type { Chunk } from './rows.js';
import type { PlanEntry, SkipReason } from './types.js';

const C_V6 = 1;
const C_FORWARD = 2;
const C_GROUP = 4;
const C_REASON_SHIFT = 3;

/** Reasons by index (index + 1 in a code; 0 = none), grown as new ones are met. */
const REASONS: SkipReason[] = [];
const REASON_INDEX = new Map<SkipReason, number>();

function reasonCode(r: SkipReason | undefined): number {
  if (r === undefined) return 0;
  let i = REASON_INDEX.get(r);
  if (i === undefined) {
    i = REASONS.length;
    REASONS.push(r);
    REASON_INDEX.set(r, i);
  }
  return i + 1;
}

class EntryChunk implements Chunk<PlanEntry> {
  constructor(
    private readonly table: Uint32Array,
    private readonly code: Uint16Array,
    private readonly group: Uint32Array,
    private readonly dst: readonly string[],
  ) {}

  get length(): number {
    return this.dst.length;
  }

  at(i: number): PlanEntry | undefined {
    if (!(i >= 0 && i < this.dst.length)) return undefined;
    const c = this.code[i]!;
    const e: { -readonly [K in keyof PlanEntry]: PlanEntry[K] } = {
      table: this.table[i]!, family: c & C_V6 ? 6 : 4, dst: this.dst[i]!, action: c & C_FORWARD ? 'forward' : 'punt',
    };
    if (c & C_GROUP) e.group = this.group[i]!;
    const r = c >>> C_REASON_SHIFT;
    if (r !== 0) e.reason = REASONS[r - 1]!;
    return e;
  }
}

/** A chunk of entries as columns (rows.ts's Pack for plan entries). */
export function packEntries(rows: PlanEntry[]): Chunk<PlanEntry> {
  const n = rows.length;
  const table = new Uint32Array(n);
  const code = new Uint16Array(n);
  const group = new Uint32Array(n);
  const dst = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const e = rows[i]!;
    table[i] = e.table;
    dst[i] = e.dst;
    let c = (e.family === 6 ? C_V6 : 0) | (reasonCode(e.reason) << C_REASON_SHIFT);
    if (e.action === 'forward') c |= C_FORWARD;
    if (e.group !== undefined) { c |= C_GROUP; group[i] = e.group; }
    code[i] = c;
  }
  return new EntryChunk(table, code, group, dst);
}
