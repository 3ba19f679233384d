// DIR-24-8 table (src/xdp/dir24.ts) timings, no kernel needed: build() of an
// Internet-like IPv4 table, build() again over its own array, and single
// changes under it (a /8 in empty and in populated space, a /24, a /32), each
// with its take(). Figures only, no assertions. Standalone:
// `npx tsc -p tsconfig.json && node dist/bench/dir24.js [--routes N]`.
import { parseArgs } from 'node:util';
import { rng } from './rng.js';
import { Dir24Table, d24ArrayLength, d24Value, type D24Writes } from '../src/xdp/dir24.js';


/** Prefix-length mix of a full table (roughly the 2024 DFZ), plus 2% /25../32 as an IGP adds them. */
const LENGTHS: readonly [len: number, share: number][] = [
  [8, 0.0001], [12, 0.0009], [14, 0.002], [15, 0.002], [16, 0.014], [17, 0.008], [18, 0.014], [19, 0.025], [20, 0.04],
  [21, 0.05], [22, 0.11], [23, 0.1], [24, 0.614],
  [25, 0.003], [26, 0.003], [27, 0.003], [28, 0.003], [29, 0.003], [30, 0.002], [31, 0.001], [32, 0.002],
];

/** Internet-like routes: first octets 1..223 except 10 and 127 (10/8 stays empty for the /8 figure). */
export function internetRoutes(n: number, seed = 1): [number, number, number][] {
  const r = rng(seed);
  const total = LENGTHS.reduce((s, [, w]) => s + w, 0);
  const out: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    let x = r() * total;
    let len = 24;
    for (const [l, w] of LENGTHS) {
      if ((x -= w) < 0) {
        len = l;
        break;
      }
    }
    let o1 = 1 + Math.floor(r() * 223);
    if (o1 === 10 || o1 === 127) o1 = 11;
    const a = ((o1 << 24) | Math.floor(r() * 0x1000000)) >>> 0;
    const mask = len === 0 ? 0 : -1 << (32 - len);
    out.push([(a & mask) >>> 0, len, r() < 0.02 ? d24Value('punt', 0) : d24Value('forward', Math.floor(r() * 64))]);
  }
  return out;
}

const ms = (t0: number): number => performance.now() - t0;
const count = (w: D24Writes): string => `${w.tbl8.indices.length} tbl8 + ${w.tbl24.indices.length} tbl24 writes`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function apply(k: Uint32Array, w: D24Writes): void {
  for (const p of [w.tbl8, w.tbl24]) for (let i = 0; i < p.indices.length; i++) k[p.indices[i]!] = p.values[i]!;
}

/** set then take, delete then take: the median of `reps` rounds, µs. */
function change(t: Dir24Table, addr: number, len: number, reps: number): { set: number; del: number; writes: string } {
  const set: number[] = [];
  const del: number[] = [];
  let writes = '';
  for (let i = 0; i < reps; i++) {
    let t0 = performance.now();
    t.set(addr, len, d24Value('forward', 1000 + (i & 7)));
    const w = t.take();
    set.push(ms(t0) * 1000);
    if (i === 0) writes = count(w);
    t0 = performance.now();
    t.delete(addr, len);
    t.take();
    del.push(ms(t0) * 1000);
  }
  return { set: median(set), del: median(del), writes };
}

function main(): void {
  const { values } = parseArgs({ options: { routes: { type: 'string', default: '1000000' }, groups: { type: 'string', default: '32768' } } });
  const n = Number(values.routes);
  const tbl8Groups = Number(values.groups);
  const routes = internetRoutes(n);
  globalThis.gc?.();
  const m0 = process.memoryUsage();

  let t0 = performance.now();
  const c0 = process.cpuUsage();
  const { table, writes } = Dir24Table.build(routes, { tbl8Groups });
  const buildMs = ms(t0);
  const cpu = process.cpuUsage(c0);
  const m1 = process.memoryUsage();
  const s = table.stats();
  console.log(`routes generated ${n}, distinct ${s.routes}; tbl8 groups ${s.tbl8Used} used of ${tbl8Groups}, starved ${s.starved}`);
  // System time here is mostly first touches of fresh pages (page faults), which cost a VM far more than bare metal.
  console.log(`build: ${buildMs.toFixed(0)} ms (CPU user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms), ${count(writes)}`);
  const bytes = table.memoryBytes();
  const writeBytes = 8 * (writes.tbl8.indices.length + writes.tbl24.indices.length);
  console.log(`memory: table ${mib(bytes)} (memoryBytes()); the writes ${mib(writeBytes)}; process heap +${mib(m1.heapUsed - m0.heapUsed)}, array buffers +${mib(m1.arrayBuffers - m0.arrayBuffers)}`);

  const kernel = new Uint32Array(d24ArrayLength(tbl8Groups));
  apply(kernel, writes);
  t0 = performance.now();
  const again = Dir24Table.build(routes, { tbl8Groups, installed: kernel });
  console.log(`build over its own installed array: ${ms(t0).toFixed(0)} ms, ${count(again.writes)}`);

  const slash8 = (o1: number): number => (o1 << 24) >>> 0;
  // The first incremental writes after build pay for first touches of the dirty bitmaps; warm them.
  change(table, slash8(10), 8, 1);
  for (const [label, addr, len, reps] of [
    ['/8 in empty space (10/8)', slash8(10), 8, 9],
    ['/8 over populated space (45/8)', slash8(45), 8, 9],
    ['/24 (45.1.2/24)', ((45 << 24) | (1 << 16) | (2 << 8)) >>> 0, 24, 2001],
    ['/32 in a plain /24 (45.1.2.3/32, a new tbl8 group)', ((45 << 24) | (1 << 16) | (2 << 8) | 3) >>> 0, 32, 2001],
  ] as const) {
    const r = change(table, addr, len, reps);
    const unit = r.set > 1000 ? `${(r.set / 1000).toFixed(2)} ms / ${(r.del / 1000).toFixed(2)} ms` : `${r.set.toFixed(1)} µs / ${r.del.toFixed(1)} µs`;
    console.log(`${label}: set+take / delete+take ${unit} (median of ${reps}); first set: ${r.writes}`);
  }
}

main();
