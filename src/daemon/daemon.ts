// The run loop: dump → mirror → plan → reconcile → ready; then kernel events
// → mirror → plan diff → backend, one batch at a time. Events that arrive
// while a batch is programmed pile up and become the next batch, so churn
// coalesces: ten flaps of a route in a millisecond cost one programming of
// its final state. Loss (ENOBUFS, decode or programming errors, an overfull
// queue) and a periodic timer trigger a full resync that reconciles by diff:
// nothing installed is ever flushed for it.
import PQueue from 'p-queue';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { errorFields } from '../log.js';
import { Mirror } from '../mirror/mirror.js';
import { canonicalState } from '../mirror/canonical.js';
import type { KernelEvent } from '../model/index.js';
import { KernelAdapter, type ResyncReason } from '../netlink/kernel.js';
import { diffPlans, type Plan, type PlanOptions, type PortBackend } from '../plan/index.js';
import { PlanState, type PlanHow } from '../plan/incremental.js';
import { mergeDeltas } from '../mirror/delta.js';
import { planOptionsFor } from '../cli/inputs.js';
import { XdpBackend, type ProgramResult, type ReconcileResult } from '../xdp/backend.js';
import { TcBackend, type TcFallback, type TcReconcileResult } from '../tc/backend.js';
import { desiredBlocks } from '../tc/rules.js';
import { keepaliveTick, mergeTraffic, tcMemberTraffic, type MemberTraffic } from './keepalive.js';
import type { Metrics } from './metrics.js';
import { AUDIT_RESULTS, VERDICTS } from '../xdp/layout.js';
import { AuditMonitor, disagreementText, type Disagreement } from './audit.js';

export type BackendChoice = 'xdp' | 'tc' | 'dry-run';

/** A port the tc backend refused (hardware), and where it went per tc.fallback. */
export interface TcPortFallback {
  readonly block: number;
  readonly to: TcFallback;
  /** errno name (EOPNOTSUPP, ...) or 'hw-refused'. */
  readonly code: string;
  readonly reason: string;
}

export interface DaemonOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Events held before a resync is forced instead (bounded queue). */
  readonly maxQueue?: number;
  /** Wait this long after the first event of a batch for more (coalescing). */
  readonly coalesceMs?: number;
  readonly adapter?: KernelAdapter;
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
}

interface Pending {
  readonly ev: KernelEvent;
  readonly at: bigint;
}

type TriggerReason = ResyncReason | 'start' | 'periodic' | 'queue-overflow' | 'program-error' | 'reload';

export class Daemon {
  private config: Config;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly adapter: KernelAdapter;
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly maxQueue: number;
  private readonly coalesceMs: number;
  private backend: XdpBackend | null = null;
  private tc: TcBackend | null = null;
  /** Ports tc refused, by name: to xdp / none they leave tc (until a reload); to sw they stay tc in software. */
  private tcFallen = new Map<string, TcPortFallback>();
  /** Blocks counted as fallen back to sw (counted once while it lasts). */
  private tcSwBlocks = new Set<number>();
  private mirror: Mirror | null = null;
  /** The installed plan, with what incremental planning continues from. */
  private planState: PlanState | null = null;
  private pending: Pending[] = [];
  private batchScheduled = false;
  private resyncQueued: TriggerReason | null = null;
  private timers: NodeJS.Timeout[] = [];
  private trafficSeen = new Map<string, bigint>();
  private lastBatchMs = 0;
  private inBatch = false;
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
  lastReconcile: ReconcileResult | null = null;
  lastTcReconcile: TcReconcileResult | null = null;
  /** The XDP program's live check against the kernel's lookup (xdp.audit_rate). */
  readonly audit = new AuditMonitor();

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.adapter = opts.adapter ?? new KernelAdapter(eventBufferFromEnv(process.env));
    this.maxQueue = opts.maxQueue ?? 200_000;
    this.coalesceMs = opts.coalesceMs ?? 2;
  }

  get backendChoice(): BackendChoice {
    return this.config.backend === 'dry-run' ? 'dry-run' : this.config.backend === 'tc' ? 'tc' : 'xdp';
  }

  get currentPlan(): Plan | null {
    return this.plan;
  }

  private get plan(): Plan | null {
    return this.planState?.plan ?? null;
  }

  get currentMirror(): Mirror | null {
    return this.mirror;
  }

  get currentBackend(): XdpBackend | null {
    return this.backend;
  }

  get currentTc(): TcBackend | null {
    return this.tc;
  }

  /** Ports the tc backend refused and where they went. */
  get tcFallbacks(): ReadonlyMap<string, TcPortFallback> {
    return this.tcFallen;
  }

  get queueDepth(): number {
    return this.pending.length;
  }

  /** Open the backend, sync fully once (ready), then follow events. */
  async start(): Promise<void> {
    // XDP is loaded up front unless the backend is tc (then only once a port needs it: port_backends, fallback).
    if (this.backendChoice === 'xdp') await this.ensureXdp();
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

  /**
   * Schedule the next batch. A change that arrives while the daemon is idle
   * goes after the short coalescing wait. Changes that arrive while a batch is
   * being planned and programmed (a burst) are picked up when it ends, after a
   * pause of four times what that batch took (25..250 ms): the event loop is
   * free to drain the socket meanwhile, and more events share one rebuild.
   */
  private kick(): void {
    if (this.inBatch || this.batchScheduled || this.pending.length === 0) return;
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
    this.backend?.setMode(config.xdp.mode);
    if (this.tc && (config.tc.policy !== this.config.tc.policy || config.tc.fallback !== this.config.tc.fallback)) {
      this.tc.close();
      this.tc = null; // reopened with the new policy by the resync below
    }
    // Ports tc refused get another chance with the new config.
    this.tcFallen = new Map();
    this.tcSwBlocks = new Set();
    this.config = config;
    this.log.level = config.log.level;
    this.startTimers();
    this.requestResync('reload');
    await this.queue.onIdle();
  }

  private onEvent(ev: KernelEvent, at: bigint): void {
    this.metrics.events.inc({ type: ev.kind });
    if (this.resyncQueued) return; // the coming dump covers it
    if (this.pending.length >= this.maxQueue) {
      this.log.warn({ depth: this.pending.length }, 'event queue full: dropping it for a full resync');
      this.pending = [];
      this.requestResync('queue-overflow');
      return;
    }
    this.pending.push({ ev, at });
    this.metrics.queueDepth.set(this.pending.length);
    if (this.ready) this.kick();
  }

  private requestResync(reason: TriggerReason): void {
    if (this.stopping) return;
    if (this.resyncQueued) return;
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

  /** Whatever is pending → mirror → plan diff → backend. */
  private async applyBatch(): Promise<void> {
    this.inBatch = true;
    try {
      await this.applyPending();
    } finally {
      this.inBatch = false;
      // Busy: let the burst build up for a few times what a rebuild costs (25..250 ms).
      if (this.pending.length > 0 && !this.batchScheduled) this.schedule(Math.min(Math.max(4 * this.lastBatchMs, 25), 250));
    }
  }

  private async applyPending(): Promise<void> {
    this.batchScheduled = false;
    if (!this.mirror || !this.plan || this.resyncQueued) return;
    const batch = this.pending;
    this.pending = [];
    this.metrics.queueDepth.set(0);
    if (batch.length === 0) return;
    const started = process.hrtime.bigint();
    const deltas = batch.map((p) => this.mirror!.apply(p.ev));
    // Only the prefixes the events touched are re-planned (see plan/incremental.ts), unless they change ports or overlays.
    const step = this.planState!.next(this.mirror, mergeDeltas(deltas), this.planOptions(null));
    let state = step.state;
    let next = state.plan;
    let ops = step.ops;
    const planMs = Number(process.hrtime.bigint() - started) / 1e6;
    const t0 = process.hrtime.bigint();
    let result: ProgramResult | ReconcileResult | null = null;
    if (this.backendChoice !== 'dry-run' && ops.length > 0) {
      try {
        // tc has no incremental path: the blocks are reconciled by diff (only changed rules are sent).
        if (this.tc || hasPorts(next, 'tc')) {
          state = await this.syncTc(state);
          if (state.plan !== next) {
            next = state.plan;
            ops = diffPlans(this.plan, next);
          }
        }
        if (this.backend || hasPorts(next, 'xdp')) {
          result = (await this.ensureXdp()) ? await this.backend!.reconcile(next) : await this.backend!.applyOps(ops, next);
        }
      } catch (err) {
        this.fail('program', err);
        this.countOps(null, 'error');
        this.requestResync('program-error');
        return;
      }
    }
    this.planState = state;
    const ack = process.hrtime.bigint();
    for (const p of batch) this.metrics.eventToInstall.observe(Number(ack - p.at) / 1e9);
    this.metrics.programDuration.observe(Number(ack - t0) / 1e9);
    this.lastBatchMs = Number(ack - started) / 1e6;
    if (result) this.countOps(result, 'ok');
    this.eventsApplied += batch.length;
    this.batches++;
    this.gaugesStale = true; // refreshGauges(): counting routes is O(table), not for every batch
    if (ops.length > 0) {
      this.log.info(
        { events: batch.length, planOps: ops.length, mapOps: result?.ops ?? 0, planned: step.how satisfies PlanHow, planMs, ms: Number(ack - batch[0]!.at) / 1e6 },
        'programmed batch',
      );
      if (this.log.isLevelEnabled('debug')) for (const op of ops) this.log.debug({ op: op.op, ...opSubject(op) }, 'plan op');
    }
  }

  /**
   * Dump everything, rebuild the mirror, plan, and reconcile the backend by
   * read-back diff. On a periodic resync, any difference is drift: counted.
   */
  private async fullSync(reason: TriggerReason): Promise<void> {
    const t0 = process.hrtime.bigint();
    // Events not applied yet are older than the dump about to be taken.
    this.pending = [];
    this.metrics.queueDepth.set(0);
    let fresh: Mirror | null = null;
    try {
      this.resyncQueued = null; // events from here on are held by the adapter and replayed after the snapshot
      await this.adapter.resync((snap) => { fresh = Mirror.fromSnapshot(snap); });
    } catch (err) {
      this.fail('dump', err);
      this.metrics.resyncs.inc({ reason: `${reason}-failed` });
      if (reason === 'start') throw err;
      setTimeout(() => this.requestResync(reason), 1000).unref();
      return;
    }
    const mirror = fresh as Mirror | null;
    if (!mirror) throw new Error('resync delivered no snapshot');
    const mirrorChanged = this.mirror !== null && reason === 'periodic' && !sameState(this.mirror, mirror);
    this.mirror = mirror;
    let state = PlanState.build(mirror, this.planOptions(this.plan));
    let repairs = 0;
    if (this.backendChoice !== 'dry-run') {
      try {
        if (this.tc || hasPorts(state.plan, 'tc') || this.backendChoice === 'tc') {
          state = await this.syncTc(state);
          const t = this.lastTcReconcile!;
          repairs += t.blocks.reduce((n, b) => n + b.adds + b.replaces + b.deletes, 0) + t.joined.length + t.left.length;
        }
      } catch (err) {
        this.fail('tc reconcile', err);
        this.metrics.programOps.inc({ backend: 'tc', op: 'batch', result: 'error' });
        this.metrics.resyncs.inc({ reason: `${reason}-failed` });
        if (reason === 'start') throw err;
        setTimeout(() => this.requestResync('program-error'), 1000).unref();
        return;
      }
    }
    if (this.backend || (this.backendChoice !== 'dry-run' && hasPorts(state.plan, 'xdp'))) {
      try {
        await this.ensureXdp();
        const xdp = this.backend!;
        // ecmp.hash may have changed (SIGHUP), or the kernel's fib_multipath_hash_policy; xdp.audit_rate too.
        xdp.setHash(this.config.ecmp.hash);
        xdp.setAuditRate(this.config.xdp.auditRate);
        const r = await xdp.reconcile(state.plan);
        this.lastReconcile = r;
        repairs += r.ops + r.attached.length + r.detached.length;
        this.countOps(r, 'ok');
        for (const a of r.attached) {
          if (a.fallbackReason) this.metrics.fallbacks.inc({ from: 'xdp-native', to: 'xdp-generic', reason: 'driver-refused' });
        }
        for (const f of r.refused) this.log.error({ dev: f.dev, reason: f.reason }, 'XDP not attached: port left to the kernel');
      } catch (err) {
        this.fail('reconcile', err);
        this.countOps(null, 'error');
        this.metrics.resyncs.inc({ reason: `${reason}-failed` });
        if (reason === 'start') throw err;
        setTimeout(() => this.requestResync('program-error'), 1000).unref();
        return;
      }
    }
    const plan = state.plan;
    this.planState = state;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    this.metrics.resyncs.inc({ reason });
    if (reason === 'periodic') {
      if (mirrorChanged) this.metrics.drift.inc({ what: 'mirror' });
      if (repairs > 0) this.metrics.drift.inc({ what: 'installed' }, repairs);
    }
    this.lastResync = { at: new Date().toISOString(), reason, seconds, mirrorChanged, repairs };
    this.updateGauges();
    this.log.info(
      { reason, seconds, routes: mirror.counts.routes, entries: plan.entries.length, groups: plan.groups.length, repairs, mirrorChanged },
      'full sync installed',
    );
  }

  /** Mark the neighbours behind offloaded traffic used. */
  private async keepalive(): Promise<void> {
    if ((!this.backend && !this.tc) || !this.plan || !this.mirror) return;
    let tick;
    try {
      const xdp: readonly MemberTraffic[] = this.backend ? this.backend.memberCounters() : [];
      let tc: MemberTraffic[] = [];
      if (this.tc && hasPorts(this.plan, 'tc')) {
        const blocks = desiredBlocks(this.plan, () => 'none');
        tc = tcMemberTraffic(blocks, await this.tc.stats(blocks.map((b) => b.block)));
      }
      tick = keepaliveTick(this.plan, mergeTraffic(xdp, tc), this.trafficSeen, this.mirror);
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

  private planOptions(previous: Plan | null): PlanOptions {
    const missing: string[] = [];
    const base = planOptionsFor(this.config, this.mirror!, missing);
    this.noteMissingTables(missing);
    const backendFor = base.backendFor;
    return {
      ...base,
      ...(previous ? { previous } : {}),
      // tc ports the hardware refused go where tc.fallback said (xdp, or left to the kernel); sw stays tc.
      backendFor: (link) => {
        const b: PortBackend = backendFor ? backendFor(link) : 'xdp';
        if (b !== 'tc') return b;
        const f = this.tcFallen.get(link.name);
        if (!f || f.to === 'sw') return b;
        return f.to === 'xdp' ? 'xdp' : 'none';
      },
    };
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

  /** Load (or reuse) the pinned XDP program the first time it is needed; true when it was loaded just now. */
  private async ensureXdp(): Promise<boolean> {
    if (this.backend) return false;
    this.backend = await XdpBackend.open({
      bpffs: this.config.xdp.bpffs, mode: this.config.xdp.mode, hash: this.config.ecmp.hash, flatThreshold: this.config.xdp.flatThreshold,
      auditRate: this.config.xdp.auditRate,
    });
    this.log.info({ how: this.backend.load.how, progId: this.backend.progId, dir: this.backend.loader.dir }, 'xdp program loaded');
    // Every result is exported from the start (a counter with labels prints nothing before its first increment).
    for (const result of AUDIT_RESULTS) this.metrics.auditPackets.inc({ result }, 0);
    return true;
  }

  /**
   * Make the tc blocks equal to the plan. Blocks the hardware refuses move
   * per tc.fallback: to sw they stay tc ports in software; to xdp or none
   * their ports leave tc, and the plan is rebuilt (and tc reconciled again,
   * which takes their clsact away). Returns the plan (with its state) to install.
   */
  private async syncTc(state: PlanState): Promise<PlanState> {
    this.tc ??= new TcBackend({ policy: this.config.tc.policy, fallback: this.config.tc.fallback });
    let r = await this.tc.reconcile(state.plan);
    this.noteTc(r);
    const sw = new Set<number>();
    let moved = false;
    for (const f of r.fallbacks) {
      const code = /\b(E[A-Z0-9]{2,})\b/.exec(f.reason)?.[1] ?? 'hw-refused';
      const first = f.to === 'sw' ? !this.tcSwBlocks.has(f.block) : f.ports.some((d) => !this.tcFallen.has(d));
      if (f.to === 'sw') sw.add(f.block);
      else moved = true;
      for (const dev of f.ports) this.tcFallen.set(dev, { block: f.block, to: f.to, code, reason: f.reason });
      if (first) {
        this.metrics.fallbacks.inc({ from: 'tc', to: f.to, reason: code });
        this.log.warn({ block: f.block, ports: f.ports, to: f.to, reason: f.reason }, 'tc: hardware refused the block; falling back');
      }
    }
    // Blocks that went back to hardware: forget their sw fallback.
    for (const [dev, f] of this.tcFallen) if (f.to === 'sw' && !sw.has(f.block)) this.tcFallen.delete(dev);
    this.tcSwBlocks = sw;
    if (moved) {
      state = PlanState.build(this.mirror!, this.planOptions(this.plan));
      r = await this.tc.reconcile(state.plan);
      this.noteTc(r, this.lastTcReconcile?.fallbacks);
    }
    return state;
  }

  private noteTc(r: TcReconcileResult, earlierFallbacks: TcReconcileResult['fallbacks'] = []): void {
    this.lastTcReconcile = earlierFallbacks.length ? { ...r, fallbacks: [...earlierFallbacks, ...r.fallbacks] } : r;
    for (const b of r.blocks) {
      if (b.adds) this.metrics.programOps.inc({ backend: 'tc', op: 'add', result: 'ok' }, b.adds);
      if (b.replaces) this.metrics.programOps.inc({ backend: 'tc', op: 'replace', result: 'ok' }, b.replaces);
      if (b.deletes) this.metrics.programOps.inc({ backend: 'tc', op: 'delete', result: 'ok' }, b.deletes);
      for (const f of b.failures) this.metrics.programOps.inc({ backend: 'tc', op: f.op, result: 'error' });
      if (b.failures.length > 0) {
        const f = b.failures[0]!;
        this.lastError = { at: new Date().toISOString(), message: `tc ${f.op} ${f.key}: ${f.message}`, code: f.errno };
        this.log.error({ block: b.block, failures: b.failures.length, first: f.message, errno: f.errno, extack: f.extack }, 'tc: rules not installed');
      }
    }
    for (const p of r.refused) this.log.error({ dev: p.dev, reason: p.reason }, 'tc: port not in its block: left to the kernel');
    if (r.ops > 0) this.log.info({ ops: r.ops, joined: r.joined, left: r.left, ms: r.seconds * 1000 }, 'tc blocks reconciled');
  }

  private countOps(r: ProgramResult | null, result: 'ok' | 'error'): void {
    if (!r) {
      this.metrics.programOps.inc({ backend: 'xdp', op: 'batch', result });
      return;
    }
    for (const c of Object.values(r.counts)) {
      if (c.adds) this.metrics.programOps.inc({ backend: 'xdp', op: 'add', result }, c.adds);
      if (c.updates) this.metrics.programOps.inc({ backend: 'xdp', op: 'update', result }, c.updates);
      if (c.deletes) this.metrics.programOps.inc({ backend: 'xdp', op: 'delete', result }, c.deletes);
    }
  }

  private updateGauges(): void {
    if (!this.mirror || !this.plan) return;
    this.metrics.routes.reset();
    const routes = new Map<string, number>();
    for (const r of this.mirror.effectiveRoutes()) {
      const k = `${r.route.family}|${r.route.table}`;
      routes.set(k, (routes.get(k) ?? 0) + 1);
    }
    for (const [k, n] of routes) {
      const [family, table] = k.split('|');
      this.metrics.routes.set({ family: family!, table: table! }, n);
    }
    const fwd = this.plan.entries.filter((e) => e.action === 'forward').length;
    const backend = this.backendChoice;
    this.metrics.entries.reset();
    this.metrics.entries.set({ backend, state: 'forward' }, fwd);
    this.metrics.entries.set({ backend, state: 'punt' }, this.plan.entries.length - fwd);
    this.metrics.adjacencyGroups.set(this.plan.groups.length);
    this.metrics.unresolvedRoutes.set(this.plan.skipped.filter((s) => s.reason === 'unresolved-neighbor').length);
  }

  /** Bring the table gauges up to date (O(table): done at scrape time and every 5 s, not per batch). */
  refreshGauges(): void {
    if (!this.gaugesStale) return;
    this.gaugesStale = false;
    this.updateGauges();
  }

  /**
   * Read the audit's counters and the disagreements the program recorded
   * since the last look: count them, keep the latest for /status, and log
   * them (at most 10 a minute, then how many were not logged).
   */
  refreshAudit(): void {
    if (!this.backend) return;
    const xdp = this.backend;
    let u;
    try {
      const taken = xdp.auditTakenNs;
      u = this.audit.update(xdp.audit(), Date.now(), process.hrtime.bigint(), (i) => this.mirror?.link(i)?.name ?? null, taken);
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
    if (!this.backend) return null;
    this.refreshAudit();
    let rate: number;
    try {
      rate = this.backend.auditRate;
    } catch (err) {
      this.fail('read audit rate', err);
      rate = this.config.xdp.auditRate;
    }
    const packets = Object.fromEntries(AUDIT_RESULTS.map((r) => [r, Number(this.audit.packets[r])]));
    return { rate, packets, lastDisagreements: this.audit.lastDisagreements };
  }

  private sampleCounters(): void {
    this.refreshGauges();
    if (!this.backend) return;
    this.refreshAudit();
    try {
      const v = this.backend.verdicts();
      for (const name of VERDICTS) this.metrics.xdpPackets.set({ verdict: name }, Number(v[name].packets));
    } catch (err) {
      this.fail('read counters', err);
    }
  }

  private fail(what: string, err: unknown): void {
    const f = errorFields(err);
    this.lastError = { at: new Date().toISOString(), message: `${what}: ${String(f['err'])}`, ...(typeof f['code'] === 'string' ? { code: f['code'] } : {}) };
    this.log.error({ what, ...f }, `${what} failed`);
  }

  /** Stop following; wait for in-flight work; optionally remove everything installed. */
  async stop(flush: boolean): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.adapter.removeAllListeners('event');
    this.queue.clear();
    await this.queue.onIdle();
    this.adapter.close();
    if (this.tc || (this.backendChoice === 'tc' && flush)) {
      this.tc?.close();
      this.tc = null;
      if (flush) {
        const r = await TcBackend.flush();
        this.log.info({ deleted: r.deleted, qdiscs: r.qdiscs, blocks: r.blocks }, 'flushed the tc offload');
      }
    }
    if (this.backend) {
      this.refreshAudit(); // the last few seconds' disagreements
      this.backend.close();
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

function hasPorts(plan: Plan, backend: PortBackend): boolean {
  return plan.ports.some((p) => p.backend === backend);
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

function opSubject(op: ReturnType<typeof diffPlans>[number]): Record<string, unknown> {
  if ('entry' in op) return { dst: op.entry.dst, table: op.entry.table, action: op.entry.action, group: op.entry.group };
  if ('group' in op) return { group: op.group.id, members: op.group.members.map((m) => `${m.dev}/${m.dmac}`) };
  return { port: op.port.dev, backend: op.port.backend };
}
