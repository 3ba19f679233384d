// The tc backend's compressed view (src/tc/compression.ts): a batch's ops,
// turned into ops on the compressed entries and then into filter changes,
// must take the previous compressed blocks to exactly the blocks a fresh
// compression of the next plan gives (key and cookie), with group reference
// counts that match; and the compressed blocks must be smaller.
import { describe, expect, it } from 'vitest';
import { assignBuckets, bucketBitsFor, diffPlans, type Plan, type PlanEntry, type PlanGroup } from '../../src/plan/index.js';
import { TcCompression } from '../../src/tc/compression.js';
import { groupRefsOf, incrementalChanges } from '../../src/tc/incremental.js';
import { desiredBlocks, type DesiredFilter } from '../../src/tc/rules.js';
import { rng } from '../../bench/rng.js';
import { formatIp, parseIp } from '../../src/model/ip.js';

const TABLE = 254;
const PORTS = [2, 3, 4, 5].map((ifindex) => ({ ifindex, dev: `eth${ifindex - 1}`, backend: 'tc' as const, mac: `02:00:00:00:00:0${ifindex}`, table: TABLE }));

function group(id: number, n: number): PlanGroup {
  const bits = bucketBitsFor(n);
  return {
    id, key: `g${id}`, bucketBits: bits,
    members: Array.from({ length: n }, (_, i) => ({
      dev: `eth${i + 2}`, ifindex: i + 3, dmac: `02:00:00:00:0${i}:0${id % 10}`, smac: `02:00:00:00:00:0${i + 3}`, weight: 1, via: `10.${i}.0.2`,
    })),
    buckets: assignBuckets(Array.from({ length: n }, () => ({ weight: 1, state: 'usable' as const })), bits),
  };
}

const fwd = (dst: string, g: number): PlanEntry => ({ table: TABLE, family: dst.includes(':') ? 6 : 4, dst, action: 'forward', group: g });
const punt = (dst: string): PlanEntry => ({ table: TABLE, family: dst.includes(':') ? 6 : 4, dst, action: 'punt', reason: 'egress-not-offloaded' });

/** A plan whose groups are exactly those its entries use (as the planner makes them). */
function plan(entries: PlanEntry[], sizes: ReadonlyMap<number, number> = new Map()): Plan {
  const ids = [...new Set(entries.flatMap((e) => (e.group === undefined ? [] : [e.group])))].sort((a, b) => a - b);
  const sorted = [...entries].sort((a, b) => a.family - b.family || a.dst.localeCompare(b.dst));
  return { ports: PORTS, groups: ids.map((id) => group(id, sizes.get(id) ?? 2)), entries: sorted, tables: [TABLE], ttlPunt: true, skipped: [] };
}

const hex = (c: Uint8Array): string => Buffer.from(c).toString('hex');
const rows = (p: Plan): Map<string, DesiredFilter> => new Map(desiredBlocks(p, () => 'none').flatMap((b) => b.filters.map((f) => [`${b.block}|${f.key}`, f] as const)));
const asSet = (m: ReadonlyMap<string, DesiredFilter>): string[] => [...m].map(([k, f]) => `${k}|${hex(f.filter.cookie)}`).sort();
const prefixRules = (m: ReadonlyMap<string, DesiredFilter>): number => [...m.values()].filter((f) => f.kind === 'entry').length;

describe('tc compression view', () => {
  it('4,096 adjacent /24s with one group are one prefix rule; a more-specific with another group stays', () => {
    const entries: PlanEntry[] = [];
    for (let i = 0; i < 4096; i++) entries.push(fwd(`10.${16 + (i >> 8)}.${i & 255}.0/24`, 256));
    const view = new TcCompression(true).full(plan(entries));
    expect(view.entries.map((e) => `${e.dst} ${e.group}`)).toEqual(['10.16.0.0/12 256']);
    const more = new TcCompression(true).full(plan([...entries, fwd('10.17.5.128/25', 257)]));
    expect(more.entries.map((e) => `${e.dst} ${e.group}`)).toEqual(['10.16.0.0/12 256', '10.17.5.128/25 257']);
    // Off: one rule per route.
    expect(new TcCompression(false).full(plan(entries)).entries).toHaveLength(4096);
  });

  it('a batch moves the compressed blocks exactly to a fresh compression of the next plan', () => {
    const rand = rng(15);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    // Nested prefixes: IPv4 under 10.0.0.0/14 (lengths 14..24), IPv6 under 2001:db8::/32 (lengths 32..44).
    const prefix = (family: 4 | 6): string => {
      const [base, lo, span] = family === 4 ? [Uint8Array.of(10, 0, 0, 0), 14, 10] : [parseIp('2001:db8::'), 32, 12];
      const len = lo + Math.floor(rand() * (span + 1));
      const addr = new Uint8Array(base);
      // Random bits from `lo` to `len`, set one by one.
      for (let bit = lo; bit < len; bit++) if (rand() < 0.5) addr[bit >> 3]! |= 0x80 >> (bit & 7);
      return `${formatIp(addr)}/${len}`;
    };
    const groups = [256, 257, 258, 259];
    let cur = new Map<string, PlanEntry>();
    const mutate = (): void => {
      const next = new Map(cur);
      const n = 1 + Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) {
        const dst = prefix(rand() < 0.8 ? 4 : 6);
        const r = rand();
        if (r < 0.25 && next.size) next.delete(pick([...next.keys()]));
        else next.set(dst, r < 0.85 ? fwd(dst, pick(groups)) : punt(dst));
      }
      cur = next;
    };
    const sizes = new Map<number, number>();
    let prev = plan([]);
    const live = new TcCompression(true);
    let installed = rows(live.full(prev));
    let refs = groupRefsOf(live.full(prev));
    let sawCompression = false;
    for (let step = 0; step < 400; step++) {
      mutate();
      if (rand() < 0.1) sizes.set(pick(groups), 1 + Math.floor(rand() * 3));
      const next = plan([...cur.values()], sizes);
      const tcOps = live.ops(diffPlans(prev, next), next);
      expect(tcOps).not.toBeNull();
      const inc = incrementalChanges(tcOps!, next, () => 'none', refs);
      if (inc.full !== null) throw new Error(`step ${step}: full reconcile: ${inc.full}`);
      for (const c of inc.phases.flat()) {
        const k = `${c.block}|${c.filter.key}`;
        if (c.kind === 'add') expect(installed.has(k), `step ${step}: add of an existing ${k}`).toBe(false);
        else expect(installed.has(k), `step ${step}: ${c.kind} of a missing ${k}`).toBe(true);
        if (c.kind === 'delete') installed.delete(k); else installed.set(k, c.filter);
      }
      refs = new Map(refs);
      for (const [k, n] of inc.refs) { if (n === 0) refs.delete(k); else refs.set(k, n); }
      const fresh = new TcCompression(true).full(next);
      expect(asSet(installed), `step ${step}`).toEqual(asSet(rows(fresh)));
      expect(refs, `step ${step}`).toEqual(groupRefsOf(fresh));
      if (prefixRules(installed) < next.entries.length) sawCompression = true;
      prev = next;
    }
    expect(sawCompression).toBe(true);
  });

  it('off: the ops pass through unchanged', () => {
    const a = plan([fwd('10.0.0.0/24', 256), fwd('10.0.1.0/24', 256)]);
    const b = plan([fwd('10.0.0.0/24', 256)]);
    const ops = diffPlans(a, b);
    const c = new TcCompression(false);
    expect(c.full(a)).toBe(a);
    expect(c.ops(ops, b)).toBe(ops);
  });

  it('before any full compression there are no incremental ops', () => {
    const a = plan([fwd('10.0.0.0/24', 256)]);
    expect(new TcCompression(true).ops(diffPlans(plan([]), a), a)).toBeNull();
  });
});
