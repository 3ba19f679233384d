// Charts from bench results, drawn with Vega-Lite (compiled to Vega, rendered
// to SVG in Node: no canvas, no browser): the convergence latency CDF,
// forwarded Mpps kernel vs XDP on the host and kernel vs tc vs XDP in the VM, the daemon's
// memory against table size. A chart whose data the given result lacks (an
// `--only` run) is drawn from the newest result file that has it, named in
// the chart's subtitle.
//
//   node dist/bench/charts.js [RESULT.json ...]    (npm run bench:charts)
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ConvergeResult } from './converge.js';
import type { DataplaneResult, Mode } from './dataplane.js';
import type { LookupResult, LookupMode } from './lookup.js';
import type { MemoryResult } from './memory.js';
import type { IngestResult } from './ingest.js';

export const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
export const CHARTS_DIR = fileURLToPath(new URL('../../bench/charts/', import.meta.url));

/** The parts of a result file the charts read. */
export interface BenchResult {
  date: string;
  machine: { kernel: string; cpu: string; cores: number; node: string };
  converge?: ConvergeResult;
  dataplane?: DataplaneResult;
  /** The data-plane bench inside the Debian-kernel VM, with tc (bench/vm-dataplane.ts). */
  tcDataplane?: DataplaneResult;
  lookup?: LookupResult;
  memory?: MemoryResult;
  ingest?: IngestResult;
}

interface Sourced<T> {
  data: T;
  /** Result file name, or null for the run being written. */
  file: string | null;
  result: BenchResult;
}

/** A result file already read. */
export interface NamedResult {
  name: string;
  result: BenchResult;
}

/** `key` from the current result, else from the first of `given` that has it, else from the newest result file that has it. */
function pick<K extends 'converge' | 'dataplane' | 'tcDataplane' | 'lookup' | 'memory'>(
  current: BenchResult | null, key: K, dir: string, given: readonly NamedResult[] = [],
): Sourced<NonNullable<BenchResult[K]>> | null {
  // A bench that failed left { error } in its place; old convergence results have no raw samples.
  const usable = (v: unknown): boolean =>
    typeof v === 'object' && v !== null && !('error' in v) && (key !== 'converge' || (v as ConvergeResult).singles?.samples !== undefined);
  const cur = current?.[key];
  if (current && usable(cur)) return { data: cur as NonNullable<BenchResult[K]>, file: null, result: current };
  for (const g of given) {
    if (usable(g.result[key])) return { data: g.result[key] as NonNullable<BenchResult[K]>, file: g.name, result: g.result };
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().reverse();
  } catch {
    return null;
  }
  for (const f of files) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as BenchResult;
      const v = r[key];
      if (usable(v)) return { data: v as NonNullable<BenchResult[K]>, file: f, result: r };
    } catch {
      // not a result file
    }
  }
  return null;
}

const machineLine = (r: BenchResult): string => `${r.machine.cores} × ${r.machine.cpu}, kernel ${r.machine.kernel}, Node ${r.machine.node}`;
const fromLine = (s: Sourced<unknown>): string => `${s.file ? `from ${s.file}` : `run ${s.result.date.slice(0, 19)}Z`}; ${machineLine(s.result)}`;

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** 1000000 → 1M, 100002 → 100k, 2 → 2. */
const fmtK = (n: number): string => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n));

// ---------------------------------------------------------------------------

/** Empirical CDF of the daemon's per-change latency (single route changes, each its own batch). */
export function convergenceSpec(s: Sourced<ConvergeResult>): TopLevelSpec {
  const rows: Array<{ series: string; ms: number; p: number }> = [];
  const add = (series: string, xs: readonly number[] | undefined): void => {
    const v = [...(xs ?? [])].sort((a, b) => a - b);
    v.forEach((ms, i) => rows.push({ series, ms, p: (i + 1) / v.length }));
  };
  const c = s.data;
  add(`add, ${c.singles.tableEntries}-entry table`, c.singles.samples?.add);
  add(`delete, ${c.singles.tableEntries}-entry table`, c.singles.samples?.delete);
  if (c.singlesLoaded) {
    add(`add, ${fmtK(c.singlesLoaded.tableEntries)}-entry table`, c.singlesLoaded.samples?.add);
    add(`delete, ${fmtK(c.singlesLoaded.tableEntries)}-entry table`, c.singlesLoaded.samples?.delete);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Route change → installed in XDP maps: latency CDF',
      subtitle: [
        'fib-offload run (XDP backend); one route change at a time, each its own batch; the daemon\'s own event → acknowledgement time',
        fromLine(s),
      ],
    },
    width: 560,
    height: 300,
    data: { values: rows },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms, log scale)' },
      y: { field: 'p', type: 'quantitative', title: 'fraction of changes', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom-right', labelLimit: 400 } },
    },
  };
}

const SCENARIO_LABEL: Record<string, string> = { '1-route': '1 route', 'ecmp-2': 'ECMP, 2-way' };
const MODE_LABEL: Record<Mode, string> = { kernel: 'kernel (ip_forward)', xdp: 'XDP (fib-offload)', tc: 'tc flower, software (fib-offload)' };

/** Forwarded Mpps per scenario, kernel vs XDP (vs tc where measured: the VM), median with min–max bars. */
export function dataplaneSpec(s: Sourced<DataplaneResult>, where = 'this host'): TopLevelSpec {
  const dp = s.data;
  const cells = dp.summary.filter((c) => c.generator === 'livegen');
  const layouts = [...new Set(cells.map((c) => c.layout))].sort((a, b) => (a === 'split' ? -1 : b === 'split' ? 1 : 0));
  const layoutLabel = (l: string): string => (l === 'split' ? 'generator and forwarder on separate cores' : 'generator, forwarder and receiver on one core');
  const label = (sc: string): string => SCENARIO_LABEL[sc] ?? `${fmtK(dp.tableRoutes)} routes, ${sc === 'table-1dst' ? '1 dst' : 'spread dst'}`;
  const rows: Array<{ scenario: string; layout: string; mode: string; median: number | null; min: number | null; max: number | null; text: string }> = [];
  for (const c of cells) {
    rows.push({
      scenario: label(c.scenario), layout: layoutLabel(c.layout),
      mode: MODE_LABEL[c.mode], median: c.mpps.median, min: c.mpps.min, max: c.mpps.max, text: c.mpps.median.toFixed(2),
    });
  }
  if (!dp.tc.measured) {
    for (const lay of layouts) {
      for (const sc of [...new Set(cells.filter((c) => c.layout === lay).map((c) => c.scenario))]) {
        rows.push({ scenario: label(sc), layout: layoutLabel(lay), mode: MODE_LABEL.tc, median: null, min: null, max: null, text: 'n/m' });
      }
    }
  }
  const first = dp.ratios.filter((r) => r.generator === 'livegen' && r.layout === (layouts[0] ?? 'split'));
  const ratios = first.map((r) => `${label(r.scenario)} ×${r.xdpOverKernel.median.toFixed(2)}`).join(', ');
  const tcRatios = first.filter((r) => r.tcOverKernel).map((r) => `${label(r.scenario)} ×${r.tcOverKernel!.median.toFixed(2)}`).join(', ');
  const tg = dp.summary.filter((c) => c.generator === 'trafgen');
  const tgLine = tg.length
    ? [`trafgen instead of the live-frames generator (one core, 1 route): ${tg.map((c) => `${c.mode} ${c.mpps.median.toFixed(2)}`).join(', ')} Mpps (trafgen is the bottleneck)`]
    : [];
  const modeScale = { domain: [MODE_LABEL.kernel, MODE_LABEL.xdp, MODE_LABEL.tc], range: ['#9e9e9e', '#1f77b4', '#ff7f0e'] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Forwarded packets per second through dut (veth, 60-byte UDP frames), ${where}`,
      subtitle: [
        `median of ${dp.repeats} side-by-side repeats, bars min–max; XDP/kernel (median of per-repeat ratios): ${ratios}`,
        dp.tc.measured ? `tc/kernel: ${tcRatios}; tc: ${dp.tc.note}` : `tc software forwarding: ${dp.tc.note}`,
        ...tgLine,
        fromLine(s),
      ],
    },
    data: { values: rows },
    facet: { column: { field: 'layout', type: 'nominal', title: null, sort: layouts.map(layoutLabel) } },
    resolve: { scale: { x: 'independent', xOffset: 'independent' } },
    spec: {
      width: 520,
      height: 260,
      encoding: {
        x: { field: 'scenario', type: 'nominal', title: null, axis: { labelAngle: 0 }, sort: null },
        xOffset: { field: 'mode', type: 'nominal', scale: { domain: modeScale.domain } },
      },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'median', type: 'quantitative', title: 'Mpps forwarded' },
            color: { field: 'mode', type: 'nominal', title: null, scale: modeScale, legend: { orient: 'top', labelLimit: 400 } },
          },
        },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } },
        },
        {
          mark: { type: 'text', dy: -8, fontSize: 9 },
          encoding: {
            y: { field: 'max', type: 'quantitative' },
            text: { field: 'text', type: 'nominal' },
          },
        },
        {
          transform: [{ filter: 'datum.median === null' }],
          mark: { type: 'text', dy: -8, fontSize: 9, color: '#ff7f0e' },
          encoding: { y: { datum: 0, type: 'quantitative' }, text: { field: 'text', type: 'nominal' } },
        },
      ],
    },
  };
}

const LOOKUP_LABEL: Record<LookupMode, string> = {
  kernel: 'kernel forwarding',
  trie: 'XDP, BPF LPM trie',
  flat: 'XDP, flat DIR-24-8 (IPv4)',
  'flat-noaudit': 'XDP, flat, audit off',
  'flat-rpf': 'XDP, flat, rp_filter strict',
  fib: 'XDP, bpf_fib_lookup()',
};

/** Forwarded Mpps per table and lookup (side by side), and the program's cost per packet (BPF_PROG_TEST_RUN). */
export function lookupSpec(s: Sourced<LookupResult>): TopLevelSpec {
  const lk = s.data;
  const modes = Object.keys(LOOKUP_LABEL) as LookupMode[];
  const tableLabel = (t: { family: number; routes: number }): string => `IPv${t.family}, ${fmtK(t.routes)} route${t.routes === 1 ? '' : 's'}`;
  const rows: Array<{ panel: string; table: string; mode: string; median: number; min: number; max: number; text: string }> = [];
  for (const t of lk.tables) {
    for (const m of modes) {
      const c = t.mpps[m];
      if (c) rows.push({ panel: 'Mpps forwarded', table: tableLabel(t), mode: LOOKUP_LABEL[m], median: c.median, min: c.min, max: c.max, text: c.median.toFixed(2) });
      const p = t.probe[m];
      if (p) {
        const net = p.meanNs - t.probeBaseline.meanNs;
        rows.push({ panel: 'ns per packet (BPF_PROG_TEST_RUN, mean, less an empty program)', table: tableLabel(t), mode: LOOKUP_LABEL[m], median: net, min: net, max: net, text: net.toFixed(0) });
      }
    }
  }
  const ratios = lk.tables.map((t) => `${tableLabel(t)}: ${(['flat', 'trie', 'fib'] as const).filter((m) => t.overKernel[m]).map((m) => `${m} ×${t.overKernel[m]!.median.toFixed(2)}`).join(' ')}`);
  const scale = { domain: modes.map((m) => LOOKUP_LABEL[m]), range: ['#9e9e9e', '#aec7e8', '#1f77b4', '#6baed6', '#2ca02c'] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Route lookup from XDP on Internet-like tables, traffic spread over 100k destinations',
      subtitle: [
        `median of ${lk.repeats} side-by-side cycles, bars min–max; XDP/kernel (median of per-cycle ratios):`,
        ...ratios,
        fromLine(s),
      ],
    },
    data: { values: rows },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: ['Mpps forwarded'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 640,
      height: 220,
      encoding: {
        x: { field: 'table', type: 'nominal', title: null, axis: { labelAngle: 0 }, sort: null },
        xOffset: { field: 'mode', type: 'nominal', scale: { domain: scale.domain } },
      },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'median', type: 'quantitative', title: null },
            color: { field: 'mode', type: 'nominal', title: null, scale, legend: { orient: 'top', labelLimit: 400 } },
          },
        },
        { mark: { type: 'rule', color: 'black' }, encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } } },
        { mark: { type: 'text', dy: -8, fontSize: 9 }, encoding: { y: { field: 'max', type: 'quantitative' }, text: { field: 'text', type: 'nominal' } } },
      ],
    },
  };
}

/** Daemon RSS against the table size at idle (median with min–max of the samples), and under churn. */
export function memorySpec(s: Sourced<MemoryResult>, ingest: IngestResult | undefined): TopLevelSpec {
  const m = s.data;
  const rows: Array<{ series: string; routes: number; median: number; min: number; max: number }> = [];
  for (const i of m.idle) rows.push({ series: 'daemon at idle', routes: i.routes, median: i.rssMB.median, min: i.rssMB.min, max: i.rssMB.max });
  for (const c of m.churn) {
    rows.push({ series: `daemon under ${c.targetRate} changes/s`, routes: c.routes, median: c.rssMB.median, min: c.rssMB.min, max: c.rssMB.max });
  }
  if (ingest) {
    rows.push({ series: 'mirror only (ingest bench)', routes: ingest.routesV4 + ingest.routesV6, median: ingest.agent.rssMB, min: ingest.agent.rssMB, max: ingest.agent.rssMB });
  }
  const idle = m.idle.at(-1);
  const churn = m.churnSummary;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'fib-offload run: resident memory vs routes',
      subtitle: [
        `CPU at idle with ${fmtK(idle?.routes ?? 0)} routes: ${idle ? idle.cpuPct.median.toFixed(1) : '?'}% of a core` +
          (churn ? `; under ${m.churn[0]!.targetRate} changes/s: ${churn.cpuPct.median.toFixed(0)}% (mean per run, median of ${m.churn.length})` : ''),
        fromLine(s),
      ],
    },
    width: 520,
    height: 300,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'routes', type: 'quantitative', title: 'IPv4 routes in the kernel table', axis: { format: '~s' } },
          y: { field: 'median', type: 'quantitative', title: 'RSS (MB)' },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-left', labelLimit: 400 } },
        },
      },
      {
        mark: { type: 'rule' },
        encoding: {
          x: { field: 'routes', type: 'quantitative' },
          y: { field: 'min', type: 'quantitative' },
          y2: { field: 'max' },
          color: { field: 'series', type: 'nominal' },
        },
      },
    ],
  };
}

/** Draw every chart there is data for into `chartsDir`; returns the files written. */
export async function renderCharts(
  current: BenchResult | null, opts: { resultsDir?: string; chartsDir?: string; files?: readonly NamedResult[] } = {},
): Promise<string[]> {
  const resultsDir = opts.resultsDir ?? RESULTS_DIR;
  const chartsDir = opts.chartsDir ?? CHARTS_DIR;
  mkdirSync(chartsDir, { recursive: true });
  const written: string[] = [];
  const out = async (name: string, spec: TopLevelSpec): Promise<void> => {
    const file = join(chartsDir, name);
    writeFileSync(file, await render(spec));
    written.push(file);
  };
  const given = opts.files ?? [];
  const conv = pick(current, 'converge', resultsDir, given);
  if (conv) await out('convergence-cdf.svg', convergenceSpec(conv));
  const dp = pick(current, 'dataplane', resultsDir, given);
  if (dp) await out('dataplane-mpps.svg', dataplaneSpec(dp));
  const tcdp = pick(current, 'tcDataplane', resultsDir, given);
  if (tcdp) await out('tc-dataplane-mpps.svg', dataplaneSpec(tcdp, 'in the Debian 6.1 VM under qemu TCG (only the ratios mean anything)'));
  const lk = pick(current, 'lookup', resultsDir, given);
  if (lk) await out('lookup.svg', lookupSpec(lk));
  const mem = pick(current, 'memory', resultsDir, given);
  if (mem) await out('memory-vs-routes.svg', memorySpec(mem, mem.result.ingest));
  return written;
}

// As a script: each chart from the first given result file that has its data,
// else from the newest result file that does.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = process.argv.slice(2).map((f) => ({ name: basename(f), result: JSON.parse(readFileSync(f, 'utf8')) as BenchResult }));
  for (const f of await renderCharts(null, { files })) process.stderr.write(`charts: wrote ${f}\n`);
}
