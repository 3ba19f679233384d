// The XDP program's live audit (xdp.audit_rate) on real packets: h1 — dut —
// {h2, h3}; h2 and h3 both own 198.51.100.1 and 2001:db8:100::1 (h3 answers
// with TTL 50, so a reply says which one it came from). dut has forwarding
// ON, so the kernel's bpf_fib_lookup() can answer (with it off the helper
// says "forwarding disabled", which the last cases check); the XDP program
// still forwards every offloaded packet itself. The maps go stale the way
// they do in life: the kernel changes while no agent is running (`apply` is
// one-shot; the daemon is stopped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { BackgroundPing, agent, agentWith, enablePeer, pinDirOf, removePins } from './lib/agent.js';
import { DaemonProcess, NsHttp, sampleValue } from './lib/daemon.js';
import { ROOT } from './lib/probe.js';
import { PinnedMaps } from '../../src/xdp/maps.js';
import { AUDIT_RESULTS, decodeConfig, type AuditRecord, type AuditResult } from '../../src/xdp/layout.js';

const MAC = { h1: '02:00:00:00:01:02', h2: '02:00:00:00:02:02', h3: '02:00:00:00:03:02', h3b: '02:00:00:00:03:0b' };
const LISTEN = '127.0.0.1:19479';

function ping(ns: Netns, dst: string, count = 2, ...opts: string[]): { ok: boolean; out: string; ttl: number | null } {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', String(count), '-i', '0.05', '-W', '1', ...opts, dst], { encoding: 'utf8' });
  const m = /ttl=(\d+)/.exec(p.stdout);
  return { ok: p.status === 0, out: p.stdout + p.stderr, ttl: m ? Number(m[1]) : null };
}

interface AuditReading {
  readonly packets: Record<AuditResult, number>;
  readonly forwarded: number;
  readonly records: AuditRecord[];
  readonly rate: number;
}

/** What the pinned maps say now: audit counters summed over CPUs, forwarded packets, every record in the rings. */
function readAudit(pins: string): AuditReading {
  const m = PinnedMaps.open(join(pins, 'maps'));
  try {
    const cpus = m.audit();
    const packets = Object.fromEntries(AUDIT_RESULTS.map((r) => [r, cpus.reduce((n, c) => n + Number(c.packets[r]), 0)])) as Record<AuditResult, number>;
    return { packets, forwarded: Number(m.verdicts().forwarded.packets), records: cpus.flatMap((c) => c.records), rate: m.auditRate() };
  } finally {
    m.close();
  }
}

function delta(a: AuditReading, b: AuditReading): Record<AuditResult, number> & { forwarded: number } {
  const d = Object.fromEntries(AUDIT_RESULTS.map((r) => [r, b.packets[r] - a.packets[r]])) as Record<AuditResult, number>;
  return { ...d, forwarded: b.forwarded - a.forwarded };
}

/** Records in `after` that were not in `before`. */
function newRecords(before: AuditReading, after: AuditReading): AuditRecord[] {
  const old = new Set(before.records.map((r) => `${r.seq}|${r.ktimeNs}`));
  return after.records.filter((r) => !old.has(`${r.seq}|${r.ktimeNs}`));
}

const none = { agree: 0, egress: 0, neigh: 0, kernel_no_forward: 0, kernel_no_neigh: 0, forwarding_off: 0, error: 0 };

describe.skipIf(!isRoot())('XDP audit: forwarded packets checked against the kernel\'s bpf_fib_lookup()', () => {
  const nets = new NetnsSet('audit');
  let dut: Netns, h1: Netns, h2: Netns, h3: Netns;
  let pins = '';
  let tmp = '';
  let config = '';
  let http: NsHttp | undefined;
  const daemons: DaemonProcess[] = [];
  const ifx: Record<string, number> = {};

  const apply = (): string => {
    const r = agent(dut, 'apply', '--config', config);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    h3 = nets.add('h3');
    pins = pinDirOf(dut);
    tmp = mkdtempSync(join(tmpdir(), 'fot-audit-'));
    config = join(tmp, 'config.yaml');
    writeFileSync(config, `ports: [eth1, eth2, eth3]\nbackend: xdp\nxdp:\n  audit_rate: 1\nmetrics:\n  listen: "${LISTEN}"\n`);
    nets.veth(dut, 'eth1', h1, 'eth0', { bMac: MAC.h1 });
    nets.veth(dut, 'eth2', h2, 'eth0', { bMac: MAC.h2 });
    nets.veth(dut, 'eth3', h3, 'eth0', { bMac: MAC.h3 });
    for (const [ns, n] of [[h1, 1], [h2, 2], [h3, 3]] as const) {
      ns.sysctl('net.ipv6.conf.all.accept_dad', 0);
      ns.sysctl('net.ipv6.conf.eth0.accept_dad', 0);
      ns.ipBatch([`addr add 10.${n}.0.2/24 dev eth0`, `addr add 2001:db8:${n}::2/64 dev eth0 nodad`,
        `route add default via 10.${n}.0.1`, `route add default via 2001:db8:${n}::1`]);
    }
    for (const ns of [h2, h3]) ns.ipBatch(['addr add 198.51.100.1/32 dev lo', 'addr add 2001:db8:100::1/128 dev lo']);
    h3.sysctl('net.ipv4.ip_default_ttl', 50);
    h3.sysctl('net.ipv6.conf.all.hop_limit', 50);
    h3.sysctl('net.ipv6.conf.eth0.hop_limit', 50);
    dut.sysctl('net.ipv6.conf.all.accept_dad', 0);
    for (const d of ['eth1', 'eth2', 'eth3']) dut.sysctl(`net.ipv6.conf.${d}.accept_dad`, 0);
    dut.ipBatch([1, 2, 3].flatMap((n) => [`addr add 10.${n}.0.1/24 dev eth${n}`, `addr add 2001:db8:${n}::1/64 dev eth${n} nodad`]));
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [dut, 'eth3'], [h1, 'eth0'], [h2, 'eth0'], [h3, 'eth0']] as const) {
      await ns.waitCarrier(dev);
    }
    dut.ipBatch(['route add 198.51.100.0/24 via 10.2.0.2 dev eth2', 'route add 2001:db8:100::/48 via 2001:db8:2::2 dev eth2']);
    // Forwarding on: the kernel can be asked. The program forwards first all the same.
    dut.sysctl('net.ipv4.ip_forward', 1);
    dut.sysctl('net.ipv6.conf.all.forwarding', 1);
    for (const a of ['10.1.0.2', '10.2.0.2', '10.3.0.2', '2001:db8:1::2', '2001:db8:2::2', '2001:db8:3::2']) {
      expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
    }
    for (const ns of [h1, h2, h3]) await enablePeer(ns, 'eth0');
    for (const d of ['eth1', 'eth2', 'eth3']) ifx[d] = dut.ifindex(d);
    http = new NsHttp(dut);
  });

  afterAll(async () => {
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

  it('apply writes xdp.audit_rate into the program', () => {
    expect(apply()).toMatch(/program fresh/);
    expect(readAudit(pins).rate).toBe(1);
  });

  it('normal traffic at rate 1: every forwarded packet is sampled and every one agrees (IPv4, IPv6)', () => {
    const before = readAudit(pins);
    const v4 = ping(h1, '198.51.100.1', 4);
    expect(v4.ok, v4.out).toBe(true);
    expect(v4.ttl).toBe(63); // h2: the path the maps and the kernel agree on
    const v6 = ping(h1, '2001:db8:100::1', 4);
    expect(v6.ok, v6.out).toBe(true);
    const after = readAudit(pins);
    const d = delta(before, after);
    expect(d.forwarded).toBeGreaterThanOrEqual(16); // 8 echoes, requests and replies, all by XDP
    expect(d).toEqual({ ...none, agree: d.forwarded, forwarded: d.forwarded });
    expect(newRecords(before, after)).toEqual([]);
  });

  it('ECMP: the kernel hashes with its own function; naming any member of the group agrees', () => {
    dut.ip('route', 'add', '203.0.113.0/24', 'nexthop', 'via', '10.2.0.2', 'dev', 'eth2', 'nexthop', 'via', '10.3.0.2', 'dev', 'eth3');
    for (const ns of [h2, h3]) ns.ip('addr', 'add', '203.0.113.1/32', 'dev', 'lo');
    // Eight sources, so flows spread (fib_multipath_hash_policy 0: addresses only).
    h1.ipBatch([3, 4, 5, 6, 7, 8, 9, 10].map((i) => `addr add 10.1.0.${i}/24 dev eth0`));
    apply();
    const before = readAudit(pins);
    for (let i = 3; i <= 10; i++) expect(ping(h1, '203.0.113.1', 2, '-I', `10.1.0.${i}`).ok, `from 10.1.0.${i}`).toBe(true);
    const after = readAudit(pins);
    const d = delta(before, after);
    expect(d.agree).toBeGreaterThanOrEqual(16); // the requests at least (replies to new sources may go through the kernel first)
    expect({ ...d, agree: 0, forwarded: 0 }).toEqual({ ...none, forwarded: 0 });
  });

  it('a route moved while no agent ran (maps stale): the kernel picks another port; egress, recorded with both answers', () => {
    dut.ip('route', 'replace', '198.51.100.0/24', 'via', '10.3.0.2', 'dev', 'eth3');
    dut.ip('-6', 'route', 'replace', '2001:db8:100::/48', 'via', '2001:db8:3::2', 'dev', 'eth3');
    const before = readAudit(pins);
    const v4 = ping(h1, '198.51.100.1', 3);
    expect(v4.ttl, v4.out).toBe(63); // still h2: the program follows its stale maps
    const v6 = ping(h1, '2001:db8:100::1', 3);
    expect(v6.ttl, v6.out).toBe(63);
    const after = readAudit(pins);
    const d = delta(before, after);
    expect(d).toEqual({ ...none, egress: 6, agree: 6, forwarded: 12 }); // requests disagree; replies to h1 agree
    const recs = newRecords(before, after);
    expect(recs).toHaveLength(6);
    const v4rec = recs.find((r) => r.family === 4)!;
    expect(v4rec).toMatchObject({
      result: 'egress', src: '10.1.0.2', dst: '198.51.100.1', table: 254, ingress: ifx['eth1'],
      ifindex: ifx['eth2'], dmac: MAC.h2, kernelRet: 0, kernelIfindex: ifx['eth3'], kernelDmac: MAC.h3,
    });
    expect(recs.find((r) => r.family === 6)).toMatchObject({
      result: 'egress', src: '2001:db8:1::2', dst: '2001:db8:100::1', ifindex: ifx['eth2'], kernelIfindex: ifx['eth3'], kernelDmac: MAC.h3,
    });
    // Re-applied: agreement again, and now the traffic goes to h3.
    apply();
    const b2 = readAudit(pins);
    expect(ping(h1, '198.51.100.1', 2).ttl).toBe(49);
    expect(delta(b2, readAudit(pins))).toEqual({ ...none, agree: 4, forwarded: 4 });
  });

  it('a neighbour MAC the maps do not have: same port, another MAC: neigh', () => {
    dut.ip('neigh', 'replace', '10.3.0.2', 'lladdr', MAC.h3b, 'dev', 'eth3', 'nud', 'permanent');
    try {
      const before = readAudit(pins);
      expect(ping(h1, '198.51.100.1', 2).ttl).toBe(49); // the maps still have h3's real MAC
      const after = readAudit(pins);
      expect(delta(before, after)).toEqual({ ...none, neigh: 2, agree: 2, forwarded: 4 });
      expect(newRecords(before, after).map((r) => [r.result, r.ifindex, r.dmac, r.kernelIfindex, r.kernelDmac]))
        .toEqual([['neigh', ifx['eth3'], MAC.h3, ifx['eth3'], MAC.h3b], ['neigh', ifx['eth3'], MAC.h3, ifx['eth3'], MAC.h3b]]);
    } finally {
      dut.ip('neigh', 'replace', '10.3.0.2', 'lladdr', MAC.h3, 'dev', 'eth3', 'nud', 'reachable');
    }
  });

  it('the kernel would not forward it (a blackhole now): kernel_no_forward, with its answer', () => {
    dut.ip('route', 'replace', 'blackhole', '198.51.100.0/24');
    try {
      const before = readAudit(pins);
      expect(ping(h1, '198.51.100.1', 2).ok).toBe(true); // the stale maps still forward it
      const after = readAudit(pins);
      expect(delta(before, after)).toEqual({ ...none, kernel_no_forward: 2, agree: 2, forwarded: 4 });
      expect(newRecords(before, after).map((r) => [r.result, r.kernelRet, r.kernelIfindex, r.kernelDmac]))
        .toEqual([['kernel_no_forward', 1, 0, null], ['kernel_no_forward', 1, 0, null]]); // 1 = BPF_FIB_LKUP_RET_BLACKHOLE
    } finally {
      dut.ip('route', 'replace', '198.51.100.0/24', 'via', '10.3.0.2', 'dev', 'eth3');
    }
  });

  it('forwarding off: the kernel cannot be asked; forwarding_off, nothing recorded, no disagreement', () => {
    dut.sysctl('net.ipv4.ip_forward', 0);
    dut.sysctl('net.ipv6.conf.all.forwarding', 0);
    try {
      const before = readAudit(pins);
      expect(ping(h1, '198.51.100.1', 2).ok).toBe(true);
      expect(ping(h1, '2001:db8:100::1', 2).ok).toBe(true);
      const after = readAudit(pins);
      expect(delta(before, after)).toEqual({ ...none, forwarding_off: 8, forwarded: 8 });
      expect(newRecords(before, after)).toEqual([]);
    } finally {
      dut.sysctl('net.ipv4.ip_forward', 1);
      dut.sysctl('net.ipv6.conf.all.forwarding', 1);
    }
  });

  it('rate N: every Nth forwarded packet on each CPU is sampled (a per-CPU counter, so N±1 per CPU)', () => {
    const rate4 = `ports: [eth1, eth2, eth3]\nbackend: xdp\nxdp:\n  audit_rate: 4\nmetrics:\n  listen: "${LISTEN}"\n`;
    const rate1 = rate4.replace('audit_rate: 4', 'audit_rate: 1');
    writeFileSync(config, rate4);
    try {
      apply();
      expect(readAudit(pins).rate).toBe(4);
      const before = readAudit(pins);
      expect(ping(h1, '198.51.100.1', 40).ok).toBe(true);
      const d = delta(before, readAudit(pins));
      const sampled = AUDIT_RESULTS.reduce((n, r) => n + d[r], 0);
      const cpus = PinnedMaps.open(join(pins, 'maps'), ['fo_config']);
      const slack = cpus.cpus;
      cpus.close();
      expect(d.forwarded).toBe(80);
      expect(sampled).toBeGreaterThanOrEqual(80 / 4 - slack);
      expect(sampled).toBeLessThanOrEqual(80 / 4 + slack);
      expect(sampled).toBe(d.agree);
    } finally {
      writeFileSync(config, rate1);
    }
    apply();
    expect(readAudit(pins).rate).toBe(1);
  });

  it('the daemon: counters in /metrics and /status; disagreements made while it was stopped are logged at its next start, naming the destination', async () => {
    apply(); // h3 for both families now
    let d = new DaemonProcess(dut, http!, LISTEN, ['--config', config]);
    daemons.push(d);
    await d.waitReady();
    expect(ping(h1, '198.51.100.1', 2).ttl).toBe(49);
    const m1 = await d.metrics();
    expect(sampleValue(m1, 'fib_offload_audit_packets_total', { result: 'agree' })).toBeGreaterThan(0);
    for (const r of AUDIT_RESULTS) expect(m1).toMatch(new RegExp(`fib_offload_audit_packets_total\\{result="${r}"\\} \\d+`));
    const egressBefore = sampleValue(m1, 'fib_offload_audit_packets_total', { result: 'egress' }); // the cases above made some
    expect((await d.stop('SIGTERM')).code).toBe(0);

    // Stopped; the offload stays and its maps go stale.
    dut.ip('route', 'replace', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', 'eth2');
    expect(ping(h1, '198.51.100.1', 2).ttl).toBe(49); // still h3: stale
    expect(readAudit(pins).records.some((r) => r.dst === '198.51.100.1' && r.result === 'egress' && r.kernelIfindex === ifx['eth2'])).toBe(true);

    d = new DaemonProcess(dut, http!, LISTEN, ['--config', config]);
    daemons.push(d);
    await d.waitReady();
    const line = await d.withLogs(d.waitLog('the disagreement logged', (l) =>
      l['component'] === 'audit' && l['dst'] === '198.51.100.1' && l['result'] === 'egress' && (l['ours'] as { dev?: string } | undefined)?.dev === 'eth3'));
    expect(line).toMatchObject({ table: 254, ingress: 'eth1', ours: { dev: 'eth3', dmac: MAC.h3 }, kernel: { answer: 'success', dev: 'eth2', dmac: MAC.h2 } });
    expect(line.msg).toMatch(/^audit: .* egress: 10\.1\.0\.2 -> 198\.51\.100\.1 table 254 in eth1: offload eth3 02:00:00:00:03:02, kernel eth2 02:00:00:00:02:02$/);
    const s = await d.status();
    expect(s.audit?.rate).toBe(1);
    expect(s.audit?.packets['egress']).toBeGreaterThanOrEqual(2);
    expect(s.audit?.lastDisagreements[0]).toMatchObject({ result: 'egress', dst: '198.51.100.1', ours: { dev: 'eth3' }, kernel: { dev: 'eth2' } });
    const text = agent(dut, 'status', '--metrics', LISTEN);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/audit: 1 in 1 forwarded packets per CPU checked against the kernel; agree \d+, egress \d+/);
    expect(text.stdout).toMatch(/egress: 10\.1\.0\.2 -> 198\.51\.100\.1 table 254 in eth1: offload eth3 .*, kernel eth2 /);
    // The start's full sync repaired the maps: agreement again, h2 answers.
    const before = readAudit(pins);
    expect(ping(h1, '198.51.100.1', 2).ttl).toBe(63);
    expect(delta(before, readAudit(pins))).toEqual({ ...none, agree: 4, forwarded: 4 });
    const m2 = await d.metrics();
    // A new process's counter starts from the program's totals: the two made while stopped are in.
    expect(sampleValue(m2, 'fib_offload_audit_packets_total', { result: 'egress' })).toBe(egressBefore + 2);

    // SIGHUP with audit_rate 0: off, written into the program.
    writeFileSync(config, `ports: [eth1, eth2, eth3]\nbackend: xdp\nxdp:\n  audit_rate: 0\nmetrics:\n  listen: "${LISTEN}"\n`);
    const from = d.logs.length;
    d.signal('SIGHUP');
    await d.waitLog('the reload', (l) => l.msg === 'SIGHUP: config reloaded', 10_000, from);
    await eventually('rate 0 in the program', () => (readAudit(pins).rate === 0 ? true : undefined));
    expect((await d.status()).audit?.rate).toBe(0);
    const b3 = readAudit(pins);
    expect(ping(h1, '198.51.100.1', 2).ok).toBe(true);
    expect(delta(b3, readAudit(pins))).toEqual({ ...none, forwarded: 4 });
    expect((await d.stop('SIGTERM')).code).toBe(0);
  });

  it('an upgrade over pins made before the audit maps existed adds them and keeps the rest (seed, routes): no loss', async () => {
    writeFileSync(config, `ports: [eth1, eth2, eth3]\nbackend: xdp\nxdp:\n  audit_rate: 1\n`);
    const seedOf = (): number => {
      const m = PinnedMaps.open(join(pins, 'maps'), ['fo_config']);
      try {
        return decodeConfig(m.get('fo_config').get(Buffer.alloc(4))!).seed;
      } finally {
        m.close();
      }
    };
    const seed = seedOf();
    // What an agent from before the audit left: the same maps minus the two new ones, and another build.
    rmSync(join(pins, 'maps', 'fo_audit'));
    rmSync(join(pins, 'maps', 'fo_audit_conf'));
    const variant = join(tmp, 'variant.bpf.o');
    writeFileSync(join(tmp, 'note'), 'audit upgrade test\n');
    const oc = spawnSync('llvm-objcopy', ['--add-section', `.fo_note=${join(tmp, 'note')}`, join(ROOT, 'bpf/build/fib_offload.bpf.o'), variant], { encoding: 'utf8' });
    expect(oc.status, oc.stderr).toBe(0);
    const bg = new BackgroundPing(h1, '198.51.100.1', 0.005);
    await new Promise((r) => setTimeout(r, 300));
    const r = agentWith({ FIB_OFFLOAD_BPF_OBJECT: variant }, dut, 'apply', '--config', config);
    await new Promise((res) => setTimeout(res, 300));
    const { sent, received } = await bg.stop();
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/program upgraded/);
    expect(r.stdout).not.toMatch(/fo_lpm|fo_groups|fo_ports/); // the route maps were kept as they were
    expect(existsSync(join(pins, 'maps_new'))).toBe(false);
    expect(seedOf()).toBe(seed);
    expect(received).toBe(sent);
    const before = readAudit(pins);
    expect(before.rate).toBe(1);
    expect(ping(h1, '198.51.100.1', 2).ttl).toBe(63);
    expect(delta(before, readAudit(pins))).toEqual({ ...none, agree: 4, forwarded: 4 });
  });
});
