// Running `fib-offload run` inside a test namespace and talking to it: its
// JSON logs (stderr), its HTTP endpoints (reachable only from inside the
// namespace, so through a small HTTP client process started there), its
// Prometheus text, and what it programmed into the pinned maps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StatusJson } from '../../../src/daemon/status.js';
import { decodeRoute } from '../../../src/xdp/layout.js';
import { PinnedMaps } from '../../../src/xdp/maps.js';
import type { PlanJson } from '../../../src/plan/json.js';
import type { Netns } from './netns.js';
import { CLI } from './probe.js';

/** The daemon's entry point; FOT_DAEMON_CLI runs another build of it (e.g. a patched copy of dist/) under the same tests. */
const DAEMON_CLI = process.env['FOT_DAEMON_CLI'] ?? CLI;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { NsHttp, type HttpReply } from '../../../bench/ns-http.js';
import type { NsHttp as NsHttpT } from '../../../bench/ns-http.js';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * `fib-offload run ARGS` in a namespace: with `nsenter --net` (host mounts),
 * or with `ip netns exec` as the README tells operators (it execs: the
 * child's pid is the daemon's).
 */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  /** stderr lines that are not JSON logs (a crash, a usage error). */
  readonly other: string[] = [];
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;
  stdout = '';

  constructor(ns: Netns, readonly http: NsHttpT, readonly listen: string, args: readonly string[], env: Record<string, string> = {},
    how: 'nsenter' | 'ip netns exec' = 'nsenter') {
    const argv = [process.execPath, DAEMON_CLI, 'run', ...args];
    const [cmd, ...pre] = how === 'nsenter' ? ['nsenter', `--net=/run/netns/${ns.name}`] : ['ip', 'netns', 'exec', ns.name];
    this.child = spawn(cmd!, [...pre, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString(); });
    createInterface({ input: this.child.stderr! }).on('line', (l) => {
      try {
        this.logs.push(JSON.parse(l) as LogLine);
      } catch {
        this.other.push(l);
      }
    });
    // 'close' fires after stdout/stderr drain, so the last log lines are in `logs`.
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => {
      this.exit = { code, signal };
      resolve(this.exit);
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  url(path: string): string {
    return `http://${this.listen}${path}`;
  }

  /** Poll /healthz until 200; fail early (with the logs) if the process dies. */
  async waitReady(deadlineMs = 20_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      if (!this.alive) throw new Error(`daemon exited ${JSON.stringify(this.exit)} before ready:\n${this.logText()}`);
      try {
        if ((await this.http.get(this.url('/healthz'))).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`daemon not ready after ${deadlineMs} ms:\n${this.logText()}`);
      await sleep(50);
    }
  }

  async status(): Promise<StatusJson> {
    const r = await this.http.get(this.url('/status'));
    if (r.status !== 200) throw new Error(`/status: HTTP ${r.status}`);
    return JSON.parse(r.body) as StatusJson;
  }

  async metrics(): Promise<string> {
    const r = await this.http.get(this.url('/metrics'));
    if (r.status !== 200) throw new Error(`/metrics: HTTP ${r.status}`);
    return r.body;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, sig);
  }

  /** Send `sig` and wait for the exit (SIGKILL after the deadline). */
  async stop(sig: NodeJS.Signals = 'SIGTERM', deadlineMs = 10_000): Promise<Exit> {
    if (!this.alive) return this.exit!;
    this.signal(sig);
    const t = setTimeout(() => this.signal('SIGKILL'), deadlineMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }

  /** First log line matching, or undefined. */
  log(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.logs.find(pred);
  }

  async waitLog(what: string, pred: (l: LogLine) => boolean, deadlineMs = 10_000, from = 0): Promise<LogLine> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const l = this.logs.slice(from).find(pred);
      if (l) return l;
      if (!this.alive) throw new Error(`daemon exited while waiting for ${what}:\n${this.logText()}`);
      if (Date.now() > until) throw new Error(`no log line for ${what} after ${deadlineMs} ms`);
      await sleep(10);
    }
  }

  /** `p`, with the daemon's last log lines added to its failure. */
  async withLogs<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      e.message += `\n--- daemon log (last lines) ---\n${this.logText()}`;
      throw e;
    }
  }

  logText(last = 40): string {
    return [...this.logs.slice(-last).map((l) => JSON.stringify(l)), ...this.other.slice(-20)].join('\n');
  }
}

// ---------------------------------------------------------------------------
// Prometheus text.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The sample's value (0 if absent: counters with labels print nothing before their first increment). */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const s = parseSamples(text).find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

export interface Histogram {
  /** Cumulative counts by upper bound, ascending, +Inf last. */
  readonly buckets: ReadonlyArray<{ le: number; count: number }>;
  readonly count: number;
  readonly sum: number;
}

export function histogram(text: string, name: string): Histogram {
  const samples = parseSamples(text);
  const buckets = samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => ({ le: s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']), count: s.value }))
    .sort((a, b) => a.le - b.le);
  return {
    buckets,
    count: samples.find((s) => s.name === `${name}_count`)?.value ?? 0,
    sum: samples.find((s) => s.name === `${name}_sum`)?.value ?? 0,
  };
}

/** after - before, bucket by bucket (the observations made in between). */
export function histogramDelta(after: Histogram, before: Histogram): Histogram {
  return {
    buckets: after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) })),
    count: after.count - before.count,
    sum: after.sum - before.sum,
  };
}

/** Quantile estimate as Prometheus' histogram_quantile: linear within the bucket. */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.buckets[h.buckets.length - 1]?.count ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // beyond the last finite bound
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// ---------------------------------------------------------------------------
// The plan and what is installed.

/** `fib-offload plan --json ARGS`, one-shot in the namespace. */
export function planOf(ns: Netns, ...args: string[]): PlanJson {
  // 20k entries print well over spawnSync's default 1 MiB of stdout.
  const p = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, CLI, 'plan', '--json', ...args], {
    encoding: 'utf8', maxBuffer: 512 << 20, timeout: 60_000,
  });
  if (p.status !== 0) throw new Error(`plan failed (${p.status ?? p.signal ?? p.error?.message}): ${p.stderr}`);
  return JSON.parse(p.stdout) as PlanJson;
}

export interface InstalledRoute {
  readonly table: number;
  readonly family: 4 | 6;
  readonly dst: string;
  readonly action: 'forward' | 'punt';
}

/** The route entries in fo_lpm4 / fo_lpm6 (group ids left out: they are the daemon's own). */
export function installedRoutes(pinDir: string): { v4: InstalledRoute[]; v6: InstalledRoute[] } {
  if (!existsSync(join(pinDir, 'maps'))) throw new Error(`nothing pinned at ${pinDir}`);
  const m = PinnedMaps.open(join(pinDir, 'maps'));
  try {
    const read = (map: 'fo_lpm4' | 'fo_lpm6'): InstalledRoute[] =>
      m.entries(map).map(([k, v]) => {
        const r = decodeRoute(k, v);
        return { table: r.table, family: r.family, dst: r.dst, action: r.action };
      });
    return { v4: read('fo_lpm4'), v6: read('fo_lpm6') };
  } finally {
    m.close();
  }
}

export const routeKey = (r: { table: number; family: number; dst: string; action: string }): string => `${r.table}|${r.family}|${r.dst}|${r.action}`;

/** Which links in the namespace have an XDP program attached: dev → program id. */
export function xdpAttached(ns: Netns): Map<string, number> {
  const links = JSON.parse(ns.ip('-j', '-d', 'link', 'show')) as Array<{ ifname: string; xdp?: { prog?: { id?: number } } }>;
  const out = new Map<string, number>();
  for (const l of links) if (l.xdp?.prog?.id !== undefined) out.set(l.ifname, l.xdp.prog.id);
  return out;
}
