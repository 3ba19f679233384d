// zebra's FPM messages (netlink inside FPM frames) decoded with the kernel
// codec, and the replies built from them. A reply is zebra's own
// RTM_NEWROUTE sent back with NLM_F_REQUEST and the offload flags in
// rtm_flags: zebra (dplane_fpm_nl, 8.5+) parses it like a kernel
// notification and matches it to its route by table, prefix, type and
// nexthops, so echoing its bytes is what matches reliably.
import { forEachMessage } from '../netlink/codec/header.js';
import { decodeNexthop } from '../netlink/codec/nexthop.js';
import { decodeRoute } from '../netlink/codec/route.js';
import {
  NLMSG_HDRLEN, NLM_F_REQUEST, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWNEXTHOP, RTM_NEWROUTE, RTMSG_LEN,
} from '../netlink/codec/constants.js';
import type { NexthopObject } from '../model/nexthop.js';
import type { Route } from '../model/route.js';

// rtm_flags the kernel's drivers set (include/uapi/linux/rtnetlink.h) and zebra reads back.
export const RTM_F_OFFLOAD = 0x4000;
export const RTM_F_TRAP = 0x8000;
export const RTM_F_OFFLOAD_FAILED = 0x20000000;
const HW_FLAGS = RTM_F_OFFLOAD | RTM_F_TRAP | RTM_F_OFFLOAD_FAILED;

export type ZebraMessage =
  | { readonly kind: 'route'; readonly op: 'new' | 'del'; readonly route: Route; readonly raw: Buffer }
  | { readonly kind: 'nexthop'; readonly op: 'new' | 'del'; readonly nexthop: NexthopObject }
  /** Types zebra may send that the agent doesn't use (MPLS LSPs, MAC/neighbour for EVPN, ...), or records the codec skips. */
  | { readonly kind: 'other'; readonly type: number };

/** Decode the netlink message(s) of one FPM frame. `raw` is a copy: it outlives the read buffer. */
export function decodeZebra(payload: Buffer): ZebraMessage[] {
  const out: ZebraMessage[] = [];
  forEachMessage(payload, (type, _flags, _seq, _pid, buf, off, end) => {
    if (type === RTM_NEWROUTE || type === RTM_DELROUTE) {
      const route = decodeRoute(buf, off, end);
      if (route) {
        out.push({ kind: 'route', op: type === RTM_NEWROUTE ? 'new' : 'del', route, raw: Buffer.from(buf.subarray(off - NLMSG_HDRLEN, end)) });
        return;
      }
    } else if (type === RTM_NEWNEXTHOP || type === RTM_DELNEXTHOP) {
      const nexthop = decodeNexthop(buf, off, end);
      if (nexthop) {
        out.push({ kind: 'nexthop', op: type === RTM_NEWNEXTHOP ? 'new' : 'del', nexthop });
        return;
      }
    }
    out.push({ kind: 'other', type });
  });
  return out;
}

/**
 * zebra's RTM_NEWROUTE (header included) with NLM_F_REQUEST as its only
 * header flag (dplane_fpm_nl skips anything else) and `flags` as the
 * offload bits of rtm_flags; every other byte as zebra sent it.
 */
export function buildReply(raw: Buffer, flags: number): Buffer {
  if (raw.length < NLMSG_HDRLEN + RTMSG_LEN) throw new RangeError(`route message of ${raw.length} bytes is shorter than nlmsghdr + rtmsg`);
  const out = Buffer.from(raw);
  out.writeUInt16LE(RTM_NEWROUTE, 4);
  out.writeUInt16LE(NLM_F_REQUEST, 6);
  const at = NLMSG_HDRLEN + 8; // rtm_flags
  out.writeUInt32LE(((out.readUInt32LE(at) & ~HW_FLAGS) | (flags & HW_FLAGS)) >>> 0, at);
  return out;
}
