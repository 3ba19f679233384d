// The FPM server against real zebra (FRR 10, Debian forky's, chrooted from
// the cached root of scripts/frr-root.sh): zebra runs with dplane_fpm_nl and
// --asic-offload=notify_on_offload in dut, installs static routes into dut's
// kernel and streams them to the agent, which answers each from what it
// installed (XDP on eth1; eth2 is not an offload port). zebra's own
// `show ip route json` is the judge: offloaded, trapped, queued.
//   h1 — eth1 (offloaded, XDP) — dut — eth2 (not an offload port) — h2
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { DaemonProcess, NsHttp, sampleValue, sleep } from './lib/daemon.js';
import { Frr10, frrRoot, type ZebraRoute } from './lib/frr10.js';

const LISTEN = '127.0.0.1:19471';
const FPM_PORT = 12620;
const MAC = { h1: '02:00:00:00:01:02', h2: '02:00:00:00:02:02' };

describe.skipIf(!isRoot())('FPM: zebra 10 learns what the agent offloads', () => {
  const nets = new NetnsSet('fpm');
  let dut: Netns, h1: Netns, h2: Netns;
  let http: NsHttp | undefined;
  let frr: Frr10 | undefined;
  let tmp = '';
  let pins = '';
  const daemons: DaemonProcess[] = [];

  function startAgent(): DaemonProcess {
    const d = new DaemonProcess(dut, http!, LISTEN, ['--config', join(tmp, 'agent.yaml'), '--metrics', LISTEN]);
    daemons.push(d);
    return d;
  }

  const one = (prefix: string): ZebraRoute | undefined => frr!.route(prefix).find((r) => r.protocol === 'static');

  beforeAll(async () => {
    const root = frrRoot(10); // built once (about a minute), then cached under .cache/frr
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-fpm-'));
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: MAC.h1 });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: MAC.h2 });
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2',
      // Resolved next hops from the start: the verdicts under test don't wait for ARP.
      `neigh replace 10.1.0.2 lladdr ${MAC.h1} dev eth1 nud permanent`, `neigh replace 10.2.0.2 lladdr ${MAC.h2} dev eth2 nud permanent`]);
    h1.ip('addr', 'add', '10.1.0.2/24', 'dev', 'eth0');
    h2.ip('addr', 'add', '10.2.0.2/24', 'dev', 'eth0');
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
    await enablePeer(h1, 'eth0');
    http = new NsHttp(dut);
    writeFileSync(join(tmp, 'agent.yaml'), [
      'ports: [eth1]', 'backend: xdp', `fpm: { listen: "127.0.0.1:${FPM_PORT}" }`, 'keepalive: { interval: off }', 'log: { level: debug }', '',
    ].join('\n'));
    frr = new Frr10(dut, root, `fot-fpm-${process.pid}`);
    frr.prepare(`fpm address 127.0.0.1 port ${FPM_PORT}\n`);
    const d = startAgent();
    await d.waitReady();
    frr.startAll();
    await d.withLogs(eventually('zebra connected to the FPM server', async () => ((await d.status()).fpm?.connected ? true : undefined), 15_000));
  }, 240_000);

  afterAll(async () => {
    frr?.stop();
    for (const d of daemons) {
      if (!d.alive) continue;
      d.signal('SIGKILL');
      await d.exited;
    }
    http?.stop();
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('is FRR 10.4 or later (10.3 drops FPM replies)', () => {
    const [maj, min] = frr!.version.split('.').map(Number);
    expect(maj! > 10 || (maj === 10 && min! >= 4), frr!.version).toBe(true);
  });

  it('a route the agent installs is offloaded in zebra within a second of the install', async () => {
    const d = daemons[0]!;
    const from = d.logs.length;
    frr!.configure('ip route 192.0.2.0/24 10.1.0.2');
    const seen = await d.withLogs(eventually('192.0.2.0/24 offloaded in zebra', () => (one('192.0.2.0/24')?.offloaded === true ? Date.now() : undefined), 5_000));
    // vtysh runs synchronously: the agent's log lines are read once the test yields.
    const batch = await d.waitLog('the batch installing 192.0.2.0/24', (l) => l.msg === 'programmed batch', 5_000, from);
    const installedAt = Date.parse(String(batch['time']));
    const ms = seen - installedAt;
    console.log(`FPM: install → offloaded in zebra (seen by polling vtysh): ${ms} ms`);
    expect(ms).toBeLessThan(1000);
    const r = one('192.0.2.0/24')!;
    expect({ offloaded: r.offloaded, trapped: r.trapped ?? false, queued: r.queued ?? false, installed: r.installed }).toEqual({
      offloaded: true, trapped: false, queued: false, installed: true,
    });
    const s = (await d.status()).fpm!;
    expect(s.verdicts.offload).toBeGreaterThanOrEqual(1);
  });

  it("a route whose egress isn't an offload port is answered offload+trap, so it isn't held back", async () => {
    frr!.configure('ip route 198.51.100.0/24 10.2.0.2');
    const r = await eventually('198.51.100.0/24 answered', () => {
      const x = one('198.51.100.0/24');
      return x && !x.queued && x.offloaded !== undefined ? x : undefined;
    }, 5_000);
    expect({ offloaded: r.offloaded, trapped: r.trapped ?? false, queued: r.queued ?? false }).toEqual({ offloaded: true, trapped: true, queued: false });
    const m = await daemons[0]!.metrics();
    expect(sampleValue(m, 'fib_offload_fpm_replies_total', { flag: 'trap' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(m, 'fib_offload_fpm_connected')).toBe(1);
  });

  let routesBefore = 0;

  it('with the agent stopped a new route stays queued; after it starts (zebra reconnects and replays) it is offloaded', async () => {
    await daemons[0]!.stop('SIGTERM');
    frr!.configure('ip route 203.0.113.0/24 10.1.0.2');
    await sleep(1500);
    const held = one('203.0.113.0/24');
    expect({ queued: held?.queued ?? false, offloaded: held?.offloaded ?? null }).toEqual({ queued: true, offloaded: null });
    const d = startAgent();
    await d.waitReady();
    const t0 = Date.now();
    await d.withLogs(eventually('203.0.113.0/24 offloaded after the agent is back', () => (one('203.0.113.0/24')?.offloaded === true ? true : undefined), 15_000));
    console.log(`FPM: agent ready → replayed route offloaded in zebra: ${Date.now() - t0} ms (zebra reconnects every 3 s)`);
    // The routes from before the restart are answered again from the new agent's state.
    expect(one('192.0.2.0/24')?.offloaded).toBe(true);
    const s = (await d.status()).fpm!;
    // zebra also sends the kernel's connected and local routes: every route is answered, none waits.
    expect({ connected: s.connected, waiting: s.verdicts.wait, failed: s.verdicts.failed, drift: s.drift }).toEqual({
      connected: true, waiting: 0, failed: 0, drift: { zebraOnly: 0, kernelOnly: 0 },
    });
    expect(s.verdicts.offload).toBe(2); // 192.0.2.0/24 and 203.0.113.0/24 via eth1
    routesBefore = s.routes;
  });

  it('a withdrawn route leaves zebra, the kernel and the FPM table', async () => {
    const d = daemons[daemons.length - 1]!;
    frr!.configure('no ip route 192.0.2.0/24 10.1.0.2');
    await d.withLogs(eventually('192.0.2.0/24 gone from the FPM table', async () => ((await d.status()).fpm!.routes === routesBefore - 1 ? true : undefined), 5_000));
    expect(one('192.0.2.0/24')).toBeUndefined();
    expect(dut.ip('route', 'show', '192.0.2.0/24').trim()).toBe('');
  });
});
