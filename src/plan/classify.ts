// One effective route → forward (with its group draft), connected subnet, or
// skipped with a reason. The rules that decide what the offload may do.
import type { ResolvedNexthop, ResolvedRoute } from '../model/resolved.js';
import type { Route, RouteType } from '../model/route.js';
import type { SlotState } from './buckets.js';
import { canonicalSlots, mtuKey, type GroupDraft, type GroupSlot } from './groups.js';
import type { PlanPort, SkipReason } from './types.js';

export type Verdict =
  | { readonly kind: 'skip'; readonly reason: SkipReason }
  /** `empty`: why no member is usable right now (the group punts every bucket). */
  | { readonly kind: 'forward'; readonly draft: GroupDraft; readonly empty?: SkipReason }
  /** A connected subnet on an offload port: hosts forward per neighbour, the rest stays with the kernel. `mtu`: as routeMtu(). */
  | { readonly kind: 'connected'; readonly port: PlanPort; readonly smac: string; readonly mtu?: number };

export interface ClassifyContext {
  /** Offload ports (backend tc or xdp) by ifindex. */
  readonly ports: ReadonlyMap<number, PlanPort>;
  readonly ignoreLinkdown: boolean;
  /** Returns the shared draft for an identity and content (routes via one gateway share one); `mtu` as routeMtu(). */
  readonly intern: (key: string, slots: readonly GroupSlot[], mtu?: number) => GroupDraft;
  /** Per-plan memo of forward verdicts by nexthop content (see classifyRoute). */
  readonly verdicts: Map<string, Verdict>;
}

const TYPE_REASON: Partial<Record<RouteType, SkipReason>> = {
  blackhole: 'blackhole', unreachable: 'unreachable', prohibit: 'prohibit', throw: 'throw',
  local: 'local', broadcast: 'broadcast', multicast: 'multicast', anycast: 'anycast',
};

/** ip6_forward() never uses a smaller MTU (IPV6_MIN_MTU). */
const IPV6_MIN_MTU = 1280;

/**
 * The route MTU a packet must fit, when it can matter: the RTAX_MTU metric
 * (ip_dst_mtu_maybe_forward() honours it when forwarding, locked or not;
 * ip6_forward() raises it to IPV6_MIN_MTU), if it is below the MTU of one
 * of the egress ports (or one's MTU is unknown). At or above every egress
 * MTU the device check already decides, so the route shares its group with
 * routes without the metric.
 */
export function routeMtu(route: Pick<Route, 'family' | 'mtu'>, egress: readonly (PlanPort | undefined)[]): number | undefined {
  if (route.mtu === undefined || route.mtu === 0) return undefined;
  const mtu = route.family === 6 ? Math.max(route.mtu, IPV6_MIN_MTU) : route.mtu;
  return egress.some((p) => p === undefined || p.mtu === undefined || mtu < p.mtu) ? mtu : undefined;
}

/**
 * Member rules (README text):
 * - RTNH_F_DEAD (or egress admin down): the kernel never picks it → excluded,
 *   its buckets go to the remaining members.
 * - RTNH_F_LINKDOWN (no carrier): with ignore_routes_with_linkdown=1 the
 *   kernel skips it → excluded like dead. With the default 0 the kernel keeps
 *   hashing flows to it (and loses them); the offload can't send to a port
 *   without carrier either, so its share is punted: the kernel does exactly
 *   what it would have done, and no other member's flows move.
 * - Unresolved gateway (no neighbour, INCOMPLETE, FAILED): left out of the
 *   group while unresolved; its share is punted so the kernel sees that
 *   traffic and resolves the neighbour. STALE/DELAY/PROBE count as resolved.
 * - Any member whose egress is not an offload port (dead or alive): the whole
 *   route stays with the kernel, `egress-not-offloaded` — moving its flows to
 *   the other members would change where traffic goes.
 */
function slotState(nh: ResolvedNexthop, ignoreLinkdown: boolean): SlotState {
  if (nh.dead) return 'excluded';
  if (nh.linkdown) return ignoreLinkdown ? 'excluded' : 'punt';
  if (!nh.resolved || nh.mac === null) return 'punt';
  return 'usable';
}

export function classifyRoute(rr: ResolvedRoute, ctx: ClassifyContext): Verdict {
  const { route, nexthops } = rr;
  if (route.type !== 'unicast') return { kind: 'skip', reason: TYPE_REASON[route.type] ?? 'unsupported-type' };
  // A TOS route only applies to packets carrying that TOS; keep it with the kernel.
  if (route.tos !== 0) return { kind: 'skip', reason: 'tos' };
  // An encapsulating route (MPLS, seg6, ip tunnel) pushes headers the rewrite can't: kernel only.
  if (route.encap || rr.nexthops.some((nh) => nh.encap)) return { kind: 'skip', reason: 'encap' };
  if (nexthops.length === 0) return { kind: 'skip', reason: 'no-nexthop' };

  if (nexthops.some((nh) => nh.kind === 'blackhole')) return { kind: 'skip', reason: 'blackhole' };
  // A dead member without an egress (a group member object that is gone) is
  // simply one the kernel skips; a live one without an egress can't be reached.
  if (nexthops.some((nh) => nh.ifindex === null && !nh.dead)) return { kind: 'skip', reason: 'no-nexthop' };
  if (nexthops.every((nh) => nh.ifindex === null)) return { kind: 'skip', reason: 'no-nexthop' };
  if (nexthops.some((nh) => nh.ifindex !== null && !ctx.ports.has(nh.ifindex))) return { kind: 'skip', reason: 'egress-not-offloaded' };

  if (nexthops.some((nh) => nh.kind === 'connected')) {
    const nh = nexthops[0]!;
    // Multipath over several directly connected links: which link a host is on
    // is the kernel's business (neighbour discovery per link).
    if (nexthops.length !== 1) return { kind: 'skip', reason: 'connected' };
    if (nh.dead || nh.linkdown) return { kind: 'skip', reason: 'link-down' };
    const port = ctx.ports.get(nh.ifindex!)!;
    const mtu = routeMtu(route, [port]);
    return mtu === undefined ? { kind: 'connected', port, smac: port.mac! } : { kind: 'connected', port, smac: port.mac!, mtu };
  }

  // Most routes share a few nexthop sets: look the verdict up by everything
  // it depends on (identity, state, MAC per member) before building anything.
  const mtu = route.mtu === undefined ? undefined : routeMtu(route, nexthops.flatMap((nh) => (nh.ifindex === null ? [] : [ctx.ports.get(nh.ifindex)])));
  let memo = route.nhId !== null ? `nh:${route.nhId}|` : '|';
  if (mtu !== undefined) memo = `mtu${mtu}${memo}`;
  if (nexthops.length === 1) memo += memoPart(nexthops[0]!, ctx.ignoreLinkdown);
  else memo += nexthops.map((nh) => memoPart(nh, ctx.ignoreLinkdown)).sort().join(',');
  const hit = ctx.verdicts.get(memo);
  if (hit) return hit;
  const verdict = forwardVerdict(route.nhId, nexthops, mtu, ctx);
  ctx.verdicts.set(memo, verdict);
  return verdict;
}

function memoPart(nh: ResolvedNexthop, ignoreLinkdown: boolean): string {
  const state = nh.ifindex === null ? 'excluded' : slotState(nh, ignoreLinkdown);
  return `${nh.ifindex}/${nh.gateway ?? `nh:${nh.nhId}`}@${nh.weight}:${state}:${state === 'usable' ? nh.mac : ''}:${nh.dead || nh.linkdown ? 1 : 0}`;
}

function forwardVerdict(nhId: number | null, nexthops: readonly ResolvedNexthop[], mtu: number | undefined, ctx: ClassifyContext): Verdict {
  const slots: GroupSlot[] = [];
  let anyDown = false;
  for (const nh of nexthops) {
    if (nh.dead || nh.linkdown) anyDown = true;
    if (nh.ifindex === null) {
      slots.push({ ifindex: 0, dev: '', via: `nh:${nh.nhId ?? ''}`, weight: nh.weight, dmac: null, smac: '', state: 'excluded' });
      continue;
    }
    const port = ctx.ports.get(nh.ifindex)!;
    const state = slotState(nh, ctx.ignoreLinkdown);
    slots.push({
      ifindex: nh.ifindex,
      dev: port.dev,
      via: nh.gateway ?? '',
      weight: nh.weight,
      dmac: state === 'usable' ? nh.mac : null,
      smac: port.mac!,
      state,
    });
  }
  const canon = canonicalSlots(slots);
  // Identity from what the route asks for, never from state or MACs.
  const key = nhId !== null
    ? `nh:${nhId}`
    : slots.map((s) => `${s.ifindex}/${s.via}@${s.weight}`).sort().join(',');
  const draft = ctx.intern(mtuKey(key, mtu), canon, mtu);
  if (canon.some((s) => s.state === 'usable')) return { kind: 'forward', draft };
  return { kind: 'forward', draft, empty: anyDown ? 'link-down' : 'unresolved-neighbor' };
}
