// Netfilter detection: the nf_tables codec against real dumps and
// notifications captured by scripts/capture-nftables.ts (kernel 6.18,
// nftables 1.0.6), what the planner makes of each kind of hook, and the
// mirror/incremental path a change takes.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/daemon/batcher.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { updateGauges } from '../../src/daemon/report.js';
import { statusText, type StatusJson } from '../../src/daemon/status.js';
import { planText } from '../../src/cli/plan.js';
import type { FirewallState, NftChain } from '../../src/model/firewall.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';
import {
  decodeNftChain, decodeNftRule, decodeNftTable, joinChains, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE, NFT_MSG_NEWTABLE, nftMsgOf,
} from '../../src/netlink/codec/nftables.js';
import { firewallHooks } from '../../src/plan/firewall.js';
import { buildPlan, diffPlans } from '../../src/plan/index.js';
import { PlanState } from '../../src/plan/incremental.js';
import { planJson } from '../../src/plan/json.js';
import { EntryStatus } from '../../src/reconcile/status.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, via } from './plan-helpers.js';

interface Msg { readonly type: number; readonly flags: number; readonly hex: string }
interface Dump { readonly tables: Msg[]; readonly chains: Msg[]; readonly rules: Msg[] }
interface Fx { readonly initial: Dump; readonly full: Dump; readonly after: Dump; readonly segments: { label: string; command: string; messages: Msg[] }[] }

const fx = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netfilter', 'nftables.json'), 'utf8')) as Fx;

function each<T>(msgs: readonly Msg[], f: (b: Buffer, off: number, end: number) => T | null): T[] {
  const out: T[] = [];
  for (const m of msgs) forEachMessage(Buffer.from(m.hex, 'hex'), (_t, _f, _s, _p, b, off, end) => { const v = f(b, off, end); if (v !== null) out.push(v); });
  return out;
}

/** What dumpNftChains builds from the three dumps (its own join, on captured bytes). */
function chainsOf(d: Dump): NftChain[] {
  return joinChains(each(d.tables, decodeNftTable), each(d.chains, decodeNftChain), each(d.rules, decodeNftRule));
}

const stateOf = (d: Dump, legacy: FirewallState['legacy'] = { ipv4: [], ipv6: [] }): FirewallState => ({ nft: chainsOf(d), legacy });

describe('nf_tables codec (captured)', () => {
  it('decodes every chain of the full ruleset with its hook, policy, devices, rule count and dormancy', () => {
    const byName = new Map(chainsOf(fx.full).map((c) => [`${c.family} ${c.table} ${c.chain}`, c]));
    expect([...byName.keys()].sort()).toEqual([
      'inet filter blocked', 'inet filter forward', 'inet filter input', 'ip dorm fw', 'ip filter FORWARD', 'ip nat postrouting',
      'ip6 raw6 pre', 'netdev nd in',
    ]);
    expect(byName.get('inet filter forward')).toMatchObject({ hook: 'forward', policy: 'drop', rules: 1, type: 'filter', dormant: false, priority: 0 });
    expect(byName.get('inet filter input')).toMatchObject({ hook: 'input', policy: 'drop', rules: 0 });
    expect(byName.get('inet filter blocked')).toMatchObject({ hook: null, policy: null, rules: 1 });
    expect(byName.get('ip nat postrouting')).toMatchObject({ hook: 'postrouting', policy: 'accept', type: 'nat', priority: 100, rules: 1 });
    // The kernel sends one device both as NFTA_HOOK_DEV and in NFTA_HOOK_DEVS: listed once.
    expect(byName.get('netdev nd in')).toMatchObject({ hook: 'ingress', devices: ['v0'], rules: 1 });
    expect(byName.get('ip dorm fw')).toMatchObject({ hook: 'forward', policy: 'drop', dormant: true });
    expect(byName.get('ip6 raw6 pre')).toMatchObject({ hook: 'prerouting', priority: -300, rules: 1 });
    expect(byName.get('ip filter FORWARD')).toMatchObject({ hook: 'forward', policy: 'accept', rules: 1 });
  });

  it('a fresh namespace has no tables, chains or rules', () => {
    expect(chainsOf(fx.initial)).toEqual([]);
  });

  it('notifications carry the same messages: a policy change is a NEWCHAIN with the new policy', () => {
    const seg = fx.segments.find((s) => s.label === 'forward-policy-drop')!;
    const chains = seg.messages.filter((m) => nftMsgOf(m.type) === NFT_MSG_NEWCHAIN);
    expect(chains).toHaveLength(1);
    expect(each(chains, decodeNftChain)[0]).toMatchObject({ family: 'inet', table: 'filter', chain: 'forward', policy: 'drop' });
    const nat = fx.segments.find((s) => s.label === 'nat-postrouting')!.messages.map((m) => nftMsgOf(m.type));
    expect(nat).toEqual(expect.arrayContaining([NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE]));
  });
});

describe('which hooks can act on forwarded traffic', () => {
  const names = (hooks: ReturnType<typeof firewallHooks>): string[] => hooks.map((h) => `${h.what}: ${h.detail} [${h.scope}${h.ports.length ? ` ${h.ports.join(',')}` : ''}]`);

  it('forward, pre- and postrouting chains with a rule or a drop policy, and ingress on an offload port; not input, jump targets or dormant tables', () => {
    expect(names(firewallHooks(stateOf(fx.full), new Set(['v0', 'v1'])))).toEqual([
      'nft inet filter forward: policy drop, 1 rule [all]',
      'nft ip nat postrouting: 1 rule [all]',
      'nft netdev nd in: 1 rule on v0 [ports v0]',
      'nft ip6 raw6 pre: 1 rule [all]',
      'nft ip filter FORWARD: 1 rule [all]',
    ]);
  });

  it('an ingress chain on a device that is not an offload port counts for nothing', () => {
    expect(names(firewallHooks(stateOf(fx.full), new Set(['v1']))).some((n) => n.includes('netdev'))).toBe(false);
  });

  it('an empty base chain with policy accept (iptables-nft leaves them behind) does not count', () => {
    const c: NftChain = { family: 'ip', table: 'filter', chain: 'FORWARD', hook: 'forward', priority: 0, policy: 'accept', type: 'filter', devices: [], rules: 0, dormant: false };
    expect(firewallHooks({ nft: [c], legacy: { ipv4: [], ipv6: [] } }, new Set(['v0']))).toEqual([]);
  });

  it('a netdev egress chain on an offload port concerns every port; an iptables-legacy table too', () => {
    const c: NftChain = { family: 'netdev', table: 't', chain: 'out', hook: 'egress', priority: 0, policy: 'accept', type: 'filter', devices: ['v1'], rules: 2, dormant: false };
    expect(names(firewallHooks({ nft: [c], legacy: { ipv4: ['filter'], ipv6: [] } }, new Set(['v0', 'v1'])))).toEqual([
      'nft netdev t out: 2 rules on v1 [all]',
      'iptables-legacy ipv4 filter: rules not readable over netlink [all]',
    ]);
  });
});

describe('the plan with a firewall', () => {
  const base = {
    links: [loopback(), link(2, 'v0'), link(3, 'v1'), link(4, 'v2')],
    addresses: [addr(2, '192.168.1.1/24')],
    neighbors: [neigh(2, '192.168.1.2', '0a:00:00:00:00:0a')],
    routes: [route('192.168.1.0/24', [dev(2)]), route('10.0.0.0/8', [via('192.168.1.2', 2)])],
  };
  const ingressOnly: FirewallState = {
    nft: [{ family: 'netdev', table: 'nd', chain: 'in', hook: 'ingress', priority: 0, policy: 'accept', type: 'filter', devices: ['v1'], rules: 1, dormant: false }],
    legacy: { ipv4: [], ipv6: [] },
  };

  it('respect: a forward chain hands every offload port to the kernel, named in plan, JSON and status', () => {
    const plan = buildPlan(mirrorOf({ ...base, firewall: stateOf(fx.full) }), { ports: ['v*'] });
    expect(plan.ports.filter((p) => p.backend !== 'none').map((p) => `${p.dev}:${p.policy?.reason}:${p.policy?.rule}`)).toEqual([
      'v0:firewall:nft inet filter forward (policy drop, 1 rule) and 4 more', // and the netdev ingress chain on v0
      'v1:firewall:nft inet filter forward (policy drop, 1 rule) and 3 more',
      'v2:firewall:nft inet filter forward (policy drop, 1 rule) and 3 more',
    ]);
    // inet, ip and ip6 hooks together: both families, so no per-family record.
    expect(plan.ports.some((p) => p.policy?.families)).toBe(false);
    expect(planJson(plan).firewall).toMatchObject({ mode: 'respect' });
    expect(planJson(plan).firewall!.hooks).toHaveLength(5);
    const text = planText(plan);
    expect(text).toContain('ports: v0(xdp, ingress to kernel) v1(xdp, ingress to kernel) v2(xdp, ingress to kernel)');
    expect(text).toContain('firewall: the traffic these hooks see stays with the kernel');
    expect(text).toContain('  nft inet filter forward (policy drop, 1 rule): every offload port');
  });

  it('respect: a hook that sees one family hands over only that family (ip6 chain: IPv6; legacy ipv4 table: IPv4)', () => {
    const chain = (family: NftChain['family']): NftChain => ({ family, table: 't', chain: 'fw', hook: 'forward', priority: 0, policy: 'accept', type: 'filter', devices: [], rules: 1, dormant: false });
    const fams = (f: FirewallState): string[] => buildPlan(mirrorOf({ ...base, firewall: f }), { ports: ['v*'] }).ports
      .filter((p) => p.backend !== 'none').map((p) => `${p.dev}:${p.policy?.reason ?? '-'}:${p.policy?.families?.join('+') ?? 'both'}`);
    expect(fams({ nft: [chain('ip6')], legacy: { ipv4: [], ipv6: [] } })).toEqual(['v0:firewall:6', 'v1:firewall:6', 'v2:firewall:6']);
    expect(fams({ nft: [], legacy: { ipv4: ['filter'], ipv6: [] } })).toEqual(['v0:firewall:4', 'v1:firewall:4', 'v2:firewall:4']);
    expect(fams({ nft: [chain('ip')], legacy: { ipv4: [], ipv6: ['nat'] } })).toEqual(['v0:firewall:both', 'v1:firewall:both', 'v2:firewall:both']);
    const plan = buildPlan(mirrorOf({ ...base, firewall: { nft: [chain('ip6')], legacy: { ipv4: [], ipv6: [] } } }), { ports: ['v*'] });
    expect(planText(plan)).toContain('ports: v0(xdp, IPv6 ingress to kernel)');
    expect(planText(plan)).toContain('  nft ip6 t fw (1 rule): every offload port, IPv6 only');
  });

  it('respect: an ingress chain on one port hands over only that port', () => {
    const plan = buildPlan(mirrorOf({ ...base, firewall: ingressOnly }), { ports: ['v*'] });
    expect(plan.ports.filter((p) => p.policy).map((p) => p.dev)).toEqual(['v1']);
  });

  it('bypass: the hooks are reported, no port is handed over', () => {
    const plan = buildPlan(mirrorOf({ ...base, firewall: stateOf(fx.full) }), { ports: ['v*'], firewall: 'bypass' });
    expect(plan.ports.some((p) => p.policy)).toBe(false);
    expect(plan.firewall).toMatchObject({ mode: 'bypass' });
    expect(planText(plan)).toContain('firewall: bypass (config): offloaded traffic skips these hooks');
  });

  it('no firewall (or none read): the plan is exactly the one without', () => {
    const none = buildPlan(mirrorOf(base), { ports: ['v*'] });
    const empty = buildPlan(mirrorOf({ ...base, firewall: stateOf(fx.initial) }), { ports: ['v*'] });
    expect(empty).toEqual(none);
    expect(none.firewall).toBeUndefined();
  });

  it('a firewall event re-plans from scratch, equal to a fresh build, and back', () => {
    const mirror = mirrorOf({ ...base, firewall: stateOf(fx.initial) });
    const opts = { ports: ['v*'] };
    const s0 = PlanState.build(mirror, opts);
    const d1 = mirror.apply({ kind: 'firewall', op: 'new', firewall: ingressOnly });
    expect(d1.firewallChanged).toBe(true);
    const step = s0.next(mirror, d1, opts);
    expect(step.how).toBe('firewall');
    expect(step.state.plan).toEqual(buildPlan(mirror, opts));
    // Only the ports were re-planned: the entry rows are the same list, not a rebuilt equal one.
    expect(step.state.internals.rows.entries).toBe(s0.internals.rows.entries);
    expect(step.ops.filter((o) => o.op.startsWith('port')).map((o) => ('port' in o ? `${o.op} ${o.port.dev}` : o.op))).toEqual(['port-update v1']);
    // The same state again (a notification that changed nothing the agent reads) is no change.
    expect(mirror.apply({ kind: 'firewall', op: 'new', firewall: ingressOnly }).firewallChanged).toBe(false);
    const back = step.state.next(mirror, mirror.apply({ kind: 'firewall', op: 'new', firewall: stateOf(fx.initial) }), opts);
    expect(diffPlans(back.state.plan, s0.plan)).toEqual([]);
  });

  it('the batcher carries a firewall change into the pass it plans', () => {
    const mirror = mirrorOf({ ...base, firewall: stateOf(fx.initial) });
    const b = new Batcher({ due: () => undefined });
    b.push({ kind: 'firewall', op: 'new', firewall: ingressOnly }, 0n);
    const pass = b.take(mirror)!;
    expect(pass.delta.firewallChanged).toBe(true);
    expect(mirror.firewall()).toEqual(ingressOnly);
  });

  it('fib_offload_firewall_hooks and _punted_ports, and the /status lines', async () => {
    const mirror = mirrorOf({ ...base, firewall: ingressOnly });
    const plan = buildPlan(mirror, { ports: ['v*'] });
    const m = new Metrics();
    updateGauges(m, mirror, plan, { backendFor: () => 'xdp', tcTables: new Map(), fallbacks: new Map() }, new EntryStatus(), ['xdp'], 0);
    const text = await m.registry.metrics();
    expect(text).toContain('fib_offload_firewall_hooks{mode="respect"} 1');
    expect(text).toContain('fib_offload_firewall_punted_ports 1');
    const s = {
      policy: [], ports: [{ ifindex: 3, dev: 'v1', backend: 'xdp', table: 254, attached: 'native', policy: 'firewall' }], failed: [], failedCount: 0, counts: null,
      events: { applied: 0, batches: 0, queueDepth: 0 }, firewall: plan.firewall!, health: 'ready', startedAt: 'T', backend: 'xdp',
      lastResync: null, lastError: null, xdp: null, tc: null, fpm: null,
    } as unknown as StatusJson;
    const st = statusText(s);
    expect(st).toContain('ports: v1(xdp, ingress to kernel: firewall)');
    expect(st).toContain('  nft netdev nd in (1 rule on v1): ingress of v1');
  });
});
