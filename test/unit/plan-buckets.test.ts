import { describe, it, expect } from 'vitest';
import {
  assignBuckets, bucketBitsFor, bucketMatches, bucketOf, buildPlan, largestRemainder, PUNT_BUCKET, type SlotState,
} from '../../src/plan/index.js';
import { link, mirrorOf, neigh, route, via } from './plan-helpers.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('bucket sizing and weights', () => {
  it('picks the smallest k with 2^k >= 4 * members, capped', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 100].map((n) => bucketBitsFor(n))).toEqual([0, 3, 4, 4, 5, 5, 6, 6]);
    expect(bucketBitsFor(9, 8)).toBe(6);
    expect(bucketBitsFor(100, 8)).toBe(8);
    expect(bucketBitsFor(4, 2)).toBe(2);
  });

  it('largest remainder: exact when divisible, ties to the earlier member', () => {
    expect(largestRemainder(8, [1, 1])).toEqual([4, 4]);
    expect(largestRemainder(8, [1, 2])).toEqual([3, 5]);
    expect(largestRemainder(8, [3, 5])).toEqual([3, 5]);
    expect(largestRemainder(16, [1, 1, 1])).toEqual([6, 5, 5]);
  });

  it('keeps every share within one bucket of its weight (random weights)', () => {
    const r = rng(7);
    for (let n = 0; n < 500; n++) {
      const members = 1 + Math.floor(r() * 12);
      const weights = Array.from({ length: members }, () => 1 + Math.floor(r() * 255));
      const bits = bucketBitsFor(members);
      const buckets = assignBuckets(weights.map((weight) => ({ weight, state: 'usable' as const })), bits);
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((w, i) => {
        const share = buckets.filter((b) => b === i).length / (1 << bits);
        expect(Math.abs(share - w / total)).toBeLessThan(1 / (1 << bits));
      });
    }
  });
});

describe('ECMP groups from routes: weights 1:1, 1:2, 3:5', () => {
  const links = [link(2, 'eth1'), link(3, 'eth2')];
  const neighbors = [neigh(2, '192.168.1.2', '0a:00:00:00:00:0a'), neigh(3, '192.168.2.2', '0a:00:00:00:00:0b')];
  const cases: [number, number, number[]][] = [
    [1, 1, [0, 0, 0, 0, 1, 1, 1, 1]],
    [1, 2, [0, 0, 0, 1, 1, 1, 1, 1]],
    [3, 5, [0, 0, 0, 1, 1, 1, 1, 1]],
    [2, 1, [0, 0, 0, 0, 0, 1, 1, 1]],
  ];
  for (const [wa, wb, expected] of cases) {
    it(`${wa}:${wb} → ${expected.join('')}`, () => {
      const m = mirrorOf({ links, neighbors, routes: [route('10.0.0.0/8', [via('192.168.1.2', 2, wa), via('192.168.2.2', 3, wb)])] });
      const g = buildPlan(m, { ports: ['eth*'] }).groups[0]!;
      expect(g.members.map((x) => [x.dev, x.weight])).toEqual([['eth1', wa], ['eth2', wb]]);
      expect(g.bucketBits).toBe(3);
      expect(g.buckets).toEqual(expected);
    });
  }
});

describe('bucket stability', () => {
  it('when a member leaves, only its buckets move (plus at most one per member from rounding)', () => {
    const r = rng(11);
    for (let n = 0; n < 300; n++) {
      const members = 2 + Math.floor(r() * 10);
      const weights = Array.from({ length: members }, () => 1 + Math.floor(r() * 8));
      const bits = bucketBitsFor(members);
      const all = assignBuckets(weights.map((weight) => ({ weight, state: 'usable' as const })), bits);
      const gone = Math.floor(r() * members);
      const after = assignBuckets(weights.map((weight, i) => ({ weight, state: (i === gone ? 'excluded' : 'usable') as SlotState })), bits);
      let moved = 0;
      all.forEach((t, b) => { if (t !== gone && after[b] !== t) moved++; });
      expect(moved).toBeLessThanOrEqual(members - 1);
      expect(after.includes(gone)).toBe(false);
      expect(after.includes(PUNT_BUCKET)).toBe(false);
    }
  });

  it('a punt-state member keeps its buckets (punted), so nothing else moves', () => {
    const usable = assignBuckets([{ weight: 1, state: 'usable' }, { weight: 1, state: 'usable' }, { weight: 2, state: 'usable' }], 4);
    const punt = assignBuckets([{ weight: 1, state: 'usable' }, { weight: 1, state: 'punt' }, { weight: 2, state: 'usable' }], 4);
    expect(punt).toEqual(usable.map((t) => (t === 1 ? PUNT_BUCKET : t)));
  });

  it('nothing live: every bucket punts', () => {
    expect(assignBuckets([{ weight: 1, state: 'excluded' }, { weight: 3, state: 'punt' }], 3)).toEqual(Array(8).fill(PUNT_BUCKET));
  });
});

describe('bucket matches', () => {
  it('cover every (src, dst) low-byte pair exactly once, with the bucket\'s target', () => {
    const r = rng(3);
    for (let bits = 0; bits <= 8; bits++) {
      for (let n = 0; n < 20; n++) {
        const buckets = Array.from({ length: 1 << bits }, () => Math.floor(r() * 3) - 1);
        if (n === 0) buckets.fill(0);
        const matches = bucketMatches(buckets, bits);
        // Collect mismatches and assert once: an expect() per pair made this
        // test take over a minute on a loaded 2-core machine.
        const wrong: string[] = [];
        for (let s = 0; s < 256; s += bits > 4 ? 1 : 3) {
          for (let d = 0; d < 256; d += 5) {
            const src = Uint8Array.of(10, 0, 0, s);
            const dst = Uint8Array.of(10, 1, 0, d);
            const hit = matches.filter((m) => (s & m.srcMask) === m.srcValue && (d & m.dstMask) === m.dstValue);
            const want = buckets[bucketOf(src, dst, bits)];
            if (hit.length !== 1 || hit[0]!.target !== want) {
              wrong.push(`bits ${bits} src ${s} dst ${d}: ${hit.length} matches, target ${hit[0]?.target}, want ${want}`);
            }
          }
        }
        expect(wrong.slice(0, 5)).toEqual([]);
        if (n === 0) expect(matches).toHaveLength(1);
      }
    }
  });

  it('uses low source bits above low destination bits', () => {
    // k = 3: 2 source bits, 1 destination bit.
    expect(bucketOf(Uint8Array.of(0, 0, 0, 0b10), Uint8Array.of(0, 0, 0, 1), 3)).toBe(0b101);
    const cols = (b: number[]) => bucketMatches(b, 3).map((m) => [m.srcValue, m.srcMask, m.dstValue, m.dstMask, m.target]);
    // Aligned runs merge into wider masks; unaligned ones split.
    expect(cols([1, 1, 1, 1, 0, 0, 0, 0])).toEqual([[0, 2, 0, 0, 1], [2, 2, 0, 0, 0]]);
    expect(cols([0, 0, 1, 1, 1, 1, 0, 1])).toEqual([
      [0, 3, 0, 0, 0], [1, 3, 0, 0, 1], [2, 3, 0, 0, 1], [3, 3, 0, 1, 0], [3, 3, 1, 1, 1],
    ]);
  });
});
