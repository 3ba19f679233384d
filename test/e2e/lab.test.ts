// End to end, against software nobody here wrote: `fib-offload lab` with real
// FRR 8.4 (zebra + bgpd in three namespaces, BGP unnumbered over IPv6
// link-local), in both of FRR's ways of installing RFC 5549 routes. Through
// the CLI a user runs; the assertions read the kernel, FRR and the agent's
// own counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isRoot } from '../integration/lib/netns.js';
import { CLI } from '../integration/lib/probe.js';
import { labDir } from '../../src/lab/env.js';
import { macFromEui64 } from '../../src/lab/topology.js';
import type { LabStatus } from '../../src/lab/status.js';
import type { TrafficResult } from '../../src/lab/traffic.js';

const NAME = 'fot-lab';
const NAMESPACES = ['dut', 'r1', 'r2', 'h1'].map((r) => `${NAME}-${r}`);
const HOLD_S = 3; // BGP hold time the lab configures

function lab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'lab', ...args, '--name', NAME], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function labJson<T>(...args: string[]): T {
  const r = lab(...args, '--json');
  if (r.status !== 0) throw new Error(`lab ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
function macOfPeer(role: 'r1' | 'r2'): string {
  const [l] = JSON.parse(sh(['ip', '-j', '-n', `${NAME}-${role}`, 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
  return l!.address;
}
const upstream = (t: TrafficResult, prefix: string): Record<string, number> => {
  const d = t.destinations.find((x) => x.prefix === prefix)!;
  return Object.fromEntries(d.paths.filter((p) => p.router === 'r1' || p.router === 'r2').map((p) => [p.router!, p.offloaded]));
};
const processesInLab = (): number[] =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(labDir(NAME));
    } catch {
      return false;
    }
  });

describe.skipIf(!isRoot()).each([
  { mode: 'FRR default: kernel nexthop objects, IPv4 via IPv6 link-local', flag: [] as string[], nexthopObjects: true },
  { mode: 'no zebra nexthop kernel enable: via 169.254.0.1 onlink', flag: ['--frr-nexthop-objects=off'], nexthopObjects: false },
])('lab: $mode', ({ flag, nexthopObjects }) => {
  let dutNetns = '';

  beforeAll(() => {
    lab('down');
    const up = lab('up', ...flag);
    if (up.status !== 0) throw new Error(`lab up exited ${up.status}:\n${up.stdout}\n${up.stderr}`);
    dutNetns = (JSON.parse(readFileSync(`${labDir(NAME)}/lab.json`, 'utf8')) as { dutNetns: string }).dutNetns;
  }, 120_000);

  afterAll(() => {
    lab('down');
  }, 60_000);

  it('BGP unnumbered sessions to r1 and r2 establish for IPv4 and IPv6', () => {
    const s = labJson<LabStatus>('status');
    expect(s.sessions.map((x) => `${x.peer} ${x.hostname} ${x.afi} ${x.state}`).sort()).toEqual([
      'eth1 r1 ipv4 Established', 'eth1 r1 ipv6 Established', 'eth2 r2 ipv4 Established', 'eth2 r2 ipv6 Established',
    ]);
    expect(s.processes.every((p) => p.running)).toBe(true);
  });

  it('dut holds the routes in the form this FRR mode installs', () => {
    const [ecmp] = JSON.parse(sh(['ip', '-j', '-n', `${NAME}-dut`, 'route', 'show', '198.51.100.0/24'])) as {
      nhid?: number; nexthops?: { gateway?: string; via?: { family: string; host: string }; flags: string[] }[];
    }[];
    expect(ecmp!.nexthops).toHaveLength(2);
    if (nexthopObjects) {
      expect(ecmp!.nhid).toBeGreaterThan(0);
      // IPv4 route, IPv6 gateway: RTA_VIA, the peer's link-local.
      expect(ecmp!.nexthops!.every((n) => n.via?.family === 'inet6' && n.via.host.startsWith('fe80::'))).toBe(true);
    } else {
      expect(ecmp!.nhid).toBeUndefined();
      expect(ecmp!.nexthops!.every((n) => n.gateway === '169.254.0.1' && n.flags.includes('onlink'))).toBe(true);
    }
  });

  it("offloads every BGP route with the MACs its peers' link-local addresses encode", () => {
    const s = labJson<LabStatus>('status');
    const byDev = new Map(s.peers.map((p) => [p.dev, p]));
    // The link-local BGP peers over encodes the peer's MAC (EUI-64), which is what the kernel has.
    expect(macFromEui64(byDev.get('eth1')!.linkLocal!)).toBe(macOfPeer('r1'));
    expect(macFromEui64(byDev.get('eth2')!.linkLocal!)).toBe(macOfPeer('r2'));
    const want: Record<string, string[]> = {
      '198.51.100.0/24': ['eth1', 'eth2'], '2001:db8:100::/64': ['eth1', 'eth2'],
      '203.0.113.0/25': ['eth1'], '2001:db8:101::/64': ['eth1'],
      '203.0.113.128/25': ['eth2'], '2001:db8:102::/64': ['eth2'],
    };
    for (const [dst, devs] of Object.entries(want)) {
      const p = s.plan.find((x) => x.dst === dst)!;
      expect(p.action, dst).toBe('forward');
      expect(p.members.map((m) => `${m.dev} ${m.dmac}`).sort(), dst).toEqual(devs.map((d) => `${d} ${macFromEui64(byDev.get(d)!.linkLocal!)}`));
    }
    expect(s.agent?.ready).toBe(true);
    expect(s.agent?.ports.map((p) => `${p.dev} ${p.attached}`).sort()).toEqual(['eth0 native', 'eth1 native', 'eth2 native']);
  });

  it('with ip_forward off, traffic flows through the offload, ECMP over both peers', () => {
    expect(sh(['ip', 'netns', 'exec', `${NAME}-dut`, 'sysctl', '-n', 'net.ipv4.ip_forward']).trim()).toBe('0');
    const t = labJson<TrafficResult>('traffic');
    expect(t.forwarding).toBe(false);
    for (const d of t.destinations) {
      const up = upstream(t, d.prefix);
      const total = (up['r1'] ?? 0) + (up['r2'] ?? 0);
      expect(total, d.prefix).toBe(d.sent);
      expect(d.kernelForwarded, d.prefix).toBe(0);
      expect(d.ping.received, `ping ${d.address}`).toBe(d.ping.sent);
      expect(d.ping.ttl, `ping ${d.address}`).toBe(63); // one hop: dut decremented it
    }
    for (const prefix of ['198.51.100.0/24', '2001:db8:100::/64']) {
      const up = upstream(t, prefix);
      expect(up['r1'], `${prefix} via r1`).toBeGreaterThan(0);
      expect(up['r2'], `${prefix} via r2`).toBeGreaterThan(0);
    }
    expect(upstream(t, '203.0.113.0/25')).toEqual({ r1: 512 });
    expect(upstream(t, '203.0.113.128/25')).toEqual({ r2: 512 });
  });

  it('r1 going away withdraws its paths within the BGP timers; traffic moves to r2', async () => {
    const started = Date.now();
    if (nexthopObjects) {
      // bgpd dies without a word: dut notices when the hold timer expires.
      const pid = Number(readFileSync(`${labDir(NAME)}/r1/bgpd.pid`, 'utf8'));
      process.kill(pid, 'SIGKILL');
    } else {
      sh(['vtysh', '--vty_socket', `${labDir(NAME)}/r1`, '-c', 'configure terminal', '-c', 'router bgp 65001', '-c', 'neighbor eth0 shutdown']);
    }
    let s: LabStatus;
    for (;;) {
      s = labJson<LabStatus>('status');
      const ecmp = s.plan.find((x) => x.dst === '198.51.100.0/24')!;
      if (ecmp.members.length === 1 && s.plan.find((x) => x.dst === '203.0.113.0/25')!.action === 'absent') break;
      expect(Date.now() - started, 'withdrawn within hold time + 3 s').toBeLessThan((HOLD_S + 3) * 1000);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(s.plan.find((x) => x.dst === '198.51.100.0/24')!.members.map((m) => m.dev)).toEqual(['eth2']);
    expect(s.plan.find((x) => x.dst === '2001:db8:100::/64')!.members.map((m) => m.dev)).toEqual(['eth2']);

    const t = labJson<TrafficResult>('traffic');
    for (const prefix of ['198.51.100.0/24', '2001:db8:100::/64']) {
      const d = t.destinations.find((x) => x.prefix === prefix)!;
      expect(upstream(t, prefix)['r2'], prefix).toBe(d.sent);
      expect(upstream(t, prefix)['r1'] ?? 0, prefix).toBe(0);
      expect(d.ping.received).toBe(d.ping.sent);
    }
    // r1's own prefix has no route left at dut: nothing is forwarded there.
    const gone = t.destinations.find((x) => x.prefix === '203.0.113.0/25')!;
    expect(upstream(t, '203.0.113.0/25')['r1'] ?? 0).toBe(0);
    expect(gone.ping.received).toBe(0);
  }, 60_000);

  it('lab down removes every namespace, process, pinned object and file', () => {
    const r = lab('down');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/deleted 4 namespaces/);
    const netns = sh(['ip', 'netns', 'list']);
    for (const ns of NAMESPACES) expect(netns).not.toContain(ns);
    expect(processesInLab()).toEqual([]);
    expect(existsSync(`/sys/fs/bpf/fib-offload/ns${dutNetns}`)).toBe(false);
    expect(existsSync(labDir(NAME))).toBe(false);
    for (const r of ['dut', 'r1', 'r2']) expect(existsSync(`/var/run/frr/${NAME}-${r}`)).toBe(false);
    expect(lab('down').stdout).toMatch(/nothing to remove/);
  });
});

describe.skipIf(!isRoot())('lab: after a crash', () => {
  afterAll(() => {
    lab('down');
  }, 60_000);

  it('lab down cleans up a lab whose processes were all killed (kill -9)', () => {
    lab('down');
    expect(lab('up').status).toBe(0);
    // Simulate a crash: kill -9 everything the lab started, leave every file and namespace.
    for (const pid of processesInLab()) process.kill(pid, 'SIGKILL');
    const again = lab('up');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already up \(or left over from a crash\)/);
    const r = lab('down');
    expect(r.status).toBe(0);
    expect(sh(['ip', 'netns', 'list'])).not.toContain(`${NAME}-`);
    expect(processesInLab()).toEqual([]);
    expect(existsSync(labDir(NAME))).toBe(false);
  }, 120_000);
});
