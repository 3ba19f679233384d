// Neighbour keepalive: traffic the XDP program forwards never reaches dut's
// kernel, so without help the next hop's neighbour entry would only ever
// age. With the daemon's keepalive, an entry behind offloaded traffic keeps
// being re-confirmed by the kernel's own probes; an idle one is no longer
// marked, and is left to the kernel's timers.
// Neighbour timers are cut to 1 s (from 30 s), so 30 s here is 15 minutes
// of default timers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { BackgroundPing, Counters, agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { CLI } from './lib/probe.js';

interface NeighJson {
  dst: string;
  lladdr?: string;
  used: number;
  confirmed: number;
  updated: number;
  state: string[];
}

const METRICS_GET = `require('node:http').get('http://127.0.0.1:9479/metrics', (r) => r.pipe(process.stdout))`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot())('neighbour keepalive for offloaded traffic', () => {
  const nets = new NetnsSet('keep');
  let dut: Netns, h1: Netns, h2: Netns;
  let pins = '';
  let tmp = '';
  let daemon: ChildProcess | null = null;

  function gateway(): NeighJson {
    const j = JSON.parse(dut.ip('-s', '-j', 'neigh', 'show', '10.2.0.2', 'dev', 'eth2')) as NeighJson[];
    if (!j[0]) throw new Error('dut has no neighbour entry for 10.2.0.2');
    return j[0];
  }

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-keep-'));
    nets.veth(dut, 'eth1', h1, 'eth0');
    nets.veth(dut, 'eth2', h2, 'eth0');
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'addr add 198.51.100.1/32 dev lo', 'route add default via 10.2.0.1']);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
    dut.ip('route', 'add', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    dut.sysctl('net.ipv4.ip_forward', 0);
    for (const dev of ['eth1', 'eth2']) {
      dut.sysctl(`net.ipv4.neigh.${dev}.base_reachable_time_ms`, 1000);
      dut.sysctl(`net.ipv4.neigh.${dev}.delay_first_probe_time`, 1);
    }
    dut.exec('ping', '-c1', '-W1', '10.1.0.2');
    dut.exec('ping', '-c1', '-W1', '10.2.0.2');
    await enablePeer(h1, 'eth0');
    await enablePeer(h2, 'eth0');
    const config = join(tmp, 'config.yaml');
    writeFileSync(config, 'ports: [eth1, eth2]\nkeepalive: { interval: 1s }\nmetrics: { listen: "127.0.0.1:9479" }\n');
    daemon = spawn('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, CLI, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    await eventually('daemon ready', () => (log.includes('"msg":"ready"') ? true : undefined), 20_000);
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps the next hop confirmed and the offload installed while traffic is offloaded, for 40 s (40 reachable-times)', async () => {
    const counters = new Counters(pins);
    const bg = new BackgroundPing(h1, '198.51.100.1', 0.05);
    const states = new Set<string>();
    let worstConfirmedAge = 0;
    let last = counters.verdicts();
    try {
      for (let t = 1; t <= 40; t++) {
        await sleep(1000);
        const n = gateway();
        for (const s of n.state) states.add(s);
        // `confirmed` is how long ago (s) the kernel last got proof the neighbour is there.
        if (t > 3) worstConfirmedAge = Math.max(worstConfirmedAge, n.confirmed);
        expect(['FAILED', 'INCOMPLETE'], `second ${t}`).not.toContain(n.state[0]);
        if (t % 10 === 0) {
          // Every 10 s: the offload is still forwarding the pings (20 per second), and nothing of
          // them fell back to the kernel because the adjacency was withdrawn.
          const v = counters.verdicts();
          expect(v.forwarded - last.forwarded, `second ${t}`).toBeGreaterThan(300);
          const punted = (x: typeof v) => x.bucket_punt + x.route_punt + x.no_route;
          expect(punted(v) - punted(last), `second ${t}`).toBe(0);
          last = v;
        }
      }
    } finally {
      const { sent, received } = await bg.stop();
      expect(received).toBe(sent);
    }
    // ... and the kernel kept re-probing the neighbour: with 1 s reachable time and no keepalive,
    // `confirmed` would grow without bound (the next test shows it).
    expect(worstConfirmedAge).toBeLessThanOrEqual(6);
    expect(states.has('REACHABLE') || states.has('DELAY') || states.has('PROBE')).toBe(true);
  }, 90_000);

  it('an idle neighbour is left to age: the agent stops marking it used', async () => {
    // The refreshes counted by the daemon; after the traffic stopped, at most the tick that saw its
    // last packets refreshes, then nothing.
    const refreshes = (): number => {
      const text = spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, '-e', METRICS_GET], { encoding: 'utf8' }).stdout;
      return [...text.matchAll(/^fib_offload_neighbor_refreshes_total\{result="ok"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    };
    await sleep(2500);
    const before = refreshes();
    expect(before).toBeGreaterThan(20); // the first test's 30 s of traffic
    await sleep(6000);
    expect(refreshes()).toBe(before);
    // The kernel ages it on its own timers (what it does next is the kernel's business, e.g.
    // re-probing when it uses the entry itself); the adjacency stays while the MAC is known.
    const n = gateway();
    expect(['FAILED', 'INCOMPLETE']).not.toContain(n.state[0]);
    const plan = JSON.parse(agent(dut, 'plan', '--json', '--ports', 'eth1,eth2').stdout) as { entries: Array<{ dst: string; action: string }> };
    expect(plan.entries).toContainEqual(expect.objectContaining({ dst: '198.51.100.0/24', action: 'forward' }));
  }, 30_000);
});
