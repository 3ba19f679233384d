// RTM_NEWLINK / RTM_DELLINK payload (struct ifinfomsg + IFLA_*) → Link.
import type { Link, VlanInfo } from '../../model/link.js';
import { readHex, readMac, readString, readU32 } from './attrs.js';
import {
  ETH_P_8021Q, IFF_LOWER_UP, IFF_UP, IFINFOMSG_LEN, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK,
  IFLA_LINK_NETNSID, IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU, IFLA_OPERSTATE, IFLA_PHYS_PORT_NAME, IFLA_PHYS_SWITCH_ID,
  IFLA_VLAN_EGRESS_QOS, IFLA_VLAN_ID, IFLA_VLAN_PROTOCOL, IFLA_VRF_TABLE, NLA_TYPE_MASK, OPER_STATES,
} from './constants.js';

/** Decode one link message payload [off, end); null when shorter than struct ifinfomsg. */
export function decodeLink(buf: Buffer, off: number, end: number): Link | null {
  if (end - off < IFINFOMSG_LEN) return null;
  const ifindex = buf.readInt32LE(off + 4);
  const flags = buf.readUInt32LE(off + 8);
  let name = '';
  let mac: string | null = null;
  let operState = 'unknown';
  let mtu = 0;
  let master: number | null = null;
  let kind: string | null = null;
  let vrfTable: number | null = null;
  let physSwitchId: string | null = null;
  let physPortName: string | null = null;
  let lower: number | null = null;
  let lowerElsewhere = false;
  let infoDataS = -1;
  let infoDataE = -1;

  let pos = off + IFINFOMSG_LEN;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    const s = pos + 4;
    const e = pos + len;
    switch (buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK) {
      case IFLA_ADDRESS: mac = readMac(buf, s, e); break;
      case IFLA_IFNAME: name = readString(buf, s, e); break;
      case IFLA_MTU: mtu = readU32(buf, s, e, 0); break;
      // The lower device (a VLAN's parent; a veth's peer, possibly in another namespace).
      case IFLA_LINK: { const l = readU32(buf, s, e, 0); lower = l === 0 ? null : l; break; }
      case IFLA_LINK_NETNSID: lowerElsewhere = true; break;
      case IFLA_MASTER: { const m = readU32(buf, s, e, 0); master = m === 0 ? null : m; break; }
      case IFLA_OPERSTATE: if (e > s) operState = OPER_STATES[buf[s]!] ?? String(buf[s]); break;
      case IFLA_PHYS_SWITCH_ID: physSwitchId = readHex(buf, s, e); break;
      case IFLA_PHYS_PORT_NAME: physPortName = readString(buf, s, e); break;
      case IFLA_LINKINFO: {
        // Nested; IFLA_INFO_DATA's meaning depends on IFLA_INFO_KIND, which may come in either order.
        let p = s;
        while (p + 4 <= e) {
          const l = buf.readUInt16LE(p);
          if (l < 4 || p + l > e) break;
          const t = buf.readUInt16LE(p + 2) & NLA_TYPE_MASK;
          if (t === IFLA_INFO_KIND) kind = readString(buf, p + 4, p + l);
          else if (t === IFLA_INFO_DATA) { infoDataS = p + 4; infoDataE = p + l; }
          p += (l + 3) & ~3;
        }
        break;
      }
      default: break;
    }
    pos += (len + 3) & ~3;
  }

  if (kind === 'vrf' && infoDataS >= 0) {
    let p = infoDataS;
    while (p + 4 <= infoDataE) {
      const l = buf.readUInt16LE(p);
      if (l < 4 || p + l > infoDataE) break;
      if ((buf.readUInt16LE(p + 2) & NLA_TYPE_MASK) === IFLA_VRF_TABLE && l >= 8) vrfTable = buf.readUInt32LE(p + 4);
      p += (l + 3) & ~3;
    }
  }

  const vlan = kind === 'vlan' ? decodeVlanData(buf, infoDataS, infoDataE, lowerElsewhere ? null : lower) : null;

  return {
    ifindex,
    name,
    mac,
    adminUp: (flags & IFF_UP) !== 0,
    carrier: (flags & IFF_LOWER_UP) !== 0,
    operState,
    mtu,
    master,
    kind,
    vrfTable,
    physSwitchId,
    physPortName,
    ...(vlan ? { vlan } : {}),
  };
}

/** IFLA_INFO_DATA of a 'vlan' link; null without IFLA_VLAN_ID (nothing to key a port by). */
function decodeVlanData(buf: Buffer, s: number, e: number, parent: number | null): VlanInfo | null {
  if (s < 0) return null;
  let vid: number | null = null;
  let tpid = ETH_P_8021Q; // kernels before IFLA_VLAN_PROTOCOL (3.10) only had 802.1Q
  let egressQos = false;
  let p = s;
  while (p + 4 <= e) {
    const l = buf.readUInt16LE(p);
    if (l < 4 || p + l > e) break;
    const t = buf.readUInt16LE(p + 2) & NLA_TYPE_MASK;
    if (t === IFLA_VLAN_ID && l >= 6) vid = buf.readUInt16LE(p + 4) & 0x0fff;
    else if (t === IFLA_VLAN_PROTOCOL && l >= 6) tpid = buf.readUInt16BE(p + 4);
    // Nested IFLA_VLAN_QOS_MAPPING entries; the kernel dumps only mappings to a non-zero priority.
    else if (t === IFLA_VLAN_EGRESS_QOS && l > 4) egressQos = true;
    p += (l + 3) & ~3;
  }
  if (vid === null) return null;
  return { parent, vid, protocol: tpid === ETH_P_8021Q ? '802.1Q' : '802.1ad', egressQos };
}
