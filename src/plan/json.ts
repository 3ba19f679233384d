// planJson: the `plan --json` contract of DESIGN.md (plus `ttlPunt`), in a
// stable order: ports by ifindex, groups by id, entries and skipped by
// table, family, address, prefix length. `tcCompressed` (additive) is the
// tc tables' entries as the FIB compression installs them.
import type { CompressedPlan } from './compress.js';
import { compareRows, isOrdered, type OrderedRow } from './order.js';
import type { FirewallVerdict } from './firewall.js';
import type { PolicyPunt } from './rules.js';
import type { Plan, PlanEntry, SkippedRoute } from './types.js';

type EntryRow = { table: number; family: 4 | 6; dst: string; action: string; group?: number; reason?: string };

export interface PlanJson {
  /** `table` (additive): the table the port's arriving traffic is looked up in (its VRF's, or the policy rules' choice). */
  /**
   * `vlan` (additive): an 802.1Q sub-interface served through its parent (PlanPort.vlan);
   * `unsupported` (additive): why a selected link stays with the kernel (backend 'none').
   */
  readonly ports: {
    ifindex: number; dev: string; backend: string; table: number;
    vlan?: { parent: number; parentDev: string; vid: number }; unsupported?: string;
  }[];
  /** `mtu` (additive): the route MTU the group's packets must fit (PlanGroup.mtu). */
  readonly groups: { id: number; members: { dev: string; ifindex: number; dmac: string; smac: string; weight: number }[]; mtu?: number }[];
  readonly entries: EntryRow[];
  readonly skipped: { table: number; family: 4 | 6; dst: string; reason: string }[];
  readonly ttlPunt: true;
  /** Traffic the policy rules leave to the kernel (additive; absent when none): whole ports, then prefixes. */
  readonly policy?: PolicyPunt[];
  /** Netfilter hooks that can act on forwarded traffic, and the config's mode (additive; absent when none). */
  readonly firewall?: FirewallVerdict;
  readonly tcCompressed?: { tables: number[]; sourceEntries: number; ratio: number; entries: EntryRow[] };
}

/** buildPlan already emits this order; sort only when handed something else (an O(n) check first). */
function sorted<T extends OrderedRow>(rows: readonly T[]): readonly T[] {
  return isOrdered(rows) ? rows : [...rows].sort(compareRows);
}

function entryRow(e: PlanEntry): EntryRow {
  const out: EntryRow = { table: e.table, family: e.family, dst: e.dst, action: e.action };
  if (e.group !== undefined) out.group = e.group;
  if (e.reason !== undefined) out.reason = e.reason;
  return out;
}

export function planJson(plan: Plan, opts: { readonly tcCompressed?: CompressedPlan } = {}): PlanJson {
  const c = opts.tcCompressed;
  return {
    ports: [...plan.ports].sort((a, b) => a.ifindex - b.ifindex).map((p) => ({
      ifindex: p.ifindex, dev: p.dev, backend: p.backend, table: p.table,
      ...(p.vlan ? { vlan: { ...p.vlan } } : {}),
      ...(p.unsupported ? { unsupported: p.unsupported } : {}),
    })),
    groups: [...plan.groups].sort((a, b) => a.id - b.id).map((g) => ({
      id: g.id,
      members: g.members.map((m) => ({ dev: m.dev, ifindex: m.ifindex, dmac: m.dmac, smac: m.smac, weight: m.weight })),
      ...(g.mtu !== undefined ? { mtu: g.mtu } : {}),
    })),
    entries: sorted(plan.entries).map(entryRow),
    skipped: sorted<SkippedRoute>(plan.skipped).map((s) => ({ table: s.table, family: s.family, dst: s.dst, reason: s.reason })),
    ttlPunt: true,
    ...(plan.policy && plan.policy.length > 0 ? { policy: plan.policy.map((x) => ({ ...x })) } : {}),
    ...(plan.firewall ? { firewall: plan.firewall } : {}),
    ...(c ? { tcCompressed: { tables: [...c.tables], sourceEntries: c.sourceEntries, ratio: Math.round(c.ratio * 1e4) / 1e4, entries: c.entries.map(entryRow) } } : {}),
  };
}
