// The XDP backend behind the Backend contract. Map updates go in batches,
// and a batch fails as a whole (bpf(2) says which call, not which element),
// so a failure is reported against `batch`; the retry is a reconcile by
// read-back diff, which installs exactly what is missing.
import { performance } from 'node:perf_hooks';
import type { Plan, PlanOp } from '../plan/index.js';
import type { ProgramResult, ReconcileResult, XdpBackend } from '../xdp/backend.js';
import type { EcmpHash } from '../xdp/loader.js';
import { kernelError } from './errno.js';
import type { ApplyReport, Backend, TcBlockProbe } from './types.js';

export interface XdpReport extends ApplyReport {
  readonly backend: 'xdp';
  /** The backend's own result (null when the call failed before one). */
  readonly result: ProgramResult | ReconcileResult | null;
}

export class XdpAdapter implements Backend {
  readonly name = 'xdp';
  /** The latest full reconcile (attachments, refusals, flat tables): what /status and `apply` show. */
  lastReconcile: ReconcileResult | null = null;

  /** `settings` is read at every reconcile: ecmp.hash and xdp.audit_rate may change on SIGHUP. */
  constructor(readonly xdp: XdpBackend, private readonly settings?: () => { readonly hash: EcmpHash; readonly auditRate: number }) {}

  probe(): Promise<readonly TcBlockProbe[]> {
    return Promise.resolve([]);
  }

  async apply(ops: readonly PlanOp[], next: Plan): Promise<XdpReport> {
    return this.run('apply plan ops to the XDP maps', false, () => this.xdp.applyOps(ops, next));
  }

  async reconcile(plan: Plan): Promise<XdpReport> {
    return this.run('reconcile the XDP maps and attachments', true, () => {
      const s = this.settings?.();
      if (s) {
        this.xdp.setHash(s.hash);
        this.xdp.setAuditRate(s.auditRate);
      }
      return this.xdp.reconcile(plan);
    });
  }

  private async run(what: string, complete: boolean, work: () => Promise<ProgramResult | ReconcileResult>): Promise<XdpReport> {
    const t0 = performance.now();
    try {
      const result = await work();
      const full = 'attached' in result ? result : null;
      if (full) this.lastReconcile = full;
      return {
        backend: 'xdp', ops: result.ops, seconds: result.seconds, failures: [], refused: full?.refused ?? [],
        complete: complete || full !== null, result,
      };
    } catch (err) {
      const e = kernelError(err, undefined);
      return {
        backend: 'xdp', ops: 0, seconds: (performance.now() - t0) / 1000, refused: [], complete: false, result: null,
        failures: [{ subject: 'batch', ...e, op: e.op === 'unknown' ? what : e.op }],
      };
    }
  }

  close(): void {
    this.xdp.close();
  }
}

/** The dry-run backend: accepts every plan, installs nothing (the control plane alone, for benches and trials). */
export class DryRunBackend implements Backend {
  readonly name = 'dry-run';
  probe(): Promise<readonly TcBlockProbe[]> {
    return Promise.resolve([]);
  }
  apply(): Promise<ApplyReport> {
    return Promise.resolve({ backend: 'dry-run', ops: 0, seconds: 0, failures: [], refused: [], complete: false });
  }
  reconcile(): Promise<ApplyReport> {
    return Promise.resolve({ backend: 'dry-run', ops: 0, seconds: 0, failures: [], refused: [], complete: true });
  }
  close(): void {}
}
