// Per-entry status, Cilium-style: every entry or group a backend was asked
// to install is installed unless it is listed here as failed, with what the
// kernel said, since when, how many retries, and when the next one is due.
// Failed work is retried with exponential backoff (errno.ts), so a fault
// that clears is repaired without a restart and one that doesn't is not
// hammered. Pure bookkeeping over an injected clock.
import { backoffMs, errnoClass, type ErrnoClass, type OpKind } from './errno.js';
import type { ApplyReport, BackendName, OpFailure, Subject } from './types.js';

export interface FailedEntry {
  readonly backend: BackendName;
  readonly subject: Subject;
  readonly op: string;
  readonly errno: string;
  readonly extack: string | null;
  readonly message: string;
  readonly class: ErrnoClass;
  /** ISO times of the first and the latest failure. */
  readonly since: string;
  readonly last: string;
  /** Attempts after the first failure. */
  readonly retries: number;
  /** Clock ms when the next attempt is due. */
  readonly retryAt: number;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The op kind of a failure's op text ('add filter ...', 'delete filter ...'), for the errno table. */
function opKind(op: string): OpKind {
  const w = op.split(' ', 1)[0]!.toLowerCase();
  if (w === 'add' || w === 'replace' || w === 'delete' || w === 'probe' || w === 'attach' || w === 'detach') return w;
  return 'update';
}

export class EntryStatus {
  private readonly failed = new Map<string, FailedEntry>();

  constructor(private readonly clock: Clock = systemClock) {}

  private key(backend: BackendName, subject: Subject): string {
    return `${backend}\0${subject}`;
  }

  /**
   * Take a backend's report. A complete one (reconcile) replaces that
   * backend's failures; an incremental one (apply) clears the subjects it
   * covered (`touched`) and adds its failures. Returns the failures that
   * are retries of earlier ones.
   */
  record(report: ApplyReport, touched: Iterable<Subject> = []): { fresh: number; repeated: number; cleared: number } {
    const b = report.backend;
    let cleared = 0;
    const before = new Map<string, FailedEntry>();
    if (report.complete) {
      for (const [k, f] of this.failed) if (f.backend === b) { before.set(k, f); this.failed.delete(k); }
    } else if (this.failed.size > 0) { // nothing failed: nothing to clear (the common case costs nothing per op)
      for (const s of touched) {
        const k = this.key(b, s);
        const f = this.failed.get(k);
        if (f) { before.set(k, f); this.failed.delete(k); }
      }
      // A whole-batch failure of this backend is superseded by any later report of it.
      const k = this.key(b, 'batch');
      const f = this.failed.get(k);
      if (f && !report.failures.some((x) => x.subject === 'batch')) { before.set(k, f); this.failed.delete(k); }
    }
    const now = this.clock.now();
    const iso = new Date(now).toISOString();
    let fresh = 0;
    let repeated = 0;
    for (const x of report.failures) {
      const k = this.key(b, x.subject);
      const prev = before.get(k) ?? this.failed.get(k);
      const cls = errnoClass(x.errno, opKind(x.op));
      if (cls === 'ok-for-this-op') continue;
      const retries = prev ? prev.retries + 1 : 0;
      if (prev) repeated++;
      else fresh++;
      this.failed.set(k, failedEntry(b, x, cls, prev?.since ?? iso, iso, retries, now + backoffMs(retries, cls)));
    }
    for (const k of before.keys()) if (!this.failed.has(k)) cleared++;
    return { fresh, repeated, cleared };
  }

  /** Forget a backend's failures (it was closed, or its ports went away). */
  forget(backend: BackendName): void {
    for (const [k, f] of this.failed) if (f.backend === backend) this.failed.delete(k);
  }

  get size(): number {
    return this.failed.size;
  }

  /** Failed entries, oldest first. */
  list(): FailedEntry[] {
    return [...this.failed.values()].sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
  }

  count(backend: BackendName, kind?: 'entry' | 'group'): number {
    let n = 0;
    for (const f of this.failed.values()) if (f.backend === backend && (!kind || f.subject.startsWith(`${kind} `))) n++;
    return n;
  }

  /** Backends with a retry due at or before `at` (clock ms). */
  due(at: number = this.clock.now()): BackendName[] {
    const out = new Set<BackendName>();
    for (const f of this.failed.values()) if (f.retryAt <= at) out.add(f.backend);
    return [...out];
  }

  /** Clock ms of the earliest retry, or null when nothing failed. */
  nextRetryAt(): number | null {
    let t: number | null = null;
    for (const f of this.failed.values()) if (t === null || f.retryAt < t) t = f.retryAt;
    return t;
  }
}

function failedEntry(backend: BackendName, x: OpFailure, cls: ErrnoClass, since: string, last: string, retries: number, retryAt: number): FailedEntry {
  return { backend, subject: x.subject, op: x.op, errno: x.errno, extack: x.extack, message: x.message, class: cls, since, last, retries, retryAt };
}
