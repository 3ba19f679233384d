// Route tables that look like the Internet's, for the lookup bench
// (bench/lookup.ts). The base is the announced address space as shipped by
// the npm package @ip-location-db/asn (RouteViews + DB-IP, CC-BY-4.0): IPv4
// and IPv6 ranges per origin AS, each range cut into the fewest CIDR blocks
// that cover it exactly. On top of that, as real tables have them: covering
// aggregates (/16s over announced more-specifics), traffic-engineering
// more-specifics (/24s inside shorter announcements, and for IPv6 /48s), and a
// few longer ones (/25–/32; /64 and /128). Everything is seeded: the same
// arguments give the same table. Pure: no kernel, no files but the package's.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseIp, ipToBigInt } from '../src/model/ip.js';
import { rng } from './rng.js';

export interface Prefix4 { addr: number; len: number }
export interface Prefix6 { addr: bigint; len: number }

/** How a table was made: base blocks kept, and what was added on top. */
export interface TableMix {
  base: number;
  covering: number;
  moreSpecific: number;
  long: number;
  /** Prefix-length histogram of the result, "len" → count. */
  lengths: Record<string, number>;
}

const require = createRequire(import.meta.url);
function asnFile(name: string): string {
  return join(dirname(require.resolve('@ip-location-db/asn/package.json')), name);
}

/** [start, end] (inclusive, u32) as the fewest aligned CIDR blocks. */
export function rangeToCidrs4(start: number, end: number): Prefix4[] {
  const out: Prefix4[] = [];
  let s = start;
  while (s <= end) {
    // Largest block aligned at s: trailing zero bits of s, capped by what is left.
    let size = s === 0 ? 32 : Math.min(32, ctz32(s));
    while (size > 0 && s + 2 ** size - 1 > end) size--;
    out.push({ addr: s >>> 0, len: 32 - size });
    s += 2 ** size;
  }
  return out;
}

function ctz32(x: number): number {
  if (x === 0) return 32;
  return 31 - Math.clz32(x & -x);
}

const B128 = (1n << 128n) - 1n;

export function rangeToCidrs6(start: bigint, end: bigint): Prefix6[] {
  const out: Prefix6[] = [];
  let s = start;
  while (s <= end) {
    let size = 128;
    if (s !== 0n) { size = 0; while (((s >> BigInt(size)) & 1n) === 0n) size++; }
    while (size > 0 && s + (1n << BigInt(size)) - 1n > end) size--;
    out.push({ addr: s, len: 128 - size });
    s += 1n << BigInt(size);
  }
  return out;
}

/** Addresses the bench topology uses, and space no table carries. */
function reserved4(addr: number, len: number): boolean {
  const first = addr >>> 24;
  if (len < 8) return true;
  if (first === 0 || first === 10 || first === 127 || first >= 224) return true;
  if (addr >>> 16 === ((169 << 8) | 254)) return true;
  return (addr >>> 8) === (((198 << 16) | (51 << 8) | 100) >>> 0);
}

const key4 = (p: Prefix4): number => p.addr * 64 + p.len;
const key6 = (p: Prefix6): string => `${p.addr.toString(16)}/${p.len}`;
const mask4 = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/** The package's IPv4 ranges as CIDR blocks: unique, sorted, none in reserved space. */
export function asnBase4(): Prefix4[] {
  const seen = new Set<number>();
  const out: Prefix4[] = [];
  for (const line of readFileSync(asnFile('asn-ipv4-num.csv'), 'utf8').split('\n')) {
    const comma = line.indexOf(',');
    if (comma < 0) continue;
    const start = Number(line.slice(0, comma));
    const end = Number(line.slice(comma + 1, line.indexOf(',', comma + 1)));
    if (!Number.isInteger(start) || !Number.isInteger(end)) continue;
    for (const p of rangeToCidrs4(start, end)) {
      if (reserved4(p.addr, p.len) || seen.has(key4(p))) continue;
      seen.add(key4(p));
      out.push(p);
    }
  }
  return out.sort((a, b) => a.addr - b.addr || a.len - b.len);
}

export function asnBase6(): Prefix6[] {
  const seen = new Set<string>();
  const out: Prefix6[] = [];
  for (const line of readFileSync(asnFile('asn-ipv6.csv'), 'utf8').split('\n')) {
    const [a, b] = line.split(',', 2);
    if (!a || !b) continue;
    for (const p of rangeToCidrs6(ipToBigInt(parseIp(a)), ipToBigInt(parseIp(b)))) {
      // Global unicast only (2000::/3), and nothing shorter than /16.
      if (p.len < 16 || p.addr >> 125n !== 1n || seen.has(key6(p))) continue;
      seen.add(key6(p));
      out.push(p);
    }
  }
  return out.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.len - y.len));
}

function lengths<P extends { len: number }>(ps: readonly P[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const p of ps) h[p.len] = (h[p.len] ?? 0) + 1;
  return h;
}

/** Seeded subsample of `n` from `xs` (order kept). */
function sample<T>(xs: readonly T[], n: number, r: () => number): T[] {
  if (n >= xs.length) return [...xs];
  const idx = Array.from(xs.keys());
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(r() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, n).sort((a, b) => a - b).map((i) => xs[i]!);
}

/**
 * An IPv4 table of exactly `n` prefixes. Below the base's size: a seeded
 * sample of the base. Above: the base, /16 aggregates over announced /17+
 * blocks, up to `longMax` /25–/32 more-specifics (each in its own /24, so a
 * DIR-24-8 needs one second-level group apiece), and /24 more-specifics
 * inside shorter announcements for the rest.
 */
export function internet4(n: number, seed = 4, longMax = 6000): { prefixes: Prefix4[]; mix: TableMix } {
  const base = asnBase4();
  const r = rng(seed);
  if (n <= base.length) {
    const prefixes = sample(base, n, r);
    return { prefixes, mix: { base: n, covering: 0, moreSpecific: 0, long: 0, lengths: lengths(prefixes) } };
  }
  const seen = new Set(base.map(key4));
  const out = [...base];
  const add = (p: Prefix4): boolean => {
    if (out.length >= n || seen.has(key4(p)) || reserved4(p.addr, p.len)) return false;
    seen.add(key4(p));
    out.push(p);
    return true;
  };
  let covering = 0;
  for (const p of base) if (p.len > 16 && add({ addr: (p.addr & mask4(16)) >>> 0, len: 16 })) covering++;
  const shorter = base.filter((p) => p.len <= 23);
  let long = 0;
  for (let tries = 0; long < Math.min(longMax, n - out.length) && tries < longMax * 20; tries++) {
    const p = shorter[Math.floor(r() * shorter.length)]!;
    const len = 25 + Math.floor(r() * 8);
    const host = Math.floor(r() * 2 ** (32 - p.len));
    if (add({ addr: ((p.addr + host) & mask4(len)) >>> 0, len })) long++;
  }
  let moreSpecific = 0;
  for (let tries = 0; out.length < n && tries < n * 20; tries++) {
    const p = shorter[Math.floor(r() * shorter.length)]!;
    const sub = Math.floor(r() * 2 ** (24 - p.len));
    if (add({ addr: (p.addr + sub * 256) >>> 0, len: 24 })) moreSpecific++;
  }
  if (out.length < n) throw new Error(`internet4: made only ${out.length} of ${n} prefixes`);
  out.sort((a, b) => a.addr - b.addr || a.len - b.len);
  return { prefixes: out, mix: { base: base.length, covering, moreSpecific, long, lengths: lengths(out) } };
}

/**
 * An IPv6 table of `n` prefixes: the base, /48 more-specifics inside
 * /32–/47 announcements, and `longEach` /64s and /128s.
 */
export function internet6(n: number, seed = 6, longEach = 1000): { prefixes: Prefix6[]; mix: TableMix } {
  const base = asnBase6();
  const r = rng(seed);
  if (n <= base.length) {
    const prefixes = sample(base, n, r);
    return { prefixes, mix: { base: n, covering: 0, moreSpecific: 0, long: 0, lengths: lengths(prefixes) } };
  }
  const seen = new Set(base.map(key6));
  const out = [...base];
  const add = (p: Prefix6): boolean => {
    if (out.length >= n || seen.has(key6(p))) return false;
    seen.add(key6(p));
    out.push(p);
    return true;
  };
  const shorter = base.filter((p) => p.len >= 20 && p.len <= 47);
  const pickIn = (p: Prefix6, len: number): Prefix6 => {
    const span = len - p.len;
    const sub = BigInt(Math.floor(r() * 2 ** Math.min(span, 48))) << BigInt(128 - len);
    return { addr: (p.addr + sub) & B128, len };
  };
  let long = 0;
  for (const len of [64, 128]) {
    for (let k = 0, tries = 0; k < longEach && tries < longEach * 20; tries++) {
      const p = shorter[Math.floor(r() * shorter.length)]!;
      if (add(pickIn(p, len))) { k++; long++; }
    }
  }
  let moreSpecific = 0;
  for (let tries = 0; out.length < n && tries < n * 20; tries++) {
    if (add(pickIn(shorter[Math.floor(r() * shorter.length)]!, 48))) moreSpecific++;
  }
  if (out.length < n) throw new Error(`internet6: made only ${out.length} of ${n} prefixes`);
  out.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : x.len - y.len));
  return { prefixes: out, mix: { base: base.length, covering: 0, moreSpecific, long, lengths: lengths(out) } };
}

/** `count` distinct destinations: a uniformly chosen prefix, a random address inside it. */
export function spread4(prefixes: readonly Prefix4[], count: number, seed = 44): number[] {
  const r = rng(seed);
  const seen = new Set<number>();
  for (let tries = 0; seen.size < count && tries < count * 50; tries++) {
    const p = prefixes[Math.floor(r() * prefixes.length)]!;
    seen.add((p.addr + Math.floor(r() * 2 ** (32 - p.len))) >>> 0);
  }
  return [...seen];
}

export function spread6(prefixes: readonly Prefix6[], count: number, seed = 66): bigint[] {
  const r = rng(seed);
  const seen = new Set<bigint>();
  for (let tries = 0; seen.size < count && tries < count * 50; tries++) {
    const p = prefixes[Math.floor(r() * prefixes.length)]!;
    const hostBits = 128 - p.len;
    let host = 0n;
    for (let b = 0; b < hostBits; b += 32) host = (host << 32n) | BigInt(Math.floor(r() * 4294967296));
    host &= hostBits === 0 ? 0n : (1n << BigInt(hostBits)) - 1n;
    seen.add(p.addr | host);
  }
  return [...seen];
}

export function text4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

export function text6(addr: bigint): string {
  const parts: string[] = [];
  for (let i = 7; i >= 0; i--) parts.push(((addr >> BigInt(i * 16)) & 0xffffn).toString(16));
  return parts.join(':');
}
