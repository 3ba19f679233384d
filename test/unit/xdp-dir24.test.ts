// The DIR-24-8 table (src/xdp/dir24.ts): classic rte_lpm cases, then random
// set/delete/replace sequences whose writes are applied, phase by phase, to a
// simulated kernel array read the way the XDP program reads it.
import { describe, it, expect } from 'vitest';
import {
  D24_EXT,
  D24_FWD,
  D24_GROUP_MAX,
  D24_PUNT,
  Dir24Table,
  TBL24_SIZE,
  d24ArrayLength,
  d24Value,
  decodeD24,
  formatPrefix,
  PrefixMap,
  type D24Phase,
  type D24Writes,
} from '../../src/xdp/dir24.js';
import { rng } from '../fixtures/rng.js';

// Local copies for the hot loops: vitest turns imported bindings into getter calls.
const EXT = D24_EXT;
const N24 = TBL24_SIZE;

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const pfx = (s: string): [number, number] => {
  const [a, l] = s.split('/');
  return [ip(a!), Number(l)];
};
const maskOf = (len: number): number => (len === 0 ? 0 : -1 << (32 - len));
const fwd = (g: number): number => d24Value('forward', g);
const ext = (g: number): number => (D24_EXT | g) >>> 0;

/** What the BPF program does: tbl24, then the tbl8 slot if the entry is EXT. */
function kernelLookup(k: Uint32Array, addr: number): number {
  const v = k[addr >>> 8]!;
  if (!(v & EXT)) return v;
  const s = k[N24 + (v & 0x7fffffff) * 256 + (addr & 0xff)];
  if (s === undefined) throw new Error(`tbl24 entry 0x${v.toString(16)} points past the array`);
  if (s & EXT) throw new Error(`tbl8 slot for ${addr} holds EXT`);
  return s;
}

function apply(k: Uint32Array, p: D24Phase): void {
  for (let i = 0; i < p.indices.length; i++) k[p.indices[i]!] = p.values[i]!;
}

/**
 * Arrays shared by the property cases: first touching 64 MiB costs more than
 * the checks (page faults), so each case reuses them instead of allocating.
 */
let shared: { kernel: Uint32Array; zero: Uint32Array } | undefined;
function sharedArrays(tbl8Groups: number): { kernel: Uint32Array; zero: Uint32Array } {
  shared ??= { kernel: new Uint32Array(d24ArrayLength(256)), zero: new Uint32Array(d24ArrayLength(256)) };
  const n = d24ArrayLength(tbl8Groups);
  if (n > shared.kernel.length) throw new Error(`${tbl8Groups} groups: the shared arrays hold 256`);
  shared.kernel.fill(0);
  return { kernel: shared.kernel.subarray(0, n), zero: shared.zero.subarray(0, n) };
}

interface Route {
  readonly addr: number;
  readonly len: number;
  readonly value: number;
}

/** Longest-prefix match by brute force. */
function refLookup(routes: Iterable<Route>, a: number): number {
  let best = -1;
  let v = 0;
  for (const r of routes) if (r.len > best && ((a ^ r.addr) & maskOf(r.len)) === 0) [best, v] = [r.len, r.value];
  return v;
}

/** A table, the kernel copy its writes are applied to, and the clock it reads. */
class Rig {
  clock = 0;
  readonly table: Dir24Table;
  readonly kernel: Uint32Array;

  constructor(tbl8Groups: number, quarantineMs = 1000) {
    this.table = new Dir24Table({ tbl8Groups, quarantineMs, now: () => this.clock });
    this.kernel = new Uint32Array(d24ArrayLength(tbl8Groups));
  }

  set(p: string, v: number): void {
    this.table.set(...pfx(p), v);
  }

  del(p: string): void {
    this.table.delete(...pfx(p));
  }

  sync(): D24Writes {
    const w = this.table.take();
    apply(this.kernel, w.tbl8);
    apply(this.kernel, w.tbl24);
    return w;
  }

  /** The kernel copy's answer, which must be the table's own. */
  at(addr: string): number {
    const k = kernelLookup(this.kernel, ip(addr));
    expect(this.table.lookup(ip(addr)), addr).toBe(k);
    return k;
  }
}

const pairs = (p: D24Phase): [number, number][] => [...p.indices].map((i, k) => [i, p.values[k]!]);

describe('encodings', () => {
  it('d24Value and decodeD24 round trip; the layout constants are the BPF program\'s', () => {
    expect([TBL24_SIZE, D24_EXT, D24_PUNT, D24_FWD, D24_GROUP_MAX]).toEqual([1 << 24, 0x80000000, 0x40000000, 0x20000000, 0x0fffffff]);
    expect(d24ArrayLength(2)).toBe(16777216 + 512);
    expect(d24Value('forward', 5)).toBe(0x20000005);
    expect(d24Value('forward', D24_GROUP_MAX)).toBe(0x2fffffff);
    expect(d24Value('punt', 0)).toBe(0x40000000);
    expect(decodeD24(0)).toEqual({ kind: 'none' });
    expect(decodeD24(0x80000007)).toEqual({ kind: 'ext', tbl8: 7 });
    expect(decodeD24(0x40000000)).toEqual({ kind: 'punt' });
    expect(decodeD24(0x2000abcd)).toEqual({ kind: 'forward', group: 0xabcd });
    for (const g of [-1, 0x10000000, 1.5]) expect(() => d24Value('forward', g)).toThrow(RangeError);
    for (const v of [0x10000000, 0x60000000, 0x40000001, -1, 2 ** 32]) expect(() => decodeD24(v)).toThrow(RangeError);
    expect(formatPrefix(ip('10.1.2.128'), 25)).toBe('10.1.2.128/25');
  });

  it('rejects host bits, bad lengths, bad values and bad options', () => {
    const t = new Dir24Table({ tbl8Groups: 1 });
    expect(() => t.set(ip('10.1.2.1'), 24, fwd(1))).toThrow(RangeError);
    expect(() => t.set(ip('10.0.0.0'), 33, fwd(1))).toThrow(RangeError);
    expect(() => t.set(ip('10.0.0.0'), -1, fwd(1))).toThrow(RangeError);
    expect(() => t.set(1, 0, fwd(1))).toThrow(RangeError);
    expect(() => t.set(2 ** 32, 32, fwd(1))).toThrow(RangeError);
    expect(() => t.set(ip('10.0.0.0'), 8, 0)).toThrow(RangeError);
    expect(() => t.set(ip('10.0.0.0'), 8, ext(1))).toThrow(RangeError);
    expect(() => t.set(ip('10.0.0.0'), 8, 0x10000000)).toThrow(RangeError);
    expect(() => t.delete(ip('10.0.0.1'), 8)).toThrow(RangeError);
    t.delete(ip('10.0.0.0'), 8);
    expect(t.has(ip('10.0.0.0'), 8)).toBe(false);
    const w = t.take();
    expect([w.tbl8.indices.length, w.tbl24.indices.length]).toEqual([0, 0]);
    expect(() => new Dir24Table({ tbl8Groups: -1 })).toThrow(RangeError);
    expect(() => new Dir24Table({ tbl8Groups: 1.5 })).toThrow(RangeError);
    expect(() => new Dir24Table({ tbl8Groups: 1, quarantineMs: -1 })).toThrow(RangeError);
  });
});

describe('PrefixMap (the route store)', () => {
  it('agrees with a Map through random sets, replaces and deletes, with clustered keys and growth', () => {
    const r = rng(42);
    const m = new PrefixMap();
    const ref = new Map<number, number>();
    // Keys like prefix addresses: low bits zero, many sharing high bits, some negative as int32.
    const key = (): number => ((Math.floor(r() * 64) << 26) | (Math.floor(r() * 256) << 8)) | 0;
    for (let i = 0; i < 40_000; i++) {
      const k = key();
      if (r() < 0.45) {
        expect(m.delete(k)).toBe(ref.delete(k));
      } else {
        const v = 1 + Math.floor(r() * 1000);
        m.set(k, v);
        ref.set(k, v);
      }
      if (i % 5000 === 0 || i === 39_999) {
        expect(m.size).toBe(ref.size);
        const seen = new Map<number, number>();
        m.forEach((v, k2) => seen.set(k2, v));
        expect(seen).toEqual(ref);
        for (let j = 0; j < 500; j++) {
          const k2 = key();
          expect(m.get(k2)).toBe(ref.get(k2));
          expect(m.has(k2)).toBe(ref.has(k2));
        }
      }
    }
  });
});

describe('prefixes', () => {
  it('nested /8 /16 /24 /25 /32, in either order, give the same array', () => {
    const routes: [string, number][] = [
      ['10.0.0.0/8', fwd(1)], ['10.1.0.0/16', fwd(2)], ['10.1.2.0/24', fwd(3)], ['10.1.2.128/25', fwd(4)], ['10.1.2.200/32', D24_PUNT],
    ];
    const a = new Rig(4);
    for (const [p, v] of routes) a.set(p, v);
    const wa = a.sync();
    expect(a.at('10.9.9.9')).toBe(fwd(1));
    expect(a.at('10.1.9.9')).toBe(fwd(2));
    expect(a.at('10.1.2.0')).toBe(fwd(3));
    expect(a.at('10.1.2.127')).toBe(fwd(3));
    expect(a.at('10.1.2.128')).toBe(fwd(4));
    expect(a.at('10.1.2.199')).toBe(fwd(4));
    expect(a.at('10.1.2.200')).toBe(D24_PUNT);
    expect(a.at('10.1.2.201')).toBe(fwd(4));
    expect(a.at('10.1.2.255')).toBe(fwd(4));
    expect(a.at('11.0.0.0')).toBe(0);
    expect(a.at('9.255.255.255')).toBe(0);
    expect(a.kernel[ip('10.1.2.0') >>> 8]).toBe(ext(0));
    expect(a.table.stats()).toEqual({ routes: 5, tbl8Used: 1, tbl8Free: 3, quarantined: 0, starved: 0 });

    const b = new Rig(4);
    for (const [p, v] of [...routes].reverse()) b.set(p, v);
    // All from zero, so the same writes mean the same arrays.
    expect(b.sync()).toEqual(wa);
    expect(Dir24Table.build(routes.map(([p, v]) => [...pfx(p), v] as const), { tbl8Groups: 4 }).writes).toEqual(wa);
  });

  it('/0 covers everything not covered by a longer prefix, and leaves on delete', () => {
    const r = new Rig(1);
    r.set('10.0.0.0/8', fwd(1));
    r.sync();
    r.set('0.0.0.0/0', D24_PUNT);
    expect(r.sync().tbl24.indices.length).toBe(TBL24_SIZE - 65536);
    expect(r.at('0.0.0.0')).toBe(D24_PUNT);
    expect(r.at('255.255.255.255')).toBe(D24_PUNT);
    expect(r.at('10.200.0.1')).toBe(fwd(1));
    r.set('10.1.2.3/32', fwd(2));
    r.sync();
    r.del('0.0.0.0/0');
    expect(r.sync().tbl24.indices.length).toBe(TBL24_SIZE - 65536);
    expect(r.at('1.2.3.4')).toBe(0);
    expect(r.at('10.1.2.3')).toBe(fwd(2));
    expect(r.at('10.1.2.4')).toBe(fwd(1));
  });

  it('a /16 added after /24s and a /25 inside it does not overwrite them', () => {
    const r = new Rig(4);
    r.set('10.1.2.0/24', fwd(3));
    r.set('10.1.5.0/24', fwd(4));
    r.set('10.1.7.0/25', fwd(5));
    r.sync();
    r.set('10.1.0.0/16', fwd(2));
    const w = r.sync();
    const written = new Set(w.tbl24.indices);
    expect(written.size).toBe(253);
    expect(written.has(ip('10.1.2.0') >>> 8) || written.has(ip('10.1.5.0') >>> 8) || written.has(ip('10.1.7.0') >>> 8)).toBe(false);
    expect(new Set(w.tbl24.values)).toEqual(new Set([fwd(2)]));
    // The /25's group gets the /16 in its other half, in place (phase 1).
    expect(pairs(w.tbl8)).toEqual(Array.from({ length: 128 }, (_, i) => [TBL24_SIZE + 128 + i, fwd(2)]));
    expect(r.at('10.1.2.9')).toBe(fwd(3));
    expect(r.at('10.1.5.9')).toBe(fwd(4));
    expect(r.at('10.1.7.9')).toBe(fwd(5));
    expect(r.at('10.1.7.200')).toBe(fwd(2));
    expect(r.at('10.1.3.1')).toBe(fwd(2));
  });

  it('delete hands back exactly the entries the prefix owned to the next-shorter cover', () => {
    const r = new Rig(4);
    r.set('10.0.0.0/8', fwd(1));
    r.set('10.1.0.0/16', fwd(2));
    r.set('10.1.2.0/24', fwd(3));
    r.set('10.1.16.0/20', fwd(4));
    r.set('10.1.7.0/25', fwd(5));
    r.sync();
    r.del('10.1.0.0/16');
    const w = r.sync();
    expect(w.tbl24.indices.length).toBe(256 - 1 - 16 - 1);
    expect(new Set(w.tbl24.values)).toEqual(new Set([fwd(1)]));
    expect(pairs(w.tbl8)).toEqual(Array.from({ length: 128 }, (_, i) => [TBL24_SIZE + 128 + i, fwd(1)]));
    expect(r.at('10.1.3.1')).toBe(fwd(1));
    expect(r.at('10.1.2.1')).toBe(fwd(3));
    expect(r.at('10.1.17.1')).toBe(fwd(4));
    expect(r.at('10.1.7.1')).toBe(fwd(5));
    expect(r.at('10.1.7.129')).toBe(fwd(1));
    r.del('10.0.0.0/8');
    expect(r.sync().tbl24.indices.length).toBe(65536 - 1 - 16 - 1);
    expect(r.at('10.1.3.1')).toBe(0);
    expect(r.at('10.1.7.129')).toBe(0);
    expect(r.at('10.1.2.1')).toBe(fwd(3));
    r.del('10.1.2.0/24');
    expect(pairs(r.sync().tbl24)).toEqual([[ip('10.1.2.0') >>> 8, 0]]);
  });

  it('replace rewrites the prefix\'s entries, coalesced to the last value', () => {
    const r = new Rig(4);
    r.set('10.1.2.0/24', fwd(1));
    r.set('10.1.3.128/25', fwd(1));
    r.sync();
    r.set('10.1.2.0/24', fwd(2));
    r.set('10.1.2.0/24', fwd(3));
    r.set('10.1.3.128/25', D24_PUNT);
    const w = r.sync();
    expect(pairs(w.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, fwd(3)]]);
    expect(pairs(w.tbl8)).toEqual(Array.from({ length: 128 }, (_, i) => [TBL24_SIZE + 128 + i, D24_PUNT]));
    expect(r.table.get(...pfx('10.1.2.0/24'))).toBe(fwd(3));
    expect(r.table.has(...pfx('10.1.3.128/25'))).toBe(true);
    expect(r.at('10.1.3.200')).toBe(D24_PUNT);
    r.set('10.1.2.0/24', fwd(3));
    const again = r.sync();
    expect([again.tbl8.indices.length, again.tbl24.indices.length]).toEqual([0, 0]);
  });
});

describe('tbl8 groups', () => {
  it('a new group is built in phase 1 and pointed at in phase 2; collapse retires it without writing it', () => {
    const r = new Rig(4);
    r.set('10.1.2.0/24', fwd(3));
    r.set('10.1.2.128/25', fwd(4));
    const w = r.sync();
    expect(pairs(w.tbl8)).toEqual(Array.from({ length: 256 }, (_, i) => [TBL24_SIZE + i, i < 128 ? fwd(3) : fwd(4)]));
    expect(pairs(w.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, ext(0)]]);
    r.set('10.1.2.192/26', fwd(5));
    r.del('10.1.2.128/25');
    r.del('10.1.2.192/26');
    const c = r.sync();
    expect(c.tbl8.indices.length).toBe(0);
    expect(pairs(c.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, fwd(3)]]);
    expect(r.at('10.1.2.200')).toBe(fwd(3));
    expect(r.table.stats()).toEqual({ routes: 1, tbl8Used: 0, tbl8Free: 3, quarantined: 1, starved: 0 });
  });

  it('a retired group is not reused before quarantineMs on the injected clock, and is after', () => {
    const r = new Rig(1, 1000);
    r.set('10.1.2.128/25', fwd(4));
    r.sync();
    r.clock = 100;
    r.del('10.1.2.128/25');
    r.set('10.1.3.0/24', fwd(1));
    r.set('10.1.3.7/32', fwd(7));
    const w = r.sync();
    expect(w.tbl8.indices.length).toBe(0);
    expect(pairs(w.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, 0], [ip('10.1.3.0') >>> 8, D24_PUNT]]);
    expect(r.at('10.1.3.7')).toBe(D24_PUNT);
    expect(r.at('10.1.3.8')).toBe(D24_PUNT);
    expect(r.table.stats()).toEqual({ routes: 2, tbl8Used: 0, tbl8Free: 0, quarantined: 1, starved: 1 });
    r.clock = 1099;
    const early = r.sync();
    expect([early.tbl8.indices.length, early.tbl24.indices.length]).toEqual([0, 0]);
    expect(r.table.starvedBlocks()).toEqual([ip('10.1.3.0') >>> 8]);
    r.clock = 1100;
    expect(r.table.stats().tbl8Free).toBe(1);
    const late = r.sync();
    expect(late.tbl8.indices.length).toBe(256);
    expect(pairs(late.tbl24)).toEqual([[ip('10.1.3.0') >>> 8, ext(0)]]);
    expect(r.at('10.1.3.7')).toBe(fwd(7));
    expect(r.at('10.1.3.8')).toBe(fwd(1));
    expect(r.table.stats()).toEqual({ routes: 2, tbl8Used: 1, tbl8Free: 0, quarantined: 0, starved: 0 });
  });

  it('never hands out a group retired in the same take, even with quarantineMs 0', () => {
    const r = new Rig(1, 0);
    r.set('10.1.2.128/25', fwd(4));
    r.sync();
    r.del('10.1.2.128/25');
    r.set('10.1.3.128/25', fwd(5));
    const w = r.sync();
    expect(w.tbl8.indices.length).toBe(0);
    expect(pairs(w.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, 0], [ip('10.1.3.0') >>> 8, D24_PUNT]]);
    const next = r.sync();
    expect(pairs(next.tbl24)).toEqual([[ip('10.1.3.0') >>> 8, ext(0)]]);
    expect(r.at('10.1.3.129')).toBe(fwd(5));
    expect(r.at('10.1.3.1')).toBe(0);
  });

  it('exhaustion punts the starved /24 whole, keeps covers out of it, and recovers when groups free up', () => {
    const r = new Rig(2, 1000);
    r.set('10.1.0.0/16', fwd(1));
    r.set('10.1.1.128/25', fwd(11));
    r.set('10.1.2.128/25', fwd(12));
    r.set('10.1.3.128/25', fwd(13));
    r.sync();
    expect(r.table.starvedBlocks()).toEqual([ip('10.1.3.0') >>> 8]);
    expect(r.at('10.1.3.1')).toBe(D24_PUNT);
    expect(r.at('10.1.3.200')).toBe(D24_PUNT);
    expect(r.at('10.1.2.200')).toBe(fwd(12));
    // Covers change around it; the starved /24 stays punted.
    r.set('10.1.0.0/16', fwd(2));
    r.set('10.1.3.0/26', fwd(3));
    r.set('10.1.3.0/24', fwd(4));
    r.sync();
    expect(r.at('10.1.3.1')).toBe(D24_PUNT);
    expect(r.at('10.1.2.1')).toBe(fwd(2));
    r.del('10.1.1.128/25');
    r.sync();
    r.clock = 999;
    r.sync();
    expect(r.table.stats().starved).toBe(1);
    r.clock = 1000;
    r.sync();
    expect(r.table.stats()).toEqual({ routes: 5, tbl8Used: 2, tbl8Free: 0, quarantined: 0, starved: 0 });
    expect(r.at('10.1.3.1')).toBe(fwd(3));
    expect(r.at('10.1.3.100')).toBe(fwd(4));
    expect(r.at('10.1.3.200')).toBe(fwd(13));
    expect(r.at('10.1.1.200')).toBe(fwd(2));
  });

  it('with no groups at all, a starved block returns to its cover when its last long prefix goes', () => {
    const r = new Rig(0);
    r.set('10.1.3.0/24', fwd(4));
    r.set('10.1.3.7/32', fwd(7));
    r.set('10.1.3.8/32', fwd(8));
    r.sync();
    expect(r.at('10.1.3.1')).toBe(D24_PUNT);
    r.del('10.1.3.7/32');
    r.sync();
    expect(r.at('10.1.3.1')).toBe(D24_PUNT);
    r.del('10.1.3.8/32');
    expect(pairs(r.sync().tbl24)).toEqual([[ip('10.1.3.0') >>> 8, fwd(4)]]);
    expect(r.table.stats().starved).toBe(0);
  });
});

describe('build', () => {
  const routeList = (rs: [string, number][]): [number, number, number][] => rs.map(([p, v]) => [...pfx(p), v]);

  it('writes every nonzero entry for a zeroed array; from that array, nothing', () => {
    const routes = routeList([
      ['10.0.0.0/8', fwd(1)], ['10.1.2.0/24', fwd(2)], ['10.1.2.128/25', fwd(3)], ['10.1.2.128/25', fwd(4)], ['192.168.0.0/31', D24_PUNT],
    ]);
    const { table, writes } = Dir24Table.build(routes, { tbl8Groups: 4 });
    expect(table.stats()).toEqual({ routes: 4, tbl8Used: 2, tbl8Free: 2, quarantined: 0, starved: 0 });
    expect(writes.tbl24.indices.length).toBe(65536 + 1);
    expect([...writes.tbl24.values, ...writes.tbl8.values].every((v) => v !== 0)).toBe(true);
    const k = new Uint32Array(d24ArrayLength(4));
    apply(k, writes.tbl8);
    apply(k, writes.tbl24);
    expect(kernelLookup(k, ip('10.1.2.200'))).toBe(fwd(4));
    expect(kernelLookup(k, ip('10.1.2.100'))).toBe(fwd(2));
    expect(kernelLookup(k, ip('10.1.3.100'))).toBe(fwd(1));
    expect(kernelLookup(k, ip('192.168.0.1'))).toBe(D24_PUNT);
    expect(kernelLookup(k, ip('192.168.0.2'))).toBe(0);
    const again = Dir24Table.build(routes, { tbl8Groups: 4, installed: k });
    expect([again.writes.tbl8.indices.length, again.writes.tbl24.indices.length]).toEqual([0, 0]);
  });

  it('converge(): a running table brought to another route set: every kernel lookup is the longest-prefix match, and converging again writes nothing', () => {
    const r = rng(77);
    for (let round = 0; round < 20; round++) {
      const before = new Map<string, Route>();
      while (before.size < 300) {
        const [addr, len] = randomPrefix(r);
        before.set(keyOf(addr, len), { addr, len, value: randomValue(r) });
      }
      const rig = new Rig(64);
      for (const x of before.values()) rig.table.set(x.addr, x.len, x.value);
      rig.sync();
      // Next: some deleted, some changed, some added.
      const after = new Map<string, Route>();
      for (const [k, x] of before) {
        const u = r();
        if (u < 0.2) continue;
        after.set(k, u < 0.4 ? { ...x, value: randomValue(r) } : x);
      }
      while (after.size < 320) {
        const [addr, len] = randomPrefix(r);
        after.set(keyOf(addr, len), { addr, len, value: randomValue(r) });
      }
      rig.table.converge([...after.values()].map((x) => [x.addr, x.len, x.value] as const));
      rig.sync();
      expect(rig.table.stats().routes).toBe(after.size);
      const touched = [...before.values(), ...after.values()].map((x) => [x.addr, x.len] as [number, number]);
      for (const a of samplesFor(after.values(), touched, r)) {
        expect(kernelLookup(rig.kernel, a), `round ${round}, ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`).toBe(refLookup(after.values(), a));
      }
      // Converging to the same set again writes nothing.
      rig.table.converge([...after.values()].map((x) => [x.addr, x.len, x.value] as const));
      const w = rig.sync();
      expect([w.tbl8.indices.length, w.tbl24.indices.length]).toEqual([0, 0]);
    }
  });

  it('from an installed array: keeps installed groups, avoids referenced ones, quarantines the leftovers', () => {
    let clock = 0;
    const now = (): number => clock;
    // Installed: 10.1.2.128/25 in group 0, 10.1.3.128/25 in group 1.
    const k = new Uint32Array(d24ArrayLength(4));
    k[ip('10.1.2.0') >>> 8] = ext(0);
    k[ip('10.1.3.0') >>> 8] = ext(1);
    k.fill(fwd(1), TBL24_SIZE + 128, TBL24_SIZE + 256);
    k.fill(fwd(2), TBL24_SIZE + 256 + 128, TBL24_SIZE + 512);
    const b = Dir24Table.build(routeList([['10.1.3.128/25', fwd(5)], ['10.1.4.0/32', fwd(6)]]), { tbl8Groups: 4, now, installed: k });
    expect(pairs(b.writes.tbl24)).toEqual([[ip('10.1.2.0') >>> 8, 0], [ip('10.1.4.0') >>> 8, ext(2)]]);
    const groupsWritten = new Set([...b.writes.tbl8.indices].map((i) => (i - TBL24_SIZE) >>> 8));
    expect(groupsWritten).toEqual(new Set([1, 2]));
    expect(b.table.stats()).toEqual({ routes: 2, tbl8Used: 2, tbl8Free: 1, quarantined: 1, starved: 0 });
    apply(k, b.writes.tbl8);
    apply(k, b.writes.tbl24);
    expect(kernelLookup(k, ip('10.1.3.200'))).toBe(fwd(5));
    expect(kernelLookup(k, ip('10.1.4.0'))).toBe(fwd(6));
    expect(kernelLookup(k, ip('10.1.2.200'))).toBe(0);
    // Group 0 comes back after its quarantine (group 3 first: it was free all along).
    b.table.set(...pfx('10.1.5.0/32'), fwd(7));
    b.table.set(...pfx('10.1.6.0/32'), fwd(8));
    expect(b.table.starvedBlocks()).toEqual([ip('10.1.6.0') >>> 8]);
    clock = 1000;
    const w = b.table.take();
    expect(pairs(w.tbl24)).toEqual([[ip('10.1.5.0') >>> 8, ext(3)], [ip('10.1.6.0') >>> 8, ext(0)]]);
  });

  it('holds back the groups it is told are quarantined (a running agent rebuilding)', () => {
    let clock = 0;
    const now = (): number => clock;
    const r = new Rig(3);
    r.table.set(...pfx('10.1.2.128/25'), fwd(1));
    r.table.set(...pfx('10.1.3.128/25'), fwd(2));
    r.sync();
    r.table.delete(...pfx('10.1.2.128/25'));
    expect(r.table.quarantinedGroups()).toEqual([0]);
    r.sync();
    expect(r.table.quarantinedGroups()).toEqual([0]);
    // The kernel array no longer points at group 0, but a reader may; the rebuild must not hand it out.
    const b = Dir24Table.build(routeList([['10.1.3.128/25', fwd(2)], ['10.1.4.0/32', fwd(6)], ['10.1.5.0/32', fwd(7)]]), {
      tbl8Groups: 3, now, installed: r.kernel, quarantined: r.table.quarantinedGroups(),
    });
    expect(pairs(b.writes.tbl24)).toEqual([[ip('10.1.4.0') >>> 8, ext(2)], [ip('10.1.5.0') >>> 8, D24_PUNT]]);
    expect(b.table.quarantinedGroups()).toEqual([0]);
    clock = 1000;
    expect(b.table.quarantinedGroups()).toEqual([]);
    expect(pairs(b.table.take().tbl24)).toEqual([[ip('10.1.5.0') >>> 8, ext(0)]]);
  });
});

// --- property test ---------------------------------------------------------

const OCT1 = [10, 100, 192];
const OCT2 = [0, 1, 168];
const OCT3 = [0, 1, 2, 255];
const OCT4 = [0, 1, 64, 127, 128, 200, 255];
const LENS = [7, 8, 8, 12, 16, 16, 17, 20, 23, 24, 24, 24, 24, 25, 26, 27, 28, 30, 31, 32, 32, 32];

function randomPrefix(r: () => number): [number, number] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const len = pick(LENS);
  const o4 = r() < 0.5 ? pick(OCT4) : Math.floor(r() * 256);
  const a = ((pick(OCT1) << 24) | (pick(OCT2) << 16) | (pick(OCT3) << 8) | o4) >>> 0;
  return [(a & maskOf(len)) >>> 0, len];
}

function randomValue(r: () => number): number {
  return r() < 0.15 ? D24_PUNT : fwd(Math.floor(r() * 6));
}

const keyOf = (addr: number, len: number): string => `${addr}/${len}`;

/** First and last address of a prefix, their outside neighbours, and one inside. */
function edges(addr: number, len: number, r: () => number, out: number[]): void {
  const size = 2 ** (32 - len);
  const last = addr + size - 1;
  out.push(addr, last, addr + Math.floor(r() * size));
  if (addr > 0) out.push(addr - 1);
  if (last < 0xffffffff) out.push(last + 1);
}

function samplesFor(routes: Iterable<Route>, touched: readonly [number, number][], r: () => number): number[] {
  const out: number[] = [];
  for (const x of routes) edges(x.addr, x.len, r, out);
  for (const [a, l] of touched) edges(a, l, r, out);
  for (let i = 0; i < 100; i++) out.push(randomPrefix(r)[0] + Math.floor(r() * 256));
  for (let i = 0; i < 20; i++) out.push(Math.floor(r() * 2 ** 32));
  return out;
}

/** Which block points at each group, scanning tbl24. */
function owners(k: Uint32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < N24; i++) if (k[i]! & EXT) m.set(k[i]! & 0x7fffffff, i);
  return m;
}

/**
 * Problems with applying `w` to `k`: wrong answers after, mixed answers
 * between the phases, groups written that the result does not use or that
 * another block pointed at. `k` is put back as it was.
 */
function checkWrites(k: Uint32Array, w: D24Writes, samples: readonly number[], expected: (a: number) => number): string[] {
  const problems: string[] = [];
  const old8 = w.tbl8.indices.map((i) => k[i]!);
  const old24 = w.tbl24.indices.map((i) => k[i]!);
  const was = owners(k);
  const before = samples.map((a) => kernelLookup(k, a));
  apply(k, w.tbl8);
  const mid = samples.map((a) => kernelLookup(k, a));
  apply(k, w.tbl24);
  samples.forEach((a, i) => {
    const fin = kernelLookup(k, a);
    if (fin !== expected(a)) problems.push(`${formatPrefix(a, 32)}: ${fin} after, want ${expected(a)}`);
    if (mid[i] !== before[i] && mid[i] !== fin) problems.push(`${formatPrefix(a, 32)}: ${mid[i]} between phases, neither ${before[i]} nor ${fin}`);
  });
  const now = owners(k);
  for (const i of w.tbl8.indices) {
    const g = (i - TBL24_SIZE) >>> 8;
    if (!now.has(g)) problems.push(`group ${g} written but unused`);
    else if (was.has(g) && was.get(g) !== now.get(g)) problems.push(`group ${g} moves from block ${was.get(g)} to ${now.get(g)}`);
  }
  apply(k, { indices: w.tbl24.indices, values: old24 });
  apply(k, { indices: w.tbl8.indices, values: old8 });
  return problems;
}

describe('random set/delete/replace sequences against a brute-force LPM', () => {
  const CASES = [
    // A /0 costs 16M entries per change, so only two cases add one (then left to the random deletes and replaces).
    { seed: 1, groups: 256, slash0At: -1 },
    { seed: 2, groups: 4, slash0At: 90 },
    { seed: 3, groups: 256, slash0At: -1 },
    { seed: 4, groups: 2, slash0At: -1 },
    { seed: 5, groups: 64, slash0At: 200 },
    { seed: 6, groups: 3, slash0At: -1 },
  ];
  const Q = 1000;

  for (const { seed, groups, slash0At } of CASES) {
    it(`seed ${seed}, ${groups} tbl8 groups`, () => {
      const r = rng(seed);
      let clock = 0;
      const now = (): number => clock;
      const table = new Dir24Table({ tbl8Groups: groups, quarantineMs: Q, now });
      const { kernel, zero } = sharedArrays(groups);
      const routes = new Map<string, Route>();
      const expected = (starved: ReadonlySet<number>) => (a: number): number =>
        (starved.has(a >>> 8) ? D24_PUNT : refLookup(routes.values(), a));
      // The quarantine as the kernel sees it: which block points at a group, and when its last pointer went.
      const owner = new Map<number, number>();
      const retiredAt = new Map<number, number>();
      let touched: [number, number][] = [];
      let takes = 0;
      let sawStarved = false;

      for (let step = 0; step < 360; step++) {
        const existing = [...routes.values()];
        const op = r();
        if (op < 0.4 && existing.length > 0 && step !== slash0At) {
          const x = existing[Math.floor(r() * existing.length)]!;
          table.delete(x.addr, x.len);
          routes.delete(keyOf(x.addr, x.len));
          touched.push([x.addr, x.len]);
        } else if (op < 0.55 && existing.length > 0 && step !== slash0At) {
          const x = existing[Math.floor(r() * existing.length)]!;
          const value = randomValue(r);
          table.set(x.addr, x.len, value);
          routes.set(keyOf(x.addr, x.len), { ...x, value });
        } else {
          const [addr, len] = step === slash0At ? [0, 0] : randomPrefix(r);
          const value = randomValue(r);
          table.set(addr, len, value);
          routes.set(keyOf(addr, len), { addr, len, value });
          touched.push([addr, len]);
        }
        for (const x of [...routes.values()].slice(-3)) expect(table.has(x.addr, x.len)).toBe(true);
        if (r() < 0.6) continue;

        // take(), applied phase by phase.
        clock += Math.floor(r() * 700);
        takes++;
        const samples = samplesFor(routes.values(), touched, r);
        touched = [];
        const before = samples.map((a) => kernelLookup(kernel, a));
        const w = table.take();
        const problems: string[] = [];
        const ascending = (p: D24Phase, lo: number, hi: number): void => {
          for (let i = 0; i < p.indices.length; i++) {
            const x = p.indices[i]!;
            if (x < lo || x >= hi || (i > 0 && x <= p.indices[i - 1]!)) problems.push(`index ${x} out of order or range`);
          }
        };
        ascending(w.tbl8, TBL24_SIZE, kernel.length);
        ascending(w.tbl24, 0, TBL24_SIZE);
        const losing = new Set<number>();
        const gaining = new Map<number, number>();
        w.tbl24.indices.forEach((i, k) => {
          const old = kernel[i]!;
          const v = w.tbl24.values[k]!;
          if (old === v) return;
          if (old & D24_EXT) losing.add(old & 0x7fffffff);
          if (v & D24_EXT) gaining.set(v & 0x7fffffff, i);
        });
        for (const i of w.tbl8.indices) {
          const g = (i - TBL24_SIZE) >>> 8;
          if (losing.has(g)) problems.push(`group ${g} written in the take that retires it`);
          const t = retiredAt.get(g);
          if (t !== undefined && clock - t < Q) problems.push(`group ${g} written ${clock - t} ms after retirement`);
        }
        for (const g of losing) {
          owner.delete(g);
          retiredAt.set(g, clock);
        }
        for (const [g, block] of gaining) {
          if (losing.has(g)) problems.push(`group ${g} retired and handed out in one take`);
          const t = retiredAt.get(g);
          if (t !== undefined && clock - t < Q && !losing.has(g)) problems.push(`group ${g} reused ${clock - t} ms after retirement`);
          if (owner.has(g)) problems.push(`group ${g} pointed at by blocks ${owner.get(g)} and ${block}`);
          owner.set(g, block);
          retiredAt.delete(g);
        }

        apply(kernel, w.tbl8);
        const mid = samples.map((a) => kernelLookup(kernel, a));
        apply(kernel, w.tbl24);
        const starved = new Set(table.starvedBlocks());
        if (starved.size > 0) sawStarved = true;
        for (const b of starved) {
          const a = b * 256;
          if (![...routes.values()].some((x) => x.len > 24 && x.addr >>> 8 === b)) problems.push(`block ${formatPrefix(a, 24)} starved without a long prefix`);
        }
        const want = expected(starved);
        samples.forEach((a, i) => {
          const fin = kernelLookup(kernel, a);
          if (fin !== want(a)) problems.push(`${formatPrefix(a, 32)}: kernel ${fin.toString(16)}, want ${want(a).toString(16)}`);
          if (table.lookup(a) !== fin) problems.push(`${formatPrefix(a, 32)}: table ${table.lookup(a).toString(16)}, kernel ${fin.toString(16)}`);
          if (mid[i] !== before[i] && mid[i] !== fin) problems.push(`${formatPrefix(a, 32)}: ${mid[i]} between phases, neither ${before[i]} nor ${fin}`);
        });
        expect(problems, `seed ${seed} step ${step}`).toEqual([]);
        const s = table.stats();
        expect(s.routes).toBe(routes.size);
        expect(s.starved).toBe(starved.size);
        expect(s.tbl8Used + s.tbl8Free + s.quarantined).toBe(groups);
        expect(s.tbl8Used).toBe(owner.size);

        if (takes % 25 !== 0) continue;
        // build(): the same routes from scratch, and from the kernel array.
        const list = [...routes.values()].map((x) => [x.addr, x.len, x.value] as const);
        const fresh = Dir24Table.build(list, { tbl8Groups: groups, quarantineMs: Q, now });
        const freshWant = expected(new Set(fresh.table.starvedBlocks()));
        for (const a of samples) if (fresh.table.lookup(a) !== freshWant(a)) problems.push(`build: ${formatPrefix(a, 32)}`);
        problems.push(...checkWrites(zero, fresh.writes, samples, freshWant));
        const over = Dir24Table.build(list, { tbl8Groups: groups, quarantineMs: Q, now, installed: kernel });
        if (starved.size === 0) {
          expect([over.writes.tbl8.indices.length, over.writes.tbl24.indices.length]).toEqual([0, 0]);
        }
        problems.push(...checkWrites(kernel, over.writes, samples, expected(new Set(over.table.starvedBlocks()))));
        expect(problems, `seed ${seed} step ${step} build`).toEqual([]);
      }

      // build() of a different route set over this kernel array.
      const other = new Map<string, Route>();
      for (let i = 0; i < 150; i++) {
        const [addr, len] = randomPrefix(r);
        other.set(keyOf(addr, len), { addr, len, value: randomValue(r) });
      }
      const b = Dir24Table.build([...other.values()].map((x) => [x.addr, x.len, x.value] as const), { tbl8Groups: groups, quarantineMs: Q, now, installed: kernel });
      const bStarved = new Set(b.table.starvedBlocks());
      const samples = [...samplesFor(routes.values(), [], r), ...samplesFor(other.values(), [], r)];
      const problems = checkWrites(kernel, b.writes, samples, (a) => (bStarved.has(a >>> 8) ? D24_PUNT : refLookup(other.values(), a)));
      expect(problems, `seed ${seed} build over a different table`).toEqual([]);
      if (groups <= 4) expect(sawStarved).toBe(true);
    });
  }
});
