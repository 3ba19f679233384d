// Netfilter as the agent reads it: the nf_tables base chains (hooked chains)
// with their policy and rule count, and the iptables-legacy tables that
// exist. Only what decides whether forwarded traffic passes through
// netfilter; rule contents are not decoded.

/** Config `firewall`: 'respect' leaves what netfilter could act on to the kernel; 'bypass' offloads it anyway. */
export const FIREWALL_MODES = ['respect', 'bypass'] as const;
export type FirewallMode = (typeof FIREWALL_MODES)[number];

/** nf_tables families (NFPROTO_*) by name; others keep their number. */
export type NftFamily = 'inet' | 'ip' | 'ip6' | 'arp' | 'netdev' | 'bridge' | `family-${number}`;

export interface NftChain {
  readonly family: NftFamily;
  readonly table: string;
  readonly chain: string;
  /** Hook name ('prerouting', 'forward', 'postrouting', 'input', 'output', 'ingress', 'egress', or `hook-N`); null for a regular (jump target) chain. */
  readonly hook: string | null;
  readonly priority: number;
  /** Base chains only: what a packet that falls off the chain gets. */
  readonly policy: 'accept' | 'drop' | null;
  /** Chain type: 'filter', 'nat', 'route'. */
  readonly type: string | null;
  /** Devices of a netdev (or inet ingress) chain. */
  readonly devices: readonly string[];
  /** Rules in this chain. */
  readonly rules: number;
  /** The table is dormant (NFT_TABLE_F_DORMANT): its hooks are not registered. */
  readonly dormant: boolean;
}

export interface FirewallState {
  /**
   * nf_tables chains; null when this kernel has no nf_tables (nfnetlink or the
   * nf_tables module is absent: then no such chain can exist).
   */
  readonly nft: readonly NftChain[] | null;
  /** Why nft is null (the errno name the kernel gave). */
  readonly nftUnavailable?: string;
  /**
   * iptables-legacy tables that exist in this namespace, per family
   * (/proc/net/ip_tables_names, ip6_tables_names). Their rules are only
   * readable through getsockopt, which the agent does not use.
   */
  readonly legacy: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };
}

/** "nft inet filter forward" / "iptables-legacy filter" style names for logs and status. */
export function chainText(c: Pick<NftChain, 'family' | 'table' | 'chain'>): string {
  return `nft ${c.family} ${c.table} ${c.chain}`;
}

export function sameFirewall(a: FirewallState | null, b: FirewallState | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
