// FIB compression (src/plan/compress.ts): the compressed entries must send
// every address where the plan's entries send it as tc runs them (goto the
// group's chain, or to the kernel: punt, forward to a missing group, or no
// match at all), for random nested tables of both families; incremental
// updates must give exactly the from-scratch result; and the compressed table
// is never larger than the source (ORTC is optimal, and the source is one of
// the candidates).
import { tcPortsOf } from '../../src/tc/rules.js';
import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/model/ip.js';
import { formatIp } from '../../src/model/ip.js';
import {
  CompressedTable, KERNEL, compressEntries, compressPlan, entryChanges, entryChangesOf, prefixBytes, tcAction, type EntryChange,
} from '../../src/plan/compress.js';
import { planJson } from '../../src/plan/json.js';
import { planText } from '../../src/cli/plan.js';
import { compareRows } from '../../src/plan/order.js';
import type { Plan, PlanEntry, SkipReason } from '../../src/plan/types.js';
import { rng } from '../fixtures/rng.js';

const G = [0x100, 0x101, 0x102, 0x103];
/** A group with no usable member: its entries carry a reason. Still its own action for tc. */
const EMPTY = 0x1ff;
/** A group id the plan does not have (groupExists says no): tc passes. */
const MISSING = 0x2ff;
const exists = (id: number): boolean => id !== MISSING;

function fwd(dst: string, group: number, table = 254): PlanEntry {
  const family: Family = dst.includes(':') ? 6 : 4;
  return group === EMPTY ? { table, family, dst, action: 'forward', group, reason: 'unresolved-neighbor' } : { table, family, dst, action: 'forward', group };
}

function punt(dst: string, reason: SkipReason = 'egress-not-offloaded', table = 254): PlanEntry {
  return { table, family: dst.includes(':') ? 6 : 4, dst, action: 'punt', reason };
}

function matches(addr: Uint8Array, p: { addr: Uint8Array; len: number }): boolean {
  for (let i = 0; i < p.len; i++) {
    const m = 0x80 >> (i & 7);
    if ((addr[i >> 3]! & m) !== (p.addr[i >> 3]! & m)) return false;
  }
  return true;
}

interface Rule { addr: Uint8Array; len: number; action: number }

function rules(entries: readonly PlanEntry[], table: number, family: Family): Rule[] {
  return entries.filter((e) => e.table === table && e.family === family).map((e) => ({ ...prefixBytes(family, e.dst), action: tcAction(e, exists) }));
}

/** What tc does with a packet to `addr`: the action of the longest matching rule, KERNEL on no match. */
function lookup(rs: readonly Rule[], addr: Uint8Array): number {
  let best = -1;
  let action = KERNEL;
  for (const p of rs) if (p.len > best && matches(addr, p)) { best = p.len; action = p.action; }
  return action;
}

function canonical(bytes: Uint8Array, len: number): string {
  const a = Uint8Array.from(bytes);
  for (let i = len; i < a.length * 8; i++) a[i >> 3]! &= ~(0x80 >> (i & 7));
  return `${formatIp(a)}/${len}`;
}

/** A random prefix near a few bases, so tables nest: lengths from 0 to full, most around the base's. */
function randomPrefix(r: () => number, family: Family): string {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  const bits = bytes.length * 8;
  if (family === 4) bytes.set([10, Math.floor(r() * 4), Math.floor(r() * 256), Math.floor(r() * 256)]);
  else bytes.set([0x20, 0x01, 0x0d, 0xb8, 0, Math.floor(r() * 4)]);
  for (let i = family === 4 ? 4 : 6; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  const roll = r();
  const base = family === 4 ? 8 : 32;
  const len = roll < 0.03 ? 0 : roll < 0.08 ? bits
    : roll < 0.2 ? Math.floor(r() * (base + 1))
      : base + Math.floor(r() * (family === 4 ? 17 : 33)) + (r() < 0.3 ? Math.floor(r() * (bits - base - 16)) : 0);
  return canonical(bytes, Math.min(len, bits));
}

function randomEntry(r: () => number, table: number, family: Family): PlanEntry {
  const dst = randomPrefix(r, family);
  const roll = r();
  if (roll < 0.2) return punt(dst, r() < 0.5 ? 'local' : 'unresolved-neighbor', table);
  if (roll < 0.27) return fwd(dst, EMPTY, table);
  if (roll < 0.31) return fwd(dst, MISSING, table);
  // ECMP groups: a few ids, one of them most common, as upstreams are.
  return fwd(dst, r() < 0.4 ? G[0]! : G[Math.floor(r() * G.length)]!, table);
}

function randomTable(r: () => number, n: number): PlanEntry[] {
  const byKey = new Map<string, PlanEntry>();
  for (let i = 0; i < n; i++) {
    const e = randomEntry(r, r() < 0.8 ? 254 : 100, r() < 0.6 ? 4 : 6);
    byKey.set(`${e.table}|${e.dst}`, e);
  }
  return [...byKey.values()];
}

/** Destinations that probe the boundaries: inside each prefix, its first and last address, one just past each end, random ones. */
function destinations(r: () => number, entries: readonly PlanEntry[], family: Family, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const fam = entries.filter((e) => e.family === family);
  const size = family === 4 ? 4 : 16;
  for (let k = 0; k < n; k++) {
    const a = new Uint8Array(size);
    for (let i = 0; i < size; i++) a[i] = Math.floor(r() * 256);
    const e = fam.length ? fam[Math.floor(r() * fam.length)]! : undefined;
    if (e && r() < 0.9) {
      const p = prefixBytes(family, e.dst);
      const mode = Math.floor(r() * 4);
      for (let i = 0; i < p.len; i++) {
        const m = 0x80 >> (i & 7);
        a[i >> 3] = (a[i >> 3]! & ~m) | (p.addr[i >> 3]! & m);
      }
      for (let i = p.len; i < size * 8 && mode < 2; i++) {
        const m = 0x80 >> (i & 7);
        a[i >> 3] = mode === 0 ? a[i >> 3]! & ~m : a[i >> 3]! | m;
      }
      if (mode === 2 && p.len > 0) a[(p.len - 1) >> 3]! ^= 0x80 >> ((p.len - 1) & 7); // the sibling prefix
    }
    out.push(a);
  }
  return out;
}

function rowKey(e: PlanEntry): string {
  return `${e.table}|${e.family}|${e.dst}|${e.action}|${e.group ?? ''}`;
}

function sameForwarding(source: readonly PlanEntry[], compressed: readonly PlanEntry[], r: () => number, probes: number): void {
  for (const family of [4, 6] as const) {
    for (const table of [100, 254]) {
      const src = rules(source, table, family);
      const cmp = rules(compressed, table, family);
      for (const a of destinations(r, source.filter((e) => e.table === table), family, probes)) {
        const want = lookup(src, a);
        const got = lookup(cmp, a);
        if (got !== want) expect.fail(`table ${table} ${formatIp(a)}: compressed ${got}, source ${want}`);
      }
    }
  }
}

/**
 * The fewest rules for one table and family, by a dynamic program written
 * apart from ORTC: cost(node, action in effect from above) over a trie with
 * every missing child a leaf of the inherited action; a rule at a node pays 1
 * and sets what its subtree inherits. /0's "from above" is KERNEL (no match).
 */
function optimum(rs: readonly Rule[], bits: number): number {
  interface N { l?: N; r?: N; orig?: number }
  const root: N = {};
  for (const p of rs) {
    let n = root;
    for (let i = 0; i < p.len; i++) {
      const side = (p.addr[i >> 3]! & (0x80 >> (i & 7))) ? 'r' : 'l';
      n = n[side] ??= {};
    }
    n.orig = p.action;
  }
  const actions = [...new Set([KERNEL, ...rs.map((p) => p.action)])];
  // cost[a] for the subtree at n, whose addresses default to `inh` (the nearest source action at or above).
  const cost = (n: N | undefined, inh: number, depth: number): number[] => {
    const h = n?.orig ?? inh;
    if (!n || (!n.l && !n.r) || depth === bits) return actions.map((a) => (a === h ? 0 : 1));
    const L = cost(n.l, h, depth + 1);
    const R = cost(n.r, h, depth + 1);
    const split = actions.map((_, i) => L[i]! + R[i]!);
    const best = Math.min(...split);
    return split.map((c) => Math.min(c, best + 1));
  };
  return cost(root, KERNEL, 0)[actions.indexOf(KERNEL)]!;
}

describe('compressEntries', () => {
  it('is optimal: as few rules as an independent dynamic program finds', () => {
    for (let seed = 200; seed < 260; seed++) {
      const r = rng(seed);
      const source = randomTable(r, 5 + Math.floor(r() * 40));
      const compressed = compressEntries(source, { groupExists: exists });
      for (const family of [4, 6] as const) {
        for (const table of [100, 254]) {
          expect(rules(compressed, table, family).length).toBe(optimum(rules(source, table, family), family === 4 ? 32 : 128));
        }
      }
    }
  });

  it('forwards every random destination as the source does, in both families, and is never larger', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const source = randomTable(r, 20 + Math.floor(r() * 120));
      const compressed = compressEntries(source, { groupExists: exists });
      expect(compressed.length).toBeLessThanOrEqual(source.length);
      expect(new Set(compressed.map((e) => `${e.table}|${e.dst}`)).size).toBe(compressed.length);
      expect([...compressed].sort(compareRows)).toEqual(compressed);
      sameForwarding(source, compressed, r, 300);
    }
  });

  it('an empty table and a lone /0 punt compress to nothing; a /0 forward stays', () => {
    expect(compressEntries([])).toEqual([]);
    expect(compressEntries([punt('0.0.0.0/0'), punt('::/0')])).toEqual([]);
    expect(compressEntries([fwd('0.0.0.0/0', G[0]!)])).toEqual([fwd('0.0.0.0/0', G[0]!)]);
  });

  it('adjacent siblings with one group merge, up to the aggregate', () => {
    expect(compressEntries([fwd('10.0.0.0/25', G[0]!), fwd('10.0.0.128/25', G[0]!)])).toEqual([fwd('10.0.0.0/24', G[0]!)]);
    // 4,096 adjacent /24s with one next hop: 10.0.0.0/12, one rule.
    const many: PlanEntry[] = [];
    for (let i = 0; i < 4096; i++) many.push(fwd(`10.${i >> 8}.${i & 255}.0/24`, G[0]!));
    expect(compressEntries(many)).toEqual([fwd('10.0.0.0/12', G[0]!)]);
    // A more-specific with another next hop inside them is still honoured.
    const inside = many.map((e) => (e.dst === '10.5.7.0/24' ? fwd(e.dst, G[1]!) : e));
    expect(compressEntries(inside)).toEqual([fwd('10.0.0.0/12', G[0]!), fwd('10.5.7.0/24', G[1]!)]);
  });

  it('/32 and /128 hosts: a host under an aggregate of its own group goes, one of another group stays', () => {
    const src = [fwd('192.0.2.0/24', G[0]!), fwd('192.0.2.7/32', G[0]!), fwd('192.0.2.9/32', G[2]!),
      fwd('2001:db8::/64', G[1]!), fwd('2001:db8::1/128', G[1]!), fwd('2001:db8::2/128', G[3]!)];
    expect(compressEntries(src)).toEqual([fwd('192.0.2.0/24', G[0]!), fwd('192.0.2.9/32', G[2]!), fwd('2001:db8::/64', G[1]!), fwd('2001:db8::2/128', G[3]!)]);
  });

  it('a punt inside a forward stays, keeping its reason; a punt no forward covers needs no rule', () => {
    const src = [fwd('10.0.0.0/8', G[0]!), punt('10.1.2.3/32', 'local'), punt('192.0.2.0/24')];
    expect(compressEntries(src)).toEqual([fwd('10.0.0.0/8', G[0]!), punt('10.1.2.3/32', 'local')]);
  });

  it('a forward to an empty group is its own action, not a punt; one to a missing group is a punt', () => {
    const src = [fwd('10.0.0.0/8', G[0]!), fwd('10.1.0.0/16', EMPTY), punt('10.1.0.0/17'), fwd('10.2.0.0/16', MISSING)];
    const out = compressEntries(src, { groupExists: exists });
    expect(out.map(rowKey)).toEqual([
      '254|4|10.0.0.0/8|forward|256', '254|4|10.1.0.0/16|punt|', '254|4|10.1.128.0/17|forward|511', '254|4|10.2.0.0/16|forward|767',
    ]);
    // The synthesized aggregate of the empty group keeps the group's reason.
    expect(out[2]!.reason).toBe('unresolved-neighbor');
  });

  it('picks the optimum where greedy merging would not: ORTC\'s own example shape', () => {
    // /1s: left half mostly A, right half mostly B, each with a few of the other: 3 rules would not do with /0 A.
    const src = [fwd('0.0.0.0/2', G[0]!), fwd('64.0.0.0/2', G[1]!), fwd('128.0.0.0/2', G[1]!), fwd('192.0.0.0/2', G[1]!)];
    expect(compressEntries(src)).toEqual([fwd('0.0.0.0/0', G[1]!), fwd('0.0.0.0/2', G[0]!)]);
  });
});

describe('CompressedTable.update', () => {
  function randomChange(r: () => number, current: Map<string, PlanEntry>): EntryChange {
    const keys = [...current.keys()];
    if (keys.length && r() < 0.4) {
      const e = current.get(keys[Math.floor(r() * keys.length)]!)!;
      return r() < 0.6 ? { op: 'delete', table: e.table, family: e.family, dst: e.dst } : { op: 'set', entry: { ...randomEntry(r, e.table, e.family), dst: e.dst } };
    }
    return { op: 'set', entry: randomEntry(r, r() < 0.8 ? 254 : 100, r() < 0.6 ? 4 : 6) };
  }

  it('after every random change equals compressing from scratch, and its diff takes the old compressed set to the new', () => {
    for (let seed = 100; seed < 112; seed++) {
      const r = rng(seed);
      const current = new Map<string, PlanEntry>();
      for (const e of randomTable(r, 60)) current.set(`${e.table}|${e.dst}`, e);
      const table = new CompressedTable([...current.values()], { groupExists: exists });
      let installed = new Map(table.entries().map((e) => [`${e.table}|${e.dst}`, e] as const));
      for (let step = 0; step < 150; step++) {
        const batch: EntryChange[] = [];
        const n = r() < 0.8 ? 1 : 1 + Math.floor(r() * 6);
        for (let i = 0; i < n; i++) {
          const ch = randomChange(r, current);
          batch.push(ch);
          const k = ch.op === 'set' ? `${ch.entry.table}|${ch.entry.dst}` : `${ch.table}|${ch.dst}`;
          if (ch.op === 'set') current.set(k, ch.entry); else current.delete(k);
        }
        const diff = table.update(batch);
        const scratch = compressEntries([...current.values()], { groupExists: exists });
        const got = table.entries();
        expect(got.map(rowKey)).toEqual(scratch.map(rowKey));
        expect(table.size).toBe(scratch.length);
        expect(table.sourceSize).toBe(current.size);
        // The diff, applied to what was installed, gives the new compressed set.
        for (const e of diff.removed) {
          const k = `${e.table}|${e.dst}`;
          expect(installed.has(k)).toBe(true);
          installed.delete(k);
        }
        for (const e of diff.added) {
          const k = `${e.table}|${e.dst}`;
          expect(installed.has(k)).toBe(false);
          installed.set(k, e);
        }
        expect([...installed.values()].sort(compareRows).map(rowKey)).toEqual(scratch.map(rowKey));
        installed = new Map(got.map((e) => [`${e.table}|${e.dst}`, e] as const));
      }
    }
  });

  it('a single change touches only its neighbourhood: one /24 of another group inside 4,096 is one added rule', () => {
    const many: PlanEntry[] = [];
    for (let i = 0; i < 4096; i++) many.push(fwd(`10.${i >> 8}.${i & 255}.0/24`, G[0]!));
    const table = new CompressedTable(many);
    expect(table.update([{ op: 'set', entry: fwd('10.5.7.0/24', G[1]!) }])).toEqual({ added: [fwd('10.5.7.0/24', G[1]!)], removed: [] });
    expect(table.update([{ op: 'set', entry: fwd('10.5.7.0/24', G[0]!) }])).toEqual({ added: [], removed: [fwd('10.5.7.0/24', G[1]!)] });
    // Deleting one /24 leaves a hole the kernel handles: the /12 stays, with a pass for the hole.
    const d = table.update([{ op: 'delete', table: 254, family: 4, dst: '10.0.0.0/24' }]);
    expect(d).toEqual({ added: [{ table: 254, family: 4, dst: '10.0.0.0/24', action: 'punt' }], removed: [] });
    expect(table.entries().length).toBe(2);
  });

  it('entryChangesOf takes a plan diff\'s entry ops', () => {
    const a = fwd('10.0.0.0/24', G[0]!);
    const b = fwd('10.0.1.0/24', G[0]!);
    const table = new CompressedTable([a]);
    const d = table.update(entryChangesOf([
      { op: 'entry-add', entry: b }, { op: 'entry-replace', entry: fwd(a.dst, G[0]!), old: a },
    ]));
    expect(d).toEqual({ added: [fwd('10.0.0.0/23', G[0]!)], removed: [a] });
    expect(table.update(entryChangesOf([{ op: 'entry-delete', entry: b }]))).toEqual({ added: [a], removed: [fwd('10.0.0.0/23', G[0]!)] });
  });

  it('entryChanges turns two entry lists into the updates between them', () => {
    const r = rng(7);
    const a = randomTable(r, 80);
    const b = [...a.slice(10), ...randomTable(r, 20)];
    const uniq = [...new Map(b.map((e) => [`${e.table}|${e.dst}`, e] as const)).values()];
    const table = new CompressedTable(a, { groupExists: exists });
    table.update(entryChanges(a, uniq));
    expect(table.entries().map(rowKey)).toEqual(compressEntries(uniq, { groupExists: exists }).map(rowKey));
  });
});

describe('plan output', () => {
  const group = (id: number) => ({ id, key: `k${id}`, members: [], bucketBits: 0, buckets: [-1] });
  const plan: Plan = {
    ports: [
      { ifindex: 2, dev: 'eth2', backend: 'tc', mac: '02:00:00:00:00:02', table: 254 },
      { ifindex: 3, dev: 'eth3', backend: 'xdp', mac: '02:00:00:00:00:03', table: 100 },
    ],
    groups: [group(G[0]!), group(G[1]!)],
    entries: [
      fwd('10.0.0.0/25', G[0]!, 100), fwd('10.0.0.128/25', G[0]!, 100),
      fwd('10.0.0.0/25', G[0]!), fwd('10.0.0.128/25', G[0]!), fwd('10.0.1.0/24', G[1]!), punt('192.0.2.1/32', 'local'),
    ],
    skipped: [],
    ttlPunt: true,
    tables: [100, 254],
  };

  it('compressPlan covers the tables with tc ports only; plan --json shows it beside the contract fields', () => {
    const c = compressPlan(plan);
    expect(c.tables).toEqual([254]);
    expect(c.sourceEntries).toBe(4);
    // A tie: /23 of either group with the other's /24; the smaller action (group id) wins. The lone punt needs no rule.
    expect(c.entries).toEqual([fwd('10.0.0.0/23', G[0]!), fwd('10.0.1.0/24', G[1]!)]);
    const j = planJson(plan, { tcCompressed: c });
    expect(j.entries.length).toBe(6);
    expect(j.tcCompressed).toEqual({
      tables: [254], sourceEntries: 4, ratio: 0.5,
      entries: [
        { table: 254, family: 4, dst: '10.0.0.0/23', action: 'forward', group: G[0] },
        { table: 254, family: 4, dst: '10.0.1.0/24', action: 'forward', group: G[1] },
      ],
    });
    expect(planJson(plan)).not.toHaveProperty('tcCompressed');
  });

  it('a tc port whose ingress goes to the kernel (a rule, the firewall, rp_filter) has no block: its table is not compressed, as the backend installs nothing there', () => {
    const punted: Plan = { ...plan, ports: plan.ports.map((p) => (p.backend === 'tc' ? { ...p, policy: { reason: 'firewall' as const, rule: 'nft inet filter forward (1 rule)' } } : p)) };
    expect(compressPlan(punted)).toMatchObject({ tables: [], sourceEntries: 0, entries: [] });
    expect(tcPortsOf(punted).byTable.size).toBe(0);
  });

  it('plan (text) says the ratio in one line, and what tc.compress: false means', () => {
    const c = compressPlan(plan);
    const on = planText(plan, { ...c, enabled: true }).split('\n').filter((l) => l.startsWith('tc compression'));
    expect(on).toEqual(['tc compression: 4 entries → 2 prefix rules (ratio 0.50) in table 254']);
    expect(planText(plan, { ...c, enabled: false })).toContain('tc compression: off (tc.compress: false): 4 prefix rules, one per route; compressed would be 2 (ratio 0.50)');
    expect(planText(plan)).not.toContain('tc compression');
  });
});
