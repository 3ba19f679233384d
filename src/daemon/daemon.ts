// The daemon composes the pieces and owns their timing: kernel events go to
// the batcher, each pass through the pipeline (mirror → plan → reconciler →
// backends), what the backends report into per-entry status and the metrics.
// Loss (ENOBUFS, a decode error, an overfull queue, a pass that threw) and a
// periodic timer take a full resync, which reconciles by read-back diff:
// nothing installed is flushed for it. Failed entries are retried after
// their backoff; while any is failed the daemon is degraded, not down.
import PQueue from 'p-queue';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { errorFields } from '../log.js';
import type { Mirror } from '../mirror/mirror.js';
import { canonicalState } from '../mirror/canonical.js';
import type { KernelEvent, KernelSnapshot, Neighbor } from '../model/index.js';
import { KernelAdapter, type ResyncReason } from '../netlink/kernel.js';
import type { Plan, PlanOp } from '../plan/index.js';
import { backendForLink } from '../plan/options.js';
import { Reconciler, type BackendFactories } from '../reconcile/reconciler.js';
import { EntryStatus, systemClock, type Clock, type FailedEntry } from '../reconcile/status.js';
import { TcAdapter } from '../reconcile/tc.js';
import type { Backend, BackendName, PortFallback } from '../reconcile/types.js';
import { DryRunBackend, XdpAdapter } from '../reconcile/xdp.js';
import { TcBackend } from '../tc/backend.js';
import { desiredBlocks } from '../tc/rules.js';
import type { ReconcileResult } from '../xdp/backend.js';
import { XdpBackend } from '../xdp/backend.js';
import { AUDIT_RESULTS, VERDICTS } from '../xdp/layout.js';
import { AuditMonitor, disagreementText, type Disagreement } from './audit.js';
import { Batcher, DEFAULT_PASS_CAP } from './batcher.js';
import { keepaliveTick, mergeTraffic, tcMemberTraffic, type MemberTraffic } from './keepalive.js';
import type { Metrics } from './metrics.js';
import { Pipeline, type SyncResult } from './pipeline.js';
import { countReports, initMetrics, noteFallbacks, updateGauges } from './report.js';

export type BackendChoice = 'xdp' | 'tc' | 'dry-run';

/** What the daemon reads from the kernel: a snapshot with the events after it, and neighbour keepalive. */
export interface KernelSource {
  resync(onSnapshot: (s: KernelSnapshot) => void): Promise<void>;
  useNeighbor(n: Pick<Neighbor, 'ifindex' | 'family' | 'address'>): Promise<void>;
  on(event: 'event', fn: (ev: KernelEvent, at: bigint) => void): unknown;
  on(event: 'resync-needed', fn: (reason: ResyncReason, err: Error) => void): unknown;
  removeAllListeners(event?: 'event' | 'resync-needed'): unknown;
  close(): void;
}

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Events held before a resync is forced instead (bounded queue). */
  readonly maxQueue?: number;
  /** Wait this long after the first event of a batch for more (coalescing). */
  readonly coalesceMs?: number;
  /** Changed prefixes planned and programmed per pass. */
  readonly passCap?: number;
  readonly adapter?: KernelSource;
  /** Backends (tests inject fault-injecting ones); default: the real tc, XDP and dry-run. */
  readonly backends?: Partial<BackendFactories>;
  readonly clock?: Clock;
}

export interface ResyncRecord {
  readonly at: string;
  readonly reason: string;
  readonly seconds: number;
  readonly mirrorChanged: boolean;
  readonly repairs: number;
}

export interface ErrorRecord {
  readonly at: string;
  readonly message: string;
  readonly code?: string;
  readonly extack?: string;
}

type TriggerReason = ResyncReason | 'start' | 'periodic' | 'queue-overflow' | 'program-error' | 'reload';

export class Daemon {
  private config: Config;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly adapter: KernelSource;
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly maxQueue: number;
  private readonly coalesceMs: number;
  private readonly clock: Clock;
  private readonly factories: Partial<BackendFactories>;
  private readonly batcher: Batcher;
  readonly status: EntryStatus;
  private reconciler: Reconciler;
  private pipeline: Pipeline;
  private batchScheduled = false;
  private inBatch = false;
  private resyncQueued: TriggerReason | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private timers: NodeJS.Timeout[] = [];
  private trafficSeen = new Map<string, bigint>();
  private lastBatchMs = 0;
  private pendingOps = 0;
  private gaugesStale = false;
  private stopping = false;
  readonly startedAt = new Date();
  ready = false;
  lastResync: ResyncRecord | null = null;
  lastError: ErrorRecord | null = null;
  /** Configured VRF names that have no device now (noteMissingTables). */
  missingTables: readonly string[] = [];
  eventsApplied = 0;
  batches = 0;
  /** The XDP program's live check against the kernel's lookup (xdp.audit_rate). */
  readonly audit = new AuditMonitor();

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.adapter = opts.adapter ?? new KernelAdapter(eventBufferFromEnv(process.env));
    this.maxQueue = opts.maxQueue ?? 200_000;
    this.coalesceMs = opts.coalesceMs ?? 2;
    this.clock = opts.clock ?? systemClock;
    this.factories = opts.backends ?? {};
    this.batcher = new Batcher(opts.passCap ?? DEFAULT_PASS_CAP);
    this.status = new EntryStatus(this.clock);
    this.reconciler = this.makeReconciler();
    this.pipeline = new Pipeline(this.config, this.reconciler);
  }

  private makeReconciler(): Reconciler {
    const c = this.config;
    const log = this.log;
    const open: BackendFactories = {
      xdp: this.factories.xdp ?? (async () => {
        const xdp = await XdpBackend.open({
          bpffs: c.xdp.bpffs, mode: c.xdp.mode, hash: c.ecmp.hash, flatThreshold: c.xdp.flatThreshold, auditRate: c.xdp.auditRate,
        });
        log.info({ component: 'xdp', how: xdp.load.how, progId: xdp.progId, dir: xdp.loader.dir }, 'xdp program loaded');
        for (const result of AUDIT_RESULTS) this.metrics.auditPackets.inc({ result }, 0);
        return new XdpAdapter(xdp, () => ({ hash: this.config.ecmp.hash, auditRate: this.config.xdp.auditRate }));
      }),
      tc: this.factories.tc ?? (() => new TcAdapter(new TcBackend({ policy: c.tc.policy, fallback: c.tc.fallback }))),
      dryRun: this.factories.dryRun ?? (() => new DryRunBackend()),
    };
    return new Reconciler({
      choice: this.backendChoice, base: backendForLink(c), policy: c.tc.policy, fallback: c.tc.fallback, open, status: this.status,
    });
  }

  get backendChoice(): BackendChoice {
    return this.config.backend === 'dry-run' ? 'dry-run' : this.config.backend === 'tc' ? 'tc' : 'xdp';
  }

  get currentPlan(): Plan | null {
    return this.pipeline.plan;
  }

  get currentMirror(): Mirror | null {
    return this.pipeline.currentMirror;
  }

  private backendOf<T extends Backend>(name: BackendName, cls: abstract new (...a: never[]) => T): T | null {
    const b = this.reconciler.backend(name);
    return b instanceof cls ? b : null;
  }

  get currentBackend(): XdpBackend | null {
    return this.backendOf('xdp', XdpAdapter)?.xdp ?? null;
  }

  get lastReconcile(): ReconcileResult | null {
    return this.backendOf('xdp', XdpAdapter)?.lastReconcile ?? null;
  }

  get lastTcReconcile(): TcAdapter['last'] {
    return this.backendOf('tc', TcAdapter)?.last ?? null;
  }

  /** Ports the tc backend refused and where they went. */
  get tcFallbacks(): ReadonlyMap<string, PortFallback> {
    return this.reconciler.placement.fallbacks;
  }

  get queueDepth(): number {
    return this.batcher.depth;
  }

  /** Failed entries (per-entry status), oldest first. */
  get failed(): FailedEntry[] {
    return this.status.list();
  }

  get degraded(): boolean {
    return this.status.size > 0;
  }

  /** Open the backend, sync fully once (ready), then follow events. */
  async start(): Promise<void> {
    initMetrics(this.metrics, this.activeBackends());
    await this.reconciler.start();
    this.adapter.on('event', (ev, at) => this.onEvent(ev, at));
    this.adapter.on('resync-needed', (reason, err) => {
      this.log.warn({ reason, ...errorFields(err) }, 'kernel notifications lost: full resync');
      this.requestResync(reason);
    });
    await this.queue.add(() => this.fullSync('start'));
    this.ready = true;
    // Disagreements recorded while no agent watched (its maps were stale then) are logged now, with names.
    this.refreshAudit();
    this.startTimers();
    this.kick(); // events that arrived while starting
  }

  private activeBackends(): BackendName[] {
    return this.backendChoice === 'dry-run' ? ['dry-run'] : ['tc', 'xdp'];
  }

  /**
   * Schedule the next pass. A change that arrives while the daemon is idle
   * goes after the short coalescing wait. Changes that arrive while a pass is
   * being planned and programmed (a burst) are picked up when it ends, after a
   * pause of four times what that pass took (25..250 ms): the event loop is
   * free to drain the socket meanwhile, and more events share one pass.
   */
  private kick(): void {
    if (this.inBatch || this.batchScheduled || this.batcher.idle) return;
    this.schedule(this.coalesceMs);
  }

  private schedule(waitMs: number): void {
    this.batchScheduled = true;
    setTimeout(() => this.enqueue('batch', () => this.applyBatch()), waitMs);
  }

  private startTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.timers.push(setInterval(() => this.requestResync('periodic'), this.config.resync.intervalMs));
    if (this.config.keepalive.intervalMs > 0 && this.backendChoice !== 'dry-run') {
      this.timers.push(setInterval(() => this.enqueue('keepalive', () => this.keepalive()), this.config.keepalive.intervalMs));
    }
    this.timers.push(setInterval(() => this.sampleCounters(), 5_000));
    for (const t of this.timers) t.unref();
  }

  /** Apply a new configuration (SIGHUP): the caller has validated it. */
  async reload(config: Config): Promise<void> {
    if (config.xdp.bpffs !== this.config.xdp.bpffs) {
      this.log.warn({ from: this.config.xdp.bpffs, to: config.xdp.bpffs }, 'xdp.bpffs changes on restart only; keeping the pinned objects where they are');
    }
    if (config.xdp.mode !== this.config.xdp.mode) {
      this.log.warn({ mode: config.xdp.mode }, 'xdp.mode applies to ports attached from now on; attached ports keep their mode (switching needs a detach)');
    }
    this.currentBackend?.setMode(config.xdp.mode);
    this.config = config;
    this.log.level = config.log.level;
    // Placement is rebuilt from the new config, so ports tc refused get another chance. The XDP program stays loaded.
    await this.queue.add(() => {
      const xdp = this.reconciler.backend('xdp');
      const old = this.reconciler;
      for (const name of ['tc', 'dry-run'] as const) old.backend(name)?.close();
      this.reconciler = this.makeReconciler();
      if (xdp) this.reconciler.adopt(xdp);
      this.pipeline = new Pipeline(config, this.reconciler);
      this.status.forget('tc');
      return Promise.resolve();
    });
    this.startTimers();
    this.requestResync('reload');
    await this.queue.onIdle();
  }

  private onEvent(ev: KernelEvent, at: bigint): void {
    this.metrics.events.inc({ type: ev.kind });
    if (this.resyncQueued) return; // the coming dump covers it
    if (this.batcher.depth >= this.maxQueue) {
      this.log.warn({ depth: this.batcher.depth }, 'event queue full: dropping it for a full resync');
      this.batcher.clear();
      this.requestResync('queue-overflow');
      return;
    }
    this.batcher.push(ev, at);
    this.metrics.queueDepth.set(this.batcher.depth);
    if (this.ready) this.kick();
  }

  private requestResync(reason: TriggerReason): void {
    if (this.stopping || this.resyncQueued) return;
    this.resyncQueued = reason;
    this.enqueue('resync', () => this.fullSync(reason));
  }

  /**
   * Queue work whose failure nobody awaits. A throw there would be an
   * unhandled rejection, which ends the process: record it, and rebuild
   * from a fresh dump (with a pause, so a failure that repeats can't spin).
   */
  private enqueue(what: string, work: () => Promise<void>): void {
    this.queue.add(work).catch((err: unknown) => {
      this.fail(what, err);
      if (!this.stopping) setTimeout(() => this.requestResync('program-error'), 1000).unref();
    });
  }

  /** Whatever is pending → mirror → plan → backends, at most the pass cap of changed prefixes. */
  private async applyBatch(): Promise<void> {
    this.batchScheduled = false;
    this.inBatch = true;
    try {
      await this.applyPass();
    } finally {
      this.inBatch = false;
      // Busy: let the burst build up for a few times what a pass costs (25..250 ms).
      if (!this.batcher.idle && !this.batchScheduled) this.schedule(Math.min(Math.max(4 * this.lastBatchMs, 25), 250));
    }
  }

  private async applyPass(): Promise<void> {
    const mirror = this.pipeline.currentMirror;
    if (!mirror || !this.pipeline.plan || this.resyncQueued) return;
    const started = process.hrtime.bigint();
    const pass = this.batcher.take(mirror);
    this.metrics.queueDepth.set(this.batcher.depth);
    if (!pass) return;
    let r;
    this.pendingOps = pass.delta.routes.size;
    try {
      r = await this.pipeline.pass(pass.delta);
    } catch (err) {
      this.pendingOps = 0;
      this.fail('program', err);
      this.metrics.programOps.inc({ backend: this.backendChoice, op: 'batch', result: 'error' });
      this.requestResync('program-error');
      return;
    }
    this.pendingOps = 0;
    const ack = process.hrtime.bigint();
    for (const at of this.batcher.done(pass, r.everything)) this.metrics.eventToInstall.observe(Number(ack - at) / 1e9);
    this.metrics.queueDepth.set(this.batcher.depth);
    this.noteResult(r);
    const seconds = r.reports.reduce((s, x) => s + x.seconds, 0);
    if (r.ops.length > 0) this.metrics.programDuration.observe(seconds);
    this.lastBatchMs = Number(ack - started) / 1e6;
    this.eventsApplied += pass.events;
    this.batches++;
    if (r.ops.length > 0) {
      this.log.info(
        { component: 'batcher', events: pass.events, deferred: pass.deferred, planOps: r.ops.length, mapOps: r.reports.reduce((n, x) => n + x.ops, 0), planned: r.how, planMs: r.planMs, ms: this.lastBatchMs },
        'programmed batch',
      );
      if (this.log.isLevelEnabled('debug')) for (const op of r.ops) this.log.debug({ op: op.op, ...opSubject(op) }, 'plan op');
    }
  }

  /** Reports → status (already recorded by the reconciler), metrics, fallbacks, retry timer. */
  private noteResult(r: SyncResult): void {
    countReports(this.metrics, this.log.child({ component: 'reconcile' }), r.reports);
    noteFallbacks(this.metrics, this.log.child({ component: 'placement' }), r.newFallbacks);
    this.noteMissingTables(r.missingTables);
    const failed = r.reports.flatMap((x) => x.failures);
    if (failed.length > 0) {
      const f = failed[0]!;
      this.lastError = { at: new Date(this.clock.now()).toISOString(), message: `${f.op}: ${f.message}`, code: f.errno, ...(f.extack ? { extack: f.extack } : {}) };
    }
    this.gaugesStale = true;
    this.metrics.degraded.set(this.degraded ? 1 : 0);
    this.armRetry();
  }

  /** Retry failed work when its backoff is due: a reconcile of the backends concerned. */
  private armRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const at = this.status.nextRetryAt();
    if (at === null || this.stopping) return;
    this.retryTimer = setTimeout(() => this.enqueue('retry', () => this.retry()), Math.max(0, at - this.clock.now()));
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    const due = this.status.due();
    if (due.length === 0 || this.resyncQueued) return this.armRetry();
    const out = await this.pipeline.retry(due);
    if (!out) return;
    for (const backend of due) {
      const ok = !out.reports.some((x) => x.backend === backend && x.failures.length > 0);
      this.metrics.retries.inc({ backend, result: ok ? 'ok' : 'error' });
      if (ok) this.log.info({ component: 'reconcile', backend }, 'retry installed everything that had failed');
    }
    countReports(this.metrics, this.log.child({ component: 'reconcile' }), out.reports);
    noteFallbacks(this.metrics, this.log.child({ component: 'placement' }), out.newFallbacks);
    this.gaugesStale = true;
    this.metrics.degraded.set(this.degraded ? 1 : 0);
    this.armRetry();
  }

  /**
   * Dump everything, rebuild the mirror, plan, and reconcile the backends by
   * read-back diff. On a periodic resync, any difference is drift: counted.
   */
  private async fullSync(reason: TriggerReason): Promise<void> {
    const t0 = process.hrtime.bigint();
    // Events not applied yet are older than the dump about to be taken.
    this.batcher.clear();
    this.metrics.queueDepth.set(0);
    let snapshot: KernelSnapshot | null = null;
    try {
      this.resyncQueued = null; // events from here on are held by the adapter and replayed after the snapshot
      await this.adapter.resync((snap) => { snapshot = snap; });
    } catch (err) {
      this.fail('dump', err);
      this.metrics.resyncs.inc({ reason: `${reason}-failed` });
      if (reason === 'start') throw err;
      setTimeout(() => this.requestResync(reason), 1000).unref();
      return;
    }
    if (!snapshot) throw new Error('resync delivered no snapshot');
    const before = this.pipeline.currentMirror;
    let r: SyncResult;
    try {
      r = await this.pipeline.sync(snapshot);
    } catch (err) {
      this.fail('reconcile', err);
      this.metrics.programOps.inc({ backend: this.backendChoice, op: 'batch', result: 'error' });
      this.metrics.resyncs.inc({ reason: `${reason}-failed` });
      if (reason === 'start') throw err;
      setTimeout(() => this.requestResync('program-error'), 1000).unref();
      return;
    }
    const mirrorChanged = before !== null && reason === 'periodic' && !sameState(before, r.mirror);
    this.noteResult(r);
    const xdp = this.lastReconcile;
    const tcr = this.lastTcReconcile;
    const repairs = r.reports.reduce((n, x) => n + x.ops, 0) + (xdp ? xdp.attached.length + xdp.detached.length : 0)
      + (tcr ? tcr.joined.length + tcr.left.length : 0);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    this.metrics.resyncs.inc({ reason });
    if (reason === 'periodic') {
      if (mirrorChanged) this.metrics.drift.inc({ what: 'mirror' });
      if (repairs > 0) this.metrics.drift.inc({ what: 'installed' }, repairs);
    }
    this.lastResync = { at: new Date(this.clock.now()).toISOString(), reason, seconds, mirrorChanged, repairs };
    this.refreshGauges(true);
    for (const a of xdp?.attached ?? []) {
      this.log.info({ component: 'xdp', dev: a.dev, mode: a.mode }, 'xdp attached');
      if (a.fallbackReason) this.metrics.fallbacks.inc({ from: 'xdp-native', to: 'xdp-generic', reason: 'driver-refused' });
    }
    this.log.info(
      { reason, seconds, routes: r.mirror.counts.routes, entries: r.plan.entries.length, groups: r.plan.groups.length, repairs, mirrorChanged, failed: this.status.size },
      'full sync installed',
    );
  }

  /** Mark the neighbours behind offloaded traffic used. */
  private async keepalive(): Promise<void> {
    const plan = this.pipeline.plan;
    const mirror = this.pipeline.currentMirror;
    const xdp = this.currentBackend;
    const tc = this.backendOf('tc', TcAdapter)?.tc ?? null;
    if ((!xdp && !tc) || !plan || !mirror) return;
    let tick;
    try {
      const x: readonly MemberTraffic[] = xdp ? xdp.memberCounters() : [];
      let t: MemberTraffic[] = [];
      if (tc && plan.ports.some((p) => p.backend === 'tc')) {
        const blocks = desiredBlocks(plan, () => 'none');
        t = tcMemberTraffic(blocks, await tc.stats(blocks.map((b) => b.block)));
      }
      tick = keepaliveTick(plan, mergeTraffic(x, t), this.trafficSeen, mirror);
    } catch (err) {
      this.fail('keepalive', err);
      return;
    }
    this.trafficSeen = tick.seen;
    for (const n of tick.refresh) {
      try {
        await this.adapter.useNeighbor(n);
        this.metrics.neighborRefreshes.inc({ result: 'ok' });
        this.log.debug({ neighbor: n.address, ifindex: n.ifindex, state: n.state }, 'neighbour refreshed');
      } catch (err) {
        this.metrics.neighborRefreshes.inc({ result: 'error' });
        this.fail('keepalive', err);
      }
    }
  }

  /**
   * Configured VRFs that don't exist (deleted, or not created yet): their
   * routes are not offloaded until they do. Logged when the set changes,
   * shown in /status.
   */
  private noteMissingTables(missing: readonly string[]): void {
    const before = this.missingTables;
    const now = [...missing].sort();
    if (now.join('\0') === before.join('\0')) return;
    for (const name of now.filter((n) => !before.includes(n))) {
      this.log.warn({ vrf: name }, `tables: no table or VRF named "${name}" in this namespace; its routes are not offloaded until it exists`);
    }
    for (const name of before.filter((n) => !now.includes(n))) this.log.info({ vrf: name }, `tables: VRF "${name}" exists again; offloading it`);
    this.missingTables = now;
  }

  /** Bring the table gauges up to date (O(table): done at scrape time and every 5 s, not per batch). */
  refreshGauges(force = false): void {
    if (!this.gaugesStale && !force) return;
    this.gaugesStale = false;
    const mirror = this.pipeline.currentMirror;
    const plan = this.pipeline.plan;
    if (!mirror || !plan) return;
    const backends = this.activeBackends().filter((b) => this.reconciler.backend(b) !== null);
    updateGauges(this.metrics, mirror, plan, this.reconciler.placement, this.status, backends, this.pendingOps);
  }

  /**
   * Read the audit's counters and the disagreements the program recorded
   * since the last look: count them, keep the latest for /status, and log
   * them (at most 10 a minute, then how many were not logged).
   */
  refreshAudit(): void {
    const xdp = this.currentBackend;
    if (!xdp) return;
    let u;
    try {
      const taken = xdp.auditTakenNs;
      u = this.audit.update(xdp.audit(), Date.now(), process.hrtime.bigint(), (i) => this.currentMirror?.link(i)?.name ?? null, taken);
      // Kept in the pinned map, so the next process after a restart doesn't log them again.
      if (u.takenNs !== taken) xdp.auditTakenNs = u.takenNs;
    } catch (err) {
      this.fail('read audit', err);
      return;
    }
    for (const result of AUDIT_RESULTS) {
      const n = u.deltas[result];
      if (n > 0n) this.metrics.auditPackets.inc({ result }, Number(n));
    }
    for (const d of u.log) this.log.warn(disagreementFields(d), `audit: ${disagreementText(d)}`);
    if (u.suppressed) {
      this.log.warn({ suppressed: u.suppressed.count, seconds: Math.round(u.suppressed.windowMs / 1000) },
        `audit: ${u.suppressed.count} more disagreements in the last ${Math.round(u.suppressed.windowMs / 1000)} s not logged (counted in fib_offload_audit_packets_total)`);
    }
    if (u.forwardingOffFirst) {
      this.log.warn({ sampled: Number(u.totals.forwarding_off) },
        'audit: the kernel answers "forwarding disabled" on an ingress port, so sampled packets there are not checked; ' +
        'with net.ipv4.ip_forward / net.ipv6.conf.all.forwarding on, they would be');
    }
  }

  /** The audit for /status. */
  auditStatus(): { rate: number; packets: Record<string, number>; lastDisagreements: readonly Disagreement[] } | null {
    const xdp = this.currentBackend;
    if (!xdp) return null;
    this.refreshAudit();
    let rate: number;
    try {
      rate = xdp.auditRate;
    } catch (err) {
      this.fail('read audit rate', err);
      rate = this.config.xdp.auditRate;
    }
    const packets = Object.fromEntries(AUDIT_RESULTS.map((r) => [r, Number(this.audit.packets[r])]));
    return { rate, packets, lastDisagreements: this.audit.lastDisagreements };
  }

  private sampleCounters(): void {
    this.refreshGauges();
    const xdp = this.currentBackend;
    if (!xdp) return;
    this.refreshAudit();
    try {
      const v = xdp.verdicts();
      for (const name of VERDICTS) this.metrics.xdpPackets.set({ verdict: name }, Number(v[name].packets));
    } catch (err) {
      this.fail('read counters', err);
    }
  }

  private fail(what: string, err: unknown): void {
    const f = errorFields(err);
    this.lastError = {
      at: new Date(this.clock.now()).toISOString(), message: `${what}: ${String(f['err'])}`,
      ...(typeof f['code'] === 'string' ? { code: f['code'] } : {}), ...(typeof f['extack'] === 'string' ? { extack: f['extack'] } : {}),
    };
    this.log.error({ what, ...f }, `${what} failed`);
  }

  /** Stop following; wait for in-flight work; optionally remove everything installed. */
  async stop(flush: boolean): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.adapter.removeAllListeners('event');
    this.queue.clear();
    await this.queue.onIdle();
    this.adapter.close();
    const hadXdp = this.currentBackend !== null;
    if (hadXdp) this.refreshAudit(); // the last few seconds' disagreements
    const hadTc = this.reconciler.backend('tc') !== null;
    this.reconciler.close();
    if (flush && (hadTc || this.backendChoice === 'tc')) {
      const r = await TcBackend.flush();
      this.log.info({ deleted: r.deleted, qdiscs: r.qdiscs, blocks: r.blocks }, 'flushed the tc offload');
    }
    if (hadXdp) {
      if (flush) {
        const r = await XdpBackend.flush({ bpffs: this.config.xdp.bpffs });
        this.log.info({ detached: r.detached, dir: r.dir }, 'flushed the offload');
      } else {
        this.log.info('left the offload installed (next start reconciles by diff)');
      }
    }
  }
}

/**
 * FIB_OFFLOAD_EVENT_BUFFER: the event socket's receive buffer in bytes
 * (default 32 MiB, which the kernel doubles). Smaller makes overruns easy to
 * provoke in tests; larger absorbs bigger bursts without a resync.
 */
export function eventBufferFromEnv(env: NodeJS.ProcessEnv): { eventBufferSize?: number } {
  const text = env['FIB_OFFLOAD_EVENT_BUFFER'];
  if (!text) return {};
  const n = Number(text);
  if (!Number.isInteger(n) || n < 4096) throw new ConfigError('FIB_OFFLOAD_EVENT_BUFFER', `expected a byte count of at least 4096; got "${text}"`);
  return { eventBufferSize: n };
}

function sameState(a: Mirror, b: Mirror): boolean {
  return JSON.stringify(canonicalState(a)) === JSON.stringify(canonicalState(b));
}

/** A disagreement as log fields: flat, so log tools can filter on them. */
function disagreementFields(d: Disagreement): Record<string, unknown> {
  return {
    component: 'audit', result: d.result, src: d.src, dst: d.dst, table: d.table, ingress: d.ingress.dev ?? d.ingress.ifindex, recordedAt: d.at,
    ours: { dev: d.ours.dev, ifindex: d.ours.ifindex, dmac: d.ours.dmac, group: d.ours.group },
    kernel: { answer: d.kernel.answer, dev: d.kernel.dev, ifindex: d.kernel.ifindex, dmac: d.kernel.dmac },
  };
}

function opSubject(op: PlanOp): Record<string, unknown> {
  if ('entry' in op) return { dst: op.entry.dst, table: op.entry.table, action: op.entry.action, group: op.entry.group };
  if ('group' in op) return { group: op.group.id, members: op.group.members.map((m) => `${m.dev}/${m.dmac}`) };
  return { port: op.port.dev, backend: op.port.backend };
}
