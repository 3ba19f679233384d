// FIB compression bench (src/plan/compress.ts): the Internet's announced
// address space by origin AS (@ip-location-db/asn, as bench/internet-table.ts
// reads it), next hops assigned per origin AS over 2, 4 and 8 upstreams, then
// entries before and after, the time to compress the full table, and the time
// of one route change through CompressedTable.update. Pure: no kernel.
//
// Next-hop model: a router's best path to a prefix is decided per AS path, and
// an origin announces all its prefixes with the same path, so every prefix of
// one origin AS gets the same upstream: upstream = hash(ASN) mod N. The hash
// spreads neighbouring origins independently, which is pessimistic: in real
// tables an upstream's customer cone (many origins, often numbered next to each
// other) shares a next hop. The `default` variant is a transit plus peers: one
// upstream takes 80% of origins, the other three share the rest.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatIp, ipToBigInt, parseIp } from '../src/model/ip.js';
import { CompressedTable, compressEntries, type EntryChange } from '../src/plan/compress.js';
import { fnv1a32 } from '../src/plan/groups.js';
import type { PlanEntry } from '../src/plan/types.js';
import { rangeToCidrs4, rangeToCidrs6, text4, text6 } from './internet-table.js';
import { rng } from './rng.js';

export interface CompressBenchOptions {
  /** Single-route changes timed per scenario (each is a change and its revert). */
  readonly changes: number;
  readonly v6: boolean;
  readonly log: (s: string) => void;
}

export interface CompressScenario {
  family: 4 | 6;
  model: string;
  /** 0: one next hop per origin AS. */
  upstreams: number;
  entriesBefore: number;
  entriesAfter: number;
  /** after / before. */
  ratio: number;
  /** 1 - ratio, as SMALTA reports it. */
  reduction: number;
  compressSeconds: number;
  /** One route's upstream changed, then changed back: update() medians and p99, in microseconds (0 when not timed: one upstream). */
  changeMedianUs: number;
  changeP99Us: number;
  /** A new /24 (/48) more-specific of another upstream inside an announced block, then deleted. */
  addMedianUs: number;
  addP99Us: number;
  /** Mean compressed entries added + removed per change. */
  meanDiffEntries: number;
  /** The table after all changes and reverts equals compressing it from scratch. */
  incrementalEqualsScratch: boolean;
}

export interface CompressBenchResult {
  source: string;
  prefixes4: number;
  origins4: number;
  prefixes6: number;
  origins6: number;
  scenarios: CompressScenario[];
}

const require = createRequire(import.meta.url);
const asnFile = (name: string): string => join(dirname(require.resolve('@ip-location-db/asn/package.json')), name);

interface Announced { dst: string; asn: number }

/** IPv4: the package's ranges as CIDR blocks with their origin AS; reserved space left out as in internet-table.ts. */
function announced4(): Announced[] {
  const out: Announced[] = [];
  const seen = new Set<string>();
  for (const line of readFileSync(asnFile('asn-ipv4-num.csv'), 'utf8').split('\n')) {
    const [a, b, asn] = line.split(',', 3);
    const start = Number(a);
    const end = Number(b);
    if (!line || !Number.isInteger(start) || !Number.isInteger(end)) continue;
    for (const p of rangeToCidrs4(start, end)) {
      const first = p.addr >>> 24;
      if (p.len < 8 || first === 0 || first === 10 || first === 127 || first >= 224) continue;
      const dst = `${text4(p.addr)}/${p.len}`;
      if (seen.has(dst)) continue;
      seen.add(dst);
      out.push({ dst, asn: Number(asn) });
    }
  }
  return out;
}

function announced6(): Announced[] {
  const out: Announced[] = [];
  const seen = new Set<string>();
  for (const line of readFileSync(asnFile('asn-ipv6.csv'), 'utf8').split('\n')) {
    const [a, b, asn] = line.split(',', 3);
    if (!a || !b) continue;
    for (const p of rangeToCidrs6(ipToBigInt(parseIp(a)), ipToBigInt(parseIp(b)))) {
      if (p.len < 16 || p.addr >> 125n !== 1n) continue;
      // Canonical text (RFC 5952), as the plan writes it.
      const dst = `${formatCanonical6(p.addr)}/${p.len}`;
      if (seen.has(dst)) continue;
      seen.add(dst);
      out.push({ dst, asn: Number(asn) });
    }
  }
  return out;
}

function formatCanonical6(addr: bigint): string {
  return formatIp(parseIp(text6(addr)));
}

const GROUP_BASE = 0x100;

/** upstreams 0: every origin its own next hop. */
type Model = { name: string; upstreams: number; pick: (asn: number) => number };

const MODELS: readonly Model[] = [
  ...[2, 4, 8].map((n) => ({ name: 'hash', upstreams: n, pick: (asn: number) => fnv1a32(String(asn)) % n })),
  // Transit + 3 peers: 80% of origins via upstream 0.
  { name: 'default', upstreams: 4, pick: (asn: number) => { const h = fnv1a32(String(asn)); return h % 100 < 80 ? 0 : 1 + (h % 3); } },
  // Bounds, not models: one next hop for everything, and one per origin (no two origins share).
  { name: 'one', upstreams: 1, pick: () => 0 },
  { name: 'per-origin', upstreams: 0, pick: (asn: number) => asn },
];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

function scenario(family: 4 | 6, table: readonly Announced[], model: Model, opts: CompressBenchOptions): CompressScenario {
  const entries: PlanEntry[] = table.map((a) => ({ table: 254, family, dst: a.dst, action: 'forward', group: GROUP_BASE + model.pick(a.asn) }));
  const t0 = performance.now();
  const ct = new CompressedTable(entries);
  const compressSeconds = (performance.now() - t0) / 1e3;
  const before = ct.sourceSize;
  const after = ct.size;

  const r = rng(family * 1000 + model.upstreams);
  const change: number[] = [];
  const add: number[] = [];
  let diffEntries = 0;
  const timed = (changes: EntryChange[], into: number[]): void => {
    const t = performance.now();
    const d = ct.update(changes);
    into.push((performance.now() - t) * 1e3);
    diffEntries += d.added.length + d.removed.length;
  };
  const other = (g: number): number => (model.upstreams === 0 ? g + 1
    : GROUP_BASE + ((g - GROUP_BASE + 1 + Math.floor(r() * (model.upstreams - 1))) % model.upstreams));
  // With one upstream there is no other to change to.
  for (let i = 0; i < (model.upstreams === 1 ? 0 : opts.changes); i++) {
    const e = entries[Math.floor(r() * entries.length)]!;
    timed([{ op: 'set', entry: { ...e, group: other(e.group!) } }], change);
    timed([{ op: 'set', entry: e }], change);
    // A more-specific inside an announced block short enough to hold one.
    const host = entries[Math.floor(r() * entries.length)]!;
    const slash = host.dst.lastIndexOf('/');
    const len = Number(host.dst.slice(slash + 1));
    const subLen = family === 4 ? 24 : 48;
    if (len >= subLen) continue;
    const dst = family === 4 ? `${host.dst.slice(0, slash)}/24` : `${host.dst.slice(0, slash)}/48`;
    const sub: PlanEntry = { table: 254, family, dst, action: 'forward', group: other(host.group!) };
    timed([{ op: 'set', entry: sub }], add);
    timed([{ op: 'delete', table: 254, family, dst }], add);
  }
  const scratch = compressEntries(entries);
  const now = ct.entries();
  const same = scratch.length === now.length && scratch.every((e, i) => e.dst === now[i]!.dst && e.group === now[i]!.group && e.action === now[i]!.action);
  const s: CompressScenario = {
    family, model: model.name, upstreams: model.upstreams, entriesBefore: before, entriesAfter: after,
    ratio: round(after / before, 4), reduction: round(1 - after / before, 4), compressSeconds: round(compressSeconds),
    changeMedianUs: round(quantile(change, 0.5), 1), changeP99Us: round(quantile(change, 0.99), 1),
    addMedianUs: round(quantile(add, 0.5), 1), addP99Us: round(quantile(add, 0.99), 1),
    meanDiffEntries: round(diffEntries / Math.max(1, change.length + add.length), 2), incrementalEqualsScratch: same,
  };
  opts.log(`compress: IPv${family} ${model.name} over ${model.upstreams}: ${before} → ${after} (${(s.reduction * 100).toFixed(1)}% fewer) in ${s.compressSeconds} s; change ${s.changeMedianUs} µs median, p99 ${s.changeP99Us} µs; add/delete a more-specific ${s.addMedianUs} µs`);
  return s;
}

export function benchCompress(opts: CompressBenchOptions): CompressBenchResult {
  const t4 = announced4();
  const t6 = opts.v6 ? announced6() : [];
  const scenarios: CompressScenario[] = [];
  for (const m of MODELS) scenarios.push(scenario(4, t4, m, opts));
  if (t6.length) for (const m of MODELS) scenarios.push(scenario(6, t6, m, opts));
  const pkg = JSON.parse(readFileSync(asnFile('package.json'), 'utf8')) as { version: string };
  return {
    source: `@ip-location-db/asn ${pkg.version}`,
    prefixes4: t4.length, origins4: new Set(t4.map((a) => a.asn)).size,
    prefixes6: t6.length, origins6: new Set(t6.map((a) => a.asn)).size,
    scenarios,
  };
}
