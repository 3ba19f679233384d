// What the agent answers zebra per route: the mapping of plan, kernel and
// per-entry status to RTM_F_OFFLOAD / RTM_F_OFFLOAD|RTM_F_TRAP /
// RTM_F_OFFLOAD_FAILED / nothing yet, one row per case.
import { describe, expect, it } from 'vitest';
import { RTM_F_OFFLOAD, RTM_F_OFFLOAD_FAILED, RTM_F_TRAP } from '../../src/fpm/messages.js';
import { entryFor, VERDICT_FLAGS, verdictOf, type OffloadView, type ZebraRouteKey } from '../../src/fpm/verdict.js';
import { compareRows } from '../../src/plan/order.js';
import type { Plan, PlanEntry } from '../../src/plan/types.js';
import type { BackendName } from '../../src/reconcile/types.js';

const entries: PlanEntry[] = [
  { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 7 },
  { table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'egress-not-offloaded' },
  { table: 254, family: 4, dst: '192.0.2.0/24', action: 'forward', group: 9 },
  { table: 254, family: 4, dst: '198.51.100.0/24', action: 'forward', group: 8, reason: 'unresolved-neighbor' },
  { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: 7 },
  { table: 1001, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 11 },
];
// Group 9 carries a route MTU (README "How the plan is built"): tc leaves it to the kernel, XDP forwards what fits.
const plan: Plan = {
  ports: [], entries, skipped: [], ttlPunt: true, tables: [254, 1001],
  groups: [7, 8, 9, 11].map((id) => ({ id, key: `k${id}`, members: [], bucketBits: 0, buckets: [-1], ...(id === 9 ? { mtu: 1000 } : {}) })),
};

function view(opts: { kernel?: string[]; failed?: string[]; tc?: number[]; dry?: boolean } = {}): OffloadView {
  const kernel = new Set(opts.kernel ?? [
    '254|4|10.0.0.0/8', '254|4|10.1.0.0/16', '254|4|192.0.2.0/24', '254|4|198.51.100.0/24', '254|6|2001:db8::/32',
    '1001|4|10.0.0.0/8', '254|4|203.0.113.0/24', '300|4|10.0.0.0/8',
  ]);
  const failed = new Set(opts.failed ?? []);
  return {
    plan,
    kernelHas: (k) => kernel.has(k),
    backendOf: (t): BackendName => (opts.dry ? 'dry-run' : (opts.tc ?? []).includes(t) ? 'tc' : 'xdp'),
    failed: (b, s) => failed.has(`${b} ${s}`),
    kernelRoutes: () => kernel,
  };
}

const k = (table: number, family: 4 | 6, dst: string): ZebraRouteKey => ({ table, family, dst });

describe('FPM verdicts', () => {
  it.each([
    ['forwarded by XDP', view(), k(254, 4, '10.0.0.0/8'), 'offload', 'xdp'],
    ['forwarded by tc', view({ tc: [254] }), k(254, 4, '10.0.0.0/8'), 'offload', 'tc'],
    ['IPv6, same group', view(), k(254, 6, '2001:db8::/32'), 'offload', 'xdp'],
    ['a VRF table', view({ tc: [1001] }), k(1001, 4, '10.0.0.0/8'), 'offload', 'tc'],
    ['punted: egress not an offload port', view(), k(254, 4, '10.1.0.0/16'), 'kernel', 'egress-not-offloaded'],
    ['forward entry whose group has no usable member', view(), k(254, 4, '198.51.100.0/24'), 'kernel', 'unresolved-neighbor'],
    ['in the kernel, not in the plan', view(), k(254, 4, '203.0.113.0/24'), 'kernel', 'not in plan'],
    ['a table the agent does not offload', view(), k(300, 4, '10.0.0.0/8'), 'kernel', 'table not offloaded'],
    ['dry-run installs nothing', view({ dry: true }), k(254, 4, '10.0.0.0/8'), 'kernel', 'no backend installs it'],
    ['its entry failed', view({ failed: ['xdp entry 254|10.0.0.0/8'] }), k(254, 4, '10.0.0.0/8'), 'failed', 'xdp entry failed'],
    ['its group failed', view({ tc: [254], failed: ['tc group 7'] }), k(254, 6, '2001:db8::/32'), 'failed', 'tc group 7 failed'],
    ['the whole batch failed', view({ failed: ['xdp batch'] }), k(254, 4, '192.0.2.0/24'), 'failed', 'xdp batch failed'],
    ['a route MTU on tc: the kernel forwards it', view({ tc: [254] }), k(254, 4, '192.0.2.0/24'), 'kernel', 'route-mtu'],
    ['a route MTU on XDP: offloaded (longer packets go to the kernel)', view(), k(254, 4, '192.0.2.0/24'), 'offload', 'xdp'],
    ["another backend's failure is not this one's", view({ failed: ['tc entry 254|10.0.0.0/8'] }), k(254, 4, '10.0.0.0/8'), 'offload', 'xdp'],
    ['no kernel route (yet): no answer', view({ kernel: [] }), k(254, 4, '10.0.0.0/8'), 'wait', 'no kernel route'],
    ["zebra's local route (main table in FPM, local table in the kernel)", view({ kernel: ['255|4|10.0.0.1/32'] }), k(254, 4, '10.0.0.1/32'), 'kernel', 'local'],
  ] as const)('%s', (_name, v, key, verdict, why) => {
    const d = verdictOf(v, key);
    expect({ verdict: d.verdict, why: d.why }).toEqual({ verdict, why });
  });

  it('names the group of a forwarded route, so a group change re-evaluates it', () => {
    expect(verdictOf(view(), k(254, 4, '192.0.2.0/24'))).toEqual({ verdict: 'offload', why: 'xdp', group: 9 });
  });

  it('maps verdicts to rtm_flags: offload, offload|trap, offload_failed', () => {
    expect(VERDICT_FLAGS).toEqual({ offload: RTM_F_OFFLOAD, kernel: RTM_F_OFFLOAD | RTM_F_TRAP, failed: RTM_F_OFFLOAD_FAILED });
    expect([RTM_F_OFFLOAD, RTM_F_TRAP, RTM_F_OFFLOAD_FAILED]).toEqual([0x4000, 0x8000, 0x20000000]);
  });

  it('finds exactly the entry in a large sorted plan (nested prefixes, several tables, both families)', () => {
    let seed = 7;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const rows = new Map<string, PlanEntry>();
    for (let i = 0; i < 3000; i++) {
      const len = 8 + rnd(25);
      const a = (rnd(256) << 24 | rnd(256) << 16 | rnd(256) << 8) >>> 0;
      const net = len === 32 ? a : (a & ~((1 << (32 - len)) - 1)) >>> 0;
      const dst = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
      const table = [254, 1001, 7][rnd(3)]!;
      rows.set(`${table}|${dst}`, { table, family: 4, dst, action: 'forward', group: i });
    }
    for (const d of ['2001:db8::/32', '2001:db8::/48', 'fd00::/8']) rows.set(`254|${d}`, { table: 254, family: 6, dst: d, action: 'punt' });
    const sorted = [...rows.values()].sort(compareRows);
    const big: Plan = { ...plan, entries: sorted };
    const wrong = sorted.filter((e) => entryFor(big, e) !== e).map((e) => `${e.table} ${e.dst}`);
    expect(wrong).toEqual([]);
    expect(entryFor(big, k(254, 4, '0.0.0.0/0'))).toBeUndefined();
    expect(entryFor(big, k(2, 4, sorted[0]!.dst))).toBeUndefined();
  });

  it('finds every entry by binary search and misses what is absent', () => {
    for (const e of entries) expect(entryFor(plan, e)).toBe(e);
    expect(entryFor(plan, k(254, 4, '10.0.0.0/9'))).toBeUndefined();
    expect(entryFor(plan, k(254, 6, '2001:db8::/48'))).toBeUndefined();
    expect(entryFor(plan, k(1, 4, '10.0.0.0/8'))).toBeUndefined();
  });
});
