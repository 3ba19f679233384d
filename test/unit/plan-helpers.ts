// Builders for KernelSnapshot fixtures used by the planner tests: terse,
// kernel-shaped defaults so each test states only what matters to it.
import type { Address } from '../../src/model/address.js';
import type { KernelSnapshot } from '../../src/model/events.js';
import { familyOf, parsePrefix, type Family } from '../../src/model/ip.js';
import type { Link } from '../../src/model/link.js';
import type { Neighbor, NudState } from '../../src/model/neighbor.js';
import type { NexthopObject } from '../../src/model/nexthop.js';
import type { Route, RouteNexthop, RouteType } from '../../src/model/route.js';
import { Mirror } from '../../src/mirror/mirror.js';

export function macOf(n: number): string {
  return `02:00:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
}

export function link(ifindex: number, name: string, o: Partial<Link> = {}): Link {
  return {
    ifindex, name, mac: macOf(ifindex), adminUp: true, carrier: true, operState: 'up', mtu: 1500,
    master: null, kind: 'veth', vrfTable: null, physSwitchId: null, physPortName: null, ...o,
  };
}

export function loopback(): Link {
  return link(1, 'lo', { mac: '00:00:00:00:00:00', kind: null, operState: 'unknown', mtu: 65536 });
}

export function addr(ifindex: number, cidr: string, scope = 0): Address {
  const [address, len] = cidr.split('/') as [string, string];
  return { ifindex, family: familyOf(address), address, prefixLen: Number(len), scope };
}

export function neigh(ifindex: number, address: string, mac: string | null, state: NudState = 'reachable'): Neighbor {
  return { ifindex, family: familyOf(address), address, mac, state, flags: 0 };
}

export function via(gateway: string, ifindex: number, weight = 1, o: Partial<RouteNexthop> = {}): RouteNexthop {
  return { ifindex, gateway, gatewayFamily: familyOf(gateway), weight, onlink: false, linkdown: false, dead: false, ...o };
}

export function dev(ifindex: number): RouteNexthop {
  return { ifindex, gateway: null, gatewayFamily: null, weight: 1, onlink: false, linkdown: false, dead: false };
}

export interface RouteOpts {
  table?: number;
  type?: RouteType;
  priority?: number;
  tos?: number;
  nhId?: number;
  protocol?: number;
  scope?: number;
  /** RTAX_MTU (`ip route ... mtu N`). */
  mtu?: number;
}

export function route(prefix: string, nexthops: readonly RouteNexthop[], o: RouteOpts = {}): Route {
  const p = parsePrefix(prefix);
  const connected = nexthops.length > 0 && nexthops.every((n) => n.gateway === null);
  return {
    table: o.table ?? 254, family: p.family, dst: p.address, dstLen: p.len, type: o.type ?? 'unicast',
    protocol: o.protocol ?? (connected ? 2 : 186), priority: o.priority ?? 0,
    scope: o.scope ?? (connected ? 253 : 0), tos: o.tos ?? 0, nhId: o.nhId ?? null,
    nexthops, prefsrc: null, flags: 0, ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
  };
}

export function nhObject(id: number, o: Partial<NexthopObject>): NexthopObject {
  return {
    id, family: 0, protocol: 11, blackhole: false, oif: null, gateway: null, onlink: false, dead: false,
    linkdown: false, group: null, groupType: null, resilientBuckets: null, fdb: false, ...o,
  };
}

export function snapshot(s: Partial<KernelSnapshot>): KernelSnapshot {
  return { links: [], addresses: [], neighbors: [], nexthops: [], routes: [], ...s };
}

export function mirrorOf(s: Partial<KernelSnapshot>): Mirror {
  return Mirror.fromSnapshot(snapshot(s));
}

export function family(text: string): Family {
  return familyOf(text);
}
