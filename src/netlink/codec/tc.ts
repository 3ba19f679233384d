// The tc codec: flat filter structs ⇄ RTM_*TFILTER / RTM_*QDISC payloads.
// Pure, no I/O. Encoding follows iproute2 6.1's `tc` byte for byte (attribute
// order, nest flags, padding inside nests) so the golden tests can compare
// with captured requests; decoding reads what the kernel dumps or echoes.
// The struct helpers alone: the package's index loads every generated protocol definition (slow to start).
import { formatAttribute } from 'netlink/dist/structs.js';
import { AF_UNSPEC, NLM_F_CREATE, NLM_F_EXCL } from './constants.js';
import { forEachAttr } from './header.js';
import {
  ETH_P_IP, ETH_P_IPV6, PEDIT_CMD_ADD, PEDIT_CMD_SET, PEDIT_HTYPE_ETH, PEDIT_HTYPE_IP4, PEDIT_HTYPE_IP6,
  TCA_ACT_COOKIE, TCA_ACT_KIND, TCA_ACT_OPTIONS, TCA_ACT_STATS, TCA_CHAIN, TCA_CLS_FLAGS_IN_HW,
  TCA_CLS_FLAGS_NOT_IN_HW, TCA_CLS_FLAGS_SKIP_HW, TCA_CLS_FLAGS_SKIP_SW, TCA_CSUM_PARMS, TCA_CSUM_TM,
  TCA_CSUM_UPDATE_FLAG_IPV4HDR, TCA_EGRESS_REDIR, TCA_FLOWER_ACT, TCA_FLOWER_FLAGS, TCA_FLOWER_INDEV, TCA_FLOWER_IN_HW_COUNT,
  TCA_FLOWER_KEY_ETH_DST, TCA_FLOWER_KEY_ETH_DST_MASK,
  TCA_FLOWER_KEY_ETH_TYPE, TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK, TCA_FLOWER_KEY_IPV4_SRC,
  TCA_FLOWER_KEY_IPV4_SRC_MASK, TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK, TCA_FLOWER_KEY_IPV6_SRC,
  TCA_FLOWER_KEY_IPV6_SRC_MASK, TCA_FLOWER_KEY_IP_TTL, TCA_FLOWER_KEY_IP_TTL_MASK, TCA_GACT_PARMS, TCA_GACT_TM,
  TCA_INGRESS_BLOCK, TCA_KIND, TCA_MIRRED_PARMS, TCA_MIRRED_TM, TCA_OPTIONS, TCA_PEDIT_KEYS_EX, TCA_PEDIT_KEY_EX,
  TCA_PEDIT_KEY_EX_CMD, TCA_PEDIT_KEY_EX_HTYPE, TCA_PEDIT_PARMS_EX, TCA_PEDIT_TM, TCA_STATS_BASIC,
  TCA_STATS_BASIC_HW, TCMSG_LEN, TCM_IFINDEX_MAGIC_BLOCK, TC_ACT_EXT_VAL_MASK, TC_ACT_GOTO_CHAIN, TC_ACT_OK,
  TC_ACT_PIPE, TC_ACT_STOLEN, TC_COOKIE_MAX_SIZE, TC_H_CLSACT, TC_H_CLSACT_HANDLE, RTM_DELQDISC, RTM_DELTFILTER,
  RTM_GETQDISC, RTM_GETTFILTER, RTM_NEWQDISC, RTM_NEWTFILTER, USER_HZ,
} from '../../tc/constants.js';

export type EthProto = 'ip' | 'ipv6';

/** Where a filter lives. `handle` 0 on add lets the kernel choose. */
export interface FilterId {
  readonly block: number;
  readonly chain: number;
  readonly prio: number;
  readonly proto: EthProto;
  readonly handle: number;
}

export interface MaskedAddr {
  /** 4 or 16 bytes, already masked. */
  readonly addr: Uint8Array;
  readonly mask: Uint8Array;
}

/** Flower keys, encoded in this order (the order of iproute2's command line `ip_ttl`, `dst_ip`, `src_ip`). */
export interface FlowerMatch {
  /** The ingress device (flower indev): in a shared block, which port the frame came in on. */
  readonly indev?: string;
  /** Ethernet destination address and mask (flower dst_mac). */
  readonly dstMac?: { readonly addr: Uint8Array; readonly mask: Uint8Array };
  readonly ttl?: { readonly value: number; readonly mask: number };
  readonly dst?: MaskedAddr;
  readonly src?: MaskedAddr;
}

export type TcAction =
  | { readonly kind: 'pass' }
  | { readonly kind: 'goto'; readonly chain: number }
  /** pedit ex: eth dst, eth src, TTL / hop limit add 0xff (minus one), control pipe. */
  | { readonly kind: 'rewrite'; readonly family: 4 | 6; readonly dmac: Uint8Array; readonly smac: Uint8Array }
  /** csum ip4h, control pipe. */
  | { readonly kind: 'csum-ip4h' }
  | { readonly kind: 'redirect'; readonly ifindex: number };

/** none: software and hardware; skip_sw: hardware only; skip_hw: software only. */
export type FilterPlacement = 'none' | 'skip_sw' | 'skip_hw';

export interface FlowerFilter {
  readonly id: FilterId;
  readonly placement: FilterPlacement;
  readonly match: FlowerMatch;
  readonly actions: readonly TcAction[];
  /** Carried by every action: the agent's mark (≤ 16 bytes). */
  readonly cookie: Uint8Array;
}

export type FilterOp = 'add' | 'replace';

export interface TcRequest {
  readonly type: number;
  /** Netlink flags beyond NLM_F_REQUEST | NLM_F_ACK (which the transport adds). */
  readonly flags: number;
  readonly payload: Buffer;
}

// ---- attribute building (formatAttribute, with iproute2's padding) ----

type Bufs = Uint8Array[];
const PAD = [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)] as const;

function size(bufs: Bufs): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/**
 * One attribute plus the padding after it. iproute2 counts the padding of a
 * nest's last child in the nest's length (addattr_nest_end measures to the
 * aligned tail), so every attribute carries its own trailing pad.
 */
function attr(type: number, data: Uint8Array | Bufs, nested = false): Bufs {
  const parts = formatAttribute({ type, data, nested });
  parts.push(PAD[(4 - (size(parts) % 4)) % 4]!);
  return parts;
}
const u8 = (v: number): Buffer => Buffer.of(v & 0xff);
function u16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; }
function u16be(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }
function u32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; }
const str = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');

/** struct tc_gen: index, capab, action, refcnt, bindcnt. */
function tcGen(action: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeInt32LE(action | 0, 8);
  return b;
}

export function tcmsg(ifindex: number, handle: number, parent: number, info: number): Buffer {
  const b = Buffer.alloc(TCMSG_LEN);
  b[0] = AF_UNSPEC;
  b.writeUInt32LE(ifindex >>> 0, 4);
  b.writeUInt32LE(handle >>> 0, 8);
  b.writeUInt32LE(parent >>> 0, 12);
  b.writeUInt32LE(info >>> 0, 16);
  return b;
}

const ETH_TYPE: Readonly<Record<EthProto, number>> = { ip: ETH_P_IP, ipv6: ETH_P_IPV6 };
const htons = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);

/** tcm_info: priority in the upper 16 bits, protocol (network order) in the lower. */
function filterInfo(id: Pick<FilterId, 'prio' | 'proto'>): number {
  return ((id.prio << 16) | htons(ETH_TYPE[id.proto])) >>> 0;
}

function filterHead(id: FilterId): Buffer {
  return tcmsg(TCM_IFINDEX_MAGIC_BLOCK, id.handle, id.block, filterInfo(id));
}

// ---- actions ----

interface PeditKey { readonly off: number; readonly val: Buffer; readonly mask: Buffer; readonly htype: number; readonly cmd: number }

/**
 * Bytes `value` written at header offset `off`, split into aligned 32-bit
 * keys the way iproute2 packs them: val holds the new bytes in packet order,
 * mask keeps (0xff) the bytes the key does not touch.
 */
function peditKeys(htype: number, cmd: number, off: number, value: Uint8Array): PeditKey[] {
  const keys: PeditKey[] = [];
  for (let word = off & ~3; word < off + value.length; word += 4) {
    const val = Buffer.alloc(4);
    const mask = Buffer.alloc(4, 0xff);
    for (let i = 0; i < 4; i++) {
      const at = word + i - off;
      if (at >= 0 && at < value.length) { val[i] = value[at]!; mask[i] = 0; }
    }
    keys.push({ off: word, val, mask, htype, cmd });
  }
  return keys;
}

function rewriteKeys(a: Extract<TcAction, { kind: 'rewrite' }>): PeditKey[] {
  return [
    ...peditKeys(PEDIT_HTYPE_ETH, PEDIT_CMD_SET, 0, a.dmac),
    ...peditKeys(PEDIT_HTYPE_ETH, PEDIT_CMD_SET, 6, a.smac),
    // TTL is byte 8 of the IPv4 header, hop limit byte 7 of the IPv6 one; adding 0xff to the byte is minus one.
    ...(a.family === 4 ? peditKeys(PEDIT_HTYPE_IP4, PEDIT_CMD_ADD, 8, Uint8Array.of(0xff))
      : peditKeys(PEDIT_HTYPE_IP6, PEDIT_CMD_ADD, 7, Uint8Array.of(0xff))),
  ];
}

function peditOptions(keys: readonly PeditKey[]): Bufs {
  // struct tc_pedit_sel: tc_gen, nkeys, flags, (pad to 4), then tc_pedit_key[] {mask, val, off, at, offmask, shift}.
  const sel = Buffer.alloc(24 + 24 * keys.length);
  tcGen(TC_ACT_PIPE).copy(sel, 0);
  sel[20] = keys.length;
  keys.forEach((k, i) => {
    const o = 24 + 24 * i;
    k.mask.copy(sel, o);
    k.val.copy(sel, o + 4);
    sel.writeInt32LE(k.off, o + 8);
  });
  const ex = keys.flatMap((k) => attr(TCA_PEDIT_KEY_EX, [...attr(TCA_PEDIT_KEY_EX_HTYPE, u16(k.htype)), ...attr(TCA_PEDIT_KEY_EX_CMD, u16(k.cmd))], true));
  return [...attr(TCA_PEDIT_PARMS_EX, sel), ...attr(TCA_PEDIT_KEYS_EX, ex, true)];
}

function actionBody(a: TcAction): { kind: string; options: Bufs } {
  switch (a.kind) {
    case 'pass':
      return { kind: 'gact', options: attr(TCA_GACT_PARMS, tcGen(TC_ACT_OK)) };
    case 'goto':
      return { kind: 'gact', options: attr(TCA_GACT_PARMS, tcGen(TC_ACT_GOTO_CHAIN | (a.chain & TC_ACT_EXT_VAL_MASK))) };
    case 'rewrite':
      return { kind: 'pedit', options: peditOptions(rewriteKeys(a)) };
    case 'csum-ip4h': {
      const p = Buffer.alloc(24);
      tcGen(TC_ACT_PIPE).copy(p, 0);
      p.writeUInt32LE(TCA_CSUM_UPDATE_FLAG_IPV4HDR, 20);
      return { kind: 'csum', options: attr(TCA_CSUM_PARMS, p) };
    }
    case 'redirect': {
      const p = Buffer.alloc(28);
      tcGen(TC_ACT_STOLEN).copy(p, 0);
      p.writeInt32LE(TCA_EGRESS_REDIR, 20);
      p.writeUInt32LE(a.ifindex >>> 0, 24);
      return { kind: 'mirred', options: attr(TCA_MIRRED_PARMS, p) };
    }
  }
}

function actionsAttr(actions: readonly TcAction[], cookie: Uint8Array): Bufs {
  if (cookie.length > TC_COOKIE_MAX_SIZE) throw new RangeError(`action cookie of ${cookie.length} bytes (at most ${TC_COOKIE_MAX_SIZE})`);
  const list = actions.flatMap((a, i) => {
    const { kind, options } = actionBody(a);
    const body = [...attr(TCA_ACT_KIND, str(kind)), ...attr(TCA_ACT_OPTIONS, options, true)];
    if (cookie.length > 0) body.push(...attr(TCA_ACT_COOKIE, cookie));
    return attr(i + 1, body); // actions are a list indexed by order, 1-based
  });
  return attr(TCA_FLOWER_ACT, list);
}

// ---- filters ----

const PLACEMENT_FLAGS: Readonly<Record<FilterPlacement, number>> = {
  none: 0, skip_sw: TCA_CLS_FLAGS_SKIP_SW, skip_hw: TCA_CLS_FLAGS_SKIP_HW,
};

function addrAttrs(proto: EthProto, which: 'src' | 'dst', m: MaskedAddr): Bufs {
  const want = proto === 'ip' ? 4 : 16;
  if (m.addr.length !== want || m.mask.length !== want) throw new RangeError(`flower ${which}: ${m.addr.length}-byte address for protocol ${proto}`);
  const [a, k] = proto === 'ip'
    ? which === 'dst' ? [TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK] : [TCA_FLOWER_KEY_IPV4_SRC, TCA_FLOWER_KEY_IPV4_SRC_MASK]
    : which === 'dst' ? [TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK] : [TCA_FLOWER_KEY_IPV6_SRC, TCA_FLOWER_KEY_IPV6_SRC_MASK];
  return [...attr(a, m.addr), ...attr(k, m.mask)];
}

function flowerOptions(f: FlowerFilter): Bufs {
  const o: Bufs = [];
  if (f.match.indev !== undefined) o.push(...attr(TCA_FLOWER_INDEV, Buffer.from(`${f.match.indev}\0`, 'latin1')));
  if (f.match.dstMac) {
    if (f.match.dstMac.addr.length !== 6 || f.match.dstMac.mask.length !== 6) throw new RangeError('flower dst_mac: expected 6-byte address and mask');
    o.push(...attr(TCA_FLOWER_KEY_ETH_DST, f.match.dstMac.addr), ...attr(TCA_FLOWER_KEY_ETH_DST_MASK, f.match.dstMac.mask));
  }
  if (f.match.ttl) o.push(...attr(TCA_FLOWER_KEY_IP_TTL, u8(f.match.ttl.value)), ...attr(TCA_FLOWER_KEY_IP_TTL_MASK, u8(f.match.ttl.mask)));
  if (f.match.dst) o.push(...addrAttrs(f.id.proto, 'dst', f.match.dst));
  if (f.match.src) o.push(...addrAttrs(f.id.proto, 'src', f.match.src));
  o.push(...actionsAttr(f.actions, f.cookie));
  o.push(...attr(TCA_FLOWER_FLAGS, u32(PLACEMENT_FLAGS[f.placement])));
  o.push(...attr(TCA_FLOWER_KEY_ETH_TYPE, u16be(ETH_TYPE[f.id.proto])));
  return o;
}

/**
 * RTM_NEWTFILTER for a flower filter. 'add' fails if the handle exists
 * (NLM_F_EXCL); 'replace' swaps the filter at `id.handle` atomically.
 */
export function encodeFilter(f: FlowerFilter, op: FilterOp): TcRequest {
  if (op === 'replace' && f.id.handle === 0) throw new RangeError('replace needs the installed handle');
  const payload = Buffer.concat([
    filterHead(f.id),
    ...attr(TCA_CHAIN, u32(f.id.chain)),
    ...attr(TCA_KIND, str('flower')),
    ...attr(TCA_OPTIONS, flowerOptions(f)),
  ]);
  return { type: RTM_NEWTFILTER, flags: op === 'add' ? NLM_F_EXCL | NLM_F_CREATE : NLM_F_CREATE, payload };
}

/** RTM_DELTFILTER for one flower filter (shaped like `tc filter del ... handle H flower`). */
export function encodeFilterDelete(id: FilterId): TcRequest {
  const payload = Buffer.concat([
    filterHead(id),
    ...attr(TCA_CHAIN, u32(id.chain)),
    ...attr(TCA_KIND, str('flower')),
    ...attr(TCA_OPTIONS, [...attr(TCA_FLOWER_FLAGS, u32(0)), ...attr(TCA_FLOWER_KEY_ETH_TYPE, u16be(ETH_TYPE[id.proto]))]),
  ]);
  return { type: RTM_DELTFILTER, flags: 0, payload };
}

/** RTM_GETTFILTER dump of every chain of a block. */
export function encodeFilterDump(block: number): TcRequest {
  return { type: RTM_GETTFILTER, flags: 0, payload: tcmsg(TCM_IFINDEX_MAGIC_BLOCK, 0, block, 0) };
}

/** `tc qdisc add dev IF ingress_block B clsact`: the port joins the shared block. */
export function encodeClsactAdd(ifindex: number, block: number): TcRequest {
  const payload = Buffer.concat([
    tcmsg(ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT, 0),
    ...attr(TCA_KIND, str('clsact')),
    ...attr(TCA_INGRESS_BLOCK, u32(block)),
  ]);
  return { type: RTM_NEWQDISC, flags: NLM_F_EXCL | NLM_F_CREATE, payload };
}

export function encodeClsactDelete(ifindex: number): TcRequest {
  return { type: RTM_DELQDISC, flags: 0, payload: Buffer.concat([tcmsg(ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT, 0), ...attr(TCA_KIND, str('clsact'))]) };
}

/** RTM_GETQDISC dump of every link's qdiscs. */
export function encodeQdiscDump(): TcRequest {
  return { type: RTM_GETQDISC, flags: 0, payload: tcmsg(0, 0, 0, 0) };
}

// ---- decoding ----

export interface ActionStats {
  readonly packets: bigint;
  readonly bytes: bigint;
  /** Of those, counted by hardware. */
  readonly hwPackets: bigint;
  /** Seconds since the action last matched a packet (tcf_t.lastuse); null when not reported. */
  readonly lastUsedAgo: number | null;
}

export interface DecodedAction {
  readonly kind: string;
  readonly cookie: Buffer | null;
  readonly stats: ActionStats;
}

/** A flower filter as the kernel reports it (dump or NLM_F_ECHO). */
export interface InstalledFilter {
  readonly id: FilterId;
  readonly kind: string;
  /** Flags as dumped: skip_* plus in_hw / not_in_hw. */
  readonly flags: number;
  readonly inHw: boolean;
  readonly notInHw: boolean;
  readonly inHwCount: number | null;
  /** Hex of the match keys that make up the filter's identity (ttl, dst, src with masks). */
  readonly matchKey: string;
  readonly actions: readonly DecodedAction[];
}

export function placementOf(flags: number): FilterPlacement {
  if (flags & TCA_CLS_FLAGS_SKIP_SW) return 'skip_sw';
  if (flags & TCA_CLS_FLAGS_SKIP_HW) return 'skip_hw';
  return 'none';
}

/** The identity of a match: the same string for desired filters and for decoded ones. */
export function matchKeyOf(m: FlowerMatch): string {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const parts: string[] = [];
  if (m.indev !== undefined) parts.push(`i${m.indev}`);
  if (m.dstMac) parts.push(`m${hex(m.dstMac.addr)}/${hex(m.dstMac.mask)}`);
  if (m.ttl) parts.push(`t${m.ttl.value}/${m.ttl.mask}`);
  if (m.dst) parts.push(`d${hex(m.dst.addr)}/${hex(m.dst.mask)}`);
  if (m.src) parts.push(`s${hex(m.src.addr)}/${hex(m.src.mask)}`);
  return parts.join(',');
}

function decodeStats(buf: Buffer, s: number, e: number): { packets: bigint; bytes: bigint; hwPackets: bigint } {
  let packets = 0n;
  let bytes = 0n;
  let hwPackets = 0n;
  forEachAttr(buf, s, e, (t, as, ae) => {
    if (ae - as < 12) return;
    if (t === TCA_STATS_BASIC) { bytes = buf.readBigUInt64LE(as); packets = BigInt(buf.readUInt32LE(as + 8)); }
    if (t === TCA_STATS_BASIC_HW) hwPackets = BigInt(buf.readUInt32LE(as + 8));
  });
  return { packets, bytes, hwPackets };
}

const TM_ATTR: Readonly<Record<string, number>> = { gact: TCA_GACT_TM, mirred: TCA_MIRRED_TM, pedit: TCA_PEDIT_TM, csum: TCA_CSUM_TM };

function decodeAction(buf: Buffer, s: number, e: number): DecodedAction {
  let kind = '';
  let cookie: Buffer | null = null;
  let st = { packets: 0n, bytes: 0n, hwPackets: 0n };
  const opt: { at: [number, number] | null } = { at: null };
  forEachAttr(buf, s, e, (t, as, ae) => {
    if (t === TCA_ACT_KIND) kind = buf.toString('latin1', as, ae).replace(/\0+$/, '');
    else if (t === TCA_ACT_COOKIE) cookie = Buffer.from(buf.subarray(as, ae));
    else if (t === TCA_ACT_STATS) st = decodeStats(buf, as, ae);
    else if (t === TCA_ACT_OPTIONS) opt.at = [as, ae];
  });
  let lastUsedAgo: number | null = null;
  const tm = TM_ATTR[kind];
  if (opt.at && tm !== undefined) {
    const [os, oe] = opt.at;
    forEachAttr(buf, os, oe, (t, as, ae) => {
      // struct tcf_t { install, lastuse, expires, firstuse }: clock_t ticks ago.
      if (t === tm && ae - as >= 16) lastUsedAgo = Number(buf.readBigUInt64LE(as + 8)) / USER_HZ;
    });
  }
  return { kind, cookie, stats: { ...st, lastUsedAgo } };
}

/**
 * One RTM_NEWTFILTER message (payload bounds) → the filter, or null when it is
 * not a flower filter with options (chain templates, the per-prio head of a dump).
 */
export function decodeFilter(buf: Buffer, off: number, end: number): InstalledFilter | null {
  if (end - off < TCMSG_LEN) return null;
  const ifindex = buf.readUInt32LE(off + 4);
  const handle = buf.readUInt32LE(off + 8);
  const parent = buf.readUInt32LE(off + 12);
  const info = buf.readUInt32LE(off + 16);
  const ethType = htons(info & 0xffff);
  const proto: EthProto | null = ethType === ETH_P_IP ? 'ip' : ethType === ETH_P_IPV6 ? 'ipv6' : null;
  let chain = 0;
  let kind = '';
  const options: { at: [number, number] | null } = { at: null };
  forEachAttr(buf, off + TCMSG_LEN, end, (t, s, e) => {
    if (t === TCA_CHAIN && e - s >= 4) chain = buf.readUInt32LE(s);
    else if (t === TCA_KIND) kind = buf.toString('latin1', s, e).replace(/\0+$/, '');
    else if (t === TCA_OPTIONS) options.at = [s, e];
  });
  if (!options.at || kind !== 'flower' || proto === null || ifindex !== TCM_IFINDEX_MAGIC_BLOCK) return null;
  const [os, oe] = options.at;
  let flags = 0;
  let inHwCount: number | null = null;
  let ttlValue = -1;
  let ttlMask = -1;
  const addr: Partial<Record<'d' | 'dm' | 's' | 'sm' | 'm' | 'mm', Buffer>> = {};
  let indev: string | undefined;
  const actions: DecodedAction[] = [];
  forEachAttr(buf, os, oe, (t, s, e) => {
    switch (t) {
      case TCA_FLOWER_FLAGS: flags = buf.readUInt32LE(s); break;
      case TCA_FLOWER_IN_HW_COUNT: inHwCount = buf.readUInt32LE(s); break;
      case TCA_FLOWER_INDEV: indev = buf.toString('latin1', s, e).replace(/\0+$/, ''); break;
      case TCA_FLOWER_KEY_ETH_DST: addr.m = buf.subarray(s, e); break;
      case TCA_FLOWER_KEY_ETH_DST_MASK: addr.mm = buf.subarray(s, e); break;
      case TCA_FLOWER_KEY_IP_TTL: ttlValue = buf[s]!; break;
      case TCA_FLOWER_KEY_IP_TTL_MASK: ttlMask = buf[s]!; break;
      case TCA_FLOWER_KEY_IPV4_DST: case TCA_FLOWER_KEY_IPV6_DST: addr.d = buf.subarray(s, e); break;
      case TCA_FLOWER_KEY_IPV4_DST_MASK: case TCA_FLOWER_KEY_IPV6_DST_MASK: addr.dm = buf.subarray(s, e); break;
      case TCA_FLOWER_KEY_IPV4_SRC: case TCA_FLOWER_KEY_IPV6_SRC: addr.s = buf.subarray(s, e); break;
      case TCA_FLOWER_KEY_IPV4_SRC_MASK: case TCA_FLOWER_KEY_IPV6_SRC_MASK: addr.sm = buf.subarray(s, e); break;
      case TCA_FLOWER_ACT: forEachAttr(buf, s, e, (_i, as, ae) => actions.push(decodeAction(buf, as, ae))); break;
    }
  });
  const match: FlowerMatch = {
    ...(indev !== undefined ? { indev } : {}),
    ...(addr.m && addr.mm ? { dstMac: { addr: addr.m, mask: addr.mm } } : {}),
    ...(ttlValue >= 0 && ttlMask >= 0 ? { ttl: { value: ttlValue, mask: ttlMask } } : {}),
    ...(addr.d && addr.dm ? { dst: { addr: addr.d, mask: addr.dm } } : {}),
    ...(addr.s && addr.sm ? { src: { addr: addr.s, mask: addr.sm } } : {}),
  };
  return {
    id: { block: parent, chain, prio: info >>> 16, proto, handle },
    kind,
    flags,
    inHw: (flags & TCA_CLS_FLAGS_IN_HW) !== 0,
    notInHw: (flags & TCA_CLS_FLAGS_NOT_IN_HW) !== 0,
    inHwCount,
    matchKey: matchKeyOf(match),
    actions,
  };
}

export interface QdiscInfo {
  readonly ifindex: number;
  readonly kind: string;
  readonly parent: number;
  readonly ingressBlock: number | null;
}

export function decodeQdisc(buf: Buffer, off: number, end: number): QdiscInfo | null {
  if (end - off < TCMSG_LEN) return null;
  let kind = '';
  let ingressBlock: number | null = null;
  forEachAttr(buf, off + TCMSG_LEN, end, (t, s, e) => {
    if (t === TCA_KIND) kind = buf.toString('latin1', s, e).replace(/\0+$/, '');
    else if (t === TCA_INGRESS_BLOCK && e - s >= 4) ingressBlock = buf.readUInt32LE(s);
  });
  return { ifindex: buf.readUInt32LE(off + 4), kind, parent: buf.readUInt32LE(off + 12), ingressBlock };
}
