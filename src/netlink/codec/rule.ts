// RTM_NEWRULE / RTM_DELRULE payload (struct fib_rule_hdr + FRA_*) → PolicyRule.
// Rules are few: clarity over speed; every attribute is either understood or
// recorded as unknown, so the planner never honours a selector it can't read.
import { RULE_ACTIONS, type PolicyRule } from '../../model/rule.js';
import { formatIp, maskBytes, parseIp } from '../../model/ip.js';
import { familyOfAf, readIpOf, readString } from './attrs.js';
import {
  FIB_RULE_HDR_LEN, FRA_DPORT_RANGE, FRA_DST, FRA_FLOW, FRA_FWMARK, FRA_FWMASK, FRA_GOTO, FRA_IIFNAME, FRA_IP_PROTO,
  FRA_L3MDEV, FRA_OIFNAME, FRA_PAD, FRA_PRIORITY, FRA_PROTOCOL, FRA_SPORT_RANGE, FRA_SRC, FRA_SUPPRESS_IFGROUP,
  FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_TUN_ID, FRA_UID_RANGE, NLA_TYPE_MASK,
} from './constants.js';

const UNSET = 0xffffffff;

/** The kernel keeps a rule's address as given and masks at match time: the network address is what it selects. */
function network(address: string | null, len: number): string | null {
  return address === null ? null : formatIp(maskBytes(parseIp(address), len));
}

function range16(buf: Buffer, s: number, e: number): { start: number; end: number } | null {
  return e - s >= 4 ? { start: buf.readUInt16LE(s), end: buf.readUInt16LE(s + 2) } : null;
}

/** Decode one rule message; null for families other than IPv4/IPv6 (e.g. IPMR, MPLS). */
export function decodeRule(buf: Buffer, off: number, end: number): PolicyRule | null {
  if (end - off < FIB_RULE_HDR_LEN) return null;
  const family = familyOfAf(buf[off]!);
  if (family === null) return null;
  const dstLen = buf[off + 1]!;
  const srcLen = buf[off + 2]!;
  const tos = buf[off + 3]!;
  let table = buf[off + 4]!;
  const actionNum = buf[off + 7]!;
  const flags = buf.readUInt32LE(off + 8);
  let src: string | null = null;
  let dst: string | null = null;
  let iif: string | null = null;
  let oif: string | null = null;
  let priority = 0;
  let fwmark: number | null = null;
  let fwmask: number | null = null;
  let gotoTarget: number | null = null;
  let suppressPrefixLen: number | null = null;
  let suppressIfgroup: number | null = null;
  let l3mdev = false;
  let uidRange: { start: number; end: number } | null = null;
  let ipProto: number | null = null;
  let sportRange: { start: number; end: number } | null = null;
  let dportRange: { start: number; end: number } | null = null;
  let tunId = false;
  let protocol = 0;
  const unknownAttrs: number[] = [];
  const u32 = (s: number, e: number): number | null => (e - s >= 4 ? buf.readUInt32LE(s) : null);

  for (let pos = off + FIB_RULE_HDR_LEN; pos + 4 <= end;) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    const type = buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK;
    const s = pos + 4;
    const e = pos + len;
    pos += (len + 3) & ~3;
    switch (type) {
      case FRA_DST: dst = readIpOf(buf, s, e - s, family); break;
      case FRA_SRC: src = readIpOf(buf, s, e - s, family); break;
      case FRA_IIFNAME: iif = readString(buf, s, e); break;
      case FRA_OIFNAME: oif = readString(buf, s, e); break;
      case FRA_PRIORITY: priority = u32(s, e) ?? 0; break;
      case FRA_TABLE: table = u32(s, e) ?? table; break;
      case FRA_FWMARK: fwmark = u32(s, e); break;
      case FRA_FWMASK: fwmask = u32(s, e); break;
      case FRA_GOTO: gotoTarget = u32(s, e); break;
      case FRA_SUPPRESS_PREFIXLEN: { const v = u32(s, e); suppressPrefixLen = v === null || v === UNSET ? null : v; break; }
      case FRA_SUPPRESS_IFGROUP: { const v = u32(s, e); suppressIfgroup = v === null || v === UNSET ? null : v; break; }
      case FRA_L3MDEV: l3mdev = e > s && buf[s] !== 0; break;
      case FRA_UID_RANGE: if (e - s >= 8) uidRange = { start: buf.readUInt32LE(s), end: buf.readUInt32LE(s + 4) }; break;
      case FRA_PROTOCOL: protocol = e > s ? buf[s]! : 0; break;
      case FRA_IP_PROTO: ipProto = e > s ? buf[s]! : null; break;
      case FRA_SPORT_RANGE: sportRange = range16(buf, s, e); break;
      case FRA_DPORT_RANGE: dportRange = range16(buf, s, e); break;
      case FRA_TUN_ID: tunId = true; break;
      // IPv4 realms: accounting only, no effect on where a packet goes.
      case FRA_FLOW: break;
      case FRA_PAD: break;
      default: unknownAttrs.push(type); break;
    }
  }
  // A prefix length without a readable address: a selector we can't read is never taken as "any".
  if (srcLen > 0 && src === null) unknownAttrs.push(FRA_SRC);
  if (dstLen > 0 && dst === null) unknownAttrs.push(FRA_DST);
  // The kernel reports the default mask (all ones) with any mark; a mark of 0 with no mask selects nothing.
  if (fwmark === 0 && (fwmask === null || fwmask === 0)) { fwmark = null; fwmask = null; }
  return {
    family, priority, action: RULE_ACTIONS[actionNum] ?? 'unspec', table,
    src: srcLen > 0 ? network(src, srcLen) : null, srcLen: srcLen > 0 && src !== null ? srcLen : 0,
    dst: dstLen > 0 ? network(dst, dstLen) : null, dstLen: dstLen > 0 && dst !== null ? dstLen : 0,
    tos, iif, oif, fwmark, fwmask, gotoTarget, suppressPrefixLen, suppressIfgroup, l3mdev, uidRange, ipProto,
    sportRange, dportRange, tunId, protocol, flags, unknownAttrs,
  };
}
