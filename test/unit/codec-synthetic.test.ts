// Decoder edge cases on hand-built messages (truncation, unknown attributes,
// nesting bits, skipped records) and the request encoders' exact bytes.
import { describe, expect, it } from 'vitest';
import type { Route } from '../../src/model/route.js';
import { decodeAddress } from '../../src/netlink/codec/addr.js';
import {
  AF_BRIDGE, AF_INET, AF_INET6, NLM_F_DUMP, NLM_F_REQUEST, RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETNEXTHOP,
  RTM_GETROUTE, RTM_NEWROUTE,
} from '../../src/netlink/codec/constants.js';
import { decodeEvent } from '../../src/netlink/codec/decode.js';
import { encodeAttr, encodeMessage, forEachMessage } from '../../src/netlink/codec/header.js';
import { decodeLink } from '../../src/netlink/codec/link.js';
import { decodeNeighbor } from '../../src/netlink/codec/neigh.js';
import { decodeNexthop } from '../../src/netlink/codec/nexthop.js';
import { DUMPS, encodeNeighborUse } from '../../src/netlink/codec/requests.js';
import { decodeRoute } from '../../src/netlink/codec/route.js';

const NESTED = 0x8000;
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const bytes = (...v: number[]): Buffer => Buffer.from(v);
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

function rtmsg(o: { family?: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number; flags?: number } = {}): Buffer {
  const b = Buffer.alloc(12);
  b[0] = o.family ?? AF_INET; b[1] = o.dstLen ?? 0; b[4] = o.table ?? 254; b[5] = o.protocol ?? 186;
  b[6] = o.scope ?? 0; b[7] = o.type ?? 1; b.writeUInt32LE(o.flags ?? 0, 8);
  return b;
}

function rtnexthop(flags: number, hops: number, ifindex: number, attrs: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(8 + attrs.length, 0); h[2] = flags; h[3] = hops; h.writeInt32LE(ifindex, 4);
  return cat(h, attrs);
}

const decodeWhole = (payload: Buffer): Route | null => decodeRoute(payload, 0, payload.length);

const baseRoute: Route = {
  table: 254, family: 4, dst: '10.1.2.0', dstLen: 24, type: 'unicast', protocol: 186, priority: 20, scope: 0, tos: 0,
  nhId: null, nexthops: [{ ifindex: 7, gateway: '192.0.2.1', gatewayFamily: 4, weight: 1, onlink: false, linkdown: false, dead: false }],
  prefsrc: null, flags: 0,
};

const routePayload = (): Buffer => cat(rtmsg({ dstLen: 24 }), encodeAttr(1, bytes(10, 1, 2, 0)), encodeAttr(4, u32(7)),
  encodeAttr(5, bytes(192, 0, 2, 1)), encodeAttr(6, u32(20)));

describe('route decoder edge cases', () => {
  it('decodes a plain gateway route', () => {
    expect(decodeWhole(routePayload())).toEqual(baseRoute);
  });

  it('flags a route with an encapsulation, on the route or inside a multipath hop', () => {
    // RTA_ENCAP_TYPE (21) = LWTUNNEL_ENCAP_SEG6 (5), RTA_ENCAP (22) nested payload.
    const single = cat(routePayload(), encodeAttr(21, u16(5)), encodeAttr(22 | NESTED, encodeAttr(1, bytes(0, 0, 0, 0))));
    expect(decodeWhole(single)).toEqual({ ...baseRoute, encap: true });
    const hop = rtnexthop(0, 0, 7, cat(encodeAttr(5, bytes(192, 0, 2, 1)), encodeAttr(21, u16(1))));
    const multi = cat(rtmsg({ dstLen: 24 }), encodeAttr(1, bytes(10, 1, 2, 0)), encodeAttr(6, u32(20)), encodeAttr(9, hop));
    expect(decodeWhole(multi)?.encap).toBe(true);
    expect(decodeWhole(routePayload())?.encap).toBeUndefined();
  });

  it('ignores unknown attributes', () => {
    const p = cat(rtmsg({ dstLen: 24 }), encodeAttr(999, bytes(1, 2, 3)), encodeAttr(1, bytes(10, 1, 2, 0)), encodeAttr(12, u32(0)),
      encodeAttr(4, u32(7)), encodeAttr(5, bytes(192, 0, 2, 1)), encodeAttr(6, u32(20)), encodeAttr(0x3ffe, Buffer.alloc(40)));
    expect(decodeWhole(p)).toEqual(baseRoute);
  });

  it('stops at a truncated attribute and keeps what came before', () => {
    const full = routePayload();
    // Cut the message in the middle of RTA_PRIORITY (its header says 8 bytes, 6 remain).
    expect(decodeRoute(full, 0, full.length - 2)).toEqual({ ...baseRoute, priority: 0 });
    // A length field smaller than the header ends the walk too.
    const bad = cat(rtmsg({ dstLen: 24 }), encodeAttr(1, bytes(10, 1, 2, 0)), bytes(2, 0, 4, 0), encodeAttr(4, u32(7)));
    expect(decodeWhole(bad)).toEqual({ ...baseRoute, nexthops: [], priority: 0 });
  });

  it('ignores an address attribute of the wrong size', () => {
    const p = cat(rtmsg({ dstLen: 24 }), encodeAttr(1, bytes(10, 1, 2, 0)), encodeAttr(4, u32(7)), encodeAttr(5, bytes(192, 0, 2)), encodeAttr(6, u32(20)));
    expect(decodeWhole(p)).toEqual({ ...baseRoute, nexthops: [{ ...baseRoute.nexthops[0]!, gateway: null, gatewayFamily: null }] });
  });

  it('returns null for a header shorter than struct rtmsg, cloned routes and non-IP families', () => {
    expect(decodeRoute(Buffer.alloc(11), 0, 11)).toBeNull();
    expect(decodeWhole(cat(rtmsg({ flags: 0x200 }), encodeAttr(4, u32(7))))).toBeNull();
    expect(decodeWhole(cat(rtmsg({ family: 28 }), encodeAttr(4, u32(7))))).toBeNull();
  });

  it('multipath: NLA_F_NESTED bit, per-hop flags, RTA_VIA, weights', () => {
    const hops = cat(
      rtnexthop(0x01 | 0x10, 4, 3, encodeAttr(5, bytes(192, 0, 2, 1))),
      rtnexthop(0x04, 0, 4, encodeAttr(18, cat(u16(AF_INET6), Buffer.from('fe800000000000000000000000000001', 'hex')))),
      rtnexthop(0, 0, 0, Buffer.alloc(0)),
    );
    const p = cat(rtmsg({ dstLen: 8 }), encodeAttr(1, bytes(10, 0, 0, 0)), encodeAttr(9 | NESTED, hops), encodeAttr(30, u32(77)),
      encodeAttr(15, u32(4242)), encodeAttr(7, bytes(192, 0, 2, 9)));
    expect(decodeWhole(p)).toEqual({
      ...baseRoute, table: 4242, dst: '10.0.0.0', dstLen: 8, priority: 0, nhId: 77, prefsrc: '192.0.2.9',
      nexthops: [
        { ifindex: 3, gateway: '192.0.2.1', gatewayFamily: 4, weight: 5, onlink: false, linkdown: true, dead: true },
        { ifindex: 4, gateway: 'fe80::1', gatewayFamily: 6, weight: 1, onlink: true, linkdown: false, dead: false },
        { ifindex: null, gateway: null, gatewayFamily: null, weight: 1, onlink: false, linkdown: false, dead: false },
      ],
    });
  });

  it('IPv6 default route, RFC 5952 text, unknown rtm_type', () => {
    const p = cat(rtmsg({ family: AF_INET6, type: 200 }), encodeAttr(5, Buffer.from('20010db8000000000000000000000001', 'hex')), encodeAttr(4, u32(2)));
    const r = decodeWhole(p)!;
    expect([r.dst, r.dstLen, r.type, r.nexthops[0]!.gateway]).toEqual(['::', 0, 'unspec', '2001:db8::1']);
  });

  it('routes without nexthops share one frozen empty array', () => {
    const a = decodeWhole(cat(rtmsg({ type: 6 }), encodeAttr(1, bytes(10, 0, 0, 0))))!;
    const b = decodeWhole(cat(rtmsg({ type: 7 }), encodeAttr(4, u32(1))))!;
    expect(a.nexthops).toBe(b.nexthops);
    expect(Object.isFrozen(a.nexthops)).toBe(true);
  });

  it('routes with the same next hop share one frozen nexthop list; flags and oif keep them apart', () => {
    const viaGw = (oif: number, flags: number, gw: number): Route => decodeWhole(cat(rtmsg({ dstLen: 24, flags }),
      encodeAttr(1, bytes(10, 1, 2, 0)), encodeAttr(4, u32(oif)), encodeAttr(5, bytes(192, 0, 2, gw))))!;
    const a = viaGw(7, 0, 1);
    expect(viaGw(7, 0, 1).nexthops).toBe(a.nexthops);
    expect(Object.isFrozen(a.nexthops) && Object.isFrozen(a.nexthops[0])).toBe(true);
    expect(viaGw(7, 4, 1).nexthops).toEqual([{ ...a.nexthops[0]!, onlink: true }]);
    expect(viaGw(8, 0, 1).nexthops[0]!.ifindex).toBe(8);
    expect(viaGw(7, 0, 2).nexthops[0]!.gateway).toBe('192.0.2.2');
    // Past the cache bound it starts over and still decodes correctly.
    for (let i = 0; i < 70_000; i++) viaGw(100 + (i >> 8), 0, i & 255);
    expect(viaGw(7, 0, 1).nexthops).toEqual(a.nexthops);
  });

  it('identical RTA_MULTIPATH payloads share one list', () => {
    const mp = encodeAttr(9, cat(rtnexthop(4, 0, 2, encodeAttr(5, bytes(169, 254, 0, 1))), rtnexthop(4, 0, 3, encodeAttr(5, bytes(169, 254, 0, 1)))));
    const r = (d: number): Route => decodeWhole(cat(rtmsg({ dstLen: 24 }), encodeAttr(1, bytes(10, d, 0, 0)), mp))!;
    expect(r(1).nexthops).toBe(r(2).nexthops);
    expect(r(1).nexthops.map((h) => h.ifindex)).toEqual([2, 3]);
  });

  it('decodes 1,000 copies of a route message in one datagram', () => {
    const one = encodeMessage(RTM_NEWROUTE, 2, 1, routePayload());
    const datagram = Buffer.concat(Array.from({ length: 1000 }, () => one));
    const out: Route[] = [];
    forEachMessage(datagram, (type, _f, _s, _p, buf, off, end) => {
      const ev = decodeEvent(type, buf, off, end);
      if (ev?.kind === 'route') out.push(ev.route);
    });
    expect(out).toHaveLength(1000);
    expect(out[999]).toEqual(baseRoute);
  });
});

describe('link, address, neighbour, nexthop edge cases', () => {
  const ifinfomsg = (index: number, flags: number): Buffer => {
    const b = Buffer.alloc(16); b.writeInt32LE(index, 4); b.writeUInt32LE(flags, 8); return b;
  };

  it('VRF link: IFLA_INFO_DATA before IFLA_INFO_KIND, master, switchdev identity', () => {
    const info = cat(encodeAttr(2 | NESTED, encodeAttr(1, u32(1001))), encodeAttr(1, str('vrf')));
    const p = cat(ifinfomsg(9, 0x1 | 0x10000), encodeAttr(3, str('red')), encodeAttr(4, u32(65575)), encodeAttr(10, u32(5)),
      encodeAttr(16, bytes(6)), encodeAttr(18 | NESTED, info), encodeAttr(36, bytes(0xde, 0xad, 0xbe, 0xef)), encodeAttr(38, str('pf0vf1')),
      encodeAttr(1, bytes(0x0a, 0, 0, 0, 0, 1)), encodeAttr(77, bytes(1)));
    expect(decodeLink(p, 0, p.length)).toEqual({
      ifindex: 9, name: 'red', mac: '0a:00:00:00:00:01', adminUp: true, carrier: true, operState: 'up', mtu: 65575, master: 5,
      kind: 'vrf', vrfTable: 1001, physSwitchId: 'deadbeef', physPortName: 'pf0vf1',
    });
  });

  it('link without attributes, and a non-vrf kind ignores IFLA_INFO_DATA', () => {
    expect(decodeLink(ifinfomsg(4, 0), 0, 16)).toEqual({
      ifindex: 4, name: '', mac: null, adminUp: false, carrier: false, operState: 'unknown', mtu: 0, master: null, kind: null,
      vrfTable: null, physSwitchId: null, physPortName: null,
    });
    const p = cat(ifinfomsg(4, 0), encodeAttr(18, cat(encodeAttr(1, str('veth')), encodeAttr(2, encodeAttr(1, u32(5))))));
    expect(decodeLink(p, 0, p.length)).toMatchObject({ kind: 'veth', vrfTable: null });
    expect(decodeLink(Buffer.alloc(15), 0, 15)).toBeNull();
  });

  it('VLAN link: parent (IFLA_LINK), vid, protocol, egress QoS map; a parent in another namespace is null', () => {
    const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
    const le16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
    const vlanLink = (data: Buffer, ...extra: Buffer[]): Buffer => cat(ifinfomsg(12, 0x1 | 0x10000), encodeAttr(3, str('eth1.10')),
      encodeAttr(4, u32(1496)), encodeAttr(5, u32(4)), ...extra,
      encodeAttr(18 | NESTED, cat(encodeAttr(1, str('vlan')), encodeAttr(2 | NESTED, data))));
    // As 6.x sends it: IFLA_VLAN_PROTOCOL, IFLA_VLAN_ID, IFLA_VLAN_FLAGS (flags, mask), no QoS maps.
    const q = vlanLink(cat(encodeAttr(5, be16(0x8100)), encodeAttr(1, le16(10)), encodeAttr(2, cat(u32(1), u32(0xffffffff)))));
    expect(decodeLink(q, 0, q.length)).toMatchObject({
      ifindex: 12, name: 'eth1.10', mtu: 1496, kind: 'vlan', vlan: { parent: 4, vid: 10, protocol: '802.1Q', egressQos: false },
    });
    const ad = vlanLink(cat(encodeAttr(5, be16(0x88a8)), encodeAttr(1, le16(20))));
    expect(decodeLink(ad, 0, ad.length)!.vlan).toEqual({ parent: 4, vid: 20, protocol: '802.1ad', egressQos: false });
    // egress-qos-map 0:3: one IFLA_VLAN_QOS_MAPPING {from, to} inside IFLA_VLAN_EGRESS_QOS.
    const qos = vlanLink(cat(encodeAttr(1, le16(30)), encodeAttr(3 | NESTED, encodeAttr(1, cat(u32(0), u32(3))))));
    expect(decodeLink(qos, 0, qos.length)!.vlan).toEqual({ parent: 4, vid: 30, protocol: '802.1Q', egressQos: true });
    const moved = vlanLink(cat(encodeAttr(1, le16(10))), encodeAttr(37, u32(0)));
    expect(decodeLink(moved, 0, moved.length)!.vlan).toMatchObject({ parent: null, vid: 10 });
    // A veth's IFLA_LINK (its peer) is not a VLAN parent: no vlan key at all.
    const veth = cat(ifinfomsg(4, 0), encodeAttr(5, u32(3)), encodeAttr(18, encodeAttr(1, str('veth'))));
    expect(decodeLink(veth, 0, veth.length)).not.toHaveProperty('vlan');
  });

  it('IPv4 address without IFA_LOCAL falls back to IFA_ADDRESS; non-IP family is skipped', () => {
    const hdr = bytes(AF_INET, 24, 0, 0, 3, 0, 0, 0);
    const p = cat(hdr, encodeAttr(1, bytes(192, 0, 2, 1)), encodeAttr(8, u32(0x80)));
    expect(decodeAddress(p, 0, p.length)).toEqual({ ifindex: 3, family: 4, address: '192.0.2.1', prefixLen: 24, scope: 0 });
    const q = cat(bytes(17, 0, 0, 0, 3, 0, 0, 0), encodeAttr(1, bytes(1, 2, 3, 4)));
    expect(decodeAddress(q, 0, q.length)).toBeNull();
    expect(decodeAddress(hdr, 0, hdr.length)).toBeNull();
  });

  it('neighbours: bridge FDB entries and entries without NDA_DST are skipped', () => {
    const nd = (family: number): Buffer => { const b = Buffer.alloc(12); b[0] = family; b.writeInt32LE(2, 4); b.writeUInt16LE(0x02, 8); return b; };
    const fdb = cat(nd(AF_BRIDGE), encodeAttr(2, bytes(2, 0, 0, 0, 0, 1)));
    expect(decodeNeighbor(fdb, 0, fdb.length)).toBeNull();
    const noDst = cat(nd(AF_INET), encodeAttr(2, bytes(2, 0, 0, 0, 0, 1)));
    expect(decodeNeighbor(noDst, 0, noDst.length)).toBeNull();
    const v6 = cat(nd(AF_INET6), encodeAttr(1, Buffer.from('fe800000000000000000000000000001', 'hex')), encodeAttr(99, u32(1)));
    expect(decodeNeighbor(v6, 0, v6.length)).toEqual({ ifindex: 2, family: 6, address: 'fe80::1', mac: null, state: 'reachable', flags: 0 });
  });

  it('nexthop group weight_high (16-bit weights) and a missing NHA_GROUP_TYPE', () => {
    const grp = Buffer.alloc(16);
    grp.writeUInt32LE(1, 0); grp[4] = 43; grp[5] = 1; // weight 300 stored as 299
    grp.writeUInt32LE(2, 8); grp[12] = 0;
    const p = cat(Buffer.alloc(8), encodeAttr(1, u32(20)), encodeAttr(2, grp));
    expect(decodeNexthop(p, 0, p.length)).toMatchObject({ id: 20, family: 0, group: [{ id: 1, weight: 300 }, { id: 2, weight: 1 }], groupType: 'mpath' });
  });

  it('nexthop: FDB flag, gateway of the wrong size dropped, no NHA_ID → null', () => {
    const hdr = bytes(AF_INET, 0, 4, 0, 0x10, 0, 0, 0);
    const p = cat(hdr, encodeAttr(1, u32(3)), encodeAttr(6, Buffer.alloc(16)), encodeAttr(11, Buffer.alloc(0)), encodeAttr(5, u32(9)));
    expect(decodeNexthop(p, 0, p.length)).toEqual({
      id: 3, family: 4, protocol: 4, blackhole: false, oif: 9, gateway: null, onlink: false, dead: false, linkdown: true,
      group: null, groupType: null, resilientBuckets: null, fdb: true,
    });
    const q = cat(hdr, encodeAttr(5, u32(9)));
    expect(decodeNexthop(q, 0, q.length)).toBeNull();
  });

  it('decodeEvent: unknown and GET types are null', () => {
    const p = routePayload();
    expect(decodeEvent(40 /* RTM_NEWTCLASS */, p, 0, p.length)).toBeNull();
    expect(decodeEvent(RTM_GETROUTE, p, 0, p.length)).toBeNull();
    expect(decodeEvent(RTM_NEWROUTE, p, 0, p.length)).toEqual({ kind: 'route', op: 'new', route: baseRoute });
  });
});

describe('requests', () => {
  it('dumps links, addresses, neighbours, nexthops, routes v4 and v6, then rules and IPv4 netconf', () => {
    expect(DUMPS.map((d) => [d.type, d.what, d.payload.toString('hex')])).toEqual([
      [RTM_GETLINK, 'links', '00'.repeat(16)],
      [RTM_GETADDR, 'addresses', '00'.repeat(8)],
      [RTM_GETNEIGH, 'neighbours v4', '02' + '00'.repeat(11)],
      [RTM_GETNEIGH, 'neighbours v6', '0a' + '00'.repeat(11)],
      [RTM_GETNEXTHOP, 'nexthops', '00'.repeat(8)],
      [RTM_GETROUTE, 'routes v4', '02' + '00'.repeat(11)],
      [RTM_GETROUTE, 'routes v6', '0a' + '00'.repeat(11)],
      [34 /* RTM_GETRULE */, 'rules', '00'.repeat(12)],
      [82 /* RTM_GETNETCONF */, 'netconf v4', '02' + '00'.repeat(3)],
    ]);
    expect(encodeMessage(DUMPS[0]!.type, NLM_F_REQUEST | NLM_F_DUMP, 1, DUMPS[0]!.payload).length).toBe(32);
  });

  it('encodeNeighborUse: ndmsg with NTF_USE and NDA_DST', () => {
    expect(encodeNeighborUse(3, 4, '192.0.2.50').toString('hex')).toBe('020000000300000000000100' + '08000100c0000232');
    expect(encodeNeighborUse(2, 6, 'fe80::1').toString('hex')).toBe('0a0000000200000000000100' + '14000100fe800000000000000000000000000001');
    expect(() => encodeNeighborUse(2, 4, 'fe80::1')).toThrow(RangeError);
  });
});
