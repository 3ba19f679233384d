// The forwarding plan: plain data that the planner produces and the diff,
// renderers and backends consume. Shapes follow DESIGN.md's `plan --json`.
import type { Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import type { FirewallMode } from '../model/firewall.js';
import type { FirewallVerdict } from './firewall.js';
import type { PolicyPunt, PolicyReason } from './rules.js';

export type PortBackend = 'tc' | 'xdp' | 'none';

export interface PlanPort {
  readonly ifindex: number;
  readonly dev: string;
  readonly backend: PortBackend;
  /** The port's own MAC: the source MAC of everything sent out of it. */
  readonly mac: string | null;
  /** Routing table packets arriving on this port are looked up in (as the policy rules select: VRF table or main by default). */
  readonly table: number;
  /** The link's MTU (absent: unknown). A route MTU below it is enforced per packet (PlanGroup.mtu). */
  readonly mtu?: number;
  /**
   * Set when a policy rule (or, reason 'firewall', a netfilter chain) could
   * treat traffic arriving here in a way the data plane can't: nothing
   * arriving on the port is offloaded (it is still an egress). Backends
   * leave its ingress to the kernel.
   */
  readonly policy?: {
    readonly reason: PolicyReason;
    readonly rule: string | null;
    /** Only these families' arriving traffic goes to the kernel (a netfilter hook that sees one family); absent: both. */
    readonly families?: readonly Family[];
  };
  /** The port's effective IPv4 reverse-path filter (max of conf.all and its own), when on. */
  readonly rpFilter?: 'strict' | 'loose';
  /**
   * An 802.1Q sub-interface: its frames arrive and leave through `parent`
   * tagged `vid` (XDP: the program runs on the parent, keyed (parent, vid);
   * egress pushes the tag). Its table, MAC, MTU, rp_filter and policy are
   * its own.
   */
  readonly vlan?: { readonly parent: number; readonly parentDev: string; readonly vid: number };
  /** A selected link that can't be an offload port (backend 'none'), with why. */
  readonly unsupported?: UnsupportedReason;
}

/**
 * Why a selected link is left to the kernel whole:
 * - 'vlan-802.1ad': an 802.1ad (S-tag, QinQ outer) sub-interface; the program parses 802.1Q only;
 * - 'vlan-stacked': a VLAN on a VLAN (QinQ inner): two tags;
 * - 'vlan-parent-elsewhere': the parent is in another namespace (or unknown);
 * - 'vlan-egress-qos': an egress-qos-map sets the tag's priority bits from skb->priority, which XDP doesn't see;
 * - 'vlan-tc': a VLAN sub-interface given the tc backend (flower vlan push/pop is not built).
 */
export type UnsupportedReason = 'vlan-802.1ad' | 'vlan-stacked' | 'vlan-parent-elsewhere' | 'vlan-egress-qos' | 'vlan-tc';

/** One usable member of an adjacency group. */
export interface GroupMember {
  readonly dev: string;
  readonly ifindex: number;
  readonly dmac: string;
  readonly smac: string;
  /** 1-based weight as the kernel uses it for hash-threshold ECMP. */
  readonly weight: number;
  /** The gateway (or, for a connected host, the host) this member sends to; identity, not content. */
  readonly via: string;
}

/** Bucket target: an index into PlanGroup.members, or PUNT_BUCKET (the kernel forwards that share). */
export const PUNT_BUCKET = -1;

export interface PlanGroup {
  /**
   * Stable id in [GROUP_ID_MIN, GROUP_ID_MAX], derived from `key` (not from
   * MACs or member state): the tc chain index and the XDP group map key.
   */
  readonly id: number;
  /** Identity: the route's nexthop object id, or its configured (ifindex, gateway, weight) set. */
  readonly key: string;
  /** Usable members (may be empty: then every bucket punts). */
  readonly members: readonly GroupMember[];
  /** log2 of the bucket count; 0 for single-path groups. */
  readonly bucketBits: number;
  /** 2^bucketBits targets: member index or PUNT_BUCKET. See buckets.ts for which address bits pick a bucket. */
  readonly buckets: readonly number[];
  /**
   * The routes' MTU metric (RTAX_MTU; IPv6 at least 1280, as ip6_forward()
   * uses it) when it is below an egress port's MTU; part of the identity, so
   * routes with different MTUs get different groups. Larger packets go to the
   * kernel, which sends the ICMP error: XDP checks each packet, tc (no length
   * match) hands all of the group's traffic to the kernel.
   */
  readonly mtu?: number;
}

export type SkipReason =
  | 'unresolved-neighbor'
  | 'egress-not-offloaded'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit'
  | 'throw'
  | 'link-down'
  | 'no-nexthop'
  | 'connected'
  | 'local'
  | 'broadcast'
  | 'multicast'
  | 'anycast'
  | 'martian'
  | 'link-local'
  | 'tos'
  | 'encap'
  | 'unsupported-type'
  /** A policy rule could send traffic to this prefix elsewhere (see Plan.policy). */
  | 'policy-rule';

export type EntryAction = 'forward' | 'punt';

export interface PlanEntry {
  readonly table: number;
  readonly family: Family;
  /** "10.0.0.0/8", canonical address text. */
  readonly dst: string;
  readonly action: EntryAction;
  /** Set when action is 'forward'. */
  readonly group?: number;
  /**
   * Punt: why the kernel must handle this prefix. Forward: set only while the
   * group has no usable member (every bucket punts), saying why.
   */
  readonly reason?: SkipReason;
}

export interface SkippedRoute {
  readonly table: number;
  readonly family: Family;
  readonly dst: string;
  readonly reason: SkipReason;
}

export interface Plan {
  /** Every link, sorted by ifindex; non-offload links have backend 'none'. */
  readonly ports: readonly PlanPort[];
  /** Sorted by id. */
  readonly groups: readonly PlanGroup[];
  /** Sorted by table, family, address, prefix length. */
  readonly entries: readonly PlanEntry[];
  /** Same order as entries. */
  readonly skipped: readonly SkippedRoute[];
  /** Packets with TTL / hop limit <= 1 always go to the kernel (it sends the ICMP time-exceeded). */
  readonly ttlPunt: true;
  /** Tables the plan covers, ascending. */
  readonly tables: readonly number[];
  /** Traffic the policy rules leave to the kernel, with why: ports, then prefixes (absent: none). */
  readonly policy?: readonly PolicyPunt[];
  /** Netfilter hooks that can act on forwarded traffic, and the mode; absent when there are none. */
  readonly firewall?: FirewallVerdict;
}

export interface PlanOptions {
  /** Port specs: interface names, globs (`*`, `?`, `[...]`), or `switchdev`. */
  readonly ports: readonly string[];
  /** Tables to offload; default main (254) and every VRF's table. 255 (local) is never offloaded. */
  readonly tables?: readonly number[];
  /** The kernel's net.ipv4.conf.all.ignore_routes_with_linkdown (default false, the kernel default). */
  readonly ignoreLinkdown?: boolean;
  /** Upper bound on bucket bits per ECMP group (default 6 = 64 buckets, at most 8). */
  readonly bucketBits?: number;
  /** Which backend a selected port gets (default 'xdp'); 'none' excludes it. */
  readonly backendFor?: (link: Link) => PortBackend;
  /** The previous plan: group ids are kept for identities it already had (stability under hash collisions). */
  readonly previous?: Plan;
  /** Netfilter on the forwarding path: 'respect' (default) leaves the traffic it could act on to the kernel; 'bypass' offloads it anyway. */
  readonly firewall?: FirewallMode;
}
