// RTM_NEWADDR / RTM_DELADDR payload (struct ifaddrmsg + IFA_*) → Address.
import type { Address } from '../../model/address.js';
import { familyOfAf, readIpOf } from './attrs.js';
import { IFADDRMSG_LEN, IFA_ADDRESS, IFA_LOCAL, NLA_TYPE_MASK } from './constants.js';

/** Decode one address message; null for non-IP families or a message without an address. */
export function decodeAddress(buf: Buffer, off: number, end: number): Address | null {
  if (end - off < IFADDRMSG_LEN) return null;
  const family = familyOfAf(buf[off]!);
  if (family === null) return null;
  const prefixLen = buf[off + 1]!;
  const scope = buf[off + 3]!;
  const ifindex = buf.readUInt32LE(off + 4);
  let address: string | null = null;
  let local: string | null = null;

  let pos = off + IFADDRMSG_LEN;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    switch (buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK) {
      case IFA_ADDRESS: address = readIpOf(buf, pos + 4, len - 4, family); break;
      case IFA_LOCAL: local = readIpOf(buf, pos + 4, len - 4, family); break;
      // IFA_FLAGS (tentative, dadfailed, ...) has no field in the model; see the codec notes.
      default: break;
    }
    pos += (len + 3) & ~3;
  }
  // IPv4: IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL is ours.
  const own = family === 4 ? (local ?? address) : (address ?? local);
  if (own === null) return null;
  return { ifindex, family, address: own, prefixLen, scope };
}
