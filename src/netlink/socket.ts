// Transport on the `netlink` package's RawNetlinkSocket: a request/dump channel
// matched by sequence number, and a separate multicast subscription. Raw
// datagrams only; decoding belongs to codec/.
import { EventEmitter } from 'node:events';
import { RawNetlinkSocket } from 'netlink';
import { NetlinkError } from '../errors.js';
import {
  NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
} from './codec/constants.js';
import { decodeError, encodeMessage, forEachMessage, type MessageVisitor } from './codec/header.js';

/** The kernel changed the table while dumping it (NLM_F_DUMP_INTR): the dump is inconsistent and must be repeated. */
export class DumpInterruptedError extends Error {
  override readonly name = 'DumpInterruptedError';
  constructor(readonly op: string) { super(`${op}: dump interrupted by a concurrent change (NLM_F_DUMP_INTR)`); }
}

/**
 * Run a listener from inside a native callback. A throw there would abort the
 * process without a stack; rethrow it from a fresh tick so it surfaces as a
 * normal uncaught exception with its own stack.
 */
function guard(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    setImmediate(() => { throw err; });
  }
}

interface Pending {
  readonly op: string;
  readonly visit: MessageVisitor | null;
  readonly resolve: (count: number) => void;
  readonly reject: (err: Error) => void;
  count: number;
  interrupted: boolean;
}

/** One NETLINK_ROUTE socket for requests and dumps; never joined to a multicast group. */
export class RtnlChannel {
  private readonly raw: RawNetlinkSocket;
  private readonly pending = new Map<number, Pending>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  constructor() {
    this.raw = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: 4 << 20, sendBufferSize: 1 << 20 });
    this.raw.on('message', (buf) => guard(() => this.receive(buf)));
    this.raw.on('error', (err) => guard(() => this.failAll(new NetlinkError('netlink receive', err.errno))));
    // Only keep the process alive while a request is outstanding.
    this.raw.unref();
  }

  /**
   * Send a dump request and hand each reply message to `visit` (payload bounds
   * only, no copying). Resolves with the number of messages; rejects with a
   * NetlinkError, or DumpInterruptedError if the kernel flagged the dump inconsistent.
   */
  dump(type: number, payload: Uint8Array, visit: MessageVisitor, op: string): Promise<number> {
    return this.send(type, NLM_F_REQUEST | NLM_F_DUMP, payload, visit, op);
  }

  /** Send a request that expects an ack (NLM_F_ACK); rejects with the kernel's errno and extack. */
  request(type: number, flags: number, payload: Uint8Array, op: string, visit: MessageVisitor | null = null): Promise<number> {
    return this.send(type, NLM_F_REQUEST | NLM_F_ACK | flags, payload, visit, op);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('netlink channel closed'));
    this.raw.close();
  }

  private send(type: number, flags: number, payload: Uint8Array, visit: MessageVisitor | null, op: string): Promise<number> {
    if (this.closed) return Promise.reject(new Error(`${op}: netlink channel closed`));
    const seq = this.seq = (this.seq + 1) >>> 0;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(seq, { op, visit, resolve, reject, count: 0, interrupted: false });
      if (this.pending.size === 1) this.raw.ref();
      this.raw.send(encodeMessage(type, flags, seq, payload), {}, (err) => {
        if (err) this.settle(seq, new NetlinkError(`${op} (send)`, err.errno));
      });
    });
  }

  private receive(buf: Buffer): void {
    try {
      this.receiveMessages(buf);
    } catch (err) {
      // A malformed datagram or a visitor that threw: whatever was in flight is unreliable.
      this.failAll(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private receiveMessages(buf: Buffer): void {
    forEachMessage(buf, (type, flags, seq, pid, b, off, end) => {
      const p = this.pending.get(seq);
      if (!p) return; // a late reply to a request that already failed
      if (flags & NLM_F_DUMP_INTR) p.interrupted = true;
      if (type === NLMSG_ERROR) {
        const e = decodeError(b, off, end, flags);
        this.settle(seq, e.errno === 0 ? null : new NetlinkError(p.op, e.errno, e.extack));
      } else if (type === NLMSG_DONE) {
        // A dump's DONE carries an int error (e.g. a dump callback failing midway).
        const errno = end - off >= 4 ? -b.readInt32LE(off) : 0;
        this.settle(seq, errno > 0 ? new NetlinkError(p.op, errno) : p.interrupted ? new DumpInterruptedError(p.op) : null);
      } else if (type === NLMSG_OVERRUN) {
        this.settle(seq, new NetlinkError(p.op, 105 /* ENOBUFS */));
      } else {
        p.count++;
        p.visit?.(type, flags, seq, pid, b, off, end);
      }
    });
  }

  private settle(seq: number, err: Error | null): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    if (this.pending.size === 0 && !this.closed) this.raw.unref();
    if (err) p.reject(err); else p.resolve(p.count);
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq, err);
  }
}

export interface SubscriptionEvents {
  /** One datagram of notifications, with the monotonic time it was read (ns). */
  datagram: [buf: Buffer, receivedAt: bigint];
  /** The kernel dropped notifications (ENOBUFS): the listener must resync from a fresh dump. */
  overrun: [err: NetlinkError];
  /** Any other receive error. */
  error: [err: NetlinkError];
}

/** A NETLINK_ROUTE socket joined to multicast groups; never used for requests. */
export class RtnlSubscription extends EventEmitter<SubscriptionEvents> {
  private readonly raw: RawNetlinkSocket;
  readonly recvBufferSize: number;

  constructor(groups: readonly number[], recvBufferSize: number) {
    super();
    this.raw = new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize, sendBufferSize: 0 });
    // SO_RCVBUFFORCE (the patched addon, with CAP_NET_ADMIN) goes past net.core.rmem_max; plain
    // SO_RCVBUF is capped by it. Report what the kernel actually granted (it doubles the request).
    this.recvBufferSize = this.raw.getRecvBufferSize();
    for (const g of groups) this.raw.addMembership(g);
    // These run inside the addon's native callback, where an exception aborts
    // the process (Napi::Error): defer anything a listener throws to the event loop.
    this.raw.on('message', (buf) => guard(() => this.emit('datagram', buf, process.hrtime.bigint())));
    this.raw.on('error', (err) => guard(() => {
      const e = new NetlinkError('netlink event receive', err.errno);
      if (e.code === 'ENOBUFS') this.emit('overrun', e);
      else this.emit('error', e);
    }));
  }

  close(): void {
    this.raw.close();
  }
}
