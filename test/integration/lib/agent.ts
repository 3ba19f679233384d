// Running the agent's CLI inside a test namespace with the XDP backend, and
// reading what it installed. The CLI runs under `nsenter --net` (not `ip netns
// exec`, which remounts /sys and so hides the host's bpffs where the agent
// pins its program and maps).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VERDICTS, type Verdict } from '../../../src/xdp/layout.js';
import { PinnedMaps } from '../../../src/xdp/maps.js';
import type { Netns } from './netns.js';
import { CLI } from './probe.js';
import { prepareVethPeer } from '../../../src/xdp/loader.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `fib-offload ARGS` inside the namespace's network (host mounts). */
export function agent(ns: Netns, ...args: string[]): CliResult {
  return agentWith({}, ns, ...args);
}

/** Same, with extra environment (e.g. FIB_OFFLOAD_BPF_OBJECT). */
export function agentWith(env: Record<string, string>, ns: Netns, ...args: string[]): CliResult {
  const p = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, CLI, ...args], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

/** The agent's pin directory for a namespace: <bpffs>/fib-offload/ns<inode of the netns>. */
export function pinDirOf(ns: Netns): string {
  return `/sys/fs/bpf/fib-offload/ns${statSync(`/run/netns/${ns.name}`).ino}`;
}

/** Remove what the agent pinned for this namespace (call before deleting the namespace). */
export function removePins(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync('/sys/fs/bpf/fib-offload');
  } catch {
    // other namespaces still have pins, or already gone
  }
}

/** A host's veth end, ready to exchange XDP-forwarded traffic (see prepareVethPeer). */
export async function enablePeer(ns: Netns, dev: string): Promise<void> {
  await prepareVethPeer(ns.name, dev);
}

/** Counters the program keeps, read from the pinned maps. */
export class Counters {
  constructor(private readonly dir: string) {}

  private withMaps<T>(f: (m: PinnedMaps) => T): T {
    if (!existsSync(join(this.dir, 'maps'))) throw new Error(`nothing pinned at ${this.dir}`);
    const m = PinnedMaps.open(join(this.dir, 'maps'));
    try {
      return f(m);
    } finally {
      m.close();
    }
  }

  verdicts(): Record<Verdict, number> {
    return this.withMaps((m) => {
      const v = m.verdicts();
      return Object.fromEntries(VERDICTS.map((name) => [name, Number(v[name].packets)])) as Record<Verdict, number>;
    });
  }

  /** Forwarded packets per egress ifindex (summed over groups and MACs). */
  perEgress(): Map<number, number> {
    return this.withMaps((m) => {
      const out = new Map<number, number>();
      for (const c of m.memberCounters()) out.set(c.ifindex, (out.get(c.ifindex) ?? 0) + Number(c.packets));
      return out;
    });
  }
}

/** A continuous ping in the background; `stop()` resolves with sent/received counts. */
export class BackgroundPing {
  private readonly child: ChildProcess;
  private out = '';
  constructor(ns: Netns, dst: string, intervalS = 0.01) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-i', String(intervalS), '-W', '1', dst], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.child.stderr!.on('data', (d: Buffer) => { this.out += d.toString(); });
  }

  async stop(): Promise<{ sent: number; received: number; output: string }> {
    // 'close', not 'exit': the summary may still be in the pipe when the process exits.
    const done = new Promise<void>((r) => this.child.once('close', () => r()));
    this.child.kill('SIGINT');
    await done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(this.out);
    if (!m) throw new Error(`no ping summary in:\n${this.out}`);
    return { sent: Number(m[1]), received: Number(m[2]), output: this.out };
  }
}
