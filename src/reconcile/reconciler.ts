// The reconciler: the one path from a plan to the backends, for the daemon
// and for `apply`. It owns the placement (probe results → placePorts, an
// explicit input to the planner), opens the backends the plan needs (tc
// first, then XDP, which takes the ports tc's fallback sent it), hands each
// the plan or the ops, and records what they report in the per-entry status.
// It never rebuilds the plan itself: when a backend meets a hardware refusal
// while installing, the new placement is reported (`replan`) and the caller
// plans again with it.
import type { Plan, PlanOp, PlanPort } from '../plan/index.js';
import { isHardwareRefusal } from './errno.js';
import { initialPlacement, newFallbacks, placePorts, type TcFallback, type TcPolicy } from './placement.js';
import type { EntryStatus } from './status.js';
import type { ApplyReport, Backend, BackendName, KernelErrorInfo, Placement, PortFallback, Subject, TcBlockProbe } from './types.js';

export interface BackendFactories {
  /** Open (or reuse the pinned) XDP program. */
  readonly xdp: () => Promise<Backend>;
  readonly tc: () => Backend;
  readonly dryRun: () => Backend;
}

export interface ReconcilerOptions {
  /** The configured backend: dry-run installs nothing; xdp is opened at start even with no XDP port yet. */
  readonly choice: BackendName;
  readonly base: Parameters<typeof initialPlacement>[0]['base'];
  readonly policy: TcPolicy;
  readonly fallback: TcFallback;
  readonly open: BackendFactories;
  readonly status: EntryStatus;
}

export interface Outcome {
  readonly reports: readonly ApplyReport[];
  /** The placement changed (a refusal met while installing): plan again with `placement` and reconcile. */
  readonly replan: boolean;
  /** Fallbacks that are new since the previous placement (count them once). */
  readonly newFallbacks: ReadonlyArray<readonly [string, PortFallback]>;
}

const ORDER: readonly BackendName[] = ['tc', 'xdp', 'dry-run'];

export class Reconciler {
  private readonly backends = new Map<BackendName, Backend>();
  private probes: readonly TcBlockProbe[] = [];
  private refusedLater = new Map<number, KernelErrorInfo>();
  private current: Placement;

  constructor(private readonly opts: ReconcilerOptions) {
    this.current = initialPlacement(opts);
  }

  get placement(): Placement {
    return this.current;
  }

  backend(name: BackendName): Backend | null {
    return this.backends.get(name) ?? null;
  }

  /** Take over a backend already open (a reload keeps the loaded XDP program). */
  adopt(b: Backend): void {
    this.backends.get(b.name)?.close();
    this.backends.set(b.name, b);
  }

  /** Open what the configured backend needs up front (XDP loads at start: a load error is fatal then, not later). */
  async start(): Promise<void> {
    if (this.opts.choice === 'xdp') await this.ensure('xdp');
    if (this.opts.choice === 'dry-run') await this.ensure('dry-run');
  }

  /**
   * Probe the ports the config gives tc (at start, and after link changes)
   * and derive the placement. Returns the fallbacks that are new.
   */
  async probe(candidates: readonly PlanPort[]): Promise<Array<readonly [string, PortFallback]>> {
    if (this.opts.choice === 'dry-run') return [];
    const tc = candidates.filter((p) => p.backend === 'tc');
    if (tc.length === 0 && !this.backends.has('tc')) {
      this.probes = [];
    } else {
      this.probes = await (await this.ensure('tc')).probe(tc);
    }
    // A block whose membership changed is judged by its probe again.
    for (const b of [...this.refusedLater.keys()]) if (!this.probes.some((p) => p.block === b)) this.refusedLater.delete(b);
    return this.place();
  }

  private place(): Array<readonly [string, PortFallback]> {
    const prev = this.current;
    this.current = placePorts({ ...this.opts, probes: this.probes, refusedLater: this.refusedLater });
    return newFallbacks(prev, this.current);
  }

  /** Backends the plan needs (and those open that must clean up after ports that left them). */
  private needed(plan: Plan): BackendName[] {
    if (this.opts.choice === 'dry-run') return ['dry-run'];
    const has = (b: 'tc' | 'xdp'): boolean => plan.ports.some((p) => p.backend === b) || this.backends.has(b);
    return ORDER.filter((b) => (b === 'tc' || b === 'xdp') && (has(b) || this.opts.choice === b));
  }

  private async ensure(name: BackendName): Promise<Backend> {
    let b = this.backends.get(name);
    if (b) return b;
    b = name === 'xdp' ? await this.opts.open.xdp() : name === 'tc' ? this.opts.open.tc() : this.opts.open.dryRun();
    this.backends.set(name, b);
    return b;
  }

  /** Make every backend the plan needs equal to it, by read-back diff. */
  async reconcile(plan: Plan, only?: readonly BackendName[]): Promise<Outcome> {
    const reports: ApplyReport[] = [];
    for (const name of this.needed(plan)) {
      if (only && !only.includes(name)) continue;
      const b = await this.ensure(name);
      reports.push(await b.reconcile(plan, this.current));
    }
    return this.finish(reports, []);
  }

  /**
   * Send the ops of one batch. A backend the plan needs that was not open
   * yet (a port just moved to it) gets a full reconcile instead.
   */
  async apply(ops: readonly PlanOp[], next: Plan): Promise<Outcome> {
    const reports: ApplyReport[] = [];
    for (const name of this.needed(next)) {
      const fresh = !this.backends.has(name);
      const b = await this.ensure(name);
      reports.push(fresh ? await b.reconcile(next, this.current) : await b.apply(ops, next, this.current));
    }
    // The subjects only matter when something failed before (they clear it): none, no per-op strings.
    return this.finish(reports, this.opts.status.size > 0 ? subjectsOf(ops) : []);
  }

  private finish(reports: readonly ApplyReport[], touched: readonly Subject[]): Outcome {
    let replan = false;
    for (const r of reports) {
      this.opts.status.record(r, touched);
      for (const [block, why] of r.hwRefused ?? []) {
        if (!isHardwareRefusal(why.errno) || this.refusedLater.has(block)) continue;
        this.refusedLater.set(block, why);
        replan = true;
      }
    }
    const fresh = replan ? this.place() : [];
    return { reports, replan, newFallbacks: fresh };
  }

  /** Close every backend (the installed offload stays). */
  close(): void {
    for (const b of this.backends.values()) b.close();
    this.backends.clear();
  }
}

/** The status subjects a batch's ops cover (cleared when the batch reports no failure for them). */
export function subjectsOf(ops: readonly PlanOp[]): Subject[] {
  const out: Subject[] = [];
  for (const op of ops) {
    if ('entry' in op) out.push(`entry ${op.entry.table}|${op.entry.dst}`);
    else if ('group' in op) out.push(`group ${op.group.id}`);
    else out.push(`port ${op.port.dev}`);
  }
  return out;
}
