// Plan entries (and the sweep items they come from) packed into columns, one chunk of the incremental planner's
// rows (rows.ts) at a time: a table number, a code (family, action, group
// present, reason) and the group id in typed arrays, and the prefix text
// shared with the sweep item that made the entry. About 19 bytes an entry
// against 72 for an object and its pointer: 50 MB at 1M routes. An entry is
// made as an object when something reads it (a step's diff, a full
// reconcile, `plan`), and nothing keeps it.
import type { Chunk } from './rows.js';
import type { Verdict } from './classify.js';
import type { SweepItem } from './sweep.js';
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

/**
 * The sweep's stored inputs (overlays and routes; hosts are derived per
 * sweep and never stored) packed the same way: the start address and length
 * in typed arrays (IPv6 starts stay bigints), and per row the overlay's
 * reason or the route's verdict, which are shared objects (classify.ts
 * memoizes verdicts). About 22 bytes an item against 72.
 */
class ItemChunk<K extends number | bigint> implements Chunk<SweepItem<K>> {
  constructor(
    private readonly lo: ArrayLike<K>,
    private readonly len: Uint8Array,
    private readonly rank: Uint8Array,
    /** Rank 0: the reason; rank 1: the verdict; rank 2 (not expected): the item itself. */
    private readonly payload: readonly unknown[],
    private readonly dst: readonly string[],
  ) {}

  get length(): number {
    return this.dst.length;
  }

  at(i: number): SweepItem<K> | undefined {
    if (!(i >= 0 && i < this.dst.length)) return undefined;
    const rank = this.rank[i]!;
    if (rank === 2) return this.payload[i] as SweepItem<K>;
    const base = { lo: this.lo[i]!, len: this.len[i]!, dst: this.dst[i]! };
    return rank === 0
      ? { rank: 0, ...base, reason: this.payload[i] as SkipReason }
      : { rank: 1, ...base, verdict: this.payload[i] as Verdict };
  }
}

function packItems<K extends number | bigint>(rows: SweepItem<K>[], lo: { [i: number]: K } & ArrayLike<K>): Chunk<SweepItem<K>> {
  const n = rows.length;
  const len = new Uint8Array(n);
  const rank = new Uint8Array(n);
  const payload = new Array<unknown>(n);
  const dst = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const it = rows[i]!;
    lo[i] = it.lo;
    len[i] = it.len;
    rank[i] = it.rank;
    dst[i] = it.dst;
    payload[i] = it.rank === 0 ? it.reason : it.rank === 1 ? it.verdict : it;
  }
  return new ItemChunk(lo, len, rank, payload, dst);
}

export const packItems4 = (rows: SweepItem<number>[]): Chunk<SweepItem<number>> => packItems(rows, new Uint32Array(rows.length));
export const packItems6 = (rows: SweepItem<bigint>[]): Chunk<SweepItem<bigint>> => packItems(rows, new Array<bigint>(rows.length));
