// One batch's ops → filter changes, without a kernel: applied to the
// previous plan's blocks they must give exactly the next plan's blocks (key
// and cookie), in an order where no chain-0 rule ever jumps to an empty chain.
import { describe, expect, it } from 'vitest';
import { assignBuckets, bucketBitsFor, diffPlans, type Plan, type PlanEntry, type PlanGroup } from '../../src/plan/index.js';
import { groupRefsOf, incrementalChanges, type FilterChange, type Incremental } from '../../src/tc/incremental.js';
import { decodeFilter, encodeFilter } from '../../src/netlink/codec/tc.js';
import { chainDepth, desiredBlocks, groupFilters, installedSubject, type DesiredFilter } from '../../src/tc/rules.js';

const TABLE = 254;
const PORTS = [2, 3, 4, 5].map((ifindex) => ({ ifindex, dev: `eth${ifindex - 1}`, backend: 'tc' as const, mac: `02:00:00:00:00:0${ifindex}`, table: TABLE }));

/** A group over members on ports 3.. (eth2..), each member `i` reached via 10.i.0.2 with MAC ...:0i:mac. */
function group(id: number, n: number, mac = 2): PlanGroup {
  const bits = bucketBitsFor(n);
  return {
    id, key: `g${id}`, bucketBits: bits,
    members: Array.from({ length: n }, (_, i) => ({
      dev: `eth${i + 2}`, ifindex: i + 3, dmac: `02:00:00:00:0${i}:0${mac}`, smac: `02:00:00:00:00:0${i + 3}`, weight: 1, via: `10.${i}.0.2`,
    })),
    buckets: assignBuckets(Array.from({ length: n }, () => ({ weight: 1, state: 'usable' as const })), bits),
  };
}

const fwd = (dst: string, g: number): PlanEntry => ({ table: TABLE, family: dst.includes(':') ? 6 : 4, dst, action: 'forward', group: g });
const punt = (dst: string): PlanEntry => ({ table: TABLE, family: dst.includes(':') ? 6 : 4, dst, action: 'punt', reason: 'egress-not-offloaded' });

function plan(groups: PlanGroup[], entries: PlanEntry[]): Plan {
  return { ports: PORTS, groups, entries, tables: [TABLE], ttlPunt: true, skipped: [] };
}

const hex = (c: Uint8Array): string => Buffer.from(c).toString('hex');
const rows = (p: Plan): Map<string, DesiredFilter> => new Map(desiredBlocks(p, () => 'none').flatMap((b) => b.filters.map((f) => [`${b.block}|${f.key}`, f] as const)));
const asSet = (m: ReadonlyMap<string, DesiredFilter>): string[] => [...m].map(([k, f]) => `${k}|${hex(f.filter.cookie)}`).sort();

/** No rule jumps to a chain that has no rule of its protocol. */
function gotosResolve(m: ReadonlyMap<string, DesiredFilter>): string[] {
  const chains = new Set([...m.values()].filter((f) => f.filter.id.chain !== 0).map((f) => `${f.filter.id.chain}|${f.filter.id.proto}`));
  return [...m.values()].flatMap((f) => f.filter.actions.flatMap((a) => (a.kind === 'goto' && !chains.has(`${a.chain}|${f.filter.id.proto}`) ? [f.key] : [])));
}

function changes(r: Incremental): FilterChange[] {
  if (r.full !== null) throw new Error(`full reconcile: ${r.full}`);
  return r.phases.flat();
}

/** Apply the ops' changes to prev's blocks, checking every intermediate state; returns the result and the changes. */
function step(prev: Plan, next: Plan): { changes: FilterChange[]; result: Map<string, DesiredFilter>; refs: Map<string, number> } {
  const r = incrementalChanges(diffPlans(prev, next), next, () => 'none', groupRefsOf(prev));
  const cs = changes(r);
  const m = rows(prev);
  for (const c of cs) {
    const k = `${c.block}|${c.filter.key}`;
    if (c.kind === 'add') expect(m.has(k), `add of an existing ${k}`).toBe(false);
    else expect(m.has(k), `${c.kind} of a missing ${k}`).toBe(true);
    if (c.kind === 'delete') m.delete(k); else m.set(k, c.filter);
    expect(gotosResolve(m), `after ${c.kind} ${k}`).toEqual([]);
  }
  const refs = new Map(groupRefsOf(prev));
  if (r.full === null) for (const [k, n] of r.refs) { if (n === 0) refs.delete(k); else refs.set(k, n); }
  return { changes: cs, result: m, refs };
}

function expectStep(prev: Plan, next: Plan): FilterChange[] {
  const s = step(prev, next);
  expect(asSet(s.result)).toEqual(asSet(rows(next)));
  expect(s.refs).toEqual(groupRefsOf(next));
  return s.changes;
}

/** How many bucket rules a group has per family (bucket ranges merge, so not always 2^bits). */
const ruleCount = (g: PlanGroup): number => groupFilters(TABLE, 4, g, new Set(PORTS.map((p) => p.ifindex)), 'none').length;
const summary = (cs: FilterChange[]): string[] => cs.map((c) => `${c.kind} ${c.filter.subject} ${c.filter.filter.id.proto} chain ${c.filter.filter.id.chain}`);

describe('tc incremental changes', () => {
  const base = plan([group(100, 2)], [fwd('10.0.0.0/8', 100), punt('10.1.0.0/16')]);

  it('entry add to a group already in use: one chain-0 add', () => {
    const next = plan([group(100, 2)], [fwd('10.0.0.0/8', 100), punt('10.1.0.0/16'), fwd('192.0.2.0/24', 100)]);
    expect(summary(expectStep(base, next))).toEqual(['add entry 254|192.0.2.0/24 ip chain 1']);
  });

  it('entry add with a new group: the group chain is filled first', () => {
    const next = plan([group(100, 2), group(200, 3)], [fwd('10.0.0.0/8', 100), punt('10.1.0.0/16'), fwd('192.0.2.0/24', 200)]);
    const cs = expectStep(base, next);
    // Its bucket rules, IPv4 only (no IPv6 entry uses it), then the entry.
    expect(ruleCount(group(200, 3))).toBeGreaterThan(2);
    expect(summary(cs)).toEqual([
      ...Array.from({ length: ruleCount(group(200, 3)) }, () => 'add group 200 ip chain 200'),
      'add entry 254|192.0.2.0/24 ip chain 1',
    ]);
  });

  it('entry replace: punt → forward, and forward to another group', () => {
    const n1 = plan([group(100, 2)], [fwd('10.0.0.0/8', 100), fwd('10.1.0.0/16', 100)]);
    expect(summary(expectStep(base, n1))).toEqual(['replace entry 254|10.1.0.0/16 ip chain 1']);
    const n2 = plan([group(100, 2), group(200, 2)], [fwd('10.0.0.0/8', 100), fwd('10.1.0.0/16', 200)]);
    expect(summary(expectStep(n1, n2))).toEqual([
      'add group 200 ip chain 200', 'add group 200 ip chain 200', 'replace entry 254|10.1.0.0/16 ip chain 1',
    ]);
  });

  it('entry delete: the last entry of a group takes its chain with it, after the entry', () => {
    const next = plan([], [punt('10.1.0.0/16')]);
    expect(summary(expectStep(base, next))).toEqual([
      'delete entry 254|10.0.0.0/8 ip chain 1', 'delete group 100 ip chain 100', 'delete group 100 ip chain 100',
    ]);
    // Not the last one: only the entry.
    const two = plan([group(100, 2)], [fwd('10.0.0.0/8', 100), punt('10.1.0.0/16'), fwd('192.0.2.0/24', 100)]);
    expect(summary(expectStep(two, base))).toEqual(['delete entry 254|192.0.2.0/24 ip chain 1']);
  });

  it('group update: a MAC change replaces the buckets in place; a new member changes the bucket bits', () => {
    const mac = plan([group(100, 2, 9)], base.entries.slice());
    expect(summary(expectStep(base, mac))).toEqual(['replace group 100 ip chain 100', 'replace group 100 ip chain 100']);
    const wider = plan([group(100, 3)], base.entries.slice());
    const cs = expectStep(base, wider);
    // More bucket bits: new masks, so new keys; the old 1-bit rules go last.
    expect(group(100, 3).bucketBits).toBeGreaterThan(group(100, 2).bucketBits);
    expect(cs.filter((c) => c.kind === 'delete').length).toBe(2);
    expect(cs.slice(-2).every((c) => c.kind === 'delete')).toBe(true);
    expect(cs.filter((c) => c.kind !== 'delete').length).toBe(ruleCount(group(100, 3)));
  });

  it('a group shared by IPv4 and IPv6: updated in both families, deleted from one', () => {
    const both = plan([group(100, 2)], [fwd('10.0.0.0/8', 100), fwd('2001:db8::/32', 100)]);
    const updated = plan([group(100, 2, 7)], both.entries.slice());
    expect(summary(expectStep(both, updated)).sort()).toEqual([
      'replace group 100 ip chain 100', 'replace group 100 ip chain 100',
      'replace group 100 ipv6 chain 100', 'replace group 100 ipv6 chain 100',
    ]);
    const v6only = plan([group(100, 2)], [fwd('2001:db8::/32', 100)]);
    expect(summary(expectStep(both, v6only))).toEqual([
      'delete entry 254|10.0.0.0/8 ip chain 1', 'delete group 100 ip chain 100', 'delete group 100 ip chain 100',
    ]);
    // And back: the IPv4 buckets come before the IPv4 entry.
    expect(summary(expectStep(v6only, both))).toEqual([
      'add group 100 ip chain 100', 'add group 100 ip chain 100', 'add entry 254|10.0.0.0/8 ip chain 1',
    ]);
  });

  it('a mixed batch: group chains, chain-0 writes, chain-0 deletes, group deletes', () => {
    const prev = plan([group(100, 2), group(300, 2)], [fwd('10.0.0.0/8', 100), fwd('172.16.0.0/12', 300), punt('10.1.0.0/16')]);
    const next = plan([group(100, 3), group(200, 2)], [fwd('10.0.0.0/8', 100), fwd('192.0.2.0/24', 200), fwd('2001:db8::/32', 200)]);
    const r = incrementalChanges(diffPlans(prev, next), next, () => 'none', groupRefsOf(prev));
    if (r.full !== null) throw new Error(r.full);
    const [groups, chain0, chain0Deletes, groupDeletes] = r.phases;
    expect(groups.every((c) => chainDepth(c.filter.filter.id.chain) === 2 && c.kind !== 'delete')).toBe(true);
    expect(chain0.map((c) => c.kind).sort()).toEqual(['add', 'add']);
    expect(chain0Deletes.map((c) => c.filter.subject).sort()).toEqual(['entry 254|10.1.0.0/16', 'entry 254|172.16.0.0/12']);
    expect(new Set(groupDeletes.map((c) => c.filter.subject))).toEqual(new Set(['group 100', 'group 300']));
    expectStep(prev, next);
  });

  it('no change, no request; entries of a table without tc ports need none', () => {
    expect(expectStep(base, base)).toEqual([]);
    const other = { ...base, tables: [TABLE, 10], entries: [...base.entries, { ...fwd('10.9.0.0/16', 100), table: 10 }] };
    expect(expectStep(base, other)).toEqual([]);
  });

  it('port ops and counts that do not add up take a full reconcile', () => {
    const moved = { ...base, ports: PORTS.slice(0, 3) };
    expect(incrementalChanges(diffPlans(base, moved), moved, () => 'none', groupRefsOf(base)).full).toBe('port-delete eth4');
    const next = plan([], [punt('10.1.0.0/16')]);
    // Counts that say the group was never used: deleting its entry can't be right.
    expect(incrementalChanges(diffPlans(base, next), next, () => 'none', new Map()).full).toMatch(/group 100/);
  });

  it('subjects name what per-entry status tracks', () => {
    const [b] = desiredBlocks(base, () => 'none');
    expect(b!.filters.map((f) => f.subject)).toEqual([
      'group 100', 'group 100', 'block 254', 'block 254', 'entry 254|10.0.0.0/8', 'entry 254|10.1.0.0/16',
      ...PORTS.flatMap((p) => [`port ${p.dev}`, `port ${p.dev}`]),
    ]);
  });

  it('a filter read back from the kernel names the same subject as the rule it came from', () => {
    const p = plan([group(100, 2)], [fwd('0.0.0.0/0', 100), fwd('10.0.0.0/8', 100), punt('10.1.2.3/32'), fwd('::/0', 100), punt('2001:db8::/32')]);
    const [b] = desiredBlocks(p, () => 'none');
    for (const f of b!.filters) {
      const r = encodeFilter(f.filter, 'add');
      const got = decodeFilter(r.payload, 0, r.payload.length);
      expect(got && installedSubject(got)).toBe(f.subject);
    }
  });
});
