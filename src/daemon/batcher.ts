// The batcher: kernel events → mirror → the delta one pass plans and
// programs. Events pile up while a pass runs and become the next one, so
// churn coalesces. Every pass applies everything pending to the mirror (cheap,
// per event), but plans and programs at most `cap` changed prefixes: a burst
// of a million routes is worked off in bounded passes that let the event loop
// drain the socket in between, and each pass takes the newest changes first
// for half its budget, so a single route change that arrives behind a burst
// is installed in the next pass, not after the burst.
import { DeltaBuilder, mergeDeltas, type MirrorDelta } from '../mirror/delta.js';
import type { Mirror } from '../mirror/mirror.js';
import type { KernelEvent } from '../model/index.js';

interface Arrived {
  readonly ev: KernelEvent;
  readonly at: bigint;
}

interface Waiting {
  readonly at: bigint;
  /** Route prefixes the event changed; installed once none is dirty. */
  readonly keys: readonly string[];
}

export interface Pass {
  readonly delta: MirrorDelta;
  /** Events applied to the mirror in this pass. */
  readonly events: number;
  /** Changed prefixes left for later passes. */
  readonly deferred: number;
}

/** Default cap: changed prefixes planned and programmed per pass. */
export const DEFAULT_PASS_CAP = 50_000;

export interface BatcherOptions {
  /** Changed prefixes planned and programmed per pass. */
  readonly cap?: number;
  /** Wait this long after the first change of an idle spell for more (coalescing). */
  readonly coalesceMs?: number;
  /** A pass is due: the caller queues `run(pass)` behind its other work. */
  readonly due: () => void;
}

export class Batcher {
  private readonly cap: number;
  private readonly coalesceMs: number;
  private readonly due: () => void;
  private scheduled = false;
  private running = false;
  /** How long the last pass took (ms): a busy spell pauses a few times that between passes. */
  lastPassMs = 0;
  private arrived: Arrived[] = [];
  private waiting: Waiting[] = [];
  /** Route prefixes applied to the mirror, not yet planned (oldest first: a Set keeps insertion order). */
  private dirty = new Set<string>();
  private other: MirrorDelta | null = null;

  constructor(opts: BatcherOptions) {
    this.cap = opts.cap ?? DEFAULT_PASS_CAP;
    this.coalesceMs = opts.coalesceMs ?? 2;
    this.due = opts.due;
  }

  /**
   * Schedule the next pass. A change that arrives while idle goes after the
   * short coalescing wait. Changes that arrive while a pass is being planned
   * and programmed (a burst) are picked up when it ends, after a pause of four
   * times what that pass took (25..250 ms): the event loop is free to drain
   * the socket meanwhile, and more events share one pass.
   */
  kick(): void {
    if (this.running || this.scheduled || this.idle) return;
    this.schedule(this.coalesceMs);
  }

  private schedule(waitMs: number): void {
    this.scheduled = true;
    setTimeout(() => this.due(), waitMs);
  }

  /** Run one pass (the caller's work), then schedule the next while changes remain. */
  async run(pass: () => Promise<void>): Promise<void> {
    this.scheduled = false;
    this.running = true;
    const t0 = performance.now();
    try {
      await pass();
    } finally {
      this.running = false;
      this.lastPassMs = performance.now() - t0;
      if (!this.idle && !this.scheduled) this.schedule(Math.min(Math.max(4 * this.lastPassMs, 25), 250));
    }
  }

  /** Events not applied to the mirror yet, plus prefixes applied and not yet installed. */
  get depth(): number {
    return this.arrived.length + this.dirty.size;
  }

  get idle(): boolean {
    return this.arrived.length === 0 && this.dirty.size === 0 && this.other === null;
  }

  push(ev: KernelEvent, at: bigint): void {
    this.arrived.push({ ev, at });
  }

  /** Drop everything (a full resync is about to cover it). */
  clear(): void {
    this.arrived = [];
    this.waiting = [];
    this.dirty = new Set();
    this.other = null;
  }

  /**
   * Apply what arrived to the mirror and choose this pass's delta: every
   * non-route change (links, neighbours, nexthops, addresses, rules, firewall) and at most
   * `cap` route prefixes, half the newest and half the oldest.
   */
  take(mirror: Mirror): Pass | null {
    const arrived = this.arrived;
    this.arrived = [];
    const deltas: MirrorDelta[] = [];
    for (const a of arrived) {
      const d = mirror.apply(a.ev);
      deltas.push(d);
      for (const k of d.routes) {
        this.dirty.delete(k); // re-inserted: now among the newest
        this.dirty.add(k);
      }
      this.waiting.push({ at: a.at, keys: [...d.routes] });
    }
    if (deltas.length > 0) {
      const merged = mergeDeltas(deltas);
      const hasOther = merged.links.size > 0 || merged.neighbors.size > 0 || merged.nexthops.size > 0 || merged.addressesChanged || merged.rulesChanged || merged.firewallChanged || merged.netconfChanged;
      if (hasOther) this.other = this.other ? mergeDeltas([this.other, merged]) : merged;
    }
    if (this.dirty.size === 0 && this.other === null) {
      // Events that changed nothing in the mirror are installed as they are.
      return deltas.length > 0 ? { delta: new DeltaBuilder().finish(), events: arrived.length, deferred: 0 } : null;
    }
    const b = new DeltaBuilder();
    if (this.other) {
      for (const k of this.other.links) b.links.add(k);
      for (const k of this.other.neighbors) b.neighbors.add(k);
      for (const k of this.other.nexthops) b.nexthops.add(k);
      b.addressesChanged = this.other.addressesChanged;
      b.rulesChanged = this.other.rulesChanged;
      b.firewallChanged = this.other.firewallChanged;
      b.netconfChanged = this.other.netconfChanged;
    }
    if (this.dirty.size <= this.cap) {
      b.addRoutes(this.dirty);
    } else {
      const keys = [...this.dirty];
      const half = Math.floor(this.cap / 2);
      b.addRoutes(keys.slice(keys.length - half));
      b.addRoutes(keys.slice(0, this.cap - half));
    }
    return { delta: b.finish(), events: arrived.length, deferred: this.dirty.size - b.routes.size };
  }

  /**
   * The pass was installed: `everything` when it was planned from scratch
   * (then every dirty prefix is covered). Returns the arrival times of the
   * events now fully installed.
   */
  done(pass: Pass, everything: boolean): bigint[] {
    this.other = null;
    if (everything) this.dirty = new Set();
    else for (const k of pass.delta.routes) this.dirty.delete(k);
    const out: bigint[] = [];
    const still: Waiting[] = [];
    for (const w of this.waiting) {
      if (w.keys.some((k) => this.dirty.has(k))) still.push(w);
      else out.push(w.at);
    }
    this.waiting = still;
    return out;
  }
}
