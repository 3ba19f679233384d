// RTM_NEWNEXTHOP / RTM_DELNEXTHOP payload (struct nhmsg + NHA_*) → NexthopObject.
import type { IpAddr } from '../../model/ip.js';
import type { NexthopGroupMember, NexthopObject } from '../../model/nexthop.js';
import { familyOfAf, readIpOf } from './attrs.js';
import {
  NEXTHOP_GRP_LEN, NEXTHOP_GRP_TYPE_RES, NHA_BLACKHOLE, NHA_ENCAP, NHA_ENCAP_TYPE, NHA_FDB, NHA_GATEWAY, NHA_GROUP, NHA_GROUP_TYPE, NHA_ID,
  NHA_OIF, NHA_RES_GROUP, NHA_RES_GROUP_BUCKETS, NHMSG_LEN, NLA_TYPE_MASK, RTNH_F_DEAD, RTNH_F_LINKDOWN,
  RTNH_F_ONLINK,
} from './constants.js';

/** NHA_GROUP: array of struct nexthop_grp. */
function decodeGroup(buf: Buffer, s: number, e: number): NexthopGroupMember[] {
  const out: NexthopGroupMember[] = [];
  for (let p = s; p + NEXTHOP_GRP_LEN <= e; p += NEXTHOP_GRP_LEN) {
    // The kernel stores weight-1; 6.12+ puts the high byte of a 16-bit weight in what was resvd1.
    out.push({ id: buf.readUInt32LE(p), weight: ((buf[p + 5]! << 8) | buf[p + 4]!) + 1 });
  }
  return out;
}

function decodeResBuckets(buf: Buffer, s: number, e: number): number | null {
  let p = s;
  while (p + 4 <= e) {
    const l = buf.readUInt16LE(p);
    if (l < 4 || p + l > e) break;
    if ((buf.readUInt16LE(p + 2) & NLA_TYPE_MASK) === NHA_RES_GROUP_BUCKETS && l >= 6) return buf.readUInt16LE(p + 4);
    p += (l + 3) & ~3;
  }
  return null;
}

/** Decode one nexthop message; null when it has no NHA_ID. */
export function decodeNexthop(buf: Buffer, off: number, end: number): NexthopObject | null {
  if (end - off < NHMSG_LEN) return null;
  const fam = familyOfAf(buf[off]!);
  const protocol = buf[off + 2]!;
  const flags = buf.readUInt32LE(off + 4);
  let id: number | null = null;
  let blackhole = false;
  let oif: number | null = null;
  let gateway: IpAddr | null = null;
  let group: NexthopGroupMember[] | null = null;
  let groupType: 'mpath' | 'resilient' | null = null;
  let resilientBuckets: number | null = null;
  let fdb = false;
  let encap = false;

  let pos = off + NHMSG_LEN;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    const s = pos + 4;
    const e = pos + len;
    switch (buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK) {
      case NHA_ID: if (len >= 8) id = buf.readUInt32LE(s); break;
      case NHA_GROUP: group = decodeGroup(buf, s, e); break;
      case NHA_GROUP_TYPE: if (len >= 6) groupType = buf.readUInt16LE(s) === NEXTHOP_GRP_TYPE_RES ? 'resilient' : 'mpath'; break;
      case NHA_BLACKHOLE: blackhole = true; break;
      case NHA_OIF: if (len >= 8) oif = buf.readUInt32LE(s); break;
      case NHA_GATEWAY: {
        // The gateway's family is nhm_family; an IPv6 nexthop may serve IPv4 routes.
        const address = fam === null ? null : readIpOf(buf, s, len - 4, fam);
        if (address !== null && fam !== null) gateway = { family: fam, address };
        break;
      }
      case NHA_FDB: fdb = true; break;
      case NHA_ENCAP: case NHA_ENCAP_TYPE: encap = true; break;
      case NHA_RES_GROUP: resilientBuckets = decodeResBuckets(buf, s, e); break;
      default: break;
    }
    pos += (len + 3) & ~3;
  }
  if (id === null) return null;
  // Older kernels omit NHA_GROUP_TYPE for plain multipath groups.
  if (group !== null && groupType === null) groupType = 'mpath';
  return {
    id,
    family: fam ?? 0,
    protocol,
    blackhole,
    oif,
    gateway,
    onlink: (flags & RTNH_F_ONLINK) !== 0,
    dead: (flags & RTNH_F_DEAD) !== 0,
    linkdown: (flags & RTNH_F_LINKDOWN) !== 0,
    group,
    groupType,
    resilientBuckets,
    fdb,
  };
}
