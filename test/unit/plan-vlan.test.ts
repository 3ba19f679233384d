// VLAN sub-interfaces as offload ports (issue 16 item 5): which selected
// VLANs become XDP ports keyed by (parent, vid) and which stay with the
// kernel with a reason; their table, MAC, MTU, rp_filter and firewall
// handling are their own (the parent's ingress hooks count too); and what
// the XDP maps hold for them: the port record under the parent's key, the
// parent in the devmap, members that leave through the parent with the tag.
import { describe, expect, it } from 'vitest';
import type { FirewallState } from '../../src/model/firewall.js';
import type { Link, VlanInfo } from '../../src/model/link.js';
import { NETCONF_ALL } from '../../src/model/netconf.js';
import { offloadPredicate } from '../../src/cli/inputs.js';
import { planText } from '../../src/cli/plan.js';
import { defaultConfig } from '../../src/config.js';
import { buildPlan, diffPlans, selectPorts } from '../../src/plan/index.js';
import { planJson } from '../../src/plan/json.js';
import { decodeGroup, decodePort, encodeGroupKey, encodePortKey, encodeU32 } from '../../src/xdp/layout.js';
import { desiredState, planOpsToMapOps } from '../../src/xdp/state.js';
import { addr, dev, link, loopback, macOf, mirrorOf, neigh, route, via } from './plan-helpers.js';

const vlan = (ifindex: number, name: string, v: Partial<VlanInfo> & Pick<VlanInfo, 'parent' | 'vid'>, o: Partial<Link> = {}): Link =>
  link(ifindex, name, { kind: 'vlan', vlan: { protocol: '802.1Q', egressQos: false, ...v }, ...o });

// eth0 (2): the trunk, not a port itself; eth1 (3): an untagged port.
// eth0.10 (10) in main, eth0.20 (11) in VRF red (table 100), MTU 1496.
const LINKS: Link[] = [
  loopback(),
  link(2, 'eth0'),
  link(3, 'eth1'),
  link(6, 'red', { kind: 'vrf', vrfTable: 100 }),
  vlan(10, 'eth0.10', { parent: 2, vid: 10 }),
  vlan(11, 'eth0.20', { parent: 2, vid: 20 }, { master: 6, mtu: 1496 }),
];
const NH10 = '0a:00:00:00:00:10';
const NH20 = '0a:00:00:00:00:20';
const NH1 = '0a:00:00:00:00:01';
const KERNEL = {
  links: LINKS,
  addresses: [addr(10, '192.168.10.1/24'), addr(11, '192.168.20.1/24'), addr(3, '192.168.1.1/24')],
  neighbors: [neigh(10, '192.168.10.2', NH10), neigh(11, '192.168.20.2', NH20), neigh(3, '192.168.1.2', NH1)],
  routes: [
    route('192.168.10.0/24', [dev(10)]),
    route('192.168.20.0/24', [dev(11)], { table: 100 }),
    route('192.168.1.0/24', [dev(3)]),
    route('10.10.0.0/16', [via('192.168.10.2', 10)]),
    route('10.1.0.0/16', [via('192.168.1.2', 3)]),
    route('10.20.0.0/16', [via('192.168.20.2', 11)], { table: 100 }),
  ],
};
const PORTS = ['eth1', 'eth0.*'];

describe('selectPorts: VLAN sub-interfaces', () => {
  it('an 802.1Q VLAN on a device here is a port with its parent and vid; its own MAC, MTU and table', () => {
    const ports = selectPorts(LINKS, PORTS, undefined, (i) => (i === 11 ? 100 : 254));
    expect(ports.filter((p) => p.backend !== 'none')).toEqual([
      { ifindex: 3, dev: 'eth1', backend: 'xdp', mac: macOf(3), table: 254, mtu: 1500 },
      { ifindex: 10, dev: 'eth0.10', backend: 'xdp', mac: macOf(10), table: 254, mtu: 1500, vlan: { parent: 2, parentDev: 'eth0', vid: 10 } },
      { ifindex: 11, dev: 'eth0.20', backend: 'xdp', mac: macOf(11), table: 100, mtu: 1496, vlan: { parent: 2, parentDev: 'eth0', vid: 20 } },
    ]);
    // The parent is not selected: it stays 'none' (the program runs on it all the same).
    expect(ports.find((p) => p.dev === 'eth0')).toMatchObject({ backend: 'none' });
    expect(ports.find((p) => p.dev === 'eth0')).not.toHaveProperty('unsupported');
  });

  it('802.1ad, a VLAN on a VLAN, a parent elsewhere, an egress QoS map and tc stay with the kernel, with why', () => {
    const links = [
      ...LINKS,
      vlan(20, 'eth0.30', { parent: 2, vid: 30, protocol: '802.1ad' }),
      vlan(21, 'eth0.10.5', { parent: 10, vid: 5 }),
      vlan(22, 'eth0.40', { parent: null, vid: 40 }),
      vlan(23, 'eth0.50', { parent: 99, vid: 50 }),
      vlan(24, 'eth0.60', { parent: 2, vid: 60, egressQos: true }),
      vlan(25, 'eth0.70', { parent: 2, vid: 70 }),
    ];
    const ports = selectPorts(links, PORTS, (l) => (l.name === 'eth0.70' ? 'tc' : 'xdp'));
    const of = (d: string) => ports.find((p) => p.dev === d)!;
    expect(Object.fromEntries(['eth0.30', 'eth0.10.5', 'eth0.40', 'eth0.50', 'eth0.60', 'eth0.70'].map((d) => [d, [of(d).backend, of(d).unsupported]])))
      .toEqual({
        'eth0.30': ['none', 'vlan-802.1ad'],
        'eth0.10.5': ['none', 'vlan-stacked'],
        'eth0.40': ['none', 'vlan-parent-elsewhere'],
        'eth0.50': ['none', 'vlan-parent-elsewhere'],
        'eth0.60': ['none', 'vlan-egress-qos'],
        'eth0.70': ['none', 'vlan-tc'],
      });
    // Not selected, or excluded by the backend choice: no reason to give.
    expect(selectPorts(links, ['eth1']).find((p) => p.dev === 'eth0.30')).not.toHaveProperty('unsupported');
    expect(selectPorts(links, PORTS, (l) => (l.kind === 'vlan' ? 'none' : 'xdp')).find((p) => p.dev === 'eth0.30')).not.toHaveProperty('unsupported');
  });
});

describe('show: the offload flag agrees with the plan for VLANs', () => {
  it('a served VLAN is an offload port; an 802.1ad one is not', () => {
    const links = [...LINKS, vlan(20, 'eth0.30', { parent: 2, vid: 30, protocol: '802.1ad' })];
    const byIfindex = new Map(links.map((l) => [l.ifindex, l] as const));
    const offload = offloadPredicate({ ...defaultConfig(), ports: PORTS }, (i) => byIfindex.get(i));
    expect(links.filter(offload).map((l) => l.name)).toEqual(['eth1', 'eth0.10', 'eth0.20']);
  });
});

describe('the plan with VLAN ports', () => {
  const plan = buildPlan(mirrorOf(KERNEL), { ports: PORTS });

  it('routes out of a VLAN port are forwarded: the member is the VLAN device, with its MAC as source', () => {
    const groupOf = (dst: string) => plan.groups.find((g) => g.id === plan.entries.find((e) => e.dst === dst)!.group)!;
    expect(groupOf('10.10.0.0/16').members).toMatchObject([{ dev: 'eth0.10', ifindex: 10, dmac: NH10, smac: macOf(10) }]);
    expect(groupOf('10.20.0.0/16').members).toMatchObject([{ dev: 'eth0.20', ifindex: 11, dmac: NH20, smac: macOf(11) }]);
    expect(plan.entries.find((e) => e.dst === '10.20.0.0/16')).toMatchObject({ table: 100, action: 'forward' });
    // Only the connected subnets' rest is the kernel's (for neighbour resolution), as on any port.
    expect(plan.skipped.every((x) => x.reason === 'connected')).toBe(true);
  });

  it('plan --json: ports carry vlan (additive); the existing keys are unchanged', () => {
    const j = planJson(plan);
    expect(j.ports.filter((p) => p.backend !== 'none')).toEqual([
      { ifindex: 3, dev: 'eth1', backend: 'xdp', table: 254 },
      { ifindex: 10, dev: 'eth0.10', backend: 'xdp', table: 254, vlan: { parent: 2, parentDev: 'eth0', vid: 10 } },
      { ifindex: 11, dev: 'eth0.20', backend: 'xdp', table: 100, vlan: { parent: 2, parentDev: 'eth0', vid: 20 } },
    ]);
    const ad = buildPlan(mirrorOf({ ...KERNEL, links: [...LINKS, vlan(20, 'eth0.30', { parent: 2, vid: 30, protocol: '802.1ad' })] }), { ports: PORTS });
    expect(planJson(ad).ports.find((p) => p.dev === 'eth0.30')).toEqual({ ifindex: 20, dev: 'eth0.30', backend: 'none', table: 254, unsupported: 'vlan-802.1ad' });
    const text = planText(ad);
    expect(text).toContain('eth0.10(xdp, vlan 10 on eth0)');
    expect(text).toContain('not offloaded (selected, left to the kernel): eth0.30(vlan-802.1ad)');
  });

  it('a route out of a VLAN the offload can\'t serve stays with the kernel (egress-not-offloaded)', () => {
    const links = LINKS.map((l) => (l.ifindex === 10 ? vlan(10, 'eth0.10', { parent: 2, vid: 10, protocol: '802.1ad' }) : l));
    const p = buildPlan(mirrorOf({ ...KERNEL, links }), { ports: PORTS });
    expect(p.skipped.find((s) => s.dst === '10.10.0.0/16')).toMatchObject({ reason: 'egress-not-offloaded' });
  });

  it('rp_filter is the VLAN device\'s own (netconf of its ifindex), not its parent\'s', () => {
    const netconf = [
      { ifindex: NETCONF_ALL, rpFilter: 0, forwarding: 1 },
      { ifindex: 2, rpFilter: 2, forwarding: 1 },
      { ifindex: 10, rpFilter: 1, forwarding: 1 },
      { ifindex: 11, rpFilter: 0, forwarding: 1 },
    ];
    const p = buildPlan(mirrorOf({ ...KERNEL, netconf }), { ports: PORTS });
    expect(p.ports.find((x) => x.dev === 'eth0.10')!.rpFilter).toBe('strict');
    expect(p.ports.find((x) => x.dev === 'eth0.20')!.rpFilter).toBeUndefined();
  });

  it('firewall: an ingress chain on the VLAN device, or on its parent, hands that VLAN port to the kernel', () => {
    const chain = (devices: string[]): FirewallState => ({
      nft: [{ family: 'netdev', table: 'nd', chain: 'in', hook: 'ingress', priority: 0, policy: 'accept', type: 'filter', devices, rules: 1, dormant: false }],
      legacy: { ipv4: [], ipv6: [] },
    });
    const punted = (f: FirewallState) => buildPlan(mirrorOf({ ...KERNEL, firewall: f }), { ports: PORTS }).ports
      .filter((p) => p.policy).map((p) => `${p.dev}:${p.policy!.reason}`);
    expect(punted(chain(['eth0.10']))).toEqual(['eth0.10:firewall']);
    // The parent's ingress hook sees the VLANs' tagged frames first: both VLAN ports, not eth1.
    expect(punted(chain(['eth0']))).toEqual(['eth0.10:firewall', 'eth0.20:firewall']);
    expect(punted(chain(['eth1']))).toEqual(['eth1:firewall']);
    const p = buildPlan(mirrorOf({ ...KERNEL, firewall: chain(['eth0']) }), { ports: PORTS });
    expect(p.firewall!.hooks).toMatchObject([{ hook: 'ingress', scope: 'ports', ports: ['eth0'] }]);
  });

  it('a VLAN port\'s MTU change is a port update (its members carry the MTU in the XDP maps)', () => {
    const links = LINKS.map((l) => (l.ifindex === 11 ? { ...l, mtu: 1400 } : l));
    const next = buildPlan(mirrorOf({ ...KERNEL, links }), { ports: PORTS });
    expect(diffPlans(plan, next).map((o) => `${o.op}${'port' in o ? ` ${o.port.dev}` : ''}`)).toEqual(['port-update eth0.20']);
  });
});

describe('XDP maps for VLAN ports', () => {
  const plan = buildPlan(mirrorOf(KERNEL), { ports: PORTS });
  const s = desiredState(plan);
  const member = (dst: string) => {
    const id = plan.entries.find((e) => e.dst === dst)!.group!;
    return decodeGroup(encodeGroupKey(id), s.fo_groups.get(encodeGroupKey(id).toString('hex'))!.value);
  };

  it('the port record is keyed (parent, vid) and names the VLAN device; the parent is the devmap entry', () => {
    const ports = [...s.fo_ports.values()].map((e) => decodePort(e.key, e.value));
    expect(ports).toEqual([
      { ifindex: 3, vid: 0, table: 254, mac: macOf(3) },
      { ifindex: 2, vid: 10, table: 254, mac: macOf(10), port: 10 },
      { ifindex: 2, vid: 20, table: 100, mac: macOf(11), port: 11 },
    ]);
    // The parent carries no record of its own: its untagged frames go to the kernel.
    expect(s.fo_ports.has(encodePortKey(2, 0).toString('hex'))).toBe(false);
    expect([...s.fo_tx.keys()].sort()).toEqual([encodeU32(2), encodeU32(3)].map((b) => b.toString('hex')).sort());
  });

  it('a member out of a VLAN port leaves from the parent with the tag and the VLAN\'s MTU; an untagged one as before', () => {
    expect(member('10.10.0.0/16')).toMatchObject({ buckets: [0], members: [{ ifindex: 2, vid: 10, mtu: 1500, port: 10, dmac: NH10, smac: macOf(10) }] });
    expect(member('10.20.0.0/16')).toMatchObject({ buckets: [0], members: [{ ifindex: 2, vid: 20, mtu: 1496, port: 11, dmac: NH20, smac: macOf(11) }] });
    expect(member('10.1.0.0/16')).toEqual(expect.objectContaining({ members: [{ ifindex: 3, dmac: NH1, smac: macOf(3) }] }));
  });

  it('a VLAN port whose parent the program could not be attached to: no record, its members punt', () => {
    const u = desiredState(plan, new Set([10]));
    expect(u.fo_ports.has(encodePortKey(2, 10).toString('hex'))).toBe(false);
    expect(u.fo_ports.has(encodePortKey(2, 20).toString('hex'))).toBe(true);
    const id = plan.entries.find((e) => e.dst === '10.10.0.0/16')!.group!;
    expect(decodeGroup(encodeGroupKey(id), u.fo_groups.get(encodeGroupKey(id).toString('hex'))!.value).buckets).toEqual([-1]);
  });

  it('the incremental path encodes VLAN members the same way', () => {
    const more = buildPlan(mirrorOf({ ...KERNEL, routes: [...KERNEL.routes, route('10.11.0.0/16', [via('192.168.10.2', 10)])] }), { ports: PORTS });
    const ops = planOpsToMapOps(diffPlans(plan, more), more)!;
    expect(ops).not.toBeNull();
    const want = desiredState(more);
    for (const o of ops) if (o.op === 'set') expect(o.value.equals(want[o.map].get(o.key.toString('hex'))!.value)).toBe(true);
  });
});
