// Helpers for the convergence bench (bench/converge.ts): the test topology's
// namespaces, the daemon (`fib-offload run`) as a child process whose JSON
// log lines are kept with the time each arrived, an HTTP client living in the
// daemon's namespace (the daemon listens on that namespace's loopback),
// Prometheus text, and small statistics. The daemon and every agent command
// run under `nsenter --net` (not `ip netns exec`, which remounts /sys and
// hides the host's bpffs where the agent pins its program and maps).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { StatusJson } from '../src/daemon/status.js';
import { prepareVethPeer } from '../src/xdp/loader.js';

/** The agent's CLI as built (dist/src/cli/main.js); FOT_DAEMON_CLI runs another build of it (as in the tests). */
export const CLI = process.env['FOT_DAEMON_CLI'] ?? fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const now = (): number => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic

// ---------------------------------------------------------------------------
// Namespaces.

export function run(argv: readonly string[], input?: string): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch (err) {
    const e = err as { stderr?: string; status?: number };
    throw new Error(`command failed (${e.status}): ${argv.join(' ')}\n${e.stderr ?? ''}`);
  }
}

export class Ns {
  constructor(readonly name: string) {}
  ip(...args: string[]): string {
    return run(['ip', '-n', this.name, ...args]);
  }
  ipBatch(lines: readonly string[]): void {
    run(['ip', '-n', this.name, '-batch', '-'], lines.join('\n') + '\n');
  }
  sysctl(...kv: string[]): void {
    run(['ip', 'netns', 'exec', this.name, 'sysctl', '-qw', ...kv]);
  }
  mac(dev: string): string {
    return (JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ address: string }>)[0]!.address;
  }
  async waitCarrier(dev: string, deadlineMs = 10_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const j = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ flags: string[]; operstate: string }>;
      if (j[0]!.flags.includes('LOWER_UP') && j[0]!.operstate !== 'DOWN') return;
      if (Date.now() > until) throw new Error(`${this.name}/${dev}: no carrier after ${deadlineMs} ms`);
      await sleep(50);
    }
  }
  /** The agent's pin directory for this namespace: <bpffs>/fib-offload/ns<inode of the netns>. */
  pinDir(): string {
    return `/sys/fs/bpf/fib-offload/ns${statSync(`/run/netns/${this.name}`).ino}`;
  }
  /** `fib-offload ARGS` in this namespace (host mounts), bounded in time. */
  agent(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const p = spawnSync('nsenter', [`--net=/run/netns/${this.name}`, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { status: p.status, stdout: p.stdout, stderr: p.stderr };
  }
}

export function addNs(name: string): Ns {
  spawnSync('ip', ['netns', 'del', name]);
  run(['ip', 'netns', 'add', name]);
  const ns = new Ns(name);
  ns.ip('link', 'set', 'dev', 'lo', 'up');
  return ns;
}

/**
 * The benches' router: p1 eth0 — eth1 dut eth2 — eth0 p2, IPv6 off, 10.1.0.0/24
 * and 10.2.0.0/24, both gateways PERMANENT neighbours (no NUD timers: the
 * figures see route events only), the peers ready for XDP-redirected frames.
 */
export async function twoPortDut(names: { readonly dut: string; readonly p1: string; readonly p2: string }): Promise<{ dut: Ns; p1: Ns; p2: Ns }> {
  const d = addNs(names.dut);
  const p1 = addNs(names.p1);
  const p2 = addNs(names.p2);
  for (const ns of [d, p1, p2]) ns.sysctl('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  for (const [dev, peer, n] of [['eth1', p1, 1], ['eth2', p2, 2]] as const) {
    d.ip('link', 'add', 'name', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer.name);
    d.ip('link', 'set', 'dev', dev, 'up');
    peer.ip('link', 'set', 'dev', 'eth0', 'up');
    d.ip('addr', 'add', `10.${n}.0.1/24`, 'dev', dev);
    peer.ip('addr', 'add', `10.${n}.0.2/24`, 'dev', 'eth0');
  }
  for (const [ns, dev] of [[d, 'eth1'], [d, 'eth2'], [p1, 'eth0'], [p2, 'eth0']] as const) await ns.waitCarrier(dev);
  d.ip('neigh', 'replace', '10.1.0.2', 'lladdr', p1.mac('eth0'), 'dev', 'eth1', 'nud', 'permanent');
  d.ip('neigh', 'replace', '10.2.0.2', 'lladdr', p2.mac('eth0'), 'dev', 'eth2', 'nud', 'permanent');
  for (const ns of [p1, p2]) await prepareVethPeer(ns.name, 'eth0');
  return { dut: d, p1, p2 };
}

export function delNs(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}

/** Remove what the agent pinned for a namespace, and the shared parent if now empty. */
export function removePins(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync('/sys/fs/bpf/fib-offload');
  } catch {
    // other namespaces still have pins, or already gone
  }
}

import { NsHttp } from './ns-http.js';
export { NsHttp };

// ---------------------------------------------------------------------------
// The daemon.

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  /** When the bench read the line (now(), ms). */
  readonly seen: number;
  readonly [key: string]: unknown;
}

export class Daemon {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly other: string[] = [];
  readonly started = now();
  readonly exited: Promise<void>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private waiters: Array<() => void> = [];

  constructor(ns: Ns, readonly http: NsHttp, readonly listen: string, args: readonly string[]) {
    // nsenter execs node: the child's pid is the daemon's.
    this.child = spawn('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, CLI, 'run', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    createInterface({ input: this.child.stderr! }).on('line', (l) => {
      const seen = now();
      try {
        this.logs.push({ ...(JSON.parse(l) as { level: number; msg: string }), seen });
      } catch {
        this.other.push(l);
      }
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      for (const f of this.waiters) f();
      resolve();
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

  /** The first log line at index >= from matching pred; waits for it (throws after the deadline or if the daemon exits). */
  async waitLog(what: string, pred: (l: LogLine) => boolean, from = 0, deadlineMs = 60_000): Promise<{ line: LogLine; index: number }> {
    const until = now() + deadlineMs;
    let i = from;
    for (;;) {
      for (; i < this.logs.length; i++) if (pred(this.logs[i]!)) return { line: this.logs[i]!, index: i };
      if (!this.alive) throw new Error(`daemon exited (${JSON.stringify(this.exit)}) while waiting for ${what}:\n${this.logText()}`);
      const left = until - now();
      if (left <= 0) throw new Error(`no log line for ${what} after ${deadlineMs} ms:\n${this.logText()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** VmRSS / VmHWM of the daemon process, MB. */
  memory(): { rssMB: number; hwmMB: number } {
    const text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 };
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, sig);
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM', deadlineMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.signal(sig);
    const t = setTimeout(() => this.signal('SIGKILL'), deadlineMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(t);
    }
  }

  logText(last = 30): string {
    return [...this.logs.slice(-last).map(({ seen: _s, ...l }) => JSON.stringify(l)), ...this.other.slice(-20)].join('\n');
  }
}

// ---------------------------------------------------------------------------
// Prometheus text and statistics.

/** Sum of a metric's samples whose labels include `labels`. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[lm[1]!] = lm[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** resyncs_total by reason. */
export function resyncsByReason(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^fib_offload_resyncs_total\{reason="([^"]*)"\}\s+(\S+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export function resyncDelta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

export interface Stat {
  min: number;
  median: number;
  max: number;
}

export function stat(xs: readonly number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return { min: NaN, median: NaN, max: NaN };
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]! };
}

export interface Dist {
  samples: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function dist(xs: readonly number[]): Dist {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : NaN;
  return {
    samples: s.length, min: s[0] ?? NaN, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}
