// tc backend bench, run inside the test VM (the host kernel has no flower):
//   npm run build && scripts/vm/run.sh --out /tmp/tcb -- node dist/bench/tc.js [--routes N] [--out /vmout/tc-bench.json]
// A namespace `dut` with 8 veth ports and N IPv4 /24 routes over a 2-way and
// an 8-way ECMP group. Measures (1) rules/s of `fib-offload apply --backend tc`
// and (2) rules/s of `tc -batch` installing the same flower rules
// (chain 0 prefixes + group chains, as iproute2 command lines), in the same
// VM, and reports the rule count for each ECMP width.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, d: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : d; };
const ROUTES = Number(opt('--routes', '10000'));
const OUT = opt('--out', '');
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const NS = 'fot-tcbench';

function run(argv: readonly string[], input?: string): string {
  const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (p.status !== 0) throw new Error(`${argv.join(' ')}: exit ${p.status}: ${p.stderr.slice(-2000)}`);
  return p.stdout;
}
const inNs = (...argv: string[]): string => run(['ip', 'netns', 'exec', NS, ...argv]);

function setup(width: number): void {
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
  const routes: string[] = [];
  for (let r = 0; r < ROUTES; r++) routes.push(`route add ${20 + (r >> 16)}.${(r >> 8) & 255}.${r & 255}.0/24 ${hops}`);
  run(['ip', '-n', NS, '-batch', '-'], routes.join('\n') + '\n');
  inNs('sysctl', '-qw', 'net.ipv4.ip_forward=0');
}

const PORTS = ['--backend', 'tc', '--ports', 'eth1,eth2,eth3,eth4,eth5,eth6,eth7,eth8'];

function countRules(): number {
  const out = inNs('tc', 'filter', 'show', 'block', '254');
  return out.split('\n').filter((l) => /^filter .* handle /.test(l)).length;
}

/** The same rules as tc command lines: what an operator would feed `tc -batch`. */
function batchFromInstalled(): string[] {
  const j = JSON.parse(inNs('tc', '-j', 'filter', 'show', 'block', '254')) as Array<{
    protocol: string; pref: number; chain: number;
    options?: { keys?: { dst_ip?: string; src_ip?: string; ip_ttl?: string }; actions?: Array<Record<string, unknown>> };
  }>;
  const lines: string[] = [];
  for (const f of j) {
    if (!f.options) continue;
    const k = f.options.keys ?? {};
    const match = [k.ip_ttl ? `ip_ttl ${k.ip_ttl}` : '', k.dst_ip ? `dst_ip ${k.dst_ip}` : '', k.src_ip ? `src_ip ${k.src_ip}` : ''].filter(Boolean).join(' ');
    const acts = (f.options.actions ?? []).map((a) => {
      if (a.kind === 'gact') {
        const m = /goto chain (\d+)|"chain":(\d+)/.exec(JSON.stringify(a));
        return m ? `action goto chain ${m[1] ?? m[2]}` : 'action pass';
      }
      if (a.kind === 'mirred') return `action mirred egress redirect dev ${String(a.to_dev)}`;
      if (a.kind === 'csum') return 'action csum ip4h pipe';
      // pedit: the agent's rewrite (MACs of the member, TTL - 1).
      return 'action pedit ex munge eth dst set 02:00:00:00:01:02 munge eth src set 02:00:00:00:00:01 munge ip ttl add 0xff pipe';
    });
    lines.push(`filter add block 254 protocol ${f.protocol} chain ${f.chain} prio ${f.pref} flower ${match} ${acts.join(' ')}`.replace(/\s+/g, ' '));
  }
  return lines;
}

interface Result { width: number; routes: number; rules: number; agentSeconds: number; agentRulesPerSec: number; tcBatchSeconds: number; tcBatchRulesPerSec: number; ratio: number }

function bench(width: number): Result {
  setup(width);
  const t0 = performance.now();
  const apply = spawnSync('ip', ['netns', 'exec', NS, process.execPath, CLI, 'apply', ...PORTS], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const agentSeconds = (performance.now() - t0) / 1000;
  if (apply.status !== 0) throw new Error(`apply: ${apply.stdout}${apply.stderr}`);
  const rules = countRules();
  const lines = batchFromInstalled();
  run(['ip', 'netns', 'exec', NS, process.execPath, CLI, 'flush']);
  // Same block, same ports, empty again: clsact back, then tc -batch.
  const qd = Array.from({ length: 8 }, (_, i) => `qdisc add dev eth${i + 1} ingress_block 254 clsact`);
  // Bucket masks are low address bits, which iproute2's flower parser can't read back (prefix lengths
  // only): group-chain rules go in without their bucket keys, each at its own prio (same actions, same count).
  const group = lines.filter((l) => !/ chain 0 /.test(l))
    .map((l, i) => l.replace(/ (dst_ip|src_ip) \S+/g, '').replace(/ prio \d+ /, ` prio ${1000 + i} `));
  const chain0 = lines.filter((l) => / chain 0 /.test(l));
  const t1 = performance.now();
  run(['ip', 'netns', 'exec', NS, 'tc', '-batch', '-'], [...qd, ...group, ...chain0].join('\n') + '\n');
  const tcBatchSeconds = (performance.now() - t1) / 1000;
  const batchRules = countRules();
  if (batchRules !== rules) throw new Error(`tc -batch installed ${batchRules} rules, the agent ${rules}`);
  spawnSync('ip', ['netns', 'del', NS]);
  const r = {
    width, routes: ROUTES, rules, agentSeconds, agentRulesPerSec: Math.round(rules / agentSeconds),
    tcBatchSeconds, tcBatchRulesPerSec: Math.round(rules / tcBatchSeconds), ratio: 0,
  };
  r.ratio = Number((r.agentRulesPerSec / r.tcBatchRulesPerSec).toFixed(2));
  return r;
}

const results = [bench(2), bench(8)];
for (const r of results) {
  console.log(`tc bench: ${r.routes} routes, ${r.width}-way ECMP: ${r.rules} rules; agent apply ${r.agentSeconds.toFixed(1)} s ` +
    `(${r.agentRulesPerSec} rules/s, incl. node start + kernel dump), tc -batch ${r.tcBatchSeconds.toFixed(1)} s (${r.tcBatchRulesPerSec} rules/s); ratio ${r.ratio}`);
}
if (OUT) writeFileSync(OUT, JSON.stringify({ kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), results }, null, 2) + '\n');
