// The FPM server: zebra (dplane_fpm_nl) connects over TCP and streams the
// routes it installs; the agent answers each with its offload state
// (verdict.ts) as the state settles and again whenever it changes. zebra's
// routes only say what zebra means and where to answer: the kernel stays the
// source of truth for forwarding, and this module reads the daemon's state
// (plan, mirror, per-entry status) without ever steering it.
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenAddress } from '../config.js';
import type { Logger } from '../log.js';
import { errorFields } from '../log.js';
import type { Clock } from '../reconcile/status.js';
import { systemClock } from '../reconcile/status.js';
import type { PlanOp } from '../plan/diff.js';
import { encodeFrame, FrameReader } from './frame.js';
import { buildReply, decodeZebra, type ZebraMessage } from './messages.js';
import type { FpmMetrics } from './metrics.js';
import { VERDICT_FLAGS, verdictOf, type OffloadView, type Verdict, type VerdictDetail, type ZebraRouteKey } from './verdict.js';

export interface FpmServerOptions {
  readonly listen: ListenAddress;
  readonly log: Logger;
  readonly metrics: FpmMetrics;
  /** The daemon's state, or null before its first sync. */
  readonly view: () => OffloadView | null;
  /** Run a flush where it can't interleave with a programming pass (the daemon's queue). */
  readonly schedule: (work: () => void) => void;
  readonly clock?: Clock;
  /** Gather changes this long before answering (coalescing under churn). */
  readonly coalesceMs?: number;
  /** A zebra route with no kernel route (or the reverse) for this long is drift. */
  readonly driftGraceMs?: number;
  /** The kernel-only check walks the whole mirror: at most this often (default 5 s). */
  readonly kernelCheckMs?: number;
}

interface Tracked {
  readonly key: ZebraRouteKey;
  /** zebra's latest RTM_NEWROUTE for it, header included: the reply is built from it. */
  readonly raw: Buffer;
  readonly protocol: number;
  /** Clock ms of zebra's latest message for it. */
  readonly at: number;
  /** The verdict last sent for `raw`; null: nothing sent yet. */
  sent: Exclude<Verdict, 'wait'> | null;
  detail: VerdictDetail | null;
}

export interface FpmStatus {
  readonly listen: string;
  readonly connected: boolean;
  readonly peer: string | null;
  readonly connectedSince: string | null;
  readonly connections: number;
  /** Routes and nexthop objects zebra sent (since it last connected) and has not deleted. */
  readonly routes: number;
  readonly nexthops: number;
  /** The current answer per route: offload, kernel (RTM_F_OFFLOAD|RTM_F_TRAP), failed, wait (not answered yet). */
  readonly verdicts: Record<Verdict, number>;
  readonly replies: { offload: number; trap: number; offload_failed: number };
  /** zebra routes with no kernel route, and kernel routes of routing-protocol origin zebra didn't send, past the grace period. */
  readonly drift: { zebraOnly: number; kernelOnly: number };
  readonly lastError: { at: string; message: string } | null;
}

/** rtm_protocol values zebra installs with (FRR's is_selfroute: zebra, bgp ... srte). */
const ZEBRA_PROTOCOLS: ReadonlySet<number> = new Set([11, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198]);
export const isZebraProtocol = (p: number): boolean => ZEBRA_PROTOCOLS.has(p);

const FLAG_LABEL: Readonly<Record<Exclude<Verdict, 'wait'>, 'offload' | 'trap' | 'offload_failed'>> = {
  offload: 'offload', kernel: 'trap', failed: 'offload_failed',
};

const WRITE_BATCH = 4096;

const prefixKeyOf = (k: ZebraRouteKey): string => `${k.table}|${k.family}|${k.dst}`;

export class FpmServer {
  private server: Server | null = null;
  private socket: Socket | null = null;
  private peer: string | null = null;
  private connectedSince: number | null = null;
  private connections = 0;
  private readonly routes = new Map<string, Tracked>();
  private readonly nexthops = new Map<number, true>();
  private readonly family = { 4: 0, 6: 0 };
  /** Routes to evaluate at the next flush; `all` evaluates every one. */
  private readonly dirty = new Set<string>();
  private all = false;
  /** Routes waiting for the kernel or the agent, re-evaluated at every flush. */
  private readonly waiting = new Set<string>();
  /** Adjacency group → routes forwarded through it, so a group change re-evaluates just those. */
  private readonly byGroup = new Map<number, Set<string>>();
  private readonly kernelOnlySince = new Map<string, number>();
  private zebraOnly = 0;
  private kernelOnly = 0;
  private kernelCheckedAt = -Infinity;
  private readonly replies = { offload: 0, trap: 0, offload_failed: 0 };
  private lastError: FpmStatus['lastError'] = null;
  private timer: NodeJS.Timeout | null = null;
  private queued = false;
  private driftTimer: NodeJS.Timeout | null = null;
  private readonly clock: Clock;
  private readonly coalesceMs: number;
  private readonly graceMs: number;
  private readonly kernelCheckMs: number;

  constructor(private readonly opts: FpmServerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.coalesceMs = opts.coalesceMs ?? 10;
    this.graceMs = opts.driftGraceMs ?? 3_000;
    this.kernelCheckMs = opts.kernelCheckMs ?? 5_000;
  }

  /** Listen; rejects with the socket error (EADDRINUSE, EACCES) when it can't. */
  async start(): Promise<void> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.error('listen', err));
    this.server = server;
    // Waiting routes pass the grace period into drift without any other change: look again now and then.
    this.driftTimer = setInterval(() => { if (this.socket) this.requestFlush(); }, Math.max(250, this.graceMs / 2));
    this.driftTimer.unref();
    this.opts.log.info({ listen: this.opts.listen.listen }, 'FPM server listening for zebra');
  }

  /** The port bound (what the kernel gave, for tests that listen on port 0). */
  get port(): number | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : null;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.driftTimer) clearInterval(this.driftTimer);
    this.timer = null;
    this.driftTimer = null;
    this.socket?.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /**
   * The daemon's state changed: after a pass (its plan ops) or a full sync,
   * a retry or a reload ('all'). Answers follow after the coalescing delay.
   */
  changed(ops: readonly PlanOp[] | 'all'): void {
    if (this.routes.size === 0) return;
    if (ops === 'all') this.all = true;
    else {
      for (const op of ops) {
        if ('entry' in op) {
          const k = `${op.entry.table}|${op.entry.family}|${op.entry.dst}`;
          if (this.routes.has(k)) this.dirty.add(k);
        } else if ('group' in op) {
          for (const k of this.byGroup.get(op.group.id) ?? []) this.dirty.add(k);
        } else this.all = true; // a port change moves tables between backends
      }
    }
    // Waiting routes may have been settled by a pass with no op of theirs (a route in a table the agent doesn't offload).
    if (this.all || this.dirty.size > 0 || this.waiting.size > 0) this.requestFlush();
  }

  private accept(s: Socket): void {
    const peer = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
    if (this.socket) {
      // zebra keeps one connection; a new one means it restarted or reconnected: the old one is dead.
      this.opts.log.warn({ old: this.peer, peer }, 'new zebra connection replaces the old one');
      this.opts.metrics.connections.inc({ result: 'replaced' });
      this.socket.destroy();
    }
    this.socket = s;
    this.peer = peer;
    this.connectedSince = this.clock.now();
    this.connections++;
    this.opts.metrics.connections.inc({ result: 'accepted' });
    this.opts.metrics.connected.set(1);
    // zebra replays its whole table on connect: what it said before is superseded.
    this.reset();
    s.setNoDelay(true);
    this.opts.log.info({ peer }, 'zebra connected');
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      if (this.socket !== s) return;
      try {
        for (const frame of reader.push(chunk)) for (const m of decodeZebra(frame)) this.take(m);
      } catch (err) {
        this.error('decode', err);
        this.opts.metrics.connections.inc({ result: 'protocol-error' });
        s.destroy();
        return;
      }
      if (this.dirty.size > 0) this.requestFlush();
    });
    s.on('error', (err) => { if (this.socket === s) this.error('socket', err); });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.connectedSince = null;
      this.opts.metrics.connected.set(0);
      this.opts.metrics.connections.inc({ result: 'closed' });
      this.opts.log.info({ peer }, 'zebra disconnected (it reconnects and replays its routes)');
    });
  }

  private reset(): void {
    this.routes.clear();
    this.nexthops.clear();
    this.family[4] = 0;
    this.family[6] = 0;
    this.dirty.clear();
    this.waiting.clear();
    this.byGroup.clear();
    this.kernelOnlySince.clear();
    this.zebraOnly = 0;
    this.kernelOnly = 0;
    this.kernelCheckedAt = -Infinity;
    this.gauges();
  }

  private take(m: ZebraMessage): void {
    const type = m.kind === 'other' ? String(m.type) : `${m.kind}-${m.op}`;
    this.opts.metrics.messages.inc({ type });
    if (m.kind === 'nexthop') {
      if (m.op === 'new') this.nexthops.set(m.nexthop.id, true);
      else this.nexthops.delete(m.nexthop.id);
      this.opts.metrics.nexthops.set(this.nexthops.size);
      return;
    }
    if (m.kind !== 'route') return;
    const r = m.route;
    const key: ZebraRouteKey = { table: r.table, family: r.family, dst: `${r.dst}/${r.dstLen}` };
    const k = prefixKeyOf(key);
    const old = this.routes.get(k);
    if (old) { this.family[old.key.family]--; this.unindex(k, old.detail?.group); }
    this.waiting.delete(k);
    this.dirty.delete(k);
    if (m.op === 'del') {
      this.routes.delete(k);
    } else {
      // A new message is a new route entry in zebra: it needs its own answer even if the verdict is unchanged.
      this.routes.set(k, { key, raw: m.raw, protocol: r.protocol, at: this.clock.now(), sent: null, detail: null });
      this.family[key.family]++;
      this.dirty.add(k);
    }
    this.gauges();
  }

  private gauges(): void {
    this.opts.metrics.routes.set({ family: '4' }, this.family[4]);
    this.opts.metrics.routes.set({ family: '6' }, this.family[6]);
    this.opts.metrics.nexthops.set(this.nexthops.size);
  }

  private unindex(k: string, group: number | undefined): void {
    if (group === undefined) return;
    const s = this.byGroup.get(group);
    s?.delete(k);
    if (s?.size === 0) this.byGroup.delete(group);
  }

  private requestFlush(): void {
    if (this.timer || this.queued) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.queued = true;
      this.opts.schedule(() => {
        this.queued = false;
        // An answer that can't be built is the FPM server's problem, not a reason for the daemon to resync.
        try {
          this.flush();
        } catch (err) {
          this.error('reply', err);
        }
      });
    }, this.coalesceMs);
    this.timer.unref();
  }

  /** Evaluate what changed (and what waits), send the answers that differ from the last ones sent, check drift. */
  flush(): void {
    const view = this.opts.view();
    const s = this.socket;
    if (!view || !s) return;
    const keys = this.all ? [...this.routes.keys()] : [...this.dirty, ...this.waiting];
    this.all = false;
    this.dirty.clear();
    let frames: Buffer[] = [];
    let sent = 0;
    for (const k of keys) {
      const t = this.routes.get(k);
      if (!t) continue;
      const d = verdictOf(view, t.key);
      if (t.detail?.group !== d.group) {
        this.unindex(k, t.detail?.group);
        if (d.group !== undefined) {
          let set = this.byGroup.get(d.group);
          if (!set) this.byGroup.set(d.group, (set = new Set()));
          set.add(k);
        }
      }
      t.detail = d;
      if (d.verdict === 'wait') { this.waiting.add(k); continue; }
      this.waiting.delete(k);
      if (t.sent === d.verdict) continue;
      frames.push(encodeFrame(buildReply(t.raw, VERDICT_FLAGS[d.verdict])));
      // A full table's answers go out in bounded writes, not one buffer of every reply.
      if (frames.length >= WRITE_BATCH) { s.write(Buffer.concat(frames)); sent += frames.length; frames = []; }
      t.sent = d.verdict;
      const flag = FLAG_LABEL[d.verdict];
      this.replies[flag]++;
      this.opts.metrics.replies.inc({ flag });
    }
    if (frames.length > 0) s.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    sent += frames.length;
    if (sent > 0) this.opts.log.debug({ replies: sent, waiting: this.waiting.size }, 'answered zebra');
    this.checkDrift(view);
  }

  private checkDrift(view: OffloadView): void {
    const now = this.clock.now();
    let zebraOnly = 0;
    for (const k of this.waiting) {
      const t = this.routes.get(k);
      if (t && t.detail?.why === 'no kernel route' && now - t.at >= this.graceMs) zebraOnly++;
    }
    if (zebraOnly > this.zebraOnly) this.opts.metrics.drift.inc({ direction: 'zebra_only' }, zebraOnly - this.zebraOnly);
    this.zebraOnly = zebraOnly;
    this.opts.metrics.driftRoutes.set({ direction: 'zebra_only' }, zebraOnly);
    // The reverse needs zebra's whole table: only once it has had the grace period to replay it.
    if (this.connectedSince === null || now - this.connectedSince < this.graceMs) return;
    if (now - this.kernelCheckedAt < this.kernelCheckMs) return;
    this.kernelCheckedAt = now;
    const seen = new Set<string>();
    let kernelOnly = 0;
    for (const k of view.kernelRoutes(isZebraProtocol)) {
      if (this.routes.has(k) || seen.has(k)) continue; // several routes (metrics) may share a prefix
      seen.add(k);
      const since = this.kernelOnlySince.get(k);
      if (since === undefined) this.kernelOnlySince.set(k, now);
      else if (now - since >= this.graceMs) kernelOnly++;
    }
    for (const k of this.kernelOnlySince.keys()) if (!seen.has(k)) this.kernelOnlySince.delete(k);
    if (kernelOnly > this.kernelOnly) this.opts.metrics.drift.inc({ direction: 'kernel_only' }, kernelOnly - this.kernelOnly);
    this.kernelOnly = kernelOnly;
    this.opts.metrics.driftRoutes.set({ direction: 'kernel_only' }, kernelOnly);
  }

  private error(what: string, err: unknown): void {
    const f = errorFields(err);
    this.lastError = { at: new Date(this.clock.now()).toISOString(), message: `${what}: ${String(f['err'])}` };
    this.opts.log.warn({ what, peer: this.peer, ...f }, `FPM ${what} failed`);
  }

  status(): FpmStatus {
    const verdicts: Record<Verdict, number> = { offload: 0, kernel: 0, failed: 0, wait: 0 };
    for (const t of this.routes.values()) verdicts[t.detail?.verdict ?? 'wait']++;
    return {
      listen: this.opts.listen.listen,
      connected: this.socket !== null,
      peer: this.socket ? this.peer : null,
      connectedSince: this.connectedSince === null ? null : new Date(this.connectedSince).toISOString(),
      connections: this.connections,
      routes: this.routes.size,
      nexthops: this.nexthops.size,
      verdicts,
      replies: { ...this.replies },
      drift: { zebraOnly: this.zebraOnly, kernelOnly: this.kernelOnly },
      lastError: this.lastError,
    };
  }

  /** Each zebra route's current answer, for `lab status` and debugging. */
  list(): Array<{ table: number; dst: string; verdict: Verdict; why: string }> {
    return [...this.routes.values()].map((t) => ({ table: t.key.table, dst: t.key.dst, verdict: t.detail?.verdict ?? 'wait', why: t.detail?.why ?? 'not evaluated' }));
  }
}
