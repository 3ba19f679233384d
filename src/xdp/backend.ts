// The XDP backend: keeps the pinned maps equal to the plan and the program
// attached to exactly the plan's XDP ports. Reconcile reads the maps back and
// changes only the difference; the daemon's incremental path applies plan ops.
import { performance } from 'node:perf_hooks';
import type { Plan, PlanOp } from '../plan/index.js';
import { decodeConfig, decodeStatKey, encodeConfig, type Counter, type Verdict } from './layout.js';
import {
  DEFAULT_BPFFS,
  XdpLoader,
  hashPolicies,
  type AttachResult,
  type EcmpHash,
  type LinkXdp,
  type LoadResult,
  type Runner,
  type XdpMode,
} from './loader.js';
import type { MemberCounter, PinnedMaps } from './maps.js';
export type { MemberCounter } from './maps.js';
import {
  PLAN_MAPS,
  desiredState,
  diffStates,
  emptyState,
  isXdp,
  planOpsToMapOps,
  type MapOp,
  type PlanMap,
  type XdpState,
} from './state.js';

export interface XdpBackendOptions {
  readonly bpffs?: string;
  readonly mode: XdpMode;
  readonly hash: EcmpHash;
  readonly objectPath?: string;
  /** Pin directory override (tests); default <bpffs>/fib-offload/ns<netns inode>. */
  readonly pinDir?: string;
  readonly run?: Runner;
}

export interface MapOpCounts {
  adds: number;
  updates: number;
  deletes: number;
}

export interface ProgramResult {
  readonly counts: Readonly<Record<PlanMap, MapOpCounts>>;
  readonly ops: number;
  readonly seconds: number;
}

export interface ReconcileResult extends ProgramResult {
  readonly attached: readonly AttachResult[];
  readonly detached: readonly string[];
  /** XDP ports the program could not be attached to, with why: left to the kernel. */
  readonly refused: ReadonlyArray<{ readonly dev: string; readonly reason: string }>;
  /** fo_stats keys removed because their group or member is gone. */
  readonly staleCounters: number;
}

function zeroCounts(): Record<PlanMap, MapOpCounts> {
  return Object.fromEntries(PLAN_MAPS.map((m) => [m, { adds: 0, updates: 0, deletes: 0 }])) as Record<PlanMap, MapOpCounts>;
}

export class XdpBackend {
  readonly loader: XdpLoader;
  readonly load: LoadResult;
  private readonly maps: PinnedMaps;
  private mode: XdpMode;
  /** Program ids that are ours: the pinned one and, after an upgrade, the one it replaced. */
  private readonly ours: Set<number>;
  /** XDP ports whose attach was refused (another program, or both modes failed). */
  private unusable = new Set<number>();

  private constructor(loader: XdpLoader, load: LoadResult, mode: XdpMode) {
    this.loader = loader;
    this.load = load;
    this.maps = load.maps;
    this.mode = mode;
    this.ours = new Set([load.progId, ...(load.previousProgId !== null ? [load.previousProgId] : [])]);
  }

  /** Mount bpffs if needed, then load or reuse the pinned program and maps. */
  static async open(opts: XdpBackendOptions): Promise<XdpBackend> {
    const bpffs = opts.bpffs ?? DEFAULT_BPFFS;
    const loader = loaderFor(opts);
    await loader.ensureBpffs(opts.pinDir ? bpffsRootOf(opts.pinDir, bpffs) : bpffs);
    return new XdpBackend(loader, await loader.load(opts.hash), opts.mode);
  }

  /** Rewrite the hash fields of fo_config (keeping the seed, so flows stay where they are). */
  setHash(hash: EcmpHash): void {
    const key = Buffer.alloc(4);
    const cur = decodeConfig(this.maps.get('fo_config').get(key)!);
    const p = hashPolicies(hash);
    if (p.v4 !== cur.hashV4 || p.v6 !== cur.hashV6) {
      this.maps.set('fo_config', key, encodeConfig({ ...cur, hashV4: p.v4, hashV6: p.v6 }));
    }
  }

  /** Attach mode for ports attached from now on. */
  setMode(mode: XdpMode): void {
    this.mode = mode;
  }

  get progId(): number {
    return this.load.progId;
  }

  /** What the plan-owned maps hold now. */
  installed(): XdpState {
    const s = emptyState();
    for (const map of PLAN_MAPS) {
      for (const [key, value] of this.maps.entries(map)) s[map].set(key.toString('hex'), { key, value });
    }
    return s;
  }

  /**
   * Apply map ops in order; stops at the first failure (the ops are ordered
   * so any prefix is safe). A run of sets to one map goes in batches: their
   * order among themselves doesn't matter, only relative to other maps.
   */
  program(ops: readonly MapOp[]): ProgramResult {
    const counts = zeroCounts();
    const t0 = performance.now();
    let i = 0;
    while (i < ops.length) {
      const op = ops[i]!;
      const c = counts[op.map];
      if (op.op === 'delete') {
        this.maps.delete(op.map, op.key);
        c.deletes++;
        i++;
        continue;
      }
      const run: Array<[Buffer, Buffer]> = [];
      let j = i;
      for (; j < ops.length; j++) {
        const o = ops[j]!;
        if (o.op !== 'set' || o.map !== op.map) break;
        run.push([o.key, o.value]);
        if (o.add) c.adds++; else c.updates++;
      }
      if (run.length === 1) this.maps.set(op.map, run[0]![0], run[0]![1]);
      else this.maps.setMany(op.map, run);
      i = j;
    }
    return { counts, ops: ops.length, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * Make the installed offload equal to the plan: attach to new XDP ports
   * (the program passes everything on a port until its entry exists), write
   * the map differences, then detach from ports that left. Nothing is
   * flushed; a second call with the same plan changes nothing.
   */
  async reconcile(plan: Plan): Promise<ReconcileResult> {
    const links = await this.loader.links();
    const byIfindex = new Map(links.map((l) => [l.ifindex, l] as const));
    const want = plan.ports.filter(isXdp);
    const attached: AttachResult[] = [];
    const refused: Array<{ dev: string; reason: string }> = [];
    this.unusable = new Set();
    for (const p of want) {
      const link = byIfindex.get(p.ifindex);
      if (!link) {
        this.unusable.add(p.ifindex);
        refused.push({ dev: p.dev, reason: 'link is gone' });
        continue;
      }
      try {
        const r = await this.loader.attach(link, this.progId, this.mode, this.ours);
        if (r.changed) attached.push(r);
      } catch (err) {
        this.unusable.add(p.ifindex);
        refused.push({ dev: p.dev, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    // After an upgrade, links running the old program that aren't XDP ports any more still get the new one detached below.
    const result = this.program(diffStates(this.installed(), desiredState(plan, this.unusable)));
    const staleCounters = this.pruneCounters(plan);

    const keep = new Set(want.map((p) => p.ifindex).filter((i) => !this.unusable.has(i)));
    const detached: string[] = [];
    for (const link of links) {
      if (!keep.has(link.ifindex) && (await this.loader.detach(link, this.ours))) detached.push(link.dev);
    }
    return { ...result, attached, detached, refused, staleCounters };
  }

  /**
   * The daemon's path: plan ops from diffPlans(prev, next). Port changes
   * alter every group's reachable members, so they take a full reconcile.
   */
  async applyOps(ops: readonly PlanOp[], next: Plan): Promise<ProgramResult | ReconcileResult> {
    const mapOps = planOpsToMapOps(ops, next, this.unusable);
    if (mapOps === null) return this.reconcile(next);
    return this.program(mapOps);
  }

  /** Per-verdict totals over all CPUs. */
  verdicts(): Record<Verdict, Counter> {
    return this.maps.verdicts();
  }

  /** Forwarded packets/bytes per (group, egress, neighbour MAC): what keepalive and metrics read. */
  memberCounters(): MemberCounter[] {
    return this.maps.memberCounters();
  }

  /** Drop counters of groups or members the plan no longer has. */
  private pruneCounters(plan: Plan): number {
    const live = new Set<string>();
    for (const g of plan.groups) for (const m of g.members) live.add(`${g.id}|${m.ifindex}|${m.dmac}`);
    let n = 0;
    for (const [key] of this.maps.entries('fo_stats')) {
      const k = decodeStatKey(key);
      if (!live.has(`${k.group}|${k.ifindex}|${k.dmac}`)) {
        this.maps.delete('fo_stats', key);
        n++;
      }
    }
    return n;
  }

  close(): void {
    this.maps.close();
  }

  /**
   * Remove everything the agent made in this namespace: detach the pinned
   * program wherever it is attached, then unpin program and maps. Returns the
   * links it detached from; nothing pinned → nothing to do.
   */
  static async flush(opts: Pick<XdpBackendOptions, 'bpffs' | 'pinDir' | 'run'> = {}): Promise<{ pinned: boolean; detached: string[]; dir: string }> {
    const loader = loaderFor(opts);
    if (!loader.pinned()) return { pinned: false, detached: [], dir: loader.dir };
    const ours = new Set<number>();
    for (const path of [loader.progPath, `${loader.progPath}_new`]) {
      try {
        ours.add(await loader.progIdOf(path));
      } catch {
        // not pinned
      }
    }
    const detached: string[] = [];
    const links: LinkXdp[] = await loader.links();
    for (const link of links) if (await loader.detach(link, ours)) detached.push(link.dev);
    loader.removePins();
    return { pinned: true, detached, dir: loader.dir };
  }
}

function loaderFor(opts: Pick<XdpBackendOptions, 'bpffs' | 'objectPath' | 'pinDir' | 'run'>): XdpLoader {
  return new XdpLoader({
    bpffs: opts.bpffs ?? DEFAULT_BPFFS,
    ...(opts.objectPath ? { objectPath: opts.objectPath } : {}),
    ...(opts.pinDir ? { pinDir: opts.pinDir } : {}),
    ...(opts.run ? { run: opts.run } : {}),
  });
}

/** The bpffs mount point a pin directory lives under (the configured root when the dir is below it). */
function bpffsRootOf(pinDir: string, bpffs: string): string {
  return pinDir.startsWith(bpffs + '/') ? bpffs : pinDir;
}
