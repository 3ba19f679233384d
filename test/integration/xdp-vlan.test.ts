// VLAN sub-interfaces as XDP ports, with real packets (issue 16 item 5):
//
//   h1: eth0.10, eth0.11, eth0.30 (802.1Q on eth0)
//    |  veth
//   dut: eth1 (the trunk, not a port) with eth1.10, eth1.11 (ports) and eth1.30 (not a port);
//        eth2 untagged (port); eth3 with eth3.20 (port)
//    |                  |
//   h2: eth0 untagged   h3: eth0.20
//
// The kernel alone forwards every case first (ip_forward on); then, with
// ip_forward off so nothing but the program can forward, the agent's XDP
// backend must carry the same pings: tagged in and untagged out (pop),
// untagged in and tagged out (push), tagged in and tagged out (the tag
// rewritten; between two VLANs of one parent too, which is not a hairpin
// while a VLAN port to itself is). Replies
// arriving at the hosts' VLAN devices prove the tags. Frames of a VLAN that
// is not a port (vid 30) and untagged frames on the trunk go to the kernel.
//
// Needs 802.1Q support (the 8021q module). The host kernel here has none, so
// this runs in the VM tier (6.1 boot, test/integration/tc-vm.test.ts); where
// a VLAN device can't be made, the suite is skipped and says why.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { Counters, agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { ping } from './lib/ping.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1.10,eth1.11,eth1.40,eth2,eth3.20'];

/** Why VLAN devices can't be made here (null: they can), tried in a throw-away namespace. */
function vlanUnsupported(): string | null {
  if (!isRoot()) return 'not root';
  const nets = new NetnsSet('xvlan-probe');
  try {
    const ns = nets.add('p');
    ns.ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    const p = spawnSync('ip', ['-n', ns.name, 'link', 'add', 'link', 'v0', 'name', 'v0.5', 'type', 'vlan', 'id', '5'], { encoding: 'utf8' });
    return p.status === 0 ? null : `this kernel can't make VLAN devices (${p.stderr.trim()}; no 8021q module)`;
  } finally {
    nets.destroy();
  }
}
const skip = vlanUnsupported();

describe.skipIf(skip !== null)(`XDP backend: VLAN sub-interfaces as ports${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const nets = new NetnsSet('xvlan');
  let dut: Netns, h1: Netns, h2: Netns, h3: Netns;
  let pins = '';
  let counters: Counters;
  const ifx: Record<string, number> = {};

  /** Kernel forwarding in dut on or off (both families). */
  const forwarding = (on: boolean): void => {
    dut.sysctl('net.ipv4.ip_forward', on ? 1 : 0);
    dut.sysctl('net.ipv6.conf.all.forwarding', on ? 1 : 0);
  };

  /** The pings every case is made of, from h1's VLANs and h2/h3 back. */
  const CASES: ReadonlyArray<{ what: string; from: () => Netns; dst: string; src?: string }> = [
    { what: 'h1 VLAN 10 -> h2 untagged (pop), reply pushed', from: () => h1, dst: '10.2.0.2', src: '10.10.0.2' },
    { what: 'h1 VLAN 10 -> h2 untagged, IPv6', from: () => h1, dst: '2001:db8:2::2', src: '2001:db8:10::2' },
    { what: 'h2 untagged -> h1 VLAN 10 (push), reply popped', from: () => h2, dst: '10.10.0.2' },
    { what: 'h1 VLAN 10 -> h3 VLAN 20 (rewrite)', from: () => h1, dst: '10.20.0.2', src: '10.10.0.2' },
    { what: 'h3 VLAN 20 -> h1 VLAN 10 (rewrite), IPv6', from: () => h3, dst: '2001:db8:10::2' },
  ];
  const pingCase = (c: (typeof CASES)[number]) => ping(c.from(), c.dst, ...(c.src ? ['-I', c.src] : []));

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    h3 = nets.add('h3');
    pins = pinDirOf(dut);
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: '02:00:00:00:01:02' });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: '02:00:00:00:02:02' });
    nets.veth(dut, 'eth3', h3, 'eth0', { bMac: '02:00:00:00:03:02' });
    for (const ns of [dut, h1, h2, h3]) {
      ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
      ns.sysctl('net.ipv6.conf.default.accept_dad', 0); // the VLAN devices made below
      for (const d of ns === dut ? ['eth1', 'eth2', 'eth3'] : ['eth0']) ns.sysctl(`net.ipv6.conf.${d}.accept_dad`, 0);
    }
    // VLAN devices get their own MACs (the kernel would otherwise copy the parent's): the port
    // record must carry the VLAN's, and the hosts must see it as the source.
    h1.ipBatch([
      'link add link eth0 name eth0.10 address 02:00:00:01:10:02 type vlan id 10',
      'link add link eth0 name eth0.11 address 02:00:00:01:11:02 type vlan id 11',
      'link add link eth0 name eth0.30 type vlan id 30',
      'link set eth0.10 up', 'link set eth0.11 up', 'link set eth0.30 up',
      'addr add 10.10.0.2/24 dev eth0.10', 'addr add 2001:db8:10::2/64 dev eth0.10 nodad',
      'addr add 10.11.0.2/24 dev eth0.11', 'addr add 10.30.0.2/24 dev eth0.30',
      'addr add 10.1.0.2/24 dev eth0',
      'route add 10.0.0.0/8 via 10.10.0.1', 'route add 2001:db8::/32 via 2001:db8:10::1',
      // Replies to VLAN 11 and 30 and to the untagged address go back the way they came.
      'rule add from 10.11.0.2 lookup 11', 'route add 10.0.0.0/8 via 10.11.0.1 dev eth0.11 table 11',
      'rule add from 10.30.0.2 lookup 30', 'route add 10.0.0.0/8 via 10.30.0.1 dev eth0.30 table 30',
      'rule add from 10.1.0.2 lookup 1', 'route add 10.0.0.0/8 via 10.1.0.1 dev eth0 table 1',
    ]);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'addr add 2001:db8:2::2/64 dev eth0 nodad',
      'route add default via 10.2.0.1', 'route add default via 2001:db8:2::1']);
    h3.ipBatch([
      'link add link eth0 name eth0.20 address 02:00:00:03:20:02 type vlan id 20', 'link set eth0.20 up',
      'addr add 10.20.0.2/24 dev eth0.20', 'addr add 2001:db8:20::2/64 dev eth0.20 nodad',
      'route add default via 10.20.0.1', 'route add default via 2001:db8:20::1',
    ]);
    dut.ipBatch([
      'link add link eth1 name eth1.10 address 02:00:00:d1:10:01 type vlan id 10',
      'link add link eth1 name eth1.11 address 02:00:00:d1:11:01 type vlan id 11',
      'link add link eth1 name eth1.30 type vlan id 30',
      // Selected by --ports but 802.1ad: stays with the kernel, with the reason.
      'link add link eth1 name eth1.40 type vlan protocol 802.1ad id 40',
      'link add link eth3 name eth3.20 address 02:00:00:d3:20:01 type vlan id 20',
      // A VLAN on the untagged port eth2 that is no port: eth2 must still see tags (not stripped).
      'link add link eth2 name eth2.50 type vlan id 50',
      'link set eth1.10 up', 'link set eth1.11 up', 'link set eth1.30 up', 'link set eth1.40 up', 'link set eth3.20 up',
      'addr add 10.1.0.1/24 dev eth1',
      'addr add 10.10.0.1/24 dev eth1.10', 'addr add 2001:db8:10::1/64 dev eth1.10 nodad',
      'addr add 10.11.0.1/24 dev eth1.11', 'addr add 10.30.0.1/24 dev eth1.30',
      'addr add 10.2.0.1/24 dev eth2', 'addr add 2001:db8:2::1/64 dev eth2 nodad',
      'addr add 10.20.0.1/24 dev eth3.20', 'addr add 2001:db8:20::1/64 dev eth3.20 nodad',
    ]);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [dut, 'eth3'], [dut, 'eth1.10'], [dut, 'eth3.20'],
      [h1, 'eth0.10'], [h2, 'eth0'], [h3, 'eth0.20']] as const) await ns.waitCarrier(dev);
    for (const d of ['eth1', 'eth2', 'eth3', 'eth1.10', 'eth1.11', 'eth1.30', 'eth1.40', 'eth3.20']) ifx[d] = dut.ifindex(d);
    // Neighbours resolved from dut itself (forwarding off later: only the program forwards).
    for (const a of ['10.10.0.2', '10.11.0.2', '10.30.0.2', '10.2.0.2', '10.20.0.2', '2001:db8:10::2', '2001:db8:2::2', '2001:db8:20::2']) {
      expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
    }
    // veth delivers redirected frames only to a peer with XDP: the hosts' ends (the VLANs ride on them).
    await enablePeer(h1, 'eth0');
    await enablePeer(h2, 'eth0');
    await enablePeer(h3, 'eth0');
    counters = new Counters(pins);
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('the kernel alone forwards every case (ip_forward on), and nothing with it off', () => {
    forwarding(true);
    for (const c of CASES) expect(pingCase(c).ok, `kernel: ${c.what}`).toBe(true);
    forwarding(false);
    expect(pingCase(CASES[0]!).ok).toBe(false);
  });

  it('plan: the VLANs are XDP ports keyed by parent and vid; 802.1ad stays with the kernel, with why', () => {
    const r = agent(dut, 'plan', '--json', ...PORTS);
    expect(r.status, r.stderr).toBe(0);
    const ports = (JSON.parse(r.stdout) as { ports: Array<{ dev: string; backend: string; vlan?: unknown; unsupported?: string }> }).ports;
    const of = (d: string) => ports.find((p) => p.dev === d);
    expect(of('eth1.10')).toMatchObject({ backend: 'xdp', vlan: { parent: ifx.eth1, parentDev: 'eth1', vid: 10 } });
    expect(of('eth3.20')).toMatchObject({ backend: 'xdp', vlan: { parent: ifx.eth3, parentDev: 'eth3', vid: 20 } });
    expect(of('eth2')).toEqual({ ifindex: ifx.eth2, dev: 'eth2', backend: 'xdp', table: 254 });
    expect(of('eth1.40')).toMatchObject({ backend: 'none', unsupported: 'vlan-802.1ad' });
    expect(of('eth1')).toMatchObject({ backend: 'none' });
    expect(of('eth1.30')).toMatchObject({ backend: 'none' });
  });

  it('apply attaches the program to the parents (the trunk itself is not a port) and eth2', () => {
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/attached to eth1 \(native\)/);
    expect(r.stdout).toMatch(/attached to eth2 \(native\)/);
    expect(r.stdout).toMatch(/attached to eth3 \(native\)/);
    expect(r.stdout).not.toMatch(/attached to eth1\.10/);
    // The program reads the tag from the frame: rx VLAN offload (tag stripping) is off on the
    // VLAN ports' parents, and on a port that has a VLAN device on it (eth2.50).
    for (const d of ['eth1', 'eth2', 'eth3']) expect(dut.exec('ethtool', '-k', d), d).toMatch(/rx-vlan-offload: off/);
    expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/xdp: no changes/);
  });

  it.each(CASES.map((c, i) => [c.what, i] as const))('forwarded by XDP alone (ip_forward off): %s', (_what, i) => {
    const c = CASES[i]!;
    const before = counters.verdicts();
    const r = pingCase(c);
    const after = counters.verdicts();
    const moved = Object.entries(after).filter(([k, v]) => v !== before[k as keyof typeof before]).map(([k, v]) => `${k} +${v - before[k as keyof typeof before]}`);
    expect(r.ok, `${r.out}\nverdicts: ${moved.join(', ')}`).toBe(true);
    // 2 echo requests and 2 replies, each through dut once.
    expect(after.forwarded - before.forwarded).toBe(4);
  });

  it('the per-member counters name the VLAN device as the egress', () => {
    const per = counters.perEgress();
    for (const d of ['eth1.10', 'eth2', 'eth3.20']) expect(per.get(ifx[d]!) ?? 0, d).toBeGreaterThan(0);
    expect(per.get(ifx.eth1!) ?? 0).toBe(0);
    expect(per.get(ifx.eth3!) ?? 0).toBe(0);
  });

  it('a VLAN that is not a port (vid 30), and untagged frames on the trunk, go to the kernel', () => {
    const before = counters.verdicts();
    // Forwarding off: the kernel drops them, and XDP must not have forwarded them either.
    expect(ping(h1, '10.2.0.2', '-I', '10.30.0.2').ok).toBe(false);
    expect(ping(h1, '10.2.0.2', '-I', '10.1.0.2').ok).toBe(false);
    const mid = counters.verdicts();
    expect(mid.not_port - before.not_port).toBeGreaterThanOrEqual(4);
    expect(mid.forwarded - before.forwarded).toBe(0);
    // With forwarding on, the kernel serves them (the replies' way back, out of eth1.30 or
    // eth1, is not an offload port either: the kernel's too).
    forwarding(true);
    try {
      expect(ping(h1, '10.2.0.2', '-I', '10.30.0.2').ok).toBe(true);
      expect(ping(h1, '10.2.0.2', '-I', '10.1.0.2').ok).toBe(true);
    } finally {
      forwarding(false);
    }
    expect(counters.verdicts().not_port - mid.not_port).toBeGreaterThanOrEqual(4);
  });

  it('a VLAN port to itself is a hairpin for the kernel; the same group from the other VLAN is forwarded', () => {
    // 10.10.0.0/24 is connected on eth1.10: h1 pinging its own VLAN 10 neighbour space through dut is
    // nothing XDP forwards; but a host route via the VLAN 10 host, reached from VLAN 10, is egress = ingress.
    dut.ip('route', 'add', '10.99.0.0/24', 'via', '10.10.0.2', 'dev', 'eth1.10');
    try {
      expect(agent(dut, 'apply', ...PORTS).status).toBe(0);
      const before = counters.verdicts();
      // From VLAN 10 to a prefix behind VLAN 10: hairpin (forwarding off: the kernel drops it).
      ping(h1, '10.99.0.1', '-I', '10.10.0.2');
      const mid = counters.verdicts();
      expect(mid.hairpin - before.hairpin).toBe(2);
      expect(mid.forwarded - before.forwarded).toBe(0);
      // From VLAN 11 (same parent, another vid): forwarded with the tag rewritten to 10. h1 has no
      // 10.99.0.1, so no reply: the request's forwarding is what counts.
      ping(h1, '10.99.0.1', '-I', '10.11.0.2');
      expect(counters.verdicts().forwarded - mid.forwarded).toBe(2);
    } finally {
      dut.ip('route', 'del', '10.99.0.0/24');
    }
  });

  it('flush detaches from the parents', () => {
    const r = agent(dut, 'flush');
    expect(r.status, r.stderr).toBe(0);
    for (const d of ['eth1', 'eth2', 'eth3']) {
      const j = JSON.parse(dut.ip('-j', '-d', 'link', 'show', 'dev', d)) as Array<{ xdp?: unknown }>;
      expect(j[0]!.xdp, d).toBeUndefined();
    }
  });
});
