// Transport on the `netlink` package's RawNetlinkSocket: a request/dump channel
// matched by sequence number (one request at a time, or many pipelined: see
// pipeline.ts), and a separate multicast subscription. Raw datagrams only;
// decoding belongs to codec/.
import { EventEmitter } from 'node:events';
// The raw socket module alone: the package's index also loads every generated protocol struct (most of its start-up time).
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { NetlinkError } from '../errors.js';
import {
  NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
} from './codec/constants.js';
import { decodeError, encodeMessage, forEachMessage, type MessageVisitor } from './codec/header.js';
import {
  DEFAULT_LIMITS, RequestPipeline, windowFor, type BatchDone, type BatchReplyVisitor, type BatchRequest, type PipelineLimits,
} from './pipeline.js';

export type { BatchDone, BatchReplyVisitor, BatchRequest } from './pipeline.js';

export type RequestManyOptions = Partial<PipelineLimits>;

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

/** socket(AF_NETLINK, SOCK_RAW, protocol), its failure as a NetlinkError naming the protocol. */
function openRaw(protocol: number, opts: { recvBufferSize: number; sendBufferSize: number }): RawNetlinkSocket {
  try {
    return new RawNetlinkSocket(protocol, opts);
  } catch (err) {
    const errno = (err as { errno?: unknown }).errno;
    if (typeof errno === 'number') throw new NetlinkError(`open netlink socket (protocol ${protocol})`, errno);
    throw err;
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

/** One netlink socket (NETLINK_ROUTE unless told) for requests and dumps; never joined to a multicast group. */
export class RtnlChannel {
  private readonly raw: RawNetlinkSocket;
  private readonly pending = new Map<number, Pending>();
  /** Pipelined batches (requestMany) in progress, each with what resolves its promise. */
  private readonly batches = new Map<RequestPipeline, () => void>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;
  private referenced = false;
  /** SO_RCVBUF as granted: bounds how many requests requestMany keeps in flight. */
  readonly recvBufferSize: number;

  /** Throws a NetlinkError (e.g. EPROTONOSUPPORT) when the kernel has no such netlink family. */
  constructor(protocol: number = NETLINK_ROUTE) {
    this.raw = openRaw(protocol, { recvBufferSize: 4 << 20, sendBufferSize: 1 << 20 });
    this.recvBufferSize = this.raw.getRecvBufferSize();
    this.raw.on('message', (buf) => guard(() => this.receive(buf)));
    // ENOBUFS here means the kernel dropped replies: whatever was in flight fails with it (never silently lost).
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

  /**
   * Send many requests pipelined: several messages per sendmsg, up to
   * `window` unanswered at once (fewer if the receive buffer could not hold
   * their replies), replies matched by sequence number. `onReply` gets every
   * message answering request i other than its ack (the echo, with
   * NLM_F_ECHO), `onDone` settles each request exactly once: null when the
   * kernel took it, else a NetlinkError with errno, extack and the request's
   * op. A failed request doesn't stop the others. Resolves when all are
   * settled; never rejects.
   */
  requestMany(reqs: readonly BatchRequest[], onReply: BatchReplyVisitor, onDone: BatchDone, options: RequestManyOptions = {}): Promise<void> {
    if (reqs.length === 0) return Promise.resolve();
    const limits: PipelineLimits = { ...DEFAULT_LIMITS, ...options };
    const window = windowFor(this.recvBufferSize, limits.window);
    const base = (this.seq + 1) >>> 0;
    this.seq = (this.seq + reqs.length) >>> 0;
    const p = new RequestPipeline(reqs, base, { ...limits, window }, onReply, onDone);
    if (this.closed) {
      p.failAll((op) => new Error(`${op}: netlink channel closed`));
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.batches.set(p, resolve);
      this.updateRef();
      this.pump(p);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('netlink channel closed'));
    for (const p of [...this.batches.keys()]) {
      p.failAll((op) => new Error(`${op}: netlink channel closed`));
      this.pump(p);
    }
    this.raw.close();
  }

  /** Send what the batch's window allows (one datagram at a time: the next goes when the send is confirmed); resolve it when all is settled. */
  private pump(p: RequestPipeline): void {
    if (!this.closed) {
      for (let d = p.nextDatagram(); d; d = p.nextDatagram()) {
        const sent = d;
        this.raw.send(sent.parts, {}, (err) => guard(() => {
          p.sent(sent, err ? Math.abs(err.errno ?? 5 /* EIO */) : null);
          this.pump(p);
        }));
      }
    }
    if (p.finished) {
      const resolve = this.batches.get(p);
      if (!resolve) return;
      this.batches.delete(p);
      this.updateRef();
      resolve();
    }
  }

  /** Keep the process alive only while a request is outstanding. */
  private updateRef(): void {
    const want = !this.closed && (this.pending.size > 0 || this.batches.size > 0);
    if (want === this.referenced) return;
    this.referenced = want;
    if (want) this.raw.ref(); else this.raw.unref();
  }

  private send(type: number, flags: number, payload: Uint8Array, visit: MessageVisitor | null, op: string): Promise<number> {
    if (this.closed) return Promise.reject(new Error(`${op}: netlink channel closed`));
    const seq = this.seq = (this.seq + 1) >>> 0;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(seq, { op, visit, resolve, reject, count: 0, interrupted: false });
      this.updateRef();
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
    for (const p of [...this.batches.keys()]) this.pump(p);
  }

  private batchOf(seq: number): RequestPipeline | undefined {
    for (const p of this.batches.keys()) if (p.owns(seq)) return p;
    return undefined;
  }

  private receiveMessages(buf: Buffer): void {
    forEachMessage(buf, (type, flags, seq, pid, b, off, end) => {
      const p = this.pending.get(seq);
      if (!p) {
        // A pipelined request's reply, or a late one to a request that already failed.
        this.batchOf(seq)?.receive(type, flags, seq, b, off, end);
        return;
      }
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
    this.updateRef();
    if (err) p.reject(err); else p.resolve(p.count);
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq, err);
    // Pipelined requests in flight: their replies may be lost, whether the kernel took them is unknown.
    for (const p of [...this.batches.keys()]) {
      p.failInFlight((op) => (err instanceof NetlinkError ? new NetlinkError(op, err.errno, err.extack) : new Error(`${op}: ${err.message}`)));
      this.pump(p);
    }
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

/** A netlink socket (NETLINK_ROUTE unless told) joined to multicast groups; never used for requests. */
export class RtnlSubscription extends EventEmitter<SubscriptionEvents> {
  private readonly raw: RawNetlinkSocket;
  readonly recvBufferSize: number;

  constructor(groups: readonly number[], recvBufferSize: number, protocol: number = NETLINK_ROUTE) {
    super();
    this.raw = openRaw(protocol, { recvBufferSize, sendBufferSize: 0 });
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
