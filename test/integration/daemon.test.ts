// The daemon (`fib-offload run`) on a real kernel: h1 — dut — {h2, h3}, ip_forward
// off in dut so only the XDP program forwards. h2 and h3 both own 198.51.100.1
// (h3 answers with TTL 50, so a reply says which one it came from); dut routes
// 198.51.100.0/24 via h2 (metric 10) with h3 as the backup (metric 20). The
// daemon runs under `nsenter --net` (ip netns exec would hide the host bpffs);
// its /status, /metrics and /healthz are reached from inside dut.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { BackgroundPing, Counters, agent, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { CLI } from './lib/probe.js';
import {
  DaemonProcess,
  NsHttp,
  histogram,
  histogramDelta,
  histogramQuantile,
  installedRoutes,
  parseSamples,
  planOf,
  routeKey,
  sampleValue,
  sleep,
  xdpAttached,
} from './lib/daemon.js';

const MAC = { h1: '02:00:00:00:01:02', h2: '02:00:00:00:02:02', h2b: '02:00:00:00:02:0b', h3: '02:00:00:00:03:02' };
const PORTS = 'eth1,eth2,eth3';
const LISTEN = '127.0.0.1:19469';
const LISTEN_HUP = '127.0.0.1:19470';
const TTL_H2 = 63; // h2 sends 64, one hop
const TTL_H3 = 49; // h3 sends 50, one hop

function ping(ns: Netns, dst: string, ...opts: string[]): { ok: boolean; out: string } {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', ...opts, dst], { encoding: 'utf8' });
  return { ok: p.status === 0, out: p.stdout + p.stderr };
}

/** One echo, short wait: for polling. */
function ping1(ns: Netns, dst: string): { ok: boolean; ttl: number | null } {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '0.3', dst], { encoding: 'utf8' });
  const m = /ttl=(\d+)/.exec(p.stdout);
  return { ok: p.status === 0, ttl: m ? Number(m[1]) : null };
}

/** `fib-offload ARGS` in the namespace, bounded in time (a daemon that wrongly starts must not hang the test). */
function cli(ns: Netns, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const p = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 15_000, maxBuffer: 512 << 20 });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

/** `route add` lines for n /32s under 172.<base>.0.0 (n <= 65536 per base step). */
function hostRoutes(base: number, n: number, op: 'add' | 'del'): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const dst = `172.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    out.push(op === 'add' ? `route add ${dst} via 10.2.0.2 dev eth2 proto static` : `route del ${dst}`);
  }
  return out;
}

describe.skipIf(!isRoot())('the daemon: fib-offload run', () => {
  const nets = new NetnsSet('daemon');
  let dut: Netns, h1: Netns, h2: Netns, h3: Netns;
  let pins = '';
  let tmp = '';
  let http: NsHttp | undefined;
  let counters: Counters;
  const daemons: DaemonProcess[] = [];
  let bg: BackgroundPing | undefined;
  let d1: DaemonProcess; // tests 1-3, 8; killed with -9 in the restart test
  let d2: DaemonProcess; // the restarted one: ENOBUFS, a burst while running, then SIGTERM

  function startDaemon(...extra: string[]): DaemonProcess {
    return startDaemonWith({}, ...extra);
  }

  function startDaemonWith(env: Record<string, string>, ...extra: string[]): DaemonProcess {
    // The LPM trie for every table: these tests compare fo_lpm4 entry by entry with the plan
    // (20k routes would otherwise go to the flat array; xdp-differential and xdp-rewrite test that).
    const d = new DaemonProcess(dut, http!, LISTEN, ['--config', join(tmp, 'trie.yaml'), '--ports', PORTS, '--metrics', LISTEN, ...extra], env);
    daemons.push(d);
    return d;
  }

  /** The daemon's view equals a one-shot `plan --json` and the maps hold exactly the plan's entries; throws what differs. */
  async function converged(d: DaemonProcess): Promise<{ planV4: number; installedV4: number }> {
    const s = await d.status();
    const plan = planOf(dut, '--ports', PORTS);
    const inst = installedRoutes(pins);
    const c = s.counts;
    if (!c) throw new Error('no counts in /status yet');
    const fwd = plan.entries.filter((e) => e.action === 'forward').length;
    const problems: string[] = [];
    const cmp = (what: string, got: number, want: number): void => {
      if (got !== want) problems.push(`${what}: daemon ${got}, plan ${want}`);
    };
    cmp('entries', c.entries, plan.entries.length);
    cmp('forward', c.forward, fwd);
    cmp('punt', c.punt, plan.entries.length - fwd);
    cmp('groups', c.groups, plan.groups.length);
    cmp('skipped', c.skipped, plan.skipped.length);
    const want = new Set(plan.entries.map(routeKey));
    const installed = [...inst.v4, ...inst.v6].map(routeKey);
    const have = new Set(installed);
    cmp('installed map entries', installed.length, plan.entries.length);
    const missing = [...want].filter((k) => !have.has(k));
    const extra = [...have].filter((k) => !want.has(k));
    if (missing.length) problems.push(`${missing.length} plan entries not installed, e.g. ${missing.slice(0, 3).join(', ')}`);
    if (extra.length) problems.push(`${extra.length} installed entries not in the plan, e.g. ${extra.slice(0, 3).join(', ')}`);
    const planPorts = plan.ports.filter((p) => p.backend === 'xdp').map((p) => p.dev);
    if (JSON.stringify(s.ports.map((p) => p.dev)) !== JSON.stringify(planPorts)) problems.push(`ports: ${s.ports.map((p) => p.dev)} vs ${planPorts}`);
    if (problems.length) throw new Error(problems.join('; '));
    return { planV4: plan.entries.filter((e) => e.family === 4).length, installedV4: inst.v4.length };
  }

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    h3 = nets.add('h3');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-daemon-'));
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: MAC.h1 });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: MAC.h2 });
    nets.veth(dut, 'eth3', h3, 'eth0', { bMac: MAC.h3 });
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'route add default via 10.2.0.1',
      'addr add 198.51.100.1/32 dev lo', 'addr add 203.0.113.1/32 dev lo', 'addr add 192.0.2.1/32 dev lo']);
    h3.ipBatch(['addr add 10.3.0.2/24 dev eth0', 'route add default via 10.3.0.1', 'addr add 198.51.100.1/32 dev lo']);
    h3.sysctl('net.ipv4.ip_default_ttl', 50);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2', 'addr add 10.3.0.1/24 dev eth3']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [dut, 'eth3'], [h1, 'eth0'], [h2, 'eth0'], [h3, 'eth0']] as const) {
      await ns.waitCarrier(dev);
    }
    dut.ipBatch([
      'route add 198.51.100.0/24 via 10.2.0.2 dev eth2 metric 10',
      'route add 198.51.100.0/24 via 10.3.0.2 dev eth3 metric 20',
    ]);
    dut.sysctl('net.ipv4.ip_forward', 0);
    dut.sysctl('net.ipv6.conf.all.forwarding', 0);
    for (const a of ['10.1.0.2', '10.2.0.2', '10.3.0.2']) expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
    for (const ns of [h1, h2, h3]) await enablePeer(ns, 'eth0');
    counters = new Counters(pins);
    http = new NsHttp(dut);
    writeFileSync(join(tmp, 'add-a'), hostRoutes(16, 20_000, 'add').join('\n') + '\n');
    writeFileSync(join(tmp, 'trie.yaml'), 'xdp: { flat_threshold: 1000000000 }\n');
  });

  afterAll(async () => {
    for (const d of daemons) {
      if (!d.alive) continue;
      d.signal('SIGCONT');
      d.signal('SIGKILL');
      await d.exited;
    }
    await bg?.stop().catch(() => undefined);
    http?.stop();
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Nothing the agent makes exists in dut: no XDP on any link, nothing pinned. */
  function expectNothingInstalled(): void {
    expect([...xdpAttached(dut).keys()]).toEqual([]);
    expect(existsSync(pins)).toBe(false);
  }

  it('bad configs and bad flags: exit 2 naming the key path or flag, and nothing changes in the kernel', () => {
    expectNothingInstalled();
    const configs: Array<[string, string, RegExp]> = [
      ['unknown key', 'ports: [eth1, eth2]\nxdp:\n  moed: native\n', /xdp\.moed: unknown key "moed"/],
      ['bad value', 'ports: [eth1, eth2]\ntc:\n  policy: fastest\n', /tc\.policy: expected one of hw-only, hw-preferred, sw; got "fastest"/],
      ['bad port glob', 'ports: [eth1, "eth[2"]\n', /ports\[1\]: .*unbalanced "\[" or "\]" in glob/],
      ['bad listen address', 'ports: [eth1]\nmetrics:\n  listen: "localhost"\n', /metrics\.listen: expected HOST:PORT/],
    ];
    for (const [what, text, message] of configs) {
      const file = join(tmp, `bad-${what.replace(/ /g, '-')}.yaml`);
      writeFileSync(file, text);
      const r = cli(dut, 'run', '--config', file);
      expect(r.status, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(message);
      expect(r.stderr, what).toContain(file);
      expectNothingInstalled();
    }
    const flags: Array<[string[], RegExp]> = [
      [['--metrics', 'nonsense'], /--metrics: expected HOST:PORT/],
      [['--backend', 'foo'], /--backend: expected one of auto, tc, xdp, dry-run; got "foo"/],
      [['--ports', 'eth[1'], /--ports: .*glob/],
      [['--config', join(tmp, 'missing.yaml')], /missing\.yaml: config file not found/],
    ];
    for (const [args, message] of flags) {
      const r = cli(dut, 'run', '--ports', PORTS, ...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expectNothingInstalled();
    }
  });

  it('starts: /healthz 200, /status ready with every port attached, the plan installed', async () => {
    d1 = startDaemon();
    await d1.waitReady();
    const h = await http!.get(d1.url('/healthz'));
    expect(h).toEqual({ status: 200, body: 'ok\n' });
    expect((await http!.get(d1.url('/nope'))).status).toBe(404);
    const s = await d1.status();
    expect(s.ready).toBe(true);
    expect(s.backend).toBe('xdp');
    expect(s.ports.map((p) => [p.dev, p.backend, p.attached])).toEqual([['eth1', 'xdp', 'native'], ['eth2', 'xdp', 'native'], ['eth3', 'xdp', 'native']]);
    expect(s.xdp?.load).toBe('fresh');
    expect(s.xdp?.pinDir).toBe(pins);
    expect(s.lastResync?.reason).toBe('start');
    expect(s.lastError).toBeNull();
    expect(d1.log((l) => l.msg === 'xdp program loaded')?.['how']).toBe('fresh');
    expect(d1.log((l) => l.msg === 'ready')).toBeDefined();
    await eventually('daemon == plan == maps', () => converged(d1), 5000);
    expect([...xdpAttached(dut).keys()].sort()).toEqual(['eth1', 'eth2', 'eth3']);
    // `fib-offload status` reads the same thing.
    const st = cli(dut, 'status', '--metrics', LISTEN);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/^fib-offload: ready since .*, backend xdp$/m);
    expect(st.stdout).toMatch(/^ports: eth1\(xdp\) eth2\(xdp\) eth3\(xdp\)$/m);
    // And it forwards.
    const p = ping(h1, '198.51.100.1');
    expect(p.ok, p.out).toBe(true);
    expect(p.out).toMatch(new RegExp(`ttl=${TTL_H2}`));
  });

  it('routes and neighbours added and removed while running converge, and traffic follows them', async () => {
    expect(ping1(h1, '203.0.113.1').ok).toBe(false);
    dut.ip('route', 'add', '203.0.113.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    await eventually('203.0.113.1 answers through dut', () => (ping1(h1, '203.0.113.1').ok ? true : undefined), 3000);
    await eventually('daemon == plan == maps after a route add', () => converged(d1), 5000);

    const n0 = (await d1.status()).counts!.neighbors;
    dut.ip('neigh', 'add', '10.2.0.77', 'lladdr', '02:00:00:00:02:77', 'dev', 'eth2', 'nud', 'permanent');
    await eventually('a neighbour add', async () => ((await d1.status()).counts!.neighbors === n0 + 1 ? true : undefined), 3000);
    await eventually('daemon == plan == maps after a neighbour add', () => converged(d1), 5000);
    expect(installedRoutes(pins).v4.map(routeKey)).toContain('254|4|10.2.0.77/32|forward');
    dut.ip('neigh', 'del', '10.2.0.77', 'dev', 'eth2');
    await eventually('a neighbour delete', async () => ((await d1.status()).counts!.neighbors === n0 ? true : undefined), 3000);
    await eventually('daemon == plan == maps after a neighbour delete', () => converged(d1), 5000);
    expect(installedRoutes(pins).v4.map(routeKey)).not.toContain('254|4|10.2.0.77/32|forward');

    dut.ip('route', 'del', '203.0.113.0/24');
    await eventually('203.0.113.1 no longer forwarded', () => (!ping1(h1, '203.0.113.1').ok ? true : undefined), 3000);
    await eventually('daemon == plan == maps after a route delete', () => converged(d1), 5000);
    expect(ping(h1, '203.0.113.1').ok).toBe(false);
  });

  it('an ip rule added while running hands its port to the kernel (/status, policy_punted); deleting it gives the port back', async () => {
    const policyOf = async (): Promise<string | null> => (await d1.status()).ports.find((p) => p.dev === 'eth1')?.policy ?? null;
    expect(await policyOf()).toBeNull();
    dut.ip('rule', 'add', 'iif', 'eth1', 'fwmark', '0x1', 'lookup', '100', 'pref', '100');
    try {
      await eventually('eth1 handed to the kernel', async () => ((await policyOf()) === 'fwmark' ? true : undefined), 3000);
      expect((await d1.status()).policy).toEqual([{ scope: 'port', ifindex: dut.ifindex('eth1'), dev: 'eth1', family: 4, reason: 'fwmark', rule: '100: from all fwmark 0x1 iif eth1 lookup 100' }]);
      expect(sampleValue(await d1.metrics(), 'fib_offload_policy_punted', { reason: 'fwmark', scope: 'port' })).toBe(1);
    } finally {
      dut.ip('rule', 'del', 'pref', '100');
    }
    await eventually('eth1 offloaded again', async () => ((await policyOf()) === null ? true : undefined), 3000);
    await eventually('daemon == plan == maps after the rule went', () => converged(d1), 5000);
  });

  it('a neighbour MAC change takes effect by itself: traffic follows within a short poll, in one or two batches', async () => {
    const b0 = (await d1.status()).events.batches;
    const from = d1.logs.length;
    h2.ip('link', 'set', 'dev', 'eth0', 'address', MAC.h2b);
    dut.ip('neigh', 'replace', '10.2.0.2', 'lladdr', MAC.h2b, 'dev', 'eth2', 'nud', 'reachable');
    await eventually('198.51.100.1 answers from h2 at its new MAC', () => (ping1(h1, '198.51.100.1').ttl === TTL_H2 ? true : undefined), 2000);
    const s = await d1.status();
    expect(s.events.batches - b0).toBeGreaterThanOrEqual(1);
    expect(s.events.batches - b0).toBeLessThanOrEqual(3);
    // One group rewritten: one plan op, whatever the number of routes behind the group.
    // The batch's log line can still be in the pipe when the ping already answers.
    const batch = await eventually('the batch log line', () => d1.logs.slice(from).find((l) => l.msg === 'programmed batch'), 2000)
      .catch(() => undefined);
    expect(batch?.['planOps'], d1.logText()).toBe(1);
    expect(batch?.['mapOps']).toBe(1);
  });

  it('a link going down moves traffic to the remaining path by itself, within a short poll', async () => {
    expect(ping1(h1, '198.51.100.1').ttl).toBe(TTL_H2);
    const b0 = (await d1.status()).events.batches;
    // The kernel flushes the IPv4 routes over eth2 without telling anyone: the mirror must do it.
    dut.ip('link', 'set', 'dev', 'eth2', 'down');
    await eventually('198.51.100.1 answers from h3 (the metric 20 path)', () => (ping1(h1, '198.51.100.1').ttl === TTL_H3 ? true : undefined), 2000);
    const s = await d1.status();
    expect(s.events.batches - b0).toBeGreaterThanOrEqual(1);
    expect(s.events.batches - b0).toBeLessThanOrEqual(3);
    await eventually('daemon == plan == maps with eth2 down', () => converged(d1), 5000);
    // Back: link up, the route again, the neighbour resolved again (forwarding off: only dut's own traffic resolves it).
    dut.ip('link', 'set', 'dev', 'eth2', 'up');
    await dut.waitCarrier('eth2');
    dut.ip('route', 'add', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', 'eth2', 'metric', '10');
    expect(ping(dut, '10.2.0.2').ok).toBe(true);
    await eventually('198.51.100.1 answers from h2 again', () => (ping1(h1, '198.51.100.1').ttl === TTL_H2 ? true : undefined), 3000);
    await eventually('daemon == plan == maps with eth2 back', () => converged(d1), 5000);
  });

  it('event_to_install_seconds for single route adds (200, one by one): p50 / p99 from the histogram', async () => {
    const before = histogram(await d1.metrics(), 'fib_offload_event_to_install_seconds');
    const e0 = (await d1.status()).counts!.entries;
    const N = 200;
    for (let i = 0; i < N; i++) {
      dut.ip('route', 'add', `10.200.${i}.0/24`, 'via', '10.2.0.2', 'dev', 'eth2');
      await sleep(5);
    }
    await eventually('all installed', async () => ((await d1.status()).counts!.entries === e0 + N ? true : undefined), 5000);
    const delta = histogramDelta(histogram(await d1.metrics(), 'fib_offload_event_to_install_seconds'), before);
    expect(delta.count).toBeGreaterThanOrEqual(N);
    const p50 = histogramQuantile(delta, 0.5);
    const p99 = histogramQuantile(delta, 0.99);
    const bounds = delta.buckets.map((b) => `le ${b.le}: ${b.count}`).join(', ');
    console.log(`event_to_install_seconds over ${delta.count} events (${N} single route adds): ` +
      `p50 ${(p50 * 1000).toFixed(2)} ms, p99 ${(p99 * 1000).toFixed(2)} ms, mean ${((delta.sum / delta.count) * 1000).toFixed(2)} ms\n  ${bounds}`);
    expect(p50).toBeLessThan(0.05);
    expect(p99).toBeLessThan(0.5);
    dut.ipBatch(Array.from({ length: N }, (_, i) => `route del 10.200.${i}.0/24`));
    await eventually('daemon == plan == maps after removing them', () => converged(d1), 5000);
  });

  it('coalesces: ten add/delete flaps of one route in one ip -batch cost far fewer than 20 batches', async () => {
    const flaps = Array.from({ length: 10 }, () => ['route add 192.0.2.0/24 via 10.2.0.2 dev eth2', 'route del 192.0.2.0/24']).flat();
    // Ending deleted: nothing is forwarded.
    let s0 = await d1.status();
    dut.ipBatch(flaps);
    let s1 = await eventually('20 events applied', async () => {
      const s = await d1.status();
      return s.events.applied >= s0.events.applied + 20 && s.events.queueDepth === 0 ? s : undefined;
    }, 5000);
    expect(s1.events.batches - s0.events.batches).toBeLessThanOrEqual(3);
    await eventually('daemon == plan == maps', () => converged(d1), 5000);
    expect(ping(h1, '192.0.2.1').ok).toBe(false);
    // Ending added: the final state is what gets programmed.
    s0 = await d1.status();
    dut.ipBatch([...flaps, 'route add 192.0.2.0/24 via 10.2.0.2 dev eth2']);
    s1 = await eventually('21 events applied', async () => {
      const s = await d1.status();
      return s.events.applied >= s0.events.applied + 21 && s.events.queueDepth === 0 ? s : undefined;
    }, 5000);
    expect(s1.events.batches - s0.events.batches).toBeLessThanOrEqual(3);
    await eventually('daemon == plan == maps', () => converged(d1), 5000);
    expect(ping(h1, '192.0.2.1').ok).toBe(true);
    dut.ip('route', 'del', '192.0.2.0/24');
  });

  it('/metrics serves every metric DESIGN.md lists, with values that agree with /status, plus process metrics', async () => {
    await eventually('daemon == plan == maps', () => converged(d1), 5000);
    const text = await d1.metrics();
    const s = await d1.status();
    const listed: Array<[string, string]> = [
      ['routes', 'gauge'], ['entries', 'gauge'], ['adjacency_groups', 'gauge'], ['unresolved_routes', 'gauge'],
      ['events_total', 'counter'], ['resyncs_total', 'counter'], ['program_ops_total', 'counter'],
      ['program_duration_seconds', 'histogram'], ['event_to_install_seconds', 'histogram'],
      ['queue_depth', 'gauge'], ['fallbacks_total', 'counter'],
      // Added by the reconcile layer: per-entry status and health.
      ['plan_entries', 'gauge'], ['degraded', 'gauge'], ['retries_total', 'counter'],
    ];
    for (const [name, type] of listed) {
      expect(text, name).toMatch(new RegExp(`^# HELP fib_offload_${name} \\S`, 'm'));
      expect(text, name).toMatch(new RegExp(`^# TYPE fib_offload_${name} ${type}$`, 'm'));
    }
    for (const name of ['program_duration_seconds', 'event_to_install_seconds']) {
      const h = histogram(text, `fib_offload_${name}`);
      expect(h.count, name).toBeGreaterThan(0);
      expect(h.buckets.at(-1), name).toEqual({ le: Infinity, count: h.count });
    }
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(parseSamples(text).some((x) => x.name === name), name).toBe(true);
    }
    // Values agree with /status and with `show --json`.
    expect(sampleValue(text, 'fib_offload_plan_entries', { action: 'forward' })).toBe(s.counts!.forward);
    expect(sampleValue(text, 'fib_offload_plan_entries', { action: 'punt' })).toBe(s.counts!.punt);
    // Every entry installed, none failed: per-entry status, and health says so.
    expect(sampleValue(text, 'fib_offload_entries', { backend: 'xdp', state: 'installed' })).toBe(s.counts!.entries);
    expect(sampleValue(text, 'fib_offload_entries', { backend: 'xdp', state: 'failed' })).toBe(0);
    expect(sampleValue(text, 'fib_offload_degraded')).toBe(0);
    expect(sampleValue(text, 'fib_offload_fallbacks_total', { from: 'tc', to: 'xdp', reason: 'EOPNOTSUPP' })).toBe(0);
    expect(sampleValue(text, 'fib_offload_adjacency_groups')).toBe(s.counts!.groups);
    expect(sampleValue(text, 'fib_offload_unresolved_routes')).toBe(s.counts!.unresolved);
    expect(sampleValue(text, 'fib_offload_queue_depth')).toBe(0);
    expect(sampleValue(text, 'fib_offload_resyncs_total', { reason: 'start' })).toBe(1);
    expect(sampleValue(text, 'fib_offload_events_total', { type: 'route' })).toBeGreaterThan(0);
    expect(sampleValue(text, 'fib_offload_events_total', { type: 'neigh' })).toBeGreaterThan(0);
    expect(sampleValue(text, 'fib_offload_program_ops_total', { backend: 'xdp', op: 'add', result: 'ok' })).toBeGreaterThan(0);
    const show = JSON.parse(cli(dut, 'show', '--json', '--ports', PORTS).stdout) as { routes: Array<{ table: string | number; family: number }> };
    const mainV4 = show.routes.filter((r) => r.family === 4 && r.table === 'main').length;
    expect(sampleValue(text, 'fib_offload_routes', { family: '4', table: '254' })).toBe(mainV4);
  });

  it('kill -9 while programming a 20k-route burst, then restart: program reused, no flush, exactly the plan, no ping lost', async () => {
    const attached = xdpAttached(dut);
    const f0 = counters.verdicts().forwarded;
    bg = new BackgroundPing(h1, '198.51.100.1', 0.005);
    await eventually('ping running through the offload', () => (counters.verdicts().forwarded > f0 + 10 ? true : undefined), 5000);
    const from = d1.logs.length;
    const burst = spawn('ip', ['-n', dut.name, '-batch', join(tmp, 'add-a')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const burstDone = new Promise<number | null>((r) => burst.once('exit', r));
    await d1.waitLog('a batch of the burst programmed', (l) => l.msg === 'programmed batch' && Number(l['planOps']) > 0, 15_000, from);
    d1.signal('SIGKILL');
    expect((await d1.exited).signal).toBe('SIGKILL');
    const atKill = installedRoutes(pins).v4.length;
    expect(await burstDone).toBe(0);
    expect(xdpAttached(dut)).toEqual(attached); // the program stays attached: the kernel keeps forwarding with the maps as they are

    // A 1 MiB event socket (the default is 32 MiB, forced past rmem_max), so the ENOBUFS tests below can overrun it.
    d2 = startDaemonWith({ FIB_OFFLOAD_EVENT_BUFFER: String(1 << 20) });
    await d2.waitReady(30_000);
    expect(d2.log((l) => l.msg === 'xdp program loaded')?.['how']).toBe('reused');
    expect(d2.logs.filter((l) => /flush/i.test(l.msg))).toEqual([]);
    const s = await d2.status();
    expect(s.xdp?.load).toBe('reused');
    expect(s.xdp?.progId).toBe(attached.get('eth1'));
    expect(xdpAttached(dut)).toEqual(attached);
    const sync = d2.log((l) => l.msg === 'full sync installed' && l['reason'] === 'start');
    expect(Number(sync?.['repairs'])).toBeGreaterThan(0); // it was killed mid-burst: the maps lagged the kernel
    const done = await d2.withLogs(eventually('daemon == plan == maps after the restart', () => converged(d2), 30_000));
    expect(done.installedV4).toBe(done.planV4);
    expect(done.planV4).toBeGreaterThan(20_000);
    expect(atKill).toBeLessThan(done.planV4);
    await sleep(200);
    const { sent, received } = await bg.stop();
    bg = undefined;
    console.log(`kill -9 mid-burst: ${atKill} IPv4 entries installed at the kill, ${sync?.['repairs']} repairs at restart, ` +
      `${done.installedV4} after (= plan); ping ${received}/${sent}`);
    expect(sent).toBeGreaterThan(100);
    expect(received, `${sent - received} of ${sent} lost`).toBe(sent);
  });

  /** Wait until the daemon has nothing left to apply: events.applied unchanged for a second, nothing queued. */
  async function quiet(d: DaemonProcess): Promise<void> {
    let last = -1;
    let since = Date.now();
    await d.withLogs(eventually('the daemon idle', async () => {
      const s = await d.status();
      if (s.events.applied !== last || s.events.queueDepth > 0) {
        last = s.events.applied;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since >= 1000 ? true : undefined;
    }, 30_000));
  }

  /** SIGSTOP the daemon, make `changes` (ip -batch files' lines), SIGCONT; resolve once the ENOBUFS resync is counted. */
  async function overrun(d: DaemonProcess, ...changes: string[][]): Promise<void> {
    const m0 = sampleValue(await d.metrics(), 'fib_offload_resyncs_total', { reason: 'enobufs' });
    d.signal('SIGSTOP');
    try {
      for (const lines of changes) dut.ipBatch(lines);
    } finally {
      d.signal('SIGCONT');
    }
    await d.withLogs(eventually('a resync for ENOBUFS', async () =>
      (sampleValue(await d.metrics(), 'fib_offload_resyncs_total', { reason: 'enobufs' }) >= m0 + 1 ? true : undefined), 20_000));
    expect(d.logs.some((l) => l.msg === 'kernel notifications lost: full resync' && l['reason'] === 'enobufs')).toBe(true);
  }

  // After an overrun the kernel keeps the event socket "congested": every new notification is
  // dropped, with no further ENOBUFS, until its queue has been read empty; and what is still queued
  // is older than any dump taken now. A resync has to stop trusting that socket, not just re-dump.
  it('ENOBUFS: changes made while the daemon is stopped overrun its event socket; it resyncs, converges, and keeps following', async () => {
    await quiet(d2);
    // Distinct changes: 20k routes withdrawn, 20k others announced (40k notifications; the socket holds far fewer).
    await overrun(d2, hostRoutes(16, 20_000, 'del'), hostRoutes(20, 20_000, 'add'));
    // A change right after the resync must land by itself, like any other.
    dut.ip('route', 'add', '203.0.113.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    await d2.withLogs(eventually('203.0.113.1 forwarded (a route added after the resync)', () => (ping1(h1, '203.0.113.1').ok ? true : undefined), 10_000));
    const done = await d2.withLogs(eventually('daemon == plan == maps after the overrun', () => converged(d2), 10_000));
    expect(done.installedV4).toBe(done.planV4);
    expect((await d2.status()).ready).toBe(true);
    dut.ip('route', 'del', '203.0.113.0/24');
  });

  it('ENOBUFS with a flap: routes announced then withdrawn while the daemon is stopped must not come back from stale notifications', async () => {
    await quiet(d2);
    // The socket queues the first part of the announcements, overflows, and drops the rest and every withdrawal.
    await overrun(d2, hostRoutes(24, 20_000, 'add'), hostRoutes(24, 20_000, 'del'));
    // The kernel is back where it was; so must the daemon and the maps be.
    await d2.withLogs(eventually('daemon == plan == maps after the flap', () => converged(d2), 10_000));
  });

  it('a 20k-route burst while it runs (a routing daemon installing a table) converges by itself, and so does its withdrawal', async () => {
    await quiet(d2);
    for (const op of ['add', 'del'] as const) {
      const s0 = await d2.status();
      const m0 = sampleValue(await d2.metrics(), 'fib_offload_resyncs_total', { reason: 'enobufs' });
      const t0 = Date.now();
      dut.ipBatch(hostRoutes(28, 20_000, op));
      const done = await d2.withLogs(eventually(`daemon == plan == maps after 20k route ${op}s`, () => converged(d2), 30_000));
      const s1 = await d2.status();
      const m1 = sampleValue(await d2.metrics(), 'fib_offload_resyncs_total', { reason: 'enobufs' });
      console.log(`20k route ${op}s while running: converged in ${Date.now() - t0} ms; ${s1.events.applied - s0.events.applied} events applied ` +
        `in ${s1.events.batches - s0.events.batches} batches; ENOBUFS resyncs ${m1 - m0}`);
      expect(done.installedV4).toBe(done.planV4);
    }
  });

  it('SIGTERM leaves the program attached and forwarding; --flush-on-exit removes it and the pins', async () => {
    const attached = xdpAttached(dut);
    expect([...attached.keys()].sort()).toEqual(['eth1', 'eth2', 'eth3']);
    const t0 = Date.now();
    expect(await d2.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const stopMs = Date.now() - t0;
    expect(d2.log((l) => l.msg === 'left the offload installed (next start reconciles by diff)')).toBeDefined();
    expect(xdpAttached(dut)).toEqual(attached);
    expect(existsSync(join(pins, 'maps'))).toBe(true);
    const p = ping(h1, '198.51.100.1');
    expect(p.ok, p.out).toBe(true);
    expect(p.out).toMatch(new RegExp(`ttl=${TTL_H2}`));

    const d3 = startDaemon('--flush-on-exit');
    await d3.waitReady(30_000);
    expect((await d3.status()).xdp?.load).toBe('reused');
    expect(await d3.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(d3.log((l) => l.msg === 'flushed the offload')).toBeDefined();
    expectNothingInstalled();
    expect(ping(h1, '198.51.100.1').ok).toBe(false);
    console.log(`SIGTERM to exit: ${stopMs} ms`);
  });

  it('SIGHUP: a bad config is rejected and the running one kept; a good one applies (ports [eth1] only: eth2, eth3 detached)', async () => {
    const file = join(tmp, 'config.yaml');
    const good = (ports: string): string => `ports: [${ports}]\nmetrics:\n  listen: "${LISTEN_HUP}"\nlog:\n  level: info\n`;
    writeFileSync(file, good('eth1, eth2, eth3'));
    const d = new DaemonProcess(dut, http!, LISTEN_HUP, ['--config', file]);
    daemons.push(d);
    await d.waitReady(30_000);
    expect((await d.status()).ports.map((p) => p.dev)).toEqual(['eth1', 'eth2', 'eth3']);
    const attached = xdpAttached(dut);
    expect([...attached.keys()].sort()).toEqual(['eth1', 'eth2', 'eth3']);

    // A bad file (and a port change in it that must not be applied).
    writeFileSync(file, 'ports: [eth1]\nmetrics:\n  listen: "127.0.0.1:19471"\nxdp:\n  moed: native\n');
    let from = d.logs.length;
    d.signal('SIGHUP');
    const rejected = await d.waitLog('the reload rejected', (l) => l.msg === 'SIGHUP: new config rejected, keeping the running one', 5000, from);
    expect(String(rejected['err'])).toMatch(/xdp\.moed/);
    const s = await d.status();
    expect(d.alive).toBe(true);
    expect(s.ready).toBe(true);
    expect(s.lastError?.message).toMatch(/reload rejected/);
    expect(s.lastError?.message).toMatch(/xdp\.moed/);
    expect(s.ports.map((p) => p.dev)).toEqual(['eth1', 'eth2', 'eth3']);
    await sleep(300);
    expect(xdpAttached(dut)).toEqual(attached);
    expect((await http!.get(`http://${LISTEN_HUP}/healthz`)).status).toBe(200);

    // A good change.
    writeFileSync(file, good('eth1'));
    from = d.logs.length;
    d.signal('SIGHUP');
    await d.waitLog('the reload', (l) => l.msg === 'SIGHUP: config reloaded', 5000, from);
    await eventually('eth2 and eth3 detached', () => {
      const now = xdpAttached(dut);
      return now.has('eth1') && !now.has('eth2') && !now.has('eth3') ? true : undefined;
    }, 5000);
    expect(dut.ip('-d', 'link', 'show', 'dev', 'eth2')).not.toMatch(/prog\/xdp/);
    expect(dut.ip('-d', 'link', 'show', 'dev', 'eth1')).toMatch(/prog\/xdp/);
    const after = await d.status();
    expect(after.ports.map((p) => p.dev)).toEqual(['eth1']);
    expect(after.lastResync?.reason).toBe('reload');
    expect(await d.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
