// The daemon composes the pieces and owns their timing: kernel events go to
// the batcher, each pass through the pipeline (mirror → plan → reconciler →
// backends), what the backends report into per-entry status and the metrics.
// Loss (ENOBUFS, a decode error, an overfull queue, a pass that threw) and a
// periodic timer take a full resync, which reconciles by read-back diff:
// nothing installed is flushed for it. Failed entries are retried after
// their backoff; while any is failed the daemon is degraded, not down.
import PQueue from 'p-queue';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { errorFields } from '../log.js';
import { Mirror } from '../mirror/mirror.js';
import { canonicalState } from '../mirror/canonical.js';
import type { KernelEvent } from '../model/index.js';
import { KernelAdapter, eventBufferFromEnv, type KernelSource, type ResyncReason } from '../netlink/kernel.js';
import type { Plan, PlanOp } from '../plan/index.js';
import { backendForLink } from '../plan/options.js';
import { hookText } from '../plan/firewall.js';
import { Reconciler, type BackendFactories } from '../reconcile/reconciler.js';
import { EntryStatus, systemClock, type Clock, type FailedEntry } from '../reconcile/status.js';
import { TcAdapter } from '../reconcile/tc.js';
import type { Backend, BackendName, PortFallback } from '../reconcile/types.js';
import { XdpAdapter } from '../reconcile/xdp.js';
import { realBackends } from '../reconcile/open.js';
import { TcBackend } from '../tc/backend.js';
import type { ReconcileResult } from '../xdp/backend.js';
import { XdpBackend } from '../xdp/backend.js';
import { AUDIT_RESULTS, VERDICTS } from '../xdp/layout.js';
export type { KernelSource } from '../netlink/kernel.js';
export { eventBufferFromEnv } from '../netlink/kernel.js';
import type { AuditMonitor } from './audit.js';
import { AuditReader, type AuditStatus } from './audit-reader.js';
import { NeighborKeepalive } from './neighbor-keepalive.js';
import { Batcher } from './batcher.js';
import { RetryTimer, SyncBackoff } from './retry.js';
import type { Metrics } from './metrics.js';
import { Pipeline, type SyncResult } from './pipeline.js';
import type { ResyncRecord } from './report.js';
export type { ResyncRecord } from './report.js';
import { FpmMetrics } from '../fpm/metrics.js';
import { FpmServer } from '../fpm/server.js';
import type { OffloadView } from '../fpm/verdict.js';
import { countReports, initMetrics, noteFallbacks, noteMissingTables, noteSync, updateGauges } from './report.js';

export type BackendChoice = 'xdp' | 'tc' | 'dry-run';

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
  private readonly clock: Clock;
  private readonly factories: Partial<BackendFactories>;
  private readonly batcher: Batcher;
  readonly status: EntryStatus;
  private reconciler: Reconciler;
  private pipeline: Pipeline;
  private resyncQueued: TriggerReason | null = null;
  private readonly retries: RetryTimer;
  private readonly syncBackoff = new SyncBackoff();
  private timers: NodeJS.Timeout[] = [];
  private pendingOps = 0;
  private gaugesStale = false;
  /** What noteFirewall last logged. */
  private firewallLogged: string | null = null;
  private stopping = false;
  readonly startedAt = new Date();
  ready = false;
  lastResync: ResyncRecord | null = null;
  lastError: ErrorRecord | null = null;
  /** Configured VRF names that have no device now (noteMissingTables). */
  missingTables: readonly string[] = [];
  eventsApplied = 0;
  batches = 0;
  private readonly auditReader: AuditReader;
  private readonly neighbors: NeighborKeepalive;
  /** The FPM server (config `fpm`): answers zebra with each route's offload state; it only reads the daemon's state. */
  readonly fpm: FpmServer | null;

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.adapter = opts.adapter ?? new KernelAdapter(eventBufferFromEnv(process.env));
    this.maxQueue = opts.maxQueue ?? 200_000;
    this.clock = opts.clock ?? systemClock;
    this.factories = opts.backends ?? {};
    this.batcher = new Batcher({
      ...(opts.passCap !== undefined ? { cap: opts.passCap } : {}), coalesceMs: opts.coalesceMs ?? 2,
      due: () => this.enqueue('batch', () => this.batcher.run(() => this.applyPass())),
    });
    this.status = new EntryStatus(this.clock);
    this.reconciler = this.makeReconciler();
    this.pipeline = new Pipeline(this.config, this.reconciler);
    this.retries = new RetryTimer(this.status, this.clock, () => this.enqueue('retry', () => this.retry()));
    const fail = (what: string, err: unknown): void => this.fail(what, err);
    this.auditReader = new AuditReader(this.metrics, this.log.child({ component: 'audit' }), fail);
    this.neighbors = new NeighborKeepalive(this.adapter, this.metrics, this.log.child({ component: 'keepalive' }), fail);
    this.fpm = this.config.fpm ? new FpmServer({
      listen: this.config.fpm, log: this.log.child({ component: 'fpm' }), metrics: new FpmMetrics(this.metrics.registry), clock: this.clock,
      view: () => this.offloadView(),
      // Flushes run in the programming queue, so they see a plan, mirror and status from between passes.
      schedule: (work) => this.enqueue('fpm', () => { work(); return Promise.resolve(); }),
    }) : null;
  }

  /** What the FPM server reads: null until the first sync is installed. */
  private offloadView(): OffloadView | null {
    const plan = this.pipeline.plan;
    const mirror = this.pipeline.currentMirror;
    if (!this.ready || !plan || !mirror) return null;
    const failed = new Set(this.status.list().map((f) => `${f.backend}\0${f.subject}`));
    const placement = this.reconciler.placement;
    const dry = this.backendChoice === 'dry-run';
    // A port whose ingress the policy rules hand to the kernel looks nothing up in XDP.
    const xdpTables = new Set(plan.ports.filter((p) => p.backend === 'xdp' && !p.policy).map((p) => p.table));
    return {
      plan,
      kernelHas: (key) => mirror.routesFor(key).length > 0,
      // A table no offload port looks up (its ports fell back to none, or it has none) is the kernel's.
      backendOf: (table) => (dry ? 'dry-run' : placement.tcTables.has(table) ? 'tc' : xdpTables.has(table) ? 'xdp' : null),
      failed: (backend, subject) => failed.has(`${backend}\0${subject}`),
      anyFailed: failed.size > 0,
      // Raw routes, not effectiveRoutes(): no resolution per route on a walk of the whole table.
      kernelRoutes: function* (protocol) {
        for (const r of mirror.routes()) if (protocol(r.protocol)) yield `${r.table}|${r.family}|${r.dst}/${r.dstLen}`;
      },
    };
  }

  /** The XDP program's live check against the kernel's lookup (xdp.audit_rate). */
  get audit(): AuditMonitor {
    return this.auditReader.monitor;
  }

  private makeReconciler(): Reconciler {
    const c = this.config;
    const real = realBackends(() => this.config, (xdp) => {
      this.log.info({ component: 'xdp', how: xdp.load.how, progId: xdp.progId, dir: xdp.loader.dir }, 'xdp program loaded');
      for (const result of AUDIT_RESULTS) this.metrics.auditPackets.inc({ result }, 0);
    });
    const open: BackendFactories = { ...real, ...this.factories };
    return new Reconciler({
      choice: this.backendChoice, base: backendForLink(c), policy: c.tc.policy, fallback: c.tc.fallback, open, status: this.status,
    });
  }

  get firewallMode(): Config['firewall'] {
    return this.config.firewall;
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

  get tcReadBackAt(): string | null {
    return this.backendOf('tc', TcAdapter)?.lastAt ?? null;
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
    // Listening before the first sync lets zebra connect and replay; answers wait for `ready`.
    await this.fpm?.start();
    this.adapter.on('event', (ev, at) => this.onEvent(ev, at));
    this.adapter.on('resync-needed', (reason, err) => {
      this.log.warn({ reason, ...errorFields(err) }, 'kernel notifications lost: full resync');
      this.requestResync(reason);
    });
    await this.queue.add(() => this.fullSync('start'));
    this.ready = true;
    this.fpm?.changed('all');
    // Disagreements recorded while no agent watched (its maps were stale then) are logged now, with names.
    this.refreshAudit();
    this.startTimers();
    this.batcher.kick(); // events that arrived while starting
  }

  private activeBackends(): BackendName[] {
    return this.backendChoice === 'dry-run' ? ['dry-run'] : ['tc', 'xdp'];
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
    if (config.fpm?.listen !== this.config.fpm?.listen) {
      this.log.warn({ from: this.config.fpm?.listen ?? 'off', to: config.fpm?.listen ?? 'off' }, 'fpm.listen changes on restart only; the FPM server keeps running as started');
    }
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
    if (this.ready) this.batcher.kick();
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
      this.resyncLater('program-error');
    });
  }

  /** A full sync after the backoff for failed syncs in a row (100 ms doubling to 1 min), counted in resyncs_total. */
  private resyncLater(reason: TriggerReason): void {
    if (this.stopping) return;
    const ms = this.syncBackoff.failed();
    this.log.warn({ reason, inMs: ms, failuresInARow: this.syncBackoff.inARow }, 'full resync scheduled after a failure');
    setTimeout(() => this.requestResync(reason), ms).unref();
  }

  /** Whatever is pending → mirror → plan → backends, at most the pass cap of changed prefixes. */
  private async applyPass(): Promise<void> {
    const mirror = this.pipeline.currentMirror;
    if (!mirror || !this.pipeline.plan || this.resyncQueued) return;
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
    this.fpm?.changed(r.reports.some((x) => x.failures.length > 0) ? 'all' : r.ops);
    const seconds = r.reports.reduce((s, x) => s + x.seconds, 0);
    if (r.ops.length > 0) this.metrics.programDuration.observe(seconds);
    this.eventsApplied += pass.events;
    this.batches++;
    if (r.ops.length > 0) {
      this.log.info(
        { component: 'batcher', events: pass.events, deferred: pass.deferred, planOps: r.ops.length, mapOps: r.reports.reduce((n, x) => n + x.ops, 0), planned: r.how, planMs: r.planMs, ms: r.reports.reduce((n, x) => n + x.seconds, 0) * 1000 },
        'programmed batch',
      );
      if (this.log.isLevelEnabled('debug')) for (const op of r.ops) this.log.debug({ op: op.op, ...opSubject(op) }, 'plan op');
    }
  }

  /**
   * Log what netfilter means for the offload whenever that changes (and at
   * start): hooks that keep traffic with the kernel, or, with `firewall:
   * bypass`, that offloaded traffic skips them (a warning on every start).
   */
  private noteFirewall(plan: Plan): void {
    const v = plan.firewall ?? { mode: this.config.firewall, hooks: [] };
    const key = JSON.stringify(v);
    if (key === this.firewallLogged) return;
    const first = this.firewallLogged === null;
    this.firewallLogged = key;
    const log = this.log.child({ component: 'firewall' });
    const hooks = v.hooks.map(hookText);
    if (v.mode === 'bypass') {
      log.warn({ mode: v.mode, hooks }, 'firewall: bypass: offloaded traffic skips netfilter (forward, pre/postrouting, ingress) whatever its rules');
    } else if (hooks.length > 0) {
      const ports = plan.ports.filter((p) => p.policy?.reason === 'firewall').map((p) => p.dev);
      log.warn({ mode: v.mode, hooks, ports }, 'firewall: netfilter can act on forwarded traffic: what it sees stays with the kernel');
    } else if (!first) {
      log.info({ mode: v.mode }, 'firewall: nothing on the forwarding path now');
    }
  }

  /** Reports → status (already recorded by the reconciler), metrics, fallbacks, retry timer. */
  private noteResult(r: SyncResult): void {
    this.noteFirewall(r.plan);
    countReports(this.metrics, this.log.child({ component: 'reconcile' }), r.reports);
    noteFallbacks(this.metrics, this.log.child({ component: 'placement' }), r.newFallbacks);
    this.missingTables = noteMissingTables(this.log, this.missingTables, r.missingTables);
    const failed = r.reports.flatMap((x) => x.failures);
    if (failed.length > 0) {
      const f = failed[0]!;
      this.lastError = { at: new Date(this.clock.now()).toISOString(), message: `${f.op}: ${f.message}`, code: f.errno, ...(f.extack ? { extack: f.extack } : {}) };
    }
    this.gaugesStale = true;
    this.metrics.degraded.set(this.degraded ? 1 : 0);
    this.retries.arm();
  }

  /** Failed work whose backoff is due: a reconcile of the backends concerned. */
  private async retry(): Promise<void> {
    const due = this.status.due();
    if (due.length === 0 || this.resyncQueued) return this.retries.arm();
    const out = await this.pipeline.retry(due);
    if (!out) return;
    for (const backend of due) {
      const ok = !out.reports.some((x) => x.backend === backend && x.failures.length > 0);
      this.metrics.retries.inc({ backend, result: ok ? 'ok' : 'error' });
      if (ok) this.log.info({ component: 'reconcile', backend }, 'retry installed everything that had failed');
    }
    countReports(this.metrics, this.log.child({ component: 'reconcile' }), out.reports);
    noteFallbacks(this.metrics, this.log.child({ component: 'placement' }), out.newFallbacks);
    this.fpm?.changed('all');
    this.gaugesStale = true;
    this.metrics.degraded.set(this.degraded ? 1 : 0);
    this.retries.arm();
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
    let mirror: Mirror | null = null;
    try {
      this.resyncQueued = null; // events from here on are held by the adapter and replayed after the snapshot
      // The mirror is built as the snapshot arrives, so the snapshot's route objects go before planning.
      await this.adapter.resync((snap) => { mirror = Mirror.fromSnapshot(snap); });
    } catch (err) {
      this.fail('dump', err);
      this.metrics.resyncs.inc({ reason: `${reason}-failed` });
      if (reason === 'start') throw err;
      this.resyncLater(reason);
      return;
    }
    if (!mirror) throw new Error('resync delivered no snapshot');
    const before = this.pipeline.currentMirror;
    let r: SyncResult;
    try {
      r = await this.pipeline.sync(mirror);
    } catch (err) {
      this.fail('reconcile', err);
      this.metrics.programOps.inc({ backend: this.backendChoice, op: 'batch', result: 'error' });
      this.metrics.resyncs.inc({ reason: `${reason}-failed` });
      if (reason === 'start') throw err;
      this.resyncLater('program-error');
      return;
    }
    this.syncBackoff.succeeded();
    const mirrorChanged = before !== null && reason === 'periodic' && !sameState(before, r.mirror);
    this.noteResult(r);
    this.lastResync = noteSync(this.metrics, this.log, {
      reason, seconds: Number(process.hrtime.bigint() - t0) / 1e9, mirrorChanged, result: r, xdp: this.lastReconcile, tc: this.lastTcReconcile,
      failed: this.status.size, at: new Date(this.clock.now()).toISOString(),
    });
    this.refreshGauges(true);
    this.fpm?.changed('all');
  }

  /** Mark the neighbours behind offloaded traffic used. */
  private async keepalive(): Promise<void> {
    const plan = this.pipeline.plan;
    const mirror = this.pipeline.currentMirror;
    if (!plan || !mirror) return;
    await this.neighbors.tick(plan, mirror, this.currentBackend, this.backendOf('tc', TcAdapter)?.tc ?? null);
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

  /** Read the audit's counters and new disagreements (count, log, keep for /status). */
  refreshAudit(): void {
    const xdp = this.currentBackend;
    if (xdp) this.auditReader.refresh(xdp, (i) => this.currentMirror?.link(i)?.name ?? null);
  }

  /** The audit for /status. */
  auditStatus(): AuditStatus | null {
    const xdp = this.currentBackend;
    if (!xdp) return null;
    this.refreshAudit();
    return this.auditReader.status(xdp, this.config.xdp.auditRate);
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
    this.retries.stop();
    this.adapter.removeAllListeners('event');
    await this.fpm?.stop();
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

function sameState(a: Mirror, b: Mirror): boolean {
  return JSON.stringify(canonicalState(a)) === JSON.stringify(canonicalState(b));
}

function opSubject(op: PlanOp): Record<string, unknown> {
  if ('entry' in op) return { dst: op.entry.dst, table: op.entry.table, action: op.entry.action, group: op.entry.group };
  if ('group' in op) return { group: op.group.id, members: op.group.members.map((m) => `${m.dev}/${m.dmac}`) };
  return { port: op.port.dev, backend: op.port.backend };
}
