// Kernel-only ranges: destinations the kernel never forwards by the route
// tables (its own addresses, the local table, multicast, martians). The
// planner lays them over every table so nothing inside them is forwarded.
import type { Address } from '../model/address.js';
import type { Family } from '../model/ip.js';
import type { ResolvedRoute } from '../model/resolved.js';
import type { SkipReason } from './types.js';

export interface Overlay {
  readonly family: Family;
  readonly address: string;
  readonly len: number;
  readonly reason: SkipReason;
}

/**
 * Checked by the kernel before any route lookup: IPv4 zeronet and loopback
 * destinations are martians, multicast and limited broadcast go to the
 * multicast/local path (ip_route_input). IPv6: unspecified, loopback and
 * v4-mapped are dropped on receive, link-local is never forwarded,
 * multicast goes to the multicast path (ip6_rcv_core, ip6_forward).
 */
export const SPECIAL_OVERLAYS: readonly Overlay[] = [
  { family: 4, address: '0.0.0.0', len: 8, reason: 'martian' },
  { family: 4, address: '127.0.0.0', len: 8, reason: 'martian' },
  { family: 4, address: '224.0.0.0', len: 4, reason: 'multicast' },
  { family: 4, address: '255.255.255.255', len: 32, reason: 'broadcast' },
  { family: 6, address: '::', len: 128, reason: 'martian' },
  { family: 6, address: '::1', len: 128, reason: 'martian' },
  { family: 6, address: '::ffff:0.0.0.0', len: 96, reason: 'martian' },
  { family: 6, address: 'fe80::', len: 10, reason: 'link-local' },
  { family: 6, address: 'ff00::', len: 8, reason: 'multicast' },
];

const LOCAL_TYPE_REASON: Readonly<Record<string, SkipReason>> = {
  broadcast: 'broadcast', multicast: 'multicast', anycast: 'anycast',
};

/** A route of the local table (255): consulted before main, so its whole prefix is the kernel's. */
export function localTableOverlay(rr: ResolvedRoute): Overlay {
  const r = rr.route;
  return { family: r.family, address: r.dst, len: r.dstLen, reason: LOCAL_TYPE_REASON[r.type] ?? 'local' };
}

/**
 * An address of the router: its host prefix, and for IPv4 subnets wider than
 * /31 the subnet broadcast (the kernel puts both in the local table; deriving
 * them here keeps the plan right when a view lacks the local table).
 */
export function addressOverlays(a: Address): Overlay[] {
  if (a.family === 6) return [{ family: 6, address: a.address, len: 128, reason: 'local' }];
  const out: Overlay[] = [{ family: 4, address: a.address, len: 32, reason: 'local' }];
  if (a.prefixLen < 31) {
    const host = 2 ** (32 - a.prefixLen) - 1;
    const n = a.address.split('.').reduce((v, o) => v * 256 + Number(o), 0);
    const bcast = n - (n % (host + 1)) + host;
    const text = [bcast >>> 24, (bcast >>> 16) & 255, (bcast >>> 8) & 255, bcast & 255].join('.');
    out.push({ family: 4, address: text, len: 32, reason: 'broadcast' });
  }
  return out;
}
