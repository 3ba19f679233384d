// tc backend bench, run inside the test VM (the host kernel has no flower):
//   npm run build && flock /work/ns.lock scripts/vm/run.sh --timeout 1800 --out /tmp/tcb -- \
//     "$(command -v node)" dist/bench/tc.js [--runs 10000x2,10000x8,100000x2] [--out /vmout/tc-bench.json]
// A namespace `dut` with 8 veth ports and N IPv4 /24 routes over a 2-way or
// an 8-way ECMP group (each run: ROUTESxWIDTH). Per run, from a cold start
// (no clsact, no filter), side by side in the same VM:
//   agent    `fib-offload apply --backend tc`, timed whole (node start, kernel
//            dump, plan, join, programming) and its programming alone (the
//            tc backend's own report: block dump + pipelined requests + the
//            read-back dump that checks them); then again with an echo per
//            rule instead (FIB_OFFLOAD_TC_READBACK huge), for comparison;
//   tc       `tc -batch` of the agent's own `plan --tc-batch --backend tc`
//            output (qdiscs + the same rules; ECMP buckets as u32, which
//            iproute2 can parse), after `fib-offload flush` emptied the block.
// Both must leave the same number of rules. Ratios: agent programming rules/s
// over tc -batch rules/s, and tc -batch seconds over whole-apply seconds.
// Both run with `tc.compress: false`: the routes are adjacent /24s over one
// group, which compression would turn into a handful of rules, and this bench
// measures programming per rule (the compression bench measures the ratio).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, d: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : d; };
const OUT = opt('--out', '');
/** A directory for a V8 CPU profile of each apply (node --cpu-prof). */
const PROFILE = opt('--profile', '');
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const NS = 'fot-tcbench';

function run(argv: readonly string[], input?: string): string {
  const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (p.status !== 0) throw new Error(`${argv.join(' ')}: exit ${p.status}: ${p.stderr.slice(-2000)}`);
  return p.stdout;
}
const inNs = (...argv: string[]): string => run(['ip', 'netns', 'exec', NS, ...argv]);

function setup(routes: number, width: number): void {
  spawnSync('ip', ['netns', 'del', NS]);
  run(['ip', 'netns', 'add', NS]);
  const batch: string[] = ['link set dev lo up'];
  for (let i = 1; i <= 8; i++) {
    batch.push(`link add name eth${i} type veth peer name peer${i}`, `link set dev eth${i} up`, `link set dev peer${i} up`,
      `addr add 10.${i}.0.1/24 dev eth${i}`,
      `neigh replace 10.${i}.0.2 lladdr 02:00:00:00:0${i}:02 dev eth${i} nud permanent`);
  }
  run(['ip', '-n', NS, '-batch', '-'], batch.join('\n') + '\n');
  // Carrier first: gateway routes need it.
  for (let t = 0; t < 100; t++) {
    if (!inNs('ip', '-o', 'link', 'show').includes('NO-CARRIER')) break;
    execFileSync('sleep', ['0.1']);
  }
  const hops = Array.from({ length: width }, (_, i) => `nexthop via 10.${i + 1}.0.2 dev eth${i + 1}`).join(' ');
  const lines: string[] = [];
  for (let r = 0; r < routes; r++) lines.push(`route add ${20 + (r >> 16)}.${(r >> 8) & 255}.${r & 255}.0/24 ${hops}`);
  run(['ip', '-n', NS, '-batch', '-'], lines.join('\n') + '\n');
  inNs('sysctl', '-qw', 'net.ipv4.ip_forward=0');
}

const CONFIG = join(mkdtempSync(join(tmpdir(), 'fo-tcbench-')), 'config.yaml');
writeFileSync(CONFIG, 'tc: { compress: false }\n');
const PORTS = ['--config', CONFIG, '--backend', 'tc', '--ports', 'eth1,eth2,eth3,eth4,eth5,eth6,eth7,eth8'];

function countRules(): number {
  const p = spawnSync('ip', ['netns', 'exec', NS, 'tc', 'filter', 'show', 'block', '254'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (p.status !== 0 && /Cannot find block/.test(p.stderr)) return 0; // flushed: no port holds the block
  if (p.status !== 0) throw new Error(`tc filter show block 254: ${p.stderr}`);
  // flower rules show a handle; u32 ones (plan --tc-batch's ECMP buckets) a node id `fh 800::800` (not the `fh 800:` table line).
  return p.stdout.split('\n').filter((l) => /^filter .* (handle \S+|fh [0-9a-f]+:[0-9a-f]*:[0-9a-f]+) /.test(l)).length;
}

interface Result {
  width: number; routes: number; rules: number;
  /** Whole `apply` from a cold start (process start to exit). */
  applySeconds: number;
  /** The tc backend's programming (its report): block dump, joins, pipelined requests. */
  programSeconds: number; programRequests: number; programRulesPerSec: number;
  tcBatchSeconds: number; tcBatchRulesPerSec: number;
  /** The same with an echo per rule (FIB_OFFLOAD_TC_READBACK huge) instead of one read-back dump. */
  echoedProgramSeconds: number; echoedRulesPerSec: number; echoedApplySeconds: number; echoedRatio: number;
  /** Programming rules/s over tc -batch rules/s (target ≥ 2). */
  ratio: number;
  /** tc -batch seconds over whole-apply seconds (target ≥ 1: apply no slower). */
  coldRatio: number;
}

/** A cold `apply`: whole wall time, the backend's programming time and requests, the rules it left; then flushed. */
function coldApply(env: NodeJS.ProcessEnv): { applySeconds: number; programSeconds: number; requests: number; rules: number } {
  const t0 = performance.now();
  const prof = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : [];
  const apply = spawnSync('ip', ['netns', 'exec', NS, process.execPath, ...prof, CLI, 'apply', ...PORTS], { encoding: 'utf8', maxBuffer: 1 << 26, env });
  const applySeconds = (performance.now() - t0) / 1000;
  if (apply.status !== 0) throw new Error(`apply: ${apply.stdout}${apply.stderr}`);
  const m = /tc: (\d+) requests in ([\d.]+) ms/.exec(apply.stdout);
  if (!m) throw new Error(`apply printed no tc timing: ${apply.stdout}`);
  const rules = countRules();
  process.stdout.write(apply.stdout.split('\n').filter((l) => l.startsWith('tc: ')).map((l) => `  apply: ${l}\n`).join(''));
  run(['ip', 'netns', 'exec', NS, process.execPath, CLI, 'flush']);
  if (countRules() !== 0) throw new Error('flush left rules behind');
  return { applySeconds, programSeconds: Number(m[2]) / 1000, requests: Number(m[1]), rules };
}

function bench(routes: number, width: number): Result {
  setup(routes, width);
  const batch = inNs(process.execPath, CLI, 'plan', '--tc-batch', ...PORTS);
  // The agent as it runs (a large block: unechoed writes, one read-back), then with an echo per rule.
  const a = coldApply(process.env);
  const echoed = coldApply({ ...process.env, FIB_OFFLOAD_TC_READBACK: String(2 ** 31) });
  const { applySeconds, rules } = a;
  const t1 = performance.now();
  run(['ip', 'netns', 'exec', NS, 'tc', '-batch', '-'], batch);
  const tcBatchSeconds = (performance.now() - t1) / 1000;
  const batchRules = countRules();
  if (batchRules !== rules) throw new Error(`tc -batch installed ${batchRules} rules, the agent ${rules}`);
  spawnSync('ip', ['netns', 'del', NS]);
  const programSeconds = a.programSeconds;
  if (echoed.rules !== rules) throw new Error(`echoed apply left ${echoed.rules} rules, the other ${rules}`);
  const r: Result = {
    width, routes, rules, applySeconds, programSeconds, programRequests: a.requests, programRulesPerSec: Math.round(rules / programSeconds),
    echoedProgramSeconds: echoed.programSeconds, echoedRulesPerSec: Math.round(rules / echoed.programSeconds), echoedApplySeconds: echoed.applySeconds,
    tcBatchSeconds, tcBatchRulesPerSec: Math.round(rules / tcBatchSeconds), ratio: 0, echoedRatio: 0, coldRatio: Number((tcBatchSeconds / applySeconds).toFixed(2)),
  };
  r.ratio = Number((r.programRulesPerSec / r.tcBatchRulesPerSec).toFixed(2));
  r.echoedRatio = Number((r.echoedRulesPerSec / r.tcBatchRulesPerSec).toFixed(2));
  return r;
}

const runs = opt('--runs', '10000x2,10000x8,100000x2').split(',').map((x) => x.split('x').map(Number) as [number, number]);
const results: Result[] = [];
for (const [routes, width] of runs) {
  const r = bench(routes, width);
  results.push(r);
  console.log(`tc bench: ${r.routes} routes, ${r.width}-way ECMP: ${r.rules} rules; agent programming ${r.programSeconds.toFixed(2)} s ` +
    `(${r.programRulesPerSec} rules/s), whole apply ${r.applySeconds.toFixed(2)} s; tc -batch ${r.tcBatchSeconds.toFixed(2)} s ` +
    `(${r.tcBatchRulesPerSec} rules/s); programming ×${r.ratio}, cold apply vs tc -batch ×${r.coldRatio}; ` +
    `echoed per rule: ${r.echoedRulesPerSec} rules/s (×${r.echoedRatio}), whole apply ${r.echoedApplySeconds.toFixed(2)} s`);
}
if (OUT) writeFileSync(OUT, JSON.stringify({ kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), date: new Date().toISOString(), results }, null, 2) + '\n');
