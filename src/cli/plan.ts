// `fib-offload plan [--json|--tc-batch]`: print the forwarding plan for the current kernel state.
import { familiesPrefix, firewallLines } from '../plan/firewall.js';
import { buildPlan, planJson, tcBatch, type Plan } from '../plan/index.js';
import { compressPlan, type CompressedPlan } from '../plan/compress.js';
import type { PlanOptions as PlanCommandOptions } from './args.js';
import { configFor, mirrorFromKernel, planOptionsFor } from './inputs.js';

export async function runPlan(opts: PlanCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = await configFor(opts);
  const mirror = await mirrorFromKernel();
  const plan = buildPlan(mirror, planOptionsFor(config, mirror));
  // Compression applies to tc ports only: without any there is nothing to show.
  const compressed = opts.output !== 'tc-batch' && plan.ports.some((p) => p.backend === 'tc') ? compressPlan(plan) : undefined;
  if (opts.output === 'json') out.write(JSON.stringify(planJson(plan, config.tc.compress && compressed ? { tcCompressed: compressed } : {}), null, 2) + '\n');
  // The rules tc installs: compressed unless tc.compress is off.
  else if (opts.output === 'tc-batch') out.write(tcBatch(config.tc.compress ? { ...plan, entries: compressPlan(plan).entries } : plan));
  else out.write(planText(plan, compressed && { ...compressed, enabled: config.tc.compress }));
  return 0;
}

/** The one line on tc compression: rules one per route, compressed, ratio. */
export function compressionLine(c: CompressedPlan & { readonly enabled: boolean }): string {
  const ratio = c.ratio.toFixed(2);
  return c.enabled
    ? `tc compression: ${c.sourceEntries} entries → ${c.entries.length} prefix rules (ratio ${ratio}) in table${c.tables.length === 1 ? '' : 's'} ${c.tables.join(', ')}`
    : `tc compression: off (tc.compress: false): ${c.sourceEntries} prefix rules, one per route; compressed would be ${c.entries.length} (ratio ${ratio})`;
}

/** Human summary: ports, groups with members, entries, tc compression, skipped routes with reasons. */
export function planText(plan: Plan, compressed?: CompressedPlan & { readonly enabled: boolean }): string {
  const lines: string[] = [];
  const ports = plan.ports.filter((p) => p.backend !== 'none');
  lines.push(`ports: ${ports.length ? ports.map((p) => `${p.dev}(${p.backend}${p.policy ? `, ${familiesPrefix(p.policy.families)}ingress to kernel` : ''}${p.rpFilter ? `, rp_filter ${p.rpFilter}` : ''}${p.vlan ? `, vlan ${p.vlan.vid} on ${p.vlan.parentDev}` : ''})`).join(' ') : '(none selected: give --ports or config ports)'}`);
  const unsupported = plan.ports.filter((p) => p.unsupported);
  if (unsupported.length > 0) lines.push(`not offloaded (selected, left to the kernel): ${unsupported.map((p) => `${p.dev}(${p.unsupported})`).join(' ')}`);
  const policy = plan.policy ?? [];
  if (policy.length > 0) {
    lines.push(`policy rules: ${policy.length} handed to the kernel`);
    for (const x of policy) {
      const what = x.scope === 'port' ? `port ${x.dev}: all traffic arriving` : `table ${x.table} ${x.dst} (rule matched on ${x.dev})`;
      lines.push(`  ${what}: ${x.reason}${x.rule ? ` [${x.rule}]` : ''} (IPv${x.family})`);
    }
  }
  if (plan.firewall) lines.push(...firewallLines(plan.firewall));
  lines.push(`groups: ${plan.groups.length}`);
  for (const g of plan.groups) {
    // tc can't match a packet's length: from tc ports all of the group's traffic goes to the kernel.
    const mtu = g.mtu === undefined ? '' : `, route mtu ${g.mtu} (xdp: larger packets to the kernel; tc: all to the kernel)`;
    lines.push(`  group ${g.id}: ${g.members.map((m) => `${m.dev} ${m.dmac} w${m.weight}`).join(', ') || '(no members)'}${mtu}`);
  }
  const fwd = plan.entries.filter((e) => e.action === 'forward').length;
  lines.push(`entries: ${plan.entries.length} (${fwd} forward, ${plan.entries.length - fwd} punt); ttl<=1 punted to the kernel`);
  for (const e of plan.entries) {
    lines.push(`  table ${e.table} ${e.dst} ${e.action}${e.group !== undefined ? ` group ${e.group}` : ''}${e.reason ? ` (${e.reason})` : ''}`);
  }
  if (compressed) lines.push(compressionLine(compressed));
  lines.push(`skipped: ${plan.skipped.length}`);
  for (const s of plan.skipped) lines.push(`  table ${s.table} ${s.dst} ${s.reason}`);
  return lines.join('\n') + '\n';
}
