// Per-device IPv4 configuration the kernel reports over rtnetlink
// (RTM_NEWNETCONF, struct netconfmsg + NETCONFA_*): what the forwarding path
// consults per packet besides the tables. A notification carries only what
// changed; the mirror merges it into the record.

/** NETCONFA_IFINDEX values that are not devices. */
export const NETCONF_ALL = -1;
export const NETCONF_DEFAULT = -2;

export interface Netconf {
  /** A device's ifindex, or NETCONF_ALL (net.ipv4.conf.all), NETCONF_DEFAULT (conf.default). */
  readonly ifindex: number;
  /** net.ipv4.conf.X.rp_filter: 0 off, 1 strict, 2 loose; null when the message did not carry it. */
  readonly rpFilter: number | null;
  readonly forwarding: number | null;
}

/** What the kernel applies on a device: max(conf.all, conf.DEV) (IN_DEV_MAXCONF). */
export type RpFilter = 'off' | 'strict' | 'loose';

export function effectiveRpFilter(all: number | null, dev: number | null): RpFilter {
  const v = Math.max(all ?? 0, dev ?? 0);
  return v === 0 ? 'off' : v === 1 ? 'strict' : 'loose';
}

/** Merge a notification (only the changed attributes) into the record it updates. */
export function mergeNetconf(old: Netconf | undefined, n: Netconf): Netconf {
  if (!old) return n;
  return { ifindex: n.ifindex, rpFilter: n.rpFilter ?? old.rpFilter, forwarding: n.forwarding ?? old.forwarding };
}
