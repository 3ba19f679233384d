// Convergence benchmark: the real daemon (`fib-offload run`, XDP backend) in a
// namespace `fob-bench-<pid>-dut` with two veth ports to two peer namespaces,
// and the kernel's routes changed under it.
//  1. single route changes, one at a time (each its own batch): the daemon's
//     own per-batch `ms` (first event's arrival → backend acknowledgement);
//  2. a burst of N route adds in one `ip -batch`, then their withdrawal: time
//     until /status shows the expected entries with nothing queued (and
//     stays so), cross-checked against fo_lpm4 in the pinned maps;
//  3. start-up with N routes already in the kernel (spawn → "ready"), and the
//     daemon's RSS at idle with them.
// Figures only, no assertions. Everything is removed afterwards (daemon,
// offload, pins, namespaces), on failure and on Ctrl-C too.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PinnedMaps } from '../src/xdp/maps.js';
import type { StatusJson } from '../src/daemon/status.js';
import {
  CLI, Daemon, NsHttp, delNs, twoPortDut, dist, now, removePins, resyncDelta, resyncsByReason, sampleSum, sleep, stat,
  type Dist, type LogLine, type Ns, type Stat,
} from './converge-lib.js';

export interface ConvergeOptions {
  /** Single route adds (then as many deletes), one at a time, on a small table. */
  singles: number;
  /** Single route adds/deletes made with the burst's N routes installed (0: skip). */
  singlesLoaded: number;
  /** Routes in the burst and in the start-up table. */
  burst: number;
  /** Burst add/withdraw cycles, and cold/warm start-ups. */
  repeats: number;
  /** Pause after each single change is acknowledged, ms. */
  pauseMs?: number;
  log?: (s: string) => void;
}

export interface SingleChanges {
  /** Table size (plan entries) while measured. */
  tableEntries: number;
  changes: number;
  /** Daemon's `ms` of batches with events == 1, per kind (ms). */
  add: Dist;
  delete: Dist;
  /** Bench side: the command written to `ip -batch -`'s stdin → the batch's log line read (ms). */
  observedAdd: Dist;
  observedDelete: Dist;
  /** Batches that held more than the one event (left out of the figures). */
  otherBatches: number;
  /** The daemon's `ms` of every single-event batch, in the order measured (the latency CDF chart). */
  samples: { add: number[]; delete: number[] };
}

export interface BurstRun {
  op: 'add' | 'withdraw';
  routes: number;
  /** `ip -batch` start → exit. */
  ipBatchSeconds: number;
  /** `ip -batch` start → the first /status poll of the final stable state (expected entries, queue empty). */
  convergeSeconds: number;
  /** `ip -batch` start → the last "programmed batch" / "full sync installed" line (the last acknowledgement). */
  lastInstallSeconds: number;
  /** Kernel events the daemon received (events_total), applied and batches used (from /status), largest batch, longest batch `ms`. */
  eventsReceived: number;
  events: number;
  batches: number;
  maxBatchEvents: number;
  maxBatchMs: number;
  /** Full resyncs during the run, by reason (ENOBUFS shows as "enobufs"). */
  resyncs: Record<string, number>;
  /** fo_lpm4 entry count after convergence, and the expected count. */
  lpm4: number;
  lpm4Expected: number;
  rssAfterMB: number;
  /** A daemon error during the run (null: none). */
  lastError: string | null;
}

export interface StartupRun {
  kind: 'cold' | 'warm';
  /** Spawn → "ready" line (includes Node start-up and the XDP load/attach). */
  readySeconds: number;
  /** The daemon's own "full sync installed" seconds (dump + mirror + plan + reconcile). */
  syncSeconds: number;
  load: string;
  repairs: number;
  entries: number;
  lpm4: number;
  /** VmRSS 3 s after ready (cold only), and the peak (VmHWM). */
  rssIdleMB?: number;
  hwmMB?: number;
}

export interface ConvergeResult {
  /** Wall time of each phase and of the whole bench, s. */
  wallSeconds: { setup: number; singles: number; singlesLoaded: number; bursts: number; startups: number; total: number };
  routes: number;
  repeats: number;
  coalesceMs: number;
  baseline: { entries: number; lpm4: number; emptyStartReadySeconds: number };
  singles: SingleChanges;
  singlesLoaded?: SingleChanges;
  bursts: BurstRun[];
  burstSummary: {
    add: { convergeSeconds: Stat; ipBatchSeconds: Stat; lastInstallSeconds: Stat; batches: Stat; enobufsResyncs: number };
    withdraw: { convergeSeconds: Stat; ipBatchSeconds: Stat; lastInstallSeconds: Stat; batches: Stat; enobufsResyncs: number };
  };
  /** `ip -batch` of the N routes with no daemon running (for comparison with the burst runs). */
  ipBatchNoDaemonSeconds: number;
  startups: StartupRun[];
  startupSummary: { coldReadySeconds: Stat; coldSyncSeconds: Stat; warmReadySeconds: Stat; warmSyncSeconds: Stat; rssIdleMB: Stat; hwmMB: Stat };
}

const LISTEN = '127.0.0.1:19480';
const PORTS = 'eth1,eth2';
const GW = '10.2.0.2';
const POLL_MS = 50;
const STABLE_MS = 500;

/** Burst routes: distinct /24s from 11.0.0.0 up. */
const burstDst = (i: number): string => `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
/** Single-change routes: /24s in 172.16.0.0/12 (base 16) or 172.24.0.0/13 (base 24). */
const singleDst = (base: number, i: number): string => `172.${base + (i >> 8)}.${i & 255}.0/24`;

export async function benchConverge(opts: ConvergeOptions): Promise<ConvergeResult> {
  const log = opts.log ?? (() => {});
  const pauseMs = opts.pauseMs ?? 5;
  const prefix = `fob-bench-${process.pid}`;
  const names = { dut: `${prefix}-dut`, p1: `${prefix}-p1`, p2: `${prefix}-p2` };
  const tmp = join(tmpdir(), `${prefix}-converge`);
  let dut: Ns | null = null;
  let pins = '';
  let http: NsHttp | null = null;
  let daemon: Daemon | null = null;
  const children = new Set<{ kill: (s: NodeJS.Signals) => void }>();

  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) c.kill('SIGKILL');
    if (daemon?.alive) {
      daemon.signal('SIGCONT');
      daemon.signal('SIGKILL');
      // Wait for it to be gone before flushing (synchronously: this also runs from a signal handler).
      for (let i = 0; i < 100 && existsSync(`/proc/${daemon.pid}`) && !isZombie(daemon.pid); i++) spawnSync('sleep', ['0.05']);
    }
    http?.stop();
    if (dut) spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, CLI, 'flush'], { timeout: 30_000 });
    if (pins) removePins(pins);
    for (const n of Object.values(names)) delNs(n);
    rmSync(tmp, { recursive: true, force: true });
  };
  // Ctrl-C reaches the daemon and helpers too (same process group); this
  // process cleans up and leaves (the rest of the bench run is abandoned).
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`converge: ${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tStart = now();
  const wall = { setup: 0, singles: 0, singlesLoaded: 0, bursts: 0, startups: 0, total: 0 };
  let tPhase = tStart;
  const phase = (k: keyof typeof wall): void => {
    const t = now();
    wall[k] += (t - tPhase) / 1e3;
    tPhase = t;
  };
  try {
    for (const n of Object.values(names)) delNs(n);
    mkdirSync(tmp, { recursive: true });
    const { dut: d } = await twoPortDut(names);
    dut = d;
    pins = d.pinDir();
    http = new NsHttp(d, 60_000);
    const h = http;
    const lpm4 = (): number => {
      const m = PinnedMaps.open(join(pins, 'maps'));
      try {
        return m.entries('fo_lpm4').length;
      } finally {
        m.close();
      }
    };
    const start = async (what: string): Promise<{ d: Daemon; ready: LogLine; sync: LogLine }> => {
      const dm = new Daemon(d, h, LISTEN, ['--ports', PORTS, '--metrics', LISTEN]);
      daemon = dm;
      const ready = (await dm.waitLog(`ready (${what})`, (l) => l.msg === 'ready', 0, 300_000)).line;
      const sync = dm.logs.find((l) => l.msg === 'full sync installed')!;
      if (dm.logs[0]?.['pid'] !== dm.pid) throw new Error(`daemon pid ${String(dm.logs[0]?.['pid'])} is not the spawned ${dm.pid}`);
      return { d: dm, ready, sync };
    };

    // --- 1. single changes on a small table ------------------------------
    log(`converge: namespace ${d.name}; daemon start on an empty table`);
    const first = await start('empty table');
    let dm = first.d;
    const s0 = await dm.status();
    const base = { entries: s0.counts!.entries, forward: s0.counts!.forward, lpm4: lpm4() };
    phase('setup');
    log(`converge: ${opts.singles} single route adds then deletes, one at a time (${pauseMs} ms pause after each)`);
    const singles = await singleChanges(d, dm, opts.singles, 16, pauseMs, base.entries, children);
    phase('singles');

    // --- 2. bursts --------------------------------------------------------
    const addFile = join(tmp, 'add');
    const delFile = join(tmp, 'del');
    writeFileSync(addFile, Array.from({ length: opts.burst }, (_, i) => `route add ${burstDst(i)} via ${GW} dev eth2 proto bgp`).join('\n') + '\n');
    writeFileSync(delFile, Array.from({ length: opts.burst }, (_, i) => `route del ${burstDst(i)} via ${GW} dev eth2 proto bgp`).join('\n') + '\n');
    const bursts: BurstRun[] = [];
    let singlesLoaded: SingleChanges | undefined;
    for (let r = 0; r < opts.repeats; r++) {
      const withRoutes = { entries: base.entries + opts.burst, forward: base.forward + opts.burst, lpm4: base.lpm4 + opts.burst };
      log(`converge: burst ${r + 1}/${opts.repeats}: ${opts.burst} route adds in one ip -batch`);
      bursts.push(await burst(d, dm, 'add', addFile, opts.burst, withRoutes, lpm4, children));
      log(`converge:   converged in ${bursts.at(-1)!.convergeSeconds.toFixed(2)} s (ip -batch ${bursts.at(-1)!.ipBatchSeconds.toFixed(2)} s, ${bursts.at(-1)!.batches} batches)`);
      if (r === opts.repeats - 1 && opts.singlesLoaded > 0) {
        log(`converge: ${opts.singlesLoaded} single route adds then deletes with ${opts.burst} routes installed`);
        phase('bursts');
        singlesLoaded = await singleChanges(d, dm, opts.singlesLoaded, 24, pauseMs, withRoutes.entries, children);
        phase('singlesLoaded');
      }
      log(`converge: burst ${r + 1}/${opts.repeats}: withdrawing them in one ip -batch`);
      bursts.push(await burst(d, dm, 'withdraw', delFile, opts.burst, base, lpm4, children));
      log(`converge:   converged in ${bursts.at(-1)!.convergeSeconds.toFixed(2)} s (ip -batch ${bursts.at(-1)!.ipBatchSeconds.toFixed(2)} s, ${bursts.at(-1)!.batches} batches)`);
    }
    await dm.stop('SIGTERM');
    phase('bursts');

    // --- 3. start-up with N routes present --------------------------------
    const t = now();
    d.ip('-batch', addFile);
    const ipBatchNoDaemonSeconds = (now() - t) / 1e3;
    const startups: StartupRun[] = [];
    for (let r = 0; r < opts.repeats; r++) {
      for (const kind of ['cold', 'warm'] as const) {
        if (kind === 'cold') {
          const f = d.agent('flush');
          if (f.status !== 0) throw new Error(`flush failed: ${f.stderr}`);
        }
        log(`converge: start-up ${r + 1}/${opts.repeats} (${kind}) with ${opts.burst} routes`);
        const st = await start(kind);
        dm = st.d;
        const run: StartupRun = {
          kind,
          readySeconds: (st.ready.seen - dm.started) / 1e3,
          syncSeconds: Number(st.sync['seconds']),
          load: String(dm.logs.find((l) => l.msg === 'xdp program loaded')?.['how']),
          repairs: Number(st.sync['repairs']),
          entries: Number(st.sync['entries']),
          lpm4: lpm4(),
        };
        if (kind === 'cold') {
          await sleep(3000);
          const m = dm.memory();
          run.rssIdleMB = m.rssMB;
          run.hwmMB = m.hwmMB;
        }
        log(`converge:   ready after ${run.readySeconds.toFixed(2)} s (sync ${run.syncSeconds.toFixed(2)} s, ${run.load}, ${run.repairs} repairs)` +
          `${run.rssIdleMB ? `, RSS ${run.rssIdleMB.toFixed(0)} MB` : ''}`);
        startups.push(run);
        await dm.stop('SIGTERM');
      }
    }

    phase('startups');
    wall.total = (now() - tStart) / 1e3;
    const sum = (op: 'add' | 'withdraw') => {
      const b = bursts.filter((x) => x.op === op);
      return {
        convergeSeconds: stat(b.map((x) => x.convergeSeconds)),
        ipBatchSeconds: stat(b.map((x) => x.ipBatchSeconds)),
        lastInstallSeconds: stat(b.map((x) => x.lastInstallSeconds)),
        batches: stat(b.map((x) => x.batches)),
        enobufsResyncs: b.reduce((a, x) => a + (x.resyncs['enobufs'] ?? 0), 0),
      };
    };
    const cold = startups.filter((s) => s.kind === 'cold');
    const warm = startups.filter((s) => s.kind === 'warm');
    return {
      wallSeconds: wall,
      routes: opts.burst,
      repeats: opts.repeats,
      coalesceMs: 2,
      baseline: { entries: base.entries, lpm4: base.lpm4, emptyStartReadySeconds: (first.ready.seen - first.d.started) / 1e3 },
      singles,
      ...(singlesLoaded ? { singlesLoaded } : {}),
      bursts,
      burstSummary: { add: sum('add'), withdraw: sum('withdraw') },
      ipBatchNoDaemonSeconds,
      startups,
      startupSummary: {
        coldReadySeconds: stat(cold.map((s) => s.readySeconds)),
        coldSyncSeconds: stat(cold.map((s) => s.syncSeconds)),
        warmReadySeconds: stat(warm.map((s) => s.readySeconds)),
        warmSyncSeconds: stat(warm.map((s) => s.syncSeconds)),
        rssIdleMB: stat(cold.map((s) => s.rssIdleMB!)),
        hwmMB: stat(cold.map((s) => s.hwmMB!)),
      },
    };
  } finally {
    const dm = daemon as Daemon | null;
    if (dm?.alive) await dm.stop('SIGTERM', 5_000).catch(() => undefined);
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * `n` route adds, then `n` deletes, each written to one long-lived
 * `ip -batch -` and followed, once the daemon logged its batch, by a short
 * pause: every change is a batch of its own.
 */
async function singleChanges(
  d: Ns, dm: Daemon, n: number, base: number, pauseMs: number, tableEntries: number,
  children: Set<{ kill: (s: NodeJS.Signals) => void }>,
): Promise<SingleChanges> {
  const ip: ChildProcessWithoutNullStreams = spawn('ip', ['-n', d.name, '-force', '-batch', '-']);
  children.add(ip);
  let errors = '';
  createInterface({ input: ip.stderr }).on('line', (l) => { errors += `${l}\n`; });
  ip.stdout.resume();
  const out = { add: [] as number[], del: [] as number[], obsAdd: [] as number[], obsDel: [] as number[], other: 0 };
  try {
    for (const op of ['add', 'del'] as const) {
      for (let i = 0; i < n; i++) {
        const from = dm.logs.length;
        const t = now();
        ip.stdin.write(op === 'add' ? `route add ${singleDst(base, i)} via ${GW} dev eth2 proto static\n` : `route del ${singleDst(base, i)}\n`);
        const { line } = await dm.waitLog(`the batch of ${op} ${singleDst(base, i)}`, (l) => l.msg === 'programmed batch', from, 30_000)
          .catch((err: Error) => { throw new Error(`${err.message}\nip: ${errors}`); });
        if (line['events'] === 1) {
          (op === 'add' ? out.add : out.del).push(Number(line['ms']));
          (op === 'add' ? out.obsAdd : out.obsDel).push(line.seen - t);
        } else {
          out.other++;
        }
        await sleep(pauseMs);
      }
    }
  } finally {
    ip.stdin.end();
    await new Promise((r) => (ip.exitCode !== null ? r(null) : ip.once('exit', r)));
    children.delete(ip);
  }
  if (errors) throw new Error(`ip -batch: ${errors}`);
  return {
    tableEntries, changes: n,
    add: dist(out.add), delete: dist(out.del), observedAdd: dist(out.obsAdd), observedDelete: dist(out.obsDel),
    otherBatches: out.other,
    samples: { add: out.add, delete: out.del },
  };
}

/** One `ip -batch FILE`, timed, and the daemon followed until it has converged on `want`. */
async function burst(
  d: Ns, dm: Daemon, op: 'add' | 'withdraw', file: string, routes: number,
  want: { entries: number; forward: number; lpm4: number }, lpm4: () => number,
  children: Set<{ kill: (s: NodeJS.Signals) => void }>,
): Promise<BurstRun> {
  const s0 = await dm.status();
  const text0 = await dm.metrics();
  const m0 = resyncsByReason(text0);
  const from = dm.logs.length;
  const t0 = now();
  const ip = spawn('ip', ['-n', d.name, '-batch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(ip);
  let ipErr = '';
  ip.stderr.on('data', (b: Buffer) => { ipErr += b.toString(); });
  let ipEnd: number | null = null;
  let ipCode: number | null = null;
  ip.once('exit', (code) => { ipEnd = now(); ipCode = code; children.delete(ip); });

  // Poll /status: converged = ip done, expected entries, nothing queued; and still so STABLE_MS later.
  let candidate: { at: number; applied: number; s: StatusJson } | null = null;
  let s1: StatusJson;
  for (;;) {
    const s = await dm.status();
    const at = now();
    if (ipEnd !== null && ipCode !== 0) throw new Error(`ip -batch ${file} failed (${ipCode}): ${ipErr.slice(0, 2000)}`);
    const ok = ipEnd !== null && s.ready && s.counts !== null && s.counts.entries === want.entries &&
      s.counts.forward === want.forward && s.events.queueDepth === 0;
    if (!ok) candidate = null;
    else if (!candidate || candidate.applied !== s.events.applied) candidate = { at, applied: s.events.applied, s };
    else if (at - candidate.at >= STABLE_MS) {
      s1 = s;
      break;
    }
    if (at - t0 > 600_000) throw new Error(`no convergence after 600 s (${op}): ${JSON.stringify(s.counts)} ${JSON.stringify(s.events)}\n${dm.logText()}`);
    await sleep(POLL_MS);
  }
  const text1 = await dm.metrics();
  const m1 = resyncsByReason(text1);
  const done = dm.logs.slice(from).filter((l) => l.msg === 'programmed batch' || l.msg === 'full sync installed');
  const batches = done.filter((l) => l.msg === 'programmed batch');
  return {
    op, routes,
    ipBatchSeconds: (ipEnd! - t0) / 1e3,
    convergeSeconds: (candidate!.at - t0) / 1e3,
    lastInstallSeconds: done.length ? (done.at(-1)!.seen - t0) / 1e3 : NaN,
    eventsReceived: sampleSum(text1, 'fib_offload_events_total') - sampleSum(text0, 'fib_offload_events_total'),
    events: s1.events.applied - s0.events.applied,
    batches: s1.events.batches - s0.events.batches,
    maxBatchEvents: Math.max(0, ...batches.map((l) => Number(l['events']))),
    maxBatchMs: Math.max(0, ...batches.map((l) => Number(l['ms']))),
    resyncs: resyncDelta(m1, m0),
    lpm4: lpm4(),
    lpm4Expected: want.lpm4,
    rssAfterMB: dm.memory().rssMB,
    lastError: s1.lastError && s1.lastError.at !== s0.lastError?.at ? s1.lastError.message : null,
  };
}
