// The XDP backend forwarding real packets: h1 — dut — h2 (and h3 behind a
// port that is not offloaded), ip_forward off in dut so only the program can
// forward; `fib-offload apply --backend xdp` run as the agent would be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackgroundPing, Counters, agent, agentWith, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { ROOT } from './lib/probe.js';
import { echosIn, ping } from './lib/ping.js';

const MAC = { h1: '02:00:00:00:01:02', h2: '02:00:00:00:02:02', h2b: '02:00:00:00:02:0b', h3: '02:00:00:00:03:02' };
const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];

/** The TTL / hop limit of the echo replies ("ttl=63"). */
function replyTtl(out: string): number {
  const m = /ttl=(\d+)/.exec(out);
  if (!m) throw new Error(`no reply ttl in:\n${out}`);
  return Number(m[1]);
}

const ECHO_SERVER = `
const net = require('node:net');
const s = net.createServer((c) => c.pipe(c));
s.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write('listening\\n'));
`;
const ECHO_CLIENT = `
const net = require('node:net');
const crypto = require('node:crypto');
const data = crypto.randomBytes(Number(process.argv[3]));
const got = [];
let n = 0;
const c = net.connect(Number(process.argv[2]), process.argv[1], () => c.end(data));
c.on('data', (d) => { got.push(d); n += d.length; });
c.on('end', () => {
  const same = Buffer.concat(got).equals(data);
  process.stdout.write(JSON.stringify({ bytes: n, same }) + '\\n');
  process.exit(same ? 0 : 1);
});
c.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(2); });
`;

/** Echo `bytes` random bytes over TCP from client to server and back; both directions through dut. */
async function tcpEcho(server: Netns, client: Netns, addr: string, bytes: number): Promise<{ bytes: number; same: boolean }> {
  const port = 7000 + Math.floor(Math.random() * 1000);
  const srv = spawn('ip', ['netns', 'exec', server.name, process.execPath, '-e', ECHO_SERVER, String(port), addr], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      srv.stdout!.once('data', () => resolve());
      srv.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
    });
    const p = spawnSync('ip', ['netns', 'exec', client.name, process.execPath, '-e', ECHO_CLIENT, addr, String(port), String(bytes)], {
      encoding: 'utf8', timeout: 20_000,
    });
    if (p.status !== 0) throw new Error(`echo client failed (${p.status}): ${p.stdout}${p.stderr}`);
    return JSON.parse(p.stdout) as { bytes: number; same: boolean };
  } finally {
    srv.kill();
  }
}

describe.skipIf(!isRoot())('XDP backend: h1 — dut — h2 with ip_forward off', () => {
  const nets = new NetnsSet('xdp');
  let dut: Netns, h1: Netns, h2: Netns, h3: Netns;
  let pins = '';
  let counters: Counters;

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    h3 = nets.add('h3');
    pins = pinDirOf(dut);
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: MAC.h1 });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: MAC.h2 });
    nets.veth(dut, 'eth3', h3, 'eth0', { bMac: MAC.h3 });
    for (const [ns, a4, a6, gw4, gw6] of [
      [h1, '10.1.0.2/24', '2001:db8:1::2/64', '10.1.0.1', '2001:db8:1::1'],
      [h2, '10.2.0.2/24', '2001:db8:2::2/64', '10.2.0.1', '2001:db8:2::1'],
      [h3, '10.3.0.2/24', '2001:db8:3::2/64', '10.3.0.1', '2001:db8:3::1'],
    ] as const) {
      ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
      ns.sysctl('net.ipv6.conf.eth0.accept_dad', 0);
      ns.ipBatch([`addr add ${a4} dev eth0`, `addr add ${a6} dev eth0 nodad`, `route add default via ${gw4}`, `route add default via ${gw6}`]);
    }
    h2.ipBatch(['addr add 198.51.100.1/32 dev lo', 'addr add 2001:db8:100::1/128 dev lo']);
    h3.ipBatch(['addr add 198.51.100.129/32 dev lo']);
    dut.sysctl('net.ipv6.conf.all.accept_dad', 0);
    for (const d of ['eth1', 'eth2', 'eth3']) dut.sysctl(`net.ipv6.conf.${d}.accept_dad`, 0);
    dut.ipBatch([
      'addr add 10.1.0.1/24 dev eth1', 'addr add 2001:db8:1::1/64 dev eth1 nodad',
      'addr add 10.2.0.1/24 dev eth2', 'addr add 2001:db8:2::1/64 dev eth2 nodad',
      'addr add 10.3.0.1/24 dev eth3', 'addr add 2001:db8:3::1/64 dev eth3 nodad',
      'addr add 10.255.0.1/32 dev lo',
    ]);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [dut, 'eth3'], [h1, 'eth0'], [h2, 'eth0'], [h3, 'eth0']] as const) {
      await ns.waitCarrier(dev);
    }
    dut.ipBatch([
      // Offloaded: everything via h2 ...
      'route add default via 10.2.0.2 dev eth2',
      'route add 198.51.100.0/24 via 10.2.0.2 dev eth2',
      // ... except a more specific prefix behind eth3, which is not an offload port.
      'route add 198.51.100.128/25 via 10.3.0.2 dev eth3',
      'route add 2001:db8:100::/48 via 2001:db8:2::2 dev eth2',
    ]);
    // Forwarding off: only XDP forwards. Neighbours resolved the way traffic from dut itself does it.
    dut.sysctl('net.ipv4.ip_forward', 0);
    dut.sysctl('net.ipv6.conf.all.forwarding', 0);
    for (const a of ['10.1.0.2', '10.2.0.2', '10.3.0.2', '2001:db8:1::2', '2001:db8:2::2']) {
      expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
    }
    // veth delivers redirected frames only to a peer with XDP (or GRO): the hosts' ends.
    await enablePeer(h1, 'eth0');
    await enablePeer(h2, 'eth0');
    counters = new Counters(pins);
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('nothing forwards before the offload is applied', () => {
    expect(ping(h1, '198.51.100.1').ok).toBe(false);
  });

  it('apply attaches to the ports and installs the plan; a second apply changes nothing', () => {
    const first = agent(dut, 'apply', ...PORTS);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/program fresh/);
    expect(first.stdout).toMatch(/attached to eth1 \(native\)/);
    expect(first.stdout).toMatch(/attached to eth2 \(native\)/);
    expect(first.stdout).not.toMatch(/eth3/);
    const second = agent(dut, 'apply', ...PORTS);
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/program reused/);
    expect(second.stdout).toMatch(/xdp: no changes/);
  });

  it('forwards ICMP both ways with TTL / hop limit decremented once, IPv4 and IPv6', () => {
    const before = counters.verdicts().forwarded;
    const v4 = ping(h1, '198.51.100.1');
    expect(v4.ok, v4.out).toBe(true);
    expect(replyTtl(v4.out)).toBe(63); // h2 sends 64; one hop
    // A request with TTL 2 arrives (1 left at h2); with the reply's decrement, the path is one hop each way.
    expect(ping(h1, '198.51.100.1', '-t', '2').ok).toBe(true);
    const v6 = ping(h1, '2001:db8:100::1');
    expect(v6.ok, v6.out).toBe(true);
    expect(replyTtl(v6.out)).toBe(63);
    const fwd = counters.verdicts().forwarded - before;
    expect(fwd).toBeGreaterThanOrEqual(12); // 3 pings × 2 × (request + reply)
  });

  it('carries TCP both ways (checksums intact: a bad one would stall the transfer)', async () => {
    const a = await tcpEcho(h2, h1, '198.51.100.1', 2_000_000);
    expect(a).toEqual({ bytes: 2_000_000, same: true });
    const b = await tcpEcho(h1, h2, '10.1.0.2', 500_000);
    expect(b).toEqual({ bytes: 500_000, same: true });
    const c = await tcpEcho(h2, h1, '2001:db8:100::1', 500_000);
    expect(c).toEqual({ bytes: 500_000, same: true });
  });

  it("dut's own addresses reach the kernel (local delivery works with forwarding off)", () => {
    const before = counters.verdicts();
    // IPv4 has an offloaded default route, so dut's addresses need punt entries; IPv6 has none (no route → kernel).
    for (const a of ['10.255.0.1', '10.2.0.1']) expect(ping(h1, a).ok, a).toBe(true);
    const mid = counters.verdicts();
    expect(mid.route_punt - before.route_punt).toBe(4);
    expect(mid.forwarded - before.forwarded).toBe(0);
    expect(ping(h1, '2001:db8:2::1').ok).toBe(true);
    expect(counters.verdicts().no_route - mid.no_route).toBe(2);
  });

  it('a more specific prefix behind a non-offload port is punted: the kernel, not XDP, handles it', async () => {
    const before = counters.verdicts();
    // Forwarding off: the kernel drops it; XDP must not have sent it to h2 under the /24.
    expect(ping(h1, '198.51.100.129').ok).toBe(false);
    const after = counters.verdicts();
    expect(after.route_punt - before.route_punt).toBe(2);
    expect(after.forwarded - before.forwarded).toBe(0);
    // With forwarding on, the kernel delivers it to h3 (the only owner of that address).
    dut.sysctl('net.ipv4.ip_forward', 1);
    try {
      await enablePeer(h3, 'eth0');
      expect(ping(h1, '198.51.100.129').ok).toBe(true);
    } finally {
      dut.sysctl('net.ipv4.ip_forward', 0);
    }
  });

  it('TTL 1 goes to the kernel: dropped silently with forwarding off, time exceeded with it on', () => {
    const before = counters.verdicts().ttl;
    const off = ping(h1, '198.51.100.1', '-t', '1');
    expect(off.ok).toBe(false);
    // What the kernel does (ip_route_input_slow without forwarding): no route, counted in
    // IpInAddrErrors, no ICMP. That's the kernel's answer, and the offload preserves it.
    expect(off.out).not.toMatch(/Time to live exceeded/);
    expect(counters.verdicts().ttl - before).toBe(2);
    dut.sysctl('net.ipv4.ip_forward', 1);
    try {
      const on = ping(h1, '198.51.100.1', '-t', '1');
      expect(on.out).toMatch(/From 10\.1\.0\.1 icmp_seq=\d+ Time to live exceeded/);
    } finally {
      dut.sysctl('net.ipv4.ip_forward', 0);
    }
  });

  it('a neighbour MAC change is one group update, and traffic follows it', () => {
    h2.ip('link', 'set', 'dev', 'eth0', 'address', MAC.h2b);
    dut.ip('neigh', 'replace', '10.2.0.2', 'lladdr', MAC.h2b, 'dev', 'eth2', 'nud', 'reachable');
    // Still the old MAC in the group: h2 ignores frames for another host.
    expect(ping(h1, '198.51.100.1').ok).toBe(false);
    const r = agent(dut, 'apply', ...PORTS);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/fo_groups: \+0 ~1 -0/);
    expect(r.stdout).not.toMatch(/fo_lpm4/);
    expect(ping(h1, '198.51.100.1').ok).toBe(true);
  });

  it('re-applying while a ping runs loses nothing (restart keeps the program attached)', async () => {
    const bg = new BackgroundPing(h1, '198.51.100.1', 0.005);
    await eventually('ping running', () => (counters.verdicts().forwarded > 0 ? true : undefined));
    for (let i = 0; i < 3; i++) expect(agent(dut, 'apply', ...PORTS).status).toBe(0);
    // Change something so one apply actually writes: a route add and its removal.
    dut.ip('route', 'add', '203.0.113.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/fo_lpm4: \+1 ~0 -0/);
    dut.ip('route', 'del', '203.0.113.0/24');
    expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/fo_lpm4: \+0 ~0 -1/);
    const { sent, received } = await bg.stop();
    expect(sent).toBeGreaterThan(100);
    expect(received).toBe(sent);
  });

  it('a new build of the program replaces the running one atomically: same maps, no loss', async () => {
    // Another build: the same program with an extra (ignored) section, so its hash differs.
    const tmp = mkdtempSync(join(tmpdir(), 'fot-xdp-'));
    try {
      const note = join(tmp, 'note');
      writeFileSync(note, 'upgrade test\n');
      const variant = join(tmp, 'variant.bpf.o');
      spawnSync('llvm-objcopy', ['--add-section', `.fo_note=${note}`, join(ROOT, 'bpf/build/fib_offload.bpf.o'), variant], { stdio: 'inherit' });
      const progOf = (dev: string): number =>
        (JSON.parse(dut.ip('-j', '-d', 'link', 'show', 'dev', dev)) as Array<{ xdp?: { prog?: { id?: number } } }>)[0]!.xdp!.prog!.id!;
      const old = progOf('eth1');
      const bg = new BackgroundPing(h1, '198.51.100.1', 0.005);
      await eventually('ping running', () => (counters.verdicts().forwarded > 0 ? true : undefined));
      const r = agentWith({ FIB_OFFLOAD_BPF_OBJECT: variant }, dut, 'apply', ...PORTS);
      await new Promise((res) => setTimeout(res, 300));
      const { sent, received } = await bg.stop();
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/program upgraded/);
      expect(r.stdout).not.toMatch(/fo_/); // the maps were kept as they were
      const now = progOf('eth1');
      expect(now).not.toBe(old);
      expect(progOf('eth2')).toBe(now);
      expect(received).toBe(sent);
      // Back to the normal build: upgraded again, and still nothing lost from the maps.
      expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/program upgraded/);
      expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/program reused[^]*no changes/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('policy routing: a rule sends one source subnet from eth1 to table 100; with the agent the same packets end up at the same hosts', () => {
    // 198.51.100.100 is on h2 and on h3: which one answers shows which table the kernel used.
    h1.ipBatch(['addr add 10.10.1.5/32 dev lo', 'addr add 10.10.2.5/32 dev lo']);
    h2.ipBatch(['addr add 198.51.100.100/32 dev lo']);
    h3.ipBatch(['addr add 198.51.100.100/32 dev lo']);
    dut.ipBatch([
      'route add 10.10.0.0/16 via 10.1.0.2 dev eth1',
      'route add 198.51.100.100/32 via 10.3.0.2 dev eth3 table 100',
      'rule add iif eth1 from 10.10.1.0/24 lookup 100 pref 100',
    ]);
    // Forwarding on: what the offload hands over, the kernel serves.
    dut.sysctl('net.ipv4.ip_forward', 1);
    const where = (src: string): { ok: boolean; h2: number; h3: number } => {
      const a2 = echosIn(h2);
      const a3 = echosIn(h3);
      const p = ping(h1, '198.51.100.100', '-I', src);
      return { ok: p.ok, h2: echosIn(h2) - a2, h3: echosIn(h3) - a3 };
    };
    try {
      // The kernel alone: 10.10.1.0/24 goes by table 100 to h3, anything else by main to h2.
      expect(agent(dut, 'flush').status).toBe(0);
      const kernel = { sub1: where('10.10.1.5'), sub2: where('10.10.2.5') };
      expect(kernel).toEqual({ sub1: { ok: true, h2: 0, h3: 2 }, sub2: { ok: true, h2: 2, h3: 0 } });

      const plan = JSON.parse(agent(dut, 'plan', '--json', '--ports', 'eth1,eth2').stdout) as { policy?: unknown[] };
      expect(plan.policy).toEqual([{ scope: 'port', ifindex: dut.ifindex('eth1'), dev: 'eth1', family: 4, reason: 'source', rule: '100: from 10.10.1.0/24 iif eth1 lookup 100' }]);
      const r = agent(dut, 'apply', ...PORTS);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const before = counters.verdicts();
      const offloaded = { sub1: where('10.10.1.5'), sub2: where('10.10.2.5') };
      const after = counters.verdicts();
      expect(offloaded).toEqual(kernel);
      // eth1's ingress went to the kernel (no port record: not_port); h2's replies into eth2 were
      // still forwarded by XDP out of eth1, which stays an egress. h3's replies come in on eth3 (kernel).
      expect(after.not_port - before.not_port).toBeGreaterThanOrEqual(4);
      expect(after.forwarded - before.forwarded).toBe(2);
    } finally {
      dut.sysctl('net.ipv4.ip_forward', 0);
      dut.ipBatch(['rule del pref 100', 'route del 198.51.100.100/32 table 100', 'route del 10.10.0.0/16']);
      h2.ip('addr', 'del', '198.51.100.100/32', 'dev', 'lo');
      h3.ip('addr', 'del', '198.51.100.100/32', 'dev', 'lo');
    }
    // Without the rule eth1 is an ingress port again.
    expect(agent(dut, 'apply', ...PORTS).stdout).toMatch(/fo_ports: \+1 ~0 -0/);
  });

  it('a port leaving the plan is detached; flush removes everything', () => {
    const r = agent(dut, 'apply', '--backend', 'xdp', '--ports', 'eth1');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/detached from eth2/);
    expect(dut.ip('-j', '-d', 'link', 'show', 'dev', 'eth2')).not.toMatch(/"xdp"/);
    const f = agent(dut, 'flush');
    expect(f.status).toBe(0);
    expect(f.stdout).toMatch(/detached from eth1/);
    expect(dut.ip('-j', '-d', 'link', 'show', 'dev', 'eth1')).not.toMatch(/"xdp"/);
    expect(() => counters.verdicts()).toThrow(/nothing pinned/);
    expect(agent(dut, 'flush').stdout).toMatch(/nothing pinned/);
  });
});
