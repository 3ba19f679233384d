// The daemon's side of the live audit: read the XDP program's audit maps,
// count the results, log new disagreements under the monitor's rate limit,
// and answer /status. The bookkeeping itself is pure (audit.ts).
import type { Logger } from '../log.js';
import type { XdpBackend } from '../xdp/backend.js';
import { AUDIT_RESULTS } from '../xdp/layout.js';
import { AuditMonitor, disagreementText, type Disagreement } from './audit.js';
import type { Metrics } from './metrics.js';

export interface AuditStatus {
  readonly rate: number;
  readonly packets: Record<string, number>;
  readonly lastDisagreements: readonly Disagreement[];
}

export class AuditReader {
  readonly monitor = new AuditMonitor();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly fail: (what: string, err: unknown) => void,
  ) {}

  /**
   * Read the audit's counters and the disagreements the program recorded
   * since the last look: count them, keep the latest for /status, and log
   * them (at most 10 a minute, then how many were not logged).
   */
  refresh(xdp: XdpBackend, dev: (ifindex: number) => string | null): void {
    let u;
    try {
      const taken = xdp.auditTakenNs;
      u = this.monitor.update(xdp.audit(), Date.now(), process.hrtime.bigint(), dev, taken);
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

  /** The audit for /status (the rate as the program holds it; the configured one if it can't be read). */
  status(xdp: XdpBackend, configuredRate: number): AuditStatus {
    let rate: number;
    try {
      rate = xdp.auditRate;
    } catch (err) {
      this.fail('read audit rate', err);
      rate = configuredRate;
    }
    const packets = Object.fromEntries(AUDIT_RESULTS.map((r) => [r, Number(this.monitor.packets[r])]));
    return { rate, packets, lastDisagreements: this.monitor.lastDisagreements };
  }
}

/** A disagreement as log fields: flat, so log tools can filter on them. */
function disagreementFields(d: Disagreement): Record<string, unknown> {
  return {
    component: 'audit', result: d.result, src: d.src, dst: d.dst, table: d.table, ingress: d.ingress.dev ?? d.ingress.ifindex, recordedAt: d.at,
    ours: { dev: d.ours.dev, ifindex: d.ours.ifindex, dmac: d.ours.dmac, group: d.ours.group },
    kernel: { answer: d.kernel.answer, dev: d.kernel.dev, ifindex: d.kernel.ifindex, dmac: d.kernel.dmac },
  };
}
