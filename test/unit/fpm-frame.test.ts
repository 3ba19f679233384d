// FPM framing: encode, and reassembly of frames split anywhere by TCP.
import { describe, expect, it } from 'vitest';
import { encodeFrame, FpmProtocolError, FrameReader } from '../../src/fpm/frame.js';

const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('FPM frames', () => {
  it('encodes version 1, type netlink, the length in network order including the header', () => {
    const f = encodeFrame(payload(0x123, 1));
    expect([...f.subarray(0, 4)]).toEqual([1, 1, 0x01, 0x27]);
    expect(f.subarray(4)).toEqual(payload(0x123, 1));
  });

  it('refuses a payload the 16-bit length cannot hold', () => {
    expect(() => encodeFrame(Buffer.alloc(0xffff - 3))).toThrow(RangeError);
    expect(encodeFrame(Buffer.alloc(0xffff - 4)).length).toBe(0xffff);
  });

  it('reassembles three frames however the stream is cut (every pair of cut points)', () => {
    const bodies = [payload(36, 1), payload(0, 2), payload(200, 3)];
    const stream = Buffer.concat(bodies.map(encodeFrame));
    const wrong: string[] = [];
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b += 5) {
        const r = new FrameReader();
        const got = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)].flatMap((c) => r.push(Buffer.from(c)));
        const ok = got.length === bodies.length && got.every((g, i) => g.equals(bodies[i]!)) && r.buffered === 0;
        if (!ok) wrong.push(`${a},${b}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('holds an incomplete frame until the rest arrives', () => {
    const r = new FrameReader();
    const f = encodeFrame(payload(10, 4));
    expect(r.push(f.subarray(0, 9))).toEqual([]);
    expect(r.buffered).toBe(9);
    expect(r.push(f.subarray(9))).toEqual([payload(10, 4)]);
  });

  it('rejects a wrong version or type, and a length shorter than the header, naming the offset', () => {
    const good = encodeFrame(payload(8, 5));
    const badVersion = Buffer.from(good);
    badVersion[0] = 2;
    const badType = Buffer.from(good);
    badType[1] = 2; // protobuf: zebra's dplane_fpm_nl never sends it
    const short = Buffer.from([1, 1, 0, 3]);
    for (const bad of [badVersion, badType, short]) {
      const r = new FrameReader();
      let err: unknown;
      try { r.push(Buffer.concat([good, bad])); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(FpmProtocolError);
      expect((err as FpmProtocolError).offset).toBe(good.length);
    }
  });
});
