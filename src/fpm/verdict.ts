// What the agent answers zebra for one route: a pure function of the plan,
// the kernel mirror and per-entry status. The mapping (README "FRR
// integration"), from how FRR 10.7's zebra and bgpd read the flags under
// --asic-offload=notify_on_offload:
//   offload  RTM_F_OFFLOAD: the agent forwards the prefix (tc in hardware,
//            tc in software or XDP: packets no longer take the kernel's
//            forwarding path). zebra shows "offloaded" and tells bgpd INSTALLED.
//   kernel   RTM_F_OFFLOAD | RTM_F_TRAP: the agent leaves the prefix to the
//            kernel on purpose (punt, egress not an offload port, unresolved
//            next hop, table not offloaded, dry-run). The kernel forwards it,
//            so it must reach BGP peers: zebra tells bgpd INSTALLED only on
//            RTM_F_OFFLOAD (RTM_F_TRAP alone, or no reply, keeps the route
//            queued and unadvertised forever); "trapped" says the kernel does it.
//   failed   RTM_F_OFFLOAD_FAILED: the backend refused the entry or its group
//            (per-entry status); zebra tells bgpd FAIL_INSTALL and, with
//            suppress-fib-pending, bgpd withdraws it until a retry installs it.
//            The kernel's own local routes, which zebra reports in the main table, too.
//   wait     no reply yet: the kernel has no such route (zebra's kernel
//            install hasn't been seen, or failed: zebra reports that itself)
//            or the agent hasn't synced.
import type { Family } from '../model/ip.js';
import { RT_TABLE_LOCAL } from '../model/route.js';
import type { Plan, PlanEntry, PlanGroup } from '../plan/types.js';
import { compareRows } from '../plan/order.js';
import { entryRowsOf } from '../plan/plan-rows.js';
import type { BackendName } from '../reconcile/types.js';
import { RTM_F_OFFLOAD, RTM_F_OFFLOAD_FAILED, RTM_F_TRAP } from './messages.js';

export type Verdict = 'offload' | 'kernel' | 'failed' | 'wait';

export const VERDICT_FLAGS: Readonly<Record<Exclude<Verdict, 'wait'>, number>> = {
  offload: RTM_F_OFFLOAD,
  kernel: RTM_F_OFFLOAD | RTM_F_TRAP,
  failed: RTM_F_OFFLOAD_FAILED,
};

/** What the FPM server reads from the daemon; it never writes to any of it. */
export interface OffloadView {
  readonly plan: Plan;
  /** Does the kernel (the mirror) hold a route for this prefix key (`table|family|dst/len`)? */
  kernelHas(prefixKey: string): boolean;
  /** Which backend installs a table's entries; null: none does (dry-run). */
  backendOf(table: number): BackendName | null;
  /** Is `subject` (`entry <table>|<dst>`, `group <id>`, `batch`) failed in per-entry status for `backend`? */
  failed(backend: BackendName, subject: string): boolean;
  /** false: nothing is failed, so `failed` need not be asked (saves building subjects for a full table). */
  readonly anyFailed?: boolean;
  /** Prefix keys of the kernel's routes whose rtm_protocol passes `protocol` (drift checks; a key may repeat). */
  kernelRoutes(protocol: (p: number) => boolean): Iterable<string>;
}

export interface ZebraRouteKey {
  readonly table: number;
  readonly family: Family;
  /** "10.0.0.0/24", the plan's canonical text. */
  readonly dst: string;
}

export interface VerdictDetail {
  readonly verdict: Verdict;
  /** Why, for /status and logs: a plan reason, a backend, or what is awaited. */
  readonly why: string;
  /** The entry's adjacency group, when it forwards (for group-driven re-evaluation). */
  readonly group?: number;
}

/** IPv4 "a.b.c.d/len" as address * 64 + len: the plan's order within a table and family, as one number. */
function v4Rank(dst: string): number {
  let value = 0;
  let octet = 0;
  let i = 0;
  for (; i < dst.length; i++) {
    const c = dst.charCodeAt(i);
    if (c === 47) break; // '/'
    if (c === 46) { value = value * 256 + octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  value = value * 256 + octet;
  let len = 0;
  for (i++; i < dst.length; i++) len = len * 10 + (dst.charCodeAt(i) - 48);
  return value * 64 + len;
}

/**
 * The plan entry for exactly this (table, family, prefix): binary search over
 * the plan's canonical order. IPv4 keys are parsed once, not per comparison
 * (a full table's answers are 1M searches).
 */
export function entryFor(plan: Plan, key: ZebraRouteKey): PlanEntry | undefined {
  const es = entryRowsOf(plan);
  const rank = key.family === 4 ? v4Rank(key.dst) : -1;
  const cmp = (e: PlanEntry): number => {
    if (rank < 0) return compareRows(e, key);
    if (e.table !== key.table) return e.table - key.table;
    if (e.family !== 4) return e.family - 4;
    return v4Rank(e.dst) - rank;
  };
  let lo = 0;
  let hi = es.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = es.at(mid)!;
    const c = cmp(e);
    if (c === 0) return e;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** The plan's group with this id (groups are sorted by id). */
function groupById(plan: Plan, id: number): PlanGroup | undefined {
  const gs = plan.groups;
  let lo = 0;
  let hi = gs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const d = gs[mid]!.id - id;
    if (d === 0) return gs[mid];
    if (d < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

export function verdictOf(view: OffloadView, key: ZebraRouteKey): VerdictDetail {
  if (!view.kernelHas(`${key.table}|${key.family}|${key.dst}`)) {
    // zebra reports the kernel's own local routes (10.0.0.1/32, proto kernel) in the table of their
    // interface; the kernel keeps them in the local table and delivers to this host.
    if (view.kernelHas(`${RT_TABLE_LOCAL}|${key.family}|${key.dst}`)) return { verdict: 'kernel', why: 'local' };
    return { verdict: 'wait', why: 'no kernel route' };
  }
  if (!view.plan.tables.includes(key.table)) return { verdict: 'kernel', why: 'table not offloaded' };
  const e = entryFor(view.plan, key);
  if (!e) return { verdict: 'kernel', why: 'not in plan' };
  if (e.action === 'punt') return { verdict: 'kernel', why: e.reason ?? 'punt' };
  if (e.reason) return { verdict: 'kernel', why: e.reason, ...(e.group !== undefined ? { group: e.group } : {}) };
  const backend = view.backendOf(e.table);
  if (backend === null || backend === 'dry-run') return { verdict: 'kernel', why: 'no backend installs it' };
  const g = e.group !== undefined ? { group: e.group } : {};
  // flower can't match a length: tc leaves a group with a route MTU to the kernel (plan/types.ts PlanGroup.mtu).
  if (backend === 'tc' && e.group !== undefined && groupById(view.plan, e.group)?.mtu !== undefined) return { verdict: 'kernel', why: 'route-mtu', ...g };
  if (view.anyFailed === false) return { verdict: 'offload', why: backend, ...g };
  if (view.failed(backend, `entry ${e.table}|${e.dst}`)) return { verdict: 'failed', why: `${backend} entry failed`, ...g };
  if (e.group !== undefined && view.failed(backend, `group ${e.group}`)) return { verdict: 'failed', why: `${backend} group ${e.group} failed`, ...g };
  if (view.failed(backend, 'batch')) return { verdict: 'failed', why: `${backend} batch failed`, ...g };
  return { verdict: 'offload', why: backend, ...g };
}
