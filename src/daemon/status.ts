// /status: what the daemon is doing, as JSON, and as text for `fib-offload status`.
import type { Family } from '../model/ip.js';
import type { Daemon } from './daemon.js';
import type { FailedEntry } from '../reconcile/status.js';
import { disagreementText, type Disagreement } from './audit.js';
import { hostPath } from '../xdp/loader.js';
import type { PolicyPunt } from '../plan/rules.js';
import { familiesPrefix, firewallLines, type FirewallVerdict } from '../plan/firewall.js';
import { planCounts } from '../plan/plan-rows.js';
import type { FpmStatus } from '../fpm/server.js';

/** Failed entries shown in /status (all of them are counted in `failedCount`). */
const FAILED_SHOWN = 100;

export interface StatusJson {
  readonly ready: boolean;
  /**
   * starting (first sync not installed), ready, or degraded: ready, but
   * something failed to install and is being retried (see `failed`).
   * `/healthz` stays the readiness check; `fib_offload_degraded` is the gauge.
   */
  readonly health: 'starting' | 'ready' | 'degraded';
  /** Entries, groups or batches that failed to install, oldest first (at most 100), with errno, extack and retries. */
  readonly failed: readonly FailedEntry[];
  readonly failedCount: number;
  readonly startedAt: string;
  readonly backend: string;
  readonly ports: ReadonlyArray<{
    ifindex: number; dev: string; backend: string; table: number; attached: string | null; refused?: string;
    /** The tc backend refused this port (hardware): where it went (`backend` is what it runs now). */
    fallback?: { from: 'tc'; to: string; code: string; reason: string };
    /** A policy rule leaves everything arriving on this port to the kernel: why (see `policy`; 'firewall': see `firewall`). */
    policy?: string;
    /** Set with `policy` when only these families' arriving traffic goes to the kernel (a netfilter hook that sees one family). */
    policyFamilies?: readonly Family[];
    /** The port's effective IPv4 rp_filter when on: XDP checks sources; tc leaves the port to the kernel ('rp-filter'). */
    rpFilter?: 'strict' | 'loose';
    /** An 802.1Q sub-interface served through its parent (XDP attached there). */
    vlan?: { parent: number; parentDev: string; vid: number };
    /** A selected link left to the kernel (backend 'none'), with why (PlanPort.unsupported). */
    unsupported?: string;
  }>;
  /** Traffic the policy rules (ip rule) leave to the kernel: whole ports, then destination prefixes, with the rule. */
  readonly policy: readonly PolicyPunt[];
  /**
   * Netfilter hooks that can act on forwarded traffic (config `firewall`:
   * respect hands the ports they concern to the kernel, bypass doesn't).
   * null before the first plan.
   */
  readonly firewall: FirewallVerdict | null;
  readonly counts: {
    links: number; neighbors: number; routes: number; entries: number; forward: number; punt: number;
    groups: number; skipped: number; unresolved: number;
    /** Groups with a route MTU (additive): XDP checks their packets' length, tc ports leave their routes to the kernel. */
    routeMtu: number;
  } | null;
  readonly events: { applied: number; batches: number; queueDepth: number };
  readonly lastResync: Daemon['lastResync'];
  readonly lastError: Daemon['lastError'];
  /** Configured VRF names with no such device now: their routes are not offloaded until it exists. */
  readonly missingTables?: readonly string[];
  readonly xdp: { progId: number; pinDir: string; load: string; verdicts: Record<string, number> } | null;
  /**
   * The XDP program's live check against the kernel (xdp.audit_rate): 1 in
   * `rate` forwarded packets per CPU (0 = off), sampled packets per result,
   * and the latest disagreements, newest first. null without the XDP backend.
   */
  readonly audit?: { rate: number; packets: Record<string, number>; lastDisagreements: readonly Disagreement[] } | null;
  /** tc blocks as last reconciled: placement (skip_sw / none / skip_hw) and rule counts. */
  /**
   * tc blocks as last read back (start, periodic resync, retries; `readBackAt`):
   * placement (skip_sw / none / skip_hw) and rule counts. Batches in between
   * send only their changes and don't read the blocks back.
   */
  readonly tc: {
    readBackAt: string | null;
    /** tc.compress: the tc tables' plan entries, the prefix rules installing them, and rules / entries. null when off. */
    compression: { entries: number; prefixRules: number; ratio: number } | null;
    blocks: Array<{ block: number; table: number; placement: string; rules: number; inHw: number; notInHw: number; failures: number }>;
  } | null;
  /** The FPM server for zebra (config `fpm`): connection, routes zebra sent, answers per verdict, replies sent, drift. null when off. */
  readonly fpm: FpmStatus | null;
}

export function statusOf(d: Daemon): StatusJson {
  const plan = d.currentPlan;
  const mirror = d.currentMirror;
  const backend = d.currentBackend;
  const rec = d.lastReconcile;
  const attached = new Map<string, string>();
  for (const a of rec?.attached ?? []) attached.set(a.dev, a.mode);
  const tcRec = d.lastTcReconcile;
  const refused = new Map([...(rec?.refused ?? []), ...(tcRec?.refused ?? [])].map((r) => [r.dev, r.reason] as const));
  const tcPlacement = new Map((tcRec?.blocks ?? []).map((b) => [b.table, b.placement] as const));
  const fallen = d.tcFallbacks;
  let verdicts: Record<string, number> = {};
  if (backend) {
    try {
      verdicts = Object.fromEntries(Object.entries(backend.verdicts()).map(([k, v]) => [k, Number(v.packets)]));
    } catch {
      verdicts = {};
    }
  }
  const pc = plan ? planCounts(plan) : null;
  const failed = d.failed;
  return {
    ready: d.ready,
    health: !d.ready ? 'starting' : failed.length > 0 ? 'degraded' : 'ready',
    failed: failed.slice(0, FAILED_SHOWN),
    failedCount: failed.length,
    startedAt: d.startedAt.toISOString(),
    backend: d.backendChoice,
    ports: (plan?.ports ?? []).filter((p) => p.backend !== 'none' || fallen.has(p.dev) || p.unsupported).map((p) => {
      const f = fallen.get(p.dev);
      const tcAttached = p.backend === 'tc' ? `tc ${tcPlacement.get(p.table) ?? 'pending'}` : null;
      return {
        ifindex: p.ifindex,
        dev: p.dev,
        backend: p.backend,
        table: p.table,
        attached: refused.has(p.dev) || p.backend === 'none' ? null : tcAttached ?? attached.get(p.vlan?.parentDev ?? p.dev) ?? (backend ? 'yes' : null),
        ...(refused.has(p.dev) ? { refused: refused.get(p.dev)! } : {}),
        ...(f ? { fallback: { from: 'tc' as const, to: f.to, code: f.code, reason: f.reason } } : {}),
        ...(p.policy ? { policy: p.policy.reason } : {}),
        ...(p.policy?.families ? { policyFamilies: p.policy.families } : {}),
        ...(p.rpFilter ? { rpFilter: p.rpFilter } : {}),
        ...(p.vlan ? { vlan: { ...p.vlan } } : {}),
        ...(p.unsupported ? { unsupported: p.unsupported } : {}),
      };
    }),
    policy: plan?.policy ?? [],
    firewall: plan ? plan.firewall ?? { mode: d.firewallMode, hooks: [] } : null,
    counts: plan && mirror && pc ? {
      links: mirror.counts.links,
      neighbors: mirror.counts.neighbors,
      routes: mirror.counts.routes,
      entries: pc.entries,
      forward: pc.forward,
      punt: pc.entries - pc.forward,
      groups: plan.groups.length,
      skipped: pc.skipped,
      unresolved: pc.unresolved,
      routeMtu: plan.groups.filter((g) => g.mtu !== undefined).length,
    } : null,
    events: { applied: d.eventsApplied, batches: d.batches, queueDepth: d.queueDepth },
    lastResync: d.lastResync,
    lastError: d.lastError,
    missingTables: d.missingTables,
    xdp: backend ? { progId: backend.progId, pinDir: hostPath(backend.loader.dir), load: backend.load.how, verdicts } : null,
    audit: d.auditStatus(),
    tc: tcRec ? {
      readBackAt: d.tcReadBackAt,
      compression: tcRec.compressed ? {
        entries: tcRec.compressed.entries, prefixRules: tcRec.compressed.rules,
        ratio: tcRec.compressed.entries ? Math.round((tcRec.compressed.rules / tcRec.compressed.entries) * 1e4) / 1e4 : 1,
      } : null,
      blocks: tcRec.blocks.map((b) => ({
        block: b.block, table: b.table, placement: b.placement, rules: b.adds + b.replaces + b.unchanged,
        inHw: b.inHw, notInHw: b.notInHw, failures: b.failures.length,
      })),
    } : null,
    fpm: d.fpm?.status() ?? null,
  };
}

export function statusText(s: StatusJson): string {
  const lines: string[] = [];
  lines.push(`fib-offload: ${s.health} since ${s.startedAt}, backend ${s.backend}`);
  if (s.failedCount > 0) {
    lines.push(`failed: ${s.failedCount} (retried with backoff)`);
    for (const f of s.failed.slice(0, 10)) {
      lines.push(`  ${f.backend} ${f.subject}: ${f.errno}${f.extack ? ` (${f.extack})` : ''} in ${f.op}; since ${f.since}, ${f.retries} retries, ${f.class}`);
    }
    if (s.failedCount > 10) lines.push(`  ... ${s.failedCount - 10} more in /status`);
  }
  if (s.xdp) lines.push(`xdp: program id ${s.xdp.progId} (${s.xdp.load}), pinned at ${s.xdp.pinDir}`);
  lines.push(`ports: ${s.ports.length ? s.ports.map((p) => `${p.dev}(${p.backend}${p.fallback ? `, tc fell back to ${p.fallback.to}: ${p.fallback.code}` : ''}${p.refused ? `, refused: ${p.refused}` : ''}${p.policy ? `, ${familiesPrefix(p.policyFamilies)}ingress to kernel: ${p.policy}` : ''}${p.rpFilter ? `, rp_filter ${p.rpFilter}` : ''}${p.vlan ? `, vlan ${p.vlan.vid} on ${p.vlan.parentDev}` : ''}${p.unsupported ? `, not offloaded: ${p.unsupported}` : ''})`).join(' ') : '(none)'}`);
  for (const x of s.policy) {
    lines.push(`policy: ${x.scope === 'port' ? `port ${x.dev}` : `table ${x.table} ${x.dst} (from ${x.dev})`} to the kernel: ${x.reason}${x.rule ? ` [${x.rule}]` : ''}`);
  }
  if (s.firewall) lines.push(...firewallLines(s.firewall));
  if (s.tc?.readBackAt) lines.push(`tc: blocks as read back at ${s.tc.readBackAt}`);
  if (s.tc?.compression) lines.push(`tc: compression: ${s.tc.compression.entries} entries → ${s.tc.compression.prefixRules} prefix rules (ratio ${s.tc.compression.ratio.toFixed(2)})`);
  for (const b of s.tc?.blocks ?? []) lines.push(`tc: block ${b.block} (table ${b.table}, ${b.placement}): ${b.rules} rules, in_hw ${b.inHw}, not_in_hw ${b.notInHw}${b.failures ? `, ${b.failures} failed` : ''}`);
  if (s.counts) {
    const c = s.counts;
    lines.push(`mirror: ${c.links} links, ${c.neighbors} neighbours, ${c.routes} routes`);
    lines.push(`plan: ${c.entries} entries (${c.forward} forward, ${c.punt} punt), ${c.groups} groups, ${c.skipped} skipped (${c.unresolved} unresolved)`
      + (c.routeMtu ? `, ${c.routeMtu} with a route mtu (tc ports: to the kernel)` : ''));
  }
  lines.push(`events: ${s.events.applied} applied in ${s.events.batches} batches, ${s.events.queueDepth} queued`);
  if (s.lastResync) {
    const r = s.lastResync;
    lines.push(`last resync: ${r.at} (${r.reason}, ${r.seconds.toFixed(3)} s, ${r.repairs} repairs${r.mirrorChanged ? ', mirror had drifted' : ''})`);
  }
  if (s.xdp && Object.keys(s.xdp.verdicts).length) {
    const v = Object.entries(s.xdp.verdicts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
    lines.push(`xdp packets: ${v.length ? v.join(', ') : 'none yet'}`);
  }
  if (s.audit) {
    const a = s.audit;
    const counts = Object.entries(a.packets).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
    lines.push(`audit: ${a.rate === 0 ? 'off' : `1 in ${a.rate} forwarded packets per CPU checked against the kernel`}; ${counts.length ? counts.join(', ') : 'nothing sampled yet'}`);
    for (const dis of a.lastDisagreements.slice(0, 5)) lines.push(`  ${disagreementText(dis)}`);
    if (a.lastDisagreements.length > 5) lines.push(`  ... ${a.lastDisagreements.length - 5} more in /status`);
  }
  if (s.fpm) {
    const f = s.fpm;
    const v = f.verdicts;
    lines.push(`fpm: ${f.listen}, zebra ${f.connected ? `connected from ${f.peer} since ${f.connectedSince}` : 'not connected'}; ${f.routes} routes, ${f.nexthops} nexthops from zebra`);
    lines.push(`fpm: answers: ${v.offload} offloaded, ${v.kernel} left to the kernel (trap), ${v.failed} failed, ${v.wait} waiting; replies sent ${f.replies.offload + f.replies.trap + f.replies.offload_failed}; drift: ${f.drift.zebraOnly} zebra-only, ${f.drift.kernelOnly} kernel-only`);
  }
  if (s.missingTables?.length) lines.push(`missing tables: ${s.missingTables.join(', ')} (configured, no such VRF now: not offloaded)`);
  lines.push(`last error: ${s.lastError ? `${s.lastError.at} ${s.lastError.message}` : 'none'}`);
  return lines.join('\n') + '\n';
}
