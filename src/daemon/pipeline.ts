// The pipeline the daemon drives: kernel snapshot or batch delta → mirror →
// plan (with the reconciler's placement as input) → reconciler → backends.
// Each step runs once per pass; the only loop back is explicit: a hardware
// refusal met while installing changes the placement, and the plan is
// rebuilt once with it.
import type { Config } from '../config.js';
import { Mirror } from '../mirror/mirror.js';
import type { MirrorDelta } from '../mirror/delta.js';
import { diffPlans, selectPorts, type Plan, type PlanOp, type PlanOptions, type PlanPort } from '../plan/index.js';
import { PlanState, type PlanHow } from '../plan/incremental.js';
import { planOptionsFor } from '../plan/options.js';
import type { Outcome, Reconciler } from '../reconcile/reconciler.js';
import type { ApplyReport, PortFallback } from '../reconcile/types.js';

export interface SyncResult {
  readonly mirror: Mirror;
  readonly plan: Plan;
  readonly reports: readonly ApplyReport[];
  readonly newFallbacks: ReadonlyArray<readonly [string, PortFallback]>;
  /** Configured VRF names with no device now. */
  readonly missingTables: readonly string[];
}

export interface PassResult extends SyncResult {
  readonly ops: readonly PlanOp[];
  readonly how: PlanHow;
  /** Every changed prefix was planned (from scratch), not only this pass's. */
  readonly everything: boolean;
  readonly planMs: number;
}

export class Pipeline {
  private mirror: Mirror | null = null;
  private state: PlanState | null = null;

  constructor(private config: Config, private readonly reconciler: Reconciler) {}

  get currentMirror(): Mirror | null {
    return this.mirror;
  }

  get plan(): Plan | null {
    return this.state?.plan ?? null;
  }

  setConfig(config: Config): void {
    this.config = config;
  }

  private options(mirror: Mirror, missing: string[]): PlanOptions {
    return {
      ...planOptionsFor(this.config, mirror, missing, this.reconciler.placement.backendFor),
      ...(this.state ? { previous: this.state.plan } : {}),
    };
  }

  /** The ports the config selects, before placement: what tc probes. */
  private candidates(mirror: Mirror): PlanPort[] {
    const o = planOptionsFor(this.config, mirror, []);
    return selectPorts(mirror.links(), o.ports, o.backendFor, (i) => mirror.tableOfLink(i));
  }

  /**
   * A fresh mirror (Mirror.fromSnapshot): probe, plan, reconcile every
   * backend by read-back diff. It takes the mirror, not the snapshot, so the
   * caller can drop the decoded snapshot before the plan and the backends'
   * work (at 1M routes, 200 MB of route objects the mirror has already
   * stored in columns).
   */
  async sync(mirror: Mirror): Promise<SyncResult> {
    const fresh = await this.reconciler.probe(this.candidates(mirror));
    const missing: string[] = [];
    let state = PlanState.build(mirror, this.options(mirror, missing));
    let outcome = await this.reconciler.reconcile(state.plan);
    if (outcome.replan) {
      state = PlanState.build(mirror, this.options(mirror, []));
      outcome = merge(outcome, await this.reconciler.reconcile(state.plan));
    }
    this.mirror = mirror;
    this.state = state;
    return { mirror, plan: state.plan, reports: outcome.reports, newFallbacks: [...fresh, ...outcome.newFallbacks], missingTables: missing };
  }

  /**
   * One batch: plan what `delta` changed (links first re-probe tc), send the
   * ops. A placement change re-plans from scratch; a refusal met while
   * installing re-plans once more and reconciles.
   */
  async pass(delta: MirrorDelta): Promise<PassResult> {
    const mirror = this.mirror!;
    const prev = this.state!;
    const t0 = performance.now();
    const fresh = delta.links.size > 0 ? await this.reconciler.probe(this.candidates(mirror)) : [];
    const missing: string[] = [];
    const opts = this.options(mirror, missing);
    // Link changes (the only ones that re-probe) are planned from scratch, so a new placement reaches every port.
    let { state, ops, how } = prev.next(mirror, delta, opts);
    const planMs = performance.now() - t0;
    let outcome: Outcome = ops.length > 0 ? await this.reconciler.apply(ops, state.plan) : { reports: [], replan: false, newFallbacks: [] };
    if (outcome.replan) {
      const again = PlanState.build(mirror, this.options(mirror, []));
      outcome = merge(outcome, await this.reconciler.reconcile(again.plan));
      ops = [...ops, ...diffPlans(state.plan, again.plan)];
      state = again;
    }
    this.state = state;
    return {
      mirror, plan: state.plan, reports: outcome.reports, newFallbacks: [...fresh, ...outcome.newFallbacks], missingTables: missing,
      ops, how, everything: how !== 'incremental', planMs,
    };
  }

  /** Reconcile the backends with failed work due (the retry of per-entry status). */
  async retry(backends: Parameters<Reconciler['reconcile']>[1]): Promise<Outcome | null> {
    if (!this.state) return null;
    return this.reconciler.reconcile(this.state.plan, backends);
  }
}

function merge(a: Outcome, b: Outcome): Outcome {
  return { reports: [...a.reports, ...b.reports], replan: b.replan, newFallbacks: [...a.newFallbacks, ...b.newFallbacks] };
}
