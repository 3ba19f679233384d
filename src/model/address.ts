// An interface address (RTM_NEWADDR): the router's own addresses.
import type { Family } from './ip.js';

export interface Address {
  readonly ifindex: number;
  readonly family: Family;
  /** IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer on point-to-point), IFA_ADDRESS for IPv6. */
  readonly address: string;
  readonly prefixLen: number;
  /** rtm scope number: 0 universe, 253 link, 254 host. */
  readonly scope: number;
}

export function addressKey(a: Pick<Address, 'ifindex' | 'family' | 'address' | 'prefixLen'>): string {
  return `${a.ifindex}|${a.family}|${a.address}/${a.prefixLen}`;
}
