// The XDP forwarder itself, frame by frame, through BPF_PROG_TEST_RUN: crafted
// Ethernet frames go in with a real ingress ifindex (veths in a namespace), and
// the test checks the action, the exact bytes that come out, the verdict
// counter that moved and the per-member counter. Every PASS must leave the
// frame untouched; every forward must look exactly like the kernel's own
// forwarding (TTL / hop limit, ip_decrease_ttl()'s checksum, new MACs, VLAN
// tag and Ethernet padding gone).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endianness } from 'node:os';
import { NetnsSet, isRoot, run, type Netns } from './lib/netns.js';
import { ROOT } from './lib/probe.js';
import { OBJECT, XDP, XdpRunner, verdictDelta, type RunResult } from './lib/xdp-run.js';
import { BUCKET_PUNT, HASH_L3, HASH_L4, type MemberRecord, type Verdict } from '../../src/xdp/layout.js';
import { parseIp, parseMac } from '../../src/model/ip.js';

// ---------------------------------------------------------------- frames ---

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;

function mac(s: string): Buffer {
  return Buffer.from(parseMac(s));
}

function eth(dst: string, src: string, type: number, payload: Buffer, tag?: { tpid?: number; tci: number }): Buffer {
  const h = Buffer.alloc(tag ? 18 : 14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  if (tag) {
    h.writeUInt16BE(tag.tpid ?? ETH_P_8021Q, 12);
    h.writeUInt16BE(tag.tci, 14);
    h.writeUInt16BE(type, 16);
  } else {
    h.writeUInt16BE(type, 12);
  }
  return Buffer.concat([h, payload]);
}

/** RFC 1071 sum of 16-bit big-endian words, folded (not complemented). */
function onesSum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Does the header carry a valid checksum (sum over all words, checksum included, is 0xffff)? */
function checksumValid(hdr: Buffer): boolean {
  return onesSum(hdr) === 0xffff;
}

/** Full recomputation of the header checksum (the field taken as zero). */
function recomputeChecksum(hdr: Buffer): number {
  const h = Buffer.from(hdr);
  h.writeUInt16BE(0, 10);
  return ~onesSum(h) & 0xffff;
}

interface V4 {
  src: string; dst: string; ttl?: number; proto?: number; id?: number; tos?: number;
  /** frag_off field (flags and offset), host value. */
  frag?: number; options?: Buffer; payload?: Buffer;
  /** Overrides: tot_len, checksum, version, ihl (as written, not as implied). */
  totLen?: number; check?: number; version?: number; ihl?: number;
}

function ipv4(o: V4): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const payload = o.payload ?? udp(1000, 2000);
  const hl = 20 + opts.length;
  const h = Buffer.alloc(hl);
  h[0] = ((o.version ?? 4) << 4) | (o.ihl ?? hl / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(o.totLen ?? hl + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1c46, 4);
  h.writeUInt16BE(o.frag ?? 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto ?? 17;
  Buffer.from(parseIp(o.src)).copy(h, 12);
  Buffer.from(parseIp(o.dst)).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(o.check ?? recomputeChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

function udp(sport: number, dport: number, data: Buffer = Buffer.from('fib-offload test')): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + data.length, 4);
  return Buffer.concat([h, data]);
}

interface V6 { src: string; dst: string; hop?: number; nh?: number; flow?: number; tc?: number; payload?: Buffer; plen?: number }

function ipv6(o: V6): Buffer {
  const payload = o.payload ?? udp(1000, 2000);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((6 << 28) | ((o.tc ?? 0) << 20) | (o.flow ?? 0)) >>> 0, 0);
  h.writeUInt16BE(o.plen ?? payload.length, 4);
  h[6] = o.nh ?? 17;
  h[7] = o.hop ?? 64;
  Buffer.from(parseIp(o.src)).copy(h, 8);
  Buffer.from(parseIp(o.dst)).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** A UDP payload that makes the IP packet exactly `len` bytes long. */
function udpFor(len: number, ipHeader: number, sport = 1000, dport = 2000): Buffer {
  return udp(sport, dport, Buffer.alloc(len - ipHeader - 8, 0x5a));
}

/**
 * ip_decrease_ttl()'s new checksum field, modelled on the kernel's C: the
 * __sum16 loaded in host order, plus htons(0x0100), plus one when the result
 * is >= 0xFFFF, truncated to 16 bits and stored in host order.
 */
function kernelTtlChecksum(ipHdr: Buffer): Buffer {
  const le = endianness() === 'LE';
  let check = le ? ipHdr.readUInt16LE(10) : ipHdr.readUInt16BE(10);
  check += le ? 0x0001 : 0x0100;
  const v = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v, 0); else b.writeUInt16BE(v, 0);
  return b;
}

/** An id that gives this header the wanted (network order) checksum. */
function idForChecksum(base: V4, want: number): number {
  for (let id = 0; id <= 0xffff; id++) {
    const p = ipv4({ ...base, id });
    if (p.readUInt16BE(10) === want) return id;
  }
  throw new Error(`no id gives checksum ${want.toString(16)}`);
}

/**
 * What the kernel would transmit for `frame` forwarded to `m`: new MACs, the
 * arriving VLAN tag gone and, out of a VLAN sub-interface (m.vid), a new
 * 802.1Q tag with that vid and priority 0 (a VLAN device without an egress
 * QoS map), the IP packet trimmed to its own length, TTL / hop limit minus
 * one (IPv4 checksum as ip_decrease_ttl()).
 */
function forwardedFrame(frame: Buffer, m: MemberRecord): Buffer {
  const tagged = frame.readUInt16BE(12) === ETH_P_8021Q;
  const l3 = tagged ? 18 : 14;
  const type = frame.readUInt16BE(l3 - 2);
  let ip: Buffer;
  if (type === ETH_P_IP) {
    ip = Buffer.from(frame.subarray(l3, l3 + frame.readUInt16BE(l3 + 2)));
    kernelTtlChecksum(ip).copy(ip, 10);
    ip[8] = ip[8]! - 1;
  } else {
    ip = Buffer.from(frame.subarray(l3, l3 + 40 + frame.readUInt16BE(l3 + 4)));
    ip[7] = ip[7]! - 1;
  }
  const h = Buffer.alloc(m.vid ? 18 : 14);
  mac(m.dmac).copy(h, 0);
  mac(m.smac).copy(h, 6);
  if (m.vid) {
    h.writeUInt16BE(ETH_P_8021Q, 12);
    h.writeUInt16BE(m.vid, 14);
    h.writeUInt16BE(type, 16);
  } else {
    h.writeUInt16BE(type, 12);
  }
  return Buffer.concat([h, ip]);
}

const hex = (b: Buffer): string => b.toString('hex');

// --------------------------------------------------------------- topology ---

const HOST = '02:00:00:00:00:99';    // the sender behind the ingress port
const OTHER = '02:00:00:00:00:77';   // some other host on the ingress segment
const NH_A = '02:aa:00:00:00:02';    // next hops
const NH_B = '02:bb:00:00:00:03';
const NH_C = '02:cc:00:00:00:05';
const T1 = 100;
const T2 = 200;
const SEED = 0x5eed1234;

// Group ids.
const G_A = 1;          // one member via eth2
const G_B = 2;          // one member via eth3
const G_ECMP = 5;       // eth2 / eth3, 64 buckets, half each
const G_HALF_PUNT = 6;  // 64 buckets, every other one punted
const G_HAIRPIN = 7;    // egress eth1
const G_NO_TX = 8;      // egress eth4, not in fo_tx
const G_MTU = 9;        // egress eth5, MTU 1000
const G_ALL_PUNT = 11;  // one bucket, punted
const G_BAD_INDEX = 12; // bucket names member 3 of 1
const G_NO_DEV = 13;    // egress ifindex that does not exist
const G_ROUTE_MTU = 14; // via eth2 (MTU 1500), route MTU 900
const G_ROUTE_MTU_ABOVE = 15; // egress eth5 (MTU 1000), route MTU 1200: the device decides
const G_RPF_ECMP = 16; // eth2 / eth1: a member leaves through eth1 (rp_filter strict)
const G_VLAN = 17;      // out of a VLAN sub-interface of eth3 (vid 30, MTU 1000): tag pushed
const G_VLAN_BACK = 18; // out of eth1's VLAN 10 (the tagged port's own device and vid)
const V30 = 7730;       // the VLAN devices' ifindexes (ports as the kernel names them)
const V10 = 7710;
const V30_MAC = '02:00:00:00:30:30';
const V10_MAC = '02:00:00:00:10:10';
const G_MISSING = 999;  // routes point at it, it is never written

describe.skipIf(!isRoot())('fib_offload.bpf.o under BPF_PROG_TEST_RUN', () => {
  const nets = new NetnsSet('xdp');
  let r: Netns;
  let x: XdpRunner | undefined;
  type Dev = 'eth1' | 'eth2' | 'eth3' | 'eth4' | 'eth5';
  const DEVS: readonly Dev[] = ['eth1', 'eth2', 'eth3', 'eth4', 'eth5'];
  const ifx = {} as Record<Dev, number>;
  const pmac = {} as Record<Dev, string>;
  let A: MemberRecord;     // eth2 -> NH_A
  let B: MemberRecord;     // eth3 -> NH_B
  let C: MemberRecord;     // eth5 -> NH_C
  let Hair: MemberRecord;  // eth1 -> NH_A
  let Vout: MemberRecord;  // eth3 VLAN 30 -> NH_B
  let Vback: MemberRecord; // eth1 VLAN 10 -> NH_C

  function xr(): XdpRunner {
    if (!x) throw new Error('runner not loaded');
    return x;
  }

  function cfg(hashV4: number, hashV6: number): void {
    xr().setConfig({ hashV4, hashV6, seed: SEED, buildId: 0 });
  }

  /** Run one frame; assert exactly one verdict counter moved, by one packet, and return it. */
  function send(frame: Buffer, ingress: Dev, opts: { linear?: number } = {}): RunResult & { verdict: Verdict; vbytes: bigint } {
    const before = xr().verdicts();
    const res = xr().run(frame, { ingress: ifx[ingress], ...opts });
    const d = verdictDelta(before, xr().verdicts());
    const moved = Object.keys(d) as Verdict[];
    expect(moved, `verdicts moved: ${JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`).toHaveLength(1);
    const v = moved[0]!;
    expect(d[v]!.packets).toBe(1n);
    return { ...res, verdict: v, vbytes: d[v]!.bytes };
  }

  /** The frame goes to the kernel untouched, counted under `verdict`. */
  function expectPass(frame: Buffer, ingress: Dev, verdict: Verdict, opts: { linear?: number } = {}): void {
    const res = send(frame, ingress, opts);
    expect({ retval: res.retval, verdict: res.verdict }).toEqual({ retval: XDP.PASS, verdict });
    expect(hex(res.dataOut)).toBe(hex(frame));
    // The whole frame, fragments included (bpf_xdp_get_buff_len), not only the linear part.
    expect(res.vbytes).toBe(BigInt(frame.length));
  }

  /** The frame is redirected to `m` as the kernel would forward it; verdict and member counters move by the output length. */
  function expectForward(frame: Buffer, ingress: Dev, group: number, m: MemberRecord): Buffer {
    // Counted per egress as the kernel names it: the VLAN device for a tagged egress.
    const key = { group, ifindex: m.port ?? m.ifindex, dmac: m.dmac };
    const before = xr().stat(key);
    const res = send(frame, ingress);
    const want = forwardedFrame(frame, m);
    expect({ retval: res.retval, verdict: res.verdict }).toEqual({ retval: XDP.REDIRECT, verdict: 'forwarded' });
    expect(hex(res.dataOut)).toBe(hex(want));
    expect(res.vbytes).toBe(BigInt(want.length));
    const after = xr().stat(key);
    expect({ packets: after.packets - before.packets, bytes: after.bytes - before.bytes })
      .toEqual({ packets: 1n, bytes: BigInt(want.length) });
    return res.dataOut;
  }

  /** Which member a forwarded frame went to, by its new destination MAC; or the PASS verdict. */
  function outcome(frame: Buffer, ingress: Dev = 'eth1'): string {
    const res = send(frame, ingress);
    if (res.retval === XDP.REDIRECT) {
      expect(res.verdict).toBe('forwarded');
      const d = res.dataOut.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1:');
      return d;
    }
    expect(res.retval).toBe(XDP.PASS);
    return res.verdict;
  }

  const v4 = (o: Partial<V4> & { dst: string }, dst: string = pmac.eth1, ingressTag?: { tpid?: number; tci: number }): Buffer =>
    eth(dst, HOST, ETH_P_IP, ipv4({ src: '192.0.2.10', ...o }), ingressTag);
  const v6 = (o: Partial<V6> & { dst: string }, dst: string = pmac.eth1, ingressTag?: { tpid?: number; tci: number }): Buffer =>
    eth(dst, HOST, ETH_P_IPV6, ipv6({ src: '2001:db8:ff::10', ...o }), ingressTag);

  beforeAll(() => {
    // The object under test is built from the current source, unless
    // FOT_XDP_OBJECT names another build (e.g. a deliberately broken one).
    const object = process.env.FOT_XDP_OBJECT;
    if (!object) run(['make', '-s', '-C', `${ROOT}bpf`]);
    r = nets.add('r');
    const h = nets.add('h');
    DEVS.forEach((d, i) => nets.veth(r, d, h, `p${i + 1}`));
    r.ip('link', 'set', 'dev', 'eth5', 'mtu', '1000');
    for (const d of DEVS) {
      ifx[d] = r.ifindex(d);
      pmac[d] = r.mac(d);
    }
    A = { ifindex: ifx.eth2, dmac: NH_A, smac: pmac.eth2 };
    B = { ifindex: ifx.eth3, dmac: NH_B, smac: pmac.eth3 };
    C = { ifindex: ifx.eth5, dmac: NH_C, smac: pmac.eth5 };
    Hair = { ifindex: ifx.eth1, dmac: NH_A, smac: pmac.eth1 };
    Vout = { ifindex: ifx.eth3, dmac: NH_B, smac: V30_MAC, vid: 30, mtu: 1000, port: V30 };
    Vback = { ifindex: ifx.eth1, dmac: NH_C, smac: V10_MAC, vid: 10, mtu: 1500, port: V10 };

    x = XdpRunner.load('xdp', r.name, object ?? OBJECT);
    const X = x;
    cfg(HASH_L3, HASH_L3);
    // Ports: eth1 untagged and VLAN 10 in table 100; eth2 untagged in table 200. eth3..5 are egress only.
    X.setPort(ifx.eth1, 0, T1, pmac.eth1);
    X.setPort(ifx.eth1, 10, T1, pmac.eth1);
    X.setPort(ifx.eth2, 0, T2, pmac.eth2);
    for (const d of ['eth1', 'eth2', 'eth3', 'eth5'] as const) X.setTx(ifx[d]);

    const half = (n: number) => Array.from({ length: 64 }, (_, i) => (i < 32 ? 0 : n));
    X.setGroup(G_A, [A], [0]);
    X.setGroup(G_B, [B], [0]);
    X.setGroup(G_ECMP, [A, B], half(1));
    X.setGroup(G_HALF_PUNT, [A, B], Array.from({ length: 64 }, (_, i) => (i % 2 ? BUCKET_PUNT : i % 4 ? 1 : 0)));
    X.setGroup(G_HAIRPIN, [Hair], [0]);
    X.setGroup(G_NO_TX, [{ ifindex: ifx.eth4, dmac: NH_A, smac: pmac.eth4 }], [0]);
    X.setGroup(G_MTU, [C], [0]);
    X.setGroup(G_ALL_PUNT, [A], [BUCKET_PUNT]);
    X.setGroup(G_BAD_INDEX, [A], [3]);
    X.setGroup(G_NO_DEV, [{ ifindex: 9999, dmac: NH_A, smac: pmac.eth2 }], [0]);
    X.setGroup(G_ROUTE_MTU, [A], [0], 900);
    X.setGroup(G_ROUTE_MTU_ABOVE, [C], [0], 1200);
    X.setGroup(G_RPF_ECMP, [A, Hair], half(1));
    X.setGroup(G_VLAN, [Vout], [0]);
    X.setGroup(G_VLAN_BACK, [Vback], [0]);

    for (const [dst, g] of [
      ['10.0.0.0/8', G_A], ['10.9.0.0/16', G_ECMP], ['10.10.0.0/16', G_HALF_PUNT], ['10.10.1.0/24', G_ALL_PUNT],
      ['10.10.2.0/24', G_BAD_INDEX], ['10.11.0.0/16', G_MISSING], ['10.12.0.0/16', G_HAIRPIN], ['10.13.0.0/16', G_NO_TX],
      ['10.13.1.0/24', G_NO_DEV], ['10.14.0.0/16', G_MTU], ['10.15.0.0/16', G_ROUTE_MTU], ['10.16.0.0/16', G_ROUTE_MTU_ABOVE],
      ['10.17.0.0/16', G_RPF_ECMP], ['10.18.0.0/16', G_VLAN], ['10.19.0.0/16', G_VLAN_BACK], ['2001:db8:18::/48', G_VLAN],
      // Routes covering the special addresses: without its checks the program would forward these.
      ['224.0.0.0/4', G_A], ['127.0.0.0/8', G_A], ['0.0.0.0/8', G_A], ['255.255.255.255/32', G_A],
      // ... and their neighbours, which are ordinary unicast.
      ['223.0.0.0/8', G_A], ['240.0.0.0/5', G_A], ['1.0.0.0/8', G_A], ['128.0.0.0/8', G_A],
      ['2001:db8::/32', G_A], ['2001:db8:9::/48', G_ECMP], ['2001:db8:14::/48', G_MTU], ['2001:db8:15::/48', G_ROUTE_MTU],
      ['fe80::/10', G_A], ['ff00::/8', G_A], ['fec0::/10', G_A], ['::1/128', G_A], ['::/128', G_A],
    ] as const) X.setRoute(T1, dst, 'forward', g);
    X.setRoute(T1, '10.1.2.0/24', 'punt');
    X.setRoute(T1, '2001:db8:1::/48', 'punt');
    X.setRoute(T2, '10.1.2.0/24', 'forward', G_B);
    X.setRoute(T2, '2001:db8:1::/48', 'forward', G_B);
    X.setRoute(T2, '10.12.0.0/16', 'forward', G_HAIRPIN);
  });

  afterAll(() => {
    try {
      x?.destroy();
    } finally {
      nets.destroy();
    }
  });

  describe('IPv4 forwarding', () => {
    it('rewrites the MACs, decrements the TTL with the kernel checksum and counts the member', () => {
      const out = expectForward(v4({ dst: '10.5.6.7', ttl: 64 }), 'eth1', G_A, A);
      expect(out.subarray(0, 6)).toEqual(mac(NH_A));
      expect(out.subarray(6, 12)).toEqual(mac(pmac.eth2));
      expect(out[14 + 8]).toBe(63);
      expect(checksumValid(out.subarray(14, 34))).toBe(true);
    });

    it('produces ip_decrease_ttl()\'s checksum over many headers, each one valid on recomputation', () => {
      const cases: V4[] = [];
      for (const ttl of [2, 3, 64, 128, 255]) {
        for (const id of [0, 1, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfeff, 0xff00, 0xfffe, 0xffff]) {
          cases.push({ src: '192.0.2.10', dst: '10.200.3.4', ttl, id, tos: ttl & 0xfc });
        }
      }
      for (const c of cases) {
        const frame = eth(pmac.eth1, HOST, ETH_P_IP, ipv4(c));
        const out = expectForward(frame, 'eth1', G_A, A);
        const hdr = out.subarray(14, 34);
        expect(hdr[8]).toBe(c.ttl! - 1);
        expect(checksumValid(hdr)).toBe(true);
        expect(hdr.readUInt16BE(10)).toBe(recomputeChecksum(hdr));
      }
    });

    it('handles the 0xFFFF / 0x0000 edge of the incremental update exactly like the kernel', () => {
      const base: V4 = { src: '192.0.2.10', dst: '10.77.0.1', ttl: 64 };
      // 0xfeff + 0x0100 is 0xffff, which ip_decrease_ttl() turns into 0x0000
      // (the same in either host byte order); the naive "add the carry back"
      // would leave 0xffff, the other zero.
      const edge = 0xfeff;
      // And a checksum whose high byte overflows: the carry must wrap around (0xff42 -> 0x0043).
      const carry = 0xff42;
      for (const want of [edge, carry]) {
        const frame = eth(pmac.eth1, HOST, ETH_P_IP, ipv4({ ...base, id: idForChecksum(base, want) }));
        expect(frame.readUInt16BE(14 + 10)).toBe(want);
        const out = expectForward(frame, 'eth1', G_A, A);
        const hdr = out.subarray(14, 34);
        expect(hdr.subarray(10, 12)).toEqual(kernelTtlChecksum(frame.subarray(14, 34)));
        expect(checksumValid(hdr)).toBe(true);
        expect(hdr.readUInt16BE(10)).toBe(recomputeChecksum(hdr));
      }
      const out = expectForward(eth(pmac.eth1, HOST, ETH_P_IP, ipv4({ ...base, id: idForChecksum(base, edge) })), 'eth1', G_A, A);
      expect(out.readUInt16BE(14 + 10)).toBe(0x0000);
      const out2 = expectForward(eth(pmac.eth1, HOST, ETH_P_IP, ipv4({ ...base, id: idForChecksum(base, carry) })), 'eth1', G_A, A);
      expect(out2.readUInt16BE(14 + 10)).toBe(0x0043);
    });

    it('accumulates the member counter per (group, egress, next-hop MAC)', () => {
      const key = { group: G_A, ifindex: A.ifindex, dmac: A.dmac };
      const before = xr().stat(key);
      const sizes = [60, 100, 1400];
      for (const n of sizes) expectForward(v4({ dst: '10.5.6.8', payload: udpFor(n, 20) }), 'eth1', G_A, A);
      const after = xr().stat(key);
      expect(after.packets - before.packets).toBe(3n);
      expect(after.bytes - before.bytes).toBe(BigInt(sizes.reduce((s, n) => s + 14 + n, 0)));
      expect(xr().stats().some((s) => s.key.group === G_A && s.key.ifindex === A.ifindex && s.key.dmac === NH_A)).toBe(true);
    });
  });

  describe('IPv6 forwarding', () => {
    it('decrements the hop limit, rewrites the MACs and changes nothing else', () => {
      const frame = v6({ dst: '2001:db8:5::5', hop: 64, tc: 0xb8, flow: 0xabcde });
      const out = expectForward(frame, 'eth1', G_A, A);
      expect(out.length).toBe(frame.length);
      const diff: number[] = [];
      for (let i = 0; i < out.length; i++) if (out[i] !== frame[i]) diff.push(i);
      // Only MAC bytes (some may coincide) and the hop limit differ.
      expect(diff.every((i) => i < 12 || i === 14 + 7)).toBe(true);
      expect(out[14 + 7]).toBe(63);
      expect(hex(out.subarray(12, 14 + 7))).toBe(hex(frame.subarray(12, 14 + 7)));
      expect(hex(out.subarray(14 + 8))).toBe(hex(frame.subarray(14 + 8)));
      expectForward(v6({ dst: '2001:db8:5::6', hop: 2 }), 'eth1', G_A, A);
      expectForward(v6({ dst: '2001:db8:5::7', hop: 255, nh: 6, payload: Buffer.alloc(20, 1) }), 'eth1', G_A, A);
    });
  });

  describe('longest-prefix match and tables', () => {
    it('punts addresses in the /24 punt route inside the forwarded /8', () => {
      for (const dst of ['10.1.2.0', '10.1.2.3', '10.1.2.255']) expectPass(v4({ dst }), 'eth1', 'route_punt');
      for (const dst of ['10.1.1.255', '10.1.3.0', '10.0.0.1', '10.255.255.255']) expectForward(v4({ dst }), 'eth1', G_A, A);
      expectPass(v6({ dst: '2001:db8:1::5' }), 'eth1', 'route_punt');
      expectForward(v6({ dst: '2001:db8:2::5' }), 'eth1', G_A, A);
      expectForward(v6({ dst: '2001:db8:0:ffff::5' }), 'eth1', G_A, A);
    });

    it('looks up the ingress port\'s table', () => {
      // eth2 is in table 200, where 10.1.2.0/24 forwards via eth3 and nothing covers 10.5.6.7.
      expectForward(v4({ dst: '10.1.2.3' }, pmac.eth2), 'eth2', G_B, B);
      expectPass(v4({ dst: '10.5.6.7' }, pmac.eth2), 'eth2', 'no_route');
      expectForward(v6({ dst: '2001:db8:1::5' }, pmac.eth2), 'eth2', G_B, B);
      expectPass(v6({ dst: '2001:db8:2::5' }, pmac.eth2), 'eth2', 'no_route');
    });

    it('passes destinations no offloaded prefix covers', () => {
      expectPass(v4({ dst: '192.0.2.1' }), 'eth1', 'no_route');
      expectPass(v4({ dst: '11.0.0.1' }), 'eth1', 'no_route');
      expectPass(v6({ dst: '2001:db9::1' }), 'eth1', 'no_route');
    });
  });

  describe('frames the kernel must see', () => {
    it('TTL / hop limit 1 and 0', () => {
      expectPass(v4({ dst: '10.5.6.7', ttl: 1 }), 'eth1', 'ttl');
      expectPass(v4({ dst: '10.5.6.7', ttl: 0 }), 'eth1', 'ttl');
      expectPass(v6({ dst: '2001:db8:5::5', hop: 1 }), 'eth1', 'ttl');
      expectPass(v6({ dst: '2001:db8:5::5', hop: 0 }), 'eth1', 'ttl');
    });

    it('IPv4 options and the IPv6 hop-by-hop header', () => {
      // ihl 6: NOP, NOP, NOP, EOL; checksum valid.
      expectPass(v4({ dst: '10.5.6.7', options: Buffer.from([1, 1, 1, 0]) }), 'eth1', 'options');
      // ihl 15: a router alert plus padding.
      expectPass(v4({ dst: '10.5.6.7', options: Buffer.concat([Buffer.from([148, 4, 0, 0]), Buffer.alloc(36, 1)]) }), 'eth1', 'options');
      // Hop-by-hop with a router alert, then UDP.
      const hbh = Buffer.from([17, 0, 5, 2, 0, 0, 1, 0]);
      expectPass(v6({ dst: '2001:db8:5::5', nh: 0, payload: Buffer.concat([hbh, udp(1, 2)]) }), 'eth1', 'options');
      // Jumbogram: payload length 0 with hop-by-hop.
      expectPass(v6({ dst: '2001:db8:5::5', nh: 0, plen: 0, payload: Buffer.concat([hbh, udp(1, 2)]) }), 'eth1', 'options');
    });

    it('malformed IP headers', () => {
      // Bad checksum (and the same header with it fixed is forwarded).
      const good = ipv4({ src: '192.0.2.10', dst: '10.5.6.7' });
      const bad = Buffer.from(good);
      bad.writeUInt16BE(bad.readUInt16BE(10) ^ 0x0101, 10);
      expectPass(eth(pmac.eth1, HOST, ETH_P_IP, bad), 'eth1', 'malformed');
      expectForward(eth(pmac.eth1, HOST, ETH_P_IP, good), 'eth1', G_A, A);
      expectPass(v4({ dst: '10.5.6.7', version: 6 }), 'eth1', 'malformed');
      expectPass(v4({ dst: '10.5.6.7', ihl: 4 }), 'eth1', 'malformed');
      expectPass(v4({ dst: '10.5.6.7', totLen: 19 }), 'eth1', 'malformed');
      // IPv6 header with another version.
      const six = ipv6({ src: '2001:db8:ff::10', dst: '2001:db8:5::5' });
      six[0] = 0x40;
      expectPass(eth(pmac.eth1, HOST, ETH_P_IPV6, six), 'eth1', 'malformed');
    });

    it('truncated frames', () => {
      const frame = v4({ dst: '10.5.6.7' });
      // Exactly an Ethernet header, and an IP header one byte short.
      expectPass(frame.subarray(0, 14), 'eth1', 'malformed');
      expectPass(frame.subarray(0, 14 + 19), 'eth1', 'malformed');
      // tot_len one byte more than the frame carries.
      const ipLen = frame.length - 14;
      expectPass(v4({ dst: '10.5.6.7', totLen: ipLen + 1 }), 'eth1', 'malformed');
      // The same with tot_len = what is there: forwarded.
      expectForward(v4({ dst: '10.5.6.7', totLen: ipLen }), 'eth1', G_A, A);
      // IPv6: header one byte short; payload length one more than present.
      const f6 = v6({ dst: '2001:db8:5::5' });
      expectPass(f6.subarray(0, 14 + 39), 'eth1', 'malformed');
      expectPass(v6({ dst: '2001:db8:5::5', plen: f6.length - 14 - 40 + 1 }), 'eth1', 'malformed');
      // An 802.1Q tag cut short.
      expectPass(eth(pmac.eth1, HOST, ETH_P_8021Q, Buffer.from([0x00, 0x0a, 0x08])), 'eth1', 'malformed');
      // Shorter than Ethernet: BPF_PROG_TEST_RUN refuses such an input, but
      // accepts a linear part shorter than 14 bytes (the rest in fragments).
      expect(() => xr().run(frame.subarray(0, 13), { ingress: ifx.eth1 })).toThrow(/Invalid argument/);
      expectPass(frame.subarray(0, 20), 'eth1', 'malformed', { linear: 13 });
      expectPass(frame.subarray(0, 20), 'eth1', 'malformed', { linear: 0 });
    });

    it('non-IP frames', () => {
      const arp = Buffer.from('0001080006040001' + '020000000099' + 'c0000210' + '000000000000' + 'c0000201', 'hex');
      expectPass(eth(pmac.eth1, HOST, ETH_P_ARP, arp), 'eth1', 'not_ip');
      expectPass(eth(pmac.eth1, HOST, 0x88cc, Buffer.alloc(46)), 'eth1', 'not_ip');
      // IPv4 bytes under another EtherType.
      expectPass(eth(pmac.eth1, HOST, 0x8847, ipv4({ src: '192.0.2.10', dst: '10.5.6.7' })), 'eth1', 'not_ip');
    });

    it('frames not addressed to the port', () => {
      for (const dst of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:05', '33:33:00:00:00:01', OTHER, pmac.eth2]) {
        expectPass(v4({ dst: '10.5.6.7' }, dst), 'eth1', 'not_host');
      }
      expectPass(v6({ dst: '2001:db8:5::5' }, OTHER), 'eth1', 'not_host');
      expectPass(eth('ff:ff:ff:ff:ff:ff', HOST, ETH_P_ARP, Buffer.alloc(28)), 'eth1', 'not_host');
    });

    it('ingress interfaces that are not ports', () => {
      expectPass(v4({ dst: '10.5.6.7' }, pmac.eth4), 'eth4', 'not_port');
      expectPass(v4({ dst: '10.5.6.7' }, pmac.eth3), 'eth3', 'not_port');
      expectPass(v6({ dst: '2001:db8:5::5' }, pmac.eth4), 'eth4', 'not_port');
    });

    it('special IPv4 sources and destinations, although routes cover them', () => {
      const special = ['224.0.0.1', '239.255.255.255', '0.0.0.0', '0.255.255.255', '127.0.0.1', '127.255.255.254', '255.255.255.255'];
      for (const a of special) {
        expectPass(v4({ src: a, dst: '10.5.6.7' }), 'eth1', 'special');
        expectPass(v4({ dst: a }), 'eth1', 'special');
      }
      // Their unicast neighbours are forwarded, as source and as destination.
      for (const a of ['223.255.255.255', '240.0.0.1', '1.0.0.0', '128.0.0.1']) {
        expectForward(v4({ src: a, dst: '10.5.6.7' }), 'eth1', G_A, A);
        expectForward(v4({ dst: a }), 'eth1', G_A, A);
      }
    });

    it('special IPv6 sources and destinations, although routes cover them', () => {
      for (const a of ['fe80::1', 'febf:ffff::1', 'ff02::1', 'ff0e::1', 'ff05::2']) {
        expectPass(v6({ src: a, dst: '2001:db8:5::5' }), 'eth1', 'special');
        expectPass(v6({ dst: a }), 'eth1', 'special');
      }
      // Loopback and unspecified: the kernel drops ::1 from the wire (ip6_rcv_core) and :: as a
      // source (ip6_forward); :: as a destination is left to it as well.
      for (const a of ['::1', '::']) {
        expectPass(v6({ src: a, dst: '2001:db8:5::5' }), 'eth1', 'special');
        expectPass(v6({ dst: a }), 'eth1', 'special');
      }
      // The kernel forwards IPv4-mapped sources (its drop moved to TCP long ago), and so does the program.
      expectForward(v6({ src: '::ffff:192.0.2.1', dst: '2001:db8:5::5' }), 'eth1', G_A, A);
      // Site-local (fec0::/10) is not link-local: forwarded.
      expectForward(v6({ src: 'fec0::1', dst: '2001:db8:5::5' }), 'eth1', G_A, A);
      expectForward(v6({ dst: 'fec0::1' }), 'eth1', G_A, A);
      expectForward(v6({ src: '::2', dst: '2001:db8:5::5' }), 'eth1', G_A, A);
    });
  });

  describe('802.1Q', () => {
    it('a tag whose (port, vid) is not configured is not a port', () => {
      expectPass(v4({ dst: '10.1.2.3' }, pmac.eth2, { tci: 10 }), 'eth2', 'not_port');
      expectPass(v4({ dst: '10.5.6.7' }, pmac.eth1, { tci: 11 }), 'eth1', 'not_port');
    });

    it('forwards tagged frames of a configured (port, vid) untagged', () => {
      const f = v4({ dst: '10.5.6.7' }, pmac.eth1, { tci: 10 });
      const out = expectForward(f, 'eth1', G_A, A);
      expect(out.length).toBe(f.length - 4);
      expect(out.readUInt16BE(12)).toBe(ETH_P_IP);
      // Priority and DEI bits are not part of the vid.
      expectForward(v4({ dst: '10.5.6.7' }, pmac.eth1, { tci: 0xb00a }), 'eth1', G_A, A);
      expectForward(v6({ dst: '2001:db8:5::5' }, pmac.eth1, { tci: 10 }), 'eth1', G_A, A);
      // A priority tag (vid 0) belongs to the untagged port, as in the kernel.
      expectForward(v4({ dst: '10.1.2.3' }, pmac.eth2, { tci: 0x6000 }), 'eth2', G_B, B);
      // Tagged frames still get every check.
      expectPass(v4({ dst: '10.1.2.3' }, pmac.eth1, { tci: 10 }), 'eth1', 'route_punt');
      expectPass(v4({ dst: '10.5.6.7', ttl: 1 }, pmac.eth1, { tci: 10 }), 'eth1', 'ttl');
      expectPass(v4({ dst: '10.5.6.7' }, OTHER, { tci: 10 }), 'eth1', 'not_host');
    });

    it('does not take an 802.1ad (S-)tag for an 802.1Q vlan', () => {
      // fo_ports is keyed by vid alone, configured for 802.1Q VLANs; the kernel
      // would hand an S-tagged frame to an 802.1ad device, never to the 802.1Q one.
      expectPass(v4({ dst: '10.5.6.7' }, pmac.eth1, { tpid: ETH_P_8021AD, tci: 10 }), 'eth1', 'not_ip');
    });
  });

  describe('egress onto a VLAN sub-interface (the member\'s vid)', () => {
    it('untagged in, tagged out: 4 bytes pushed, the tag is 802.1Q with the vid and priority 0, IPv4 and IPv6', () => {
      const f = v4({ dst: '10.18.0.1' });
      const out = expectForward(f, 'eth1', G_VLAN, Vout);
      expect(out.length).toBe(f.length + 4);
      expect(hex(out.subarray(12, 18))).toBe(hex(Buffer.from([0x81, 0x00, 0x00, 30, 0x08, 0x00])));
      expect(out.subarray(6, 12)).toEqual(mac(V30_MAC));
      expect(checksumValid(out.subarray(18, 38))).toBe(true);
      expectForward(v6({ dst: '2001:db8:18::1' }), 'eth1', G_VLAN, Vout);
    });

    it('tagged in, tagged out: the tag rewritten in place (vid, priority and DEI of the arriving tag gone)', () => {
      const f = v4({ dst: '10.18.0.1' }, pmac.eth1, { tci: 0xb00a });
      const out = expectForward(f, 'eth1', G_VLAN, Vout);
      expect(out.length).toBe(f.length);
      expect(out.readUInt16BE(14)).toBe(30);
    });

    it('the VLAN device\'s MTU: up to it forwarded (the tag does not count), one byte more to the kernel', () => {
      expectForward(v4({ dst: '10.18.0.1', payload: udpFor(1000, 20) }), 'eth1', G_VLAN, Vout);
      expectPass(v4({ dst: '10.18.0.1', payload: udpFor(1001, 20) }), 'eth1', 'mtu');
      expectForward(v4({ dst: '10.18.0.1', payload: udpFor(1000, 20) }, pmac.eth1, { tci: 10 }), 'eth1', G_VLAN, Vout);
      expectPass(v4({ dst: '10.18.0.1', payload: udpFor(1001, 20) }, pmac.eth1, { tci: 10 }), 'eth1', 'mtu');
      expectPass(v6({ dst: '2001:db8:18::1', payload: udpFor(1001, 40) }), 'eth1', 'mtu');
    });

    it('padding trimmed and the tag pushed together', () => {
      const ip = ipv4({ src: '192.0.2.10', dst: '10.18.0.1', payload: udp(7, 9, Buffer.alloc(0)) });
      const padded = Buffer.concat([eth(pmac.eth1, HOST, ETH_P_IP, ip), Buffer.alloc(60 - 42, 0xee)]);
      expect(expectForward(padded, 'eth1', G_VLAN, Vout).length).toBe(18 + 28);
    });

    it('hairpin is (device, vid): a VLAN port to itself is the kernel\'s; to its parent untagged, or back, is forwarding', () => {
      expectPass(v4({ dst: '10.19.0.1' }, pmac.eth1, { tci: 10 }), 'eth1', 'hairpin');
      // eth1 untagged -> eth1 VLAN 10: another port (the kernel forwards between them too).
      expectForward(v4({ dst: '10.19.0.1' }), 'eth1', G_VLAN_BACK, Vback);
      // eth1 VLAN 10 -> eth1 untagged: popped.
      const out = expectForward(v4({ dst: '10.12.0.1' }, pmac.eth1, { tci: 10 }), 'eth1', G_HAIRPIN, Hair);
      expect(out.readUInt16BE(12)).toBe(ETH_P_IP);
    });

    it('rp_filter strict on a VLAN port: the source must route back out of that VLAN, not out of its parent', () => {
      xr().setPort(ifx.eth1, 10, T1, pmac.eth1, 'strict', undefined, V10);
      try {
        expectForward(v4({ src: '10.19.0.5', dst: '10.5.6.7' }, pmac.eth1, { tci: 10 }), 'eth1', G_A, A);
        expectPass(v4({ src: '10.12.0.5', dst: '10.5.6.7' }, pmac.eth1, { tci: 10 }), 'eth1', 'rp_filter');
        // And on the untagged port the other way round.
        xr().setPort(ifx.eth1, 0, T1, pmac.eth1, 'strict');
        expectForward(v4({ src: '10.12.0.5', dst: '10.5.6.7' }), 'eth1', G_A, A);
        expectPass(v4({ src: '10.19.0.5', dst: '10.5.6.7' }), 'eth1', 'rp_filter');
      } finally {
        xr().setPort(ifx.eth1, 10, T1, pmac.eth1);
        xr().setPort(ifx.eth1, 0, T1, pmac.eth1);
      }
    });
  });

  describe('Ethernet padding and trailing bytes', () => {
    it('trims a minimum-size frame to the IPv4 length', () => {
      const ip = ipv4({ src: '192.0.2.10', dst: '10.5.6.7', payload: udp(7, 9, Buffer.alloc(0)) });
      expect(ip.length).toBe(28);
      const frame = Buffer.concat([eth(pmac.eth1, HOST, ETH_P_IP, ip), Buffer.alloc(60 - 42, 0xee)]);
      expect(frame.length).toBe(60);
      const out = expectForward(frame, 'eth1', G_A, A);
      expect(out.length).toBe(14 + 28);
    });

    it('trims trailing bytes after an IPv6 packet, and padding plus tag together', () => {
      const f6 = Buffer.concat([v6({ dst: '2001:db8:5::5' }), Buffer.alloc(10, 0xee)]);
      expect(expectForward(f6, 'eth1', G_A, A).length).toBe(f6.length - 10);
      const ip = ipv4({ src: '192.0.2.10', dst: '10.5.6.7', payload: udp(7, 9, Buffer.alloc(0)) });
      const tagged = Buffer.concat([eth(pmac.eth1, HOST, ETH_P_IP, ip, { tci: 10 }), Buffer.alloc(64 - 46, 0xee)]);
      expect(expectForward(tagged, 'eth1', G_A, A).length).toBe(42);
    });
  });

  describe('ECMP', () => {
    const flows = (n: number, f: (i: number) => Buffer): string[] => Array.from({ length: n }, (_, i) => outcome(f(i)));
    const count = (xs: string[]) => xs.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());

    it('L4 policy: source ports spread flows over both members; one 5-tuple sticks to one', () => {
      cfg(HASH_L4, HASH_L4);
      try {
        const keyA = { group: G_ECMP, ifindex: A.ifindex, dmac: A.dmac };
        const keyB = { group: G_ECMP, ifindex: B.ifindex, dmac: B.dmac };
        const sa = xr().stat(keyA);
        const sb = xr().stat(keyB);
        const got = flows(64, (i) => v4({ dst: '10.9.0.1', payload: udp(20000 + i, 53) }));
        const c = count(got);
        expect([...c.keys()].sort()).toEqual([NH_A, NH_B].sort());
        expect(c.get(NH_A)!).toBeGreaterThanOrEqual(12);
        expect(c.get(NH_B)!).toBeGreaterThanOrEqual(12);
        // Member counters agree with where the frames went.
        expect(xr().stat(keyA).packets - sa.packets).toBe(BigInt(c.get(NH_A)!));
        expect(xr().stat(keyB).packets - sb.packets).toBe(BigInt(c.get(NH_B)!));
        // Repeats of the same 5-tuple go the same way.
        for (let i = 0; i < 8; i++) {
          for (let k = 0; k < 3; k++) expect(outcome(v4({ dst: '10.9.0.1', payload: udp(20000 + i, 53) }))).toBe(got[i]);
        }
        // Destination ports count too.
        expect(count(flows(32, (i) => v4({ dst: '10.9.0.1', payload: udp(20000, 1000 + i) }))).size).toBe(2);
        // Fragments carry no ports: ports are ignored, as in the kernel.
        expect(count(flows(32, (i) => v4({ dst: '10.9.0.1', frag: 0x2000, payload: udp(20000 + i, 53) }))).size).toBe(1);
        expect(count(flows(32, (i) => v4({ dst: '10.9.0.1', frag: 0x0010, payload: udp(20000 + i, 53) }))).size).toBe(1);
        // IPv6 the same.
        const got6 = count(flows(64, (i) => v6({ dst: '2001:db8:9::1', payload: udp(20000 + i, 53) })));
        expect(got6.size).toBe(2);
        expect(Math.min(...got6.values())).toBeGreaterThanOrEqual(12);
      } finally {
        cfg(HASH_L3, HASH_L3);
      }
    });

    it('L3 policy: ports do not matter, addresses (and the IPv6 flow label) do', () => {
      cfg(HASH_L3, HASH_L3);
      expect(count(flows(64, (i) => v4({ dst: '10.9.0.1', payload: udp(20000 + i, 53) }))).size).toBe(1);
      const bySrc = count(flows(64, (i) => v4({ src: `192.0.2.${i + 1}`, dst: '10.9.0.1' })));
      expect(bySrc.size).toBe(2);
      expect(Math.min(...bySrc.values())).toBeGreaterThanOrEqual(12);
      const byDst = count(flows(64, (i) => v4({ dst: `10.9.1.${i + 1}` })));
      expect(byDst.size).toBe(2);
      expect(count(flows(64, (i) => v6({ dst: '2001:db8:9::1', payload: udp(20000 + i, 53) }))).size).toBe(1);
      const bySrc6 = count(flows(64, (i) => v6({ src: `2001:db8:ff::${(i + 1).toString(16)}`, dst: '2001:db8:9::1' })));
      expect(bySrc6.size).toBe(2);
      const byFlow = count(flows(64, (i) => v6({ dst: '2001:db8:9::1', flow: i + 1 })));
      expect(byFlow.size).toBe(2);
    });

    it('punted buckets, a missing group and a bucket naming no member go to the kernel', () => {
      cfg(HASH_L4, HASH_L4);
      try {
        const got = flows(64, (i) => v4({ dst: '10.10.0.1', payload: udp(30000 + i, 53) }));
        const c = count(got);
        expect(c.get('bucket_punt')!).toBeGreaterThanOrEqual(12);
        expect((c.get(NH_A) ?? 0) + (c.get(NH_B) ?? 0)).toBeGreaterThanOrEqual(12);
        expect([...c.keys()].every((k) => k === 'bucket_punt' || k === NH_A || k === NH_B)).toBe(true);
        for (let i = 0; i < 8; i++) expect(outcome(v4({ dst: '10.10.0.1', payload: udp(30000 + i, 53) }))).toBe(got[i]);
        // The punted ones leave untouched.
        const i = got.indexOf('bucket_punt');
        expectPass(v4({ dst: '10.10.0.1', payload: udp(30000 + i, 53) }), 'eth1', 'bucket_punt');
      } finally {
        cfg(HASH_L3, HASH_L3);
      }
      expectPass(v4({ dst: '10.10.1.1' }), 'eth1', 'bucket_punt');
      expectPass(v4({ dst: '10.10.2.1' }), 'eth1', 'bucket_punt');
      expectPass(v4({ dst: '10.11.0.1' }), 'eth1', 'bucket_punt');
      // Writing the group makes the same route forward.
      xr().setGroup(G_MISSING, [B], [0]);
      try {
        expectForward(v4({ dst: '10.11.0.1' }), 'eth1', G_MISSING, B);
      } finally {
        xr().deleteGroup(G_MISSING);
      }
      expectPass(v4({ dst: '10.11.0.1' }), 'eth1', 'bucket_punt');
    });
  });

  describe('a port whose one family the kernel keeps (a netfilter hook that sees only it)', () => {
    afterAll(() => xr().setPort(ifx.eth1, 0, T1, pmac.eth1));

    it('IPv4 kept: IPv4 passes as from no port, IPv6 is forwarded; and the other way round', () => {
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1, undefined, [4]);
      expectPass(v4({ dst: '10.5.6.7' }), 'eth1', 'not_port');
      expectForward(v6({ dst: '2001:db8:2::5' }), 'eth1', G_A, A);
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1, undefined, [6]);
      expectForward(v4({ dst: '10.5.6.7' }), 'eth1', G_A, A);
      expectPass(v6({ dst: '2001:db8:2::5' }), 'eth1', 'not_port');
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1, undefined, [4, 6]);
      expectPass(v4({ dst: '10.5.6.7' }), 'eth1', 'not_port');
      expectPass(v6({ dst: '2001:db8:2::5' }), 'eth1', 'not_port');
    });
  });

  describe('rp_filter (the port record\'s mode)', () => {
    // Table 100: 10.0.0.0/8 via eth2 (G_A), 10.12.0.0/16 via eth1 itself (G_HAIRPIN), 10.17.0.0/16 over
    // eth2 and eth1 (G_RPF_ECMP), 10.1.2.0/24 punted, 192.0.2.0/24 not covered. Destination 10.5.6.7 via eth2.
    const from = (src: string): Buffer => v4({ src, dst: '10.5.6.7' });
    afterAll(() => xr().setPort(ifx.eth1, 0, T1, pmac.eth1));

    it('off: any source is forwarded (the kernel does not check)', () => {
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1);
      for (const src of ['192.0.2.10', '10.1.2.5', '10.1.1.1']) expectForward(from(src), 'eth1', G_A, A);
    });

    it('loose: a source the table forwards (anywhere) is forwarded; no route or a punt goes to the kernel', () => {
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1, 'loose');
      expectForward(from('10.1.1.1'), 'eth1', G_A, A);
      expectForward(from('10.12.0.1'), 'eth1', G_A, A);
      expectPass(from('192.0.2.10'), 'eth1', 'rp_filter');
      expectPass(from('10.1.2.5'), 'eth1', 'rp_filter');
      // Only IPv4 has rp_filter.
      expectForward(v6({ dst: '2001:db8:2::5' }), 'eth1', G_A, A);
    });

    it('strict: only a source routed back out of the ingress port (any ECMP member) is forwarded', () => {
      xr().setPort(ifx.eth1, 0, T1, pmac.eth1, 'strict');
      expectForward(from('10.12.0.1'), 'eth1', G_A, A);
      expectForward(from('10.17.0.1'), 'eth1', G_A, A);
      expectPass(from('10.1.1.1'), 'eth1', 'rp_filter');
      expectPass(from('10.9.0.1'), 'eth1', 'rp_filter'); // ECMP over eth2 and eth3: not eth1
      expectPass(from('192.0.2.10'), 'eth1', 'rp_filter');
      expectPass(from('10.1.2.5'), 'eth1', 'rp_filter');
      expectForward(v6({ dst: '2001:db8:2::5' }), 'eth1', G_A, A);
    });
  });

  describe('egress checks', () => {
    it('MTU: up to the egress MTU forwarded, one byte more passed', () => {
      expectForward(v4({ dst: '10.14.0.1', payload: udpFor(1000, 20) }), 'eth1', G_MTU, C);
      expectPass(v4({ dst: '10.14.0.1', payload: udpFor(1001, 20) }), 'eth1', 'mtu');
      expectPass(v4({ dst: '10.14.0.1', payload: udpFor(1200, 20) }), 'eth1', 'mtu');
      expectForward(v6({ dst: '2001:db8:14::1', payload: udpFor(1000, 40) }), 'eth1', G_MTU, C);
      expectPass(v6({ dst: '2001:db8:14::1', payload: udpFor(1001, 40) }), 'eth1', 'mtu');
      // The tag and the padding that are removed do not count.
      expectForward(v4({ dst: '10.14.0.1', payload: udpFor(1000, 20) }, pmac.eth1, { tci: 10 }), 'eth1', G_MTU, C);
      expectPass(v4({ dst: '10.14.0.1', payload: udpFor(1001, 20) }, pmac.eth1, { tci: 10 }), 'eth1', 'mtu');
      const padded = Buffer.concat([v4({ dst: '10.14.0.1', payload: udpFor(1000, 20) }), Buffer.alloc(20)]);
      expectForward(padded, 'eth1', G_MTU, C);
    });

    it('route MTU (the group\'s): up to it forwarded, one byte more passed, before any rewrite; tag and padding do not count', () => {
      expectForward(v4({ dst: '10.15.0.1', payload: udpFor(900, 20) }), 'eth1', G_ROUTE_MTU, A);
      expectPass(v4({ dst: '10.15.0.1', payload: udpFor(901, 20) }), 'eth1', 'mtu');
      expectForward(v6({ dst: '2001:db8:15::1', payload: udpFor(900, 40) }), 'eth1', G_ROUTE_MTU, A);
      expectPass(v6({ dst: '2001:db8:15::1', payload: udpFor(901, 40) }), 'eth1', 'mtu');
      expectForward(v4({ dst: '10.15.0.1', payload: udpFor(900, 20) }, pmac.eth1, { tci: 10 }), 'eth1', G_ROUTE_MTU, A);
      expectPass(v4({ dst: '10.15.0.1', payload: udpFor(901, 20) }, pmac.eth1, { tci: 10 }), 'eth1', 'mtu');
      expectForward(Buffer.concat([v4({ dst: '10.15.0.1', payload: udpFor(900, 20) }), Buffer.alloc(30)]), 'eth1', G_ROUTE_MTU, A);
      // A route MTU above the device's: the device MTU still decides.
      expectForward(v4({ dst: '10.16.0.1', payload: udpFor(1000, 20) }), 'eth1', G_ROUTE_MTU_ABOVE, C);
      expectPass(v4({ dst: '10.16.0.1', payload: udpFor(1001, 20) }), 'eth1', 'mtu');
    });

    it('hairpin: egress = ingress is the kernel\'s (it also sends a redirect)', () => {
      expectPass(v4({ dst: '10.12.0.1' }), 'eth1', 'hairpin');
      // The same group seen from another ingress port is plain forwarding.
      expectForward(v4({ dst: '10.12.0.1' }, pmac.eth2), 'eth2', G_HAIRPIN, Hair);
    });

    it('egress not in the devmap', () => {
      expectPass(v4({ dst: '10.13.0.1' }), 'eth1', 'no_tx');
      // An egress ifindex that does not exist at all is also no_tx (not mtu).
      expectPass(v4({ dst: '10.13.1.1' }), 'eth1', 'no_tx');
      // Removing eth2 from fo_tx stops forwarding to it; putting it back resumes.
      xr().deleteTx(ifx.eth2);
      try {
        expectPass(v4({ dst: '10.5.6.7' }), 'eth1', 'no_tx');
      } finally {
        xr().setTx(ifx.eth2);
      }
      expectForward(v4({ dst: '10.5.6.7' }), 'eth1', G_A, A);
    });
  });

  it('repeat runs the program again on its own output (test-run semantics)', () => {
    // BPF_PROG_TEST_RUN does not restore the frame between repetitions: the
    // first run rewrites the destination MAC, so the others see a frame for
    // another host. retval and data_out are those of the last run.
    const frame = v4({ dst: '10.5.6.7' });
    const before = xr().verdicts();
    const res = xr().run(frame, { ingress: ifx.eth1, repeat: 5 });
    const d = verdictDelta(before, xr().verdicts());
    const n = BigInt(frame.length);
    expect(d).toEqual({ forwarded: { packets: 1n, bytes: n }, not_host: { packets: 4n, bytes: 4n * n } });
    expect(res.retval).toBe(XDP.PASS);
    expect(hex(res.dataOut)).toBe(hex(forwardedFrame(frame, A)));
    expect(res.durationNs).toBeGreaterThan(0);
    // A frame the program passes untouched is the same every time.
    const pass = xr().run(v4({ dst: '10.1.2.3' }), { ingress: ifx.eth1, repeat: 1000 });
    expect(pass.retval).toBe(XDP.PASS);
    expect(pass.durationNs).toBeGreaterThan(0);
  });
});
