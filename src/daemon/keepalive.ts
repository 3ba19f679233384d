// Neighbour keepalive: offloaded packets never reach the kernel, so the
// neighbours they go to are never "used" there and would age out unseen. Each
// tick, a neighbour whose offloaded traffic grew since the last tick is
// marked used (NTF_USE), as the kernel's own forwarding would mark it; the
// kernel then re-probes it as it always does. Idle neighbours age normally.
import { formatMac, type Family } from '../model/ip.js';
import type { MirrorView, Neighbor } from '../model/index.js';
import type { Plan } from '../plan/index.js';
import type { BlockPlan } from '../tc/rules.js';

export interface MemberTraffic {
  readonly group: number;
  readonly ifindex: number;
  readonly dmac: string;
  readonly packets: bigint;
}

const REFRESHABLE: ReadonlySet<string> = new Set(['reachable', 'stale', 'delay', 'probe']);

export interface KeepaliveTick {
  /** Neighbours to mark used now. */
  readonly refresh: Neighbor[];
  /** Packet counts to compare against next tick. */
  readonly seen: Map<string, bigint>;
}

/**
 * Which neighbours to refresh: those behind a member (group, egress, MAC)
 * whose forwarded packets grew since `previous`. A member's neighbour is its
 * `via` on its egress; permanent and noarp entries never age, so they are
 * left alone.
 */
export function keepaliveTick(plan: Plan, traffic: readonly MemberTraffic[], previous: ReadonlyMap<string, bigint>, view: MirrorView): KeepaliveTick {
  const seen = new Map<string, bigint>();
  const vias = new Map<string, string[]>();
  for (const g of plan.groups) {
    for (const m of g.members) {
      const k = `${g.id}|${m.ifindex}|${m.dmac}`;
      const list = vias.get(k);
      if (list) list.push(m.via);
      else vias.set(k, [m.via]);
    }
  }
  const refresh = new Map<string, Neighbor>();
  for (const t of traffic) {
    const k = `${t.group}|${t.ifindex}|${t.dmac}`;
    seen.set(k, t.packets);
    if (t.packets <= (previous.get(k) ?? 0n)) continue;
    for (const via of vias.get(k) ?? []) {
      const family: Family = via.includes(':') ? 6 : 4;
      const n = view.neighbor(t.ifindex, family, via);
      if (n && REFRESHABLE.has(n.state)) refresh.set(`${n.ifindex}|${n.family}|${n.address}`, n);
    }
  }
  return { refresh: [...refresh.values()], seen };
}

/** One tc rule's packet counter: the block it is in and its identity there (RuleStats of the tc backend). */
export interface TcRuleCount {
  readonly id: { readonly block: number };
  readonly key: string;
  readonly packets: bigint;
}

/**
 * The tc backend's per-rule counters as member traffic: a group chain's
 * bucket rule that redirects is one member's share (chain = group, the
 * redirect's egress, the rewrite's destination MAC). Rules are matched to
 * the desired ones by identity, so punt buckets and chain 0 count nothing.
 */
export function tcMemberTraffic(blocks: readonly BlockPlan[], counts: readonly TcRuleCount[]): MemberTraffic[] {
  const members = new Map<string, { group: number; ifindex: number; dmac: string }>();
  for (const b of blocks) {
    for (const d of b.filters) {
      if (d.kind !== 'group') continue;
      let ifindex: number | null = null;
      let dmac: string | null = null;
      for (const a of d.filter.actions) {
        if (a.kind === 'redirect') ifindex = a.ifindex;
        if (a.kind === 'rewrite') dmac = formatMac(a.dmac);
      }
      if (ifindex !== null && dmac !== null) members.set(`${b.block}|${d.key}`, { group: d.filter.id.chain, ifindex, dmac });
    }
  }
  const sums = new Map<string, { group: number; ifindex: number; dmac: string; packets: bigint }>();
  for (const c of counts) {
    const m = members.get(`${c.id.block}|${c.key}`);
    if (!m) continue;
    const k = `${m.group}|${m.ifindex}|${m.dmac}`;
    const s = sums.get(k);
    if (s) s.packets += c.packets;
    else sums.set(k, { ...m, packets: c.packets });
  }
  return [...sums.values()];
}

/** Several backends' member traffic as one list: the same member's packets add up. */
export function mergeTraffic(...lists: ReadonlyArray<readonly MemberTraffic[]>): MemberTraffic[] {
  const sums = new Map<string, MemberTraffic>();
  for (const list of lists) {
    for (const t of list) {
      const k = `${t.group}|${t.ifindex}|${t.dmac}`;
      const s = sums.get(k);
      sums.set(k, s ? { ...s, packets: s.packets + t.packets } : { group: t.group, ifindex: t.ifindex, dmac: t.dmac, packets: t.packets });
    }
  }
  return [...sums.values()];
}
