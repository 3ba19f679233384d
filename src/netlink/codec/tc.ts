// The tc codec: flat filter structs ⇄ RTM_*TFILTER / RTM_*QDISC payloads.
// Pure, no I/O. Encoding follows iproute2 6.1's `tc` byte for byte (attribute
// order, nest flags, padding inside nests) so the golden tests can compare
// with captured requests; decoding reads what the kernel dumps or echoes.
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

// ---- attribute building (one growing buffer, with iproute2's padding) ----

/**
 * Writes a message's attributes into one buffer. iproute2 counts the padding
 * of a nest's last child in the nest's length (addattr_nest_end measures to
 * the aligned tail), so every attribute is followed by its own pad and a
 * nest's length runs to the aligned end of its last child. One writer per
 * request: no per-attribute buffers (this encoder is on the path of every
 * rule the tc backend programs).
 */
class Writer {
  /** One scratch buffer for every request (encoding is synchronous): done() copies out exactly the message. */
  private static scratch = Buffer.alloc(4096);
  private buf = Writer.scratch;
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = Writer.scratch = next;
  }

  private pad(): void {
    const p = (4 - (this.len % 4)) % 4;
    this.room(p);
    this.buf.fill(0, this.len, this.len + p);
    this.len += p;
  }

  /** Raw bytes (a fixed header). */
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** An attribute with `n` bytes of data written by `fill` at the given offset (zeroed first). */
  private put(type: number, n: number, fill: (b: Buffer, at: number) => void): this {
    this.room(4 + n + 3);
    this.buf.writeUInt16LE(4 + n, this.len);
    this.buf.writeUInt16LE(type & 0x3fff, this.len + 2);
    this.buf.fill(0, this.len + 4, this.len + 4 + n);
    fill(this.buf, this.len + 4);
    this.len += 4 + n;
    this.pad();
    return this;
  }

  bytes(type: number, b: Uint8Array): this { return this.put(type, b.length, (buf, at) => buf.set(b, at)); }
  u8(type: number, v: number): this { return this.put(type, 1, (buf, at) => { buf[at] = v & 0xff; }); }
  u16(type: number, v: number): this { return this.put(type, 2, (buf, at) => buf.writeUInt16LE(v & 0xffff, at)); }
  u16be(type: number, v: number): this { return this.put(type, 2, (buf, at) => buf.writeUInt16BE(v & 0xffff, at)); }
  u32(type: number, v: number): this { return this.put(type, 4, (buf, at) => buf.writeUInt32LE(v >>> 0, at)); }
  str(type: number, v: string): this { return this.put(type, v.length + 1, (buf, at) => { buf.write(v, at, 'latin1'); }); }
  /** A fixed-size struct attribute, zeroed, filled by `fill`. */
  struct(type: number, n: number, fill: (b: Buffer, at: number) => void): this { return this.put(type, n, fill); }

  /** A nest (NLA_F_NESTED unless `flag` is false) holding whatever `body` writes. */
  nest(type: number, body: (w: this) => void, flag = true): this {
    const at = this.len;
    this.room(4);
    this.len += 4;
    body(this);
    this.buf.writeUInt16LE(this.len - at, at);
    this.buf.writeUInt16LE((type & 0x3fff) | (flag ? 0x8000 : 0), at + 2);
    return this;
  }

  done(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    return out;
  }
}

/** struct tc_gen: index, capab, action, refcnt, bindcnt (20 bytes at `at`). */
function tcGen(b: Buffer, at: number, action: number): void {
  b.writeInt32LE(action | 0, at + 8);
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

function peditOptions(w: Writer, keys: readonly PeditKey[]): void {
  // struct tc_pedit_sel: tc_gen, nkeys, flags, (pad to 4), then tc_pedit_key[] {mask, val, off, at, offmask, shift}.
  w.struct(TCA_PEDIT_PARMS_EX, 24 + 24 * keys.length, (b, at) => {
    tcGen(b, at, TC_ACT_PIPE);
    b[at + 20] = keys.length;
    keys.forEach((k, i) => {
      const o = at + 24 + 24 * i;
      b.set(k.mask, o);
      b.set(k.val, o + 4);
      b.writeInt32LE(k.off, o + 8);
    });
  });
  w.nest(TCA_PEDIT_KEYS_EX, () => {
    for (const k of keys) w.nest(TCA_PEDIT_KEY_EX, () => { w.u16(TCA_PEDIT_KEY_EX_HTYPE, k.htype).u16(TCA_PEDIT_KEY_EX_CMD, k.cmd); });
  });
}

const ACTION_KIND: Readonly<Record<TcAction['kind'], string>> = { pass: 'gact', goto: 'gact', rewrite: 'pedit', 'csum-ip4h': 'csum', redirect: 'mirred' };

function actionOptions(w: Writer, a: TcAction): void {
  switch (a.kind) {
    case 'pass':
      w.struct(TCA_GACT_PARMS, 20, (b, at) => tcGen(b, at, TC_ACT_OK));
      return;
    case 'goto':
      w.struct(TCA_GACT_PARMS, 20, (b, at) => tcGen(b, at, TC_ACT_GOTO_CHAIN | (a.chain & TC_ACT_EXT_VAL_MASK)));
      return;
    case 'rewrite':
      peditOptions(w, rewriteKeys(a));
      return;
    case 'csum-ip4h':
      w.struct(TCA_CSUM_PARMS, 24, (b, at) => { tcGen(b, at, TC_ACT_PIPE); b.writeUInt32LE(TCA_CSUM_UPDATE_FLAG_IPV4HDR, at + 20); });
      return;
    case 'redirect':
      w.struct(TCA_MIRRED_PARMS, 28, (b, at) => {
        tcGen(b, at, TC_ACT_STOLEN);
        b.writeInt32LE(TCA_EGRESS_REDIR, at + 20);
        b.writeUInt32LE(a.ifindex >>> 0, at + 24);
      });
  }
}

function actionsAttr(w: Writer, actions: readonly TcAction[], cookie: Uint8Array): void {
  if (cookie.length > TC_COOKIE_MAX_SIZE) throw new RangeError(`action cookie of ${cookie.length} bytes (at most ${TC_COOKIE_MAX_SIZE})`);
  // iproute2 sends the action list and each action as nests without NLA_F_NESTED; the options nest has it.
  w.nest(TCA_FLOWER_ACT, () => {
    actions.forEach((a, i) => {
      w.nest(i + 1, () => { // actions are a list indexed by order, 1-based
        w.str(TCA_ACT_KIND, ACTION_KIND[a.kind]);
        w.nest(TCA_ACT_OPTIONS, () => actionOptions(w, a));
        if (cookie.length > 0) w.bytes(TCA_ACT_COOKIE, cookie);
      }, false);
    });
  }, false);
}

// ---- filters ----

const PLACEMENT_FLAGS: Readonly<Record<FilterPlacement, number>> = {
  none: 0, skip_sw: TCA_CLS_FLAGS_SKIP_SW, skip_hw: TCA_CLS_FLAGS_SKIP_HW,
};

function addrAttrs(w: Writer, proto: EthProto, which: 'src' | 'dst', m: MaskedAddr): void {
  const want = proto === 'ip' ? 4 : 16;
  if (m.addr.length !== want || m.mask.length !== want) throw new RangeError(`flower ${which}: ${m.addr.length}-byte address for protocol ${proto}`);
  const [a, k] = proto === 'ip'
    ? which === 'dst' ? [TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK] : [TCA_FLOWER_KEY_IPV4_SRC, TCA_FLOWER_KEY_IPV4_SRC_MASK]
    : which === 'dst' ? [TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK] : [TCA_FLOWER_KEY_IPV6_SRC, TCA_FLOWER_KEY_IPV6_SRC_MASK];
  w.bytes(a, m.addr).bytes(k, m.mask);
}

function flowerOptions(w: Writer, f: FlowerFilter): void {
  if (f.match.indev !== undefined) w.str(TCA_FLOWER_INDEV, f.match.indev);
  if (f.match.dstMac) {
    if (f.match.dstMac.addr.length !== 6 || f.match.dstMac.mask.length !== 6) throw new RangeError('flower dst_mac: expected 6-byte address and mask');
    w.bytes(TCA_FLOWER_KEY_ETH_DST, f.match.dstMac.addr).bytes(TCA_FLOWER_KEY_ETH_DST_MASK, f.match.dstMac.mask);
  }
  if (f.match.ttl) w.u8(TCA_FLOWER_KEY_IP_TTL, f.match.ttl.value).u8(TCA_FLOWER_KEY_IP_TTL_MASK, f.match.ttl.mask);
  if (f.match.dst) addrAttrs(w, f.id.proto, 'dst', f.match.dst);
  if (f.match.src) addrAttrs(w, f.id.proto, 'src', f.match.src);
  actionsAttr(w, f.actions, f.cookie);
  w.u32(TCA_FLOWER_FLAGS, PLACEMENT_FLAGS[f.placement]);
  w.u16be(TCA_FLOWER_KEY_ETH_TYPE, ETH_TYPE[f.id.proto]);
}

/**
 * RTM_NEWTFILTER for a flower filter. 'add' fails if the handle exists
 * (NLM_F_EXCL); 'replace' swaps the filter at `id.handle` atomically.
 */
export function encodeFilter(f: FlowerFilter, op: FilterOp): TcRequest {
  if (op === 'replace' && f.id.handle === 0) throw new RangeError('replace needs the installed handle');
  const w = new Writer().raw(filterHead(f.id)).u32(TCA_CHAIN, f.id.chain).str(TCA_KIND, 'flower');
  w.nest(TCA_OPTIONS, () => flowerOptions(w, f), false);
  return { type: RTM_NEWTFILTER, flags: op === 'add' ? NLM_F_EXCL | NLM_F_CREATE : NLM_F_CREATE, payload: w.done() };
}

/** RTM_DELTFILTER for one flower filter (shaped like `tc filter del ... handle H flower`). */
export function encodeFilterDelete(id: FilterId): TcRequest {
  const w = new Writer().raw(filterHead(id)).u32(TCA_CHAIN, id.chain).str(TCA_KIND, 'flower');
  w.nest(TCA_OPTIONS, () => { w.u32(TCA_FLOWER_FLAGS, 0).u16be(TCA_FLOWER_KEY_ETH_TYPE, ETH_TYPE[id.proto]); }, false);
  return { type: RTM_DELTFILTER, flags: 0, payload: w.done() };
}

/** RTM_GETTFILTER dump of every chain of a block. */
export function encodeFilterDump(block: number): TcRequest {
  return { type: RTM_GETTFILTER, flags: 0, payload: tcmsg(TCM_IFINDEX_MAGIC_BLOCK, 0, block, 0) };
}

/** `tc qdisc add dev IF ingress_block B clsact`: the port joins the shared block. */
export function encodeClsactAdd(ifindex: number, block: number): TcRequest {
  const w = new Writer().raw(tcmsg(ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT, 0)).str(TCA_KIND, 'clsact').u32(TCA_INGRESS_BLOCK, block);
  return { type: RTM_NEWQDISC, flags: NLM_F_EXCL | NLM_F_CREATE, payload: w.done() };
}

export function encodeClsactDelete(ifindex: number): TcRequest {
  return { type: RTM_DELQDISC, flags: 0, payload: new Writer().raw(tcmsg(ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT, 0)).str(TCA_KIND, 'clsact').done() };
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
  const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
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

const NO_STATS: ActionStats = { packets: 0n, bytes: 0n, hwPackets: 0n, lastUsedAgo: null };

function decodeAction(buf: Buffer, s: number, e: number, stats: boolean): DecodedAction {
  let kind = '';
  let cookie: Buffer | null = null;
  let st = { packets: 0n, bytes: 0n, hwPackets: 0n };
  const opt: { at: [number, number] | null } = { at: null };
  forEachAttr(buf, s, e, (t, as, ae) => {
    if (t === TCA_ACT_KIND) kind = buf.toString('latin1', as, ae).replace(/\0+$/, '');
    else if (t === TCA_ACT_COOKIE) cookie = Buffer.from(buf.subarray(as, ae));
    else if (!stats) return;
    else if (t === TCA_ACT_STATS) st = decodeStats(buf, as, ae);
    else if (t === TCA_ACT_OPTIONS) opt.at = [as, ae];
  });
  if (!stats) return { kind, cookie, stats: NO_STATS };
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
 * `stats: false` (an echo, checked against its request) leaves the actions'
 * counters and timestamps undecoded (zero / null).
 */
export function decodeFilter(buf: Buffer, off: number, end: number, opts: { readonly stats?: boolean } = {}): InstalledFilter | null {
  const stats = opts.stats ?? true;
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
      case TCA_FLOWER_ACT: forEachAttr(buf, s, e, (_i, as, ae) => actions.push(decodeAction(buf, as, ae, stats))); break;
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
