// Request payloads the adapter sends: the full-dump sequence and the
// neighbour keepalive (NTF_USE). Headers/flags are the transport's business.
import type { Family } from '../../model/ip.js';
import { parseIp } from '../../model/ip.js';
import { afOfFamily } from './attrs.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC, IFADDRMSG_LEN, IFINFOMSG_LEN, NDA_DST, NDMSG_LEN, NHMSG_LEN, NTF_USE, RTMSG_LEN,
  FIB_RULE_HDR_LEN, RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETNEXTHOP, RTM_GETROUTE, RTM_GETRULE, RT_TABLE_UNSPEC,
} from './constants.js';
import { encodeAttr } from './header.js';
import { NETCONFMSG_LEN, RTM_GETNETCONF } from './netconf.js';

export interface DumpRequest {
  /** nlmsg_type (RTM_GET*); send with NLM_F_REQUEST | NLM_F_DUMP. */
  readonly type: number;
  readonly payload: Buffer;
  /** For logs and errors, e.g. 'routes v4'. */
  readonly what: string;
  /**
   * Errnos meaning the kernel has no such table at all (not a failure): a
   * kernel without CONFIG_IP_MULTIPLE_TABLES answers RTM_GETRULE with
   * EOPNOTSUPP, and looks up only the local and main tables.
   */
  readonly absentOn?: readonly string[];
}

function withFamily(len: number, af: number): Buffer {
  const b = Buffer.alloc(len);
  b[0] = af;
  return b;
}

/** struct rtmsg for a dump of every table of one family (rtm_table = RT_TABLE_UNSPEC). */
function routeDump(af: number): Buffer {
  const b = withFamily(RTMSG_LEN, af);
  b[4] = RT_TABLE_UNSPEC;
  return b;
}

/**
 * The full dump, in the order the mirror wants it: links before what refers
 * to them, nexthop objects before routes that use RTA_NH_ID, then the policy rules. Neighbours are
 * dumped per IP family so bridge FDB entries never come back.
 */
export const DUMPS: readonly DumpRequest[] = Object.freeze([
  { type: RTM_GETLINK, payload: withFamily(IFINFOMSG_LEN, AF_UNSPEC), what: 'links' },
  { type: RTM_GETADDR, payload: withFamily(IFADDRMSG_LEN, AF_UNSPEC), what: 'addresses' },
  { type: RTM_GETNEIGH, payload: withFamily(NDMSG_LEN, AF_INET), what: 'neighbours v4' },
  { type: RTM_GETNEIGH, payload: withFamily(NDMSG_LEN, AF_INET6), what: 'neighbours v6' },
  { type: RTM_GETNEXTHOP, payload: withFamily(NHMSG_LEN, AF_UNSPEC), what: 'nexthops' },
  { type: RTM_GETROUTE, payload: routeDump(AF_INET), what: 'routes v4' },
  { type: RTM_GETROUTE, payload: routeDump(AF_INET6), what: 'routes v6' },
  // Every family at once: asking for AF_INET6 alone fails (EAFNOSUPPORT) where IPv6 is disabled.
  // The IPMR/IP6MR rules that come back too are dropped by the decoder.
  { type: RTM_GETRULE, payload: withFamily(FIB_RULE_HDR_LEN, AF_UNSPEC), what: 'rules', absentOn: ['EOPNOTSUPP', 'ENOTSUP'] },
  // conf.all, conf.default and every device: rp_filter.
  { type: RTM_GETNETCONF, payload: withFamily(NETCONFMSG_LEN, AF_INET), what: 'netconf v4', absentOn: ['EOPNOTSUPP', 'ENOTSUP'] },
].map((d) => Object.freeze(d)));

/**
 * RTM_NEWNEIGH payload asking the kernel to "use" a neighbour (NTF_USE):
 * it refreshes or re-probes the entry as if traffic had been sent to it,
 * which the offloaded traffic no longer does. Send with NLM_F_REQUEST (| NLM_F_ACK).
 */
export function encodeNeighborUse(ifindex: number, family: Family, address: string): Buffer {
  const dst = parseIp(address);
  if (dst.length !== (family === 4 ? 4 : 16)) throw new RangeError(`${address} is not an IPv${family} address`);
  const nd = Buffer.alloc(NDMSG_LEN);
  nd[0] = afOfFamily(family);
  nd.writeInt32LE(ifindex, 4);
  nd.writeUInt16LE(0, 8); // ndm_state: ignored by the kernel for NTF_USE
  nd[10] = NTF_USE;
  return Buffer.concat([nd, encodeAttr(NDA_DST, dst)]);
}

