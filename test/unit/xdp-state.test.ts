// desiredState / diffStates / planOpsToMapOps (src/xdp/state.ts): what the
// XDP maps must hold for a plan and the ordered ops that get them there.
import { describe, it, expect } from 'vitest';
import { buildPlan, diffPlans, type Plan, type PlanGroup, type PlanOptions, type PlanPort } from '../../src/plan/index.js';
import type { KernelSnapshot } from '../../src/model/events.js';
import { encodeGroupKey, encodeLpmKey, encodePortKey, encodeU32 } from '../../src/xdp/layout.js';
import {
  PLAN_MAPS,
  desiredState,
  diffStates,
  emptyState,
  planOpsToMapOps,
  type MapOp,
  type PlanMap,
  type XdpState,
} from '../../src/xdp/state.js';
import { addr, dev, link, loopback, macOf, mirrorOf, neigh, route, via } from './plan-helpers.js';

const hex = (s: string): string => s.replace(/\s+/g, '');

/** Map contents as { keyHex: valueHex }, per plan map. */
function dump(s: XdpState): Record<PlanMap, Record<string, string>> {
  const out = {} as Record<PlanMap, Record<string, string>>;
  for (const m of PLAN_MAPS) {
    out[m] = {};
    for (const [k, { key, value }] of s[m]) {
      expect(key.toString('hex')).toBe(k);
      out[m][k] = value.toString('hex');
    }
  }
  return out;
}

/**
 * A 1800-byte fo_group_val written by hand: header + bucket bytes at 0,
 * members at 264 + 24 i. A member given as its first 16 bytes (ifindex,
 * dmac, smac) gets the untagged rest: vid 0, mtu 0, port = ifindex.
 */
function groupBytes(headAndBuckets: string, members: string[]): string {
  const b = Buffer.alloc(1800);
  Buffer.from(hex(headAndBuckets), 'hex').copy(b, 0);
  members.forEach((m, i) => {
    const full = hex(m).length === 32 ? hex(m) + '00000000' + hex(m).slice(0, 8) : hex(m);
    Buffer.from(full, 'hex').copy(b, 264 + 24 * i);
  });
  return b.toString('hex');
}

function cloneState(s: XdpState): XdpState {
  const c = emptyState();
  for (const m of PLAN_MAPS) for (const [k, v] of s[m]) c[m].set(k, { key: Buffer.from(v.key), value: Buffer.from(v.value) });
  return c;
}

/**
 * What the program could see at any moment: a forward route's group exists,
 * and a bucket that isn't punted names a member whose egress is in fo_tx.
 */
function consistent(s: XdpState): string[] {
  const problems: string[] = [];
  for (const m of ['fo_lpm4', 'fo_lpm6'] as const) {
    for (const [k, { value }] of s[m]) {
      if (value.readUInt32LE(0) !== 0) continue;
      const g = value.readUInt32LE(4);
      if (!s.fo_groups.has(encodeGroupKey(g).toString('hex'))) problems.push(`${m} ${k} -> missing group ${g}`);
    }
  }
  for (const [k, { value }] of s.fo_groups) {
    const n = value.readUInt32LE(0) + 1;
    for (let i = 0; i < n; i++) {
      const t = value[8 + i]!;
      if (t === 0xff) continue;
      const ifindex = value.readUInt32LE(264 + 24 * t);
      if (!s.fo_tx.has(encodeU32(ifindex).toString('hex'))) problems.push(`group ${k} bucket ${i} -> ifindex ${ifindex} not in fo_tx`);
    }
  }
  return problems;
}

/**
 * Apply ops to a copy of `start` as the maps would, checking each op's add
 * flag against what is there and the state's consistency after every op.
 */
function apply(start: XdpState, ops: readonly MapOp[]): XdpState {
  const s = cloneState(start);
  for (const op of ops) {
    const k = op.key.toString('hex');
    const had = s[op.map].has(k);
    if (op.op === 'set') {
      expect(had, `${op.map} ${k}: add=${op.add} but present=${had}`).toBe(!op.add);
      s[op.map].set(k, { key: op.key, value: op.value });
    } else {
      expect(had, `delete of absent ${op.map} ${k}`).toBe(true);
      s[op.map].delete(k);
    }
    expect(consistent(s), `after ${op.op} ${op.map} ${k}`).toEqual([]);
  }
  return s;
}

const describeOp = (o: MapOp): string => (o.op === 'set' ? `set ${o.map} ${o.key.toString('hex')} ${o.add ? 'add' : 'update'}` : `delete ${o.map} ${o.key.toString('hex')}`);

// ---------------------------------------------------------------------------
// A hand-built plan with exact expected bytes.

const port = (ifindex: number, name: string, backend: PlanPort['backend'], table = 254): PlanPort =>
  ({ ifindex, dev: name, backend, mac: ifindex === 1 ? '00:00:00:00:00:00' : macOf(ifindex), table });

const MAC_A = '0a:00:00:00:00:0a';
const MAC_B = '0a:00:00:00:00:0b';
const MAC_C = '0a:00:00:00:00:0c';

const member = (ifindex: number, name: string, dmac: string) =>
  ({ dev: name, ifindex, dmac, smac: macOf(ifindex), weight: 1, via: `gw${ifindex}` });

// G1: ECMP over eth1 (XDP) and eth3 (tc: not reachable through the devmap).
const G1: PlanGroup = {
  id: 0x100, key: 'g1', members: [member(2, 'eth1', MAC_A), member(5, 'eth3', MAC_C)], bucketBits: 2, buckets: [0, 1, 0, 1],
};
// G2: one member on eth2 and one bucket the plan itself punts.
const G2: PlanGroup = { id: 0x200, key: 'g2', members: [member(3, 'eth2', MAC_B)], bucketBits: 1, buckets: [0, -1] };

const PLAN_A: Plan = {
  ports: [port(1, 'lo', 'none'), port(2, 'eth1', 'xdp'), port(3, 'eth2', 'xdp', 100), port(4, 'mgmt0', 'none'), port(5, 'eth3', 'tc')],
  groups: [G1, G2],
  entries: [
    { table: 100, family: 4, dst: '0.0.0.0/0', action: 'forward', group: 0x200 },
    { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 0x100 },
    { table: 254, family: 4, dst: '10.9.9.9/32', action: 'punt', reason: 'local' },
    { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: 0x100 },
    { table: 254, family: 6, dst: 'fe80::/10', action: 'punt', reason: 'link-local' },
  ],
  skipped: [],
  ttlPunt: true,
  tables: [100, 254],
};

const G1_XDP = groupBytes('03000000 02000000 00ff00ff', ['02000000 0a000000000a 020000000002', '05000000 0a000000000c 020000000005']);
const G2_XDP = groupBytes('01000000 01000000 00ff', ['03000000 0a000000000b 020000000003']);
const LPM4 = {
  'default@100': hex('20000000 00000064 00000000'),
  '10/8': hex('28000000 000000fe 0a000000'),
  '10.9.9.9/32': hex('40000000 000000fe 0a090909'),
};
const LPM6 = {
  '2001:db8::/32': hex('40000000 000000fe 20010db8000000000000000000000000'),
  'fe80::/10': hex('2a000000 000000fe fe800000000000000000000000000000'),
};

describe('desiredState', () => {
  it('exact contents: XDP ports only, non-XDP members punted, forward and punt routes in v4 and v6', () => {
    expect(dump(desiredState(PLAN_A))).toEqual({
      fo_tx: { '02000000': '02000000', '03000000': '03000000' },
      fo_groups: { '00010000': G1_XDP, '00020000': G2_XDP },
      fo_lpm4: {
        [LPM4['default@100']]: hex('00000000 00020000'),
        [LPM4['10/8']]: hex('00000000 00010000'),
        [LPM4['10.9.9.9/32']]: hex('01000000 00000000'),
      },
      fo_lpm6: {
        [LPM6['2001:db8::/32']]: hex('00000000 00010000'),
        [LPM6['fe80::/10']]: hex('01000000 00000000'),
      },
      fo_ports: {
        '0200000000000000': hex('fe000000 020000000002 0000 02000000'),
        '0300000000000000': hex('64000000 020000000003 0000 03000000'),
      },
    });
  });

  it('unusable: the port leaves fo_ports and fo_tx, buckets of its members punt, routes stay', () => {
    const d = dump(desiredState(PLAN_A, new Set([3])));
    expect(d.fo_tx).toEqual({ '02000000': '02000000' });
    expect(d.fo_ports).toEqual({ '0200000000000000': hex('fe000000 020000000002 0000 02000000') });
    expect(d.fo_groups).toEqual({
      '00010000': G1_XDP,
      // Member still listed (its MAC stays in the value), every bucket punts.
      '00020000': groupBytes('01000000 01000000 ffff', ['03000000 0a000000000b 020000000003']),
    });
    expect(Object.keys(d.fo_lpm4)).toHaveLength(3);
    expect(Object.keys(d.fo_lpm6)).toHaveLength(2);
    expect(consistent(desiredState(PLAN_A, new Set([3])))).toEqual([]);
  });

  it('no usable XDP port: every map is empty', () => {
    expect(dump(desiredState(PLAN_A, new Set([2, 3])))).toEqual(dump(emptyState()));
    const tcOnly: Plan = { ...PLAN_A, ports: PLAN_A.ports.map((p) => (p.backend === 'xdp' ? { ...p, backend: 'tc' as const } : p)) };
    expect(dump(desiredState(tcOnly))).toEqual(dump(emptyState()));
  });

  it('an XDP port without a MAC is not a port', () => {
    const noMac: Plan = { ...PLAN_A, ports: PLAN_A.ports.map((p) => (p.ifindex === 3 ? { ...p, mac: null } : p)) };
    const d = dump(desiredState(noMac));
    expect(Object.keys(d.fo_tx)).toEqual(['02000000']);
    expect(d.fo_groups['00020000']).toBe(groupBytes('01000000 01000000 ffff', ['03000000 0a000000000b 020000000003']));
  });

  it('from buildPlan: an ECMP member behind a tc port gets 0xff buckets, the XDP member keeps its own', () => {
    const m = mirrorOf({
      links: [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'mgmt0'), link(5, 'eth3')],
      addresses: [addr(2, '192.168.1.1/24')],
      neighbors: [
        neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(5, '192.168.3.2', MAC_C),
        neigh(2, 'fe80::a', MAC_A), neigh(5, 'fe80::c', MAC_C),
      ],
      routes: [
        route('192.168.1.0/24', [dev(2)]),
        route('10.0.0.0/8', [via('192.168.1.2', 2), via('192.168.3.2', 5)]),
        route('10.1.0.0/16', [via('192.168.2.2', 3)]),
        route('2001:db8::/32', [via('fe80::a', 2), via('fe80::c', 5)]),
      ],
    });
    const plan = buildPlan(m, { ports: ['eth*'], backendFor: (l) => (l.name === 'eth3' ? 'tc' : 'xdp') });
    expect(plan.ports.map((p) => p.backend)).toEqual(['none', 'xdp', 'xdp', 'none', 'tc']);
    const s = desiredState(plan);
    expect([...s.fo_tx.keys()]).toEqual(['02000000', '03000000']);
    expect([...s.fo_ports.keys()]).toEqual(['0200000000000000', '0300000000000000']);
    const ecmp = plan.groups.filter((g) => g.members.length === 2);
    expect(ecmp).toHaveLength(2);
    for (const g of ecmp) {
      expect(g.members.map((x) => x.dev)).toEqual(['eth1', 'eth3']);
      expect(g.buckets).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
      const v = s.fo_groups.get(encodeGroupKey(g.id).toString('hex'))!.value;
      expect(v.subarray(0, 16).toString('hex')).toBe(hex('07000000 02000000 00000000 ffffffff'));
      expect(v.subarray(264, 312).toString('hex'))
        .toBe(hex(`02000000 0a000000000a 020000000002 0000 0000 02000000 05000000 0a000000000c 020000000005 0000 0000 05000000`));
    }
    expect(s.fo_groups.size).toBe(plan.groups.length);
    expect(s.fo_lpm4.size + s.fo_lpm6.size).toBe(plan.entries.length);
    expect(s.fo_lpm6.size).toBe(plan.entries.filter((e) => e.family === 6).length);
    expect(consistent(s)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

// B: eth2 leaves (backend none), eth3 becomes XDP; G1 is now fully reachable,
// G2 goes, G3 (eth3) comes; one v4 route changes punt → forward, one is added,
// one deleted; one v6 route is added.
const G3: PlanGroup = { id: 0x300, key: 'g3', members: [member(5, 'eth3', MAC_C)], bucketBits: 0, buckets: [0] };
const PLAN_B: Plan = {
  ports: [port(1, 'lo', 'none'), port(2, 'eth1', 'xdp'), port(3, 'eth2', 'none', 100), port(4, 'mgmt0', 'none'), port(5, 'eth3', 'xdp')],
  groups: [G1, G3],
  entries: [
    { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 0x100 },
    { table: 254, family: 4, dst: '10.5.0.0/16', action: 'forward', group: 0x300 },
    { table: 254, family: 4, dst: '10.9.9.9/32', action: 'forward', group: 0x300 },
    { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: 0x100 },
    { table: 254, family: 6, dst: '2001:db8:5::/48', action: 'forward', group: 0x300 },
    { table: 254, family: 6, dst: 'fe80::/10', action: 'punt', reason: 'link-local' },
  ],
  skipped: [],
  ttlPunt: true,
  tables: [254],
};

describe('diffStates', () => {
  it('identical states give no ops (also with distinct Buffer objects)', () => {
    const s = desiredState(PLAN_A);
    expect(diffStates(s, s)).toEqual([]);
    expect(diffStates(s, desiredState(PLAN_A))).toEqual([]);
    expect(diffStates(emptyState(), emptyState())).toEqual([]);
  });

  it('from empty: adds only, egress and groups before routes, ingress ports last', () => {
    const ops = diffStates(emptyState(), desiredState(PLAN_A));
    expect(ops.map(describeOp)).toEqual([
      'set fo_tx 02000000 add',
      'set fo_tx 03000000 add',
      'set fo_groups 00010000 add',
      'set fo_groups 00020000 add',
      `set fo_lpm4 ${LPM4['default@100']} add`,
      `set fo_lpm4 ${LPM4['10/8']} add`,
      `set fo_lpm4 ${LPM4['10.9.9.9/32']} add`,
      `set fo_lpm6 ${LPM6['2001:db8::/32']} add`,
      `set fo_lpm6 ${LPM6['fe80::/10']} add`,
      'set fo_ports 0200000000000000 add',
      'set fo_ports 0300000000000000 add',
    ]);
    expect(dump(apply(emptyState(), ops))).toEqual(dump(desiredState(PLAN_A)));
  });

  it('to empty: deletes in the order ports, lpm, groups, tx', () => {
    const ops = diffStates(desiredState(PLAN_A), emptyState());
    expect(ops.map(describeOp)).toEqual([
      'delete fo_ports 0200000000000000',
      'delete fo_ports 0300000000000000',
      `delete fo_lpm4 ${LPM4['default@100']}`,
      `delete fo_lpm4 ${LPM4['10/8']}`,
      `delete fo_lpm4 ${LPM4['10.9.9.9/32']}`,
      `delete fo_lpm6 ${LPM6['2001:db8::/32']}`,
      `delete fo_lpm6 ${LPM6['fe80::/10']}`,
      'delete fo_groups 00010000',
      'delete fo_groups 00020000',
      'delete fo_tx 02000000',
      'delete fo_tx 03000000',
    ]);
    expect(dump(apply(desiredState(PLAN_A), ops))).toEqual(dump(emptyState()));
  });

  it('A → B: exact ops, adds vs updates, safe after every op', () => {
    const a = desiredState(PLAN_A);
    const b = desiredState(PLAN_B);
    const ops = diffStates(a, b);
    expect(ops.map(describeOp)).toEqual([
      'set fo_tx 05000000 add',
      'set fo_groups 00010000 update',
      'set fo_groups 00030000 add',
      `set fo_lpm4 ${hex('30000000 000000fe 0a050000')} add`,
      `set fo_lpm4 ${LPM4['10.9.9.9/32']} update`,
      `set fo_lpm6 ${hex('50000000 000000fe 20010db8000500000000000000000000')} add`,
      'set fo_ports 0500000000000000 add',
      'delete fo_ports 0300000000000000',
      `delete fo_lpm4 ${LPM4['default@100']}`,
      'delete fo_groups 00020000',
      'delete fo_tx 03000000',
    ]);
    // G1 now reaches eth3: its buckets are the plan's own.
    const g1 = ops[1]!;
    expect(g1.op === 'set' && g1.value.subarray(0, 12).toString('hex')).toBe(hex('03000000 02000000 00010001'));
    const r = ops[4]!;
    expect(r.op === 'set' && r.value.toString('hex')).toBe(hex('00000000 00030000'));
    expect(dump(apply(a, ops))).toEqual(dump(b));
    // And back.
    expect(dump(apply(b, diffStates(b, a)))).toEqual(dump(a));
  });

  it('an unusable port: its fo_tx/fo_ports entries go last, its members\' buckets punt first', () => {
    const a = desiredState(PLAN_A);
    const ops = diffStates(a, desiredState(PLAN_A, new Set([3])));
    expect(ops.map(describeOp)).toEqual([
      'set fo_groups 00020000 update',
      'delete fo_ports 0300000000000000',
      'delete fo_tx 03000000',
    ]);
    apply(a, ops);
  });
});

// ---------------------------------------------------------------------------
// Plans from mirrors: the incremental path against the full one.

const OPTS: PlanOptions = { ports: ['eth*'] };
const LINKS = [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'mgmt0'), link(5, 'eth3')];
const BASE: Partial<KernelSnapshot> = {
  links: LINKS,
  addresses: [addr(1, '10.9.9.9/32'), addr(2, '192.168.1.1/24'), addr(3, '192.168.2.1/24'), addr(5, '192.168.3.1/24')],
  neighbors: [
    neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(5, '192.168.3.2', MAC_C),
    neigh(2, 'fe80::a', MAC_A), neigh(3, 'fe80::b', MAC_B),
  ],
  routes: [
    route('192.168.1.0/24', [dev(2)]),
    route('192.168.2.0/24', [dev(3)]),
    route('10.0.0.0/8', [via('192.168.1.2', 2)]),
    route('10.1.0.0/16', [via('192.168.2.2', 3), via('192.168.3.2', 5)]),
    route('10.2.0.0/16', [via('192.168.2.2', 3)]),
    route('2001:db8::/32', [via('fe80::a', 2), via('fe80::b', 3)]),
    route('2001:db8:1::/48', [via('fe80::b', 3)]),
  ],
};

/** Plan of BASE, and of BASE changed by `edit`, built with `previous`. */
function pair(edit: (s: Partial<KernelSnapshot>) => Partial<KernelSnapshot>, opts: PlanOptions = OPTS): [Plan, Plan] {
  const a = buildPlan(mirrorOf(BASE), opts);
  const b = buildPlan(mirrorOf(edit(BASE)), { ...opts, previous: a });
  return [a, b];
}

const routes = BASE.routes!;
/** [name, edit, the plan ops diffPlans must give (exactly, or `contains` these kinds)]. */
const SCENARIOS: Array<[string, (s: Partial<KernelSnapshot>) => Partial<KernelSnapshot>, string[] | { contains: string[] }]> = [
  ['v4 route added over a new ECMP group', (s) => ({ ...s, routes: [...routes, route('10.3.0.0/16', [via('192.168.1.2', 2), via('192.168.3.2', 5)])] }), ['group-add', 'entry-add']],
  ['v4 route added over an existing group', (s) => ({ ...s, routes: [...routes, route('172.16.0.0/12', [via('192.168.2.2', 3)])] }), ['entry-add']],
  ['v4 route removed, its group goes', (s) => ({ ...s, routes: routes.filter((r) => r.dst !== '10.2.0.0' && r.dst !== '10.1.0.0') }), ['entry-delete', 'entry-delete', 'group-delete']],
  ['v4 route moved to another nexthop', (s) => ({ ...s, routes: routes.map((r) => (r.dst === '10.0.0.0' ? route('10.0.0.0/8', [via('192.168.2.2', 3)]) : r)) }), ['entry-replace']],
  ['v4 route becomes a blackhole (forward → punt)', (s) => ({ ...s, routes: routes.map((r) => (r.dst === '10.2.0.0' ? route('10.2.0.0/16', [], { type: 'blackhole' }) : r)) }), ['entry-replace']],
  ['v6 route added and one removed', (s) => ({
    ...s, routes: [...routes.filter((r) => r.dst !== '2001:db8:1::'), route('2001:db8:2::/48', [via('fe80::a', 2)])],
  }), ['group-add', 'entry-add', 'entry-delete', 'group-delete']],
  ['ECMP member unresolved (group content changes, entries stay)', (s) => ({
    ...s, neighbors: s.neighbors!.map((n) => (n.address === '192.168.3.2' ? neigh(5, '192.168.3.2', null, 'failed') : n)),
  }), ['group-update']],
  ['everything removed but the connected subnets', (s) => ({ ...s, routes: routes.filter((r) => r.nexthops.every((n) => n.gateway === null)) }),
    [...Array<string>(6).fill('entry-delete'), 'group-delete', 'group-delete', 'group-delete']],
  ['several changes at once', (s) => ({
    ...s,
    neighbors: s.neighbors!.map((n) => (n.address === 'fe80::b' ? neigh(3, 'fe80::b', '0a:00:00:00:99:99') : n)),
    routes: [
      ...routes.filter((r) => r.dst !== '10.0.0.0').map((r) => (r.dst === '10.2.0.0' ? route('10.2.0.0/16', [via('192.168.3.2', 5)]) : r)),
      route('0.0.0.0/0', [via('192.168.1.2', 2), via('192.168.2.2', 3)]),
      route('::/0', [via('fe80::a', 2)]),
    ],
  }), { contains: ['group-add', 'group-update', 'entry-add', 'entry-replace', 'entry-delete'] }],
];

describe('neighbour MAC change', () => {
  it('is exactly one fo_groups update through diffStates and through planOpsToMapOps', () => {
    const newMac = '0a:00:00:00:99:99';
    const [a, b] = pair((s) => ({ ...s, neighbors: s.neighbors!.map((n) => (n.address === '192.168.1.2' ? neigh(2, '192.168.1.2', newMac) : n)) }));
    const g = a.groups.find((x) => x.key === '2/192.168.1.2@1')!;
    expect(b.groups.find((x) => x.key === g.key)!.id).toBe(g.id);

    const full = diffStates(desiredState(a), desiredState(b));
    const inc = planOpsToMapOps(diffPlans(a, b), b);
    expect(full.map(describeOp)).toEqual([`set fo_groups ${encodeGroupKey(g.id).toString('hex')} update`]);
    expect(inc).not.toBeNull();
    expect(inc!.map(describeOp)).toEqual([`set fo_groups ${encodeGroupKey(g.id).toString('hex')} update`]);
    const value = (full[0] as Extract<MapOp, { op: 'set' }>).value;
    expect((inc![0] as Extract<MapOp, { op: 'set' }>).value.equals(value)).toBe(true);
    // Header, single bucket → member 0, member 0 = eth1 with the new dmac.
    expect(value.subarray(0, 9).toString('hex')).toBe(hex('00000000 01000000 00'));
    expect(value.subarray(264, 280).toString('hex')).toBe(hex('02000000 0a0000009999 020000000002'));
  });
});

describe('planOpsToMapOps', () => {
  it('returns null when the plan ops include a port change', () => {
    const [a, added] = pair((s) => ({ ...s, links: [...LINKS, link(6, 'eth4')] }));
    expect(diffPlans(a, added).map((o) => o.op)).toContain('port-add');
    expect(planOpsToMapOps(diffPlans(a, added), added)).toBeNull();

    const [, macChanged] = pair((s) => ({ ...s, links: LINKS.map((l) => (l.ifindex === 3 ? { ...l, mac: '02:00:00:00:aa:aa' } : l)) }));
    expect(diffPlans(a, macChanged).map((o) => o.op)).toContain('port-update');
    expect(planOpsToMapOps(diffPlans(a, macChanged), macChanged)).toBeNull();

    const [, removed] = pair((s) => s, { ...OPTS, ports: ['eth1', 'eth2'] });
    const ops = diffPlans(a, removed);
    expect(ops.map((o) => o.op)).toContain('port-delete');
    expect(planOpsToMapOps(ops, removed)).toBeNull();
  });

  it('no plan ops, no map ops', () => {
    const [a, b] = pair((s) => s);
    expect(diffPlans(a, b)).toEqual([]);
    expect(planOpsToMapOps([], b)).toEqual([]);
  });

  for (const [name, edit, kinds] of SCENARIOS) {
    it(`applied to desiredState(a) gives exactly desiredState(b): ${name}`, () => {
      const [a, b] = pair(edit);
      const planOps = diffPlans(a, b);
      const got = planOps.map((o) => o.op);
      if (Array.isArray(kinds)) expect(got).toEqual(kinds);
      else for (const k of kinds.contains) expect(got).toContain(k);
      const ops = planOpsToMapOps(planOps, b);
      expect(ops).not.toBeNull();
      const start = desiredState(a);
      expect(consistent(start)).toEqual([]);
      expect(dump(apply(start, ops!))).toEqual(dump(desiredState(b)));
      // The full path lands on the same state.
      expect(dump(apply(start, diffStates(start, desiredState(b))))).toEqual(dump(desiredState(b)));
    });
  }

  it('with an unusable port, the incremental path matches desiredState(…, unusable)', () => {
    const unusable = new Set([5]);
    const [a, b] = pair(SCENARIOS[0]![1]);
    const ops = planOpsToMapOps(diffPlans(a, b), b, unusable)!;
    expect(dump(apply(desiredState(a, unusable), ops))).toEqual(dump(desiredState(b, unusable)));
  });

  // desiredState leaves every map empty when no XDP port is usable (all
  // refused, or only tc ports), but planOpsToMapOps still writes groups and
  // routes: the incremental path and a reconcile disagree.
  it('with no usable XDP port, the incremental path keeps the maps empty like desiredState', () => {
    const unusable = new Set([2, 3, 5]);
    const [a, b] = pair(SCENARIOS[0]![1]);
    expect(dump(desiredState(a, unusable))).toEqual(dump(emptyState()));
    const ops = planOpsToMapOps(diffPlans(a, b), b, unusable)!;
    expect(ops.map(describeOp)).toEqual([]);
  });

  it('tc-only plan: the incremental path keeps the XDP maps empty like desiredState', () => {
    const tc: PlanOptions = { ...OPTS, backendFor: () => 'tc' };
    const [a, b] = pair(SCENARIOS[0]![1], tc);
    expect(dump(desiredState(b))).toEqual(dump(emptyState()));
    const ops = planOpsToMapOps(diffPlans(a, b), b)!;
    expect(ops.map(describeOp)).toEqual([]);
  });
});
