// `fib-offload apply` and `fib-offload flush`: one-shot reconcile of the
// installed offload to the current plan (tc blocks first, then XDP, which
// also takes the ports whose tc block fell back to it), and removal of everything installed.
import { Pipeline } from '../daemon/pipeline.js';
import { Mirror } from '../mirror/mirror.js';
import type { Plan } from '../plan/index.js';
import { backendForLink, resolveTables } from '../plan/options.js';
import { Reconciler } from '../reconcile/reconciler.js';
import { EntryStatus } from '../reconcile/status.js';
import { TcAdapter, type TcReport } from '../reconcile/tc.js';
import type { Placement } from '../reconcile/types.js';
import { XdpAdapter } from '../reconcile/xdp.js';
import { realBackends } from '../reconcile/open.js';
import { TcBackend } from '../tc/backend.js';
import { XdpBackend, type ReconcileResult } from '../xdp/backend.js';
import { hostPath } from '../xdp/loader.js';
import type { ApplyOptions, FlushOptions } from './args.js';
import { configFor, snapshotFromKernel } from './inputs.js';
import { loadConfig } from '../config.js';

export async function runApply(opts: ApplyOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = await configFor(opts);
  const mirror = Mirror.fromSnapshot(await snapshotFromKernel());
  // A configured VRF that doesn't exist is an error here (the daemon waits for it instead).
  resolveTables(config, mirror);
  // The daemon's path: probe tc, place the ports, plan once, reconcile tc then XDP.
  const status = new EntryStatus();
  const reconciler = new Reconciler({
    choice: config.backend === 'tc' ? 'tc' : 'xdp', base: backendForLink(config), policy: config.tc.policy, fallback: config.tc.fallback, status,
    open: realBackends(() => config),
  });
  try {
    await reconciler.start();
    const r = await new Pipeline(config, reconciler).sync(mirror);
    const tc = reconciler.backend('tc');
    const xdp = reconciler.backend('xdp');
    if (tc instanceof TcAdapter && tc.last) out.write(tcApplyText(r.plan, tc.last, reconciler.placement.fallbacks));
    if (xdp instanceof XdpAdapter && xdp.lastReconcile) out.write(applyText(r.plan, xdp.xdp, xdp.lastReconcile));
    for (const f of status.list().filter((x) => x.backend !== 'tc')) out.write(`${f.backend}: FAILED ${f.subject}: ${f.message}\n`);
    return r.reports.some((x) => x.refused.length > 0) || status.size > 0 ? 1 : 0;
  } finally {
    reconciler.close();
  }
}

/** The tc side of apply: per block what changed, the hardware state, refusals and fallbacks. */
export function tcApplyText(plan: Plan, r: TcReport, fallbacks: Placement['fallbacks']): string {
  const lines: string[] = [];
  const byBlock = new Map<number, { to: string; reason: string; ports: string[] }>();
  for (const [dev, f] of fallbacks) {
    const b = byBlock.get(f.block) ?? { to: f.to, reason: f.reason, ports: [] };
    b.ports.push(dev);
    byBlock.set(f.block, b);
  }
  for (const d of r.joined) lines.push(`tc: ${d} joined its table's shared block (clsact ingress_block)`);
  for (const d of r.left) lines.push(`tc: ${d} left its block (clsact removed)`);
  for (const f of r.refused) lines.push(`tc: NOT on ${f.dev}: ${f.reason} (its traffic stays with the kernel)`);
  for (const [block, f] of byBlock) lines.push(`tc: block ${block} (${f.ports.join(', ')}): hardware refused (${f.reason}); fallback ${f.to}`);
  for (const b of r.blocks) {
    const changed = b.adds + b.replaces + b.deletes;
    lines.push(`tc: block ${b.block} (table ${b.table}, ${b.placement}): +${b.adds} ~${b.replaces} -${b.deletes} =${b.unchanged}; in_hw ${b.inHw}, not_in_hw ${b.notInHw}${changed === 0 ? ' (no changes)' : ''}`);
    for (const f of b.failures.slice(0, 10)) lines.push(`tc: FAILED ${f.op} ${f.key}: ${f.message}`);
    if (b.failures.length > 10) lines.push(`tc: ... and ${b.failures.length - 10} more failures`);
  }
  if (r.blocks.length === 0 && byBlock.size === 0) lines.push(`tc: no tc ports in the plan (${plan.ports.length} ports)`);
  if (r.ops > 0) lines.push(`tc: ${r.ops} requests in ${(r.seconds * 1000).toFixed(1)} ms (${Math.round(r.ops / Math.max(r.seconds, 1e-6))} rules/s)`);
  return lines.join('\n') + '\n';
}

/** What changed, one line per kind; "no changes" when the offload already matched. */
export function applyText(plan: Plan, backend: XdpBackend, r: ReconcileResult): string {
  const lines: string[] = [];
  const ports = plan.ports.filter((p) => p.backend === 'xdp');
  lines.push(`xdp: program ${backend.load.how} (id ${backend.progId}), pinned at ${hostPath(backend.loader.dir)}`);
  if (ports.length === 0) lines.push('xdp: no XDP ports in the plan (give --ports or config ports)');
  for (const a of r.attached) {
    lines.push(`xdp: attached to ${a.dev} (${a.mode})${a.fallbackReason ? ` — native refused: ${a.fallbackReason}` : ''}`);
  }
  for (const d of r.detached) lines.push(`xdp: detached from ${d}`);
  for (const f of r.refused) lines.push(`xdp: NOT attached to ${f.dev}: ${f.reason} (its traffic stays with the kernel)`);
  for (const f of r.flat) {
    const how = f.made ? 'made' : f.written > 0 ? 'repaired' : 'unchanged';
    lines.push(`xdp: table ${f.table} IPv4: flat DIR-24-8 array (${f.routes} routes), ${how}${f.written > 0 ? `, ${f.written} slots written` : ''}${f.published ? ', published' : ''}`);
  }
  for (const t of r.flatWithdrawn) lines.push(`xdp: table ${t} IPv4: back to the LPM trie (flat array withdrawn)`);
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
  const tc = await TcBackend.flush();
  for (const b of tc.blocks) out.write(`tc: flushed block ${b}\n`);
  if (tc.deleted + tc.qdiscs > 0) out.write(`tc: removed ${tc.deleted} filters and ${tc.qdiscs} clsact qdiscs\n`);
  const r = await XdpBackend.flush({ bpffs: config.xdp.bpffs });
  for (const d of r.detached) out.write(`xdp: detached from ${d}\n`);
  for (const d of r.unpinned) out.write(`xdp: detached from ${d} (a fib_offload program no pin named: its pins were lost)\n`);
  out.write(r.pinned ? `xdp: removed ${r.dir}\n` : `xdp: nothing pinned at ${r.dir}\n`);
  return 0;
}
