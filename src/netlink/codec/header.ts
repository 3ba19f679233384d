// Netlink framing: message headers, attribute walking and error/extack decoding
// over raw Buffers. The hot dump path uses these directly, without objects per attribute.
import {
  NLMSG_HDRLEN, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS, NLM_F_ACK_TLVS, NLM_F_CAPPED,
} from './constants.js';

export type MessageVisitor = (type: number, flags: number, seq: number, pid: number, buf: Buffer, off: number, end: number) => void;

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Call `visit` for each netlink message in a datagram; `off`/`end` bound the
 * payload (after the 16-byte header). Stops at a truncated message.
 */
export function forEachMessage(buf: Buffer, visit: MessageVisitor): void {
  let pos = 0;
  while (pos + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(pos);
    if (len < NLMSG_HDRLEN || pos + len > buf.length) {
      throw new RangeError(`netlink message length ${len} at offset ${pos} exceeds datagram of ${buf.length}`);
    }
    visit(buf.readUInt16LE(pos + 4), buf.readUInt16LE(pos + 6), buf.readUInt32LE(pos + 8), buf.readUInt32LE(pos + 12),
      buf, pos + NLMSG_HDRLEN, pos + len);
    pos += align4(len);
  }
}

export type AttrVisitor = (type: number, off: number, end: number) => void;

/**
 * Walk the rtattr/nlattr TLVs in [off, end). The type passed on has the
 * NLA_F_NESTED / NLA_F_NET_BYTEORDER bits cleared.
 */
export function forEachAttr(buf: Buffer, off: number, end: number, visit: AttrVisitor): void {
  let pos = off;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    visit(buf.readUInt16LE(pos + 2) & 0x3fff, pos + 4, pos + len);
    pos += align4(len);
  }
}

/** Offsets of each attribute by type (last one wins), for decoders that want random access. */
export function attrTable(buf: Buffer, off: number, end: number, maxType: number): Int32Array {
  // [start0, end0, start1, end1, ...]; -1 where absent.
  const t = new Int32Array((maxType + 1) * 2).fill(-1);
  forEachAttr(buf, off, end, (type, s, e) => {
    if (type <= maxType) { t[2 * type] = s; t[2 * type + 1] = e; }
  });
  return t;
}

export interface DecodedError {
  /** Positive errno; 0 is an ack. */
  readonly errno: number;
  readonly extack: string | null;
  /** NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request. */
  readonly badAttrOffset: number | null;
  /** Sequence number of the request this answers. */
  readonly seq: number;
}

/** Decode an NLMSG_ERROR payload (struct nlmsgerr, then extack TLVs when NLM_F_ACK_TLVS). */
export function decodeError(buf: Buffer, off: number, end: number, flags: number): DecodedError {
  const error = buf.readInt32LE(off);
  // struct nlmsgerr = int error + the request's nlmsghdr (+ its payload unless capped).
  const reqLen = buf.readUInt32LE(off + 4);
  const seq = buf.readUInt32LE(off + 12);
  let extack: string | null = null;
  let badAttrOffset: number | null = null;
  if (flags & NLM_F_ACK_TLVS) {
    const tlvStart = off + 4 + ((flags & NLM_F_CAPPED) || error === 0 ? NLMSG_HDRLEN : align4(reqLen));
    forEachAttr(buf, tlvStart, end, (type, s, e) => {
      if (type === NLMSGERR_ATTR_MSG) extack = buf.toString('utf8', s, e).replace(/\0+$/, '');
      else if (type === NLMSGERR_ATTR_OFFS && e - s >= 4) badAttrOffset = buf.readUInt32LE(s);
    });
  }
  return { errno: -error, extack, badAttrOffset, seq };
}

/** One request message: header + payload, length and alignment filled in. */
export function encodeMessage(type: number, flags: number, seq: number, payload: Uint8Array): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(0, 12);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/** An attribute TLV (header + value + padding). */
export function encodeAttr(type: number, value: Uint8Array): Buffer {
  const len = 4 + value.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(value, 4);
  return out;
}
