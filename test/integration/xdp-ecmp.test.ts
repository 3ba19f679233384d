// ECMP through the XDP backend: h1 — dut — {r1, r2}, both next routers
// owning 198.51.100.1 (anycast), so whichever path a flow takes, it is
// answered. ip_forward off in dut. Each receiver records the flows it saw.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { Counters, agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2,eth3'];
const FLOWS = 48;
const PER_FLOW = 4;

const SINK = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (_m, r) => process.stdout.write(r.address + ':' + r.port + '\\n'));
s.bind(9999, '198.51.100.1', () => process.stdout.write('ready\\n'));
`;
const SOURCE = `
const dgram = require('node:dgram');
const [first, flows, per, srcs] = process.argv.slice(1).map(Number);
(async () => {
  for (let f = 0; f < flows; f++) {
    const s = dgram.createSocket('udp4');
    const address = srcs > 1 ? '10.1.0.' + (10 + (f % srcs)) : undefined;
    await new Promise((r) => s.bind({ port: first + f, address }, r));
    for (let i = 0; i < per; i++) await new Promise((r) => s.send(Buffer.from('x'), 9999, '198.51.100.1', r));
    s.close();
  }
})();
`;

class Sink {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  readonly ready: Promise<void>;
  constructor(ns: Netns) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', SINK], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.ready = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const l of parts) {
          if (l === 'ready') resolve();
          else this.lines.push(l);
        }
      });
      this.child.once('exit', (c) => reject(new Error(`sink exited ${c}`)));
    });
  }
  take(): string[] {
    return this.lines.splice(0);
  }
  stop(): void {
    this.child.kill();
  }
}

/** Send PER_FLOW datagrams on each of `flows` flows; wait until the sinks saw them all. */
async function send(h1: Netns, sinks: Sink[], firstPort: number, sources = 1): Promise<Array<Map<string, number>>> {
  const p = spawnSync('ip', ['netns', 'exec', h1.name, process.execPath, '-e', SOURCE, String(firstPort), String(FLOWS), String(PER_FLOW), String(sources)], {
    encoding: 'utf8', timeout: 20_000,
  });
  if (p.status !== 0) throw new Error(`sender failed: ${p.stderr}`);
  const until = Date.now() + 5000;
  const seen = sinks.map(() => new Map<string, number>());
  let total = 0;
  while (total < FLOWS * PER_FLOW && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    sinks.forEach((s, i) => {
      for (const flow of s.take()) {
        seen[i]!.set(flow, (seen[i]!.get(flow) ?? 0) + 1);
        total++;
      }
    });
  }
  return seen;
}

describe.skipIf(!isRoot())('XDP backend: ECMP over two next routers', () => {
  const nets = new NetnsSet('ecmp');
  let dut: Netns, h1: Netns, r1: Netns, r2: Netns;
  let pins = '';
  let sinks: Sink[] = [];
  let counters: Counters;

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    r1 = nets.add('r1');
    r2 = nets.add('r2');
    pins = pinDirOf(dut);
    nets.veth(dut, 'eth1', h1, 'eth0');
    nets.veth(dut, 'eth2', r1, 'eth0');
    nets.veth(dut, 'eth3', r2, 'eth0');
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1',
      ...Array.from({ length: 16 }, (_, i) => `addr add 10.1.0.${10 + i}/24 dev eth0`)]);
    r1.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'addr add 198.51.100.1/32 dev lo', 'route add default via 10.2.0.1']);
    r2.ipBatch(['addr add 10.3.0.2/24 dev eth0', 'addr add 198.51.100.1/32 dev lo', 'route add default via 10.3.0.1']);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2', 'addr add 10.3.0.1/24 dev eth3']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [dut, 'eth3'], [h1, 'eth0'], [r1, 'eth0'], [r2, 'eth0']] as const) {
      await ns.waitCarrier(dev);
    }
    dut.ip('route', 'add', '198.51.100.0/24', 'nexthop', 'via', '10.2.0.2', 'dev', 'eth2', 'nexthop', 'via', '10.3.0.2', 'dev', 'eth3');
    dut.sysctl('net.ipv4.ip_forward', 0);
    for (const a of ['10.1.0.2', '10.2.0.2', '10.3.0.2']) dut.exec('ping', '-c1', '-W1', a);
    // h1's extra source addresses need dut's neighbour entries too (forwarding off: nothing else resolves them).
    for (let i = 0; i < 16; i++) h1.exec('ping', '-c1', '-W1', '-I', `10.1.0.${10 + i}`, '10.1.0.1');
    for (const [ns, dev] of [[h1, 'eth0'], [r1, 'eth0'], [r2, 'eth0']] as const) await enablePeer(ns, dev);
    sinks = [new Sink(r1), new Sink(r2)];
    await Promise.all(sinks.map((s) => s.ready));
    counters = new Counters(pins);
  });

  afterAll(() => {
    for (const s of sinks) s.stop();
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('L4 hash (fib_multipath_hash_policy=1): flows spread over both routers, each flow stays on one', async () => {
    dut.sysctl('net.ipv4.fib_multipath_hash_policy', 1);
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [at1, at2] = await send(h1, sinks, 20000);
    const flows1 = [...at1!.keys()];
    const flows2 = [...at2!.keys()];
    expect(flows1.length + flows2.length).toBe(FLOWS);
    // With 48 flows and an even split, one side empty has probability 2^-47.
    expect(flows1.length).toBeGreaterThan(0);
    expect(flows2.length).toBeGreaterThan(0);
    expect(flows1.filter((f) => at2!.has(f))).toEqual([]);
    for (const m of [at1!, at2!]) for (const [flow, n] of m) expect(n, flow).toBe(PER_FLOW);
    // And the program's per-member counters agree with the receivers.
    const per = counters.perEgress();
    expect([...per.values()].reduce((a, b) => a + b, 0)).toBe(FLOWS * PER_FLOW);
  });

  it('the same flows take the same paths when sent again', async () => {
    const a = await send(h1, sinks, 20000);
    const b = await send(h1, sinks, 20000);
    expect([...b[0]!.keys()].sort()).toEqual([...a[0]!.keys()].sort());
    expect([...b[1]!.keys()].sort()).toEqual([...a[1]!.keys()].sort());
  });

  it('L3 hash (policy 0): source ports do not matter, source addresses do', async () => {
    dut.sysctl('net.ipv4.fib_multipath_hash_policy', 0);
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.status).toBe(0);
    const [p1, p2] = await send(h1, sinks, 21000);
    // One source address: every port on one router.
    expect(Math.min(p1!.size, p2!.size)).toBe(0);
    expect(p1!.size + p2!.size).toBe(FLOWS);
    const [s1, s2] = await send(h1, sinks, 22000, 16);
    const addrs = (m: Map<string, number>): Set<string> => new Set([...m.keys()].map((k) => k.split(':')[0]!));
    expect(addrs(s1!).size).toBeGreaterThan(0);
    expect(addrs(s2!).size).toBeGreaterThan(0);
    expect([...addrs(s1!)].filter((a) => addrs(s2!).has(a))).toEqual([]);
  });

  it('a next hop whose link goes down leaves the group: one group update, all flows on the other', async () => {
    dut.sysctl('net.ipv4.fib_multipath_hash_policy', 1);
    dut.ip('link', 'set', 'dev', 'eth3', 'down');
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.status).toBe(0);
    // The ECMP group is rewritten in place (the /24 entry is untouched); the only other change is
    // dut's connected host 10.3.0.2, whose entry and group go with the link.
    expect(r.stdout, r.stdout).toMatch(/fo_groups: \+0 ~1 -1\n/);
    expect(r.stdout, r.stdout).toMatch(/fo_lpm4: \+0 ~0 -1\n/);
    const [at1, at2] = await send(h1, sinks, 23000);
    expect(at2!.size).toBe(0);
    expect(at1!.size).toBe(FLOWS);
    dut.ip('link', 'set', 'dev', 'eth3', 'up');
    await dut.waitCarrier('eth3');
  });
});
