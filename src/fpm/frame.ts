// FPM framing (FRR's fpm/fpm.h): each message is a 4-byte header — version
// (1), type (1 = netlink), total length in network order including the
// header — followed by one netlink message. TCP gives a byte stream, so
// FrameReader reassembles frames across reads; a header that breaks the
// protocol is an error that ends the connection (zebra reconnects and replays).

export const FPM_PROTO_VERSION = 1;
export const FPM_MSG_TYPE_NETLINK = 1;
export const FPM_HEADER_LEN = 4;
/** The length field is a u16: header plus payload. */
export const FPM_MAX_FRAME = 0xffff;

export class FpmProtocolError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'FpmProtocolError';
  }
}

/** One netlink message in an FPM frame. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const len = FPM_HEADER_LEN + payload.length;
  if (len > FPM_MAX_FRAME) throw new RangeError(`FPM frame of ${len} bytes exceeds the 16-bit length field`);
  const out = Buffer.allocUnsafe(len);
  out[0] = FPM_PROTO_VERSION;
  out[1] = FPM_MSG_TYPE_NETLINK;
  out.writeUInt16BE(len, 2);
  out.set(payload, FPM_HEADER_LEN);
  return out;
}

/** Reassembles frames from stream chunks; push() returns the payloads (netlink bytes) completed by the chunk. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes consumed so far, for error offsets. */
  private consumed = 0;

  push(chunk: Buffer): Buffer[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let pos = 0;
    while (buf.length - pos >= FPM_HEADER_LEN) {
      const version = buf[pos]!;
      const type = buf[pos + 1]!;
      const len = buf.readUInt16BE(pos + 2);
      if (version !== FPM_PROTO_VERSION || type !== FPM_MSG_TYPE_NETLINK) {
        throw new FpmProtocolError(`FPM header version ${version} type ${type}, expected 1/1`, this.consumed + pos);
      }
      if (len < FPM_HEADER_LEN) throw new FpmProtocolError(`FPM length ${len} shorter than its header`, this.consumed + pos);
      if (buf.length - pos < len) break;
      out.push(buf.subarray(pos + FPM_HEADER_LEN, pos + len));
      pos += len;
    }
    this.consumed += pos;
    // Copy the tail: the frames handed out keep referencing `buf`, the tail must not pin it.
    this.pending = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return out;
  }

  /** Bytes of an incomplete frame held. */
  get buffered(): number {
    return this.pending.length;
  }
}
