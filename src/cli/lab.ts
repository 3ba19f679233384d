// `fib-offload lab up|down|traffic|status`: the namespace lab (src/lab).
import { labDown } from '../lab/down.js';
import { labStatus, labStatusText } from '../lab/status.js';
import { labTraffic, trafficText } from '../lab/traffic.js';
import { labUp } from '../lab/up.js';
import type { LabOptions } from './args.js';

export async function runLab(o: LabOptions): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('fib-offload lab: needs root (network namespaces, FRR, BPF)\n');
    return 1;
  }
  const say = (line: string): void => { process.stdout.write(line + '\n'); };
  switch (o.action) {
    case 'up':
      await labUp({ name: o.name, nexthopObjects: o.frrNexthopObjects ?? true, kernelForwarding: o.kernelForwarding, frr: o.frr, say });
      say(`next: fib-offload lab traffic${nameFlag(o)} | lab status${nameFlag(o)} | lab down${nameFlag(o)}`);
      return 0;
    case 'down':
      await labDown({ name: o.name, say });
      return 0;
    case 'traffic': {
      const r = await labTraffic({ name: o.name, kernelForwarding: o.kernelForwarding });
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : trafficText(r));
      return 0;
    }
    case 'status': {
      const s = await labStatus(o.name);
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : labStatusText(s));
      return 0;
    }
  }
}

const nameFlag = (o: LabOptions): string => (o.name === 'fol' ? '' : ` --name ${o.name}`);
