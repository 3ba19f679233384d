// Loads, pins, attaches and removes the XDP program with bpftool and ip
// (argv arrays, never a shell), under the agent's own bpffs directory:
//   <bpffs>/fib-offload/ns<netns inode>/{prog, maps/<name>}
// one directory per network namespace, since pinned objects are global but
// the ifindexes in the maps are per namespace.
//
// bpffs and `ip netns exec`: ip netns exec remounts /sys for the namespace, so
// /sys/fs/bpf there is not the host's bpffs, and a bpffs mounted inside would
// live only as long as the command. With the default path the loader pins
// through init's view of it instead (/proc/1/root/sys/fs/bpf, resolveBpffs()):
// the same directory as from nsenter, systemd or a plain shell.
import { execFile } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolError } from '../errors.js';
import { MAP_NAMES, MAP_SIZES, VERDICTS, decodeConfig, encodeConfig, HASH_L3, HASH_L4 } from './layout.js';
import { PinnedMaps } from './maps.js';

export const BPF_FS_MAGIC = 0xcafe4a11;
export const DEFAULT_BPFFS = '/sys/fs/bpf';
/** The program's name as the kernel reports it: what marks an attachment as ours when no pin says so. */
export const PROG_NAME = 'fib_offload';

/**
 * The bpffs to pin under. For the default /sys/fs/bpf, when ours is not a
 * bpffs or not the one other processes see — under `ip netns exec`, which
 * detaches /sys and mounts a sysfs of its own — pin through the root of a
 * process that still sees the host's: init (/proc/1/root) or, where that is
 * refused (a container's init, no CAP_SYS_PTRACE), the nearest ancestor in
 * another mount namespace (the shell that ran `ip netns exec`). Then apply,
 * run and flush find the same pins however they are started. The directory
 * found is held open for the life of the process and named through that
 * descriptor (/proc/<our pid>/fd/N: bpftool and ip, our children, can follow
 * it too), so it stays reachable after the shell that lent its root exits.
 * Any other path, or nothing better found, is used as given.
 */
export function resolveBpffs(path: string, proc = '/proc'): string {
  if (path !== DEFAULT_BPFFS) return path;
  const mine = fsId(path);
  const found = (p: string): string => {
    let fd = held.get(p);
    if (fd === undefined) {
      fd = openSync(p, 'r');
      held.set(p, fd);
    }
    const named = `${proc}/${process.pid}/fd/${fd}`;
    shownAs.set(named, DEFAULT_BPFFS);
    return named;
  };
  if (mine?.bpffs) {
    // Ours is a bpffs: keep it unless it is a private one beside the host's.
    const host = fsId(`${proc}/1/root${DEFAULT_BPFFS}`);
    return host?.bpffs && host.dev !== mine.dev ? found(`${proc}/1/root${DEFAULT_BPFFS}`) : path;
  }
  for (const pid of [1, ...ancestors(proc)]) {
    const p = `${proc}/${pid}/root${DEFAULT_BPFFS}`;
    if (fsId(p)?.bpffs) return found(p);
  }
  return path;
}

/** Host bpffs directories resolveBpffs() opened, by the path it found them at. */
const held = new Map<string, number>();
/** What resolveBpffs() returned for them, to show operators the path they know. */
const shownAs = new Map<string, string>();

/** A path under a bpffs resolveBpffs() found, as the host names it (/sys/fs/bpf/...); others unchanged. */
export function hostPath(p: string): string {
  for (const [prefix, host] of shownAs) if (p === prefix || p.startsWith(prefix + '/')) return host + p.slice(prefix.length);
  return p;
}

function fsId(p: string): { bpffs: boolean; dev: number } | null {
  try {
    return { bpffs: statfsSync(p).type === BPF_FS_MAGIC, dev: statSync(p).dev };
  } catch {
    return null; // absent, or no access to that process's root
  }
}

/** Our parent, its parent, ... up to (not including) init. */
function ancestors(proc: string): number[] {
  const out: number[] = [];
  let pid = process.ppid;
  while (pid > 1 && out.length < 64) {
    out.push(pid);
    try {
      // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses.
      const stat = readFileSync(`${proc}/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}
export type XdpMode = 'native' | 'generic';

/** Runs a tool; resolves with its output, rejects with ToolError. */
export type Runner = (argv: readonly string[], op: string) => Promise<string>;

export const runTool: Runner = (argv, op) =>
  new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const status = typeof err.code === 'number' ? err.code : null;
        reject(new ToolError(op, argv, status, `${stderr}${typeof err.code === 'string' ? ` ${err.code}` : ''}`));
      } else resolve(stdout);
    });
  });

/** The repository root (dist/src/xdp → three up, src/xdp → two up). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the package root from ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The compiled program: $FIB_OFFLOAD_BPF_OBJECT (packagers, tests), else bpf/build/ in the package. */
export function defaultObjectPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['FIB_OFFLOAD_BPF_OBJECT'] || join(packageRoot(), 'bpf', 'build', 'fib_offload.bpf.o');
}

export function passObjectPath(): string {
  return join(packageRoot(), 'bpf', 'build', 'xdp_pass.bpf.o');
}

/** Identity of the current network namespace: the inode of /proc/self/ns/net. */
export function netnsId(): string {
  const link = readlinkSync('/proc/self/ns/net'); // "net:[4026531840]"
  const m = /\[(\d+)\]/.exec(link);
  if (!m) throw new Error(`unexpected /proc/self/ns/net link "${link}"`);
  return m[1]!;
}

export function pinDirFor(bpffs: string, ns: string = netnsId()): string {
  return join(bpffs, 'fib-offload', `ns${ns}`);
}

/** First 32 bits of the object's SHA-256: what "the same build" means. */
export function buildIdOf(objectPath: string): number {
  return createHash('sha256').update(readFileSync(objectPath)).digest().readUInt32BE(0);
}

/** The kernel's fib_multipath_hash_policy as the program's hash: 0 and 2 → L3; 1 and 3 → L4. */
export function hashFromSysctl(text: string): number {
  const v = Number.parseInt(text.trim(), 10);
  return v === 1 || v === 3 ? HASH_L4 : HASH_L3;
}

export type EcmpHash = 'kernel' | 'l3' | 'l4';

export function hashPolicies(hash: EcmpHash, read = (p: string): string => readFileSync(p, 'utf8')): { v4: number; v6: number } {
  if (hash === 'l3') return { v4: HASH_L3, v6: HASH_L3 };
  if (hash === 'l4') return { v4: HASH_L4, v6: HASH_L4 };
  const get = (path: string): number => {
    try {
      return hashFromSysctl(read(path));
    } catch {
      return HASH_L3; // no IPv6 (or an old kernel): the kernel's default
    }
  };
  return {
    v4: get('/proc/sys/net/ipv4/fib_multipath_hash_policy'),
    v6: get('/proc/sys/net/ipv6/fib_multipath_hash_policy'),
  };
}

export interface LinkXdp {
  readonly ifindex: number;
  readonly dev: string;
  /** Attached program id, or null. */
  readonly progId: number | null;
  /** 'native' (driver), 'generic' (skb), 'offload' or 'multi'. */
  readonly mode: string | null;
  /** The attached program's name, or null. */
  readonly progName: string | null;
  /** An 802.1Q VLAN device: the device it is on (`link`), absent otherwise. */
  readonly vlanOn?: string;
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  xdp?: { mode?: number; prog?: { id?: number; name?: string } };
  /** The lower device's name (a VLAN's parent); with link_netnsid, in another namespace. */
  link?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: { protocol?: string } };
}

const XDP_MODES: Readonly<Record<number, string>> = { 1: 'native', 2: 'generic', 3: 'offload', 4: 'multi' };

export interface LoadResult {
  readonly maps: PinnedMaps;
  readonly progId: number;
  /** 'reused': the pinned program and maps were this build; 'upgraded': new program, maps kept; 'fresh'. */
  readonly how: 'reused' | 'upgraded' | 'fresh';
  /** On 'upgraded', the id of the replaced program (still attached where it was until re-attached). */
  readonly previousProgId: number | null;
}

export interface AttachResult {
  readonly dev: string;
  readonly mode: XdpMode;
  readonly changed: boolean;
  /** Set when native was asked for and refused, so generic is in use. */
  readonly fallbackReason?: string;
}

export class XdpLoader {
  readonly dir: string;
  readonly progPath: string;
  readonly mapsDir: string;
  readonly objectPath: string;
  private readonly run: Runner;

  constructor(opts: { bpffs?: string; objectPath?: string; run?: Runner; pinDir?: string } = {}) {
    this.dir = opts.pinDir ?? pinDirFor(resolveBpffs(opts.bpffs ?? DEFAULT_BPFFS));
    this.progPath = join(this.dir, 'prog');
    this.mapsDir = join(this.dir, 'maps');
    this.objectPath = opts.objectPath ?? defaultObjectPath();
    this.run = opts.run ?? runTool;
  }

  /** Mount bpffs at the root of the pin directory's file system if it isn't one. */
  async ensureBpffs(bpffs: string): Promise<'mounted' | 'present'> {
    mkdirSync(bpffs, { recursive: true });
    if (statfsSync(bpffs).type === BPF_FS_MAGIC) return 'present';
    await this.run(['mount', '-t', 'bpf', 'bpf', bpffs], `mount bpffs at ${bpffs}`);
    return 'mounted';
  }

  /** Whether anything of ours is pinned in this namespace's directory. */
  pinned(): boolean {
    return existsSync(this.dir);
  }

  async progIdOf(path: string): Promise<number> {
    const out = await this.run(['bpftool', '-j', 'prog', 'show', 'pinned', path], `read pinned program ${path}`);
    const id = (JSON.parse(out) as { id?: number }).id;
    if (typeof id !== 'number') throw new Error(`bpftool prog show pinned ${path}: no id in "${out.trim()}"`);
    return id;
  }

  /**
   * Is the program with this id fib-offload's, whatever pins say? It must
   * be named fib_offload and carry the agent's own marker: among the maps it
   * holds (reached through its map ids, so no pin is needed), an `fo_config`
   * with the agent's key and value layout. A program that only shares the
   * name is not ours and is never touched.
   */
  async ownsProgram(progId: number): Promise<boolean> {
    let prog: { name?: string; map_ids?: number[] };
    try {
      prog = JSON.parse(await this.run(['bpftool', '-j', 'prog', 'show', 'id', String(progId)], `read program id ${progId}`)) as typeof prog;
    } catch {
      return false; // gone meanwhile
    }
    if (prog.name !== PROG_NAME) return false;
    for (const id of prog.map_ids ?? []) {
      const out = await this.run(['bpftool', '-j', 'map', 'show', 'id', String(id)], `read map id ${id} of program ${progId}`).catch(() => null);
      if (!out) continue;
      const m = JSON.parse(out) as { name?: string; bytes_key?: number; bytes_value?: number };
      if (m.name === 'fo_config' && m.bytes_key === MAP_SIZES.fo_config.key && m.bytes_value === MAP_SIZES.fo_config.value) return true;
    }
    return false;
  }

  /**
   * Load or reuse. Same build pinned → reuse (no reload, no detach). Maps of
   * this layout pinned but another build (or no program) → load the new
   * program into the existing maps; the caller re-attaches it where the old
   * one ran (an atomic replace). Otherwise → fresh load with new maps.
   */
  async load(hash: EcmpHash): Promise<LoadResult> {
    if (!existsSync(this.objectPath)) {
      throw new Error(`XDP object ${this.objectPath} is missing: build it with \`make -C bpf\` (needs clang, llvm, libbpf-dev)`);
    }
    const buildId = buildIdOf(this.objectPath);
    const policies = hashPolicies(hash);
    // Maps a newer build added (the audit's, say) are not pinned by an older
    // agent: the rest is still reused, and the new ones are made by the load.
    const present = MAP_NAMES.filter((n) => existsSync(join(this.mapsDir, n)));
    const missing = MAP_NAMES.filter((n) => !present.includes(n));
    let maps: PinnedMaps | null = null;
    if (present.includes('fo_config')) {
      try {
        maps = PinnedMaps.open(this.mapsDir, present);
        // A build with fewer verdicts made a shorter counter array: the new ones would go uncounted.
        if (present.includes('fo_verdicts') && maps.maxEntries('fo_verdicts') !== VERDICTS.length) {
          maps.close();
          maps = null;
        }
      } catch {
        maps = null; // another layout: start over below
      }
    }
    if (maps) {
      const configMap = maps.get('fo_config');
      const cfg = decodeConfig(configMap.get(Buffer.alloc(4))!);
      const config = (): Buffer => encodeConfig({ hashV4: policies.v4, hashV6: policies.v6, seed: cfg.seed, buildId });
      if (missing.length === 0 && cfg.buildId === buildId && existsSync(this.progPath)) {
        maps.set('fo_config', Buffer.alloc(4), config());
        return { maps, progId: await this.progIdOf(this.progPath), how: 'reused', previousProgId: null };
      }
      maps.close();
      const previousProgId = existsSync(this.progPath) ? await this.progIdOf(this.progPath).catch(() => null) : null;
      const next = `${this.progPath}_new`; // bpffs reserves names with dots
      const newMaps = `${this.mapsDir}_new`;
      rmSync(next, { force: true });
      rmSync(newMaps, { recursive: true, force: true });
      const reuse = present.flatMap((n) => ['map', 'name', n, 'pinned', join(this.mapsDir, n)]);
      // pinmaps pins every map, the reused ones a second time: only the new ones are moved over.
      const pin = missing.length > 0 ? ['pinmaps', newMaps] : [];
      try {
        await this.run(['bpftool', 'prog', 'load', this.objectPath, next, 'type', 'xdp', ...reuse, ...pin], 'load the XDP program into the pinned maps');
        for (const n of missing) renameSync(join(newMaps, n), join(this.mapsDir, n));
      } finally {
        rmSync(newMaps, { recursive: true, force: true });
      }
      rmSync(this.progPath, { force: true });
      renameSync(next, this.progPath);
      const all = PinnedMaps.open(this.mapsDir);
      all.set('fo_config', Buffer.alloc(4), config());
      return { maps: all, progId: await this.progIdOf(this.progPath), how: 'upgraded', previousProgId };
    }
    // Fresh: whatever partial state is there was ours and is unusable. A
    // program pinned with maps of another layout (an older agent) may still
    // be attached: it is ours to replace, atomically, like an upgrade.
    const previousProgId = existsSync(this.progPath) ? await this.progIdOf(this.progPath).catch(() => null) : null;
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    try {
      await this.run(
        ['bpftool', 'prog', 'load', this.objectPath, this.progPath, 'type', 'xdp', 'pinmaps', this.mapsDir],
        'load and pin the XDP program',
      );
      const fresh = PinnedMaps.open(this.mapsDir);
      fresh.set('fo_config', Buffer.alloc(4), encodeConfig({ hashV4: policies.v4, hashV6: policies.v6, seed: randomInt(0, 2 ** 32 - 1), buildId }));
      return { maps: fresh, progId: await this.progIdOf(this.progPath), how: previousProgId !== null ? 'upgraded' : 'fresh', previousProgId };
    } catch (err) {
      rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Every link in this namespace with its XDP attachment. */
  async links(): Promise<LinkXdp[]> {
    const out = await this.run(['ip', '-j', '-d', 'link', 'show'], 'list links');
    return (JSON.parse(out) as IpLinkJson[]).map((l) => ({
      ifindex: l.ifindex,
      dev: l.ifname,
      progId: l.xdp?.prog?.id ?? null,
      mode: l.xdp?.mode !== undefined ? XDP_MODES[l.xdp.mode] ?? String(l.xdp.mode) : null,
      progName: l.xdp?.prog?.name ?? null,
      ...(l.linkinfo?.info_kind === 'vlan' && l.linkinfo.info_data?.protocol === '802.1Q' && l.link && l.link_netnsid === undefined
        ? { vlanOn: l.link } : {}),
    }));
  }

  /**
   * Attach the pinned program to `dev`. Already ours → nothing (or, after an
   * upgrade, an atomic replace in the same mode). Another program there →
   * refused: the agent never touches what it didn't make. Native refused by
   * the driver → generic, reported.
   */
  async attach(link: LinkXdp, progId: number, mode: XdpMode, ours: ReadonlySet<number>): Promise<AttachResult> {
    if (link.progId === progId) {
      return { dev: link.dev, mode: link.mode === 'generic' ? 'generic' : 'native', changed: false };
    }
    if (link.progId !== null && !ours.has(link.progId)) {
      throw new Error(`${link.dev} already runs XDP program id ${link.progId}, not fib-offload's: leaving it alone`);
    }
    const replace = link.progId !== null;
    const attachAs = async (m: XdpMode): Promise<void> => {
      await this.run(
        ['ip', ...(replace ? ['-force'] : []), 'link', 'set', 'dev', link.dev, m === 'native' ? 'xdpdrv' : 'xdpgeneric', 'pinned', this.progPath],
        `attach XDP (${m}) to ${link.dev}`,
      );
    };
    // Replacing ours keeps its mode: switching modes needs a detach (a gap).
    const want: XdpMode = replace ? (link.mode === 'generic' ? 'generic' : 'native') : mode;
    if (want === 'generic') {
      await attachAs('generic');
      return { dev: link.dev, mode: 'generic', changed: true };
    }
    try {
      await attachAs('native');
      return { dev: link.dev, mode: 'native', changed: true };
    } catch (err) {
      if (replace) throw err;
      await attachAs('generic');
      const why = err instanceof ToolError ? err.stderr.trim().split('\n').pop() ?? err.message : String(err);
      return { dev: link.dev, mode: 'generic', changed: true, fallbackReason: why };
    }
  }

  /**
   * The program keys VLAN ports by the tag in the frame, so a VLAN port's
   * parent must not strip it before XDP runs (rx VLAN offload: the driver
   * moves the tag into metadata the program can't read). Turned off
   * (idempotent); it throws when the driver can't (`on [fixed]`) or ethtool
   * is missing, and the caller leaves that parent's VLAN ports to the kernel.
   */
  async vlanRxOffloadOff(dev: string): Promise<void> {
    await this.run(['ethtool', '-K', dev, 'rxvlan', 'off'], `turn off rx VLAN offload (tag stripping) on ${dev}`);
  }

  /** Detach from `dev` if (and only if) the attached program is ours. */
  async detach(link: LinkXdp, ours: ReadonlySet<number>): Promise<boolean> {
    if (link.progId === null || !ours.has(link.progId)) return false;
    await this.run(['ip', 'link', 'set', 'dev', link.dev, 'xdp', 'off'], `detach XDP from ${link.dev}`);
    return true;
  }

  /** Remove the pinned program and maps (after detaching: the attachment holds its own reference). */
  removePins(): void {
    rmSync(this.dir, { recursive: true, force: true });
    // The shared parent goes too once no namespace has anything pinned.
    const parent = dirname(this.dir);
    try {
      rmdirSync(parent);
    } catch {
      // not empty, or already gone
    }
  }
}

/**
 * Make the far end of a veth pair (in another namespace) able to take part in
 * XDP forwarding, for the tests and the lab:
 * - veth delivers XDP-redirected frames only to a peer that is up and has an
 *   XDP program (or GRO): attach the pass-everything program;
 * - a veth sender leaves TCP/UDP checksums for "hardware" to finish
 *   (CHECKSUM_PARTIAL), which the kernel's own forwarding carries along as
 *   skb metadata but XDP, seeing bytes, can't: turn tx checksumming off so
 *   frames leave complete, as they do from a real NIC.
 */
export async function prepareVethPeer(netnsName: string, dev: string, run: Runner = runTool): Promise<void> {
  await run(
    ['ip', '-n', netnsName, 'link', 'set', 'dev', dev, 'xdpdrv', 'obj', passObjectPath(), 'sec', 'xdp'],
    `attach xdp_pass to ${dev} in ${netnsName}`,
  );
  await run(['ip', 'netns', 'exec', netnsName, 'ethtool', '-K', dev, 'tx', 'off'], `turn off tx checksumming on ${dev} in ${netnsName}`);
  // A VLAN device on this end hands its tag to the veth as metadata (tx VLAN offload), which XDP on
  // dut's end never sees (it reads the frame): in software, the tag is in the frame, as on a wire.
  await run(['ip', 'netns', 'exec', netnsName, 'ethtool', '-K', dev, 'txvlan', 'off'], `turn off tx VLAN offload on ${dev} in ${netnsName}`);
}
