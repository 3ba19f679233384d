// Drives dist/scripts/mirror-probe.js inside a namespace: the adapter and the
// mirror run for real in that namespace; the test reads their state as JSON.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROBE = `${ROOT}dist/scripts/mirror-probe.js`;
export const CLI = `${ROOT}dist/src/cli/main.js`;

export interface ProbeState {
  events: unknown;
  dump: unknown;
  counters: { events: number; dumps: number; dumpRetries: number; overruns: number; resyncs: number };
}

export class MirrorProbe {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string) => void> = [];
  private stderr = '';

  private constructor(ns: Netns, args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, PROBE, ...args]);
    this.child.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: `probe exited ${code}: ${this.stderr}` }));
    });
  }

  static async start(ns: Netns, args: string[] = []): Promise<MirrorProbe> {
    const p = new MirrorProbe(ns, args);
    const ready = await p.next();
    if (!(ready as { ready?: boolean }).ready) throw new Error(`probe failed to start: ${JSON.stringify(ready)}`);
    return p;
  }

  private next(): Promise<unknown> {
    return new Promise((resolve) => this.waiting.push((l) => resolve(JSON.parse(l))));
  }

  async ask<T>(cmd: string): Promise<T> {
    const reply = this.next();
    this.child.stdin.write(cmd + '\n');
    const r = await reply as { error?: string };
    if (r && typeof r === 'object' && 'error' in r) throw new Error(String(r.error));
    return r as T;
  }

  state(): Promise<ProbeState> {
    return this.ask<ProbeState>('state');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.write('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
