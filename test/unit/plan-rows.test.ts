// The chunked row list against a plain array: random splices (inserts,
// deletes spanning chunks, replacements, appends) give the same rows; chunks
// nothing touched are shared; fragmentation stays bounded.
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../src/plan/classify.js';
import { packEntries, packItems4, packItems6 } from '../../src/plan/entry-columns.js';
import { Rows, type RowSplice } from '../../src/plan/rows.js';
import type { SweepItem } from '../../src/plan/sweep.js';
import type { PlanEntry } from '../../src/plan/types.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function applyToArray<T>(xs: readonly T[], parts: readonly RowSplice<T>[]): T[] {
  const out: T[] = [];
  let pos = 0;
  for (const p of parts) {
    while (pos < p.from) out.push(xs[pos++]!);
    out.push(...p.rows);
    pos = Math.max(pos, p.to);
  }
  while (pos < xs.length) out.push(xs[pos++]!);
  return out;
}

/** Random non-overlapping splices in ascending order, some wide enough to cross chunks. */
function randomParts(int: (n: number) => number, length: number, next: () => number): RowSplice<number>[] {
  const parts: RowSplice<number>[] = [];
  let at = 0;
  const count = 1 + int(8);
  for (let k = 0; k < count && at <= length; k++) {
    const from = at + int(Math.max(1, Math.floor((length - at) / (count - k)) + 1));
    if (from > length) break;
    const wide = int(10) === 0;
    const to = Math.min(length, from + (int(3) === 0 ? 0 : wide ? int(3000) : int(4)));
    const rows = Array.from({ length: int(3) === 0 ? 0 : wide ? int(1500) : int(5) }, next);
    parts.push({ from, to, rows });
    at = to === from ? from : to;
  }
  return parts;
}

describe('Rows', () => {
  it('equals an array after random splices, and answers at(), range() and partition() like one', () => {
    const int = rng(7);
    let id = 1_000_000;
    const next = (): number => id++;
    let arr = Array.from({ length: 5000 }, (_, i) => i * 2);
    let rows = Rows.from(arr);
    for (let step = 0; step < 400; step++) {
      const parts = randomParts(int, arr.length, next);
      arr = applyToArray(arr, parts);
      rows = rows.splice(parts);
      expect(rows.length).toBe(arr.length);
      if (step % 20 === 0) expect(rows.toArray()).toEqual(arr);
      for (let k = 0; k < 20 && arr.length > 0; k++) {
        const i = int(arr.length);
        expect(rows.at(i)).toBe(arr[i]);
      }
      expect(rows.at(arr.length)).toBeUndefined();
      expect(rows.at(-1)).toBeUndefined();
      const a = int(arr.length + 1);
      const b = a + int(700);
      expect([...rows.range(a, b)]).toEqual(arr.slice(a, b));
    }
    expect([...rows]).toEqual(arr);
    // Fragmentation stays bounded: chunks average well above the merge threshold.
    expect(rows.length / rows.chunkCount).toBeGreaterThan(128);
  });

  it('finds a lower bound through partition() on a sorted list', () => {
    const sorted = Array.from({ length: 3000 }, (_, i) => i * 3);
    const rows = Rows.from(sorted);
    for (const v of [-1, 0, 1, 3, 1535, 1536, 4500, 8997, 8998, 9000]) {
      const want = sorted.findIndex((x) => x >= v);
      expect(rows.partition((x) => x < v)).toBe(want < 0 ? sorted.length : want);
    }
  });

  it('shares every chunk a splice does not reach, and returns itself for no splice', () => {
    const rows = Rows.from(Array.from({ length: 10_000 }, (_, i) => ({ i })));
    expect(rows.splice([])).toBe(rows);
    const next = rows.splice([{ from: 5000, to: 5001, rows: [{ i: -1 }] }]);
    expect(next.at(5000)).toEqual({ i: -1 });
    expect(rows.at(5000)).toEqual({ i: 5000 });
    // Same row objects, and all but one chunk reused by reference.
    expect(next.at(0)).toBe(rows.at(0));
    expect(next.at(9999)).toBe(rows.at(9999));
    expect(next.sharedChunks(rows)).toBe(rows.chunkCount - 1);
  });

  it('builds from empty, appends at the end, and refuses overlapping splices', () => {
    let rows = Rows.from<number>([]);
    expect(rows.length).toBe(0);
    rows = rows.splice([{ from: 0, to: 0, rows: [1, 2, 3] }]);
    rows = rows.splice([{ from: 3, to: 3, rows: [4] }]);
    expect(rows.toArray()).toEqual([1, 2, 3, 4]);
    rows = rows.splice([{ from: 0, to: 4, rows: [] }]);
    expect(rows.length).toBe(0);
    expect(() => Rows.from([1, 2, 3]).splice([{ from: 0, to: 2, rows: [] }, { from: 1, to: 1, rows: [9] }])).toThrow(/overlaps/);
    expect(() => Rows.from([1, 2, 3]).splice([{ from: 4, to: 4, rows: [9] }])).toThrow(/past the end/);
  });
});

describe('plan entries in columns', () => {
  it('read back exactly: both families, forward with and without a reason, punt with and without, large group ids', () => {
    const entries: PlanEntry[] = [
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 0x0fffffff },
      { table: 254, family: 4, dst: '10.1.0.0/16', action: 'forward', group: 0x100, reason: 'unresolved-neighbor' },
      { table: 4294967295, family: 6, dst: '2001:db8::/32', action: 'punt', reason: 'connected' },
      { table: 100, family: 6, dst: '2001:db8:1::/48', action: 'punt' },
      { table: 100, family: 4, dst: '192.0.2.0/24', action: 'punt', reason: 'policy-rule' },
    ];
    const rows = Rows.from(entries, packEntries);
    expect(rows.toArray()).toStrictEqual(entries);
    const next = rows.splice([{ from: 1, to: 2, rows: [{ table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'link-down' }] }]);
    expect(next.at(1)).toStrictEqual({ table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'link-down' });
    expect(next.at(5)).toBeUndefined();
  });
});

describe('sweep items in columns', () => {
  it('read back exactly, verdicts and reasons as the same objects', () => {
    const verdict: Verdict = { kind: 'skip', reason: 'unreachable' };
    const v4: SweepItem<number>[] = [
      { rank: 0, lo: 0, len: 8, dst: '0.0.0.0/8', reason: 'martian' },
      { rank: 1, lo: 0xffffff00, len: 24, dst: '255.255.255.0/24', verdict },
    ];
    const v6: SweepItem<bigint>[] = [{ rank: 1, lo: 0x20010db8n << 96n, len: 32, dst: '2001:db8::/32', verdict }];
    const r4 = Rows.from(v4, packItems4);
    const r6 = Rows.from(v6, packItems6);
    expect(r4.toArray()).toStrictEqual(v4);
    expect(r6.toArray()).toStrictEqual(v6);
    const back = r4.at(1);
    expect(back?.rank === 1 ? back.verdict : null).toBe(verdict);
  });
});
