// `npm run bench [-- --quick] [-- --routes N] [-- --only ingest,plan,xdp,converge,dataplane,memory,compress,tc,tc-dataplane]`:
// runs the benchmarks and writes bench/results/<date>.json (machine facts and
// figures) and the charts (bench/charts/*.svg). No assertions: figures only.
// Needs root (the benches make namespaces and pin under /sys/fs/bpf).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { benchIngest } from './ingest.js';
import { benchPlan, type PlanBenchResult } from './plan.js';
import { benchXdp } from './xdp.js';
import { benchConverge } from './converge.js';
import { benchDataplane, type Layout } from './dataplane.js';
import { benchLookup } from './lookup.js';
import { benchMemory } from './memory.js';
import { benchCompress } from './compress.js';
import { renderCharts, type BenchResult } from './charts.js';
import { inVm } from './vm.js';

const BENCHES = ['ingest', 'plan', 'xdp', 'converge', 'dataplane', 'lookup', 'memory', 'compress', 'tc', 'tc-dataplane'] as const;

const USAGE = `Usage: npm run bench -- [options]   (root; writes bench/results/<date>.json and bench/charts/*.svg)

  --quick                    100k routes, fewer repeats (under 5 min on 2 cores)
  --only LIST                ${BENCHES.join(',')} (comma-separated; default: all)
  --routes N                 IPv4 table size (default 1000000; quick 100000)
  --routes-v6 N              IPv6 routes for ingest (default 200000; quick 0)
  --xdp-repeats K            XDP map-update repeats
  --converge-routes N        burst / start-up size (default --routes, else 100000)
  --converge-singles N       single route changes on a small table
  --converge-loaded N        single route changes on the burst's table
  --converge-repeats K       burst and start-up repeats
  --dataplane-routes N       table size of the data-plane table scenarios (default --routes)
  --dataplane-repeats K      kernel/XDP pairs per scenario (default 5; quick 3)
  --dataplane-window S       seconds per measurement window (default 4; quick 1.5)
  --dataplane-layouts L      split (generator and forwarder on separate CPUs), shared
  --dataplane-cpus G,F       generator CPU, forwarder CPU (default 0,1)
  --dataplane-trafgen        also measure with trafgen (netsniff-ng) for comparison
  --lookup-sizes LIST        IPv4 table sizes of the lookup bench (default 1,100000,1000000; quick 1,100000)
  --lookup-v6 N              its IPv6 table size (default 230000; quick 0)
  --lookup-destinations N    distinct destinations per table (default 100000)
  --lookup-repeats K         mode cycles per table, ABBA (default 3; quick 2)
  --lookup-window S          seconds per Mpps window (default 3; quick 1.5)
  --memory-routes LIST       table sizes for the idle daemon
  --memory-rate R            route changes per second under load (default 1000)
  --memory-seconds S         seconds of steady changes
  --memory-repeats K         repeats of the idle measurement
  --memory-v6 N              IPv6 routes added with the largest size (default 0)
  --compress-changes N       single-route changes timed per compression scenario (default 2000; quick 500)
  --tc-runs LIST             tc programming runs ROUTESxWIDTH in the VM (default 10000x2,10000x8,100000x2; quick 10000x2)
  --tc-dataplane-routes N    table size of the VM data-plane bench (default 10000)
  --tc-dataplane-repeats K   kernel/tc/XDP cycles in the VM (default 3; quick 2)
                             tc and tc-dataplane boot Debian's 6.1 kernel under qemu (scripts/vm/run.sh):
                             the host kernel has no flower; TCG makes only their ratios meaningful
  --no-charts                do not redraw bench/charts
  -h, --help                 this text
`;

let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const { values } = parsed;

function parseOptions() {
  return parseArgs({
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      quick: { type: 'boolean', default: false },
      routes: { type: 'string' },
      'routes-v6': { type: 'string' },
      only: { type: 'string' },
      'xdp-repeats': { type: 'string' },
      'converge-routes': { type: 'string' },
      'converge-singles': { type: 'string' },
      'converge-repeats': { type: 'string' },
      'converge-loaded': { type: 'string' },
      'dataplane-routes': { type: 'string' },
      'dataplane-repeats': { type: 'string' },
      'dataplane-window': { type: 'string' },
      'dataplane-layouts': { type: 'string' },
      'dataplane-cpus': { type: 'string' },
      'dataplane-trafgen': { type: 'boolean', default: false },
      'lookup-sizes': { type: 'string' },
      'lookup-v6': { type: 'string' },
      'lookup-destinations': { type: 'string' },
      'lookup-repeats': { type: 'string' },
      'lookup-window': { type: 'string' },
      'memory-routes': { type: 'string' },
      'memory-rate': { type: 'string' },
      'memory-seconds': { type: 'string' },
      'memory-repeats': { type: 'string' },
      'memory-v6': { type: 'string' },
      'compress-changes': { type: 'string' },
      'tc-runs': { type: 'string' },
      'tc-dataplane-routes': { type: 'string' },
      'tc-dataplane-repeats': { type: 'string' },
      'no-charts': { type: 'boolean', default: false },
    },
  });
}
const quick = values.quick;
const num = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : Number(v));
const list = (v: string): number[] => v.split(',').map(Number);
const routes = num(values.routes, quick ? 100_000 : 1_000_000);
const routesV6 = num(values['routes-v6'], quick ? 0 : 200_000);
// XDP map updates: 100k and 1M routes (quick: 100k), or exactly --routes.
const xdpSizes = values.routes ? [routes] : quick ? [100_000] : [100_000, 1_000_000];
// Convergence (the daemon in a namespace): burst / start-up table size
// (--converge-routes, else --routes, else 100k, quick too), single changes on
// a small table and on the burst's table (each costs a full re-plan: fewer on
// big tables), burst and start-up repeats (quick: 2).
const convergeBurst = num(values['converge-routes'], values.routes ? routes : 100_000);
const converge = {
  burst: convergeBurst,
  singles: num(values['converge-singles'], quick ? 300 : 1000),
  singlesLoaded: num(values['converge-loaded'], convergeBurst > 200_000 ? 20 : quick ? 50 : 100),
  repeats: num(values['converge-repeats'], quick ? 2 : 3),
};
// Data plane: the table scenario's size (--dataplane-routes, else --routes, else 1M; quick 100k),
// kernel/XDP pairs per scenario, seconds per window, layouts, generator and forwarder CPUs.
const [genCpu, fwdCpu] = list(values['dataplane-cpus'] ?? '0,1');
const dataplane = {
  tableRoutes: num(values['dataplane-routes'], routes),
  repeats: num(values['dataplane-repeats'], quick ? 3 : 5),
  windowSeconds: num(values['dataplane-window'], quick ? 1.5 : 4),
  warmupSeconds: quick ? 0.5 : 1,
  layouts: (values['dataplane-layouts'] ?? (quick ? 'split' : 'split,shared')).split(',') as Layout[],
  genCpu: genCpu ?? 0,
  fwdCpu: fwdCpu ?? 1,
  trafgen: values['dataplane-trafgen'],
};
// Lookup: the LPM trie, the flat array and bpf_fib_lookup against the kernel on Internet-like tables.
const lookup = {
  sizes4: list(values['lookup-sizes'] ?? (quick ? '1,100000' : '1,100000,1000000')),
  routes6: num(values['lookup-v6'], quick ? 0 : 230_000),
  destinations: num(values['lookup-destinations'], 100_000),
  repeats: num(values['lookup-repeats'], quick ? 2 : 3),
  windowSeconds: num(values['lookup-window'], quick ? 1.5 : 3),
  warmupSeconds: quick ? 0.5 : 1,
  genCpu: genCpu!, fwdCpu: fwdCpu!,
};
// Daemon memory / CPU: idle at table sizes up to --routes (quick: 100k), then route changes at a steady rate.
const memorySizes = values['memory-routes'] ? list(values['memory-routes'])
  : values.routes ? [0, Math.round(routes / 4), Math.round(routes / 2), routes]
    : quick ? [0, 50_000, 100_000] : [0, 100_000, 250_000, 500_000, 1_000_000];
const memory = {
  sizes: memorySizes,
  idleSeconds: quick ? 3 : 5,
  churnRate: num(values['memory-rate'], 1000),
  churnSeconds: num(values['memory-seconds'], 20),
  // At 1M routes one run and its drain take minutes (every batch re-plans the table): 2 runs in the full bench.
  churnRepeats: num(values['memory-repeats'], quick ? 1 : 2),
  drainTimeoutSeconds: 420,
  v6Routes: num(values['memory-v6'], 0),
};

const log = (s: string) => process.stderr.write(`${s}\n`);
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
for (const o of only ?? []) {
  if (!(BENCHES as readonly string[]).includes(o)) {
    log(`bench: --only ${o}: unknown (one or more of ${BENCHES.join(', ')}, comma-separated)`);
    process.exit(2);
  }
}
for (const [k, v] of Object.entries({ routes, routesV6, ...dataplane, ...memory, memorySizes })) {
  if (typeof v === 'number' && !(v >= 0)) {
    log(`bench: ${k}: not a number`);
    process.exit(2);
  }
}
if (dataplane.layouts.some((l) => l !== 'split' && l !== 'shared')) {
  log('bench: --dataplane-layouts: split and/or shared');
  process.exit(2);
}
const want = (name: (typeof BENCHES)[number]) => only === undefined || only.includes(name);

/** Facts about the machine and the checkout, read once. */
function machine(): Record<string, unknown> {
  const tryRun = (argv: string[]): string | null => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // no os-release
  }
  const cpuInfo = cpus();
  return {
    kernel: release(),
    cpu: cpuInfo[0]?.model ?? 'unknown',
    cores: cpuInfo.length,
    node: process.version,
    os,
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadavg: loadavg(),
    systemdDetectVirt: tryRun(['systemd-detect-virt']) ?? undefined,
    commit: tryRun(['git', 'rev-parse', '--short', 'HEAD']),
    dirty: (tryRun(['git', 'status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
  };
}

const tStart = Date.now();
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: machine(),
  args: process.argv.slice(2),
  quick,
};
const walls: Record<string, number> = {};
const failed: string[] = [];
/** Run one bench; a failure is recorded in its place ({ error }) and the others still run and are written. */
const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T | { error: string }> => {
  const t = Date.now();
  try {
    return await fn();
  } catch (err) {
    log(`bench: ${name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    failed.push(name);
    return { error: err instanceof Error ? err.message : String(err) };
  } finally {
    walls[name] = (Date.now() - t) / 1e3;
  }
};
if (want('ingest')) result.ingest = await timed('ingest', () => benchIngest(routes, routesV6, log));
if (want('plan')) {
  log(`plan: ${routes} synthetic routes`);
  result.plan = await timed('plan', () => {
    const r = benchPlan(routes);
    // Memory and single-change steps in a fresh child with --expose-gc (bench/plan-worker.ts).
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./plan-worker.js', import.meta.url)), String(routes)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const extra = JSON.parse(out) as Pick<PlanBenchResult, 'memory' | 'steps'>;
    const m = extra.memory!;
    log(`plan: mirror ${m.mirrorHeapMB.toFixed(0)} MB heap + ${m.mirrorExternalMB.toFixed(0)} MB columns; plan state ${m.planHeapMB.toFixed(0)} + ${m.planExternalMB.toFixed(0)} MB; `
      + `${extra.steps!.count} single-route steps p50 ${extra.steps!.p50.toFixed(2)} ms, p99 ${extra.steps!.p99.toFixed(2)} ms`);
    return { ...r, ...extra };
  });
}
if (want('xdp')) {
  result.xdp = await timed('xdp', () => benchXdp({ sizes: xdpSizes, repeats: num(values['xdp-repeats'], 3), log }));
}
if (want('converge')) result.converge = await timed('converge', () => benchConverge({ ...converge, log }));
if (want('dataplane')) {
  log(`dataplane: 1 route, 2-way ECMP, ${dataplane.tableRoutes} routes; ${dataplane.layouts.join(' + ')}; ${dataplane.repeats} kernel/XDP pairs of ${dataplane.windowSeconds} s`);
  result.dataplane = await timed('dataplane', () => benchDataplane({ ...dataplane, log }));
}
if (want('lookup')) {
  log(`lookup: IPv4 ${lookup.sizes4.join(', ')} routes${lookup.routes6 ? `, IPv6 ${lookup.routes6}` : ''}; ${lookup.destinations} destinations; ${lookup.repeats} ABBA cycles of ${lookup.windowSeconds} s`);
  result.lookup = await timed('lookup', () => benchLookup({ ...lookup, log }));
}
if (want('memory')) result.memory = await timed('memory', () => benchMemory({ ...memory, log }));
if (want('compress')) {
  // Pure (no root): the announced address space by origin AS, both families.
  const changes = num(values['compress-changes'], quick ? 500 : 2000);
  log(`compress: IPv4 and IPv6 announced space, next hops by origin AS over 2/4/8 upstreams; ${changes} single changes each`);
  result.compress = await timed('compress', () => benchCompress({ changes, v6: true, log }));
}
if (want('tc')) {
  const runs = values['tc-runs'] ?? (quick ? '10000x2' : '10000x2,10000x8,100000x2');
  log(`tc: programming ${runs} (routes x ECMP width) in the 6.1 VM, side by side with tc -batch`);
  result.tc = await timed('tc', () => inVm('tc.js', ['--runs', runs], { timeoutS: 3600, log }));
}
if (want('tc-dataplane')) {
  const routes = String(num(values['tc-dataplane-routes'], 10_000));
  const repeats = String(num(values['tc-dataplane-repeats'], quick ? 2 : 3));
  log(`tc-dataplane: kernel vs tc (software flower) vs XDP forwarding in the 6.1 VM; 1 route, 2-way ECMP, ${routes} routes; ${repeats} cycles`);
  result.tcDataplane = await timed('tc-dataplane', () => inVm('vm-dataplane.js', ['--routes', routes, '--repeats', repeats], { timeoutS: 3600, log }));
}
result.loadavgAtEnd = loadavg();
result.wallSeconds = { ...walls, total: (Date.now() - tStart) / 1e3 };

const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${String(result.date).slice(0, 19).replace(/:/g, '')}.json`;
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
log(`bench: wrote ${file}`);
if (!values['no-charts']) {
  try {
    for (const f of await renderCharts(result as unknown as BenchResult)) log(`bench: wrote ${f}`);
  } catch (err) {
    log(`bench: charts failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    failed.push('charts');
  }
}
log(`bench: ${((Date.now() - tStart) / 1e3).toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`);
process.stdout.write(`${file}\n`);
if (failed.length) process.exitCode = 1;
