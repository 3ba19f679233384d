// VRF (l3mdev) table mapping: which routing table an interface's traffic uses.
import type { Link } from '../model/link.js';
import { RT_TABLE_MAIN } from '../model/route.js';

/**
 * The enslaving VRF's table for a VRF port, the VRF's own table for the VRF
 * device itself (as the kernel's l3mdev_fib_table does), else main (254).
 */
export function tableOfLink(links: ReadonlyMap<number, Link>, ifindex: number): number {
  const l = links.get(ifindex);
  if (l === undefined) return RT_TABLE_MAIN;
  if (l.kind === 'vrf' && l.vrfTable !== null) return l.vrfTable;
  if (l.master === null) return RT_TABLE_MAIN;
  const m = links.get(l.master);
  return m !== undefined && m.kind === 'vrf' && m.vrfTable !== null ? m.vrfTable : RT_TABLE_MAIN;
}

export function isVrfIfindex(links: ReadonlyMap<number, Link>, ifindex: number | null): boolean {
  return ifindex !== null && links.get(ifindex)?.kind === 'vrf';
}

/** VRF device name per table, for labelling routes in `show`. */
export function vrfNamesByTable(links: Iterable<Link>): Map<number, string> {
  const out = new Map<number, string>();
  for (const l of links) if (l.kind === 'vrf' && l.vrfTable !== null) out.set(l.vrfTable, l.name);
  return out;
}
