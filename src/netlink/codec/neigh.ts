// RTM_NEWNEIGH / RTM_DELNEIGH payload (struct ndmsg + NDA_*) → Neighbor.
import type { Neighbor } from '../../model/neighbor.js';
import { nudStateName } from '../../model/neighbor.js';
import { familyOfAf, readIpOf, readMac } from './attrs.js';
import { NDA_DST, NDA_LLADDR, NDMSG_LEN, NLA_TYPE_MASK } from './constants.js';

/**
 * Decode one neighbour message. Returns null for AF_BRIDGE (FDB) and other
 * non-IP families, and for entries without NDA_DST.
 */
export function decodeNeighbor(buf: Buffer, off: number, end: number): Neighbor | null {
  if (end - off < NDMSG_LEN) return null;
  const family = familyOfAf(buf[off]!);
  if (family === null) return null;
  const ifindex = buf.readInt32LE(off + 4);
  const state = buf.readUInt16LE(off + 8);
  const flags = buf[off + 10]!;
  let address: string | null = null;
  let mac: string | null = null;

  let pos = off + NDMSG_LEN;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    switch (buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK) {
      case NDA_DST: address = readIpOf(buf, pos + 4, len - 4, family); break;
      case NDA_LLADDR: mac = readMac(buf, pos + 4, pos + len); break;
      default: break;
    }
    pos += (len + 3) & ~3;
  }
  if (address === null) return null;
  return { ifindex, family, address, mac, state: nudStateName(state), flags };
}
