// What the kernel adapter hands the mirror: a full dump, or one change.
import type { Address } from './address.js';
import type { Link } from './link.js';
import type { Neighbor } from './neighbor.js';
import type { NexthopObject } from './nexthop.js';
import type { Route } from './route.js';
import type { FirewallState } from './firewall.js';
import type { Netconf } from './netconf.js';
import type { PolicyRule } from './rule.js';

export type EventOp = 'new' | 'del';

export type KernelEvent =
  | { readonly kind: 'link'; readonly op: EventOp; readonly link: Link }
  | { readonly kind: 'addr'; readonly op: EventOp; readonly address: Address }
  | { readonly kind: 'neigh'; readonly op: EventOp; readonly neighbor: Neighbor }
  | { readonly kind: 'nexthop'; readonly op: EventOp; readonly nexthop: NexthopObject }
  | { readonly kind: 'route'; readonly op: EventOp; readonly route: Route }
  | { readonly kind: 'rule'; readonly op: EventOp; readonly rule: PolicyRule }
  /** IPv4 per-device configuration (rp_filter): a notification carries only what changed. */
  | { readonly kind: 'netconf'; readonly op: EventOp; readonly netconf: Netconf }
  /** Netfilter changed: the whole state as read again after the change (nf_tables notifications). */
  | { readonly kind: 'firewall'; readonly op: 'new'; readonly firewall: FirewallState };

export type EventKind = KernelEvent['kind'];

/** Everything one full dump returns; the mirror is rebuilt from this on start and on resync. */
export interface KernelSnapshot {
  readonly links: readonly Link[];
  readonly addresses: readonly Address[];
  readonly neighbors: readonly Neighbor[];
  readonly nexthops: readonly NexthopObject[];
  readonly routes: readonly Route[];
  /**
   * Policy rules (IPv4 then IPv6, each in the kernel's list order). Absent
   * when the source did not dump them (synthetic snapshots): the planner then
   * assumes the kernel's default rules.
   */
  readonly rules?: readonly PolicyRule[];
  /** IPv4 per-device configuration (conf.all, conf.default and each device). Absent when not dumped: rp_filter off. */
  readonly netconf?: readonly Netconf[];
  /** Netfilter on the forwarding path. Absent when the source did not read it (synthetic snapshots): no firewall. */
  readonly firewall?: FirewallState;
}
