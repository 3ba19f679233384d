// Byte layouts of the XDP program's map keys and values: bpf/fib_offload.h,
// field for field (host byte order, x86-64 and arm64 are little-endian, so
// LE is written explicitly). Pure encoders and decoders; the map adapter and
// the programmer speak only in the records here.
import type { Family } from '../model/ip.js';
import { parseIp, parseMac, formatIp, formatMac, parsePrefix } from '../model/ip.js';

export const MAX_MEMBERS = 64;
/** sizeof(struct fo_member): ifindex, dmac, smac, vid, mtu, port. */
export const MEMBER_SIZE = 24;
export const MAX_BUCKETS = 256;
export const BUCKET_PUNT = 0xff;
export const ACTION_FORWARD = 0;
export const ACTION_PUNT = 1;
export const HASH_L3 = 0;
export const HASH_L4 = 1;

export const MAP_NAMES = [
  'fo_ports', 'fo_lpm4', 'fo_lpm6', 'fo_groups', 'fo_tx', 'fo_config', 'fo_stats', 'fo_verdicts', 'fo_flat4',
  'fo_audit_conf', 'fo_audit',
] as const;

/** Flat IPv4 tables (fib_offload.h): tbl24 then FO_TBL8_GROUPS groups of 256, u32 each. */
export const TBL24_SIZE = 1 << 24;
export const TBL8_GROUPS = 16384;
export const FLAT4_ENTRIES = TBL24_SIZE + TBL8_GROUPS * 256;
/** Kernel memory of one flat table's array. */
export const FLAT4_BYTES = FLAT4_ENTRIES * 4;
export type MapName = (typeof MAP_NAMES)[number];

/**
 * enum fo_audit_result, in order: what the kernel's bpf_fib_lookup() said
 * about a sampled forwarded packet, compared with the program's choice
 * (bpf/fib_offload.h documents each).
 */
export const AUDIT_RESULTS = [
  'agree', 'egress', 'neigh', 'kernel_no_forward', 'kernel_no_neigh', 'forwarding_off', 'error',
] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];
/** Results that are disagreements (recorded in the ring, logged). */
export const AUDIT_DISAGREEMENTS: ReadonlySet<AuditResult> = new Set(['egress', 'neigh', 'kernel_no_forward', 'kernel_no_neigh', 'error']);
/** FO_AUDIT_SLOTS: records per CPU. */
export const AUDIT_SLOTS = 16;
/** sizeof(struct fo_audit_rec). */
export const AUDIT_REC_SIZE = 96;
/** Offset of rec[0] in struct fo_audit_cpu: tick, recorded, result[7], pad. */
export const AUDIT_REC_OFFSET = 16 + 8 * (AUDIT_RESULTS.length + 1);
/** sizeof(struct fo_audit_cpu). */
export const AUDIT_CPU_SIZE = AUDIT_REC_OFFSET + AUDIT_SLOTS * AUDIT_REC_SIZE;
/** xdp.audit_rate's default: one forwarded packet in 1024 per CPU. */
export const DEFAULT_AUDIT_RATE = 1024;

/** Key and value sizes per map, as in the object's BTF (checked by a test against `bpftool map show`). */
export const MAP_SIZES: Readonly<Record<MapName, { key: number; value: number }>> = {
  fo_ports: { key: 8, value: 16 },
  fo_lpm4: { key: 12, value: 8 },
  fo_lpm6: { key: 24, value: 8 },
  fo_groups: { key: 4, value: 8 + MAX_BUCKETS + MEMBER_SIZE * MAX_MEMBERS },
  fo_tx: { key: 4, value: 4 },
  fo_config: { key: 4, value: 16 },
  fo_stats: { key: 16, value: 16 },
  fo_verdicts: { key: 4, value: 16 },
  fo_flat4: { key: 4, value: 4 },
  fo_audit_conf: { key: 4, value: 16 },
  fo_audit: { key: 4, value: AUDIT_CPU_SIZE },
};

/** enum fo_verdict, in order. */
export const VERDICTS = [
  'forwarded', 'not_port', 'not_host', 'not_ip', 'malformed', 'options', 'ttl', 'special',
  'no_route', 'route_punt', 'bucket_punt', 'hairpin', 'mtu', 'no_tx', 'adjust_error', 'dropped', 'rp_filter',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface PortRecord {
  readonly ifindex: number;
  readonly vid: number;
  readonly table: number;
  readonly mac: string;
  /** The port's effective IPv4 rp_filter (FO_PORT_RPF_*); absent = off. */
  readonly rpFilter?: 'strict' | 'loose';
  /** Families whose arriving traffic the kernel keeps (FO_PORT_KERNEL_V4/_V6); absent = none. */
  readonly kernel?: readonly Family[];
  /** The port's own device when it is not the key's (a VLAN sub-interface keyed by its parent and vid); absent = ifindex. */
  readonly port?: number;
}

/** fo_port_val.flags (fib_offload.h FO_PORT_*). */
const PORT_RPF_STRICT = 0x1;
const PORT_RPF_LOOSE = 0x2;
const PORT_KERNEL_V4 = 0x4;
const PORT_KERNEL_V6 = 0x8;

export function encodePortKey(ifindex: number, vid = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(ifindex, 0);
  b.writeUInt16LE(vid, 4);
  return b;
}

/** `ifindex`: the port's own device (fo_port_val.ifindex), what the audit asks the kernel about. */
export function encodePortValue(p: Pick<PortRecord, 'table' | 'mac' | 'rpFilter' | 'kernel'> & { readonly ifindex: number }): Buffer {
  const b = Buffer.alloc(MAP_SIZES.fo_ports.value);
  b.writeUInt32LE(p.table, 0);
  Buffer.from(parseMac(p.mac)).copy(b, 4);
  const rpf = p.rpFilter === 'strict' ? PORT_RPF_STRICT : p.rpFilter === 'loose' ? PORT_RPF_LOOSE : 0;
  const kernel = (p.kernel?.includes(4) ? PORT_KERNEL_V4 : 0) | (p.kernel?.includes(6) ? PORT_KERNEL_V6 : 0);
  b.writeUInt16LE(rpf | kernel, 10);
  b.writeUInt32LE(p.ifindex, 12);
  return b;
}

export function decodePort(key: Buffer, value: Buffer): PortRecord {
  const flags = value.readUInt16LE(10);
  const kernel: Family[] = [];
  if (flags & PORT_KERNEL_V4) kernel.push(4);
  if (flags & PORT_KERNEL_V6) kernel.push(6);
  const ifindex = key.readUInt32LE(0);
  const port = value.readUInt32LE(12);
  return {
    ifindex,
    vid: key.readUInt16LE(4),
    table: value.readUInt32LE(0),
    mac: formatMac(value.subarray(4, 10)),
    ...(flags & PORT_RPF_STRICT ? { rpFilter: 'strict' as const } : flags & PORT_RPF_LOOSE ? { rpFilter: 'loose' as const } : {}),
    ...(kernel.length > 0 ? { kernel } : {}),
    ...(port !== ifindex ? { port } : {}),
  };
}

export interface RouteRecord {
  readonly table: number;
  readonly family: Family;
  /** Canonical prefix text, "10.0.0.0/8". */
  readonly dst: string;
  readonly action: 'forward' | 'punt';
  /** Group id for 'forward'; 0 for 'punt'. */
  readonly group: number;
}

/**
 * LPM key: prefixlen counts the 32 table bits; the table is big-endian so it
 * is a bit prefix. `dst` is canonical (parsePrefix rejects host bits).
 */
export function encodeLpmKey(table: number, dst: string): { family: Family; key: Buffer } {
  const { family, address, len } = parsePrefix(dst);
  const addr = parseIp(address);
  const key = Buffer.alloc(8 + addr.length);
  key.writeUInt32LE(32 + len, 0);
  key.writeUInt32BE(table, 4);
  Buffer.from(addr).copy(key, 8);
  return { family, key };
}

/** An IPv4 prefix as (address as an unsigned host-order number, length): the flat tables' key. */
export function ipv4Prefix(dst: string): { addr: number; len: number } {
  const { family, address, len } = parsePrefix(dst);
  if (family !== 4) throw new RangeError(`${dst} is not an IPv4 prefix`);
  const b = parseIp(address);
  return { addr: ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, len };
}

export function encodeRouteValue(r: Pick<RouteRecord, 'action' | 'group'>): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(r.action === 'forward' ? ACTION_FORWARD : ACTION_PUNT, 0);
  b.writeUInt32LE(r.action === 'forward' ? r.group : 0, 4);
  return b;
}

export function decodeRoute(key: Buffer, value: Buffer): RouteRecord {
  const len = key.readUInt32LE(0) - 32;
  const addr = key.subarray(8);
  const family: Family = addr.length === 4 ? 4 : 6;
  const action = value.readUInt32LE(0) === ACTION_FORWARD ? 'forward' : 'punt';
  return {
    table: key.readUInt32BE(4),
    family,
    dst: `${formatIp(addr)}/${len}`,
    action,
    group: action === 'forward' ? value.readUInt32LE(4) : 0,
  };
}

export interface MemberRecord {
  /** The device the frame leaves from (devmap key): a VLAN egress's parent. */
  readonly ifindex: number;
  readonly dmac: string;
  readonly smac: string;
  /** 802.1Q tag to push (an egress onto a VLAN sub-interface); absent = untagged. */
  readonly vid?: number;
  /** With vid: the VLAN device's MTU, the longest L3 packet it sends (at most 65535). */
  readonly mtu?: number;
  /** The egress as the kernel names it (the VLAN device) when not ifindex. */
  readonly port?: number;
}

export interface GroupRecord {
  readonly id: number;
  readonly members: readonly MemberRecord[];
  /** 2^k targets: member index or BUCKET_PUNT. */
  readonly buckets: readonly number[];
  /** Route MTU: longer packets go to the kernel (absent or 0: none). At most 65535, as the kernel caps it. */
  readonly mtu?: number;
}

export function encodeGroupKey(id: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(id, 0);
  return b;
}

export function encodeGroupValue(g: Pick<GroupRecord, 'members' | 'buckets' | 'mtu'>): Buffer {
  const n = g.buckets.length;
  if (n < 1 || n > MAX_BUCKETS || (n & (n - 1)) !== 0) {
    throw new RangeError(`group has ${n} buckets: needs a power of two in 1..${MAX_BUCKETS}`);
  }
  if (g.members.length > MAX_MEMBERS) {
    throw new RangeError(`group has ${g.members.length} members: the XDP program takes at most ${MAX_MEMBERS}`);
  }
  const mtu = g.mtu ?? 0;
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 0xffff) throw new RangeError(`group route MTU ${mtu}: needs 0..65535`);
  const b = Buffer.alloc(MAP_SIZES.fo_groups.value);
  b.writeUInt32LE(n - 1, 0);
  b.writeUInt16LE(g.members.length, 4);
  b.writeUInt16LE(mtu, 6);
  g.buckets.forEach((t, i) => { b[8 + i] = t < 0 ? BUCKET_PUNT : t; });
  g.members.forEach((m, i) => {
    const off = 8 + MAX_BUCKETS + MEMBER_SIZE * i;
    const vid = m.vid ?? 0;
    if (!Number.isInteger(vid) || vid < 0 || vid > 4094) throw new RangeError(`member VLAN id ${vid}: needs 0..4094`);
    b.writeUInt32LE(m.ifindex, off);
    Buffer.from(parseMac(m.dmac)).copy(b, off + 4);
    Buffer.from(parseMac(m.smac)).copy(b, off + 10);
    b.writeUInt16LE(vid, off + 16);
    b.writeUInt16LE(Math.min(m.mtu ?? 0, 0xffff), off + 18);
    b.writeUInt32LE(m.port ?? m.ifindex, off + 20);
  });
  return b;
}

export function decodeGroup(key: Buffer, value: Buffer): GroupRecord {
  const n = value.readUInt32LE(0) + 1;
  const count = Math.min(value.readUInt16LE(4), MAX_MEMBERS);
  const mtu = value.readUInt16LE(6);
  const members: MemberRecord[] = [];
  for (let i = 0; i < count; i++) {
    const off = 8 + MAX_BUCKETS + MEMBER_SIZE * i;
    const ifindex = value.readUInt32LE(off);
    const vid = value.readUInt16LE(off + 16);
    const mtu = value.readUInt16LE(off + 18);
    const port = value.readUInt32LE(off + 20);
    members.push({
      ifindex,
      dmac: formatMac(value.subarray(off + 4, off + 10)),
      smac: formatMac(value.subarray(off + 10, off + 16)),
      ...(vid !== 0 ? { vid } : {}),
      ...(mtu !== 0 ? { mtu } : {}),
      ...(port !== ifindex ? { port } : {}),
    });
  }
  const buckets = [...value.subarray(8, 8 + n)].map((t) => (t === BUCKET_PUNT ? -1 : t));
  return { id: key.readUInt32LE(0), members, buckets, ...(mtu !== 0 ? { mtu } : {}) };
}

export function encodeU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

export interface ConfigRecord {
  readonly hashV4: number;
  readonly hashV6: number;
  readonly seed: number;
  /** First 32 bits of the SHA-256 of the loaded object: a different build means reload. */
  readonly buildId: number;
}

export function encodeConfig(c: ConfigRecord): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(c.hashV4, 0);
  b.writeUInt32LE(c.hashV6, 4);
  b.writeUInt32LE(c.seed >>> 0, 8);
  b.writeUInt32LE(c.buildId >>> 0, 12);
  return b;
}

export function decodeConfig(value: Buffer): ConfigRecord {
  return { hashV4: value.readUInt32LE(0), hashV6: value.readUInt32LE(4), seed: value.readUInt32LE(8), buildId: value.readUInt32LE(12) };
}

export interface StatKey {
  readonly group: number;
  readonly ifindex: number;
  readonly dmac: string;
}

export function encodeStatKey(k: StatKey): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(k.group, 0);
  b.writeUInt32LE(k.ifindex, 4);
  Buffer.from(parseMac(k.dmac)).copy(b, 8);
  return b;
}

export function decodeStatKey(key: Buffer): StatKey {
  return { group: key.readUInt32LE(0), ifindex: key.readUInt32LE(4), dmac: formatMac(key.subarray(8, 14)) };
}

export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** Sum a per-CPU value (one 16-byte counter per possible CPU, each slot 8-byte aligned). */
export function sumPerCpu(value: Buffer, cpus: number): Counter {
  let packets = 0n;
  let bytes = 0n;
  for (let i = 0; i < cpus; i++) {
    packets += value.readBigUInt64LE(16 * i);
    bytes += value.readBigUInt64LE(16 * i + 8);
  }
  return { packets, bytes };
}

/** fo_audit_conf: the sampling rate, and how far the agent has taken the rings (a bpf_ktime_get_ns() stamp). */
export interface AuditConf {
  /** 1 in `rate` forwarded packets per CPU is checked; 0 = off. */
  readonly rate: number;
  /** Records stamped at or before this were logged by an agent already (this one or one before a restart). */
  readonly takenNs: bigint;
}

export function encodeAuditConf(c: AuditConf): Buffer {
  if (!Number.isInteger(c.rate) || c.rate < 0 || c.rate > 0xffffffff) throw new RangeError(`audit rate ${c.rate}: needs a whole number in 0..2^32-1`);
  const b = Buffer.alloc(MAP_SIZES.fo_audit_conf.value);
  b.writeUInt32LE(c.rate, 0);
  b.writeBigUInt64LE(c.takenNs, 8);
  return b;
}

export function decodeAuditConf(value: Buffer): AuditConf {
  return { rate: value.readUInt32LE(0), takenNs: value.readBigUInt64LE(8) };
}

/** bpf_fib_lookup()'s BPF_FIB_LKUP_RET_* codes, by value (linux/bpf.h). */
export const FIB_LOOKUP_RETS = [
  'success', 'blackhole', 'unreachable', 'prohibit', 'not_forwarded', 'forwarding_disabled',
  'unsupported_lwt', 'no_neigh', 'frag_needed', 'no_src_addr',
] as const;

/** A helper return as text: the BPF_FIB_LKUP_RET_* name, or the errno for a negative one. */
export function fibLookupRetName(ret: number): string {
  if (ret >= 0) return FIB_LOOKUP_RETS[ret] ?? `ret ${ret}`;
  return ERRNO_NAMES[-ret] ?? `errno ${-ret}`;
}

/** The errnos bpf_fib_lookup() returns (ENODEV: ingress gone; EINVAL: flags or size; EAFNOSUPPORT: family). */
const ERRNO_NAMES: Readonly<Record<number, string>> = { 19: 'ENODEV', 22: 'EINVAL', 97: 'EAFNOSUPPORT' };

/** One struct fo_audit_rec, decoded. */
export interface AuditRecord {
  readonly seq: bigint;
  readonly ktimeNs: bigint;
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  readonly table: number;
  readonly ingress: number;
  readonly group: number;
  readonly ifindex: number;
  readonly dmac: string;
  readonly kernelIfindex: number;
  readonly kernelDmac: string | null;
  readonly kernelRet: number;
  readonly result: AuditResult;
}

/** The record at `off`, or null when it is empty or torn (seq != seq_end: read while being written). */
export function decodeAuditRecord(b: Buffer, off: number): AuditRecord | null {
  const seq = b.readBigUInt64LE(off);
  if (seq === 0n || b.readBigUInt64LE(off + 88) !== seq) return null;
  const family = b[off + 84] === 6 ? 6 : 4;
  const addr = (at: number): string => formatIp(b.subarray(off + at, off + at + (family === 4 ? 4 : 16)));
  const result = AUDIT_RESULTS[b[off + 85]!];
  if (!result) return null;
  const kernelRet = b.readInt32LE(off + 68);
  return {
    seq,
    ktimeNs: b.readBigUInt64LE(off + 8),
    family,
    src: addr(16),
    dst: addr(32),
    table: b.readUInt32LE(off + 48),
    ingress: b.readUInt32LE(off + 52),
    group: b.readUInt32LE(off + 56),
    ifindex: b.readUInt32LE(off + 60),
    kernelIfindex: b.readUInt32LE(off + 64),
    kernelRet,
    dmac: formatMac(b.subarray(off + 72, off + 78)),
    kernelDmac: kernelRet === 0 ? formatMac(b.subarray(off + 78, off + 84)) : null,
    result,
  };
}

/** One CPU's struct fo_audit_cpu. */
export interface AuditCpu {
  /** Disagreements recorded on this CPU so far (the ring's write position). */
  readonly recorded: bigint;
  readonly packets: Readonly<Record<AuditResult, bigint>>;
  /** The ring's whole records, oldest first. */
  readonly records: readonly AuditRecord[];
}

/** A per-CPU fo_audit value (one AUDIT_CPU_SIZE slot per possible CPU), CPU by CPU. */
export function decodeAuditPerCpu(value: Buffer, cpus: number): AuditCpu[] {
  const out: AuditCpu[] = [];
  for (let c = 0; c < cpus; c++) {
    const base = c * AUDIT_CPU_SIZE;
    const packets = {} as Record<AuditResult, bigint>;
    AUDIT_RESULTS.forEach((r, i) => { packets[r] = value.readBigUInt64LE(base + 16 + 8 * i); });
    const records: AuditRecord[] = [];
    for (let s = 0; s < AUDIT_SLOTS; s++) {
      const r = decodeAuditRecord(value, base + AUDIT_REC_OFFSET + s * AUDIT_REC_SIZE);
      if (r) records.push(r);
    }
    records.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    out.push({ recorded: value.readBigUInt64LE(base + 8), packets, records });
  }
  return out;
}
