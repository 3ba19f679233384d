// A policy routing rule (`ip rule`, RTM_NEWRULE) exactly as reported: the
// selectors and action of one entry of the kernel's fib rules list.
import type { Family } from './ip.js';

export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit' | 'unspec';

/** fib_rule_hdr.action → name; an action number outside this list is kept as 'unspec' (never honoured). */
export const RULE_ACTIONS: Readonly<Record<number, RuleAction>> = {
  1: 'lookup', 2: 'goto', 3: 'nop', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit',
};

export interface PolicyRule {
  readonly family: Family;
  /** FRA_PRIORITY (the preference); 0 when absent (the kernel omits it for 0). */
  readonly priority: number;
  readonly action: RuleAction;
  /** FRA_TABLE, else fib_rule_hdr.table; 0 for actions without a table. */
  readonly table: number;
  /** Source / destination prefix selectors (network address, canonical text); null = any. */
  readonly src: string | null;
  readonly srcLen: number;
  readonly dst: string | null;
  readonly dstLen: number;
  /** fib_rule_hdr.tos: IPv4 TOS / IPv6 traffic class selector; 0 = any. */
  readonly tos: number;
  /** FRA_IIFNAME / FRA_OIFNAME: device names as given (the device may not exist). */
  readonly iif: string | null;
  readonly oif: string | null;
  /** FRA_FWMARK / FRA_FWMASK (the kernel reports the mask whenever a mark is set). */
  readonly fwmark: number | null;
  readonly fwmask: number | null;
  /** FRA_GOTO target preference. */
  readonly gotoTarget: number | null;
  /** FRA_SUPPRESS_PREFIXLEN / FRA_SUPPRESS_IFGROUP; null when unset (the kernel reports -1 for the former). */
  readonly suppressPrefixLen: number | null;
  readonly suppressIfgroup: number | null;
  /** FRA_L3MDEV: look up the table of the l3mdev (VRF) the packet arrived through. */
  readonly l3mdev: boolean;
  readonly uidRange: { readonly start: number; readonly end: number } | null;
  /** FRA_IP_PROTO; null = any. */
  readonly ipProto: number | null;
  readonly sportRange: { readonly start: number; readonly end: number } | null;
  readonly dportRange: { readonly start: number; readonly end: number } | null;
  /** FRA_TUN_ID present (metadata tunnels). */
  readonly tunId: boolean;
  /** FRA_PROTOCOL: who installed it (kernel, boot, zebra, ...). */
  readonly protocol: number;
  /** fib_rule_hdr.flags, raw (FIB_RULE_INVERT, *_DETACHED, ...). */
  readonly flags: number;
  /**
   * Attribute types this codec does not know (a newer kernel's selectors,
   * e.g. DSCP masks or the flow label): their meaning is unknown, so a rule
   * carrying one is never honoured by the offload.
   */
  readonly unknownAttrs: readonly number[];
}

/** Identity of a rule in the kernel: every field RTM_DELRULE matches on, so equal rules share it. */
export function ruleKey(r: PolicyRule): string {
  return [
    r.family, r.priority, r.action, r.table, r.src ?? '', r.srcLen, r.dst ?? '', r.dstLen, r.tos,
    r.iif ?? '', r.oif ?? '', r.fwmark ?? '', r.fwmask ?? '', r.gotoTarget ?? '', r.suppressPrefixLen ?? '',
    r.suppressIfgroup ?? '', r.l3mdev ? 1 : 0, r.uidRange ? `${r.uidRange.start}-${r.uidRange.end}` : '',
    r.ipProto ?? '', r.sportRange ? `${r.sportRange.start}-${r.sportRange.end}` : '',
    r.dportRange ? `${r.dportRange.start}-${r.dportRange.end}` : '', r.tunId ? 1 : 0,
    // Only the invert bit is part of what a rule selects; *_DETACHED follow the devices.
    r.flags & 0x2, r.unknownAttrs.join('.'),
  ].join('|');
}

/** `ip rule` style one-line text, for logs, plan output and /status. */
export function ruleText(r: PolicyRule): string {
  const parts: string[] = [`${r.priority}:`];
  if (r.flags & 0x2) parts.push('not');
  parts.push(r.src === null ? 'from all' : `from ${r.src}/${r.srcLen}`);
  if (r.dst !== null) parts.push(`to ${r.dst}/${r.dstLen}`);
  if (r.tos !== 0) parts.push(`tos 0x${r.tos.toString(16)}`);
  if (r.fwmark !== null) parts.push(`fwmark 0x${r.fwmark.toString(16)}${r.fwmask !== null && r.fwmask !== 0xffffffff ? `/0x${r.fwmask.toString(16)}` : ''}`);
  if (r.iif !== null) parts.push(`iif ${r.iif}`);
  if (r.oif !== null) parts.push(`oif ${r.oif}`);
  if (r.uidRange) parts.push(`uidrange ${r.uidRange.start}-${r.uidRange.end}`);
  if (r.ipProto !== null) parts.push(`ipproto ${r.ipProto}`);
  if (r.sportRange) parts.push(`sport ${r.sportRange.start}-${r.sportRange.end}`);
  if (r.dportRange) parts.push(`dport ${r.dportRange.start}-${r.dportRange.end}`);
  if (r.tunId) parts.push('tun_id');
  if (r.l3mdev) parts.push('lookup [l3mdev-table]');
  else if (r.action === 'lookup') parts.push(`lookup ${r.table === 254 ? 'main' : r.table === 255 ? 'local' : r.table === 253 ? 'default' : r.table}`);
  else if (r.action === 'goto') parts.push(`goto ${r.gotoTarget ?? '?'}`);
  else parts.push(r.action);
  if (r.suppressPrefixLen !== null) parts.push(`suppress_prefixlength ${r.suppressPrefixLen}`);
  if (r.suppressIfgroup !== null) parts.push(`suppress_ifgroup ${r.suppressIfgroup}`);
  if (r.unknownAttrs.length > 0) parts.push(`[attrs ${r.unknownAttrs.join(',')}]`);
  return parts.join(' ');
}
