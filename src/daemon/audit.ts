// The live audit as the daemon sees it: the XDP program's per-CPU audit
// counters summed, its per-CPU rings of disagreements merged into new records
// (each once), and which of them to log under a rate limit. Pure: the caller
// reads the map and passes the clocks; it logs and counts what comes back.
import {
  AUDIT_RESULTS,
  fibLookupRetName,
  type AuditCpu,
  type AuditRecord,
  type AuditResult,
} from '../xdp/layout.js';

/** One disagreement, as /status shows it and the log line carries it. */
export interface Disagreement {
  /** When the program recorded it (wall clock, from its CLOCK_MONOTONIC stamp). */
  readonly at: string;
  readonly result: AuditResult;
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** The ingress port's table: where the program looked the destination up. */
  readonly table: number;
  readonly ingress: { readonly ifindex: number; readonly dev: string | null };
  /** The program's answer: the member it chose. */
  readonly ours: { readonly ifindex: number; readonly dev: string | null; readonly dmac: string; readonly group: number };
  /** The kernel's answer: bpf_fib_lookup()'s code, and where it would send the packet when it says. */
  readonly kernel: { readonly answer: string; readonly ifindex: number | null; readonly dev: string | null; readonly dmac: string | null };
}

export interface AuditUpdate {
  /** Sampled packets per result since the last update (for a Prometheus counter). */
  readonly deltas: Readonly<Record<AuditResult, bigint>>;
  /** Totals since the program's maps were made. */
  readonly totals: Readonly<Record<AuditResult, bigint>>;
  /** New disagreements to log now. */
  readonly log: readonly Disagreement[];
  /** Set when a rate-limit window closed with disagreements left unlogged. */
  readonly suppressed: { readonly count: number; readonly windowMs: number } | null;
  /** True once: the first time the kernel answered "forwarding disabled". */
  readonly forwardingOffFirst: boolean;
  /** The newest stamp taken so far: to be kept in fo_audit_conf.taken_ns for the next process. */
  readonly takenNs: bigint;
}

export interface AuditMonitorOptions {
  /** Log at most this many disagreements per window (default 10 per 60 s). */
  readonly maxLines?: number;
  readonly windowMs?: number;
  /** Disagreements kept for /status, newest first (default 16). */
  readonly keep?: number;
}

const zeros = (): Record<AuditResult, bigint> =>
  Object.fromEntries(AUDIT_RESULTS.map((r) => [r, 0n])) as Record<AuditResult, bigint>;

export class AuditMonitor {
  private readonly maxLines: number;
  private readonly windowMs: number;
  private readonly keep: number;
  /** Per CPU: the ring position up to which records have been taken. */
  private seen: bigint[] = [];
  private totals = zeros();
  private windowStart: number | null = null;
  private windowLogged = 0;
  private windowSuppressed = 0;
  private forwardingOffNoted = false;
  private recent: Disagreement[] = [];

  constructor(opts: AuditMonitorOptions = {}) {
    this.maxLines = opts.maxLines ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.keep = opts.keep ?? 16;
  }

  /** The last disagreements, newest first. */
  get lastDisagreements(): readonly Disagreement[] {
    return this.recent;
  }

  get packets(): Readonly<Record<AuditResult, bigint>> {
    return this.totals;
  }

  /**
   * Take a reading of fo_audit. `nowMs` is the wall clock (Date.now()),
   * `monoNs` CLOCK_MONOTONIC in ns (process.hrtime.bigint(), the clock of
   * bpf_ktime_get_ns()); `dev` names an ifindex. At the first reading, the
   * records already in the rings are taken if they are stamped after
   * `takenNs` (fo_audit_conf.taken_ns: what an earlier process took): those
   * were made while no agent watched (stopped, its maps stale), the others
   * were logged before the restart. Afterwards each CPU's ring is followed
   * by its sequence numbers.
   */
  update(cpus: readonly AuditCpu[], nowMs: number, monoNs: bigint, dev: (ifindex: number) => string | null, takenNs = 0n): AuditUpdate {
    const totals = zeros();
    for (const c of cpus) for (const r of AUDIT_RESULTS) totals[r] += c.packets[r];
    const deltas = zeros();
    for (const r of AUDIT_RESULTS) {
      const d = totals[r] - this.totals[r];
      // Smaller than before: the maps were made anew (a fresh load); count from zero.
      deltas[r] = d >= 0n ? d : totals[r];
    }
    const forwardingOffFirst = !this.forwardingOffNoted && totals.forwarding_off > 0n;
    if (forwardingOffFirst) this.forwardingOffNoted = true;
    this.totals = totals;

    const fresh: AuditRecord[] = [];
    let lost = 0;
    cpus.forEach((c, i) => {
      const first = this.seen[i] === undefined;
      let seen = this.seen[i] ?? 0n;
      if (c.recorded < seen) seen = 0n; // the ring was made anew
      const taken = c.records.filter((r) => r.seq > seen && r.seq <= c.recorded);
      fresh.push(...(first ? taken.filter((r) => r.ktimeNs > takenNs) : taken));
      // Overwritten before they could be read, or torn while being written
      // (not counted at the first reading: older ones were never this process's).
      if (!first) lost += Number(c.recorded - seen) - taken.length;
      this.seen[i] = c.recorded;
    });
    fresh.sort((a, b) => (a.ktimeNs < b.ktimeNs ? -1 : a.ktimeNs > b.ktimeNs ? 1 : 0));
    const newest = fresh.length > 0 ? fresh[fresh.length - 1]!.ktimeNs : 0n;
    const records = fresh.map((r) => toDisagreement(r, nowMs, monoNs, dev));
    if (records.length > 0) this.recent = [...records.reverse(), ...this.recent].slice(0, this.keep);
    records.reverse(); // oldest first again, for the log

    let suppressed: AuditUpdate['suppressed'] = null;
    if (this.windowStart !== null && nowMs - this.windowStart >= this.windowMs) {
      if (this.windowSuppressed > 0) suppressed = { count: this.windowSuppressed, windowMs: nowMs - this.windowStart };
      this.windowStart = null;
    }
    const log: Disagreement[] = [];
    if (records.length > 0 || lost > 0) {
      if (this.windowStart === null) {
        this.windowStart = nowMs;
        this.windowLogged = 0;
        this.windowSuppressed = 0;
      }
      for (const d of records) {
        if (this.windowLogged < this.maxLines) {
          log.push(d);
          this.windowLogged++;
        } else {
          this.windowSuppressed++;
        }
      }
      this.windowSuppressed += lost;
    }
    return { deltas, totals, log, suppressed, forwardingOffFirst, takenNs: newest > takenNs ? newest : takenNs };
  }
}

export function toDisagreement(r: AuditRecord, nowMs: number, monoNs: bigint, dev: (ifindex: number) => string | null): Disagreement {
  const ageMs = Number(monoNs - r.ktimeNs) / 1e6;
  const kernelSays = r.kernelIfindex !== 0;
  return {
    at: new Date(Math.round(nowMs - Math.max(0, ageMs))).toISOString(),
    result: r.result,
    family: r.family,
    src: r.src,
    dst: r.dst,
    table: r.table,
    ingress: { ifindex: r.ingress, dev: dev(r.ingress) },
    ours: { ifindex: r.ifindex, dev: dev(r.ifindex), dmac: r.dmac, group: r.group },
    kernel: {
      answer: fibLookupRetName(r.kernelRet),
      ifindex: kernelSays ? r.kernelIfindex : null,
      dev: kernelSays ? dev(r.kernelIfindex) : null,
      dmac: r.kernelDmac,
    },
  };
}

/** "eth2 (4) 02:00:00:00:02:02": one side of a disagreement, for logs and `fib-offload status`. */
export function describeAnswer(side: { ifindex: number | null; dev: string | null; dmac: string | null }): string {
  if (side.ifindex === null) return 'nowhere';
  return `${side.dev ?? `ifindex ${side.ifindex}`}${side.dmac ? ` ${side.dmac}` : ''}`;
}

/** One line per disagreement: what the kernel would do with the packet, what the offload did. */
export function disagreementText(d: Disagreement): string {
  const kernel = d.kernel.answer === 'success' ? describeAnswer(d.kernel) : `${d.kernel.answer}${d.kernel.ifindex !== null ? ` via ${describeAnswer(d.kernel)}` : ''}`;
  return `${d.at} ${d.result}: ${d.src} -> ${d.dst} table ${d.table} in ${d.ingress.dev ?? d.ingress.ifindex}: ` +
    `offload ${describeAnswer(d.ours)}, kernel ${kernel}`;
}
