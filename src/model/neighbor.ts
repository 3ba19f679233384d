// A neighbour table entry (RTM_NEWNEIGH). Keyed by (ifindex, family, address):
// 169.254.0.1 exists on every unnumbered interface with a different MAC.
import type { Family } from './ip.js';

export type NudState =
  | 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe'
  | 'failed' | 'noarp' | 'permanent' | 'none';

export const NUD_BITS: Readonly<Record<NudState, number>> = {
  none: 0x00, incomplete: 0x01, reachable: 0x02, stale: 0x04, delay: 0x08,
  probe: 0x10, failed: 0x20, noarp: 0x40, permanent: 0x80,
};

export interface Neighbor {
  readonly ifindex: number;
  readonly family: Family;
  readonly address: string;
  /** NDA_LLADDR; null while unresolved. */
  readonly mac: string | null;
  /** The kernel's NUD state, lower-case (the highest bit set in ndm_state). */
  readonly state: NudState;
  /** ndm_flags (NTF_*), kept for diagnostics (NTF_ROUTER, NTF_EXT_LEARNED, NTF_MANAGED). */
  readonly flags: number;
}

export function neighborKey(ifindex: number, family: Family, address: string): string {
  return `${ifindex}|${family}|${address}`;
}

/** Name of the NUD bitmask as the kernel prints it (highest bit wins). */
export function nudStateName(bits: number): NudState {
  for (const name of ['permanent', 'noarp', 'failed', 'probe', 'delay', 'stale', 'reachable', 'incomplete'] as const) {
    if (bits & NUD_BITS[name]) return name;
  }
  return 'none';
}

/**
 * A neighbour's MAC may be used for forwarding. STALE, DELAY and PROBE still
 * hold a valid MAC (the kernel itself keeps sending to it); only INCOMPLETE,
 * FAILED, NONE or a missing entry withdraw it.
 */
export function neighborUsable(n: Neighbor | undefined): boolean {
  if (!n || n.mac === null) return false;
  switch (n.state) {
    case 'reachable': case 'stale': case 'delay': case 'probe': case 'permanent': case 'noarp':
      return true;
    default:
      return false;
  }
}
