// Runs the XDP program through BPF_PROG_TEST_RUN (`bpftool prog run`) on
// crafted frames: loads bpf/build/fib_offload.bpf.o into a private bpffs
// directory, fills its maps through PinnedMaps and the layout.ts encoders, and
// reads the verdict and member counters back. Argv-only command execution;
// `destroy()` (and a process exit hook) removes the pin directory.
//
// Namespaces: BPF_PROG_TEST_RUN resolves ctx.ingress_ifindex, and the program's
// bpf_check_mtu() the egress ifindex, in the network namespace of the process
// that makes the syscall; a devmap update resolves its ifindex in the
// updater's namespace too. So `bpftool prog run` and fo_tx updates run under
// `nsenter --net=/run/netns/<ns>` (not `ip netns exec`: that remounts /sys
// and so hides /sys/fs/bpf). Other maps are plain data and are written
// in-process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  VERDICTS, encodeConfig, encodeGroupKey, encodeGroupValue, encodeLpmKey, encodePortKey,
  encodePortValue, encodeRouteValue, encodeStatKey, encodeU32, sumPerCpu,
  type ConfigRecord, type Counter, type GroupRecord, type MemberRecord, type StatKey, type Verdict,
} from '../../../src/xdp/layout.js';
import { PinnedMaps } from '../../../src/xdp/maps.js';
import { ROOT } from './probe.js';

export const OBJECT = `${ROOT}bpf/build/fib_offload.bpf.o`;
const BPFFS = '/sys/fs/bpf';
const BPFFS_MAGIC = 0xcafe4a11;

/** XDP action codes (enum xdp_action). */
export const XDP = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

export interface RunResult {
  retval: number;
  dataOut: Buffer;
  durationNs: number;
}

export interface RunOptions {
  /** ctx.ingress_ifindex, resolved in the runner's namespace; 0 = the namespace's loopback. */
  ingress: number;
  rxQueue?: number;
  repeat?: number;
  /**
   * ctx.data_end: bytes of the frame in the linear buffer; the kernel puts the
   * rest in fragments (multi-buffer). Default: the whole frame. The kernel
   * refuses inputs under 14 bytes, but not a shorter linear part, which is how
   * a frame "shorter than Ethernet" reaches the program.
   */
  linear?: number;
}

/** A spawnSync that throws with the command, status and stderr. */
function sh(argv: readonly string[]): string {
  const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (p.error) throw new Error(`${argv.join(' ')}: ${p.error.message}`);
  if (p.status !== 0) throw new Error(`command failed (${p.status}): ${argv.join(' ')}\n${p.stderr}${p.stdout}`);
  return p.stdout;
}

const livePins = new Set<string>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => { for (const d of livePins) rmSync(d, { recursive: true, force: true }); });
}

export function ensureBpffs(): void {
  if (statfsSync(BPFFS).type !== BPFFS_MAGIC) sh(['mount', '-t', 'bpf', 'bpf', BPFFS]);
}

export class XdpRunner {
  readonly pinDir: string;
  readonly prog: string;
  readonly maps: PinnedMaps;
  private readonly tmp: string;
  private seq = 0;

  private constructor(pinDir: string, maps: PinnedMaps, tmp: string, readonly netns: string) {
    this.pinDir = pinDir;
    this.prog = join(pinDir, 'prog');
    this.maps = maps;
    this.tmp = tmp;
  }

  /**
   * Load the object into /sys/fs/bpf/fot-<tag>-<pid>-<random> (program `prog`,
   * maps under `maps/`) and open the maps. `netns` names the /run/netns entry
   * that runs and devmap updates happen in.
   */
  static load(tag: string, netns: string, object = OBJECT): XdpRunner {
    ensureBpffs();
    installExitHook();
    const pinDir = join(BPFFS, `fot-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(pinDir);
    livePins.add(pinDir);
    let tmp: string | undefined;
    try {
      sh(['bpftool', 'prog', 'load', object, join(pinDir, 'prog'), 'type', 'xdp', 'pinmaps', join(pinDir, 'maps')]);
      const maps = PinnedMaps.open(join(pinDir, 'maps'));
      tmp = mkdtempSync(join(tmpdir(), 'fot-xdp-run-'));
      return new XdpRunner(pinDir, maps, tmp, netns);
    } catch (err) {
      rmSync(pinDir, { recursive: true, force: true });
      livePins.delete(pinDir);
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Run frames through a program someone else pinned (the agent's, under
   * <bpffs>/fib-offload/ns<inode>/): nothing is loaded, and destroy() leaves
   * the pins alone.
   */
  static existing(pinDir: string, netns: string): XdpRunner {
    const maps = PinnedMaps.open(join(pinDir, 'maps'));
    const r = new XdpRunner(pinDir, maps, mkdtempSync(join(tmpdir(), 'fot-xdp-run-')), netns);
    r.borrowed = true;
    return r;
  }

  private borrowed = false;

  /** argv run inside the test namespace (nsenter keeps this mount namespace, so bpffs stays visible). */
  private inNs(argv: readonly string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.netns}`, ...argv];
  }

  /**
   * BPF_PROG_TEST_RUN on one frame. ctx_in is struct xdp_md {data, data_end,
   * data_meta, ingress_ifindex, rx_queue_index, egress_ifindex}: data = 0 (no
   * metadata), data_end = the frame size (or opts.linear), egress 0 (the
   * kernel refuses others). Throws when the kernel refuses the run (EINVAL for
   * an input under 14 bytes). dataOut is the whole frame after the program.
   */
  run(frame: Buffer, opts: RunOptions): RunResult {
    const n = this.seq++;
    const fin = join(this.tmp, `in-${n}`);
    const fout = join(this.tmp, `out-${n}`);
    const fctx = join(this.tmp, `ctx-${n}`);
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(0, 0);
    ctx.writeUInt32LE(opts.linear ?? frame.length, 4);
    ctx.writeUInt32LE(0, 8);
    ctx.writeUInt32LE(opts.ingress, 12);
    ctx.writeUInt32LE(opts.rxQueue ?? 0, 16);
    ctx.writeUInt32LE(0, 20);
    writeFileSync(fin, frame);
    writeFileSync(fctx, ctx);
    try {
      const argv = this.inNs(['bpftool', '-j', 'prog', 'run', 'pinned', this.prog,
        'data_in', fin, 'data_out', fout, 'ctx_in', fctx, ...(opts.repeat ? ['repeat', String(opts.repeat)] : [])]);
      const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      if (p.error) throw p.error;
      let j: { retval?: number; duration?: number; error?: string };
      try {
        j = JSON.parse(p.stdout) as typeof j;
      } catch {
        throw new Error(`bpftool prog run (${p.status}): ${p.stdout}${p.stderr}`);
      }
      if (j.error !== undefined || p.status !== 0 || j.retval === undefined) {
        throw new Error(`bpftool prog run: ${j.error ?? `status ${p.status}`}`);
      }
      return { retval: j.retval, dataOut: readFileSync(fout), durationNs: j.duration ?? 0 };
    } finally {
      for (const f of [fin, fout, fctx]) rmSync(f, { force: true });
    }
  }

  /**
   * Many frames in one process (bpf/build/prog-run-batch): the same
   * BPF_PROG_TEST_RUN as run(), without a bpftool process per frame.
   */
  runMany(frames: ReadonlyArray<{ frame: Buffer; ingress: number }>): RunResult[] {
    const req = Buffer.concat(frames.flatMap(({ frame, ingress }) => {
      const h = Buffer.alloc(8);
      h.writeUInt32LE(ingress, 0);
      h.writeUInt32LE(frame.length, 4);
      return [h, frame];
    }));
    const argv = this.inNs([`${ROOT}bpf/build/prog-run-batch`, this.prog]);
    const p = spawnSync(argv[0]!, argv.slice(1), { input: req, maxBuffer: 256 << 20 });
    if (p.error) throw p.error;
    if (p.status !== 0) throw new Error(`prog-run-batch (${p.status}): ${p.stderr.toString()}`);
    const out: RunResult[] = [];
    const b = p.stdout;
    for (let off = 0; off < b.length;) {
      const retval = b.readUInt32LE(off);
      const durationNs = b.readUInt32LE(off + 4);
      const len = b.readUInt32LE(off + 8);
      out.push({ retval, durationNs, dataOut: Buffer.from(b.subarray(off + 12, off + 12 + len)) });
      off += 12 + len;
    }
    if (out.length !== frames.length) throw new Error(`prog-run-batch answered ${out.length} of ${frames.length} frames`);
    return out;
  }

  // ---- map population ---------------------------------------------------

  /** `port`: the port's own device (a VLAN sub-interface keyed by its parent); default ifindex. */
  setPort(ifindex: number, vid: number, table: number, mac: string, rpFilter?: 'strict' | 'loose', kernel?: readonly (4 | 6)[], port = ifindex): void {
    this.maps.set('fo_ports', encodePortKey(ifindex, vid), encodePortValue({
      table, mac, ifindex: port, ...(rpFilter ? { rpFilter } : {}), ...(kernel ? { kernel } : {}),
    }));
  }

  deletePort(ifindex: number, vid: number): void {
    this.maps.delete('fo_ports', encodePortKey(ifindex, vid));
  }

  setRoute(table: number, dst: string, action: 'forward' | 'punt', group = 0): void {
    const { family, key } = encodeLpmKey(table, dst);
    this.maps.set(family === 4 ? 'fo_lpm4' : 'fo_lpm6', key, encodeRouteValue({ action, group }));
  }

  /** `mtu`: the group's route MTU (0 or absent: none). */
  setGroup(id: number, members: readonly MemberRecord[], buckets: readonly number[], mtu = 0): void {
    this.maps.set('fo_groups', encodeGroupKey(id), encodeGroupValue({ members, buckets, mtu } satisfies Pick<GroupRecord, 'members' | 'buckets' | 'mtu'>));
  }

  deleteGroup(id: number): void {
    this.maps.delete('fo_groups', encodeGroupKey(id));
  }

  setConfig(c: ConfigRecord): void {
    this.maps.set('fo_config', encodeU32(0), encodeConfig(c));
  }

  /** fo_tx[ifindex] = ifindex; a devmap resolves the ifindex in the updater's namespace, hence nsenter. */
  setTx(ifindex: number): void {
    const bytes = [...encodeU32(ifindex)].map(String);
    sh(this.inNs(['bpftool', 'map', 'update', 'pinned', join(this.pinDir, 'maps', 'fo_tx'), 'key', ...bytes, 'value', ...bytes]));
  }

  deleteTx(ifindex: number): void {
    this.maps.delete('fo_tx', encodeU32(ifindex));
  }

  // ---- counters ----------------------------------------------------------

  /** fo_verdicts summed over CPUs, by verdict name. */
  verdicts(): Record<Verdict, Counter> {
    return this.maps.verdicts();
  }

  /** One fo_stats entry summed over CPUs; zero when absent. */
  stat(k: StatKey): Counter {
    const v = this.maps.get('fo_stats').get(encodeStatKey(k));
    return v ? sumPerCpu(v, this.maps.cpus) : { packets: 0n, bytes: 0n };
  }

  /** Every fo_stats entry. */
  stats(): Array<{ key: StatKey; counter: Counter }> {
    return this.maps.memberCounters().map(({ packets, bytes, ...key }) => ({ key, counter: { packets, bytes } }));
  }

  /** Close the maps and remove the pin directory and temp files. Idempotent. */
  destroy(): void {
    try {
      this.maps.close();
    } finally {
      if (!this.borrowed) {
        rmSync(this.pinDir, { recursive: true, force: true });
        livePins.delete(this.pinDir);
      }
      rmSync(this.tmp, { recursive: true, force: true });
    }
  }
}

/** The verdicts whose counters differ between two snapshots, with the deltas. */
export function verdictDelta(before: Record<Verdict, Counter>, after: Record<Verdict, Counter>): Partial<Record<Verdict, Counter>> {
  const d: Partial<Record<Verdict, Counter>> = {};
  for (const v of VERDICTS) {
    const packets = after[v].packets - before[v].packets;
    const bytes = after[v].bytes - before[v].bytes;
    if (packets !== 0n || bytes !== 0n) d[v] = { packets, bytes };
  }
  return d;
}
