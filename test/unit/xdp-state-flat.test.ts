// The flat IPv4 lookup's state logic (src/xdp/state.ts): which tables are
// flat (v4Counts, chooseFlat with its hysteresis), what a flat entry holds
// (flatValue), and how flat tables leave fo_lpm4 in desiredState and become
// flat-set / flat-delete ops in planOpsToMapOps. The DIR-24-8 table itself is
// xdp-dir24.test.ts's.
import { describe, it, expect } from 'vitest';
import { GROUP_ID_MAX, diffPlans, type Plan, type PlanEntry, type PlanGroup, type PlanOp, type PlanPort } from '../../src/plan/index.js';
import { D24_FWD, D24_PUNT } from '../../src/xdp/dir24.js';
import { encodeGroupKey } from '../../src/xdp/layout.js';
import {
  PLAN_MAPS,
  chooseFlat,
  desiredState,
  emptyState,
  flatValue,
  planOpsToMapOps,
  v4Counts,
  type MapOp,
  type PlanMap,
  type XdpState,
} from '../../src/xdp/state.js';
import { macOf } from './plan-helpers.js';

const hex = (s: string): string => s.replace(/\s+/g, '');

/** Map contents as { keyHex: valueHex }, per plan map. */
function dump(s: XdpState): Record<PlanMap, Record<string, string>> {
  const out = {} as Record<PlanMap, Record<string, string>>;
  for (const m of PLAN_MAPS) {
    out[m] = {};
    for (const [k, { value }] of s[m]) out[m][k] = value.toString('hex');
  }
  return out;
}

const describeOp = (o: MapOp): string => {
  switch (o.op) {
    case 'set': return `set ${o.map} ${o.key.toString('hex')} ${o.value.toString('hex')} ${o.add ? 'add' : 'update'}`;
    case 'delete': return `delete ${o.map} ${o.key.toString('hex')}`;
    case 'flat-set': return `flat-set ${o.table} 0x${o.addr.toString(16)}/${o.len} 0x${o.value.toString(16)} ${o.add ? 'add' : 'update'}`;
    case 'flat-delete': return `flat-delete ${o.table} 0x${o.addr.toString(16)}/${o.len}`;
  }
};

// ---------------------------------------------------------------------------
// A hand-built plan: table 254 (to be flat) and table 100 (stays in the trie),
// each with an XDP port; table 254 also has IPv6 entries, table 300 only IPv6.

const port = (ifindex: number, name: string, backend: PlanPort['backend'], table = 254): PlanPort =>
  ({ ifindex, dev: name, backend, mac: ifindex === 1 ? '00:00:00:00:00:00' : macOf(ifindex), table });

const member = (ifindex: number, name: string, dmac: string) =>
  ({ dev: name, ifindex, dmac, smac: macOf(ifindex), weight: 1, via: `gw${ifindex}` });

const G1: PlanGroup = { id: 0x100, key: 'g1', members: [member(2, 'eth1', '0a:00:00:00:00:0a')], bucketBits: 0, buckets: [0] };
const G2: PlanGroup = { id: 0x200, key: 'g2', members: [member(3, 'eth2', '0a:00:00:00:00:0b')], bucketBits: 0, buckets: [0] };
const G3: PlanGroup = { id: 0x300, key: 'g3', members: [member(2, 'eth1', '0a:00:00:00:00:0c')], bucketBits: 0, buckets: [0] };

const PORTS: PlanPort[] = [port(1, 'lo', 'none'), port(2, 'eth1', 'xdp'), port(3, 'eth2', 'xdp', 100)];

const v4 = (table: number, dst: string, group?: number): PlanEntry =>
  group === undefined ? { table, family: 4, dst, action: 'punt', reason: 'local' } : { table, family: 4, dst, action: 'forward', group };
const v6 = (table: number, dst: string, group?: number): PlanEntry =>
  group === undefined ? { table, family: 6, dst, action: 'punt', reason: 'link-local' } : { table, family: 6, dst, action: 'forward', group };

function plan(groups: PlanGroup[], entries: PlanEntry[]): Plan {
  return { ports: PORTS, groups, entries, skipped: [], ttlPunt: true, tables: [...new Set(entries.map((e) => e.table))].sort((a, b) => a - b) };
}

const PLAN_A = plan([G1, G2], [
  v4(100, '0.0.0.0/0', 0x200),
  v4(100, '172.16.0.0/12', 0x100),
  v4(254, '10.0.0.0/8', 0x100),
  v4(254, '10.9.9.9/32'),
  v4(254, '192.168.0.0/16', 0x200),
  v4(254, '255.255.255.255/32'),
  v6(254, '2001:db8::/32', 0x100),
  v6(254, 'fe80::/10'),
  v6(300, '2001:db8:300::/48', 0x200),
]);

// A → B: a group comes; in flat 254 one v4 add, one punt → forward replace,
// one delete, a v6 add and a v6 delete; in trie table 100 one add, one delete.
const PLAN_B = plan([G1, G2, G3], [
  v4(100, '0.0.0.0/0', 0x200),
  v4(100, '10.5.0.0/16', 0x300),
  v4(254, '10.0.0.0/8', 0x100),
  v4(254, '10.5.0.0/16', 0x300),
  v4(254, '10.9.9.9/32', 0x300),
  v4(254, '255.255.255.255/32'),
  v6(254, '2001:db8::/32', 0x100),
  v6(254, '2001:db8:5::/48', 0x300),
  v6(300, '2001:db8:300::/48', 0x200),
]);

// fo_lpm4 / fo_lpm6 keys: prefix length + 32 (LE), table (BE), address.
const K4 = {
  'default@100': hex('20000000 00000064 00000000'),
  '172.16/12@100': hex('2c000000 00000064 ac100000'),
  '10.5/16@100': hex('30000000 00000064 0a050000'),
  '10/8@254': hex('28000000 000000fe 0a000000'),
};
const K6 = {
  '2001:db8::/32@254': hex('40000000 000000fe 20010db8000000000000000000000000'),
  'fe80::/10@254': hex('2a000000 000000fe fe800000000000000000000000000000'),
  '2001:db8:5::/48@254': hex('50000000 000000fe 20010db8000500000000000000000000'),
  '2001:db8:300::/48@300': hex('50000000 0000012c 20010db8030000000000000000000000'),
};
const FWD = (g: number): string => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(g, 4);
  return b.toString('hex');
};
const PUNT = hex('01000000 00000000');

/** The flat tables' routes a plan implies: table → 'addr/len' (host-order hex) → d24 value. */
function flatModel(p: Plan, flat: ReadonlySet<number>): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (const e of p.entries) {
    if (e.family !== 4 || !flat.has(e.table)) continue;
    const [a, l] = e.dst.split('/') as [string, string];
    const addr = a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
    if (!out.has(e.table)) out.set(e.table, new Map());
    out.get(e.table)!.set(`${addr.toString(16)}/${l}`, flatValue(e));
  }
  return out;
}

/** Apply map ops to copies of an XDP state and a flat model, checking each op's add flag against what is there. */
function apply(state: XdpState, model: Map<number, Map<string, number>>, ops: readonly MapOp[]): [XdpState, Map<number, Map<string, number>>] {
  const s = emptyState();
  for (const m of PLAN_MAPS) for (const [k, v] of state[m]) s[m].set(k, v);
  const f = new Map([...model].map(([t, r]) => [t, new Map(r)] as const));
  for (const op of ops) {
    if (op.op === 'set' || op.op === 'delete') {
      const k = op.key.toString('hex');
      const had = s[op.map].has(k);
      if (op.op === 'set') {
        expect(had, `${op.map} ${k}: add=${op.add}`).toBe(!op.add);
        s[op.map].set(k, { key: op.key, value: op.value });
      } else {
        expect(had, `delete of absent ${op.map} ${k}`).toBe(true);
        s[op.map].delete(k);
      }
    } else {
      const k = `${op.addr.toString(16)}/${op.len}`;
      const t = f.get(op.table) ?? new Map<string, number>();
      f.set(op.table, t);
      if (op.op === 'flat-set') {
        expect(t.has(k), `flat ${op.table} ${k}: add=${op.add}`).toBe(!op.add);
        t.set(k, op.value);
      } else {
        expect(t.has(k), `flat-delete of absent ${op.table} ${k}`).toBe(true);
        t.delete(k);
        if (t.size === 0) f.delete(op.table);
      }
    }
  }
  return [s, f];
}

// ---------------------------------------------------------------------------

describe('v4Counts', () => {
  it('counts IPv4 entries per table in plan order; IPv6 entries and v6-only tables are not counted', () => {
    expect([...v4Counts(PLAN_A)]).toEqual([[100, 2], [254, 4]]);
    expect([...v4Counts(PLAN_B)]).toEqual([[100, 2], [254, 4]]);
  });

  it('punt entries count like forward ones; an empty plan gives an empty map', () => {
    const punts = plan([], [v4(7, '10.0.0.0/8'), v4(7, '10.0.0.1/32'), v4(7, '10.0.0.2/32', 0x100), v6(7, '::/0')]);
    expect([...v4Counts(punts)]).toEqual([[7, 3]]);
    expect(v4Counts(plan([], [])).size).toBe(0);
    expect(v4Counts(plan([], [v6(1, '::/0'), v6(2, '2001:db8::/32')])).size).toBe(0);
  });
});

describe('chooseFlat', () => {
  const T = 100_000;
  const choose = (counts: Array<[number, number]>, previous: number[], threshold = T): number[] =>
    [...chooseFlat(new Map(counts), new Set(previous), threshold)].sort((a, b) => a - b);

  it('not flat before: flat from exactly the threshold', () => {
    expect(choose([[254, 99_999]], [])).toEqual([]);
    expect(choose([[254, 100_000]], [])).toEqual([254]);
    expect(choose([[254, 100_001]], [])).toEqual([254]);
    // Half the threshold is no reason to become flat.
    expect(choose([[254, 50_000]], [])).toEqual([]);
  });

  it('flat before: stays flat down to exactly half the threshold, not below', () => {
    expect(choose([[254, 99_999]], [254])).toEqual([254]);
    expect(choose([[254, 50_000]], [254])).toEqual([254]);
    expect(choose([[254, 49_999]], [254])).toEqual([]);
    expect(choose([[254, 0]], [254])).toEqual([]);
  });

  it('a count walking down then up crosses at T/2 going down and at T going up', () => {
    const walk = [99_999, 100_000, 99_999, 60_000, 50_000, 49_999, 50_000, 99_999, 100_000, 50_000];
    const flatAt: boolean[] = [];
    let previous = new Set<number>();
    for (const n of walk) {
      previous = chooseFlat(new Map([[254, n]]), previous, T);
      flatAt.push(previous.has(254));
    }
    expect(flatAt).toEqual([false, true, true, true, true, false, false, false, true, true]);
  });

  it('tables are decided independently: same count, different history', () => {
    expect(choose([[100, 60_000], [254, 60_000], [300, 120_000], [400, 10]], [254, 400])).toEqual([254, 300]);
  });

  it('a previously flat table that has no IPv4 entries any more (absent from counts) is not flat', () => {
    expect(choose([[100, 5]], [254], 4)).toEqual([100]);
    expect(choose([], [254], 0)).toEqual([]);
  });

  it('odd threshold: half is fractional (7 → 3.5), so 4 stays flat and 3 does not', () => {
    expect(choose([[1, 6]], [], 7)).toEqual([]);
    expect(choose([[1, 7]], [], 7)).toEqual([1]);
    expect(choose([[1, 4]], [1], 7)).toEqual([1]);
    expect(choose([[1, 3]], [1], 7)).toEqual([]);
  });

  it('threshold 1: any table with an IPv4 entry is flat, and one that drops to 0 is not', () => {
    expect(choose([[1, 1], [2, 0]], [], 1)).toEqual([1]);
    expect(choose([[1, 0]], [1], 1)).toEqual([]);
  });

  it('threshold 0: every table with IPv4 entries is flat, whatever its history', () => {
    expect(choose([[1, 1], [2, 5], [3, 1_000_000]], [], 0)).toEqual([1, 2, 3]);
    expect(choose([[1, 1], [2, 5]], [2], 0)).toEqual([1, 2]);
    // Only tables in counts: the plan's v4Counts never lists a table without IPv4 entries.
    expect([...chooseFlat(v4Counts(PLAN_A), new Set(), 0)].sort((a, b) => a - b)).toEqual([100, 254]);
  });

  it('returns a new set and leaves `previous` alone', () => {
    const previous = new Set([254]);
    const out = chooseFlat(new Map([[254, 1], [100, T]]), previous, T);
    expect([...out]).toEqual([100]);
    expect(out).not.toBe(previous);
    expect([...previous]).toEqual([254]);
  });

  it('from a plan: with threshold 3 only table 254 (4 IPv4 entries) is flat, table 100 (2) is not', () => {
    expect([...chooseFlat(v4Counts(PLAN_A), new Set(), 3)]).toEqual([254]);
    expect([...chooseFlat(v4Counts(PLAN_A), new Set(), 4)]).toEqual([254]);
    expect([...chooseFlat(v4Counts(PLAN_A), new Set(), 5)]).toEqual([]);
    // Hysteresis on the real counts: 254 flat before stays at threshold 8 (4 >= 8/2), not at 9.
    expect([...chooseFlat(v4Counts(PLAN_A), new Set([254]), 8)]).toEqual([254]);
    expect([...chooseFlat(v4Counts(PLAN_A), new Set([254]), 9)]).toEqual([]);
  });
});

describe('flatValue', () => {
  it('forward: D24_FWD | group, as an unsigned number', () => {
    expect(D24_FWD).toBe(0x20000000);
    expect(flatValue({ action: 'forward', group: 0x100 })).toBe(0x20000100);
    expect(flatValue({ action: 'forward', group: 0x1234567 })).toBe(0x21234567);
    expect(flatValue({ action: 'forward', group: GROUP_ID_MAX })).toBe(0x2fffffff);
  });

  it('punt: D24_PUNT whatever group the entry carries', () => {
    expect(D24_PUNT).toBe(0x40000000);
    expect(flatValue({ action: 'punt' })).toBe(0x40000000);
    expect(flatValue({ action: 'punt', group: 0x300 })).toBe(0x40000000);
  });

  it('forward without a group encodes group 0, as the trie value does', () => {
    expect(flatValue({ action: 'forward' })).toBe(0x20000000);
  });

  it('a group id past 28 bits or negative is refused, not truncated into another group', () => {
    expect(() => flatValue({ action: 'forward', group: GROUP_ID_MAX + 1 })).toThrow(RangeError);
    expect(() => flatValue({ action: 'forward', group: -1 })).toThrow(RangeError);
    expect(() => flatValue({ action: 'forward', group: 1.5 })).toThrow(RangeError);
  });
});

describe('desiredState with flat tables', () => {
  const full = dump(desiredState(PLAN_A));

  it('no flat tables: every IPv4 entry is in fo_lpm4', () => {
    expect(full.fo_lpm4).toEqual({
      [K4['default@100']]: FWD(0x200),
      [K4['172.16/12@100']]: FWD(0x100),
      [K4['10/8@254']]: FWD(0x100),
      [hex('40000000 000000fe 0a090909')]: PUNT,
      [hex('30000000 000000fe c0a80000')]: FWD(0x200),
      [hex('40000000 000000fe ffffffff')]: PUNT,
    });
    expect(Object.keys(full.fo_lpm6)).toHaveLength(3);
  });

  it('table 254 flat: its IPv4 entries (forward and punt) leave fo_lpm4; table 100 and every IPv6 entry stay', () => {
    const d = dump(desiredState(PLAN_A, new Set(), new Set([254])));
    expect(d.fo_lpm4).toEqual({
      [K4['default@100']]: FWD(0x200),
      [K4['172.16/12@100']]: FWD(0x100),
    });
    expect(d.fo_lpm6).toEqual({
      [K6['2001:db8::/32@254']]: FWD(0x100),
      [K6['fe80::/10@254']]: PUNT,
      [K6['2001:db8:300::/48@300']]: FWD(0x200),
    });
    // Groups, egress and ports don't depend on which tables are flat.
    expect(d.fo_groups).toEqual(full.fo_groups);
    expect(Object.keys(d.fo_groups)).toEqual([encodeGroupKey(0x100).toString('hex'), encodeGroupKey(0x200).toString('hex')]);
    expect(d.fo_tx).toEqual(full.fo_tx);
    expect(d.fo_ports).toEqual(full.fo_ports);
  });

  it('both v4 tables flat: fo_lpm4 is empty, fo_lpm6 unchanged', () => {
    const d = dump(desiredState(PLAN_A, new Set(), new Set([100, 254])));
    expect(d.fo_lpm4).toEqual({});
    expect(d.fo_lpm6).toEqual(full.fo_lpm6);
  });

  it('a v6-only table or a table the plan lacks being "flat" changes nothing', () => {
    expect(dump(desiredState(PLAN_A, new Set(), new Set([300, 999])))).toEqual(full);
  });

  it('no usable XDP port: everything empty, flat or not', () => {
    expect(dump(desiredState(PLAN_A, new Set([2, 3]), new Set([254])))).toEqual(dump(emptyState()));
  });

  it('an unusable port and a flat table combine: the port leaves, the flat table\'s v4 entries still stay out of the trie', () => {
    const d = dump(desiredState(PLAN_A, new Set([3]), new Set([254])));
    expect(Object.keys(d.fo_tx)).toEqual(['02000000']);
    expect(Object.keys(d.fo_lpm4).sort()).toEqual([K4['default@100'], K4['172.16/12@100']].sort());
  });
});

describe('planOpsToMapOps with flat tables', () => {
  const planOps = diffPlans(PLAN_A, PLAN_B);

  it('the plan ops of A → B (the input under test)', () => {
    expect(planOps.map((o) => `${o.op} ${'entry' in o ? `${o.entry.table} ${o.entry.dst}` : ''}`.trim())).toEqual([
      'group-add',
      'entry-add 100 10.5.0.0/16',
      'entry-add 254 10.5.0.0/16',
      'entry-replace 254 10.9.9.9/32',
      'entry-add 254 2001:db8:5::/48',
      'entry-delete 100 172.16.0.0/12',
      'entry-delete 254 192.168.0.0/16',
      'entry-delete 254 fe80::/10',
    ]);
  });

  it('table 254 flat: its IPv4 ops become flat-set / flat-delete in place; table 100 and IPv6 stay LPM ops', () => {
    const ops = planOpsToMapOps(planOps, PLAN_B, new Set(), new Set([254]));
    expect(ops).not.toBeNull();
    const g3 = ops![0]!;
    expect(g3.op === 'set' && g3.map === 'fo_groups' && g3.add).toBe(true);
    expect(ops!.slice(1).map(describeOp)).toEqual([
      `set fo_lpm4 ${K4['10.5/16@100']} ${FWD(0x300)} add`,
      'flat-set 254 0xa050000/16 0x20000300 add',
      'flat-set 254 0xa090909/32 0x20000300 update',
      `set fo_lpm6 ${K6['2001:db8:5::/48@254']} ${FWD(0x300)} add`,
      `delete fo_lpm4 ${K4['172.16/12@100']}`,
      'flat-delete 254 0xc0a80000/16',
      `delete fo_lpm6 ${K6['fe80::/10@254']}`,
    ]);
    // Addresses are unsigned host-order numbers (192.168.0.0 is past 2^31).
    const del = ops!.find((o) => o.op === 'flat-delete')!;
    expect(del).toEqual({ op: 'flat-delete', table: 254, addr: 3232235520, len: 16 });
  });

  it('no flat tables: no flat ops at all, the same ops as without the argument', () => {
    const ops = planOpsToMapOps(planOps, PLAN_B, new Set(), new Set())!;
    expect(ops.some((o) => o.op === 'flat-set' || o.op === 'flat-delete')).toBe(false);
    expect(ops.map(describeOp)).toEqual(planOpsToMapOps(planOps, PLAN_B)!.map(describeOp));
    expect(ops.map(describeOp)).toContain(`delete fo_lpm4 ${hex('30000000 000000fe c0a80000')}`);
  });

  for (const flat of [[254], [100], [100, 254], []]) {
    it(`flat {${flat.join(', ')}}: applied to A's maps and flat arrays gives exactly B's`, () => {
      const f = new Set(flat);
      const ops = planOpsToMapOps(planOps, PLAN_B, new Set(), f)!;
      const [s, model] = apply(desiredState(PLAN_A, new Set(), f), flatModel(PLAN_A, f), ops);
      expect(dump(s)).toEqual(dump(desiredState(PLAN_B, new Set(), f)));
      expect(model).toEqual(flatModel(PLAN_B, f));
    });
  }

  it('flat model of B for table 254: exact routes and values, the punt kept as D24_PUNT', () => {
    expect([...flatModel(PLAN_B, new Set([254])).get(254)!]).toEqual([
      ['a000000/8', 0x20000100],
      ['a050000/16', 0x20000300],
      ['a090909/32', 0x20000300],
      ['ffffffff/32', 0x40000000],
    ]);
  });

  it('punt ↔ forward replaces in a flat table carry the new value and add=false', () => {
    const ops: PlanOp[] = [
      { op: 'entry-replace', entry: v4(254, '255.255.255.255/32', 0x100), old: v4(254, '255.255.255.255/32') },
      { op: 'entry-replace', entry: v4(254, '10.0.0.0/8'), old: v4(254, '10.0.0.0/8', 0x100) },
      { op: 'entry-add', entry: v4(254, '0.0.0.0/0') },
    ];
    expect(planOpsToMapOps(ops, PLAN_A, new Set(), new Set([254]))).toEqual([
      { op: 'flat-set', table: 254, addr: 0xffffffff, len: 32, value: 0x20000100, add: false },
      { op: 'flat-set', table: 254, addr: 0x0a000000, len: 8, value: 0x40000000, add: false },
      { op: 'flat-set', table: 254, addr: 0, len: 0, value: 0x40000000, add: true },
    ]);
  });

  it('a group id at the top of the range reaches the flat op intact', () => {
    const ops: PlanOp[] = [{ op: 'entry-add', entry: v4(254, '203.0.113.0/24', GROUP_ID_MAX) }];
    expect(planOpsToMapOps(ops, PLAN_A, new Set(), new Set([254]))).toEqual([
      { op: 'flat-set', table: 254, addr: 0xcb007100, len: 24, value: 0x2fffffff, add: true },
    ]);
  });

  it('a port op still means a full reconcile (null), flat tables or not', () => {
    const ops: PlanOp[] = [
      { op: 'entry-add', entry: v4(254, '10.5.0.0/16', 0x100) },
      { op: 'port-add', port: port(4, 'eth3', 'xdp') },
    ];
    expect(planOpsToMapOps(ops, PLAN_A, new Set(), new Set([254]))).toBeNull();
  });

  it('no usable XDP port: no ops, flat ones included', () => {
    expect(planOpsToMapOps(planOps, PLAN_B, new Set([2, 3]), new Set([254]))).toEqual([]);
  });
});
