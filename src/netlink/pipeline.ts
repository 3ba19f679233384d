// Pipelined requests on one netlink socket: many messages per sendmsg, a
// window of them in flight, replies matched by sequence number. No socket
// here: RtnlChannel sends the datagrams this hands out and feeds it every
// reply, so the framing and the matching are unit-tested without a kernel.
//
// The kernel handles the messages of a datagram one after the other, inside
// sendmsg, and queues every reply (echo, error, ack) on the socket in that
// order. So a reply to request i means every earlier request was handled,
// and one that sent no error succeeded: only the last message of each
// datagram needs NLM_F_ACK, which halves the replies to read for echoed writes.
import { NetlinkError } from '../errors.js';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_REQUEST } from './codec/constants.js';
import { decodeError, encodeMessage } from './codec/header.js';

export interface BatchRequest {
  readonly type: number;
  /** Flags besides NLM_F_REQUEST (and NLM_F_ACK, which the pipeline sets), e.g. NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO. */
  readonly flags: number;
  readonly payload: Uint8Array;
  /** What the request does, for its error: 'add filter block 254 chain 1 ip prio 3'. */
  readonly op: string;
}

/** A reply to request `index` that is not its ack or error: an echo (NLM_F_ECHO). */
export type BatchReplyVisitor = (index: number, type: number, flags: number, buf: Buffer, off: number, end: number) => void;
/** Request `index` is done: null when the kernel took it, else why not (a NetlinkError with errno, extack and op). */
export type BatchDone = (index: number, err: Error | null) => void;

export interface PipelineLimits {
  /** Requests sent and not yet answered, at most. */
  readonly window: number;
  /** Messages in one sendmsg, at most (the kernel caps an iovec at 1024 parts). */
  readonly maxMessages: number;
  /** Bytes in one sendmsg, at most (the socket's send buffer caps a datagram). */
  readonly maxBytes: number;
  /** NLM_F_ACK on every message instead of the last of each datagram. */
  readonly ackEach: boolean;
}

export const DEFAULT_LIMITS: PipelineLimits = { window: 1024, maxMessages: 256, maxBytes: 256 << 10, ackEach: false };

/**
 * What one request's replies may take of the receive buffer, at most: an
 * echoed flower filter is a few hundred bytes, but the kernel charges an
 * skb's truesize (up to a page for the echo, plus the ack). The window is
 * cut so a full window of replies fits in the buffer: a reply the kernel
 * can't queue is lost (ENOBUFS).
 */
export const REPLY_BUDGET = 8192;

/** The window a receive buffer of `rcvbuf` bytes allows (at least 1). */
export function windowFor(rcvbuf: number, wanted: number): number {
  return Math.max(1, Math.min(wanted, Math.floor(rcvbuf / REPLY_BUDGET)));
}

export interface Datagram {
  /** Index of the first request in it, and how many follow. */
  readonly first: number;
  readonly count: number;
  /** The framed messages, one iovec part each. */
  readonly parts: Buffer[];
  readonly bytes: number;
}

export class RequestPipeline {
  /** Index of the next request to send. */
  private next = 0;
  /** Every request below this index is settled. */
  private low = 0;
  private settledCount = 0;
  private readonly settled: Uint8Array;
  /** A datagram is out and its send not yet confirmed: the next waits, so a failed send can't be taken for handled. */
  private sending = false;
  private windowNow: number;

  constructor(
    private readonly reqs: readonly BatchRequest[],
    /** Sequence number of request 0; request i has baseSeq + i (mod 2^32). */
    readonly baseSeq: number,
    private readonly limits: PipelineLimits,
    private readonly onReply: BatchReplyVisitor,
    private readonly onDone: BatchDone,
  ) {
    this.settled = new Uint8Array(reqs.length);
    this.windowNow = Math.max(1, limits.window);
  }

  get finished(): boolean { return this.settledCount === this.reqs.length; }
  get inFlight(): number { return this.next - this.low; }
  get window(): number { return this.windowNow; }

  /** Is `seq` one of this pipeline's requests? */
  owns(seq: number): boolean {
    return ((seq - this.baseSeq) >>> 0) < this.reqs.length;
  }

  /** The next datagram to send, or null: nothing left, the window is full, or the last send is unconfirmed. */
  nextDatagram(): Datagram | null {
    if (this.sending || this.next >= this.reqs.length) return null;
    const room = Math.min(this.windowNow - this.inFlight, this.limits.maxMessages, this.reqs.length - this.next);
    if (room <= 0) return null;
    const parts: Buffer[] = [];
    let bytes = 0;
    const first = this.next;
    for (let i = first; i < first + room; i++) {
      const r = this.reqs[i]!;
      const size = (16 + r.payload.length + 3) & ~3;
      if (parts.length > 0 && bytes + size > this.limits.maxBytes) break;
      parts.push(encodeMessage(r.type, NLM_F_REQUEST | r.flags, (this.baseSeq + i) >>> 0, r.payload));
      bytes += size;
    }
    // Only the last message asks for an ack (unless every one does): its ack settles the datagram.
    for (let k = 0; k < parts.length; k++) {
      if (this.limits.ackEach || k === parts.length - 1) {
        const p = parts[k]!;
        p.writeUInt16LE(p.readUInt16LE(6) | NLM_F_ACK, 6);
      }
    }
    this.next = first + parts.length;
    this.sending = true;
    return { first, count: parts.length, parts, bytes };
  }

  /** The send of `d` completed; with an errno, none of its requests reached the kernel. */
  sent(d: Datagram, errno: number | null): void {
    this.sending = false;
    if (errno === null) return;
    for (let i = d.first; i < d.first + d.count; i++) this.settle(i, new NetlinkError(`${this.reqs[i]!.op} (send)`, errno));
    if (this.low === d.first) this.low = d.first + d.count;
  }

  /** One reply message (forEachMessage's visitor, for a seq this pipeline owns). */
  receive(type: number, flags: number, seq: number, buf: Buffer, off: number, end: number): void {
    const i = (seq - this.baseSeq) >>> 0;
    if (i < this.low || i >= this.next || this.settled[i]) return; // late: already failed (overrun) or answered
    // In order: whatever came before i and sent nothing back was taken.
    this.settleBelow(i);
    if (type === NLMSG_ERROR) {
      const e = decodeError(buf, off, end, flags);
      this.settle(i, e.errno === 0 ? null : new NetlinkError(this.reqs[i]!.op, e.errno, e.extack));
      this.low = i + 1;
    } else if (type === NLMSG_OVERRUN) {
      this.settle(i, new NetlinkError(this.reqs[i]!.op, 105 /* ENOBUFS */));
      this.low = i + 1;
    } else if (type === NLMSG_DONE) {
      const errno = end - off >= 4 ? -buf.readInt32LE(off) : 0;
      this.settle(i, errno > 0 ? new NetlinkError(this.reqs[i]!.op, errno) : null);
      this.low = i + 1;
    } else {
      this.onReply(i, type, flags, buf, off, end);
    }
  }

  /**
   * Replies were lost (ENOBUFS on the socket) or can't be trusted: every
   * request in flight fails with `err` (whether the kernel took it is
   * unknown), and the window halves so the rest doesn't overrun again.
   */
  failInFlight(err: (op: string) => Error): void {
    for (let i = this.low; i < this.next; i++) this.settle(i, err(this.reqs[i]!.op));
    this.low = this.next;
    this.windowNow = Math.max(1, this.windowNow >> 1);
  }

  /** Everything not settled yet, sent or not, fails (the channel closed). */
  failAll(err: (op: string) => Error): void {
    for (let i = this.low; i < this.reqs.length; i++) this.settle(i, err(this.reqs[i]!.op));
    this.low = this.next = this.reqs.length;
  }

  private settleBelow(i: number): void {
    for (let j = this.low; j < i; j++) this.settle(j, null);
    if (this.low < i) this.low = i;
  }

  private settle(i: number, err: Error | null): void {
    if (this.settled[i]) return;
    this.settled[i] = 1;
    this.settledCount++;
    this.onDone(i, err);
  }
}
