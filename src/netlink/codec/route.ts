// RTM_NEWROUTE / RTM_DELROUTE payload (struct rtmsg + RTA_*) → Route. This is
// the hot path of a full dump: one pass over the attributes, no per-attribute objects.
import type { Family } from '../../model/ip.js';
import type { Route, RouteNexthop, RouteType } from '../../model/route.js';
import { ROUTE_TYPES } from '../../model/route.js';
import { familyOfAf, readIp } from './attrs.js';
import {
  NLA_TYPE_MASK, RTA_DST, RTA_ENCAP, RTA_ENCAP_TYPE, RTA_GATEWAY, RTA_METRICS, RTA_MULTIPATH, RTA_NH_ID, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE,
  RTA_VIA, RTAX_LOCK, RTAX_MTU, RTMSG_LEN, RTM_F_CLONED, RTN_BLACKHOLE, RTN_THROW, RTNEXTHOP_LEN, RTNH_F_DEAD, RTNH_F_LINKDOWN, RTNH_F_ONLINK,
} from './constants.js';

const NO_NEXTHOPS: readonly RouteNexthop[] = Object.freeze([]);

/** struct rtvia: u16 family + address; the family is read from the address length. */
function readVia(buf: Buffer, s: number, e: number): string | null {
  return e - s >= 2 ? readIp(buf, s + 2, e - s - 2) : null;
}

const gatewayFamily = (gw: string | null): Family | null => (gw === null ? null : gw.includes(':') ? 6 : 4);

/**
 * Single-path nexthops interned by (oif, flags, gateway). A full table has
 * millions of routes but few distinct next hops; sharing one frozen [nexthop]
 * per next hop halves the objects a dump allocates. Routes are readonly, so
 * sharing is invisible. Bounded: cleared when it grows past SINGLE_CACHE_MAX.
 */
const SINGLE_CACHE_MAX = 1 << 16;
const singleCache = new Map<number, Map<number | string, readonly RouteNexthop[]>>();
let singleCacheSize = 0;
const NH_FLAG_BITS = RTNH_F_DEAD | RTNH_F_ONLINK | RTNH_F_LINKDOWN;

function singleNexthop(oif: number | null, gw4: number, gwText: string | null, flags: number): readonly RouteNexthop[] {
  // oif < 2^31 and 5 flag bits keep the outer key an exact integer; -1 marks "no oif".
  const outer = ((oif ?? -1) * 32) + (flags & NH_FLAG_BITS);
  const inner: number | string = gwText ?? gw4;
  let m = singleCache.get(outer);
  const hit = m?.get(inner);
  if (hit !== undefined) return hit;
  if (singleCacheSize >= SINGLE_CACHE_MAX) { singleCache.clear(); singleCacheSize = 0; m = undefined; }
  if (m === undefined) { m = new Map(); singleCache.set(outer, m); }
  const gateway = gwText ?? (gw4 < 0 ? null : `${gw4 >>> 24}.${(gw4 >>> 16) & 255}.${(gw4 >>> 8) & 255}.${gw4 & 255}`);
  const list = Object.freeze([Object.freeze(makeNexthop(oif === 0 ? null : oif, gateway, 1, flags))]);
  m.set(inner, list);
  singleCacheSize++;
  return list;
}

function makeNexthop(ifindex: number | null, gateway: string | null, weight: number, flags: number): RouteNexthop {
  return {
    ifindex,
    gateway,
    gatewayFamily: gatewayFamily(gateway),
    weight,
    onlink: (flags & RTNH_F_ONLINK) !== 0,
    linkdown: (flags & RTNH_F_LINKDOWN) !== 0,
    dead: (flags & RTNH_F_DEAD) !== 0,
  };
}

/**
 * ECMP sets repeat across routes just as single next hops do; intern decoded
 * RTA_MULTIPATH payloads by their bytes (a short latin1 key is cheaper than
 * the objects it saves).
 */
const multipathCache = new Map<string, readonly RouteNexthop[]>();

function cachedMultipath(buf: Buffer, s: number, e: number): readonly RouteNexthop[] {
  const key = buf.toString('latin1', s, e);
  const hit = multipathCache.get(key);
  if (hit !== undefined) return hit;
  if (multipathCache.size >= SINGLE_CACHE_MAX) multipathCache.clear();
  const list = Object.freeze(decodeMultipath(buf, s, e).map((h) => Object.freeze(h)));
  multipathCache.set(key, list);
  return list;
}

/** Does any rtnexthop in an RTA_MULTIPATH payload carry an encapsulation? */
function multipathHasEncap(buf: Buffer, s: number, e: number): boolean {
  let p = s;
  while (p + RTNEXTHOP_LEN <= e) {
    const len = buf.readUInt16LE(p);
    if (len < RTNEXTHOP_LEN || p + len > e) break;
    let q = p + RTNEXTHOP_LEN;
    const hopEnd = p + len;
    while (q + 4 <= hopEnd) {
      const l = buf.readUInt16LE(q);
      if (l < 4 || q + l > hopEnd) break;
      const t = buf.readUInt16LE(q + 2) & NLA_TYPE_MASK;
      if (t === RTA_ENCAP || t === RTA_ENCAP_TYPE) return true;
      q += (l + 3) & ~3;
    }
    p += (len + 3) & ~3;
  }
  return false;
}

/** RTA_MULTIPATH: a run of struct rtnexthop, each followed by its own RTA_GATEWAY / RTA_VIA. */
function decodeMultipath(buf: Buffer, s: number, e: number): RouteNexthop[] {
  const out: RouteNexthop[] = [];
  let p = s;
  while (p + RTNEXTHOP_LEN <= e) {
    const len = buf.readUInt16LE(p);
    if (len < RTNEXTHOP_LEN || p + len > e) break;
    const flags = buf[p + 2]!;
    const ifindex = buf.readInt32LE(p + 4);
    let gateway: string | null = null;
    let q = p + RTNEXTHOP_LEN;
    const hopEnd = p + len;
    while (q + 4 <= hopEnd) {
      const l = buf.readUInt16LE(q);
      if (l < 4 || q + l > hopEnd) break;
      const t = buf.readUInt16LE(q + 2) & NLA_TYPE_MASK;
      if (t === RTA_GATEWAY) gateway = readIp(buf, q + 4, l - 4);
      else if (t === RTA_VIA) gateway = readVia(buf, q + 4, q + l);
      q += (l + 3) & ~3;
    }
    out.push(makeNexthop(ifindex === 0 ? null : ifindex, gateway, buf[p + 3]! + 1, flags));
    p += (len + 3) & ~3;
  }
  return out;
}

/**
 * RTA_METRICS: nested u32 RTAX_* attributes. Only the MTU matters to
 * forwarding (its lock bit is kept for show and logs); 0 means unset.
 */
function readMtuMetric(buf: Buffer, s: number, e: number): { mtu: number; locked: boolean } {
  let mtu = 0;
  let lock = 0;
  let p = s;
  while (p + 4 <= e) {
    const l = buf.readUInt16LE(p);
    if (l < 4 || p + l > e) break;
    const t = buf.readUInt16LE(p + 2) & NLA_TYPE_MASK;
    if (l >= 8 && t === RTAX_MTU) mtu = buf.readUInt32LE(p + 4);
    else if (l >= 8 && t === RTAX_LOCK) lock = buf.readUInt32LE(p + 4);
    p += (l + 3) & ~3;
  }
  return { mtu, locked: mtu !== 0 && (lock & (1 << RTAX_MTU)) !== 0 };
}

/**
 * Decode one route message. Returns null for cloned/cached routes
 * (RTM_F_CLONED) and for families other than IPv4/IPv6.
 */
export function decodeRoute(buf: Buffer, off: number, end: number): Route | null {
  if (end - off < RTMSG_LEN) return null;
  const family = familyOfAf(buf[off]!);
  if (family === null) return null;
  const flags = buf.readUInt32LE(off + 8);
  if (flags & RTM_F_CLONED) return null;
  const dstLen = buf[off + 1]!;
  const tos = buf[off + 3]!;
  let table = buf[off + 4]!;
  const protocol = buf[off + 5]!;
  const scope = buf[off + 6]!;
  const rtype = buf[off + 7]!;
  const type: RouteType = ROUTE_TYPES[rtype] ?? 'unspec';

  let dst: string | null = null;
  let oif: number | null = null;
  // IPv4 gateways stay a number (big-endian u32, -1 = none) until the nexthop cache needs text.
  let gw4 = -1;
  let gateway: string | null = null;
  let priority = 0;
  let prefsrc: string | null = null;
  let nhId: number | null = null;
  let nexthops = NO_NEXTHOPS;
  let multipath = false;
  let encap = false;
  let mtu = 0;
  let mtuLocked = false;

  let pos = off + RTMSG_LEN;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    const s = pos + 4;
    const n = len - 4;
    switch (buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK) {
      case RTA_DST: dst = readIp(buf, s, n); break;
      case RTA_OIF: if (n >= 4) oif = buf.readInt32LE(s); break;
      case RTA_GATEWAY:
        if (n === 4) { gw4 = buf.readUInt32BE(s); gateway = null; } else { gateway = readIp(buf, s, n); gw4 = -1; }
        break;
      case RTA_PRIORITY: if (n >= 4) priority = buf.readUInt32LE(s); break;
      case RTA_PREFSRC: prefsrc = readIp(buf, s, n); break;
      case RTA_MULTIPATH: nexthops = cachedMultipath(buf, s, s + n); multipath = true; encap ||= multipathHasEncap(buf, s, s + n); break;
      case RTA_ENCAP: case RTA_ENCAP_TYPE: encap = true; break;
      case RTA_TABLE: if (n >= 4) table = buf.readUInt32LE(s); break;
      case RTA_VIA: gateway = readVia(buf, s, s + n); gw4 = -1; break;
      case RTA_NH_ID: if (n >= 4) nhId = buf.readUInt32LE(s); break;
      case RTA_METRICS: ({ mtu, locked: mtuLocked } = readMtuMetric(buf, s, s + n)); break;
      default: break;
    }
    pos += (len + 3) & ~3;
  }
  // A single-path route carries its nexthop flags in rtm_flags. Reject routes
  // (blackhole..throw) have no nexthop, though IPv6 and compat-mode expansions report RTA_OIF lo.
  if (rtype >= RTN_BLACKHOLE && rtype <= RTN_THROW) nexthops = NO_NEXTHOPS;
  else if (!multipath && (oif !== null || gateway !== null || gw4 >= 0)) {
    nexthops = singleNexthop(oif, gw4, gateway, flags);
  }
  return {
    table,
    family,
    dst: dst ?? (family === 4 ? '0.0.0.0' : '::'),
    dstLen,
    type,
    protocol,
    priority,
    scope,
    tos,
    nhId,
    nexthops,
    prefsrc,
    flags,
    ...(encap ? { encap: true as const } : {}),
    ...(mtu !== 0 ? { mtu } : {}),
    ...(mtuLocked ? { mtuLocked: true as const } : {}),
  };
}
