// A kernel route (RTM_NEWROUTE) exactly as reported, before resolution.
import type { Family } from './ip.js';

export type RouteType =
  | 'unspec' | 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast'
  | 'blackhole' | 'unreachable' | 'prohibit' | 'throw' | 'nat' | 'xresolve';

export const ROUTE_TYPES: readonly RouteType[] = [
  'unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast',
  'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve',
];

/** One nexthop carried in the route message itself (RTA_GATEWAY/RTA_OIF/RTA_VIA or one rtnexthop of RTA_MULTIPATH). */
export interface RouteNexthop {
  readonly ifindex: number | null;
  readonly gateway: string | null;
  /** Family of the gateway: 6 on an IPv4 route means RTA_VIA (RFC 5549). */
  readonly gatewayFamily: Family | null;
  /** 1-based (rtnh_hops + 1). */
  readonly weight: number;
  readonly onlink: boolean;
  readonly linkdown: boolean;
  readonly dead: boolean;
}

export interface Route {
  readonly table: number;
  readonly family: Family;
  /** Network address, canonical text. */
  readonly dst: string;
  readonly dstLen: number;
  readonly type: RouteType;
  /** rtm_protocol number; see protocolName(). */
  readonly protocol: number;
  /** RTA_PRIORITY (metric); 0 when absent. Lowest wins among routes to the same prefix. */
  readonly priority: number;
  readonly scope: number;
  readonly tos: number;
  /** RTA_NH_ID: the route uses a nexthop object; it is authoritative over any expanded nexthops. */
  readonly nhId: number | null;
  /** Nexthops in the message (empty for nhId-only routes with nexthop_compat_mode=0, and for blackholes). */
  readonly nexthops: readonly RouteNexthop[];
  readonly prefsrc: string | null;
  /** RTM_F_OFFLOAD / RTM_F_TRAP style flags (rtm_flags), kept raw. */
  readonly flags: number;
  /** RTA_ENCAP on the route or any of its nexthops (MPLS, seg6, ip tunnel): never offloadable. */
  readonly encap?: true;
  /**
   * RTA_METRICS RTAX_MTU (`ip route ... mtu [lock] N`); absent when unset. The
   * kernel's forwarding honours it whether locked or not (ip_dst_mtu_maybe_forward).
   */
  readonly mtu?: number;
  /** RTAX_LOCK holds the MTU bit (`mtu lock N`): no learned PMTU lowers it. */
  readonly mtuLocked?: true;
}

/**
 * IPv6 keeps several device routes to one prefix and metric side by side (fe80::/64
 * and ff00::/8 on every interface): for those the device is part of the identity.
 * Gateway routes with the same metric merge into one multipath route instead.
 */
export function ipv6DeviceRouteIfindex(r: Pick<Route, 'family' | 'nhId' | 'nexthops'>): number | null {
  if (r.family !== 6 || r.nhId !== null || r.nexthops.length !== 1) return null;
  const nh = r.nexthops[0]!;
  return nh.gateway === null ? nh.ifindex : null;
}

/** Identity of a route in the kernel: what RTM_DELROUTE must match. */
export function routeKey(r: Pick<Route, 'table' | 'family' | 'dst' | 'dstLen' | 'tos' | 'priority' | 'nhId' | 'nexthops'>): string {
  const dev = ipv6DeviceRouteIfindex(r);
  return `${r.table}|${r.family}|${r.dst}/${r.dstLen}|${r.tos}|${r.priority}${dev === null ? '' : `|dev${dev}`}`;
}

/** Identity of a prefix within a table: routes with the same prefixKey compete on priority. */
export function prefixKey(r: Pick<Route, 'table' | 'family' | 'dst' | 'dstLen'>): string {
  return `${r.table}|${r.family}|${r.dst}/${r.dstLen}`;
}

const PROTOCOLS: Readonly<Record<number, string>> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt',
  11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 17: 'mrouted',
  18: 'keepalived', 42: 'babel', 99: 'openr', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp',
};

/** iproute2's name for an rtm_protocol (rt_protos plus FRR's), or the number as text. */
export function protocolName(p: number): string {
  return PROTOCOLS[p] ?? String(p);
}

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export function tableName(t: number): string {
  if (t === RT_TABLE_MAIN) return 'main';
  if (t === RT_TABLE_LOCAL) return 'local';
  if (t === 253) return 'default';
  return String(t);
}
