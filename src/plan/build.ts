// buildPlan: mirror view + options → Plan. Composes port selection, route
// classification, the per-table LPM sweep and group finishing; no I/O.
import type { Family } from '../model/ip.js';
import { neighborUsable, type Neighbor } from '../model/neighbor.js';
import type { MirrorView } from '../model/resolved.js';
import { prefixKey, RT_TABLE_LOCAL, RT_TABLE_MAIN, type Route } from '../model/route.js';
import { DEFAULT_BUCKET_BITS } from './buckets.js';
import { classifyRoute, type ClassifyContext, type Verdict } from './classify.js';
import { allocateGroupIds, draftSignature, finishGroup, fnv1a32, mtuKey, type GroupDraft, type GroupSlot } from './groups.js';
import { addressOverlays, localTableOverlay, SPECIAL_OVERLAYS, type Overlay } from './overlays.js';
import { selectPorts } from './ports.js';
import { firewallVerdict, hookText } from './firewall.js';
import { portPolicies, rulePortOf, type PolicyPunt } from './rules.js';
import { prefixKeyText, SPACE4, SPACE6, type AddrSpace } from './prefix.js';
import { sweep, type SweepItem, type SweepOut } from './sweep.js';
import type { FirewallVerdict } from './firewall.js';
import type { Plan, PlanGroup, PlanOptions, PlanPort } from './types.js';

/** Interns drafts so a million routes via one gateway share one draft object. */
export class DraftRegistry {
  private readonly byKey = new Map<string, Map<string, GroupDraft>>();

  /** `key` already names `mtu` (mtuKey()): one key, one MTU. */
  intern(key: string, slots: readonly GroupSlot[], mtu?: number): GroupDraft {
    const sig = draftSignature(slots);
    let variants = this.byKey.get(key);
    if (!variants) this.byKey.set(key, (variants = new Map()));
    let d = variants.get(sig);
    if (!d) variants.set(sig, (d = mtu === undefined ? { key, slots, sig } : { key, slots, sig, mtu }));
    return d;
  }

  /** Take an existing draft as the one for its identity and content. */
  adopt(d: GroupDraft): void {
    let variants = this.byKey.get(d.key);
    if (!variants) this.byKey.set(d.key, (variants = new Map()));
    variants.set(d.sig, d);
  }
}

/**
 * The group key of a draft: its identity, unless routes with the same
 * identity resolved differently in this plan (per-route RTNH flags), in
 * which case each content variant is told apart by its signature hash —
 * decided per key over the drafts the plan's entries use, not by arrival
 * order, so it is deterministic and the same however the plan was reached.
 */
export function finalKey(d: GroupDraft, variantsOfKey: number): string {
  return variantsOfKey === 1 ? d.key : `${d.key}#${fnv1a32(d.sig).toString(16)}`;
}

/** Default tables: main and every VRF's table. */
function defaultTables(view: MirrorView): number[] {
  const t = new Set<number>([RT_TABLE_MAIN]);
  for (const l of view.links()) if (l.kind === 'vrf' && l.vrfTable !== null) t.add(l.vrfTable);
  return [...t];
}

export interface TableItems {
  readonly v4: SweepItem<number>[];
  readonly v6: SweepItem<bigint>[];
}

/** A plan with what an incremental planner needs to continue from it (see incremental.ts). */
export interface BuiltPlan {
  readonly plan: Plan;
  /** Per table: the sweep's inputs in sweep order, overlays and routes only (hosts are derived). */
  readonly items: ReadonlyMap<number, TableItems>;
  /** Forward entries per draft: the drafts the plan's groups are made of. */
  readonly refs: ReadonlyMap<GroupDraft, number>;
  /** Group id per draft in `refs`. */
  readonly ids: ReadonlyMap<GroupDraft, number>;
}

function overlayItem<K extends number | bigint>(space: AddrSpace<K>, o: Overlay): SweepItem<K> {
  return { rank: 0, lo: space.parse(o.address), len: o.len, dst: prefixKeyText(o.address, o.len), reason: o.reason };
}

export function buildPlan(view: MirrorView, opts: PlanOptions): Plan {
  return buildPlanState(view, opts).plan;
}

export function buildPlanState(view: MirrorView, opts: PlanOptions): BuiltPlan {
  const tables = [...new Set(opts.tables ?? defaultTables(view))].filter((t) => t !== RT_TABLE_LOCAL).sort((a, b) => a - b);
  const { ports, policy, policyOverlays, firewall } = planPorts(view, opts, tables);
  const offload = new Map<number, PlanPort>();
  for (const p of ports) if (p.backend !== 'none') offload.set(p.ifindex, p);
  const bitsCap = opts.bucketBits ?? DEFAULT_BUCKET_BITS;

  const registry = new DraftRegistry();
  const ctx: ClassifyContext = {
    ports: offload,
    ignoreLinkdown: opts.ignoreLinkdown ?? false,
    intern: (key, slots, mtu) => registry.intern(key, slots, mtu),
    verdicts: new Map(),
  };
  const perTable = new Map<number, TableItems>();
  for (const t of tables) perTable.set(t, { v4: [], v6: [] });

  // Kernel-only ranges. Main-VRF addresses and the local table are consulted
  // before any table (rule 0), so they cover every table; a VRF's own
  // addresses only its table.
  const global: Overlay[] = [...SPECIAL_OVERLAYS];
  const perTableOverlays = new Map<number, Overlay[]>(policyOverlays);
  for (const a of view.addresses()) {
    const t = view.tableOfLink(a.ifindex);
    if (t === RT_TABLE_MAIN) global.push(...addressOverlays(a));
    else if (perTable.has(t)) {
      let list = perTableOverlays.get(t);
      if (!list) perTableOverlays.set(t, (list = []));
      list.push(...addressOverlays(a));
    }
  }

  // The mirror's effective routes leave out TOS routes (they only apply to
  // packets carrying that TOS), but the kernel still uses them for those
  // packets: their prefixes stay with the kernel.
  const tosPrefixes = new Map<string, Route>();
  for (const r of view.tosRoutes()) {
    if (perTable.has(r.table)) tosPrefixes.set(prefixKey(r), r);
  }

  const connected: Connected[] = [];
  for (const rr of view.effectiveRoutes()) {
    const r = rr.route;
    if (r.table === RT_TABLE_LOCAL) { global.push(localTableOverlay(rr)); continue; }
    const bucket = perTable.get(r.table);
    if (!bucket) continue;
    let verdict: Verdict;
    if (tosPrefixes.size > 0 && tosPrefixes.delete(prefixKey(r))) verdict = { kind: 'skip', reason: 'tos' };
    else verdict = classifyRoute(rr, ctx);
    const dst = prefixKeyText(r.dst, r.dstLen);
    if (r.family === 4) {
      const item: SweepItem<number> = { rank: 1, lo: SPACE4.parse(r.dst), len: r.dstLen, dst, verdict };
      bucket.v4.push(item);
      if (verdict.kind === 'connected') connected.push({ table: r.table, family: 4, item, ifindex: verdict.port.ifindex, smac: verdict.smac, mtu: verdict.mtu });
    } else {
      const item: SweepItem<bigint> = { rank: 1, lo: SPACE6.parse(r.dst), len: r.dstLen, dst, verdict };
      bucket.v6.push(item);
      if (verdict.kind === 'connected') connected.push({ table: r.table, family: 6, item, ifindex: verdict.port.ifindex, smac: verdict.smac, mtu: verdict.mtu });
    }
  }

  for (const r of tosPrefixes.values()) {
    const bucket = perTable.get(r.table)!;
    const verdict: Verdict = { kind: 'skip', reason: 'tos' };
    const dst = prefixKeyText(r.dst, r.dstLen);
    if (r.family === 4) bucket.v4.push({ rank: 1, lo: SPACE4.parse(r.dst), len: r.dstLen, dst, verdict });
    else bucket.v6.push({ rank: 1, lo: SPACE6.parse(r.dst), len: r.dstLen, dst, verdict });
  }

  for (const [t, items] of perTable) {
    for (const o of [...global, ...(perTableOverlays.get(t) ?? [])]) {
      if (o.family === 4) items.v4.push(overlayItem(SPACE4, o));
      else items.v6.push(overlayItem(SPACE6, o));
    }
  }

  addHosts(view, connected, perTable, offload, registry);

  const out: SweepOut = { entries: [], skipped: [], forwardIndex: [], forwardDraft: [] };
  for (const t of tables) {
    const items = perTable.get(t)!;
    sweep(SPACE4, t, items.v4, out);
    sweep(SPACE6, t, items.v6, out);
  }

  const refs = new Map<GroupDraft, number>();
  for (const d of out.forwardDraft) refs.set(d, (refs.get(d) ?? 0) + 1);
  const variants = new Map<string, number>();
  for (const d of refs.keys()) variants.set(d.key, (variants.get(d.key) ?? 0) + 1);
  const used = new Map<string, GroupDraft>();
  for (const d of refs.keys()) used.set(finalKey(d, variants.get(d.key)!), d);
  const previous = opts.previous ? new Map(opts.previous.groups.map((g) => [g.key, g.id] as const)) : undefined;
  const ids = allocateGroupIds([...used.keys()].sort(), previous);
  const groups: PlanGroup[] = [];
  const idOf = new Map<GroupDraft, number>();
  for (const [key, draft] of used) {
    const id = ids.get(key)!;
    groups.push(finishGroup(id, { key, slots: draft.slots, mtu: draft.mtu }, bitsCap));
    idOf.set(draft, id);
  }
  groups.sort((a, b) => a.id - b.id);
  const { entries, skipped, forwardIndex, forwardDraft } = out;
  for (let i = 0; i < forwardIndex.length; i++) entries[forwardIndex[i]!]!.group = idOf.get(forwardDraft[i]!)!;

  // The sweep sorted each list in place; hosts are re-derived from neighbours when needed.
  for (const items of perTable.values()) {
    if (items.v4.some((i) => i.rank === 2)) removeHosts(items.v4);
    if (items.v6.some((i) => i.rank === 2)) removeHosts(items.v6);
  }
  const plan: Plan = { ports, groups, entries, skipped, ttlPunt: true, tables, ...portExtras(policy, firewall) };
  return { plan, items: perTable, refs, ids: idOf };
}

/** What planPorts() decides, besides the ports themselves. */
export interface PlannedPorts {
  readonly ports: PlanPort[];
  readonly policy: PolicyPunt[];
  /** Per table, the destination prefixes policy rules punt (kernel-only ranges in the sweep). */
  readonly policyOverlays: Map<number, Overlay[]>;
  readonly firewall: FirewallVerdict;
}

/**
 * The ports as the plan has them: selection, the policy rules, rp_filter and
 * netfilter. Entries and groups don't depend on what these hand to the
 * kernel (a punted port is still an egress), so a netfilter or rp_filter
 * change re-plans the ports alone (PlanState.next).
 */
export function planPorts(view: MirrorView, opts: PlanOptions, tables: readonly number[]): PlannedPorts {
  const ruled = policyPorts(view, selectPorts(view.links(), opts.ports, opts.backendFor, (i) => view.tableOfLink(i)), tables);
  const { ports, firewall } = firewallPorts(view, rpFilterPorts(view, ruled.ports), opts);
  return { ports, policy: ruled.policy, policyOverlays: ruled.policyOverlays, firewall };
}

/** The plan's optional port-level fields: present only when they say something. */
export function portExtras(policy: readonly PolicyPunt[], firewall: FirewallVerdict): Pick<Plan, 'policy' | 'firewall'> {
  return { ...(policy.length > 0 ? { policy } : {}), ...(firewall.hooks.length > 0 ? { firewall } : {}) };
}

/**
 * The policy rules applied to the selected ports: each offload port's table
 * as the rules pick it, ports whose ingress stays with the kernel, and per
 * table the destination prefixes a rule could divert (kernel-only ranges).
 */
function policyPorts(view: MirrorView, selected: PlanPort[], tables: readonly number[]): {
  ports: PlanPort[]; policy: PolicyPunt[]; policyOverlays: Map<number, Overlay[]>;
} {
  const rules = view.policyRules();
  const policyOverlays = new Map<number, Overlay[]>();
  if (rules === null) return { ports: selected, policy: [], policyOverlays };
  const served = new Set(tables);
  const candidates = selected.filter((p) => p.backend !== 'none').flatMap((p) => {
    const l = view.link(p.ifindex);
    return l ? [rulePortOf(l, (i) => view.link(i))] : [];
  });
  const verdicts = portPolicies(rules, candidates, (i) => view.tableOfLink(i), (t) => served.has(t));
  const portPunts: PolicyPunt[] = [];
  const prefixPunts: PolicyPunt[] = [];
  const seen = new Set<string>();
  const ports = selected.map((p) => {
    const v = verdicts.get(p.ifindex);
    if (!v) return p;
    if (v.punt) {
      portPunts.push(v.punt);
      return { ...p, table: v.table, policy: { reason: v.punt.reason, rule: v.punt.rule } };
    }
    for (const x of v.prefixes) {
      prefixPunts.push(x);
      const k = `${x.table}|${x.dst}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const [address, len] = x.dst.split('/') as [string, string];
      let list = policyOverlays.get(x.table);
      if (!list) policyOverlays.set(x.table, (list = []));
      list.push({ family: x.family, address, len: Number(len), reason: 'policy-rule' });
    }
    return v.table === p.table ? p : { ...p, table: v.table };
  });
  return { ports, policy: [...portPunts, ...prefixPunts], policyOverlays };
}

/**
 * The reverse-path filter (net.ipv4.conf.{all,DEV}.rp_filter) of each
 * offload port. The kernel drops a packet whose source fails it. The XDP
 * program checks sources (the port record carries the mode); tc has no
 * source check, so a tc port's ingress stays with the kernel (reason
 * 'rp-filter'), unless the rules already punt it.
 */
function rpFilterPorts(view: MirrorView, ports: PlanPort[]): PlanPort[] {
  return ports.map((p) => {
    if (p.backend === 'none') return p;
    const rp = view.rpFilter(p.ifindex);
    if (rp === 'off') return p;
    const punt = p.backend === 'tc' && !p.policy;
    return { ...p, rpFilter: rp, ...(punt ? { policy: { reason: 'rp-filter' as const, rule: `rp_filter ${rp}` } } : {}) };
  });
}

/**
 * Netfilter on the forwarding path (plan/firewall.ts): offload ports whose
 * traffic a chain could act on keep it with the kernel, unless the config
 * says `firewall: bypass`. A port the rules already punt keeps that reason.
 */
function firewallPorts(view: MirrorView, ports: PlanPort[], opts: PlanOptions): { ports: PlanPort[]; firewall: FirewallVerdict } {
  const names = new Set(ports.filter((p) => p.backend !== 'none').flatMap((p) => (p.vlan ? [p.dev, p.vlan.parentDev] : [p.dev])));
  const { verdict, puntOf } = firewallVerdict(view.firewall(), opts.firewall ?? 'respect', names);
  return {
    firewall: verdict,
    ports: ports.map((p) => {
      if (p.backend === 'none' || p.policy) return p;
      const f = p.vlan ? puntOf(p.dev, p.vlan.parentDev) : puntOf(p.dev);
      if (!f) return p;
      const rule = `${hookText(f.hooks[0]!)}${f.hooks.length > 1 ? ` and ${f.hooks.length - 1} more` : ''}`;
      return { ...p, policy: { reason: 'firewall', rule, ...(f.families.length === 1 ? { families: f.families } : {}) } };
    }),
  };
}

function removeHosts<K>(items: SweepItem<K>[]): void {
  let j = 0;
  for (let i = 0; i < items.length; i++) if (items[i]!.rank !== 2) items[j++] = items[i]!;
  items.length = j;
}

/**
 * Connected subnets on offload ports forward per resolved neighbour: one
 * host entry (/32, /128) and one single-member group per neighbour. The rest
 * of the subnet stays with the kernel so it can resolve new neighbours.
 */
/** A connected subnet on an offload port, whose neighbours get host entries. */
interface Connected {
  readonly table: number;
  readonly family: Family;
  readonly item: SweepItem<number> | SweepItem<bigint>;
  readonly ifindex: number;
  readonly smac: string;
  /** The subnet route's MTU, when it matters (routeMtu()). */
  readonly mtu: number | undefined;
}

function addHosts(
  view: MirrorView,
  connected: readonly Connected[],
  perTable: ReadonlyMap<number, TableItems>,
  offload: ReadonlyMap<number, PlanPort>,
  registry: DraftRegistry,
): void {
  if (connected.length === 0) return;
  const byLink = new Map<string, Neighbor[]>();
  for (const n of view.neighbors()) {
    if (!neighborUsable(n) || !offload.has(n.ifindex)) continue;
    const k = `${n.ifindex}|${n.family}`;
    let list = byLink.get(k);
    if (!list) byLink.set(k, (list = []));
    list.push(n);
  }
  for (const c of connected) {
    const neighbors = byLink.get(`${c.ifindex}|${c.family}`);
    if (!neighbors) continue;
    const port = offload.get(c.ifindex)!;
    const items = perTable.get(c.table)!;
    for (const n of neighbors) {
      const inside = c.family === 4
        ? contains(SPACE4, c.item as SweepItem<number>, n.address)
        : contains(SPACE6, c.item as SweepItem<bigint>, n.address);
      if (!inside) continue;
      const intern = (key: string, slots: readonly GroupSlot[], mtu?: number) => registry.intern(key, slots, mtu);
      if (c.family === 4) items.v4.push(hostItem(SPACE4, c.item as SweepItem<number>, port, c.smac, c.mtu, n, intern));
      else items.v6.push(hostItem(SPACE6, c.item as SweepItem<bigint>, port, c.smac, c.mtu, n, intern));
    }
  }
}

/** The host entry of one resolved neighbour inside a connected subnet on an offload port; `mtu`: the subnet route's (routeMtu()). */
export function hostItem<K extends number | bigint>(
  space: AddrSpace<K>,
  owner: SweepItem<K>,
  port: PlanPort,
  smac: string,
  mtu: number | undefined,
  n: Neighbor,
  intern: (key: string, slots: readonly GroupSlot[], mtu?: number) => GroupDraft,
): SweepItem<K> {
  const slot: GroupSlot = { ifindex: port.ifindex, dev: port.dev, via: n.address, weight: 1, dmac: n.mac, smac, state: 'usable' };
  // Same identity as a single-path route via this neighbour (and the same route MTU): they share one group.
  const draft = intern(mtuKey(`${port.ifindex}/${n.address}@1`, mtu), [slot], mtu);
  const len = space.bits;
  return { rank: 2, lo: space.parse(n.address), len, dst: prefixKeyText(n.address, len), owner, draft };
}

function contains<K extends number | bigint>(space: AddrSpace<K>, owner: SweepItem<K>, address: string): boolean {
  const a = space.parse(address);
  return space.compare(a, owner.lo) >= 0 && space.compare(a, space.last(owner.lo, owner.len)) <= 0;
}
