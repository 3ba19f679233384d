// RTM_NEWNETCONF / RTM_DELNETCONF payload (struct netconfmsg, then NETCONFA_*)
// → Netconf. IPv4 only: rp_filter has no IPv6 counterpart in the kernel.
import type { Netconf } from '../../model/netconf.js';
import { AF_INET } from './constants.js';
import { forEachAttr } from './header.js';

export const RTM_NEWNETCONF = 80;
export const RTM_DELNETCONF = 81;
export const RTM_GETNETCONF = 82;
export const RTNLGRP_IPV4_NETCONF = 24;
/** struct netconfmsg is one byte (ncm_family), padded to 4. */
export const NETCONFMSG_LEN = 4;

const NETCONFA_IFINDEX = 1;
const NETCONFA_FORWARDING = 2;
const NETCONFA_RP_FILTER = 3;

/** Decode one message; null for families other than IPv4 or without an ifindex. */
export function decodeNetconf(buf: Buffer, off: number, end: number): Netconf | null {
  if (end - off < 1 || buf[off] !== AF_INET) return null;
  let ifindex: number | null = null;
  let rpFilter: number | null = null;
  let forwarding: number | null = null;
  forEachAttr(buf, off + NETCONFMSG_LEN, end, (t, s, e) => {
    if (e - s < 4) return;
    if (t === NETCONFA_IFINDEX) ifindex = buf.readInt32LE(s);
    else if (t === NETCONFA_RP_FILTER) rpFilter = buf.readInt32LE(s);
    else if (t === NETCONFA_FORWARDING) forwarding = buf.readInt32LE(s);
  });
  return ifindex === null ? null : { ifindex, rpFilter, forwarding };
}
