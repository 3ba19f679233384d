// Policy routing (`ip rule`) for traffic arriving on offload ports: which table
// a port's packets are looked up in, and what must stay with the kernel
// because a rule could treat it in a way the data plane can't (a source
// prefix, fwmark, uid range, protocol or ports, TOS/DSCP, suppress_*, goto,
// inverted rules, drop actions). Pure.
//
// The data plane looks up one table per ingress port and hands every miss to
// the kernel. That is exact when, for the port, the first rule that can match
// all of its traffic is `lookup T` (or the l3mdev rule of its VRF) and every
// earlier rule that can match some of it is either `lookup local` (the local
// table's destinations are kernel-only ranges in every table already) or a
// no-op. What else an earlier rule could change is handed to the kernel:
//  - only the rule's destination prefix, when it has one (punted in the
//    port's table, for every port using that table: more than needed, never less);
//  - else the whole port (both families: the port record is per device).
// Matching follows the kernel's fib_rule_match for input routing: `iif` is
// compared with the device the packet arrived on, or its VRF device for a
// VRF port (the VRF's receive hook makes that the input device); `oif` never
// matches forwarded traffic (no output device yet); a device that does not
// exist matches nothing (the kernel detaches such rules).
import type { Family } from '../model/ip.js';
import type { Link } from '../model/link.js';
import { RT_TABLE_LOCAL } from '../model/route.js';
import { ruleText, type PolicyRule } from '../model/rule.js';

const FIB_RULE_INVERT = 0x2;

/** Why traffic from a port (or to a prefix) is left to the kernel by the rules. */
export type PolicyReason =
  | 'source'
  | 'fwmark'
  | 'uidrange'
  | 'ipproto'
  | 'ports'
  | 'tos'
  | 'tun-id'
  | 'unknown-selector'
  | 'invert'
  | 'suppress'
  | 'goto'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit'
  | 'unknown-action'
  /** A rule before the port's table lookup sends (some of) its traffic to another table. */
  | 'other-table'
  /** The rules send the port's traffic to a table the agent does not offload. */
  | 'table-not-offloaded'
  /** No rule looks the port's traffic up in any table (the kernel answers it unreachable). */
  | 'no-lookup'
  /** IPv4 and IPv6 traffic of the port go to different tables; the port record holds one. */
  | 'family-tables-differ'
  /** Not a rule: a netfilter chain could act on the port's traffic (plan/firewall.ts). */
  | 'firewall'
  /** Not a rule: the port's rp_filter is on, and the data plane does not check sources. */
  | 'rp-filter';

export const POLICY_REASONS: readonly PolicyReason[] = [
  'source', 'fwmark', 'uidrange', 'ipproto', 'ports', 'tos', 'tun-id', 'unknown-selector', 'invert', 'suppress',
  'goto', 'blackhole', 'unreachable', 'prohibit', 'unknown-action', 'other-table', 'table-not-offloaded', 'no-lookup',
  'family-tables-differ', 'firewall', 'rp-filter',
];

/** Traffic the rules leave to the kernel: a whole port, or one destination prefix of a table. */
export type PolicyPunt =
  | { readonly scope: 'port'; readonly ifindex: number; readonly dev: string; readonly family: Family; readonly reason: PolicyReason; readonly rule: string | null }
  | { readonly scope: 'prefix'; readonly ifindex: number; readonly dev: string; readonly family: Family; readonly table: number; readonly dst: string; readonly reason: PolicyReason; readonly rule: string };

/** The rules' verdict for one port. */
export interface PortPolicy {
  /** Table its packets are looked up in. */
  readonly table: number;
  /** Set when everything arriving on the port must go to the kernel. */
  readonly punt: (PolicyPunt & { readonly scope: 'port' }) | null;
  /** Destination prefixes of `table` the kernel must handle (per family). */
  readonly prefixes: readonly (PolicyPunt & { readonly scope: 'prefix' })[];
}

/** What a rule's selectors other than the device ones make of the port's traffic. */
function narrowing(r: PolicyRule): PolicyReason | null {
  if (r.unknownAttrs.length > 0) return 'unknown-selector';
  if (r.src !== null) return 'source';
  if (r.fwmark !== null || (r.fwmask !== null && r.fwmask !== 0)) return 'fwmark';
  if (r.uidRange !== null) return 'uidrange';
  if (r.ipProto !== null) return 'ipproto';
  if (r.sportRange !== null || r.dportRange !== null) return 'ports';
  if (r.tos !== 0) return 'tos';
  if (r.tunId) return 'tun-id';
  return null;
}

function actionReason(r: PolicyRule): PolicyReason {
  switch (r.action) {
    case 'goto': return 'goto';
    case 'blackhole': return 'blackhole';
    case 'unreachable': return 'unreachable';
    case 'prohibit': return 'prohibit';
    case 'lookup': return r.suppressPrefixLen !== null || r.suppressIfgroup !== null ? 'suppress' : 'other-table';
    default: return 'unknown-action';
  }
}

/** The ingress facts rule matching needs about a port. */
export interface RulePort {
  readonly ifindex: number;
  readonly dev: string;
  /** Name `iif` is compared with: the port's VRF device, else the port itself. */
  readonly iifName: string;
  /** Its VRF's table, when enslaved to a VRF (what the l3mdev rule looks up). */
  readonly vrfTable: number | null;
}

type Walk =
  | { readonly kind: 'table'; readonly table: number; readonly dsts: readonly { dst: string; reason: PolicyReason; rule: PolicyRule; lookup: number | null }[] }
  | { readonly kind: 'punt'; readonly reason: PolicyReason; readonly rule: PolicyRule | null };

/** Walk one family's rules (kernel order) for traffic arriving on `port`. */
export function walkRules(rules: readonly PolicyRule[], family: Family, port: RulePort): Walk {
  const dsts: { dst: string; reason: PolicyReason; rule: PolicyRule; lookup: number | null }[] = [];
  for (const r of rules) {
    if (r.family !== family) continue;
    // A VRF port's packets reach the rules with the VRF device as input; `iif` naming the port
    // itself is taken as matching too (never guess: at worst the kernel gets traffic it would route the same).
    const iifMatch = r.iif === null || r.iif === port.iifName || r.iif === port.dev;
    const portMatch = iifMatch && r.oif === null && (!r.l3mdev || port.vrfTable !== null);
    const narrow = narrowing(r);
    let full: boolean;
    if (r.flags & FIB_RULE_INVERT) {
      // Inverted: matches what the selectors don't. Failing device selectors make it match everything.
      if (portMatch) {
        if (narrow === null && r.dst === null) continue; // matches all of it, so the inverse matches none
        return { kind: 'punt', reason: 'invert', rule: r };
      }
      if (r.l3mdev) return { kind: 'punt', reason: 'invert', rule: r };
      full = true;
    } else {
      if (!portMatch) continue;
      full = false;
    }
    if (r.action === 'nop') continue;
    const table = r.l3mdev ? port.vrfTable! : r.table;
    // The local table's destinations are kernel-only ranges in every planned table already.
    if (r.action === 'lookup' && !r.l3mdev && table === RT_TABLE_LOCAL) continue;
    const plainLookup = r.action === 'lookup' && r.suppressPrefixLen === null && r.suppressIfgroup === null;
    if (!full && r.dst !== null) {
      // Whatever else it selects, it can only take traffic to its destination prefix.
      dsts.push({ dst: `${r.dst}/${r.dstLen}`, reason: narrow ?? actionReason(r), rule: r, lookup: narrow === null && plainLookup ? table : null });
      continue;
    }
    if (!full && narrow !== null) return { kind: 'punt', reason: narrow, rule: r };
    if (plainLookup) return { kind: 'table', table, dsts };
    return { kind: 'punt', reason: actionReason(r), rule: r };
  }
  return { kind: 'punt', reason: 'no-lookup', rule: null };
}

/**
 * Every port's verdict. `rules` null (never dumped) means the kernel's
 * defaults (local, main, default; plus the l3mdev rule of each VRF): each
 * port looks up `naturalTable` and nothing is punted, as before rules were mirrored.
 */
export function portPolicies(
  rules: readonly PolicyRule[] | null,
  ports: readonly RulePort[],
  naturalTable: (ifindex: number) => number,
  served: (table: number) => boolean,
): Map<number, PortPolicy> {
  const out = new Map<number, PortPolicy>();
  for (const p of ports) {
    if (rules === null) {
      out.set(p.ifindex, { table: naturalTable(p.ifindex), punt: null, prefixes: [] });
      continue;
    }
    out.set(p.ifindex, portPolicy(rules, p, naturalTable(p.ifindex), served));
  }
  return out;
}

function portPolicy(rules: readonly PolicyRule[], p: RulePort, natural: number, served: (table: number) => boolean): PortPolicy {
  const portPunt = (family: Family, reason: PolicyReason, rule: PolicyRule | null): PortPolicy => ({
    table: natural,
    punt: { scope: 'port', ifindex: p.ifindex, dev: p.dev, family, reason, rule: rule === null ? null : ruleText(rule) },
    prefixes: [],
  });
  const w4 = walkRules(rules, 4, p);
  if (w4.kind === 'punt') return portPunt(4, w4.reason, w4.rule);
  const w6 = walkRules(rules, 6, p);
  if (w6.kind === 'punt') return portPunt(6, w6.reason, w6.rule);
  if (w4.table !== w6.table) return portPunt(6, 'family-tables-differ', null);
  const table = w4.table;
  if (!served(table)) {
    // A table the agent doesn't plan has no entries: every lookup misses and goes to the kernel anyway.
    // Said out loud only when the rules, not the config, chose that table.
    return table === natural ? { table, punt: null, prefixes: [] } : portPunt(4, 'table-not-offloaded', null);
  }
  const prefixes: (PolicyPunt & { scope: 'prefix' })[] = [];
  for (const [f, w] of [[4, w4], [6, w6]] as const) {
    for (const d of w.dsts) {
      // An earlier plain lookup of the same table changes nothing: a miss there is a miss here.
      if (d.lookup === table) continue;
      prefixes.push({ scope: 'prefix', ifindex: p.ifindex, dev: p.dev, family: f, table, dst: d.dst, reason: d.reason, rule: ruleText(d.rule) });
    }
  }
  return { table, punt: null, prefixes };
}

/** The RulePort of a link: VRF ports are matched by their VRF device's name. */
export function rulePortOf(link: Link, links: (ifindex: number) => Link | undefined): RulePort {
  const m = link.master === null ? undefined : links(link.master);
  const vrf = m !== undefined && m.kind === 'vrf' && m.vrfTable !== null ? m : undefined;
  return { ifindex: link.ifindex, dev: link.name, iifName: vrf ? vrf.name : link.name, vrfTable: vrf ? vrf.vrfTable : null };
}
