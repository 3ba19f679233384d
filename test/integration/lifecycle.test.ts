// The agent's lifecycle with real packets, every command run the way an
// operator types it, `ip netns exec dut fib-offload ...` (the daemon too):
// h1 — dut — h2, ip_forward off in dut, so whatever h1 reaches behind h2 is
// forwarded by the XDP program alone.
//
// 1. `apply` twice: the second changes nothing.
// 2. `flush`: nothing attached afterwards, and the ping that passed before
//    it fails.
// 3. `run` killed with SIGKILL at six random moments (seeded: the seed and
//    the moments are printed; FOT_LIFECYCLE_SEED=<n> replays a run) while
//    50,000 random prefixes are added and 20,000 of them deleted again
//    (`ip -batch`, paced, in the background), restarted each time with the
//    same command. A ping from h1 to 198.51.100.1 (a prefix the churn never
//    touches) runs all along and must lose nothing; at the end the last
//    daemon is stopped and `apply` finds nothing to change. The table
//    crosses xdp.flat_threshold (10,000) on the way up, so the restarts
//    meet the flat DIR-24-8 array (and the switch to it) as well.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { BackgroundPing, agent, enablePeer, pinDirOf, removePins, type CliResult } from './lib/agent.js';
import { DaemonProcess, NsHttp, sleep, xdpAttached } from './lib/daemon.js';
import { CLI } from './lib/probe.js';
import { rng } from '../fixtures/rng.js';

const PORT_ARGS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];
/** In dut's own (fresh) network namespace: nothing else listens there. */
const LISTEN = '127.0.0.1:19571';
const DST = '198.51.100.1'; // on h2's loopback, behind dut's 198.51.100.0/24 via 10.2.0.2
const GW = '10.2.0.2';
const ROUTES = 50_000;
const DELETES = 20_000;
const CHUNK = 1000; // routes per `ip -batch` file
const PACE_MS = 90; // pause after each chunk: a slice of 10 chunks lasts about 1.2 s
const KILLS = 6;
const KILL_WINDOW_MS = 1200; // kill i: uniformly 0..this ms after churn slice i started (= daemon i reported ready)

/** `ip netns exec NS fib-offload ARGS`, as an operator types it. */
function netnsExec(ns: Netns, ...args: string[]): CliResult {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

function ping(ns: Netns, dst: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', dst]).status === 0;
}

/** `n` distinct random IPv4 prefixes (/16../28, mostly /24), none in 10/8 or 127/8 or overlapping 198.51.100.0/24. */
function randomPrefixes(rand: () => number, n: number): string[] {
  const out = new Set<string>();
  const dst = 0xc6336401; // 198.51.100.1
  while (out.size < n) {
    const r = rand();
    const len = r < 0.85 ? 24 : r < 0.95 ? 16 + Math.floor(rand() * 8) : 25 + Math.floor(rand() * 4);
    const first = 1 + Math.floor(rand() * 223); // 1..223
    if (first === 10 || first === 127) continue;
    const net = (((first << 24) | Math.floor(rand() * 0x1000000)) & (0xffffffff << (32 - len))) >>> 0;
    // Overlap with 198.51.100.0/24: the same network at the shorter of the two lengths.
    const common = (0xffffffff << (32 - Math.min(len, 24))) >>> 0;
    if (((net & common) >>> 0) === ((dst & common) >>> 0)) continue;
    out.add(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`);
  }
  return [...out];
}

describe.skipIf(!isRoot())('lifecycle under ip netns exec: apply, flush, run killed and restarted under churn', () => {
  const nets = new NetnsSet('life');
  let dut: Netns, h1: Netns, h2: Netns;
  let pins = '';
  let tmp = '';
  let http: NsHttp | undefined;
  const daemons: DaemonProcess[] = [];
  const churners = new Set<ChildProcess>();
  let bg: BackgroundPing | undefined;

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-life-'));
    nets.veth(dut, 'eth1', h1, 'eth0');
    nets.veth(dut, 'eth2', h2, 'eth0');
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'route add default via 10.2.0.1', `addr add ${DST}/32 dev lo`]);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
    dut.ipBatch([`route add 198.51.100.0/24 via ${GW} dev eth2`]);
    dut.sysctl('net.ipv4.ip_forward', 0);
    for (const a of ['10.1.0.2', GW]) expect(ping(dut, a), `dut reaches ${a}`).toBe(true);
    for (const ns of [h1, h2]) await enablePeer(ns, 'eth0');
    http = new NsHttp(dut);
  });

  afterAll(async () => {
    if (bg) await Promise.race([bg.stop().catch(() => undefined), sleep(3000)]);
    for (const c of churners) c.kill('SIGKILL');
    for (const d of daemons) await d.stop('SIGKILL');
    http?.stop();
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('apply twice: the second one changes nothing', () => {
    expect(ping(h1, DST), 'ip_forward is off: nothing is forwarded before apply').toBe(false);
    const first = netnsExec(dut, 'apply', ...PORT_ARGS);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/xdp: attached to eth1/);
    const second = netnsExec(dut, 'apply', ...PORT_ARGS);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^xdp: no changes$/m);
    expect(second.stdout).not.toMatch(/attached to|detached from|: \+\d/);
  });

  it('flush: exits 0, nothing attached to any dut link, and the ping that passed stops', () => {
    expect(ping(h1, DST), 'forwarded by XDP (ip_forward is off)').toBe(true);
    expect(xdpAttached(dut).size).toBeGreaterThan(0);
    const r = netnsExec(dut, 'flush');
    expect(r.status, r.stderr).toBe(0);
    expect(Object.fromEntries(xdpAttached(dut)), 'XDP programs on dut links after the flush').toEqual({});
    expect(ping(h1, DST), 'ip_forward is off and the program is gone').toBe(false);
  });

  it(`run: SIGKILL at ${KILLS} random moments during a ${ROUTES / 1000}k-route add / ${DELETES / 1000}k delete churn, restarted each time: no ping lost, the maps end exactly the plan`, async () => {
    const seed = Number(process.env['FOT_LIFECYCLE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const rand = rng(seed);
    const prefixes = randomPrefixes(rand, ROUTES);
    const deleted = prefixes.map((p) => ({ p, k: rand() })).sort((a, b) => a.k - b.k).slice(0, DELETES).map((x) => x.p);
    const moments = Array.from({ length: KILLS }, () => Math.round(rand() * KILL_WINDOW_MS));
    console.log(`lifecycle: seed ${seed} (FOT_LIFECYCLE_SEED=${seed} replays it); kill i at ${moments.join(', ')} ms into churn slice i`);

    // The churn: ROUTES adds then DELETES deletes, CHUNK routes per `ip -batch` file, cut into
    // KILLS + 1 slices. Slice i starts when daemon i is ready (daemon 0: the first one), and daemon i
    // is killed moments[i] ms later while the slice goes on in the background (through the restart too);
    // the last slice runs under the last daemon. So kills 1-5 meet the table growing (past the flat
    // threshold during slice 0 or 1), kill 6 the deletes.
    const chunks: string[] = [];
    for (let i = 0; i < ROUTES; i += CHUNK) {
      const f = join(tmp, `add-${i / CHUNK}`);
      writeFileSync(f, prefixes.slice(i, i + CHUNK).map((p) => `route add ${p} via ${GW} dev eth2 proto static`).join('\n') + '\n');
      chunks.push(f);
    }
    for (let i = 0; i < DELETES; i += CHUNK) {
      const f = join(tmp, `del-${i / CHUNK}`);
      writeFileSync(f, deleted.slice(i, i + CHUNK).map((p) => `route del ${p}`).join('\n') + '\n');
      chunks.push(f);
    }
    const per = Math.ceil(chunks.length / (KILLS + 1));
    const slices = Array.from({ length: KILLS + 1 }, (_, i) => chunks.slice(i * per, (i + 1) * per));
    let done = 0; // chunks applied, all slices
    const runSlice = async (files: readonly string[]): Promise<void> => {
      for (const f of files) {
        const c = spawn('ip', ['netns', 'exec', dut.name, 'ip', '-batch', f], { stdio: ['ignore', 'ignore', 'pipe'] });
        churners.add(c);
        let err = '';
        c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
        const code = await new Promise<number | null>((r) => c.once('close', r));
        churners.delete(c);
        if (code !== 0) throw new Error(`ip -batch ${f}: exit ${code}: ${err}`);
        done++;
        await sleep(PACE_MS);
      }
    };

    const start = (): DaemonProcess => {
      const d = new DaemonProcess(dut, http!, LISTEN, [...PORT_ARGS, '--metrics', LISTEN], {}, 'ip netns exec');
      daemons.push(d);
      return d;
    };
    const t0 = Date.now();
    let d = start();
    await d.waitReady();
    expect(d.log((l) => l.msg === 'xdp program loaded')?.['how'], 'the flush left nothing to reuse').toBe('fresh');
    // `ip netns exec` execs the command: the SIGKILLs below reach the daemon itself, not a parent of it.
    expect(readlinkSync(`/proc/${d.child.pid}/exe`)).toBe(realpathSync(process.execPath));
    const attached = xdpAttached(dut);
    expect([...attached.keys()].sort()).toEqual(['eth1', 'eth2']);
    expect(ping(h1, DST), 'forwarded by the daemon\'s program').toBe(true);
    bg = new BackgroundPing(h1, DST, 0.05);
    await sleep(200);

    const kills: string[] = [];
    for (const [i, m] of moments.entries()) {
      const slice = runSlice(slices[i]!);
      slice.catch(() => undefined);
      await sleep(m);
      const at = { done, batches: d.logs.filter((l) => l.msg === 'programmed batch').length, last: d.logs.at(-1)?.msg ?? '-' };
      d.child.kill('SIGKILL');
      const exit = await d.exited;
      expect(exit.signal, `kill ${i + 1}`).toBe('SIGKILL');
      expect(xdpAttached(dut), `kill ${i + 1}: the program stays attached`).toEqual(attached);
      const t1 = Date.now();
      d = start();
      await d.waitReady();
      const ready = Date.now() - t1;
      const sync = d.log((l) => l.msg === 'full sync installed');
      kills.push(`kill ${i + 1} at ${m} ms into slice ${i} (${at.done}/${chunks.length} chunks in, ${at.batches} batches programmed, ` +
        `last log "${at.last}"); restart ready in ${ready} ms (${sync?.['routes']} routes, ${sync?.['repairs']} repairs)`);
      expect(d.log((l) => l.msg === 'xdp program loaded')?.['how'], `restart ${i + 1} reuses the program`).toBe('reused');
      expect(d.logs.filter((l) => /flush/i.test(l.msg)), `restart ${i + 1} flushes nothing`).toEqual([]);
      await slice;
    }
    await runSlice(slices[KILLS]!);
    expect(done).toBe(chunks.length);

    // The last daemon converges: nothing queued and nothing applied for a second.
    let applied = -1;
    let since = Date.now();
    await eventually('the last daemon idle', async () => {
      const s = await d.status();
      if (s.events.applied !== applied || s.events.queueDepth > 0) {
        applied = s.events.applied;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since >= 1000 ? s : undefined;
    }, 30_000);
    const { sent, received } = await bg.stop();
    bg = undefined;
    console.log(`lifecycle:\n  ${kills.join('\n  ')}\nlifecycle: phase ${Date.now() - t0} ms; ping ${received}/${sent}`);

    const term = await d.stop('SIGTERM');
    expect(term, d.logText()).toEqual({ code: 0, signal: null });
    expect(xdpAttached(dut), 'SIGTERM leaves the program attached').toEqual(attached);
    const final = netnsExec(dut, 'apply', ...PORT_ARGS);
    expect(final.status, final.stderr).toBe(0);
    expect(final.stdout, 'the maps hold exactly the plan').toMatch(/^xdp: no changes$/m);
    // Main's IPv4 entries: what the churn left, and 10.1.0.0/24, 10.2.0.0/24, 198.51.100.0/24.
    expect(final.stdout).toMatch(new RegExp(`table 254 IPv4: flat DIR-24-8 array \\(${ROUTES - DELETES + 3} routes\\), unchanged`));

    expect(sent).toBeGreaterThan(100);
    expect(received, `${sent - received} of ${sent} pings lost`).toBe(sent);
  }, 80_000);
});
