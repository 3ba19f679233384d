// Consistency under rewrite: with traffic flowing through the daemon's XDP
// program, a covering /16, /24s inside it and /25s inside those are replaced
// again and again with other next hops, and half the /25s come and go. The
// kernel's FIB goes through a known sequence of states (every `ip -batch`
// line is one); for every destination the test knows which next hops the
// kernel would have used at some moment. Every frame that arrives must be at
// one of those hosts, with that host's MAC and the TTL one lower; nothing
// arrives at a port that no route to these destinations ever pointed at.
// ip_forward is off in dut: whatever arrives was forwarded by XDP, not by
// the kernel. Run with the flat DIR-24-8 array (flat_threshold 1) and with the
// LPM trie. Frames are sent and counted with raw sockets (lib/frames.py).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { Counters, enablePeer, pinDirOf, removePins, agent } from './lib/agent.js';
import { DaemonProcess, NsHttp, sleep } from './lib/daemon.js';

const FRAMES = fileURLToPath(new URL('./lib/frames.py', import.meta.url));
const LISTEN = '127.0.0.1:19481';
const PORTS = 'eth1,eth2,eth3,eth4,eth5';
/** Next-hop hosts by name; h5 is a port with a route of its own that none of the rewritten prefixes ever use. */
const HOSTS = ['h2', 'h3', 'h4', 'h5'] as const;
type Host = (typeof HOSTS)[number];
const GW: Record<Host, string> = { h2: '10.2.0.2', h3: '10.3.0.2', h4: '10.4.0.2', h5: '10.5.0.2' };
const MAC: Record<Host | 'h1', string> = {
  h1: '02:00:00:00:01:02', h2: '02:00:00:00:02:02', h3: '02:00:00:00:03:02', h4: '02:00:00:00:04:02', h5: '02:00:00:00:05:02',
};

interface Route { dst: string; addr: number; len: number; via: Host }
type Fib = Map<string, Route>;

const ip4 = (s: string): number => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const covers = (r: Route, a: number): boolean => r.len === 0 || Math.floor(a / 2 ** (32 - r.len)) === Math.floor(r.addr / 2 ** (32 - r.len));
function route(dst: string, via: Host): Route {
  const [a, l] = dst.split('/');
  return { dst, addr: ip4(a!), len: Number(l), via };
}
function lpm(fib: Fib, a: number): Host | null {
  let best: Route | null = null;
  for (const r of fib.values()) if (covers(r, a) && (!best || r.len > best.len)) best = r;
  return best?.via ?? null;
}

interface Op { op: 'replace' | 'del'; route: Route }

/**
 * Phase k: the /16, 32 /24s and 16 /25s with next hops by phase; odd /25s
 * only in even phases. The order matters as much as the states in between:
 * more-specifics first in odd phases, the cover first in even ones.
 */
function phase(k: number, fib: Fib): Op[] {
  const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;
  const ops: Op[] = [];
  const p16 = (): void => { ops.push({ op: 'replace', route: route('172.16.0.0/16', pick(['h2', 'h3'] as const, k)) }); };
  const p24 = (): void => {
    for (let i = 0; i < 32; i++) ops.push({ op: 'replace', route: route(`172.16.${i}.0/24`, pick(['h3', 'h4'] as const, k + i)) });
  };
  const p25 = (): void => {
    for (let i = 0; i < 16; i++) {
      const r = route(`172.16.${i}.128/25`, pick(['h4', 'h2'] as const, k + (i >> 1)));
      if (i % 2 === 1 && k % 2 === 1) {
        if (fib.has(r.dst)) ops.push({ op: 'del', route: r });
      } else ops.push({ op: 'replace', route: r });
    }
  };
  if (k % 2 === 0) { p16(); p24(); p25(); } else { p25(); p24(); p16(); }
  return ops;
}

const opLine = (o: Op): string => (o.op === 'del' ? `route del ${o.route.dst}` : `route replace ${o.route.dst} via ${GW[o.route.via]}`);

function destinations(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 32; i++) out.push(`172.16.${i}.10`, `172.16.${i}.200`);
  for (let i = 0; i < 8; i++) out.push(`172.16.${100 + i}.7`); // under the /16 only
  return out;
}

class Receiver {
  private out = '';
  private readonly child: ChildProcess;
  private readonly closed: Promise<unknown>;
  readonly ready: Promise<void>;
  constructor(ns: Netns) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, 'python3', FRAMES, 'recv', 'eth0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.closed = new Promise((r) => this.child.once('close', r));
    this.ready = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', (b: Buffer) => {
        this.out += b.toString();
        if (this.out.startsWith('ready')) resolve();
      });
      this.child.once('exit', (c) => reject(new Error(`frames.py recv exited ${c}`)));
    });
  }
  /** SIGTERM, then what it counted (again on a second call). */
  async stop(): Promise<Array<[string, string, number, number]>> {
    this.child.kill('SIGTERM');
    await this.closed;
    const json = this.out.split('\n').find((l) => l.startsWith('{'));
    if (!json) throw new Error(`frames.py recv printed no result: ${this.out}`);
    return (JSON.parse(json) as { received: Array<[string, string, number, number]> }).received;
  }
}

describe.skipIf(!isRoot())('XDP: consistency while covering prefixes and their more-specifics are rewritten', () => {
  const nets = new NetnsSet('rewrite');
  let dut: Netns, h1: Netns;
  const hosts = {} as Record<Host, Netns>;
  let pins = '';
  let tmp = '';
  let http: NsHttp;

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-rewrite-'));
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: MAC.h1 });
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0']);
    const batch = ['addr add 10.1.0.1/24 dev eth1'];
    HOSTS.forEach((h, i) => {
      hosts[h] = nets.add(h);
      nets.veth(dut, `eth${i + 2}`, hosts[h], 'eth0', { bMac: MAC[h] });
      hosts[h].ipBatch([`addr add ${GW[h]}/24 dev eth0`]);
      batch.push(`addr add 10.${i + 2}.0.1/24 dev eth${i + 2}`, `neigh replace ${GW[h]} lladdr ${MAC[h]} dev eth${i + 2} nud permanent`);
    });
    dut.ipBatch(batch);
    for (const [ns, dev] of [[dut, 'eth1'], [h1, 'eth0'], ...HOSTS.map((h, i) => [dut, `eth${i + 2}`] as const), ...HOSTS.map((h) => [hosts[h], 'eth0'] as const)] as const) {
      await ns.waitCarrier(dev);
    }
    dut.ipBatch(['route add 192.0.2.0/24 via 10.5.0.2']);
    dut.sysctl('net.ipv4.ip_forward', 0);
    for (const h of HOSTS) await enablePeer(hosts[h], 'eth0');
    http = new NsHttp(dut);
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const mode of ['flat', 'trie'] as const) {
    it(`${mode}: every frame lands at a next hop some kernel state chose, rewritten as the kernel would`, async () => {
      // Start from no rewritten routes; the daemon installs phase 0, then follows the rewrites.
      dut.ip('route', 'flush', 'root', '172.16.0.0/16');
      const fib: Fib = new Map();
      const allowed = new Map<string, Set<Host>>();
      const dsts = destinations();
      const note = (): void => {
        for (const d of dsts) {
          const h = lpm(fib, ip4(d));
          if (h) (allowed.get(d) ?? allowed.set(d, new Set()).get(d)!).add(h);
        }
      };
      /** Phase k into the kernel with one `ip -batch`; the model passes through the state after every line, as the kernel does. */
      const runPhase = (k: number): void => {
        const ops = phase(k, fib);
        for (const o of ops) {
          if (o.op === 'del') fib.delete(o.route.dst);
          else fib.set(o.route.dst, o.route);
          note();
        }
        dut.ipBatch(ops.map(opLine));
      };

      runPhase(0);
      // Traffic starts after phase 0 is in: its way up from empty is not a state the frames see.
      allowed.clear();
      note();
      const cfg = join(tmp, `${mode}.yaml`);
      writeFileSync(cfg, `xdp: { flat_threshold: ${mode === 'flat' ? 1 : 1_000_000_000}, audit_rate: 0 }\n`);
      const d = new DaemonProcess(dut, http, LISTEN, ['--config', cfg, '--ports', PORTS, '--metrics', LISTEN]);
      const receivers = HOSTS.map((h) => new Receiver(hosts[h]));
      let sender: ChildProcess | undefined;
      const finalReceivers: Receiver[] = [];
      try {
        await d.withLogs(d.waitReady());
        // The structure under test is the one in use: main's flat array is pinned only in flat mode.
        expect(existsSync(join(pins, 'maps', 'fo_flat4_t254')), 'main in the flat array').toBe(mode === 'flat');
        await Promise.all(receivers.map((r) => r.ready));
        const forwarded0 = new Counters(pins).verdicts().forwarded;
        let senderOut = '';
        sender = spawn('ip', ['netns', 'exec', h1.name, 'python3', FRAMES, 'send', 'eth0', MAC.h1, dut.mac('eth1'), '10.1.0.2',
          '4000', '30', ...dsts], { stdio: ['ignore', 'pipe', 'pipe'] });
        sender.stdout!.on('data', (b: Buffer) => { senderOut += b.toString(); });
        const senderDone = new Promise((r) => sender!.once('close', r));
        for (let k = 1; k <= 16; k++) {
          await sleep(250);
          runPhase(k);
        }
        await sleep(500);
        sender.kill('SIGTERM');
        await senderDone;
        const sent = (JSON.parse(senderOut.trim().split('\n').pop()!) as { sent: Record<string, number> }).sent;
        const got = await Promise.all(receivers.map((r) => r.stop()));
        const forwarded = new Counters(pins).verdicts().forwarded - forwarded0;

        const problems: string[] = [];
        let total = 0;
        const perHost = new Map<Host, number>();
        HOSTS.forEach((h, i) => {
          for (const [dst, dmac, ttl, n] of got[i]!) {
            total += n;
            perHost.set(h, (perHost.get(h) ?? 0) + n);
            const ok = allowed.get(dst);
            if (!ok?.has(h)) problems.push(`${n} frame(s) to ${dst} at ${h}; the kernel only ever chose ${[...(ok ?? [])].join(', ') || 'nothing'}`);
            if (dmac !== MAC[h]) problems.push(`${n} frame(s) to ${dst} at ${h} with destination MAC ${dmac}, not ${MAC[h]}`);
            if (ttl !== 63) problems.push(`${n} frame(s) to ${dst} at ${h} with TTL ${ttl}, not 63`);
          }
        });
        const sentTotal = Object.values(sent).reduce((a, b) => a + b, 0);
        console.log(`rewrite ${mode}: sent ${sentTotal}, received ${total} (${HOSTS.map((h) => `${h} ${perHost.get(h) ?? 0}`).join(', ')}), ` +
          `XDP forwarded ${forwarded}, 16 rewrites of ${dsts.length} destinations' routes`);
        expect(problems, problems.slice(0, 20).join('\n')).toEqual([]);
        expect(perHost.get('h5') ?? 0, 'nothing at the port no rewritten route used').toBe(0);
        // Not vacuous: traffic flowed through XDP all along, to every next hop in use.
        expect(sentTotal).toBeGreaterThan(10_000);
        expect(total, `received ${total} of ${sentTotal}`).toBeGreaterThan(sentTotal * 0.5);
        expect(forwarded, 'frames forwarded by the XDP program').toBeGreaterThanOrEqual(total);
        for (const h of ['h2', 'h3', 'h4'] as const) expect(perHost.get(h) ?? 0, `frames at ${h}`).toBeGreaterThan(0);
        // Some destinations were never allowed at some hosts: the check above had teeth.
        const narrow = dsts.filter((x) => (allowed.get(x)?.size ?? 0) < 3).length;
        expect(narrow).toBeGreaterThan(dsts.length / 2);

        // And the daemon followed: once the rewrites stop, every frame is at the last state's next hop
        // (a program left with phase 0's routes would have passed everything above).
        await sleep(1000);
        const final = HOSTS.map((h) => new Receiver(hosts[h]));
        finalReceivers.push(...final);
        await Promise.all(final.map((r) => r.ready));
        const last = spawnSync('ip', ['netns', 'exec', h1.name, 'python3', FRAMES, 'send', 'eth0', MAC.h1, dut.mac('eth1'), '10.1.0.2',
          '2000', '1', ...dsts], { encoding: 'utf8' });
        expect(last.status, last.stderr).toBe(0);
        const gotFinal = await Promise.all(final.map((r) => r.stop()));
        const wrong: string[] = [];
        let finalTotal = 0;
        HOSTS.forEach((h, i) => {
          for (const [dst, , , n] of gotFinal[i]!) {
            finalTotal += n;
            const want = lpm(fib, ip4(dst));
            if (want !== h) wrong.push(`${n} frame(s) to ${dst} at ${h} after the last rewrite; the kernel says ${want}`);
          }
        });
        expect(wrong, wrong.slice(0, 20).join('\n')).toEqual([]);
        expect(finalTotal).toBeGreaterThan(1000);
      } finally {
        sender?.kill('SIGKILL');
        await d.stop();
        await Promise.all([...receivers, ...finalReceivers].map((r) => r.stop().catch(() => [])));
      }
    }, 120_000);
  }
});
