// `fib-offload apply` and `fib-offload flush`: one-shot reconcile of the
// installed offload to the current plan, and removal of everything installed.
import { buildPlan, type Plan } from '../plan/index.js';
import { XdpBackend, type ReconcileResult } from '../xdp/backend.js';
import type { ApplyOptions, FlushOptions } from './args.js';
import { configFor, mirrorFromKernel, planOptionsFor } from './inputs.js';
import { loadConfig } from '../config.js';

export async function runApply(opts: ApplyOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = await configFor(opts);
  const mirror = await mirrorFromKernel();
  const plan = buildPlan(mirror, planOptionsFor(config, mirror));
  const tcPorts = plan.ports.filter((p) => p.backend === 'tc');
  if (opts.backend === 'tc' || (opts.backend === undefined && tcPorts.length > 0)) {
    const which = opts.backend === 'tc' ? '--backend tc' : `ports ${tcPorts.map((p) => p.dev).join(', ')} have backend tc`;
    process.stderr.write(
      `fib-offload apply: ${which}, and the tc flower backend is not built in this version (issue 4); ` +
      'use --backend xdp, or port_backends / backend: xdp in the config\n',
    );
    return 1;
  }
  const backend = await XdpBackend.open({ bpffs: config.xdp.bpffs, mode: config.xdp.mode, hash: config.ecmp.hash });
  try {
    const result = await backend.reconcile(plan);
    out.write(applyText(plan, backend, result));
    return result.refused.length > 0 ? 1 : 0;
  } finally {
    backend.close();
  }
}

/** What changed, one line per kind; "no changes" when the offload already matched. */
export function applyText(plan: Plan, backend: XdpBackend, r: ReconcileResult): string {
  const lines: string[] = [];
  const ports = plan.ports.filter((p) => p.backend === 'xdp');
  lines.push(`xdp: program ${backend.load.how} (id ${backend.progId}), pinned at ${backend.loader.dir}`);
  if (ports.length === 0) lines.push('xdp: no XDP ports in the plan (give --ports or config ports)');
  for (const a of r.attached) {
    lines.push(`xdp: attached to ${a.dev} (${a.mode})${a.fallbackReason ? ` — native refused: ${a.fallbackReason}` : ''}`);
  }
  for (const d of r.detached) lines.push(`xdp: detached from ${d}`);
  for (const f of r.refused) lines.push(`xdp: NOT attached to ${f.dev}: ${f.reason} (its traffic stays with the kernel)`);
  const changed = Object.entries(r.counts).filter(([, c]) => c.adds + c.updates + c.deletes > 0);
  for (const [map, c] of changed) lines.push(`xdp: ${map}: +${c.adds} ~${c.updates} -${c.deletes}`);
  if (r.staleCounters > 0) lines.push(`xdp: removed ${r.staleCounters} counters of groups or members that are gone`);
  if (r.ops > 0) {
    const rate = r.seconds > 0 ? Math.round(r.ops / r.seconds) : r.ops;
    lines.push(`xdp: ${r.ops} map updates in ${(r.seconds * 1000).toFixed(1)} ms (${rate} updates/s)`);
  }
  if (r.ops === 0 && r.attached.length === 0 && r.detached.length === 0) lines.push('xdp: no changes');
  return lines.join('\n') + '\n';
}

export async function runFlush(opts: FlushOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = await loadConfig(opts.config);
  const r = await XdpBackend.flush({ bpffs: config.xdp.bpffs });
  if (!r.pinned) out.write(`xdp: nothing pinned at ${r.dir}\n`);
  else {
    for (const d of r.detached) out.write(`xdp: detached from ${d}\n`);
    out.write(`xdp: removed ${r.dir}\n`);
  }
  return 0;
}
