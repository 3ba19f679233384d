// Policy rules in the plan: which table each offload port looks up, and what
// the rules leave to the kernel (ports or destination prefixes) with why.
import { describe, expect, it } from 'vitest';
import type { PolicyRule } from '../../src/model/rule.js';
import { buildPlan, diffPlans, planJson, type Plan, type PlanOptions } from '../../src/plan/index.js';
import { walkRules } from '../../src/plan/rules.js';
import { desiredState } from '../../src/xdp/state.js';
import { PlanState } from '../../src/plan/incremental.js';
import { tcPortsOf } from '../../src/tc/rules.js';
import { encodePortKey } from '../../src/xdp/layout.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, via } from './plan-helpers.js';

const R: PolicyRule = {
  family: 4, priority: 0, action: 'lookup', table: 0, src: null, srcLen: 0, dst: null, dstLen: 0, tos: 0, iif: null, oif: null,
  fwmark: null, fwmask: null, gotoTarget: null, suppressPrefixLen: null, suppressIfgroup: null, l3mdev: false, uidRange: null,
  ipProto: null, sportRange: null, dportRange: null, tunId: false, protocol: 0, flags: 0, unknownAttrs: [],
};
const rule = (o: Partial<PolicyRule>): PolicyRule => ({ ...R, ...o });

/** The kernel's defaults per family, with the l3mdev rule the vrf driver adds when the first VRF is created. */
const DEFAULTS: PolicyRule[] = [
  rule({ table: 255 }), rule({ priority: 1000, l3mdev: true }), rule({ priority: 32766, table: 254 }), rule({ priority: 32767, table: 253 }),
  rule({ family: 6, table: 255 }), rule({ family: 6, priority: 1000, l3mdev: true }), rule({ family: 6, priority: 32766, table: 254 }),
];
/** Defaults with `extra` inserted where the kernel would put them (by priority). */
const withRules = (...extra: PolicyRule[]): PolicyRule[] =>
  [...DEFAULTS, ...extra].sort((a, b) => a.family - b.family || a.priority - b.priority);

const LINKS = [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'eth3'), link(10, 'blue', { kind: 'vrf', vrfTable: 10, mac: '02:00:00:00:10:10' }), link(5, 'eth4', { master: 10 })];
const MAC_A = '0a:00:00:00:00:0a';
const MAC_B = '0a:00:00:00:00:0b';
const BASE = {
  links: LINKS,
  addresses: [addr(2, '192.168.1.1/24'), addr(3, '192.168.2.1/24'), addr(4, '2001:db8:4::1/64')],
  neighbors: [neigh(2, '192.168.1.2', MAC_A), neigh(3, '192.168.2.2', MAC_B), neigh(4, '2001:db8:4::2', MAC_A)],
  routes: [
    route('192.168.1.0/24', [dev(2)]),
    route('192.168.2.0/24', [dev(3)]),
    route('10.0.0.0/8', [via('192.168.1.2', 2)]),
    route('10.1.0.0/16', [via('192.168.2.2', 3)]),
    route('2001:db8:99::/48', [via('2001:db8:4::2', 4)]),
    route('172.16.0.0/12', [via('192.168.2.2', 3)], { table: 100 }),
    route('172.20.0.0/16', [via('192.168.1.2', 2)], { table: 10 }),
  ],
};
const OPTS: PlanOptions = { ports: ['eth*'] };
const planWith = (rules: PolicyRule[] | undefined, opts: PlanOptions = OPTS): Plan => buildPlan(mirrorOf({ ...BASE, ...(rules ? { rules } : {}) }), opts);
const port = (p: Plan, dev: string) => p.ports.find((x) => x.dev === dev)!;

describe('policy rules: the default rule set', () => {
  it('gives exactly the plan of a mirror without rules (VRF port included, with its l3mdev rule)', () => {
    const none = planWith(undefined);
    expect(planWith(DEFAULTS)).toEqual(none);
    expect(port(none, 'eth4').table).toBe(10);
    // plan --json says so too (the VM test of VRF on the XDP path reads it there).
    expect(planJson(none).ports.filter((x) => x.backend !== 'none').map((x) => [x.dev, x.table])).toEqual([['eth1', 254], ['eth2', 254], ['eth3', 254], ['eth4', 10]]);
    expect(none.policy).toBeUndefined();
    // Without the l3mdev rule the kernel looks a VRF port's traffic up in main, and so does the plan.
    expect(port(planWith(DEFAULTS.filter((r) => !r.l3mdev)), 'eth4').table).toBe(254);
  });

  it('a rule set moved around the way VRF guides do (local after l3mdev) changes nothing either', () => {
    const moved = [rule({ priority: 1000, l3mdev: true }), rule({ priority: 32765, table: 255 }), rule({ priority: 32766, table: 254 }),
      rule({ family: 6, priority: 1000, l3mdev: true }), rule({ family: 6, priority: 32765, table: 255 }), rule({ family: 6, priority: 32766, table: 254 })];
    expect(planWith(moved)).toEqual(planWith(undefined));
  });
});

describe('policy rules: what is honoured', () => {
  it('iif X lookup T (T offloaded): port X looks up T, the others main', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', table: 100 }), rule({ family: 6, priority: 100, iif: 'eth1', table: 100 })), { ...OPTS, tables: [254, 100] });
    expect([port(p, 'eth1').table, port(p, 'eth2').table, port(p, 'eth1').policy]).toEqual([100, 254, undefined]);
    expect(p.entries.some((e) => e.table === 100 && e.dst === '172.16.0.0/12' && e.action === 'forward')).toBe(true);
    expect(p.policy).toBeUndefined();
  });

  it('iif X lookup T with T not offloaded: port X left to the kernel, said why', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', table: 100 }), rule({ family: 6, priority: 100, iif: 'eth1', table: 100 })));
    expect(port(p, 'eth1').policy).toEqual({ reason: 'table-not-offloaded', rule: null });
    // IPv4 to table 100 and IPv6 to main: one port record can't hold both.
    expect(port(planWith(withRules(rule({ priority: 100, iif: 'eth1', table: 100 }))), 'eth1').policy?.reason).toBe('family-tables-differ');
    expect(port(p, 'eth2').policy).toBeUndefined();
  });

  it('oif rules never match forwarded traffic; iif of a missing device matches nothing', () => {
    const p = planWith(withRules(rule({ priority: 100, oif: 'eth1', action: 'blackhole' }), rule({ priority: 101, iif: 'gone0', action: 'prohibit' })));
    expect(p).toEqual(planWith(undefined));
  });

  it('a VRF port is matched by its VRF device name (the input device after the VRF receive hook)', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'blue', action: 'unreachable' })));
    expect(port(p, 'eth4').policy?.reason).toBe('unreachable');
    expect(port(p, 'eth1').policy).toBeUndefined();
    // `iif eth4` (the port under the VRF) is taken as matching as well: more to the kernel, never less.
    expect(port(planWith(withRules(rule({ priority: 100, iif: 'eth4', action: 'unreachable' }))), 'eth4').policy?.reason).toBe('unreachable');
  });

  it('to PREFIX lookup T: only PREFIX goes to the kernel, in the port table, whatever more specific routes it holds', () => {
    const p = planWith(withRules(rule({ priority: 100, dst: '10.1.0.0', dstLen: 16, table: 100 })));
    expect(p.entries.filter((e) => e.dst.startsWith('10.'))).toEqual([
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: expect.any(Number) },
      { table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'policy-rule' },
    ]);
    expect(p.ports.every((x) => x.policy === undefined)).toBe(true);
    expect(p.policy?.filter((x) => x.scope === 'prefix' && x.table === 254)).toEqual(['eth1', 'eth2', 'eth3'].map((d, i) => ({
      scope: 'prefix', ifindex: i + 2, dev: d, family: 4, table: 254, dst: '10.1.0.0/16', reason: 'other-table', rule: '100: from all to 10.1.0.0/16 lookup 100',
    })));
  });

  it('to PREFIX lookup main before main changes nothing', () => {
    expect(planWith(withRules(rule({ priority: 100, dst: '10.0.0.0', dstLen: 8, table: 254 }))).entries).toEqual(planWith(undefined).entries);
  });
});

describe('policy rules: what is handed to the kernel', () => {
  const cases: [string, Partial<PolicyRule>, string][] = [
    ['from PREFIX lookup T', { src: '10.10.1.0', srcLen: 24, table: 100 }, 'source'],
    ['fwmark', { fwmark: 1, fwmask: 0xffffffff, table: 100 }, 'fwmark'],
    ['uidrange', { uidRange: { start: 0, end: 10 }, table: 100 }, 'uidrange'],
    ['ipproto', { ipProto: 6, table: 100 }, 'ipproto'],
    ['dport', { dportRange: { start: 53, end: 53 }, table: 100 }, 'ports'],
    ['tos', { tos: 0x10, table: 100 }, 'tos'],
    ['an attribute the codec does not know', { unknownAttrs: [30], table: 254 }, 'unknown-selector'],
    ['suppress_prefixlength', { table: 254, suppressPrefixLen: 0 }, 'suppress'],
    ['goto', { action: 'goto', gotoTarget: 32766 }, 'goto'],
    ['blackhole', { action: 'blackhole' }, 'blackhole'],
    ['prohibit', { action: 'prohibit' }, 'prohibit'],
  ];
  it.each(cases)('%s: every port it could match, with the reason and the rule', (_name, o, reason) => {
    const r = rule({ priority: 100, ...o });
    const p = planWith(withRules(r));
    for (const d of ['eth1', 'eth2', 'eth3', 'eth4']) expect(port(p, d).policy?.reason).toBe(reason);
    expect(p.policy?.filter((x) => x.scope === 'port')).toHaveLength(4);
    // Entries are untouched: only ingress changes.
    expect(p.entries).toEqual(planWith(undefined).entries);
  });

  it('iif narrows a source rule to its port; the plan text and JSON say so', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', src: '10.10.1.0', srcLen: 24, table: 100 })));
    expect(p.ports.filter((x) => x.policy).map((x) => [x.dev, x.policy])).toEqual([['eth1', { reason: 'source', rule: '100: from 10.10.1.0/24 iif eth1 lookup 100' }]]);
    expect(planJson(p).policy).toEqual([{ scope: 'port', dev: 'eth1', ifindex: 2, family: 4, reason: 'source', rule: '100: from 10.10.1.0/24 iif eth1 lookup 100' }]);
  });

  it('a rule with a destination prefix narrows to that prefix whatever else it selects', () => {
    const p = planWith(withRules(rule({ priority: 100, src: '10.10.1.0', srcLen: 24, dst: '10.1.0.0', dstLen: 16, table: 100 })));
    expect(p.ports.every((x) => x.policy === undefined)).toBe(true);
    expect(p.entries.find((e) => e.dst === '10.1.0.0/16')).toEqual({ table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'policy-rule' });
    expect(p.policy?.[0]).toMatchObject({ scope: 'prefix', reason: 'source' });
  });

  it('an IPv6-only rule hands the whole port over (one port record for both families)', () => {
    const p = planWith(withRules(rule({ family: 6, priority: 100, iif: 'eth3', fwmark: 1, fwmask: 1, table: 100 })));
    expect(port(p, 'eth3').policy?.reason).toBe('fwmark');
    expect(p.policy).toEqual([{ scope: 'port', ifindex: 4, dev: 'eth3', family: 6, reason: 'fwmark', rule: '100: from all fwmark 0x1/0x1 iif eth3 lookup 100' }]);
  });

  it('inverted rules: "not iif X unreachable" takes every other port; an inverted rule that matches nothing of X is skipped for X', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', flags: 2, action: 'unreachable' })));
    expect(port(p, 'eth1').policy).toBeUndefined();
    expect(port(p, 'eth2').policy?.reason).toBe('unreachable');
    const q = planWith(withRules(rule({ priority: 100, iif: 'eth1', src: '10.0.0.0', srcLen: 8, flags: 2, table: 100 })));
    expect(port(q, 'eth1').policy?.reason).toBe('invert');
  });

  it('no lookup at all for a family: the kernel answers unreachable, the port stays with it', () => {
    const p = planWith([rule({ table: 255 }), rule({ priority: 32766, table: 254 }), rule({ family: 6, table: 255 })]);
    expect(port(p, 'eth1').policy).toEqual({ reason: 'no-lookup', rule: null });
  });

  it('XDP keeps a punted port as an egress (fo_tx) but gives it no ingress record (fo_ports)', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', src: '10.10.1.0', srcLen: 24, table: 100 })));
    const s = desiredState(p);
    expect(s.fo_ports.has(encodePortKey(2).toString('hex'))).toBe(false);
    expect(s.fo_ports.has(encodePortKey(3).toString('hex'))).toBe(true);
    expect(s.fo_tx.size).toBe(4);
  });

  it('a rule appearing is a port update in the diff (the backends move the port)', () => {
    const before = planWith(DEFAULTS);
    const after = planWith(withRules(rule({ priority: 100, iif: 'eth1', fwmark: 1, fwmask: 1, table: 100 })));
    expect(diffPlans(before, after).map((o) => o.op)).toEqual(['port-update']);
  });
});

describe('policy rules: backends and incremental planning', () => {
  it('tc: a punted port is an egress (ifindexes) but no member of its table\'s block', () => {
    const p = planWith(withRules(rule({ priority: 100, iif: 'eth1', fwmark: 1, fwmask: 1, table: 100 })), { ...OPTS, backendFor: () => 'tc' });
    const { byTable, ifindexes } = tcPortsOf(p);
    expect(byTable.get(254)!.map((x) => x.dev)).toEqual(['eth2', 'eth3']);
    expect(ifindexes.has(2)).toBe(true);
  });

  it('a rule event re-plans from scratch, to exactly what buildPlan gives', () => {
    const m = mirrorOf({ ...BASE, rules: DEFAULTS });
    const s0 = PlanState.build(m, OPTS);
    const d = m.apply({ kind: 'rule', op: 'new', rule: rule({ priority: 100, iif: 'eth2', src: '10.9.0.0', srcLen: 16, table: 100 }) });
    const step = s0.next(m, d, OPTS);
    expect(step.how).toBe('rules');
    expect(step.state.plan).toEqual(buildPlan(m, { ...OPTS, previous: s0.plan }));
    expect(port(step.state.plan, 'eth2').policy?.reason).toBe('source');
    expect(step.ops.map((o) => o.op)).toEqual(['port-update']);
  });
});

describe('walkRules', () => {
  const p = { ifindex: 2, dev: 'eth1', iifName: 'eth1', vrfTable: null };
  it('nop rules and lookups of the local table are passed over', () => {
    expect(walkRules([rule({ action: 'nop' }), rule({ table: 255, src: '10.0.0.0', srcLen: 8 }), rule({ priority: 5, table: 254 })], 4, p)).toEqual({ kind: 'table', table: 254, dsts: [] });
  });
  it('the l3mdev rule matches only VRF ports', () => {
    const rs = [rule({ priority: 1000, l3mdev: true }), rule({ priority: 32766, table: 254 })];
    expect(walkRules(rs, 4, p)).toMatchObject({ kind: 'table', table: 254 });
    expect(walkRules(rs, 4, { ...p, iifName: 'blue', vrfTable: 10 })).toMatchObject({ kind: 'table', table: 10 });
  });
});
