// Reading the lab's FRR: BGP sessions and the peers' link-local addresses,
// from vtysh's JSON.
import type { Lab } from './env.js';
import type { RouterRole } from './topology.js';

export interface BgpSession {
  /** The peering interface (BGP unnumbered names the peer by it). */
  readonly peer: string;
  readonly hostname: string | null;
  readonly afi: 'ipv4' | 'ipv6';
  readonly state: string;
  readonly uptimeMs: number;
  readonly prefixesReceived: number;
}

interface SummaryPeer {
  hostname?: string;
  state?: string;
  peerUptimeMsec?: number;
  pfxRcd?: number;
}
type Summary = Partial<Record<'ipv4Unicast' | 'ipv6Unicast', { peers?: Record<string, SummaryPeer> }>>;

/** Sessions of `show bgp summary json` (IPv4 and IPv6 unicast). */
export function parseBgpSummary(json: string): BgpSession[] {
  const s = JSON.parse(json) as Summary;
  const out: BgpSession[] = [];
  for (const [key, afi] of [['ipv4Unicast', 'ipv4'], ['ipv6Unicast', 'ipv6']] as const) {
    for (const [peer, p] of Object.entries(s[key]?.peers ?? {})) {
      out.push({
        peer,
        hostname: p.hostname ?? null,
        afi,
        state: p.state ?? 'unknown',
        uptimeMs: p.peerUptimeMsec ?? 0,
        prefixesReceived: p.pfxRcd ?? 0,
      });
    }
  }
  return out;
}

export async function bgpSessions(lab: Lab, role: RouterRole = 'dut'): Promise<BgpSession[]> {
  return parseBgpSummary(await lab.vtysh(role, 'show bgp summary json'));
}

/** The link-local address BGP sees for the peer on `dev` (`hostForeign`), or null before the session is up. */
export async function peerLinkLocal(lab: Lab, dev: string, role: RouterRole = 'dut'): Promise<string | null> {
  const n = JSON.parse(await lab.vtysh(role, `show bgp neighbors ${dev} json`)) as Record<string, { hostForeign?: string }>;
  return n[dev]?.hostForeign ?? null;
}
