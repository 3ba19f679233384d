// Daemon memory and CPU: `fib-offload run` (XDP backend) in the convergence
// bench's topology (dut with two veth ports to p1/p2, permanent neighbours),
// measured (1) at idle, started on tables of growing size up to N routes (RSS
// and CPU% of the daemon process, all its threads), and (2) at N routes under a
// steady stream of route changes (default 1,000/s: a route added and the one
// added `window` changes earlier deleted, through one long-lived paced
// `ip -force -batch -`), with the daemon's batches and how long it takes to
// drain once the stream stops. Figures only; everything is removed
// afterwards, on failure and on Ctrl-C too.
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StatusJson } from '../src/daemon/status.js';
import {
  CLI, Daemon, NsHttp, delNs, twoPortDut, dist, now, removePins, sampleSum, sleep, stat, type Dist, type Ns, type Stat,
} from './converge-lib.js';

export interface MemoryOptions {
  /**
   * IPv6 routes (distinct /48s via a link-local gateway on eth2) added with
   * the largest size, so its idle sample and the churn runs have both
   * families (issue 17's full-table case: 1M IPv4 + 200k IPv6). 0: none.
   */
  v6Routes?: number;
  /** Table sizes to measure at idle, ascending; the last is the churn table. 0 = the empty table. */
  sizes: number[];
  /** Seconds of idle sampling per size. */
  idleSeconds: number;
  /** Route changes per second, seconds per churn run, churn runs. */
  churnRate: number;
  churnSeconds: number;
  churnRepeats: number;
  /** How long to wait for the daemon to catch up after a churn run (s); past it, the remaining runs are skipped. */
  drainTimeoutSeconds?: number;
  log?: (s: string) => void;
}

export interface IdleSample {
  routes: number;
  /** IPv6 routes in the table besides `routes` (absent: none). */
  routesV6?: number;
  /** Plan entries once converged. */
  entries: number;
  /** `ip -batch` adding the routes since the previous size (daemon stopped), and the daemon's start-up on them: spawn → "ready" (s). */
  ipBatchSeconds: number;
  readySeconds: number;
  /** VmRSS samples (every 250 ms) over the idle window, MB; VmHWM (peak so far), MB. */
  rssMB: Stat;
  hwmMB: number;
  /** CPU% of the daemon (user + system, all threads) per second of the idle window; 100 = one core. */
  cpuPct: Stat;
  /**
   * Where the RSS is, from the daemon's own /metrics at the end of the idle
   * window (prom-client's process metrics): V8 heap in use and reserved, and
   * memory outside the heap (typed arrays such as the mirror's route columns
   * and the flat DIR-24-8 shadow), MB.
   */
  heap?: { usedMB: number; totalMB: number; externalMB: number };
}

export interface ChurnRun {
  routes: number;
  targetRate: number;
  /** Changes written per second (what `ip` was given). */
  writtenRate: number;
  seconds: number;
  rssMB: Stat;
  hwmMB: number;
  cpuPct: Stat;
  /** Mean CPU% over the whole run. */
  cpuPctMean: number;
  eventsReceived: number;
  batches: number;
  eventsPerBatch: Stat;
  /** The daemon's per-batch `ms` (first event's arrival → backend acknowledgement). */
  batchMs: Dist;
  /** Events the daemon applied while the writer ran, per second (it keeps up when this is about `writtenRate`). */
  appliedRateWhileWriting: number;
  /**
   * Writer stopped → the daemon has received and applied one event per change and is idle with the
   * expected table (s); null: not within drainTimeoutSeconds.
   */
  drainSeconds: number | null;
  /** How it caught up: every event applied, or a full resync (periodic, or after a socket overrun) since the writer stopped. */
  caughtUpBy: 'events' | 'resync' | null;
  /** Events still to apply when the drain wait gave up (0 when drained). */
  backlogAtTimeout: number;
  resyncs: number;
  ipErrors: number;
}

export interface MemoryResult {
  sizes: number[];
  idle: IdleSample[];
  churn: ChurnRun[];
  churnSummary: { cpuPct: Stat; rssMB: Stat; batchMsP50: Stat; drainSeconds: Stat; appliedRateWhileWriting: Stat } | null;
  clockTicks: number;
  wallSeconds: number;
}

const LISTEN = '127.0.0.1:19481';
const GW = '10.2.0.2';
/** Table routes: distinct /24s from 11.0.0.0 up. */
const tableDst = (i: number): string => `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
/** IPv6 table routes: distinct /48s from 2001:db8::/48 up. */
const tableDst6 = (i: number): string => `2001:${(0xdb8 + (i >> 16)).toString(16)}:${(i & 0xffff).toString(16)}::/48`;
const GW6 = 'fe80::2';
/** Churn routes: 4096 /24s in 172.16.0.0/12, reused round-robin (each long gone when reused). */
const churnDst = (j: number): string => `172.${16 + ((j >> 8) & 15)}.${j & 255}.0/24`;

export async function benchMemory(opts: MemoryOptions): Promise<MemoryResult> {
  const log = opts.log ?? (() => {});
  const prefix = `fob-bench-${process.pid}-mem`;
  const names = { dut: `${prefix}-dut`, p1: `${prefix}-p1`, p2: `${prefix}-p2` };
  const tmp = join(tmpdir(), prefix);
  const children = new Set<ChildProcess>();
  let dut: Ns | null = null;
  let pins = '';
  let http: NsHttp | null = null;
  let daemon: Daemon | null = null;
  const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) c.kill('SIGKILL');
    const dm = daemon as Daemon | null;
    if (dm?.alive) {
      dm.signal('SIGKILL');
      for (let i = 0; i < 100 && isLive(dm.pid); i++) spawnSync('sleep', ['0.05']);
    }
    http?.stop();
    if (dut) spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, CLI, 'flush'], { timeout: 60_000 });
    if (pins) removePins(pins);
    for (const n of Object.values(names)) delNs(n);
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`memory: ${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const t0 = now();
  try {
    for (const n of Object.values(names)) delNs(n);
    mkdirSync(tmp, { recursive: true });
    const { dut: d, p2 } = await twoPortDut(names);
    dut = d;
    pins = d.pinDir();
    const v6 = opts.v6Routes ?? 0;
    if (v6 > 0) {
      // IPv6 on the dut's eth2 only, from the start, so the empty table's entry count (the base) includes what it adds.
      d.sysctl('net.ipv6.conf.eth2.disable_ipv6=0');
      d.ip('-6', 'neigh', 'replace', GW6, 'lladdr', p2.mac('eth0'), 'dev', 'eth2', 'nud', 'permanent');
    }
    http = new NsHttp(d, 120_000);

    // --- 1. idle at growing table sizes -----------------------------------
    // The routes are added with the daemon stopped and the daemon started on
    // them: its RSS after a start-up is reproducible, and growing the table
    // under a running daemon costs a full re-plan per batch (the convergence
    // bench measures that).
    const idle: IdleSample[] = [];
    let have = 0;
    let dm: Daemon | null = null;
    let baseEntries = 0;
    // The empty table first: its plan entries (the neighbours' /32s) are the base of every count.
    const sizes = opts.sizes[0] === 0 ? opts.sizes : [0, ...opts.sizes];
    for (const size of sizes) {
      let ipBatchSeconds = 0;
      if (size > have) {
        if (dm) await dm.stop('SIGTERM');
        const file = join(tmp, `add-${size}`);
        const lines = Array.from({ length: size - have }, (_, k) => `route add ${tableDst(have + k)} via ${GW} dev eth2 proto bgp`);
        if (size === sizes[sizes.length - 1]) for (let k = 0; k < v6; k++) lines.push(`route add ${tableDst6(k)} via ${GW6} dev eth2 proto bgp`);
        writeFileSync(file, lines.join('\n') + '\n');
        log(`memory: adding ${size - have} routes (table ${size})${size === sizes[sizes.length - 1] && v6 > 0 ? ` and ${v6} IPv6 routes` : ''}, daemon stopped`);
        const t = now();
        await runAsync(['ip', '-n', d.name, '-batch', file], children);
        ipBatchSeconds = (now() - t) / 1e3;
        have = size;
        rmSync(file, { force: true });
        dm = null;
      }
      if (!dm) {
        dm = new Daemon(d, http, LISTEN, ['--ports', 'eth1,eth2', '--metrics', LISTEN]);
        daemon = dm;
        await dm.waitLog('ready', (l) => l.msg === 'ready', 0, 900_000);
        if (size === 0) baseEntries = (await dm.status()).counts!.entries;
      }
      const readySeconds = (dm.logs.find((l) => l.msg === 'ready')!.seen - dm.started) / 1e3;
      const sizeV6 = size === sizes[sizes.length - 1] ? v6 : 0;
      await waitConverged(dm, baseEntries + size + sizeV6, 300_000);
      await sleep(2000); // let the start-up's garbage and timers settle
      const w = await new ProcSampler(dm.pid, clockTicks).window(opts.idleSeconds);
      const entries = (await dm.status()).counts!.entries;
      const heap = heapOf(await dm.metrics());
      idle.push({ routes: size, ...(sizeV6 > 0 ? { routesV6: sizeV6 } : {}), entries, ipBatchSeconds, readySeconds, rssMB: stat(w.rss), hwmMB: w.hwm, cpuPct: stat(w.cpu), ...(heap ? { heap } : {}) });
      log(`memory:   ${size} routes${sizeV6 > 0 ? ` + ${sizeV6} IPv6` : ''}: ready after ${readySeconds.toFixed(1)} s; at idle RSS ${stat(w.rss).median.toFixed(0)} MB, ` +
        `CPU ${stat(w.cpu).median.toFixed(1)}%` + (heap ? `; V8 heap ${heap.usedMB.toFixed(0)} MB used of ${heap.totalMB.toFixed(0)}, external ${heap.externalMB.toFixed(0)} MB` : ''));
    }
    if (!dm) throw new Error('memory: no table sizes');
    const sampler = new ProcSampler(dm.pid, clockTicks);

    // --- 2. steady route changes at the largest size -------------------------
    const churn: ChurnRun[] = [];
    const window = Math.max(1, Math.round(opts.churnRate / 2)); // a route lives about a second
    // The first `window` routes exist before the stream starts: every change after is an add and a delete.
    await runAsync(['ip', '-n', d.name, '-batch', '-'], children,
      Array.from({ length: window }, (_, j) => `route add ${churnDst(j)} via ${GW} dev eth2 proto static`).join('\n') + '\n');
    const churnEntries = baseEntries + have + v6 + window;
    await waitConverged(dm, churnEntries, 300_000);
    let next = 0; // churn route index: add next + window, delete next
    for (let r = 0; r < opts.churnRepeats && opts.churnSeconds > 0; r++) {
      await sleep(1000);
      log(`memory: ${opts.churnRate} route changes/s for ${opts.churnSeconds} s with ${have} routes${v6 > 0 ? ` and ${v6} IPv6` : ''} (run ${r + 1}/${opts.churnRepeats})`);
      const m0 = await dm.metrics();
      const applied0 = (await dm.status()).events.applied;
      const from = dm.logs.length;
      const ip: ChildProcessWithoutNullStreams = spawn('ip', ['-n', d.name, '-force', '-batch', '-']);
      children.add(ip);
      let ipErrors = 0;
      createInterface({ input: ip.stderr }).on('line', () => { ipErrors++; });
      ip.stdout.resume();
      const ipDone = new Promise<void>((resolve) => ip.once('close', () => resolve()));
      const sampling = sampler.window(opts.churnSeconds);
      const ts = now();
      let written = 0;
      while (now() - ts < opts.churnSeconds * 1000) {
        const due = Math.floor(((now() - ts) / 1e3) * opts.churnRate);
        let chunk = '';
        for (; written < due; written++) {
          chunk += written % 2 === 0
            ? `route add ${churnDst(next + window)} via ${GW} dev eth2 proto static\n`
            : `route del ${churnDst(next++)}\n`;
        }
        if (chunk) ip.stdin.write(chunk);
        await sleep(10);
      }
      const seconds = (now() - ts) / 1e3;
      ip.stdin.end();
      await ipDone;
      children.delete(ip);
      const tStop = now();
      const stopAt = Date.now();
      const applied1 = (await dm.status()).events.applied;
      // An odd count left one route added and not yet deleted: even it out.
      if (written % 2 === 1) await runAsync(['ip', '-n', d.name, 'route', 'del', churnDst(next++)], children);
      const w = await sampling;
      // The stream keeps the table's size constant at every point, so the entry count alone
      // says nothing. Caught up = the daemon has received one event per change written (the
      // kernel sends exactly one) and applied them all, or has finished a full resync (a fresh
      // dump: the events still queued are dropped with the old socket) since the writer
      // stopped; and the table has the expected size, nothing queued.
      const expectedEvents = written + (written % 2);
      const received0 = sampleSum(m0, 'fib_offload_events_total');
      let caughtUpBy: 'events' | 'resync' | null = null;
      const caughtUp = async (): Promise<boolean> => {
        const s = await dm.status();
        if (s.lastResync && Date.parse(s.lastResync.at) > stopAt) caughtUpBy = 'resync';
        else if (sampleSum(await dm.metrics(), 'fib_offload_events_total') - received0 >= expectedEvents) caughtUpBy = 'events';
        else caughtUpBy = null;
        return caughtUpBy !== null;
      };
      const drained = await tryConverge(dm, churnEntries, (opts.drainTimeoutSeconds ?? 600) * 1000, caughtUp);
      const drainSeconds = drained === true ? (now() - tStop) / 1e3 : null;
      const m1 = await dm.metrics();
      const batches = dm.logs.slice(from).filter((l) => l.msg === 'programmed batch');
      const run: ChurnRun = {
        routes: have, targetRate: opts.churnRate, writtenRate: written / seconds, seconds,
        rssMB: stat(w.rss), hwmMB: w.hwm, cpuPct: stat(w.cpu), cpuPctMean: w.cpuMean,
        eventsReceived: sampleSum(m1, 'fib_offload_events_total') - sampleSum(m0, 'fib_offload_events_total'),
        batches: batches.length,
        eventsPerBatch: stat(batches.map((l) => Number(l['events']))),
        batchMs: dist(batches.map((l) => Number(l['ms']))),
        appliedRateWhileWriting: (applied1 - applied0) / seconds,
        drainSeconds,
        caughtUpBy: drained === true ? caughtUpBy : null,
        backlogAtTimeout: drained === true ? 0 : expectedEvents - (drained.events.applied - applied0),
        resyncs: sampleSum(m1, 'fib_offload_resyncs_total') - sampleSum(m0, 'fib_offload_resyncs_total'),
        ipErrors,
      };
      churn.push(run);
      log(`memory:   CPU ${run.cpuPctMean.toFixed(0)}% (mean), RSS ${run.rssMB.median.toFixed(0)} MB, ${run.batches} batches ` +
        `(p50 ${run.batchMs.p50.toFixed(0)} ms, ${run.eventsPerBatch.median} events), applied ${run.appliedRateWhileWriting.toFixed(0)} events/s while writing, ` +
        (drainSeconds === null ? `NOT drained ${opts.drainTimeoutSeconds ?? 600} s after the writer stopped (${run.backlogAtTimeout} events behind): no more runs`
          : `caught up ${drainSeconds.toFixed(2)} s after the writer stopped (by ${run.caughtUpBy === 'resync' ? 'a full resync' : 'applying every event'})`));
      if (drainSeconds === null) break;
    }
    await dm.stop('SIGTERM');
    return {
      sizes, idle, churn,
      churnSummary: churn.length ? {
        cpuPct: stat(churn.map((c) => c.cpuPctMean)),
        rssMB: stat(churn.map((c) => c.rssMB.median)),
        batchMsP50: stat(churn.map((c) => c.batchMs.p50)),
        drainSeconds: stat(churn.flatMap((c) => (c.drainSeconds === null ? [] : [c.drainSeconds]))),
        appliedRateWhileWriting: stat(churn.map((c) => c.appliedRateWhileWriting)),
      } : null,
      clockTicks,
      wallSeconds: (now() - t0) / 1e3,
    };
  } finally {
    const dm = daemon as Daemon | null;
    if (dm?.alive) await dm.stop('SIGTERM', 5_000).catch(() => undefined);
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** RSS every 250 ms and CPU% per second of one process, from /proc. */
class ProcSampler {
  constructor(readonly pid: number, readonly ticks: number) {}

  /** utime + stime of the whole process (all threads), seconds. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / this.ticks; // fields 14 and 15 of proc(5)
  }

  memory(): { rss: number; hwm: number } {
    const text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  }

  async window(seconds: number): Promise<{ rss: number[]; cpu: number[]; cpuMean: number; hwm: number }> {
    const rss: number[] = [];
    const cpu: number[] = [];
    const start = now();
    const c0 = this.cpuSeconds();
    let mark = { t: start, c: c0 };
    for (let i = 1; now() - start < seconds * 1000; i++) {
      await sleep(Math.max(0, start + i * 250 - now()));
      rss.push(this.memory().rss);
      if (i % 4 === 0) {
        const t = now();
        const c = this.cpuSeconds();
        cpu.push((100 * (c - mark.c)) / ((t - mark.t) / 1e3));
        mark = { t, c };
      }
    }
    const cpuMean = (100 * (this.cpuSeconds() - c0)) / ((now() - start) / 1e3);
    return { rss, cpu, cpuMean, hwm: this.memory().hwm };
  }
}

/** Poll /status until the plan has `entries` entries, nothing is queued, and that holds for 500 ms. */
async function waitConverged(dm: Daemon, entries: number, deadlineMs: number): Promise<void> {
  const r = await tryConverge(dm, entries, deadlineMs);
  if (r !== true) throw new Error(`daemon not converged on ${entries} entries after ${deadlineMs} ms: ${JSON.stringify(r.counts)} ${JSON.stringify(r.events)}`);
}

/**
 * The same; true once converged, else the last status at the deadline.
 * `more`, if given, must also hold (checked only when the rest does).
 */
async function tryConverge(dm: Daemon, entries: number, deadlineMs: number, more?: () => Promise<boolean>): Promise<true | StatusJson> {
  const until = now() + deadlineMs;
  let since: number | null = null;
  let applied = -1;
  for (;;) {
    const s = await dm.status();
    const ok = s.ready && s.counts?.entries === entries && s.events.queueDepth === 0 && (!more || (await more()));
    if (!ok || s.events.applied !== applied) {
      since = ok ? now() : null;
      applied = s.events.applied;
    } else if (since !== null && now() - since >= 500) return true;
    if (now() > until) return s;
    await sleep(200);
  }
}

/** Run a command to completion without blocking the event loop (the daemon's log keeps being read). */
function runAsync(argv: readonly string[], children: Set<ChildProcess>, input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    children.add(p);
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    p.once('close', (code) => {
      children.delete(p);
      if (code === 0) resolve();
      else reject(new Error(`${argv.join(' ')} failed (${code}): ${err.slice(0, 2000)}`));
    });
    p.stdin.end(input ?? '');
  });
}

function isLive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The V8 heap and external memory gauges of a Prometheus exposition (prom-client's defaults), MB; null if absent. */
export function heapOf(metrics: string): { usedMB: number; totalMB: number; externalMB: number } | null {
  const read = (name: string): number | null => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(metrics);
    return m ? Number(m[1]) / 2 ** 20 : null;
  };
  const usedMB = read('nodejs_heap_size_used_bytes');
  const totalMB = read('nodejs_heap_size_total_bytes');
  const externalMB = read('nodejs_external_memory_bytes');
  return usedMB === null || totalMB === null || externalMB === null ? null : { usedMB, totalMB, externalMB };
}
