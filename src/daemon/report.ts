// What the backends reported, translated for operators: Prometheus metrics
// and log lines. No decisions are made here.
import type { Logger } from '../log.js';
import type { Mirror } from '../mirror/mirror.js';
import type { Plan } from '../plan/index.js';
import { planCounts } from '../plan/plan-rows.js';
import type { EntryStatus } from '../reconcile/status.js';
import type { ApplyReport, BackendName, Placement, PortFallback } from '../reconcile/types.js';
import type { XdpReport } from '../reconcile/xdp.js';
import type { TcReport } from '../reconcile/tc.js';
import type { Metrics } from './metrics.js';
import type { ReconcileResult } from '../xdp/backend.js';
import type { SyncResult } from './pipeline.js';

/** A full sync as /status shows it. */
export interface ResyncRecord {
  readonly at: string;
  readonly reason: string;
  readonly seconds: number;
  readonly mirrorChanged: boolean;
  readonly repairs: number;
}

export const ENTRY_STATES = ['pending', 'installed', 'failed'] as const;
export const FALLBACK_TARGETS = ['sw', 'xdp', 'none'] as const;

/** Label sets known in advance start at 0 (a counter prints nothing before its first increment). */
export function initMetrics(m: Metrics, backends: readonly BackendName[]): void {
  for (const to of FALLBACK_TARGETS) m.fallbacks.inc({ from: 'tc', to, reason: 'EOPNOTSUPP' }, 0);
  const ops: Record<string, readonly string[]> = { xdp: ['add', 'update', 'delete'], tc: ['add', 'replace', 'delete'] };
  for (const backend of backends) {
    for (const op of ops[backend] ?? []) for (const result of ['ok', 'error']) m.programOps.inc({ backend, op, result }, 0);
    for (const state of ENTRY_STATES) m.entries.set({ backend, state }, 0);
    for (const result of ['ok', 'error'] as const) m.retries.inc({ backend, result }, 0);
  }
  m.degraded.set(0);
}

/** program_ops_total from each report; failures logged with errno and extack as fields. */
export function countReports(m: Metrics, log: Logger, reports: readonly ApplyReport[]): void {
  for (const r of reports) {
    if (r.backend === 'xdp') {
      const x = (r as XdpReport).result;
      if (x) {
        for (const c of Object.values(x.counts)) {
          if (c.adds) m.programOps.inc({ backend: 'xdp', op: 'add', result: 'ok' }, c.adds);
          if (c.updates) m.programOps.inc({ backend: 'xdp', op: 'update', result: 'ok' }, c.updates);
          if (c.deletes) m.programOps.inc({ backend: 'xdp', op: 'delete', result: 'ok' }, c.deletes);
        }
      }
    } else if (r.backend === 'tc') {
      for (const b of (r as TcReport).blocks) {
        if (b.adds) m.programOps.inc({ backend: 'tc', op: 'add', result: 'ok' }, b.adds);
        if (b.replaces) m.programOps.inc({ backend: 'tc', op: 'replace', result: 'ok' }, b.replaces);
        if (b.deletes) m.programOps.inc({ backend: 'tc', op: 'delete', result: 'ok' }, b.deletes);
      }
    }
    for (const f of r.failures) m.programOps.inc({ backend: r.backend, op: f.op.split(' ', 1)[0] ?? 'batch', result: 'error' });
    if (r.failures.length > 0) {
      const f = r.failures[0]!;
      log.error({ backend: r.backend, failures: r.failures.length, subject: f.subject, op: f.op, errno: f.errno, extack: f.extack ?? undefined },
        `${r.backend}: ${r.failures.length} not installed; first: ${f.message}`);
    }
    for (const p of r.refused) log.error({ backend: r.backend, dev: p.dev, reason: p.reason }, `${r.backend}: port not taken: left to the kernel`);
  }
}

/** New fallbacks: counted once per block and logged. */
export function noteFallbacks(m: Metrics, log: Logger, fresh: ReadonlyArray<readonly [string, PortFallback]>): void {
  const blocks = new Map<number, { f: PortFallback; ports: string[] }>();
  for (const [dev, f] of fresh) {
    const b = blocks.get(f.block) ?? { f, ports: [] };
    b.ports.push(dev);
    blocks.set(f.block, b);
  }
  for (const { f, ports } of blocks.values()) {
    m.fallbacks.inc({ from: 'tc', to: f.to, reason: f.code });
    log.warn({ block: f.block, ports, to: f.to, errno: f.code, reason: f.reason }, 'tc: hardware refused the block; falling back');
  }
}

/**
 * Table gauges (O(table): at scrape time and every 5 s, not per batch):
 * routes, plan entries by action, per-entry status by backend, degraded.
 */
export function updateGauges(m: Metrics, mirror: Mirror, plan: Plan, placement: Placement, status: EntryStatus, backends: readonly BackendName[], pending: number): void {
  m.routes.reset();
  const routes = new Map<string, number>();
  for (const r of mirror.effectiveRoutes()) {
    const k = `${r.route.family}|${r.route.table}`;
    routes.set(k, (routes.get(k) ?? 0) + 1);
  }
  for (const [k, n] of routes) {
    const [family, table] = k.split('|');
    m.routes.set({ family: family!, table: table! }, n);
  }
  // Counted once per plan, over its rows: no array of a million entries every refresh.
  const counts = planCounts(plan);
  m.planEntries.set({ action: 'forward' }, counts.forward);
  m.planEntries.set({ action: 'punt' }, counts.entries - counts.forward);
  m.entries.reset();
  for (const backend of backends) {
    // tc installs the tables with tc ports; xdp and dry-run every table's entries.
    const total = backend === 'tc' ? [...placement.tcTables.keys()].reduce((n, t) => n + (counts.byTable.get(t) ?? 0), 0) : counts.entries;
    const failed = status.count(backend, 'entry');
    m.entries.set({ backend, state: 'failed' }, failed);
    m.entries.set({ backend, state: 'pending' }, pending);
    m.entries.set({ backend, state: 'installed' }, Math.max(0, total - failed - pending));
  }
  m.degraded.set(status.size > 0 ? 1 : 0);
  m.adjacencyGroups.set(plan.groups.length);
  m.unresolvedRoutes.set(counts.unresolved);
  m.firewallHooks.reset();
  if (plan.firewall) m.firewallHooks.set({ mode: plan.firewall.mode }, plan.firewall.hooks.length);
  m.firewallPunted.set(plan.ports.filter((p) => p.policy?.reason === 'firewall').length);
  m.policyPunted.reset();
  // Ports once (a port's two families are one record); prefixes per (table, family, prefix).
  const punted = new Map<string, Set<string>>();
  for (const x of plan.policy ?? []) {
    const k = `${x.reason}|${x.scope}`;
    let s = punted.get(k);
    if (!s) punted.set(k, (s = new Set()));
    s.add(x.scope === 'port' ? x.dev : `${x.table}|${x.family}|${x.dst}`);
  }
  for (const [k, s] of punted) {
    const [reason, scope] = k.split('|') as [string, string];
    m.policyPunted.set({ reason, scope }, s.size);
  }
}

export interface SyncNote {
  readonly reason: string;
  readonly seconds: number;
  /** A periodic resync found the kernel's tables different from the mirror (missed events). */
  readonly mirrorChanged: boolean;
  readonly result: SyncResult;
  readonly xdp: ReconcileResult | null;
  readonly tc: TcReport | null;
  readonly failed: number;
  readonly at: string;
}

/**
 * A full sync, counted and logged: what it repaired (requests sent, ports
 * attached or detached), and on a periodic resync any difference as drift.
 */
export function noteSync(m: Metrics, log: Logger, n: SyncNote): ResyncRecord {
  const r = n.result;
  const repairs = r.reports.reduce((k, x) => k + x.ops, 0) + (n.xdp ? n.xdp.attached.length + n.xdp.detached.length : 0)
    + (n.tc ? n.tc.joined.length + n.tc.left.length : 0);
  m.resyncs.inc({ reason: n.reason });
  if (n.reason === 'periodic') {
    if (n.mirrorChanged) m.drift.inc({ what: 'mirror' });
    if (repairs > 0) m.drift.inc({ what: 'installed' }, repairs);
  }
  for (const a of n.xdp?.attached ?? []) {
    log.info({ component: 'xdp', dev: a.dev, mode: a.mode }, 'xdp attached');
    if (a.fallbackReason) m.fallbacks.inc({ from: 'xdp-native', to: 'xdp-generic', reason: 'driver-refused' });
  }
  log.info(
    { reason: n.reason, seconds: n.seconds, routes: r.mirror.counts.routes, entries: r.plan.entries.length, groups: r.plan.groups.length, repairs, mirrorChanged: n.mirrorChanged, failed: n.failed },
    'full sync installed',
  );
  return { at: n.at, reason: n.reason, seconds: n.seconds, mirrorChanged: n.mirrorChanged, repairs };
}

/**
 * Configured VRFs that don't exist (deleted, or not created yet): their
 * routes are not offloaded until they do. Logged when the set changes;
 * returns the new set (shown in /status).
 */
export function noteMissingTables(log: Logger, before: readonly string[], missing: readonly string[]): readonly string[] {
  const now = [...missing].sort();
  if (now.join('\0') === before.join('\0')) return before;
  for (const name of now.filter((x) => !before.includes(x))) {
    log.warn({ vrf: name }, `tables: no table or VRF named "${name}" in this namespace; its routes are not offloaded until it exists`);
  }
  for (const name of before.filter((x) => !now.includes(x))) log.info({ vrf: name }, `tables: VRF "${name}" exists again; offloading it`);
  return now;
}
