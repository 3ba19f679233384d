// Neighbour keepalive: offloaded packets never reach the kernel, so the
// neighbours they go to are never "used" there and would age out unseen. Each
// tick, a neighbour whose offloaded traffic grew since the last tick is
// marked used (NTF_USE), as the kernel's own forwarding would mark it; the
// kernel then re-probes it as it always does. Idle neighbours age normally.
import type { Family } from '../model/ip.js';
import type { MirrorView, Neighbor } from '../model/index.js';
import type { Plan } from '../plan/index.js';

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
