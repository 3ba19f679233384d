// The daemon's view of the XDP audit (src/daemon/audit.ts): counter deltas,
// each ring record taken once, wall-clock times, the log rate limit.
import { describe, expect, it } from 'vitest';
import { AuditMonitor, disagreementText, toDisagreement } from '../../src/daemon/audit.js';
import { AUDIT_RESULTS, type AuditCpu, type AuditRecord, type AuditResult } from '../../src/xdp/layout.js';

const NAMES: Record<number, string> = { 2: 'eth1', 3: 'eth2', 4: 'eth3' };
const dev = (i: number): string | null => NAMES[i] ?? null;

function packets(p: Partial<Record<AuditResult, bigint>>): Record<AuditResult, bigint> {
  return Object.fromEntries(AUDIT_RESULTS.map((r) => [r, p[r] ?? 0n])) as Record<AuditResult, bigint>;
}

function record(seq: bigint, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    seq, ktimeNs: 1_000_000_000n * seq, family: 4, src: '10.1.0.2', dst: `198.51.100.${Number(seq % 250n)}`, table: 254,
    ingress: 2, group: 7, ifindex: 3, dmac: '02:00:00:00:02:02', kernelIfindex: 4, kernelDmac: '02:00:00:00:03:02',
    kernelRet: 0, result: 'egress', ...over,
  };
}

/** One CPU whose ring holds the records `from`..`to` (the last 16 of them). */
function cpu(p: Partial<Record<AuditResult, bigint>>, from: bigint, to: bigint, over: Partial<AuditRecord> = {}): AuditCpu {
  const records: AuditRecord[] = [];
  for (let s = from > to - 15n ? from : to - 15n; s <= to; s++) records.push(record(s, over));
  return { recorded: to, packets: packets(p), records };
}

describe('AuditMonitor', () => {
  it('sums CPUs, reports deltas, and counts from zero when the maps were made anew', () => {
    const m = new AuditMonitor();
    const a = m.update([cpu({ agree: 5n }, 1n, 0n), cpu({ agree: 7n, forwarding_off: 1n }, 1n, 0n)], 0, 0n, dev);
    expect(a.totals).toMatchObject({ agree: 12n, forwarding_off: 1n, egress: 0n });
    expect(a.deltas).toMatchObject({ agree: 12n, forwarding_off: 1n });
    expect(a.forwardingOffFirst).toBe(true);
    const b = m.update([cpu({ agree: 6n }, 1n, 0n), cpu({ agree: 9n, forwarding_off: 1n }, 1n, 0n)], 0, 0n, dev);
    expect(b.deltas).toMatchObject({ agree: 3n, forwarding_off: 0n });
    expect(b.forwardingOffFirst).toBe(false);
    const c = m.update([cpu({ agree: 2n }, 1n, 0n), cpu({}, 1n, 0n)], 0, 0n, dev);
    expect(c.deltas.agree).toBe(2n);
  });

  it('takes every record once, across CPUs, oldest first; the first reading takes what the ring holds', () => {
    const m = new AuditMonitor();
    const first = m.update([cpu({ egress: 2n }, 1n, 2n), cpu({ egress: 1n }, 1n, 1n, { ktimeNs: 1_500_000_000n, dst: '203.0.113.9' })], 10_000, 10_000_000_000n, dev);
    expect(first.log.map((d) => d.dst)).toEqual(['198.51.100.1', '203.0.113.9', '198.51.100.2']);
    const again = m.update([cpu({ egress: 2n }, 1n, 2n), cpu({ egress: 1n }, 1n, 1n)], 10_000, 10_000_000_000n, dev);
    expect(again.log).toEqual([]);
    const more = m.update([cpu({ egress: 3n }, 1n, 3n), cpu({ egress: 1n }, 1n, 1n)], 10_000, 10_000_000_000n, dev);
    expect(more.log.map((d) => d.dst)).toEqual(['198.51.100.3']);
    expect(m.lastDisagreements.map((d) => d.dst)).toEqual(['198.51.100.3', '198.51.100.2', '203.0.113.9', '198.51.100.1']);
  });

  it('at the first reading, records stamped up to taken_ns (an earlier process logged them) are not taken again', () => {
    const m = new AuditMonitor();
    // Records 1..4 stamped at 1..4 s; the process before the restart took up to 2 s.
    const u = m.update([cpu({ egress: 4n }, 1n, 4n)], 0, 10_000_000_000n, dev, 2_000_000_000n);
    expect(u.log.map((d) => d.dst)).toEqual(['198.51.100.3', '198.51.100.4']);
    expect(u.takenNs).toBe(4_000_000_000n);
    // From then on, by sequence number: record 5 is taken whatever taken_ns says.
    const v = m.update([cpu({ egress: 5n }, 1n, 5n)], 0, 10_000_000_000n, dev, 9_000_000_000n);
    expect(v.log.map((d) => d.dst)).toEqual(['198.51.100.5']);
    expect(v.takenNs).toBe(9_000_000_000n); // never backwards
  });

  it('a disagreement: names, both answers, the wall-clock time from the monotonic stamp', () => {
    // Recorded at monotonic 2 s; now is monotonic 10 s = wall 2026-01-01T00:00:10Z: recorded 8 s ago.
    const d = toDisagreement(record(2n), Date.parse('2026-01-01T00:00:10Z'), 10_000_000_000n, dev);
    expect(d).toEqual({
      at: '2026-01-01T00:00:02.000Z', result: 'egress', family: 4, src: '10.1.0.2', dst: '198.51.100.2', table: 254,
      ingress: { ifindex: 2, dev: 'eth1' },
      ours: { ifindex: 3, dev: 'eth2', dmac: '02:00:00:00:02:02', group: 7 },
      kernel: { answer: 'success', ifindex: 4, dev: 'eth3', dmac: '02:00:00:00:03:02' },
    });
    expect(disagreementText(d)).toBe(
      '2026-01-01T00:00:02.000Z egress: 10.1.0.2 -> 198.51.100.2 table 254 in eth1: offload eth2 02:00:00:00:02:02, kernel eth3 02:00:00:00:03:02');
    const blackhole = toDisagreement(record(2n, { result: 'kernel_no_forward', kernelRet: 1, kernelIfindex: 0, kernelDmac: null }), 0, 2_000_000_000n, dev);
    expect(blackhole.kernel).toEqual({ answer: 'blackhole', ifindex: null, dev: null, dmac: null });
    expect(disagreementText(blackhole)).toMatch(/kernel_no_forward: .* offload eth2 02:00:00:00:02:02, kernel blackhole$/);
    const noNeigh = toDisagreement(record(2n, { result: 'kernel_no_neigh', kernelRet: 7, kernelDmac: null }), 0, 2_000_000_000n, dev);
    expect(disagreementText(noNeigh)).toMatch(/kernel no_neigh via eth3$/);
  });

  it('logs at most maxLines per window, then says how many it left out (overwritten ones included)', () => {
    const m = new AuditMonitor({ maxLines: 3, windowMs: 60_000 });
    const mono = 100_000_000_000n;
    const a = m.update([cpu({ egress: 5n }, 1n, 5n)], 0, mono, dev);
    expect(a.log).toHaveLength(3);
    expect(a.suppressed).toBeNull();
    // 30 more on this CPU: 16 readable, 14 overwritten before this reading.
    const b = m.update([cpu({ egress: 35n }, 6n, 35n)], 30_000, mono, dev);
    expect(b.log).toHaveLength(0);
    expect(b.suppressed).toBeNull();
    const c = m.update([cpu({ egress: 36n }, 6n, 36n)], 61_000, mono, dev);
    expect(c.suppressed).toEqual({ count: 2 + 30, windowMs: 61_000 });
    expect(c.log).toHaveLength(1); // a new window
    expect(m.lastDisagreements).toHaveLength(16);
  });
});
