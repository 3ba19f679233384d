// `npm run bench [-- --quick] [-- --routes N] [-- --only ingest|plan|xdp|converge]`:
// runs the benchmarks that exist so far and writes bench/results/<date>.json.
// No assertions: figures only. Needs root (the ingest, xdp and converge
// benches make namespaces; xdp and converge also pin under /sys/fs/bpf).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { benchIngest } from './ingest.js';
import { benchPlan } from './plan.js';
import { benchXdp } from './xdp.js';
import { benchConverge } from './converge.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    routes: { type: 'string' },
    'routes-v6': { type: 'string' },
    only: { type: 'string' },
    'xdp-repeats': { type: 'string' },
    'converge-routes': { type: 'string' },
    'converge-singles': { type: 'string' },
    'converge-repeats': { type: 'string' },
    'converge-loaded': { type: 'string' },
  },
});
const routes = values.routes ? Number(values.routes) : values.quick ? 100_000 : 1_000_000;
const routesV6 = values['routes-v6'] ? Number(values['routes-v6']) : values.quick ? 0 : 200_000;
// XDP map updates: 100k and 1M routes (quick: 100k), or exactly --routes.
const xdpSizes = values.routes ? [routes] : values.quick ? [100_000] : [100_000, 1_000_000];
// Convergence (the daemon in a namespace): burst / start-up table size
// (--converge-routes, else --routes, else 100k, quick too), single changes on
// a small table and on the burst's table (each costs a full re-plan: fewer on
// big tables), burst and start-up repeats.
const convergeBurst = values['converge-routes'] ? Number(values['converge-routes']) : values.routes ? routes : 100_000;
const converge = {
  burst: convergeBurst,
  singles: values['converge-singles'] ? Number(values['converge-singles']) : values.quick ? 300 : 1000,
  singlesLoaded: values['converge-loaded'] ? Number(values['converge-loaded']) : convergeBurst > 200_000 ? 20 : values.quick ? 50 : 100,
  repeats: values['converge-repeats'] ? Number(values['converge-repeats']) : 3,
};
const log = (s: string) => process.stderr.write(`${s}\n`);
const want = (name: string) => values.only === undefined || values.only === name;

const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { kernel: release(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
};
if (want('ingest')) result.ingest = await benchIngest(routes, routesV6, log);
if (want('plan')) {
  log(`plan: ${routes} synthetic routes`);
  result.plan = benchPlan(routes);
}
if (want('xdp')) {
  result.xdp = await benchXdp({ sizes: xdpSizes, repeats: values['xdp-repeats'] ? Number(values['xdp-repeats']) : 3, log });
}
if (want('converge')) result.converge = await benchConverge({ ...converge, log });
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${String(result.date).slice(0, 19).replace(/:/g, '')}.json`;
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
log(`bench: wrote ${file}`);
