// The daemon in-process (no root) with a kernel that replays fixtures and a
// backend that fails on command: per-entry status, retries with backoff,
// degraded health and recovery; ENOBUFS between the dump and the
// subscription; a burst larger than the pass cap with a single route change
// behind it.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../src/config.js';
import { Daemon, type KernelSource } from '../../src/daemon/daemon.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { statusOf } from '../../src/daemon/status.js';
import type { KernelEvent, KernelSnapshot, Neighbor } from '../../src/model/index.js';
import type { ResyncReason } from '../../src/netlink/kernel.js';
import { entryKey, type Plan, type PlanEntry, type PlanOp } from '../../src/plan/index.js';
import { BACKOFF_MAX_MS } from '../../src/reconcile/errno.js';
import type { ApplyReport, Backend, OpFailure, Subject, TcBlockProbe } from '../../src/reconcile/types.js';
import { addr, link, loopback, neigh, route, snapshot, via } from './plan-helpers.js';

/** The kernel: a snapshot to dump, events to emit; optionally an overrun during the next dump. */
class FakeKernel extends EventEmitter implements KernelSource {
  dumps = 0;
  enobufsDuringNextDump = false;
  constructor(public snap: KernelSnapshot) {
    super();
  }
  resync(onSnapshot: (s: KernelSnapshot) => void): Promise<void> {
    this.dumps++;
    if (this.enobufsDuringNextDump) {
      // The overrun arrives after the dump was taken, before its events were subscribed.
      this.enobufsDuringNextDump = false;
      onSnapshot(this.snap);
      setImmediate(() => this.emit('resync-needed', 'enobufs' satisfies ResyncReason, new Error('ENOBUFS')));
      return Promise.resolve();
    }
    onSnapshot(this.snap);
    return Promise.resolve();
  }
  useNeighbor(_n: Pick<Neighbor, 'ifindex' | 'family' | 'address'>): Promise<void> {
    return Promise.resolve();
  }
  /** An event (the snapshot is not changed: tests that resync set `snap` themselves). */
  send(ev: KernelEvent): void {
    this.emit('event', ev, process.hrtime.bigint());
  }
  close(): void {}
}

/** A backend holding entries in a map; a fault makes every op on one subject fail with an errno until cleared. */
class FaultyBackend implements Backend {
  readonly name = 'xdp';
  readonly installed = new Map<string, PlanEntry>();
  /** Ops applied from now on until the nth one picks the subject that fails. */
  private countdown: number | null = null;
  private errno = 'ENOMEM';
  failing: Subject | null = null;
  calls: Array<{ kind: 'apply' | 'reconcile'; at: number; ops: number }> = [];

  failNth(n: number, errno: string): void {
    this.countdown = n;
    this.errno = errno;
  }

  clear(): void {
    this.failing = null;
    this.countdown = null;
  }

  probe(): Promise<readonly TcBlockProbe[]> {
    return Promise.resolve([]);
  }

  private fails(subject: Subject): boolean {
    if (this.countdown !== null && --this.countdown === 0) {
      this.failing = subject;
      this.countdown = null;
    }
    return this.failing === subject;
  }

  private failure(subject: Subject, op: string): OpFailure {
    return { subject, op, errno: this.errno, extack: `injected ${this.errno}`, message: `${op}: ${this.errno} (injected)` };
  }

  apply(ops: readonly PlanOp[]): Promise<ApplyReport> {
    this.calls.push({ kind: 'apply', at: Date.now(), ops: ops.length });
    const failures: OpFailure[] = [];
    for (const op of ops) {
      if (!('entry' in op)) continue;
      const subject: Subject = `entry ${entryKey(op.entry)}`;
      const verb = op.op === 'entry-delete' ? 'delete' : op.op === 'entry-add' ? 'add' : 'replace';
      if (this.fails(subject)) {
        failures.push(this.failure(subject, `${verb} ${op.entry.dst}`));
        continue;
      }
      if (op.op === 'entry-delete') this.installed.delete(entryKey(op.entry));
      else this.installed.set(entryKey(op.entry), op.entry);
    }
    return Promise.resolve({ backend: 'xdp', ops: ops.length, seconds: 0, failures, refused: [], complete: false });
  }

  reconcile(plan: Plan): Promise<ApplyReport> {
    this.calls.push({ kind: 'reconcile', at: Date.now(), ops: plan.entries.length });
    const failures: OpFailure[] = [];
    const want = new Map(plan.entries.map((e) => [entryKey(e), e] as const));
    for (const k of [...this.installed.keys()]) if (!want.has(k)) this.installed.delete(k);
    for (const [k, e] of want) {
      const subject: Subject = `entry ${k}`;
      if (this.failing === subject) failures.push(this.failure(subject, `add ${e.dst}`));
      else this.installed.set(k, e);
    }
    return Promise.resolve({ backend: 'xdp', ops: plan.entries.length, seconds: 0, failures, refused: [], complete: true });
  }

  close(): void {}
}

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

function base(): KernelSnapshot {
  return snapshot({
    links: [loopback(), link(2, 'eth1'), link(3, 'eth2')],
    addresses: [addr(2, '10.1.0.1/24'), addr(3, '10.2.0.1/24')],
    neighbors: [neigh(3, '10.2.0.2', '02:00:00:00:99:02')],
    routes: [route('10.1.0.0/24', [{ ...via('0.0.0.0', 2), gateway: null, gatewayFamily: null }]), route('198.51.100.0/24', [via('10.2.0.2', 3)])],
  });
}

function routeEv(prefix: string, op: 'new' | 'del' = 'new'): KernelEvent {
  return { kind: 'route', op, route: route(prefix, [via('10.2.0.2', 3)]) };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sample(m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (metric?.values as Array<{ value: number; labels: Record<string, string | number> }> | undefined)
    ?.find((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val));
  return v?.value;
}

describe('the daemon against a fault-injecting backend', () => {
  let daemon: Daemon | null = null;
  afterEach(async () => {
    await daemon?.stop(false);
    daemon = null;
  });

  function start(kernel: FakeKernel, backend: FaultyBackend, extra: { passCap?: number } = {}): { d: Daemon; m: Metrics } {
    const config = parseConfig('ports: ["eth*"]\nbackend: xdp\nkeepalive: { interval: 1h }\n', 'test');
    const m = new Metrics();
    daemon = new Daemon({ config, log: silent, metrics: m, adapter: kernel, backends: { xdp: () => Promise.resolve(backend) }, coalesceMs: 1, ...extra });
    return { d: daemon, m };
  }

  it('a transient errno: failed in /status with errno and extack, retried at 100, 200, 400 ms, degraded until the fault clears', async () => {
    const kernel = new FakeKernel(base());
    const b = new FaultyBackend();
    const { d, m } = start(kernel, b);
    await d.start();
    expect(statusOf(d).health).toBe('ready');
    b.failNth(1, 'ENOMEM');
    kernel.send(routeEv('203.0.113.0/24'));
    await until('the failure recorded', () => d.failed.length === 1);
    const f = d.failed[0]!;
    expect(f).toMatchObject({ backend: 'xdp', subject: 'entry 254|203.0.113.0/24', errno: 'ENOMEM', extack: 'injected ENOMEM', class: 'retry', retries: 0 });
    const s = statusOf(d);
    expect(s.health).toBe('degraded');
    expect(s.failedCount).toBe(1);
    expect(await sample(m, 'fib_offload_degraded')).toBe(1);
    d.refreshGauges(true);
    expect(await sample(m, 'fib_offload_entries', { backend: 'xdp', state: 'failed' })).toBe(1);

    // Three retries while it keeps failing, spaced by the backoff.
    await until('three retries', () => b.calls.filter((c) => c.kind === 'reconcile').length >= 4, 5000);
    const retries = b.calls.filter((c) => c.kind === 'reconcile').slice(1, 4).map((c) => c.at);
    const failedAt = Date.parse(f.since);
    const gaps = [retries[0]! - failedAt, retries[1]! - retries[0]!, retries[2]! - retries[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
    expect(d.failed[0]!.retries).toBeGreaterThanOrEqual(3);
    expect(await sample(m, 'fib_offload_retries_total', { backend: 'xdp', result: 'error' })).toBeGreaterThanOrEqual(3);

    b.clear();
    await until('recovery', () => d.failed.length === 0, 3000);
    expect(b.installed.has('254|203.0.113.0/24')).toBe(true);
    expect(statusOf(d).health).toBe('ready');
    expect(await sample(m, 'fib_offload_degraded')).toBe(0);
    expect(await sample(m, 'fib_offload_retries_total', { backend: 'xdp', result: 'ok' })).toBe(1);
  });

  it('a permanent errno (EINVAL) waits the longest backoff; an ok-for-this-op one (ENOENT on delete) is not a failure', async () => {
    const kernel = new FakeKernel(base());
    const b = new FaultyBackend();
    const { d } = start(kernel, b);
    await d.start();
    b.failNth(1, 'EINVAL');
    kernel.send(routeEv('203.0.113.0/24'));
    await until('the failure recorded', () => d.failed.length === 1);
    const f = d.failed[0]!;
    expect(f.class).toBe('permanent');
    expect(f.retryAt - Date.parse(f.last)).toBeGreaterThanOrEqual(BACKOFF_MAX_MS - 10);

    b.clear();
    await d.stop(false);
    const kernel2 = new FakeKernel({ ...base(), routes: [...base().routes, route('192.0.2.0/24', [via('10.2.0.2', 3)])] });
    const b2 = new FaultyBackend();
    const { d: d2 } = start(kernel2, b2);
    await d2.start();
    b2.failNth(1, 'ENOENT');
    kernel2.send(routeEv('192.0.2.0/24', 'del'));
    await until('the delete applied', () => b2.calls.some((c) => c.kind === 'apply'));
    expect(d2.failed).toEqual([]);
  });

  it('ENOBUFS between the dump and the subscription: a second full resync, and the routes added meanwhile are installed', async () => {
    const kernel = new FakeKernel(base());
    const b = new FaultyBackend();
    const { d, m } = start(kernel, b);
    kernel.enobufsDuringNextDump = true;
    await d.start();
    // Lost while the notifications were overrun: only a new dump can show it.
    kernel.snap = { ...kernel.snap, routes: [...kernel.snap.routes, route('192.0.2.0/24', [via('10.2.0.2', 3)])] };
    await until('the second dump', () => kernel.dumps >= 2, 3000);
    await until('the lost route installed', () => b.installed.has('254|192.0.2.0/24'), 3000);
    expect(await sample(m, 'fib_offload_resyncs_total', { reason: 'enobufs' })).toBe(1);
    expect(d.ready).toBe(true);
  });

  it('a burst larger than the pass cap is worked off in bounded passes, and a route change behind it is installed in the first', async () => {
    // A table large enough that a pass of the cap is planned incrementally (a big share of a small table is planned from scratch, which covers everything at once).
    const table = Array.from({ length: 40_000 }, (_, i) => route(`100.${64 + (i >> 8)}.${i & 255}.0/24`, [via('10.2.0.2', 3)]));
    const kernel = new FakeKernel({ ...base(), routes: [...base().routes, ...table] });
    const b = new FaultyBackend();
    const { d } = start(kernel, b, { passCap: 1000 });
    await d.start();
    const applies = (): number => b.calls.filter((c) => c.kind === 'apply').length;
    const burst = 6000;
    const baseline = b.installed.size;
    // The burst lands first, then one change behind it, all before the first pass runs.
    for (let i = 0; i < burst; i++) kernel.send(routeEv(`10.${100 + (i >> 8)}.${i & 255}.0/24`));
    kernel.send(routeEv('203.0.113.0/24'));
    await until('the single change installed', () => b.installed.has('254|203.0.113.0/24'), 10_000);
    const passesForSingle = applies();
    await until('the burst installed', () => b.installed.size === baseline + burst + 1, 30_000);
    expect(passesForSingle).toBe(1);
    // At most the cap per pass: the 6,001 changes took at least 7 passes.
    expect(applies()).toBeGreaterThanOrEqual(7);
    expect(Math.max(...b.calls.filter((c) => c.kind === 'apply').map((c) => c.ops))).toBeLessThanOrEqual(1000);
    expect(d.failed).toEqual([]);
    expect(d.queueDepth).toBe(0);
  }, 60_000);
});
