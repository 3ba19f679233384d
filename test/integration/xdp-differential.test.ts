// The XDP path against the kernel, destination by destination: a random
// routing table (nested IPv4 prefixes from /0 to /32, ECMP, unresolved
// gateways, connected subnets with and without neighbours, local addresses,
// blackholes; IPv6 likewise) is installed in dut's kernel, `fib-offload apply`
// offloads it, and a frame to each of 1,000+ random destinations goes through
// the agent's own pinned program (BPF_PROG_TEST_RUN, real ingress port). The
// kernel is the oracle: `ip route get fibmatch` and dut's neighbour table say
// where it would send the packet. The frame must come out rewritten for
// exactly that egress port and neighbour MAC (for ECMP: one of the route's
// members), or be handed to the kernel untouched. The IPv4 lookup is checked
// both as the LPM trie and as the flat DIR-24-8 array, and across the moves
// between the two.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { agent, pinDirOf, removePins } from './lib/agent.js';
import { XDP, XdpRunner } from './lib/xdp-run.js';
import { rng } from '../fixtures/rng.js';
import { parseIp, parseMac, formatIp } from '../../src/model/ip.js';

const PORTS = ['p0', 'p1', 'p2', 'p3'];
const SRC4 = '10.9.0.2';
const SRC6 = '2001:db8:9::2';
const SRC_MAC = '02:00:00:00:09:02';

const neighMac = (port: number, host: number): string => `02:00:00:00:${port.toString(16).padStart(2, '0')}:${host.toString(16).padStart(2, '0')}`;

// ------------------------------------------------------------ addresses ---

const u32ToIp = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const mask4 = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/** A random IPv6 address inside prefix/len, as text. */
function inside6(prefix: string, len: number, r: () => number): string {
  const b = Buffer.from(parseIp(prefix));
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    const rnd = Math.floor(r() * 256);
    const m = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    b[i] = (b[i]! & m) | (rnd & ~m & 0xff);
  }
  return formatIp(b);
}

// ---------------------------------------------------------------- table ---

interface Table {
  /** `ip -batch` lines for dut. */
  readonly lines: string[];
  readonly dests4: string[];
  readonly dests6: string[];
}

/** `ip route` syntax puts a route type before the prefix. */
function routeLine(prefix: string, how: string): string {
  return how === 'blackhole' || how === 'unreachable' ? `route add ${how} ${prefix}` : `route add ${prefix} ${how}`;
}

/**
 * Gateways: on port k (1..3) hosts .2-.5 have PERMANENT neighbours, .9 has
 * none (the kernel would have to resolve it: the offload hands it over).
 */
function randomTable(seed: number): Table {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const gw4 = (): { port: number; via: string } => {
    const port = 1 + Math.floor(r() * 3);
    return { port, via: `10.1.${port}.${pick([2, 3, 4, 5, 2, 3, 9])}` };
  };
  const nh4 = (): string => {
    const n = r() < 0.2 ? 2 + Math.floor(r() * 2) : 1;
    if (n === 1) {
      const g = gw4();
      return `via ${g.via} dev p${g.port}`;
    }
    const hops: string[] = [];
    for (let i = 0; i < n; i++) {
      const g = gw4();
      hops.push(`nexthop via ${g.via} dev p${g.port} weight ${1 + Math.floor(r() * 3)}`);
    }
    return hops.join(' ');
  };
  const lines: string[] = [];
  const seen = new Set<string>();
  const prefixes4: Array<[number, number]> = [];
  const add4 = (a: number, len: number, how: string): void => {
    const net = (a & mask4(len)) >>> 0;
    const key = `${net}/${len}`;
    if (seen.has(key)) return;
    seen.add(key);
    prefixes4.push([net, len]);
    lines.push(routeLine(`${u32ToIp(net)}/${len}`, how));
  };
  add4(0, 0, nh4());
  add4(0x80000000, 1, nh4());
  // Clusters: a /12 holding /16s, which hold /20-/24s, which hold /25-/32s.
  const clusters = [0x64400000, 0xc6120000, 0x2d000000, 0xb9000000];
  for (const base of clusters) {
    add4(base, 12, nh4());
    for (let i = 0; i < 6; i++) {
      const a16 = (base | (Math.floor(r() * 16) << 16)) >>> 0;
      add4(a16, 16, nh4());
      for (let j = 0; j < 10; j++) {
        const len = pick([20, 22, 23, 24, 24, 24]);
        const a = (a16 | Math.floor(r() * 65536)) >>> 0;
        const kind = r();
        if (kind < 0.06) add4(a, len, 'blackhole');
        else if (kind < 0.1) add4(a, len, 'unreachable');
        else add4(a, len, nh4());
        for (let k = 0; k < 3; k++) add4((a | Math.floor(r() * 256)) >>> 0, pick([25, 26, 28, 30, 32]), nh4());
      }
    }
  }
  // Local addresses the router owns inside offloaded prefixes.
  for (let i = 0; i < 4; i++) {
    const [net, len] = pick(prefixes4.filter(([, l]) => l >= 12 && l <= 24));
    const a = (net | (Math.floor(r() * 2 ** (32 - len)) & ~mask4(len))) >>> 0;
    lines.push(`address add ${u32ToIp(a)}/32 dev lo`);
  }

  const gw6 = (): string => {
    const port = 1 + Math.floor(r() * 3);
    const host = pick([2, 3, 4, 5, 9]);
    return r() < 0.3 ? `via fe80::${host} dev p${port}` : `via 2001:db8:${port}::${host} dev p${port}`;
  };
  const prefixes6: Array<[string, number]> = [];
  const add6 = (p: string, len: number, how: string): void => {
    const net = inside6(p, len, () => 0);
    const key = `${net}/${len}`;
    if (seen.has(key)) return;
    seen.add(key);
    prefixes6.push([net, len]);
    lines.push(routeLine(`${net}/${len}`, how));
  };
  add6('::', 0, gw6());
  for (let i = 0; i < 6; i++) {
    const p32 = `2a0${i}:db8::`;
    add6(p32, 32, gw6());
    for (let j = 0; j < 8; j++) {
      const p48 = inside6(p32, 32, r);
      const len = pick([40, 44, 48, 48]);
      add6(p48, len, r() < 0.08 ? 'blackhole' : gw6());
      for (let k = 0; k < 2; k++) add6(inside6(p48, len, r), pick([56, 64, 64, 96, 128]), gw6());
    }
  }

  // Destinations: inside random prefixes (edges included), spread over the clusters, and anywhere.
  const dests4 = new Set<string>();
  while (dests4.size < 1100) {
    const x = r();
    let a: number;
    if (x < 0.6) {
      const [net, len] = pick(prefixes4);
      const span = 2 ** (32 - len);
      const off = r() < 0.2 ? pick([0, span - 1]) : Math.floor(r() * span);
      a = (net + off) >>> 0;
    } else if (x < 0.9) a = (pick(clusters) | Math.floor(r() * 2 ** 20)) >>> 0;
    else a = Math.floor(r() * 2 ** 32) >>> 0;
    const top = a >>> 24;
    if (top === 0 || top === 127 || top >= 224 || top === 10) continue; // special, or the test's own links
    dests4.add(u32ToIp(a));
  }
  // Connected subnets: hosts with a neighbour entry (forwarded) and without (the kernel resolves them).
  for (let k = 1; k <= 3; k++) for (const h of [2, 3, 5, 9, 77, 254]) dests4.add(`10.1.${k}.${h}`);
  const dests6 = new Set<string>();
  while (dests6.size < 300) {
    const [net, len] = r() < 0.85 ? pick(prefixes6) : ['2a00::', 12] as [string, number];
    dests6.add(inside6(net, len, r));
  }
  for (let k = 1; k <= 3; k++) for (const h of ['2', '4', '9', '77']) dests6.add(`2001:db8:${k}::${h}`);
  return { lines, dests4: [...dests4], dests6: [...dests6] };
}

// -------------------------------------------------------------- oracle ---

interface Expected {
  /** Members the kernel could use: (egress MAC, neighbour MAC); empty = the kernel handles it. */
  readonly members: ReadonlyArray<{ smac: string; dmac: string }>;
  /** Some member is unresolved: its share of flows goes to the kernel. */
  readonly partial: boolean;
  readonly why: string;
}

interface RouteJson {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  nexthops?: Array<{ gateway?: string; dev?: string }>;
}

function oracle(dut: Netns, dests: readonly string[], family: 4 | 6, neigh: ReadonlyMap<string, string>, portMac: ReadonlyMap<string, string>): Expected[] {
  return dests.map((dst) => {
    // One process per destination: blackhole, unreachable and no route are errors, which `ip -batch` can't align with answers.
    const p = spawnSync('ip', ['-n', dut.name, '-j', `-${family}`, 'route', 'get', 'fibmatch', dst], { encoding: 'utf8' });
    if (p.status !== 0) return { members: [], partial: false, why: p.stderr.trim() || 'no route' };
    const rt = (JSON.parse(p.stdout) as RouteJson[])[0];
    if (!rt) return { members: [], partial: false, why: 'no route' };
    if (rt.type && rt.type !== 'unicast') return { members: [], partial: false, why: rt.type };
    const hops = rt.nexthops ?? [{ ...(rt.gateway ? { gateway: rt.gateway } : {}), ...(rt.dev ? { dev: rt.dev } : {}) }];
    const members: Array<{ smac: string; dmac: string }> = [];
    let partial = false;
    for (const h of hops) {
      const dmac = h.dev ? neigh.get(`${h.dev}|${h.gateway ?? dst}`) : undefined;
      const smac = h.dev ? portMac.get(h.dev) : undefined;
      if (dmac && smac) members.push({ smac, dmac }); else partial = true;
    }
    return { members, partial, why: `${rt.dst} via ${hops.map((h) => `${h.gateway ?? '-'}@${h.dev}`).join(',')}` };
  });
}

// -------------------------------------------------------------- frames ---

function udpFrame(dstMac: string, family: 4 | 6, src: string, dst: string, sport: number): Buffer {
  const eth = Buffer.alloc(14);
  Buffer.from(parseMac(dstMac)).copy(eth, 0);
  Buffer.from(parseMac(SRC_MAC)).copy(eth, 6);
  const payload = Buffer.alloc(8 + 18);
  payload.writeUInt16BE(sport, 0);
  payload.writeUInt16BE(9, 2);
  payload.writeUInt16BE(payload.length, 4);
  if (family === 4) {
    eth.writeUInt16BE(0x0800, 12);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from(parseIp(src)).copy(ip, 12);
    Buffer.from(parseIp(dst)).copy(ip, 16);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += ip.readUInt16BE(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    ip.writeUInt16BE(~s & 0xffff, 10);
    return Buffer.concat([eth, ip, payload]);
  }
  eth.writeUInt16BE(0x86dd, 12);
  const ip6 = Buffer.alloc(40);
  ip6[0] = 0x60;
  ip6.writeUInt16BE(payload.length, 4);
  ip6[6] = 17;
  ip6[7] = 64;
  Buffer.from(parseIp(src)).copy(ip6, 8);
  Buffer.from(parseIp(dst)).copy(ip6, 24);
  return Buffer.concat([eth, ip6, payload]);
}

const macAt = (b: Buffer, off: number): string => [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

// --------------------------------------------------------------- tests ---

describe.skipIf(!isRoot())('XDP vs the kernel, destination by destination (random tables)', { timeout: 180_000 }, () => {
  const nets = new NetnsSet('xdiff');
  let dut: Netns, peer: Netns;
  let pins = '';
  let cfgDir = '';
  const portMac = new Map<string, string>();
  const neigh = new Map<string, string>();
  let table: Table;
  let p0: number;

  beforeAll(async () => {
    dut = nets.add('dut');
    peer = nets.add('peer');
    pins = pinDirOf(dut);
    cfgDir = mkdtempSync(join(tmpdir(), 'fot-xdiff-'));
    for (const [i, p] of PORTS.entries()) {
      nets.veth(dut, p, peer, `q${i}`, { aMac: `02:00:00:00:f0:0${i}` });
      portMac.set(p, `02:00:00:00:f0:0${i}`);
    }
    for (const p of PORTS) await dut.waitCarrier(p);
    const lines = ['address add 10.9.0.1/24 dev p0', 'address add 2001:db8:9::1/64 dev p0 nodad',
      `neigh replace ${SRC4} lladdr ${SRC_MAC} dev p0 nud permanent`];
    for (let k = 1; k <= 3; k++) {
      lines.push(`address add 10.1.${k}.1/24 dev p${k}`, `address add 2001:db8:${k}::1/64 dev p${k} nodad`);
      for (const h of [2, 3, 4, 5]) {
        lines.push(`neigh replace 10.1.${k}.${h} lladdr ${neighMac(k, h)} dev p${k} nud permanent`);
        lines.push(`neigh replace 2001:db8:${k}::${h} lladdr ${neighMac(k, h)} dev p${k} nud permanent`);
        lines.push(`neigh replace fe80::${h} lladdr ${neighMac(k, 0x80 + h)} dev p${k} nud permanent`);
        neigh.set(`p${k}|10.1.${k}.${h}`, neighMac(k, h));
        neigh.set(`p${k}|2001:db8:${k}::${h}`, neighMac(k, h));
        neigh.set(`p${k}|fe80::${h}`, neighMac(k, 0x80 + h));
      }
    }
    dut.ipBatch(lines);
    table = randomTable(20261202);
    dut.ipBatch(table.lines);
    p0 = dut.ifindex('p0');
  });

  afterAll(() => {
    if (pins) removePins(pins);
    nets.destroy();
    if (cfgDir) rmSync(cfgDir, { recursive: true, force: true });
  });

  function apply(flatThreshold: number): string {
    const cfg = join(cfgDir, `c${flatThreshold}.yaml`);
    writeFileSync(cfg, `ports: [${PORTS.join(', ')}]\nbackend: xdp\nxdp: { flat_threshold: ${flatThreshold} }\n`);
    const r = agent(dut, 'apply', '--config', cfg);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    return r.stdout;
  }

  /** The kernel's answers, asked once: the kernel's tables don't change between the applies. */
  const oracles = new Map<4 | 6, Expected[]>();
  function kernelSays(family: 4 | 6, dests: readonly string[]): Expected[] {
    if (!oracles.has(family)) oracles.set(family, oracle(dut, dests, family, neigh, portMac));
    return oracles.get(family)!;
  }

  /** Every destination through the pinned program; returns the mismatches. */
  function probe(family: 4 | 6, dests: readonly string[]): string[] {
    const want = kernelSays(family, dests);
    const runner = XdpRunner.existing(pins, dut.name);
    const bad: string[] = [];
    try {
      const frames = dests.map((dst, i) => ({
        frame: udpFrame(portMac.get('p0')!, family, family === 4 ? SRC4 : SRC6, dst, 1000 + i), ingress: p0,
      }));
      const results = runner.runMany(frames);
      dests.forEach((dst, i) => {
        const frame = frames[i]!.frame;
        const res = results[i]!;
        const w = want[i]!;
        if (res.retval === XDP.PASS) {
          if (!res.dataOut.equals(frame)) bad.push(`${dst}: passed to the kernel but changed`);
          else if (w.members.length > 0 && !w.partial) bad.push(`${dst}: kernel forwards it (${w.why}) but the program passed it`);
          return;
        }
        if (res.retval !== XDP.REDIRECT) {
          bad.push(`${dst}: XDP action ${res.retval}`);
          return;
        }
        const got = { smac: macAt(res.dataOut, 6), dmac: macAt(res.dataOut, 0) };
        if (!w.members.some((m) => m.smac === got.smac && m.dmac === got.dmac)) {
          bad.push(`${dst}: forwarded to ${got.dmac} from ${got.smac}; the kernel: ${w.why} (${w.members.map((m) => m.dmac).join(',') || 'itself'})`);
        }
      });
    } finally {
      runner.destroy();
    }
    return bad;
  }

  it('the table is what was asked for', () => {
    const n4 = (JSON.parse(dut.ip('-j', '-4', 'route', 'show', 'table', 'all')) as unknown[]).length;
    expect(n4).toBeGreaterThan(200);
    expect(table.dests4.length).toBeGreaterThanOrEqual(1000);
  });

  it('IPv4 through the flat DIR-24-8 array: every destination where the kernel sends it', () => {
    const out = apply(0);
    expect(out).toMatch(/table 254 IPv4: flat DIR-24-8 array .*made/);
    expect(probe(4, table.dests4)).toEqual([]);
  });

  it('a second apply changes nothing', () => {
    expect(apply(0)).toMatch(/xdp: no changes/);
  });

  it('IPv4 through the LPM trie (the table moved back): the same answers', () => {
    expect(apply(1_000_000)).toMatch(/table 254 IPv4: back to the LPM trie/);
    expect(probe(4, table.dests4)).toEqual([]);
  });

  it('and flat again, after the move', () => {
    expect(apply(0)).toMatch(/flat DIR-24-8 array/);
    expect(probe(4, table.dests4)).toEqual([]);
  });

  it('IPv6: every destination where the kernel sends it', () => {
    expect(probe(6, table.dests6)).toEqual([]);
  });
});
