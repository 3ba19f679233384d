// Helpers for the data-plane bench (bench/dataplane.ts): the live-frames
// generator (bpf/bench_livegen.c) and trafgen as child processes, the
// counting receivers (bpf/bench_count.bpf.c) and their per-CPU counters,
// threaded NAPI and CPU pinning, /proc/stat and veth statistics.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RawMap, createMapRef, objGet, type MapRef } from 'bpf';
import { possibleCpus } from '../src/xdp/maps.js';
import { CLI, run, type Ns } from './converge-lib.js';

/** bpf/build/ in the package (dist/bench → ../../bpf/build). */
export const BPF_BUILD = fileURLToPath(new URL('../../bpf/build/', import.meta.url));
export const LIVEGEN = `${BPF_BUILD}bench-livegen`;
export const GEN_OBJECT = `${BPF_BUILD}bench_gen.bpf.o`;
export const COUNT_OBJECT = `${BPF_BUILD}bench_count.bpf.o`;

// ---------------------------------------------------------------------------
// CPUs.

export interface CpuTicks {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** Per-CPU tick counters from /proc/stat, indexed by CPU number. */
export function cpuTicks(): CpuTicks[] {
  const out: CpuTicks[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    out[Number(m[1])] = {
      user: v[0]!, nice: v[1]!, system: v[2]!, idle: v[3]!, iowait: v[4]!, irq: v[5]!, softirq: v[6]!, steal: v[7] ?? 0,
    };
  }
  return out;
}

/** Where one CPU's time went between two readings, as shares of the total (0..1). */
export interface CpuShare {
  /** system + irq + softirq: the kernel (generator, forwarder, receivers all run there). */
  kernel: number;
  /** user + nice: user space; the bench's own processes sleep through a window, so this is mostly other work on the machine. */
  user: number;
  idle: number;
  steal: number;
}

export function cpuShare(a: CpuTicks, b: CpuTicks): CpuShare {
  const d = (k: keyof CpuTicks): number => b[k] - a[k];
  const total = Math.max(1, d('user') + d('nice') + d('system') + d('idle') + d('iowait') + d('irq') + d('softirq') + d('steal'));
  return {
    kernel: (d('system') + d('irq') + d('softirq')) / total,
    user: (d('user') + d('nice')) / total,
    idle: (d('idle') + d('iowait')) / total,
    steal: d('steal') / total,
  };
}

/**
 * Kernel threads of a device's threaded NAPI: `napi/<dev>-<napi id>` (the
 * comm is cut to 15 characters, so device names are kept short enough for
 * `napi/<dev>` to fit).
 */
export function napiThreads(dev: string): number[] {
  const prefix = `napi/${dev}-`.slice(0, 15);
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/comm`, 'utf8').trimEnd().startsWith(prefix)) pids.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Pin a task to one CPU and check that it took. */
export function pinTask(pid: number, cpu: number): void {
  run(['taskset', '-p', '-c', String(cpu), String(pid)]);
  const allowed = /^Cpus_allowed_list:\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (allowed !== String(cpu)) throw new Error(`pid ${pid}: allowed CPUs ${allowed} after pinning to ${cpu}`);
}

/** Turn a device's threaded NAPI on or off (sysfs as seen from its namespace: `ip netns exec` mounts that). */
export function setThreaded(ns: Ns, dev: string, on: boolean): void {
  run(['ip', 'netns', 'exec', ns.name, 'tee', `/sys/class/net/${dev}/threaded`], on ? '1\n' : '0\n');
}

// ---------------------------------------------------------------------------
// Receivers: bench_count.bpf.o pinned under the bench's own bpffs directory
// and attached (native XDP) to the receiving veth in its namespace.

export class Receiver {
  private readonly map: RawMap;
  private readonly cpus = possibleCpus();

  private constructor(readonly name: string, mapPath: string) {
    const ref = createMapRef(objGet(mapPath), { transfer: true });
    // A per-CPU map exchanges one 8-byte slot per possible CPU; the package sizes buffers by value_size.
    const slot = Math.ceil(ref.valueSize / 8) * 8;
    const sized: MapRef = {
      get fd() { return ref.fd; },
      close: () => ref.close(),
      type: ref.type, id: ref.id, keySize: ref.keySize, valueSize: slot * this.cpus,
      maxEntries: ref.maxEntries, flags: ref.flags, name: ref.name,
    };
    this.map = new RawMap(sized);
  }

  /** Load the counting program, pin it and its map under `pinDir/<name>`, attach it to `dev` in `ns`. */
  static attach(ns: Ns, dev: string, pinDir: string, name: string): Receiver {
    const prog = `${pinDir}/${name}-prog`;
    const maps = `${pinDir}/${name}-maps`;
    run(['bpftool', 'prog', 'load', COUNT_OBJECT, prog, 'type', 'xdp', 'pinmaps', maps]);
    // nsenter keeps the host's mounts (bpffs); `ip -n` would remount /sys.
    run(['nsenter', `--net=/run/netns/${ns.name}`, 'ip', 'link', 'set', 'dev', dev, 'xdpdrv', 'pinned', prog]);
    return new Receiver(name, `${maps}/counts`);
  }

  /** Generator frames (IPv4 or IPv6 UDP to port 9) counted so far, per CPU. */
  perCpu(): number[] {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(1);
    const v = this.map.get(key);
    if (!v) throw new Error(`${this.name}: no counter`);
    const out: number[] = [];
    for (let c = 0; c < this.cpus; c++) out.push(Number(v.readBigUInt64LE(c * 8)));
    return out;
  }

  close(): void {
    this.map.ref.close();
  }
}

// ---------------------------------------------------------------------------
// Generators.

export interface GenReport {
  /** Frames offered (the generator's own count), and over how long. */
  packets: number;
  seconds: number;
  pps: number;
}

export interface GenFlow {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  /** > 1: UDP source ports 1024.. spread over this many values (ECMP flows). */
  sportCount: number;
  /** > 1: destinations spread over this many addresses `dstStride` apart (a route table). */
  dstCount: number;
  dstStride: number;
  /** 6: IPv6 frames (srcIp/dstIp are IPv6). Default 4. */
  family?: 4 | 6;
  /** Destinations from this file (16 bytes each, network order) instead of dstCount/dstStride. */
  dstFile?: string;
}

/** What cleanup kills: a child process, or a process group. */
export interface Killable {
  kill(signal: NodeJS.Signals): unknown;
}

/** A running generator in the sender's namespace, pinned to one CPU. */
export interface Generator {
  readonly kind: 'livegen' | 'trafgen';
  stop(): Promise<GenReport>;
}

function collect(child: ChildProcess): { out: () => string; err: () => string; done: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { out: () => out, err: () => err, done };
}

/** bench-livegen (BPF_PROG_TEST_RUN live frames, XDP_TX out of `dev`) until stopped; at most `maxSeconds`. */
export function startLivegen(ns: Ns, dev: string, cpu: number, flow: GenFlow, maxSeconds: number, children: Set<Killable>): Generator {
  const argv = [
    `--net=/run/netns/${ns.name}`, 'taskset', '-c', String(cpu), LIVEGEN, GEN_OBJECT,
    '--dev', dev, '--src-mac', flow.srcMac, '--dst-mac', flow.dstMac, '--src-ip', flow.srcIp, '--dst-ip', flow.dstIp,
    '--sport', '1024', '--sport-count', String(flow.sportCount),
    '--dst-count', String(flow.dstCount), '--dst-stride', String(flow.dstStride), '--seconds', String(maxSeconds),
    ...(flow.family === 6 ? ['--family', '6', '--size', '62'] : []),
    ...(flow.dstFile ? ['--dst-file', flow.dstFile] : []),
  ];
  const child = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const c = collect(child);
  return {
    kind: 'livegen',
    async stop(): Promise<GenReport> {
      child.kill('SIGTERM');
      const code = await c.done;
      children.delete(child);
      if (code !== 0) throw new Error(`bench-livegen exited ${code}: ${c.err()}`);
      const r = JSON.parse(c.out()) as { packets: number; seconds: number; pps: number };
      return { packets: r.packets, seconds: r.seconds, pps: r.pps };
    },
  };
}

/** The trafgen (netsniff-ng) packet description for one flow: Ethernet/IPv4/UDP to port 9, 60 bytes. */
export function trafgenConfig(flow: GenFlow): string {
  if (flow.dstCount > 1) throw new Error('trafgen: only single-destination flows here');
  const sp = flow.sportCount > 1 ? `dinc(1024, ${1024 + flow.sportCount - 1}, 1)` : '1024';
  return `{ eth(da=${flow.dstMac}, sa=${flow.srcMac}), ipv4(saddr=${flow.srcIp}, daddr=${flow.dstIp}, ttl=64), ` +
    `udp(sp=${sp}, dp=9), fill(0x00, 18) }\n`;
}

/**
 * trafgen on one CPU (one worker, `--cpus 1`) until stopped, leaving IRQ
 * affinities alone. Only where dut's NAPI runs on the same CPU: when the
 * veth ring fills, veth pushes back and trafgen's TX ring gives up (EAGAIN)
 * and exits. Its own count
 * is printed only at exit; the offered rate is read from the sending veth's
 * counters instead (tx packets + tx drops).
 */
export function startTrafgen(ns: Ns, dev: string, cpu: number, confFile: string, children: Set<Killable>): Generator {
  const before = vethTx(ns, dev);
  const t0 = process.hrtime.bigint();
  // Its own process group: trafgen forks a worker, and only a signal to the group reaches both.
  const child = spawn('ip', ['netns', 'exec', ns.name, 'taskset', '-c', String(cpu), 'trafgen', '--dev', dev, '--conf', confFile, '--cpus', '1', '--notouch-irq'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const group: Killable = {
    kill: (sig) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    },
  };
  children.add(group);
  const c = collect(child);
  let stopping = false;
  let early: number | null | undefined;
  child.once('exit', (code) => { if (!stopping) early = code; });
  return {
    kind: 'trafgen',
    async stop(): Promise<GenReport> {
      const after = vethTx(ns, dev);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      // Exit status after SIGINT is not telling (it may fail to flush its ring on the way out); dying before it is.
      if (early !== undefined) throw new Error(`trafgen exited early (${early}): ${c.err()}`);
      stopping = true;
      group.kill('SIGINT');
      const t = setTimeout(() => group.kill('SIGKILL'), 5000);
      await c.done;
      clearTimeout(t);
      children.delete(group);
      const packets = after.packets + after.dropped - before.packets - before.dropped;
      return { packets, seconds, pps: packets / seconds };
    },
  };
}

/** A link's transmit counters (ip -s). */
export function vethTx(ns: Ns, dev: string): { packets: number; dropped: number } {
  const j = JSON.parse(ns.ip('-j', '-s', 'link', 'show', 'dev', dev)) as Array<{ stats64: { tx: { packets: number; dropped: number } } }>;
  return { packets: j[0]!.stats64.tx.packets, dropped: j[0]!.stats64.tx.dropped };
}

/** `ethtool -S` of a device in a namespace, as numbers. */
export function ethtoolStats(ns: Ns, dev: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of run(['ip', 'netns', 'exec', ns.name, 'ethtool', '-S', dev]).split('\n')) {
    const m = /^\s+([^:]+):\s+(\d+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Shared by the data-plane and lookup benches.

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** `argv` inside ns (ip netns exec: for tools that don't need the host's bpffs). */
export function runIn(ns: Ns, ...argv: string[]): void {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, ...argv], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${argv.join(' ')} in ${ns.name} failed (${p.status}): ${p.stderr}`);
}

/** `fib-offload ARGS` in dut (nsenter: the host's bpffs stays visible), up to 10 minutes (a 1M-route apply takes a while). */
export function agent(ns: Ns, ...args: string[]): string {
  const p = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 });
  if (p.status !== 0) throw new Error(`fib-offload ${args.join(' ')} in ${ns.name} failed (${p.status ?? p.signal}): ${p.stderr}\n${p.stdout}`);
  return p.stdout;
}
