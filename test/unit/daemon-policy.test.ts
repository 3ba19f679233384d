// What the daemon shows of the policy rules: the fib_offload_policy_punted
// gauge and /status text, from a plan with port and prefix punts.
import { describe, expect, it } from 'vitest';
import type { PolicyRule } from '../../src/model/rule.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { updateGauges } from '../../src/daemon/report.js';
import { statusText, type StatusJson } from '../../src/daemon/status.js';
import { buildPlan } from '../../src/plan/index.js';
import { EntryStatus } from '../../src/reconcile/status.js';
import { planText } from '../../src/cli/plan.js';
import { Batcher } from '../../src/daemon/batcher.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, via } from './plan-helpers.js';

const R: PolicyRule = {
  family: 4, priority: 0, action: 'lookup', table: 0, src: null, srcLen: 0, dst: null, dstLen: 0, tos: 0, iif: null, oif: null,
  fwmark: null, fwmask: null, gotoTarget: null, suppressPrefixLen: null, suppressIfgroup: null, l3mdev: false, uidRange: null,
  ipProto: null, sportRange: null, dportRange: null, tunId: false, protocol: 0, flags: 0, unknownAttrs: [],
};
const rule = (o: Partial<PolicyRule>): PolicyRule => ({ ...R, ...o });

describe('policy punts in metrics and /status', () => {
  const mirror = mirrorOf({
    links: [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'eth3')],
    addresses: [addr(2, '192.168.1.1/24')],
    neighbors: [neigh(2, '192.168.1.2', '0a:00:00:00:00:0a')],
    routes: [route('192.168.1.0/24', [dev(2)]), route('10.0.0.0/8', [via('192.168.1.2', 2)])],
    rules: [
      rule({ table: 255 }),
      rule({ priority: 10, iif: 'eth1', fwmark: 1, fwmask: 1, table: 100 }),
      rule({ priority: 20, dst: '10.1.0.0', dstLen: 16, src: '10.9.0.0', srcLen: 16, table: 100 }),
      rule({ priority: 32766, table: 254 }),
      rule({ family: 6, table: 255 }), rule({ family: 6, priority: 32766, table: 254 }),
    ],
  });
  const plan = buildPlan(mirror, { ports: ['eth*'] });

  it('fib_offload_policy_punted counts ports once and prefixes per table', async () => {
    const m = new Metrics();
    updateGauges(m, mirror, plan, { backendFor: () => 'xdp', tcTables: new Map(), fallbacks: new Map() }, new EntryStatus(), ['xdp'], 0);
    const text = await m.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('fib_offload_policy_punted{'));
    expect(lines.sort()).toEqual([
      'fib_offload_policy_punted{reason="fwmark",scope="port"} 1',
      // eth2 and eth3 both hit it; one prefix of main.
      'fib_offload_policy_punted{reason="source",scope="prefix"} 1',
    ]);
  });

  it('plan text marks the port and lists each punt with its rule', () => {
    const text = planText(plan);
    expect(text).toContain('ports: eth1(xdp, ingress to kernel) eth2(xdp) eth3(xdp)');
    expect(text).toContain('policy rules: 3 handed to the kernel');
    expect(text).toContain('  port eth1: all traffic arriving: fwmark [10: from all fwmark 0x1/0x1 iif eth1 lookup 100] (IPv4)');
    expect(text).toContain('  table 254 10.1.0.0/16 (rule matched on eth3): source [20: from 10.9.0.0/16 to 10.1.0.0/16 lookup 100] (IPv4)');
    expect(text).toContain('  table 254 10.1.0.0/16 punt (policy-rule)');
  });

  it('/status text lists each punt with its rule', () => {
    const s = { policy: plan.policy ?? [], ports: [], failed: [], failedCount: 0, counts: null, events: { applied: 0, batches: 0, queueDepth: 0 } } as unknown as StatusJson;
    const text = statusText({ ...s, health: 'ready', startedAt: 'T', backend: 'xdp', lastResync: null, lastError: null, xdp: null, tc: null, fpm: null } as StatusJson);
    expect(text).toContain('policy: port eth1 to the kernel: fwmark [10: from all fwmark 0x1/0x1 iif eth1 lookup 100]');
    expect(text).toContain('policy: table 254 10.1.0.0/16 (from eth2) to the kernel: source [20: from 10.9.0.0/16 to 10.1.0.0/16 lookup 100]');
  });
});

describe('the daemon batcher', () => {
  it('carries a rule change into the pass (the planner re-plans on it)', () => {
    const m = mirrorOf({ links: [loopback(), link(2, 'eth1')], rules: [rule({ table: 255 }), rule({ priority: 32766, table: 254 })] });
    const b = new Batcher({ due: () => {} });
    b.push({ kind: 'rule', op: 'new', rule: rule({ priority: 100, iif: 'eth1', fwmark: 1, fwmask: 1, table: 100 }) }, 0n);
    const pass = b.take(m);
    expect(pass?.delta.rulesChanged).toBe(true);
    expect(m.policyRules()).toHaveLength(3);
  });
});
