// Route MTU with real packets (issue 16 item 4): h1 — dut — h2, dut routing
// h2's prefixes with `mtu lock 1000` (IPv4) and `mtu 1280` (IPv6) over 1500-byte
// links. Each ping is sent first with the kernel alone, then with the XDP
// offload applied (ip_forward on, so what XDP hands over is served): it must
// end up in the same place — answered by h2, or answered by dut's kernel with
// "fragmentation needed" / "packet too big" carrying the route's MTU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { Counters, agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { nstat, ping } from './lib/ping.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];
const DST4 = '198.51.100.1';
const DST6 = '2001:db8:100::1';

/** One probe: an echo request of `bytes` at L3, DF set (IPv6 never fragments in routers), from h1 to h2. */
interface Probe {
  readonly name: string;
  readonly family: 4 | 6;
  readonly bytes: number;
  /** ping -M: do = DF set, dont = DF clear. */
  readonly df: 'do' | 'dont';
}

/** Where a probe ended up: h2 answered (its echo counter), or dut's ICMP error reached h1 with this MTU. */
interface Outcome {
  readonly replied: boolean;
  readonly atH2: number;
  readonly icmpMtu: number | null;
}

const PROBES: readonly Probe[] = [
  { name: 'IPv4 1200 bytes DF', family: 4, bytes: 1200, df: 'do' },
  { name: 'IPv4 1001 bytes DF', family: 4, bytes: 1001, df: 'do' },
  { name: 'IPv4 1000 bytes DF', family: 4, bytes: 1000, df: 'do' },
  { name: 'IPv4 900 bytes DF', family: 4, bytes: 900, df: 'do' },
  { name: 'IPv4 1200 bytes, DF clear (the kernel fragments)', family: 4, bytes: 1200, df: 'dont' },
  { name: 'IPv6 1400 bytes', family: 6, bytes: 1400, df: 'do' },
  { name: 'IPv6 1281 bytes', family: 6, bytes: 1281, df: 'do' },
  { name: 'IPv6 1280 bytes', family: 6, bytes: 1280, df: 'do' },
  { name: 'IPv6 900 bytes', family: 6, bytes: 900, df: 'do' },
];

/** What the kernel does without the offload (checked first: it is what the offload must preserve). */
const KERNEL: Readonly<Record<string, Outcome>> = {
  'IPv4 1200 bytes DF': { replied: false, atH2: 0, icmpMtu: 1000 },
  'IPv4 1001 bytes DF': { replied: false, atH2: 0, icmpMtu: 1000 },
  'IPv4 1000 bytes DF': { replied: true, atH2: 1, icmpMtu: null },
  'IPv4 900 bytes DF': { replied: true, atH2: 1, icmpMtu: null },
  'IPv4 1200 bytes, DF clear (the kernel fragments)': { replied: true, atH2: 1, icmpMtu: null },
  'IPv6 1400 bytes': { replied: false, atH2: 0, icmpMtu: 1280 },
  'IPv6 1281 bytes': { replied: false, atH2: 0, icmpMtu: 1280 },
  'IPv6 1280 bytes': { replied: true, atH2: 1, icmpMtu: null },
  'IPv6 900 bytes': { replied: true, atH2: 1, icmpMtu: null },
};

function send(h1: Netns, h2: Netns, p: Probe): Outcome {
  const echos = p.family === 4 ? 'IcmpInEchos' : 'Icmp6InEchos';
  const before = nstat(h2, echos);
  // ICMP payload = L3 size - IP header - 8 (ICMP header).
  const size = p.bytes - (p.family === 4 ? 20 : 40) - 8;
  // The path MTU h1 learned from an earlier error would stop a DF probe at h1 ("message too long"): forget it.
  h1.ip(`-${p.family}`, 'route', 'flush', 'cache');
  const r = ping(h1, p.family === 4 ? DST4 : DST6, `-${p.family}`, '-M', p.df, '-s', String(size), '-c', '1');
  // iputils: "Frag needed and DF set (mtu = 1000)" / "Packet too big: mtu=1280".
  const m = /Frag needed and DF set \(mtu = (\d+)\)|Packet too big: mtu=(\d+)/.exec(r.out);
  return { replied: r.ok, atH2: nstat(h2, echos) - before, icmpMtu: m ? Number(m[1] ?? m[2]) : null };
}

describe.skipIf(!isRoot())('route MTU: h1 — dut — h2, mtu lock 1000 (IPv4) and mtu 1280 (IPv6) on 1500-byte links', () => {
  const nets = new NetnsSet('xmtu');
  let dut: Netns, h1: Netns, h2: Netns;
  let pins = '';
  let counters: Counters;
  const kernel = new Map<string, Outcome>();

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    pins = pinDirOf(dut);
    nets.veth(dut, 'eth1', h1, 'eth0');
    nets.veth(dut, 'eth2', h2, 'eth0');
    for (const ns of [dut, h1, h2]) ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'addr add 2001:db8:1::2/64 dev eth0 nodad']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'addr add 2001:db8:2::2/64 dev eth0 nodad', `addr add ${DST4}/32 dev lo`, `addr add ${DST6}/128 dev lo`]);
    dut.ipBatch([
      'addr add 10.1.0.1/24 dev eth1', 'addr add 2001:db8:1::1/64 dev eth1 nodad',
      'addr add 10.2.0.1/24 dev eth2', 'addr add 2001:db8:2::1/64 dev eth2 nodad',
    ]);
    for (const [ns, d] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(d);
    h1.ipBatch(['route add default via 10.1.0.1', 'route add default via 2001:db8:1::1']);
    h2.ipBatch(['route add default via 10.2.0.1', 'route add default via 2001:db8:2::1']);
    dut.ipBatch([
      'route add 198.51.100.0/24 via 10.2.0.2 dev eth2 mtu lock 1000',
      'route add 2001:db8:100::/48 via 2001:db8:2::2 dev eth2 mtu 1280',
    ]);
    // Forwarding on throughout: with the agent, what XDP hands over is served by the kernel.
    dut.sysctl('net.ipv4.ip_forward', 1);
    dut.sysctl('net.ipv6.conf.all.forwarding', 1);
    for (const a of ['10.1.0.2', '10.2.0.2', '2001:db8:1::2', '2001:db8:2::2']) expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
    // veth delivers XDP-redirected frames only to a peer with XDP (or GRO).
    await enablePeer(h1, 'eth0');
    await enablePeer(h2, 'eth0');
    counters = new Counters(pins);
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('the kernel alone: larger DF packets get the ICMP error with the route MTU, the rest reach h2', () => {
    for (const p of PROBES) kernel.set(p.name, send(h1, h2, p));
    expect(Object.fromEntries(kernel)).toEqual(KERNEL);
  });

  it('the plan puts the route MTU in the groups of those routes', () => {
    const r = agent(dut, 'plan', '--json', ...PORTS.slice(2));
    expect(r.status, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { groups: { id: number; mtu?: number }[]; entries: { dst: string; group?: number }[] };
    const mtuOf = (dst: string): number | undefined => plan.groups.find((g) => g.id === plan.entries.find((e) => e.dst === dst)?.group)?.mtu;
    expect([mtuOf('198.51.100.0/24'), mtuOf('2001:db8:100::/48'), mtuOf('10.1.0.2/32')]).toEqual([1000, 1280, undefined]);
  });

  it('with the XDP offload: the same packets end up in the same places; XDP forwards what fits and hands the rest to the kernel', () => {
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const p of PROBES) {
      const before = counters.verdicts();
      const got = send(h1, h2, p);
      const after = counters.verdicts();
      expect(got, p.name).toEqual(kernel.get(p.name));
      const fwd = after.forwarded - before.forwarded;
      const mtu = after.mtu - before.mtu;
      if (p.bytes <= (p.family === 4 ? 1000 : 1280)) {
        // Request (h1 → h2 under the route MTU) and reply (h2 → h1) both forwarded by XDP.
        expect({ fwd, mtu }, p.name).toEqual({ fwd: 2, mtu: 0 });
      } else if (p.df === 'dont') {
        // The kernel fragments the request; h2's 1200-byte reply comes back through XDP (no route MTU towards h1).
        expect({ fwd, mtu }, p.name).toEqual({ fwd: 1, mtu: 1 });
      } else {
        expect({ fwd, mtu }, p.name).toEqual({ fwd: 0, mtu: 1 });
      }
    }
  });
});
