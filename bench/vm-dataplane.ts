// The data-plane bench inside the Debian-kernel VM (the host kernel has no
// flower): kernel forwarding, tc software forwarding (`apply --backend tc`,
// not_in_hw on veth) and XDP, alternating within every repeat on the same
// topology (bench/dataplane.ts). TCG emulates every instruction, so the
// absolute Mpps mean nothing; the ratios between modes measured side by side
// are what this gives. Run by `npm run bench -- --only tc-dataplane`
// (bench/vm.ts boots the VM), or by hand:
//   npm run build && flock /work/ns.lock scripts/vm/run.sh --kernel 6.1 --timeout 3000 --out /work/vmb -- \
//     "$(command -v node)" dist/bench/vm-dataplane.js --out /vmout/tc-dataplane.json
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchDataplane, type Layout, type ScenarioName } from './dataplane.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    routes: { type: 'string', default: '10000' },
    repeats: { type: 'string', default: '3' },
    window: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    layouts: { type: 'string', default: 'split' },
    scenarios: { type: 'string', default: '1-route,ecmp-2,table' },
  },
});

const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const result = await benchDataplane({
  tableRoutes: Number(values.routes),
  repeats: Number(values.repeats),
  windowSeconds: Number(values.window),
  warmupSeconds: Number(values.warmup),
  layouts: values.layouts!.split(',') as Layout[],
  genCpu: 0,
  fwdCpu: 1,
  trafgen: false,
  modes: ['kernel', 'tc', 'xdp'],
  scenarios: values.scenarios!.split(',') as ScenarioName[],
  log,
});
const json = JSON.stringify(result, null, 2) + '\n';
if (values.out) writeFileSync(values.out, json);
else process.stdout.write(json);
for (const r of result.ratios) {
  log(`tc-dataplane: ${r.scenario} ${r.layout}: tc/kernel ×${r.tcOfMedians?.toFixed(2)}, xdp/kernel ×${r.ofMedians.toFixed(2)} (ratios of medians)`);
}
