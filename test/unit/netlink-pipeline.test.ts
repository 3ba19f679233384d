// The pipelined request path without a kernel: how requests are framed into
// datagrams (sequence numbers, flags, NLM_F_ACK on the last only, size and
// window limits), and how replies settle them in order (echo, ack, error in
// the middle, lost replies, a failed send, a sequence number that wraps).
import { describe, expect, it } from 'vitest';
import { NetlinkError } from '../../src/errors.js';
import { NLMSG_ERROR, NLM_F_ACK, NLM_F_ECHO, NLM_F_REQUEST } from '../../src/netlink/codec/constants.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';
import { REPLY_BUDGET, RequestPipeline, windowFor, type BatchRequest, type Datagram, type PipelineLimits } from '../../src/netlink/pipeline.js';

const RTM_NEWTFILTER = 44;
const req = (i: number, size = 20): BatchRequest => ({ type: RTM_NEWTFILTER, flags: NLM_F_ECHO, payload: Buffer.alloc(size, i & 0xff), op: `add rule ${i}` });

interface Outcome { echoes: number[]; err: Error | null }

function setup(n: number, limits: Partial<PipelineLimits> = {}, base = 1000): { p: RequestPipeline; out: Map<number, Outcome>; order: number[] } {
  const out = new Map<number, Outcome>();
  const order: number[] = [];
  const p = new RequestPipeline(Array.from({ length: n }, (_, i) => req(i)), base,
    { window: 64, maxMessages: 256, maxBytes: 1 << 20, ackEach: false, ...limits },
    (i, _t, _f, buf, off) => {
      const o = out.get(i) ?? { echoes: [], err: null };
      o.echoes.push(buf[off]!);
      out.set(i, o);
    },
    (i, err) => {
      expect(order, `request ${i} settled twice`).not.toContain(i);
      order.push(i);
      out.set(i, { echoes: out.get(i)?.echoes ?? [], err });
    });
  return { p, out, order };
}

/** Messages of a datagram as the kernel would parse them. */
function parse(d: Datagram): { type: number; flags: number; seq: number; len: number }[] {
  const out: { type: number; flags: number; seq: number; len: number }[] = [];
  forEachMessage(Buffer.concat(d.parts), (type, flags, seq, _pid, _b, off, end) => out.push({ type, flags, seq, len: end - off }));
  return out;
}

function header(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  payload.copy(b, 16);
  return b;
}
/** An NLMSG_ERROR answering `seq`: errno 0 is an ack. */
function ack(seq: number, errno = 0): Buffer {
  const body = Buffer.alloc(4 + 16);
  body.writeInt32LE(-errno, 0);
  body.writeUInt32LE(16, 4);
  body.writeUInt16LE(RTM_NEWTFILTER, 8);
  body.writeUInt32LE(seq, 12);
  return header(NLMSG_ERROR, 0x100 /* NLM_F_CAPPED */, seq, body);
}
/** An echo of the filter for `seq`, its first payload byte `tag`. */
const echo = (seq: number, tag: number): Buffer => header(RTM_NEWTFILTER, 0, seq, Buffer.from([tag, 0, 0, 0]));

function feed(p: RequestPipeline, ...msgs: Buffer[]): void {
  for (const m of msgs) forEachMessage(m, (type, flags, seq, _pid, b, off, end) => { if (p.owns(seq)) p.receive(type, flags, seq, b, off, end); });
}

describe('RequestPipeline framing', () => {
  it('packs consecutive sequence numbers into one datagram, NLM_F_ACK on the last message only', () => {
    const { p } = setup(5);
    const d = p.nextDatagram()!;
    expect(d).toMatchObject({ first: 0, count: 5 });
    const m = parse(d);
    expect(m.map((x) => x.seq)).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(m.map((x) => x.type)).toEqual(Array(5).fill(RTM_NEWTFILTER));
    expect(m.map((x) => x.flags)).toEqual([...Array(4).fill(NLM_F_REQUEST | NLM_F_ECHO), NLM_F_REQUEST | NLM_F_ECHO | NLM_F_ACK]);
    expect(m.every((x) => x.len === 20)).toBe(true);
    expect(d.bytes).toBe(5 * 36);
    // One datagram at a time: the next waits for the send to be confirmed.
    expect(p.nextDatagram()).toBeNull();
  });

  it('ackEach asks every message for an ack', () => {
    const { p } = setup(3, { ackEach: true });
    expect(parse(p.nextDatagram()!).every((x) => (x.flags & NLM_F_ACK) !== 0)).toBe(true);
  });

  it('splits by message count and by bytes, and stops at the window', () => {
    const byCount = setup(10, { maxMessages: 4 }).p;
    const a = byCount.nextDatagram()!;
    expect(a.count).toBe(4);
    byCount.sent(a, null);
    expect(byCount.nextDatagram()!).toMatchObject({ first: 4, count: 4 });

    const byBytes = setup(10, { maxBytes: 36 * 3 + 10 }).p;
    expect(byBytes.nextDatagram()!.count).toBe(3);

    const { p } = setup(10, { window: 6, maxMessages: 4 });
    const d1 = p.nextDatagram()!;
    p.sent(d1, null);
    const d2 = p.nextDatagram()!;
    expect(d2).toMatchObject({ first: 4, count: 2 }); // 6 in flight
    p.sent(d2, null);
    expect(p.nextDatagram()).toBeNull();
    feed(p, ack(1003)); // requests 0..3 settled: room for 4 more
    expect(p.inFlight).toBe(2);
    expect(p.nextDatagram()).toMatchObject({ first: 6, count: 4 });
  });

  it('a single message larger than maxBytes still goes (alone)', () => {
    const p = new RequestPipeline([req(0, 500), req(1, 500)], 1, { window: 8, maxMessages: 8, maxBytes: 100, ackEach: false }, () => {}, () => {});
    expect(p.nextDatagram()!.count).toBe(1);
  });

  it('the window a receive buffer allows', () => {
    expect(windowFor(8 << 20, 1024)).toBe(Math.min(1024, (8 << 20) / REPLY_BUDGET));
    expect(windowFor(425984, 1024)).toBe(52);
    expect(windowFor(100, 1024)).toBe(1);
    expect(windowFor(8 << 20, 64)).toBe(64);
  });
});

describe('RequestPipeline matching', () => {
  it('an echo goes to its request; the ack of the last settles every earlier one that sent no error', () => {
    const { p, out, order } = setup(4);
    const d = p.nextDatagram()!;
    p.sent(d, null);
    feed(p, echo(1000, 10), echo(1001, 11), echo(1003, 13), ack(1003));
    expect(order).toEqual([0, 1, 2, 3]);
    expect(out.get(0)).toEqual({ echoes: [10], err: null });
    expect(out.get(2)).toEqual({ echoes: [], err: null }); // taken, no echo (the caller decides what that means)
    expect(out.get(3)).toEqual({ echoes: [13], err: null });
    expect(p.finished).toBe(true);
  });

  it('an error in the middle of a datagram fails that request only, with errno and op', () => {
    const { p, out, order } = setup(5);
    p.sent(p.nextDatagram()!, null);
    feed(p, echo(1000, 1), echo(1001, 2), ack(1002, 17 /* EEXIST */), echo(1003, 4), echo(1004, 5), ack(1004));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    const err = out.get(2)!.err;
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ code: 'EEXIST', op: 'add rule 2' });
    expect([0, 1, 3, 4].map((i) => out.get(i)!.err)).toEqual([null, null, null, null]);
    expect(p.finished).toBe(true);
  });

  it('sequence numbers that wrap past 2^32 still match', () => {
    const { p, out } = setup(4, {}, 0xfffffffe);
    const m = parse(p.nextDatagram()!);
    expect(m.map((x) => x.seq)).toEqual([0xfffffffe, 0xffffffff, 0, 1]);
    expect(p.owns(1)).toBe(true);
    expect(p.owns(2)).toBe(false);
    feed(p, echo(0xffffffff, 9), ack(0, 22), ack(1));
    expect(out.get(1)!.echoes).toEqual([9]);
    expect(out.get(2)!.err).toMatchObject({ code: 'EINVAL' });
    expect(p.finished).toBe(true);
  });

  it('lost replies (ENOBUFS): everything in flight fails with it, late replies are ignored, the window halves, the rest goes on', () => {
    const { p, out, order } = setup(8, { window: 4, maxMessages: 4 });
    p.sent(p.nextDatagram()!, null);
    feed(p, echo(1000, 1));
    p.failInFlight((op) => new NetlinkError(op, 105));
    expect(order).toEqual([0, 1, 2, 3]);
    expect(out.get(0)!.err).toMatchObject({ code: 'ENOBUFS', op: 'add rule 0' });
    expect(p.window).toBe(2);
    feed(p, ack(1003)); // late: already failed
    expect(out.get(3)!.err).toMatchObject({ code: 'ENOBUFS' });
    const d = p.nextDatagram()!;
    expect(d).toMatchObject({ first: 4, count: 2 });
    p.sent(d, null);
    feed(p, ack(1005));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(out.get(5)!.err).toBeNull();
    expect(p.finished).toBe(false);
  });

  it('a failed send fails its own requests and not the ones before it that are still unanswered', () => {
    const { p, out } = setup(6, { window: 6, maxMessages: 3 });
    const d1 = p.nextDatagram()!;
    p.sent(d1, null);
    const d2 = p.nextDatagram()!;
    p.sent(d2, 90 /* EMSGSIZE */);
    expect([3, 4, 5].map((i) => out.get(i)!.err)).toEqual([3, 4, 5].map(() => expect.objectContaining({ code: 'EMSGSIZE' })));
    expect(out.has(0)).toBe(false);
    feed(p, ack(1002));
    expect([0, 1, 2].map((i) => out.get(i)!.err)).toEqual([null, null, null]);
    expect(p.finished).toBe(true);
  });

  it('failAll settles what was never sent', () => {
    const { p, order } = setup(5, { maxMessages: 2 });
    p.sent(p.nextDatagram()!, null);
    p.failAll((op) => new Error(`${op}: closed`));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(p.finished).toBe(true);
    expect(p.nextDatagram()).toBeNull();
  });
});
