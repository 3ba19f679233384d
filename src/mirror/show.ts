// Pure renderers for `fib-offload show`: the `show --json` contract of
// DESIGN.md and a readable `ip route`-like text form. Only effective routes
// (the best per table/family/prefix) are listed: shadowed ones don't forward.
import { ipToBigInt, parseIp, type Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import type { NudState } from '../model/neighbor.js';
import type { MirrorView, NexthopKind, ResolvedNexthop, ResolvedRoute } from '../model/resolved.js';
import { protocolName, RT_TABLE_LOCAL, RT_TABLE_MAIN, type RouteType } from '../model/route.js';
import { vrfNamesByTable } from './vrf.js';

export interface ShowLink {
  readonly ifindex: number;
  readonly name: string;
  readonly mac: string | null;
  /** Admin up and carrier present. */
  readonly up: boolean;
  /** Name of the enslaving link; omitted when there is none. */
  readonly master?: string;
  readonly offload: boolean;
}

export interface ShowNeighbor {
  readonly ifindex: number;
  /** Link name; null if the link is unknown. */
  readonly dev: string | null;
  readonly family: Family;
  readonly address: string;
  readonly mac: string | null;
  readonly state: NudState;
}

export interface ShowNexthop {
  /** Egress link name; null when the egress is unknown (or for a blackhole). */
  readonly dev: string | null;
  readonly ifindex: number | null;
  readonly gateway: string | null;
  readonly weight: number;
  readonly mac: string | null;
  readonly neighState: NudState | null;
  readonly resolved: boolean;
  // Extra fields (the contract allows additions).
  readonly kind: NexthopKind;
  readonly gatewayFamily: Family | null;
  readonly onlink: boolean;
  readonly dead: boolean;
  readonly linkdown: boolean;
  readonly nhId: number | null;
}

export interface ShowRoute {
  /** iproute2's names for the reserved tables ('main', 'local', 'default'); the number otherwise. */
  readonly table: string | number;
  /** The VRF device whose table this is, when one is. */
  readonly vrf?: string;
  readonly family: Family;
  readonly dst: string;
  /** The kernel's protocol name, or the number as text. */
  readonly protocol: string;
  readonly nexthops: readonly ShowNexthop[];
  // Extra fields.
  readonly type: RouteType;
  readonly metric: number;
  readonly nhId: number | null;
}

export interface ShowJson {
  readonly links: readonly ShowLink[];
  readonly neighbors: readonly ShowNeighbor[];
  readonly routes: readonly ShowRoute[];
}

export type OffloadPredicate = (link: Link) => boolean;

export function tableLabel(table: number): string | number {
  if (table === RT_TABLE_MAIN) return 'main';
  if (table === RT_TABLE_LOCAL) return 'local';
  if (table === 253) return 'default';
  return table;
}

function addrOrder(address: string): bigint {
  try { return ipToBigInt(parseIp(address)); } catch { return -1n; }
}

function cmp<T extends number | bigint | string>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Effective routes sorted by table, family, then prefix address and length numerically. */
export function sortedEffectiveRoutes(view: MirrorView): ResolvedRoute[] {
  const keyed = [...view.effectiveRoutes()].map((rr) => ({ rr, addr: addrOrder(rr.route.dst) }));
  keyed.sort((a, b) => cmp(a.rr.route.table, b.rr.route.table) || cmp(a.rr.route.family, b.rr.route.family)
    || cmp(a.addr, b.addr) || cmp(a.rr.route.dstLen, b.rr.route.dstLen));
  return keyed.map((k) => k.rr);
}

function linkName(view: MirrorView, ifindex: number | null): string | null {
  return ifindex === null ? null : view.link(ifindex)?.name ?? null;
}

function showNexthop(view: MirrorView, n: ResolvedNexthop): ShowNexthop {
  return {
    dev: linkName(view, n.ifindex), ifindex: n.ifindex, gateway: n.gateway, weight: n.weight,
    mac: n.mac, neighState: n.neighState, resolved: n.resolved,
    kind: n.kind, gatewayFamily: n.gatewayFamily, onlink: n.onlink, dead: n.dead, linkdown: n.linkdown, nhId: n.nhId,
  };
}

export function showJson(view: MirrorView, isOffloadPort: OffloadPredicate = () => false): ShowJson {
  const links: ShowLink[] = [...view.links()].sort((a, b) => a.ifindex - b.ifindex).map((l) => {
    const master = l.master === null ? undefined : view.link(l.master)?.name;
    return {
      ifindex: l.ifindex, name: l.name, mac: l.mac, up: l.adminUp && l.carrier,
      ...(master !== undefined ? { master } : {}),
      offload: isOffloadPort(l),
    };
  });
  const neighbors: ShowNeighbor[] = [...view.neighbors()]
    .map((n) => ({ n, addr: addrOrder(n.address) }))
    .sort((a, b) => cmp(a.n.ifindex, b.n.ifindex) || cmp(a.n.family, b.n.family) || cmp(a.addr, b.addr))
    .map(({ n }) => ({
      ifindex: n.ifindex, dev: linkName(view, n.ifindex), family: n.family, address: n.address, mac: n.mac, state: n.state,
    }));
  const vrfs = vrfNamesByTable(view.links());
  const routes: ShowRoute[] = sortedEffectiveRoutes(view).map(({ route: r, nexthops }) => {
    const vrf = vrfs.get(r.table);
    return {
      table: tableLabel(r.table),
      ...(vrf !== undefined ? { vrf } : {}),
      family: r.family,
      dst: `${r.dst}/${r.dstLen}`,
      protocol: protocolName(r.protocol),
      nexthops: nexthops.map((n) => showNexthop(view, n)),
      type: r.type,
      metric: r.priority,
      nhId: r.nhId,
    };
  });
  return { links, neighbors, routes };
}

function nexthopText(view: MirrorView, routeFamily: Family, n: ResolvedNexthop): string {
  const parts: string[] = [];
  if (n.kind === 'blackhole') parts.push('blackhole');
  if (n.gateway !== null) parts.push(n.gatewayFamily !== routeFamily ? `via inet6 ${n.gateway}` : `via ${n.gateway}`);
  parts.push(n.ifindex === null ? 'dev ?' : `dev ${linkName(view, n.ifindex) ?? `if${n.ifindex}`}`);
  parts.push(`weight ${n.weight}`);
  if (n.nhId !== null) parts.push(`nhid ${n.nhId}`);
  if (n.onlink) parts.push('onlink');
  if (n.kind === 'gateway') {
    if (n.mac !== null) parts.push(`lladdr ${n.mac}`);
    parts.push(n.neighState ?? 'no-neigh', n.resolved ? 'resolved' : 'unresolved');
  } else if (n.kind === 'connected') {
    parts.push('connected');
  }
  if (n.dead) parts.push('dead');
  if (n.linkdown) parts.push('linkdown');
  return `    ${parts.join(' ')}`;
}

/** `ip route`-like listing, per table, with each nexthop's MAC and NUD state. */
export function showText(view: MirrorView): string {
  const vrfs = vrfNamesByTable(view.links());
  const lines: string[] = [];
  let table: number | null = null;
  for (const { route: r, nexthops } of sortedEffectiveRoutes(view)) {
    if (r.table !== table) {
      table = r.table;
      const vrf = vrfs.get(table);
      if (lines.length > 0) lines.push('');
      lines.push(`table ${tableLabel(table)}${vrf !== undefined ? ` (vrf ${vrf})` : ''}`);
    }
    const head: string[] = [];
    if (r.type !== 'unicast') head.push(r.type);
    head.push(r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`);
    if (r.nhId !== null) head.push(`nhid ${r.nhId}`);
    head.push(`proto ${protocolName(r.protocol)}`);
    if (r.prefsrc !== null) head.push(`src ${r.prefsrc}`);
    head.push(`metric ${r.priority}`);
    if (r.mtu !== undefined) head.push(`mtu ${r.mtuLocked ? 'lock ' : ''}${r.mtu}`);
    lines.push(head.join(' '));
    for (const n of nexthops) lines.push(nexthopText(view, r.family, n));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
