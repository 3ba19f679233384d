// Byte layouts of the XDP maps (src/xdp/layout.ts) against hand-written bytes
// and against the compiled object's BTF (bpf/build/fib_offload.bpf.o).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import {
  ACTION_FORWARD,
  ACTION_PUNT,
  BUCKET_PUNT,
  MAP_NAMES,
  MAP_SIZES,
  MAX_BUCKETS,
  MAX_MEMBERS,
  VERDICTS,
  decodeConfig,
  decodeGroup,
  decodePort,
  decodeRoute,
  decodeStatKey,
  encodeConfig,
  encodeGroupKey,
  encodeGroupValue,
  encodeLpmKey,
  encodePortKey,
  encodePortValue,
  encodeRouteValue,
  encodeStatKey,
  encodeU32,
  sumPerCpu,
  type MemberRecord,
  MEMBER_SIZE,
  FLAT4_ENTRIES,
  TBL24_SIZE,
  TBL8_GROUPS,
  ipv4Prefix,
  AUDIT_CPU_SIZE,
  AUDIT_REC_OFFSET,
  AUDIT_REC_SIZE,
  AUDIT_RESULTS,
  AUDIT_SLOTS,
  decodeAuditConf,
  decodeAuditPerCpu,
  decodeAuditRecord,
  encodeAuditConf,
  fibLookupRetName,
} from '../../src/xdp/layout.js';
import { D24_EXT, D24_FWD, D24_GROUP_MAX, D24_PUNT, d24ArrayLength } from '../../src/xdp/dir24.js';

/** Hex with spaces/newlines allowed, for readable expectations. */
const hex = (s: string): string => s.replace(/\s+/g, '');

describe('layout constants', () => {
  it('match bpf/fib_offload.h', () => {
    expect([MAX_MEMBERS, MAX_BUCKETS, BUCKET_PUNT, ACTION_FORWARD, ACTION_PUNT]).toEqual([64, 256, 0xff, 0, 1]);
    expect(MAP_SIZES.fo_groups).toEqual({ key: 4, value: 1800 });
    expect(MAP_SIZES.fo_ports).toEqual({ key: 8, value: 16 });
    expect(VERDICTS).toHaveLength(17);
    expect(VERDICTS[0]).toBe('forwarded');
    expect(VERDICTS[15]).toBe('dropped');
    expect(VERDICTS[16]).toBe('rp_filter');
  });
});

describe('flat IPv4 tables', () => {
  // The program's #defines, read from the header it is built from.
  const header = readFileSync(new URL('../../bpf/fib_offload.h', import.meta.url), 'utf8');
  const define = (name: string): number => {
    const m = new RegExp(`#define ${name} \\(?([^/\\n]+?)\\)?\\s*(/\\*|$)`, 'm').exec(header);
    if (!m) throw new Error(`${name} not defined in fib_offload.h`);
    return Number(m[1]!.replace(/u$/, '').replace(/\(1u << 24\)|1u << 24/, String(1 << 24)));
  };

  it('the array layout and entry encoding match bpf/fib_offload.h and dir24.ts', () => {
    expect(define('FO_TBL24_SIZE')).toBe(TBL24_SIZE);
    expect(define('FO_TBL8_GROUPS')).toBe(TBL8_GROUPS);
    expect(FLAT4_ENTRIES).toBe(d24ArrayLength(TBL8_GROUPS));
    expect(define('FO_D24_EXT')).toBe(D24_EXT);
    expect(define('FO_D24_PUNT')).toBe(D24_PUNT);
    expect(define('FO_D24_FWD')).toBe(D24_FWD);
    expect(define('FO_D24_GROUP_MASK')).toBe(D24_GROUP_MAX);
  });

  it('ipv4Prefix: address as an unsigned number, and the length', () => {
    expect(ipv4Prefix('0.0.0.0/0')).toEqual({ addr: 0, len: 0 });
    expect(ipv4Prefix('255.255.255.255/32')).toEqual({ addr: 0xffffffff, len: 32 });
    expect(ipv4Prefix('198.51.100.0/24')).toEqual({ addr: 0xc6336400, len: 24 });
    expect(() => ipv4Prefix('2001:db8::/32')).toThrow(RangeError);
  });
});

describe('port key and value', () => {
  it('key: ifindex u32 LE, vid u16 LE, 2 pad bytes', () => {
    expect(encodePortKey(7).toString('hex')).toBe(hex('07000000 0000 0000'));
    expect(encodePortKey(0x01020304, 100).toString('hex')).toBe(hex('04030201 6400 0000'));
  });

  it('value: table u32 LE, mac[6], flags u16 = 0, the port\'s own ifindex u32 LE', () => {
    expect(encodePortValue({ table: 254, mac: '02:00:00:00:00:02', ifindex: 2 }).toString('hex')).toBe(hex('fe000000 020000000002 0000 02000000'));
    expect(encodePortValue({ table: 0x01020304, mac: 'AA:BB:cc:dd:ee:0f', ifindex: 0x0a0b0c0d }).toString('hex'))
      .toBe(hex('04030201 aabbccddee0f 0000 0d0c0b0a'));
  });

  it('a VLAN port: keyed (parent, vid), its own ifindex in the value, decoded as port', () => {
    const key = encodePortKey(4, 10);
    const value = encodePortValue({ table: 100, mac: '02:00:00:00:00:0c', ifindex: 12 });
    expect(decodePort(key, value)).toEqual({ ifindex: 4, vid: 10, table: 100, mac: '02:00:00:00:00:0c', port: 12 });
  });

  it('sizes follow MAP_SIZES', () => {
    expect(encodePortKey(1).length).toBe(MAP_SIZES.fo_ports.key);
    expect(encodePortValue({ table: 1, mac: '00:00:00:00:00:01', ifindex: 1 }).length).toBe(MAP_SIZES.fo_ports.value);
  });

  it('decode(encode(x)) round trips', () => {
    const p = { ifindex: 4242, vid: 4094, table: 100, mac: '0a:1b:2c:3d:4e:5f' };
    expect(decodePort(encodePortKey(p.ifindex, p.vid), encodePortValue(p))).toEqual(p);
    expect(decodePort(encodePortKey(3), encodePortValue({ table: 254, mac: '02:00:00:00:00:03', ifindex: 3 })))
      .toEqual({ ifindex: 3, vid: 0, table: 254, mac: '02:00:00:00:00:03' });
    for (const rpFilter of ['strict', 'loose'] as const) {
      expect(decodePort(encodePortKey(3), encodePortValue({ table: 254, mac: '02:00:00:00:00:03', ifindex: 3, rpFilter }))).toMatchObject({ rpFilter });
    }
    expect(encodePortValue({ table: 254, mac: '02:00:00:00:00:02', ifindex: 2, rpFilter: 'loose' }).toString('hex')).toBe(hex('fe000000 020000000002 0200 02000000'));
    expect(encodePortValue({ table: 254, mac: '02:00:00:00:00:02', ifindex: 2, rpFilter: 'strict', kernel: [6] }).toString('hex')).toBe(hex('fe000000 020000000002 0900 02000000'));
    for (const kernel of [[4], [6], [4, 6]] as const) {
      expect(decodePort(encodePortKey(3), encodePortValue({ table: 254, mac: '02:00:00:00:00:03', ifindex: 3, kernel }))).toMatchObject({ kernel });
    }
  });

  it('rejects a malformed MAC', () => {
    expect(() => encodePortValue({ table: 254, mac: '02:00:00:00:00', ifindex: 2 })).toThrow(RangeError);
  });
});

describe('LPM keys', () => {
  it('IPv4: prefixlen = 32 + len (LE), table 254 big-endian, address bytes in wire order', () => {
    const k = encodeLpmKey(254, '10.1.0.0/16');
    expect(k.family).toBe(4);
    expect(k.key.toString('hex')).toBe(hex('30000000 000000fe 0a010000'));
    expect(k.key.length).toBe(MAP_SIZES.fo_lpm4.key);
  });

  it('IPv4: default route, host route, a multi-byte table', () => {
    expect(encodeLpmKey(254, '0.0.0.0/0').key.toString('hex')).toBe(hex('20000000 000000fe 00000000'));
    expect(encodeLpmKey(254, '192.168.1.2/32').key.toString('hex')).toBe(hex('40000000 000000fe c0a80102'));
    expect(encodeLpmKey(0x01020304, '10.0.0.0/8').key.toString('hex')).toBe(hex('28000000 01020304 0a000000'));
  });

  it('IPv4: bits past a non-octet prefix length are zero', () => {
    expect(encodeLpmKey(254, '10.128.0.0/9').key.toString('hex')).toBe(hex('29000000 000000fe 0a800000'));
    expect(encodeLpmKey(254, '172.16.0.0/12').key.toString('hex')).toBe(hex('2c000000 000000fe ac100000'));
  });

  it('IPv6: prefixlen = 32 + len, table big-endian, 16 address bytes', () => {
    const k = encodeLpmKey(254, '2001:db8:ab00::/40');
    expect(k.family).toBe(6);
    expect(k.key.toString('hex')).toBe(hex('48000000 000000fe 20010db8ab0000000000000000000000'));
    expect(k.key.length).toBe(MAP_SIZES.fo_lpm6.key);
    expect(encodeLpmKey(100, '::/0').key.toString('hex')).toBe(hex('20000000 00000064 00000000000000000000000000000000'));
    expect(encodeLpmKey(254, '2001:db8::1/128').key.toString('hex')).toBe(hex('a0000000 000000fe 20010db8000000000000000000000001'));
    expect(encodeLpmKey(254, '::ffff:0.0.0.0/96').key.toString('hex')).toBe(hex('80000000 000000fe 00000000000000000000ffff00000000'));
  });

  it('IPv6: bits past a non-octet prefix length are zero', () => {
    expect(encodeLpmKey(254, 'fe80::/10').key.toString('hex')).toBe(hex('2a000000 000000fe fe800000000000000000000000000000'));
  });

  // layout.ts masks the address (maskBytes), but parsePrefix rejects host bits
  // before that: a prefix with host bits can never reach the map as a key that
  // differs from its canonical form. Pinned here so a change is deliberate.
  it('a prefix with host bits set is refused, not silently turned into another key', () => {
    expect(() => encodeLpmKey(254, '10.1.2.3/8')).toThrow(RangeError);
    expect(() => encodeLpmKey(254, '2001:db8::1/64')).toThrow(/host bits/);
  });
});

describe('route values', () => {
  it('forward: action 0 then group id, both u32 LE', () => {
    expect(encodeRouteValue({ action: 'forward', group: 0x12345 }).toString('hex')).toBe(hex('00000000 45230100'));
  });

  it('punt: action 1, group forced to 0', () => {
    expect(encodeRouteValue({ action: 'punt', group: 7 }).toString('hex')).toBe(hex('01000000 00000000'));
    expect(encodeRouteValue({ action: 'punt', group: 0 }).length).toBe(MAP_SIZES.fo_lpm4.value);
  });

  it('decode(encode(x)) round trips for v4 and v6, forward and punt', () => {
    const cases = [
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 0x100 },
      { table: 254, family: 4, dst: '0.0.0.0/0', action: 'punt', group: 0 },
      { table: 100, family: 4, dst: '192.168.1.2/32', action: 'forward', group: 0x0fffffff },
      { table: 254, family: 6, dst: '::/0', action: 'forward', group: 4711 },
      { table: 254, family: 6, dst: '::ffff:0.0.0.0/96', action: 'punt', group: 0 },
      { table: 0xfffffffe, family: 6, dst: '2001:db8:ab00::/40', action: 'forward', group: 257 },
      { table: 254, family: 6, dst: 'fe80::/10', action: 'punt', group: 0 },
      { table: 254, family: 6, dst: '2001:db8::1/128', action: 'punt', group: 0 },
    ] as const;
    for (const r of cases) {
      const { family, key } = encodeLpmKey(r.table, r.dst);
      expect(family).toBe(r.family);
      expect(decodeRoute(key, encodeRouteValue(r))).toEqual(r);
    }
  });

  it('decoding a punt value reports group 0 whatever the bytes hold', () => {
    const { key } = encodeLpmKey(254, '10.0.0.0/8');
    expect(decodeRoute(key, Buffer.from(hex('01000000 09000000'), 'hex'))).toMatchObject({ action: 'punt', group: 0 });
  });
});

describe('group key and value', () => {
  const members: MemberRecord[] = [
    { ifindex: 2, dmac: '0a:00:00:00:00:0a', smac: '02:00:00:00:00:02' },
    { ifindex: 0x0103, dmac: 'aa:bb:cc:dd:ee:ff', smac: '02:00:00:00:01:03' },
  ];

  it('key: id u32 LE', () => {
    expect(encodeGroupKey(0x0abcdef1).toString('hex')).toBe('f1debc0a');
    expect(encodeGroupKey(1).length).toBe(MAP_SIZES.fo_groups.key);
  });

  it('value: mask, count u16, route MTU u16, 256 bucket bytes (punt = 0xff), 64 x 24-byte members, exactly', () => {
    const v = encodeGroupValue({ members, buckets: [0, 1, -1, 1] });
    expect(v.length).toBe(1800);
    expect(v.subarray(0, 8).toString('hex')).toBe(hex('03000000 02000000'));
    expect(v.subarray(8, 12).toString('hex')).toBe(hex('00 01 ff 01'));
    expect(v.subarray(12, 264).equals(Buffer.alloc(252))).toBe(true);
    // ifindex, dmac, smac, vid 0, mtu 0, port = ifindex
    expect(v.subarray(264, 288).toString('hex')).toBe(hex('02000000 0a000000000a 020000000002 0000 0000 02000000'));
    expect(v.subarray(288, 312).toString('hex')).toBe(hex('03010000 aabbccddeeff 020000000103 0000 0000 03010000'));
    expect(v.subarray(312).equals(Buffer.alloc(1800 - 312))).toBe(true);
  });

  it('a member out of a VLAN sub-interface: the parent sends, with vid, the VLAN\'s MTU and the VLAN device as port', () => {
    const vlan: MemberRecord = { ifindex: 4, dmac: '0a:00:00:00:00:0b', smac: '02:00:00:00:00:0c', vid: 10, mtu: 1496, port: 12 };
    const v = encodeGroupValue({ members: [vlan, members[0]!], buckets: [0, 1] });
    expect(v.subarray(264, 288).toString('hex')).toBe(hex('04000000 0a000000000b 02000000000c 0a00 d805 0c000000'));
    expect(decodeGroup(encodeGroupKey(3), v)).toEqual({ id: 3, members: [vlan, members[0]], buckets: [0, 1] });
    expect(() => encodeGroupValue({ members: [{ ...vlan, vid: 4095 }], buckets: [0] })).toThrow(/VLAN id 4095/);
  });

  it('route MTU: u16 LE after the count (0 = none); decoded only when set; out of range is a RangeError', () => {
    const v = encodeGroupValue({ members, buckets: [0, 1], mtu: 1280 });
    expect(v.subarray(0, 8).toString('hex')).toBe(hex('01000000 0200 0005'));
    expect(decodeGroup(encodeGroupKey(7), v)).toEqual({ id: 7, members, buckets: [0, 1], mtu: 1280 });
    expect(decodeGroup(encodeGroupKey(7), encodeGroupValue({ members, buckets: [0, 1], mtu: 0 }))).toEqual({ id: 7, members, buckets: [0, 1] });
    expect(() => encodeGroupValue({ members, buckets: [0], mtu: 65536 })).toThrow(RangeError);
    expect(() => encodeGroupValue({ members, buckets: [0], mtu: -1 })).toThrow(RangeError);
  });

  it('a group an older agent wrote (u32 count) reads as the same members and no route MTU', () => {
    const old = encodeGroupValue({ members, buckets: [0, 1] });
    old.writeUInt32LE(members.length, 4);
    expect(decodeGroup(encodeGroupKey(7), old)).toEqual({ id: 7, members, buckets: [0, 1] });
  });

  it('BUCKET_PUNT given directly is written as 0xff too', () => {
    const v = encodeGroupValue({ members, buckets: [BUCKET_PUNT, 0] });
    expect(v.subarray(0, 10).toString('hex')).toBe(hex('01000000 02000000 ff00'));
  });

  it('a group without members: one punt bucket, count 0', () => {
    const v = encodeGroupValue({ members: [], buckets: [-1] });
    expect(v.subarray(0, 9).toString('hex')).toBe(hex('00000000 00000000 ff'));
    expect(v.subarray(9).equals(Buffer.alloc(1800 - 9))).toBe(true);
  });

  it('decode(encode(x)) round trips (punt buckets decode as -1)', () => {
    const g = { id: 0x1234, members, buckets: [0, 1, -1, 1] };
    expect(decodeGroup(encodeGroupKey(g.id), encodeGroupValue(g))).toEqual(g);
    const full = {
      id: 0x0fffffff,
      members: Array.from({ length: MAX_MEMBERS }, (_, i) => ({
        ifindex: 1000 + i,
        dmac: `0a:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
        smac: `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`,
      })),
      buckets: Array.from({ length: MAX_BUCKETS }, (_, i) => (i % 5 === 4 ? -1 : i % MAX_MEMBERS)),
    };
    const v = encodeGroupValue(full);
    expect(v.length).toBe(1800);
    expect(decodeGroup(encodeGroupKey(full.id), v)).toEqual(full);
  });

  it('RangeError: 65 members', () => {
    const many = Array.from({ length: 65 }, (_, i) => ({ ifindex: i + 1, dmac: '0a:00:00:00:00:01', smac: '02:00:00:00:00:01' }));
    expect(() => encodeGroupValue({ members: many, buckets: [0, 1] })).toThrow(RangeError);
    expect(() => encodeGroupValue({ members: many, buckets: [0, 1] })).toThrow(/65 members/);
    expect(() => encodeGroupValue({ members: many.slice(0, 64), buckets: [0, 1] })).not.toThrow();
  });

  it('RangeError: 3 buckets, 512 buckets, 0 buckets', () => {
    expect(() => encodeGroupValue({ members, buckets: [0, 1, 0] })).toThrow(RangeError);
    expect(() => encodeGroupValue({ members, buckets: [0, 1, 0] })).toThrow(/3 buckets/);
    expect(() => encodeGroupValue({ members, buckets: new Array<number>(512).fill(0) })).toThrow(/512 buckets/);
    expect(() => encodeGroupValue({ members, buckets: [] })).toThrow(RangeError);
    expect(() => encodeGroupValue({ members, buckets: new Array<number>(256).fill(1) })).not.toThrow();
  });
});

describe('config, stat key, u32', () => {
  it('config: four u32 LE; seed and build id taken as unsigned', () => {
    const v = encodeConfig({ hashV4: 0, hashV6: 1, seed: 0xdeadbeef, buildId: -1 });
    expect(v.toString('hex')).toBe(hex('00000000 01000000 efbeadde ffffffff'));
    expect(v.length).toBe(MAP_SIZES.fo_config.value);
    const c = { hashV4: 1, hashV6: 0, seed: 0x80000001, buildId: 0x12345678 };
    expect(decodeConfig(encodeConfig(c))).toEqual(c);
  });

  it('stat key: group, ifindex (u32 LE), dmac, 2 pad bytes', () => {
    const k = { group: 0x10001, ifindex: 5, dmac: '0a:0b:0c:0d:0e:0f' };
    const b = encodeStatKey(k);
    expect(b.toString('hex')).toBe(hex('01000100 05000000 0a0b0c0d0e0f 0000'));
    expect(b.length).toBe(MAP_SIZES.fo_stats.key);
    expect(decodeStatKey(b)).toEqual(k);
  });

  it('u32 keys (fo_tx, fo_config, fo_verdicts) are LE', () => {
    expect(encodeU32(0x01020304).toString('hex')).toBe('04030201');
    expect(encodeU32(0xffffffff).toString('hex')).toBe('ffffffff');
  });
});

describe('sumPerCpu', () => {
  it('adds one 16-byte {packets, bytes} counter per CPU', () => {
    const b = Buffer.alloc(48);
    b.writeBigUInt64LE(3n, 0);
    b.writeBigUInt64LE(1500n, 8);
    b.writeBigUInt64LE(0x1_0000_0000n, 16);
    b.writeBigUInt64LE(0xffff_ffff_ffffn, 24);
    // A third slot that must not be read with cpus = 2.
    b.writeBigUInt64LE(999n, 32);
    b.writeBigUInt64LE(999n, 40);
    expect(sumPerCpu(b, 2)).toEqual({ packets: 0x1_0000_0003n, bytes: 0xffff_ffff_ffffn + 1500n });
    expect(sumPerCpu(b, 1)).toEqual({ packets: 3n, bytes: 1500n });
    expect(sumPerCpu(b, 0)).toEqual({ packets: 0n, bytes: 0n });
  });

  it('sums past 2^64 without wrapping (bigint)', () => {
    const b = Buffer.alloc(32);
    b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 0);
    b.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 16);
    expect(sumPerCpu(b, 2).packets).toBe(0x1_ffff_ffff_ffff_fffen);
  });
});

// ---------------------------------------------------------------------------
// BTF of the compiled object.

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OBJECT = join(ROOT, 'bpf', 'build', 'fib_offload.bpf.o');

function findBpftool(): string | null {
  for (const cand of ['bpftool', '/usr/sbin/bpftool', '/sbin/bpftool', '/usr/local/sbin/bpftool']) {
    try {
      execFileSync(cand, ['version'], { stdio: 'ignore' });
      return cand;
    } catch {
      // try the next
    }
  }
  return null;
}

const bpftool = findBpftool();
const skipReason = bpftool === null
  ? 'bpftool not found (install bpftool)'
  : !existsSync(OBJECT) ? `${OBJECT} missing (run make -C bpf)` : null;

function loadBtf(): Map<number, BtfType> {
  const out = execFileSync(bpftool!, ['-j', 'btf', 'dump', 'file', OBJECT, 'format', 'raw'], { encoding: 'utf8' });
  const types = (JSON.parse(out) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(btf: Map<number, BtfType>, id: number): number {
  const t = btf.get(id);
  if (!t) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT': case 'STRUCT': case 'UNION': case 'ENUM': return t.size!;
    case 'TYPEDEF': case 'CONST': case 'VOLATILE': return sizeOf(btf, t.type_id!);
    case 'ARRAY': return t.nr_elems! * sizeOf(btf, t.type_id!);
    case 'PTR': return 8;
    default: throw new Error(`no size for BTF kind ${t.kind}`);
  }
}

function struct(btf: Map<number, BtfType>, name: string): BtfType {
  const s = [...btf.values()].find((t) => t.kind === 'STRUCT' && t.name === name);
  if (!s) throw new Error(`struct ${name} not in the object's BTF`);
  return s;
}

/** Byte offset of a member. */
function offsetOf(s: BtfType, member: string): number {
  const m = s.members!.find((x) => x.name === member);
  if (!m) throw new Error(`${s.name} has no member ${member}`);
  return m.bits_offset / 8;
}

describe.skipIf(skipReason !== null)(`MAP_SIZES against the object's BTF${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  const btf = skipReason === null ? loadBtf() : new Map<number, BtfType>();

  it('struct sizes', () => {
    const size = (n: string) => struct(btf, n).size;
    expect({
      fo_port_key: size('fo_port_key'),
      fo_port_val: size('fo_port_val'),
      fo_lpm4_key: size('fo_lpm4_key'),
      fo_lpm6_key: size('fo_lpm6_key'),
      fo_route_val: size('fo_route_val'),
      fo_group_val: size('fo_group_val'),
      fo_config: size('fo_config'),
      fo_stat_key: size('fo_stat_key'),
      fo_counter: size('fo_counter'),
    }).toEqual({
      fo_port_key: MAP_SIZES.fo_ports.key,
      fo_port_val: MAP_SIZES.fo_ports.value,
      fo_lpm4_key: MAP_SIZES.fo_lpm4.key,
      fo_lpm6_key: MAP_SIZES.fo_lpm6.key,
      fo_route_val: MAP_SIZES.fo_lpm4.value,
      fo_group_val: MAP_SIZES.fo_groups.value,
      fo_config: MAP_SIZES.fo_config.value,
      fo_stat_key: MAP_SIZES.fo_stats.key,
      fo_counter: MAP_SIZES.fo_stats.value,
    });
    expect(size('fo_route_val')).toBe(MAP_SIZES.fo_lpm6.value);
    expect(size('fo_counter')).toBe(MAP_SIZES.fo_verdicts.value);
  });

  it('every map definition\'s key and value types have the MAP_SIZES sizes', () => {
    const got: Record<string, { key: number; value: number }> = {};
    for (const name of MAP_NAMES) {
      const v = [...btf.values()].find((t) => t.kind === 'VAR' && t.name === name);
      if (!v) throw new Error(`map ${name} not in the object's BTF`);
      const def = btf.get(v.type_id!)!;
      const ptr = (m: string) => btf.get(def.members!.find((x) => x.name === m)!.type_id)!;
      // A map of maps declares `values` (its inner maps); its value is an inner map's fd or id, 4 bytes.
      const mapOfMaps = def.members!.some((x) => x.name === 'values');
      got[name] = { key: sizeOf(btf, ptr('key').type_id!), value: mapOfMaps ? 4 : sizeOf(btf, ptr('value').type_id!) };
    }
    expect(got).toEqual(MAP_SIZES);
  });

  it('field offsets the encoders use', () => {
    const portKey = struct(btf, 'fo_port_key');
    const portVal = struct(btf, 'fo_port_val');
    const lpm4 = struct(btf, 'fo_lpm4_key');
    const lpm6 = struct(btf, 'fo_lpm6_key');
    const group = struct(btf, 'fo_group_val');
    const member = struct(btf, 'fo_member');
    const stat = struct(btf, 'fo_stat_key');
    const cfg = struct(btf, 'fo_config');
    expect([offsetOf(portKey, 'ifindex'), offsetOf(portKey, 'vid')]).toEqual([0, 4]);
    expect([offsetOf(portVal, 'table'), offsetOf(portVal, 'mac'), offsetOf(portVal, 'flags'), offsetOf(portVal, 'ifindex')]).toEqual([0, 4, 10, 12]);
    for (const k of [lpm4, lpm6]) expect([offsetOf(k, 'prefixlen'), offsetOf(k, 'table_be'), offsetOf(k, 'addr')]).toEqual([0, 4, 8]);
    expect([offsetOf(group, 'bucket_mask'), offsetOf(group, 'nmembers'), offsetOf(group, 'mtu'), offsetOf(group, 'bucket'), offsetOf(group, 'member')])
      .toEqual([0, 4, 6, 8, 8 + MAX_BUCKETS]);
    expect(['nmembers', 'mtu'].map((m) => sizeOf(btf, group.members!.find((x) => x.name === m)!.type_id))).toEqual([2, 2]);
    expect(sizeOf(btf, group.members!.find((m) => m.name === 'bucket')!.type_id)).toBe(MAX_BUCKETS);
    expect(btf.get(group.members!.find((m) => m.name === 'member')!.type_id)!.nr_elems).toBe(MAX_MEMBERS);
    expect([member.size, offsetOf(member, 'ifindex'), offsetOf(member, 'dmac'), offsetOf(member, 'smac'), offsetOf(member, 'vid'), offsetOf(member, 'mtu'), offsetOf(member, 'port')])
      .toEqual([MEMBER_SIZE, 0, 4, 10, 16, 18, 20]);
    expect([offsetOf(stat, 'group'), offsetOf(stat, 'ifindex'), offsetOf(stat, 'dmac')]).toEqual([0, 4, 8]);
    expect(['hash_v4', 'hash_v6', 'seed', 'build_id'].map((m) => offsetOf(cfg, m))).toEqual([0, 4, 8, 12]);
  });

  it('audit structs: sizes and the offsets decodeAuditRecord reads', () => {
    const rec = struct(btf, 'fo_audit_rec');
    const cpu = struct(btf, 'fo_audit_cpu');
    expect(rec.size).toBe(AUDIT_REC_SIZE);
    expect(cpu.size).toBe(AUDIT_CPU_SIZE);
    expect(struct(btf, 'fo_audit_conf').size).toBe(MAP_SIZES.fo_audit_conf.value);
    expect(['rate', 'taken_ns'].map((m) => offsetOf(struct(btf, 'fo_audit_conf'), m))).toEqual([0, 8]);
    expect(Object.fromEntries(rec.members!.map((m) => [m.name, m.bits_offset / 8]))).toEqual({
      seq: 0, ktime_ns: 8, src: 16, dst: 32, table: 48, ingress: 52, group: 56, ifindex: 60, kernel_ifindex: 64,
      kernel_ret: 68, dmac: 72, kernel_dmac: 78, family: 84, result: 85, pad: 86, seq_end: 88,
    });
    expect([offsetOf(cpu, 'tick'), offsetOf(cpu, 'recorded'), offsetOf(cpu, 'result'), offsetOf(cpu, 'rec')]).toEqual([0, 8, 16, AUDIT_REC_OFFSET]);
    expect(btf.get(cpu.members!.find((m) => m.name === 'result')!.type_id)!.nr_elems).toBe(AUDIT_RESULTS.length);
    expect(btf.get(cpu.members!.find((m) => m.name === 'rec')!.type_id)!.nr_elems).toBe(AUDIT_SLOTS);
  });

  it('enum fo_audit_result in bpf/fib_offload.h is AUDIT_RESULTS, in order', () => {
    // Not in the BTF (no variable has the enum's type): read from the header the program is built from.
    const header = readFileSync(new URL('../../bpf/fib_offload.h', import.meta.url), 'utf8');
    const body = /enum fo_audit_result \{([^}]*)\}/.exec(header)?.[1] ?? '';
    const names = [...body.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/\b(FO_A_[A-Z_]+)\b/g)].map((m) => m[1]);
    expect(names).toEqual(['FO_A_AGREE', 'FO_A_EGRESS', 'FO_A_NEIGH', 'FO_A_NO_FORWARD', 'FO_A_NO_NEIGH', 'FO_A_FWD_OFF', 'FO_A_ERROR', 'FO_A_COUNT']);
    expect(AUDIT_RESULTS).toEqual(['agree', 'egress', 'neigh', 'kernel_no_forward', 'kernel_no_neigh', 'forwarding_off', 'error']);
    expect(/#define FO_AUDIT_SLOTS (\d+)/.exec(header)?.[1]).toBe(String(AUDIT_SLOTS));
  });
});

describe('audit records', () => {
  /** A struct fo_audit_rec as the program writes it. */
  function rec(fields: { seq: bigint; seqEnd?: bigint; family: 4 | 6; src: number[]; dst: number[]; result: number; ret: number }): Buffer {
    const b = Buffer.alloc(AUDIT_REC_SIZE);
    b.writeBigUInt64LE(fields.seq, 0);
    b.writeBigUInt64LE(123_456_789n, 8);
    Buffer.from(fields.src).copy(b, 16);
    Buffer.from(fields.dst).copy(b, 32);
    b.writeUInt32LE(254, 48);
    b.writeUInt32LE(2, 52);
    b.writeUInt32LE(7, 56);
    b.writeUInt32LE(3, 60);
    b.writeUInt32LE(fields.ret === 0 || fields.ret === 7 ? 4 : 0, 64);
    b.writeInt32LE(fields.ret, 68);
    Buffer.from([2, 0, 0, 0, 2, 2]).copy(b, 72);
    Buffer.from([2, 0, 0, 0, 3, 2]).copy(b, 78);
    b[84] = fields.family;
    b[85] = fields.result;
    b.writeBigUInt64LE(fields.seqEnd ?? fields.seq, 88);
    return b;
  }

  it('decodes an IPv4 egress disagreement', () => {
    const b = rec({ seq: 5n, family: 4, src: [10, 1, 0, 2], dst: [198, 51, 100, 1], result: 1, ret: 0 });
    expect(decodeAuditRecord(b, 0)).toEqual({
      seq: 5n, ktimeNs: 123_456_789n, family: 4, src: '10.1.0.2', dst: '198.51.100.1', table: 254, ingress: 2, group: 7,
      ifindex: 3, dmac: '02:00:00:00:02:02', kernelIfindex: 4, kernelDmac: '02:00:00:00:03:02', kernelRet: 0, result: 'egress',
    });
  });

  it('decodes an IPv6 record whose kernel answer is a failure: no kernel MAC', () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const dst = [0x20, 0x01, 0x0d, 0xb8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const r = decodeAuditRecord(rec({ seq: 1n, family: 6, src, dst, result: 3, ret: 1 }), 0)!;
    expect([r.src, r.dst, r.result, r.kernelRet, r.kernelDmac, r.kernelIfindex]).toEqual(['2001:db8:1::2', '2001:db8:100::1', 'kernel_no_forward', 1, null, 0]);
    expect(fibLookupRetName(r.kernelRet)).toBe('blackhole');
    expect([fibLookupRetName(4), fibLookupRetName(7), fibLookupRetName(8), fibLookupRetName(-19), fibLookupRetName(-5)])
      .toEqual(['not_forwarded', 'no_neigh', 'frag_needed', 'ENODEV', 'errno 5']);
  });

  it('an empty slot and a torn record (seq != seq_end) are skipped', () => {
    expect(decodeAuditRecord(Buffer.alloc(AUDIT_REC_SIZE), 0)).toBeNull();
    expect(decodeAuditRecord(rec({ seq: 9n, seqEnd: 8n, family: 4, src: [1, 1, 1, 1], dst: [2, 2, 2, 2], result: 1, ret: 0 }), 0)).toBeNull();
  });

  it('a per-CPU value: counters per result, records sorted by seq, CPU by CPU', () => {
    const v = Buffer.alloc(2 * AUDIT_CPU_SIZE);
    // CPU 0: 10 agree, 2 egress; ring slots 1 and 0 hold seq 2 and 17 (wrapped).
    v.writeBigUInt64LE(2n, 8 + 0);
    v.writeBigUInt64LE(17n, 8);
    v.writeBigUInt64LE(10n, 16);
    v.writeBigUInt64LE(2n, 24);
    rec({ seq: 17n, family: 4, src: [10, 1, 0, 2], dst: [198, 51, 100, 1], result: 1, ret: 0 }).copy(v, AUDIT_REC_OFFSET);
    rec({ seq: 2n, family: 4, src: [10, 1, 0, 2], dst: [198, 51, 100, 2], result: 1, ret: 0 }).copy(v, AUDIT_REC_OFFSET + AUDIT_REC_SIZE);
    // CPU 1: 3 forwarding_off.
    v.writeBigUInt64LE(3n, AUDIT_CPU_SIZE + 16 + 8 * 5);
    const cpus = decodeAuditPerCpu(v, 2);
    expect(cpus).toHaveLength(2);
    expect(cpus[0]!.recorded).toBe(17n);
    expect(cpus[0]!.packets).toMatchObject({ agree: 10n, egress: 2n, forwarding_off: 0n });
    expect(cpus[0]!.records.map((r) => [r.seq, r.dst])).toEqual([[2n, '198.51.100.2'], [17n, '198.51.100.1']]);
    expect(cpus[1]!.packets).toMatchObject({ agree: 0n, forwarding_off: 3n });
    expect(cpus[1]!.records).toEqual([]);
  });

  it('audit conf: rate u32 LE, 4 pad bytes, taken_ns u64 LE; the rate range-checked', () => {
    const c = { rate: 1024, takenNs: 0x0102030405060708n };
    expect(encodeAuditConf(c).toString('hex')).toBe(hex('00040000 00000000 0807060504030201'));
    expect(encodeAuditConf(c).length).toBe(MAP_SIZES.fo_audit_conf.value);
    expect(decodeAuditConf(encodeAuditConf(c))).toEqual(c);
    expect(decodeAuditConf(encodeAuditConf({ rate: 0xffffffff, takenNs: 0n })).rate).toBe(0xffffffff);
    expect(() => encodeAuditConf({ rate: -1, takenNs: 0n })).toThrow(RangeError);
    expect(() => encodeAuditConf({ rate: 1.5, takenNs: 0n })).toThrow(RangeError);
  });
});
