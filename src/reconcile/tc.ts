// The tc flower backend behind the Backend contract. Rules are installed
// where the placement says (per table: skip_sw, none or skip_hw); refusals
// are reported, never acted on here: a block whose hardware refused its rules
// while installing comes back in `hwRefused`, and the placement policy
// decides where its ports go.
import type { Plan, PlanOp, PlanPort } from '../plan/index.js';
import type { TcApplyReport, TcBackend } from '../tc/backend.js';
import type { Backend, Placement, TcBlockProbe } from './types.js';

export type TcReport = TcApplyReport;

export class TcAdapter implements Backend {
  readonly name = 'tc';
  /** The latest full reconcile (every block read back): what /status shows per block. */
  last: TcReport | null = null;
  /** When it was taken (ISO). */
  lastAt: string | null = null;

  constructor(readonly tc: TcBackend) {}

  probe(candidates: readonly PlanPort[]): Promise<readonly TcBlockProbe[]> {
    return this.tc.probeBlocks(candidates);
  }

  async apply(ops: readonly PlanOp[], next: Plan, placement: Placement): Promise<TcReport> {
    return this.note(await this.tc.applyOps(ops, next, placement.tcTables));
  }

  async reconcile(plan: Plan, placement: Placement): Promise<TcReport> {
    return this.note(await this.tc.reconcileWith(plan, placement.tcTables));
  }

  private note(r: TcReport): TcReport {
    if (r.full) {
      this.last = r;
      this.lastAt = new Date().toISOString();
    }
    return r;
  }

  close(): void {
    this.tc.close();
  }
}
