// The daemon (`fib-offload run --backend tc`) programming tc flower in the
// Debian 6.1 kernel: h1 — dut — h2, ip_forward off in dut so only tc can
// forward. tc.policy hw-only on veth is refused (EOPNOTSUPP), so the block
// falls back to software (tc.fallback: sw) and the fallback is counted once;
// routes added and deleted while it runs are programmed into the block.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../integration/lib/agent.js';
import { DaemonProcess, NsHttp, sampleValue, sleep } from '../integration/lib/daemon.js';
import { NetnsSet, type Netns } from '../integration/lib/netns.js';

const LISTEN = '127.0.0.1:19481';

function ping(ns: Netns, dst: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', dst]).status === 0;
}

interface TcFilterJson {
  chain: number;
  options?: { not_in_hw?: boolean; skip_sw?: boolean; keys?: { dst_ip?: string }; actions?: Array<{ cookie?: string }> };
}
function tcFilters(dut: Netns): TcFilterJson[] {
  const p = spawnSync('ip', ['netns', 'exec', dut.name, 'tc', '-j', 'filter', 'show', 'block', '254'], { encoding: 'utf8' });
  if (p.status !== 0 || !p.stdout.trim()) return [];
  return (JSON.parse(p.stdout) as TcFilterJson[]).filter((f) => f.options !== undefined);
}
const ruleFor = (dut: Netns, dst: string): TcFilterJson | undefined => tcFilters(dut).find((f) => f.chain === 1 && f.options!.keys?.dst_ip === dst);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('the daemon with the tc backend (hw-only refused by veth → sw)', () => {
  const nets = new NetnsSet('tcd');
  let dut: Netns, h1: Netns, h2: Netns;
  let http: NsHttp | undefined;
  let d: DaemonProcess | undefined;
  let tmp = '';
  let flushed = false;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'fot-tcd-'));
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: '02:00:00:00:01:02' });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: '02:00:00:00:02:02' });
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'route add default via 10.2.0.1', 'addr add 198.51.100.1/32 dev lo']);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
    dut.sysctl('net.ipv4.ip_forward', 0);
    expect(ping(dut, '10.1.0.2') && ping(dut, '10.2.0.2'), 'dut reaches h1 and h2').toBe(true);
    const config = join(tmp, 'config.yaml');
    writeFileSync(config, `ports: [eth1, eth2]\nbackend: tc\ntc:\n  policy: hw-only\n  fallback: sw\nmetrics:\n  listen: "${LISTEN}"\n`);
    http = new NsHttp(dut);
    d = new DaemonProcess(dut, http, LISTEN, ['--config', config, '--backend', 'tc', '--ports', 'eth1,eth2', '--flush-on-exit']);
    await d.waitReady(60_000);
  });

  afterAll(async () => {
    await d?.stop().catch(() => undefined);
    http?.stop();
    // The daemon flushed on exit (last test); otherwise clean up with the CLI (one more slow node start under TCG).
    if (dut && !flushed) agent(dut, 'flush');
    nets.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('falls back to software once, counted and shown in /status', async () => {
    const text = await d!.withLogs(d!.metrics());
    expect(sampleValue(text, 'fib_offload_fallbacks_total', { from: 'tc', to: 'sw', reason: 'EOPNOTSUPP' })).toBe(1);
    const s = await d!.status();
    for (const dev of ['eth1', 'eth2']) {
      const p = s.ports.find((x) => x.dev === dev);
      expect(p?.backend, JSON.stringify(s.ports)).toBe('tc');
      expect(p?.fallback?.to).toBe('sw');
    }
    // Software rules: not skip_sw, not in hardware.
    const fs = tcFilters(dut);
    expect(fs.length).toBeGreaterThan(0);
    for (const f of fs) {
      expect(f.options!.actions?.[0]?.cookie).toMatch(/^fb01/);
      expect(f.options!.skip_sw).toBeUndefined();
    }
  });

  it('a route added while running gets its rule and forwards with ip_forward off; deleted, it is gone', async () => {
    expect(ping(h1, '198.51.100.1')).toBe(false);
    dut.ip('route', 'add', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    await d!.withLogs(until('the rule for 198.51.100.0/24', () => ruleFor(dut, '198.51.100.0/24') !== undefined));
    expect(ping(h1, '198.51.100.1')).toBe(true);
    dut.ip('route', 'del', '198.51.100.0/24');
    await d!.withLogs(until('the rule to go', () => ruleFor(dut, '198.51.100.0/24') === undefined));
    expect(ping(h1, '198.51.100.1')).toBe(false);
    // Batches send only their rules (no probe, no dump); the fallback is still counted once.
    expect(sampleValue(await d!.metrics(), 'fib_offload_fallbacks_total', { from: 'tc', to: 'sw', reason: 'EOPNOTSUPP' })).toBe(1);
  });

  it('--flush-on-exit removes the rules and the clsact qdiscs', async () => {
    const exit = await d!.stop();
    expect(exit.code, d!.logText()).toBe(0);
    expect(tcFilters(dut)).toEqual([]);
    expect(dut.exec('tc', 'qdisc', 'show', 'dev', 'eth1')).not.toMatch(/clsact/);
    flushed = true;
  });
});
