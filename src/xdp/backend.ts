// The XDP backend: keeps the pinned maps equal to the plan and the program
// attached to exactly the plan's XDP ports. Reconcile reads the maps back and
// changes only the difference; the daemon's incremental path applies plan ops.
import { performance } from 'node:perf_hooks';
import { entryRowsOf, type Plan, type PlanOp } from '../plan/index.js';
import { DEFAULT_AUDIT_RATE, decodeConfig, decodeStatKey, encodeConfig, type AuditCpu, type Counter, type Verdict } from './layout.js';
import {
  DEFAULT_BPFFS,
  PROG_NAME,
  hostPath,
  resolveBpffs,
  XdpLoader,
  hashPolicies,
  runTool,
  type AttachResult,
  type EcmpHash,
  type LinkXdp,
  type LoadResult,
  type Runner,
  type XdpMode,
} from './loader.js';
import type { MemberCounter, PinnedMaps } from './maps.js';
export type { MemberCounter } from './maps.js';
import type { MapRef } from 'bpf';
import { arrayReadAll, arrayWrite } from './bulk.js';
import { Dir24Table, type D24Writes } from './dir24.js';
import { FlatStore } from './flat.js';
import { FLAT4_ENTRIES, TBL8_GROUPS, ipv4Prefix } from './layout.js';
import {
  PLAN_MAPS,
  attachIfindex,
  chooseFlat,
  desiredState,
  diffStates,
  emptyState,
  flatValue,
  isXdp,
  planOpsToMapOps,
  v4Counts,
  type MapOp,
  type PlanMap,
  type XdpState,
} from './state.js';

/**
 * IPv4 tables with at least this many entries get a flat DIR-24-8 array
 * (`xdp.flat_threshold`). Measured (bench/lookup.ts, spread destinations):
 * trie and array forward at the same rate at 1,000 routes, the array 1.1x
 * the trie at 10,000 and 3.6x at 1M; each array costs 80 MiB.
 */
export const DEFAULT_FLAT_THRESHOLD = 10_000;

export interface XdpBackendOptions {
  readonly bpffs?: string;
  readonly mode: XdpMode;
  readonly hash: EcmpHash;
  readonly objectPath?: string;
  /** Pin directory override (tests); default <bpffs>/fib-offload/ns<netns inode>. */
  readonly pinDir?: string;
  readonly run?: Runner;
  /** IPv4 tables with at least this many entries use a flat array; 0 = every table with an IPv4 entry. */
  readonly flatThreshold?: number;
  /** xdp.audit_rate: 1 in this many forwarded packets per CPU is checked against the kernel's lookup; 0 = off. */
  readonly auditRate?: number;
}

/** A flat table as installed: its DIR-24-8 bookkeeping and its array in the kernel. */
interface FlatTable {
  readonly dir: Dir24Table;
  readonly ref: MapRef;
}

export interface FlatTableStats {
  readonly table: number;
  readonly routes: number;
  readonly tbl8Used: number;
  readonly tbl8Free: number;
  /** /24 blocks handed to the kernel because no tbl8 group was free. */
  readonly starved: number;
}

export interface MapOpCounts {
  adds: number;
  updates: number;
  deletes: number;
}

/** Route ops per map; 'flat4' counts the routes of flat tables (not array slots). */
export type CountedMap = PlanMap | 'flat4';

export interface ProgramResult {
  readonly counts: Readonly<Record<CountedMap, MapOpCounts>>;
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
  /** Flat IPv4 tables as reconciled, and tables whose flat array was withdrawn. */
  readonly flat: readonly FlatSync[];
  readonly flatWithdrawn: readonly number[];
}

export interface FlatSync {
  readonly table: number;
  readonly routes: number;
  /** Array slots written (0 when the kernel already held this table). */
  readonly written: number;
  /** The array was made now (the table just became flat, or its pin was missing). */
  readonly made: boolean;
  /** fo_flat4 now points at it (it didn't before). */
  readonly published: boolean;
}

function zeroCounts(): Record<CountedMap, MapOpCounts> {
  return Object.fromEntries([...PLAN_MAPS, 'flat4'].map((m) => [m, { adds: 0, updates: 0, deletes: 0 }])) as Record<CountedMap, MapOpCounts>;
}

function sameSet(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
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
  private readonly store: FlatStore;
  private readonly flatThreshold: number;
  /** Flat tables as installed, by table. */
  private readonly flat = new Map<number, FlatTable>();
  /**
   * Flat tables whose kernel array is what their running Dir24Table says:
   * every write since it was read back (or made) succeeded. A resync then
   * converges that table to the plan (set/delete of the differences) instead
   * of reading 20M entries back and rebuilding (7.4 s at 1M routes); a table
   * whose write failed midway, and every table at start, is read back.
   */
  private readonly flatClean = new Set<number>();
  /** IPv4 entries per table in the plan last programmed: decides when a table moves to or from a flat array. */
  private v4 = new Map<number, number>();

  private constructor(loader: XdpLoader, load: LoadResult, mode: XdpMode, flatThreshold: number, run: Runner) {
    this.loader = loader;
    this.load = load;
    this.maps = load.maps;
    this.mode = mode;
    this.ours = new Set([load.progId, ...(load.previousProgId !== null ? [load.previousProgId] : [])]);
    this.store = new FlatStore(loader.mapsDir, load.maps.get('fo_flat4'), run);
    this.flatThreshold = flatThreshold;
  }

  /** Mount bpffs if needed, then load or reuse the pinned program and maps. */
  static async open(opts: XdpBackendOptions): Promise<XdpBackend> {
    const bpffs = resolveBpffs(opts.bpffs ?? DEFAULT_BPFFS);
    const loader = loaderFor(opts);
    await loader.ensureBpffs(opts.pinDir ? bpffsRootOf(opts.pinDir, bpffs) : bpffs);
    const threshold = opts.flatThreshold ?? DEFAULT_FLAT_THRESHOLD;
    const backend = new XdpBackend(loader, await loader.load(opts.hash), opts.mode, threshold, opts.run ?? runTool);
    try {
      backend.setAuditRate(opts.auditRate ?? DEFAULT_AUDIT_RATE);
    } catch (err) {
      backend.close();
      throw err;
    }
    return backend;
  }

  /** Write xdp.audit_rate into the program's fo_audit_conf (when it differs). */
  setAuditRate(rate: number): void {
    const c = this.maps.auditConf();
    if (c.rate !== rate) this.maps.setAuditConf({ ...c, rate });
  }

  get auditRate(): number {
    return this.maps.auditRate();
  }

  /** How far disagreements have been taken from the rings (kept in the pinned map across restarts). */
  get auditTakenNs(): bigint {
    return this.maps.auditConf().takenNs;
  }

  set auditTakenNs(ns: bigint) {
    const c = this.maps.auditConf();
    if (c.takenNs !== ns) this.maps.setAuditConf({ ...c, takenNs: ns });
  }

  /** The audit's counters and recent disagreements, CPU by CPU. */
  audit(): AuditCpu[] {
    return this.maps.audit();
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
      if (op.op === 'flat-set' || op.op === 'flat-delete') {
        i = this.programFlatRun(ops, i, counts.flat4);
        continue;
      }
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
   * A run of flat-table route ops from ops[i]: applied to each table's
   * DIR-24-8, then its writes go out, tbl8 groups before the tbl24 entries
   * that point at them. Returns the index after the run.
   */
  private programFlatRun(ops: readonly MapOp[], i: number, c: MapOpCounts): number {
    const touched = new Set<FlatTable>();
    for (; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.op !== 'flat-set' && op.op !== 'flat-delete') break;
      const t = this.flat.get(op.table);
      if (!t) throw new Error(`flat op for table ${op.table}, which has no flat array`);
      if (op.op === 'flat-set') {
        t.dir.set(op.addr, op.len, op.value);
        if (op.add) c.adds++; else c.updates++;
      } else {
        t.dir.delete(op.addr, op.len);
        c.deletes++;
      }
      touched.add(t);
    }
    for (const [table, t] of this.flat) {
      if (!touched.has(t)) continue;
      this.flatClean.delete(table);
      writeFlat(t.ref, t.dir.take());
      this.flatClean.add(table);
    }
    return i;
  }

  /**
   * Build or rebuild the flat arrays of `tables` from the plan: each array
   * is read back (unless just made), and only what differs is written, tbl8
   * groups first; a table not yet published is published after its array is
   * complete.
   */
  private async syncFlat(plan: Plan, tables: ReadonlySet<number>): Promise<FlatSync[]> {
    const published = this.store.published();
    const out: FlatSync[] = [];
    for (const table of tables) {
      const running = this.flat.get(table);
      const routes: Array<[number, number, number]> = [];
      for (const e of entryRowsOf(plan)) {
        if (e.family !== 4 || e.table !== table) continue;
        const { addr, len } = ipv4Prefix(e.dst);
        routes.push([addr, len, flatValue(e)]);
      }
      let ref: MapRef;
      let made = false;
      let written: number;
      if (running && this.flatClean.has(table)) {
        // Every write since the array was read back succeeded: the running table is what the kernel holds.
        ref = running.ref;
        running.dir.converge(routes);
        const writes = running.dir.take();
        this.flatClean.delete(table);
        writeFlat(ref, writes);
        this.flatClean.add(table);
        written = writes.tbl8.indices.length + writes.tbl24.indices.length;
      } else {
        const pinned = running?.ref ?? this.store.open(table);
        const installed = pinned ? arrayReadAll(pinned, FLAT4_ENTRIES, `read the flat array of table ${table}`) : undefined;
        ref = pinned ?? await this.store.create(table);
        made = !installed;
        // Groups the running table retired moments ago may still be read through an old pointer: not reusable yet.
        const quarantined = running?.dir.quarantinedGroups() ?? [];
        const { table: dir, writes } = Dir24Table.build(routes, { tbl8Groups: TBL8_GROUPS, quarantined, ...(installed ? { installed } : {}) });
        this.flatClean.delete(table);
        writeFlat(ref, writes);
        this.flatClean.add(table);
        this.flat.set(table, { dir, ref });
        written = writes.tbl8.indices.length + writes.tbl24.indices.length;
      }
      const publish = published.get(table) !== ref.id;
      if (publish) this.store.publish(table, ref);
      out.push({ table, routes: routes.length, written, made, published: publish });
    }
    return out;
  }

  /** Withdraw and unpin every flat array not in `keep`: tables that left, and leftovers of earlier runs. */
  private retireFlat(keep: ReadonlySet<number>): number[] {
    const withdrawn: number[] = [];
    for (const table of this.store.published().keys()) {
      if (keep.has(table)) continue;
      this.store.unpublish(table);
      withdrawn.push(table);
    }
    for (const [table, t] of this.flat) {
      if (keep.has(table)) continue;
      t.ref.close();
      this.flat.delete(table);
      this.flatClean.delete(table);
    }
    for (const table of this.store.pinnedTables()) if (!keep.has(table)) this.store.unpin(table);
    return withdrawn;
  }

  /** Flat tables with their DIR-24-8 occupancy: /status and metrics. */
  flatStats(): FlatTableStats[] {
    return [...this.flat].map(([table, t]) => {
      const s = t.dir.stats();
      return { table, routes: s.routes, tbl8Used: s.tbl8Used, tbl8Free: s.tbl8Free, starved: s.starved };
    });
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
    // Our program attached with no pin naming it (pins lost): ours to replace, atomically, like an upgrade.
    for (const l of links) {
      if (l.progId !== null && !this.ours.has(l.progId) && l.progName === PROG_NAME && await this.loader.ownsProgram(l.progId)) this.ours.add(l.progId);
    }
    // The program runs on each port's device, for a VLAN sub-interface on its parent
    // (once, however many of the parent's VLANs are ports); a refusal there takes them all.
    const targets = new Map<number, typeof want>();
    for (const p of want) {
      const t = attachIfindex(p);
      const list = targets.get(t);
      if (list) list.push(p);
      else targets.set(t, [p]);
    }
    for (const [target, ports] of targets) {
      const link = byIfindex.get(target);
      let reason: string | null = null;
      if (!link) {
        reason = 'link is gone';
      } else {
        try {
          const r = await this.loader.attach(link, this.progId, this.mode, this.ours);
          if (r.changed) attached.push(r);
        } catch (err) {
          reason = err instanceof Error ? err.message : String(err);
        }
      }
      // A device with 802.1Q VLANs on it must hand XDP the tags: stripped (rx VLAN offload),
      // a VLAN port's frames would look untagged, and a VLAN's frames (whose MAC is by default
      // its parent's) would pass for the parent port's own. A device that can't stop
      // stripping is no port's: the kernel keeps them all.
      if (reason === null && link && (ports.some((p) => p.vlan) || links.some((l) => l.vlanOn === link.dev))) {
        try {
          await this.loader.vlanRxOffloadOff(link.dev);
        } catch (err) {
          reason = `${link.dev} strips VLAN tags before XDP: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      if (reason === null) continue;
      for (const p of ports) {
        this.unusable.add(p.ifindex);
        refused.push({ dev: p.dev, reason: p.vlan ? `parent ${p.vlan.parentDev}: ${reason}` : reason });
      }
    }
    // After an upgrade, links running the old program that aren't XDP ports any more still get the new one detached below.
    const usable = want.some((p) => !this.unusable.has(p.ifindex));
    this.v4 = v4Counts(plan);
    const flat = usable ? chooseFlat(this.v4, new Set(this.flat.keys()), this.flatThreshold) : new Set<number>();
    const ops = diffStates(this.installed(), desiredState(plan, this.unusable, flat));
    // Egress ports and groups first, then the flat arrays (they point at
    // groups), then the other route and port sets; tables leaving the flat
    // arrays are withdrawn once their LPM entries are in, before any delete.
    const t0 = performance.now();
    const firstDelete = ops.findIndex((o) => o.op === 'delete');
    const sets = firstDelete < 0 ? ops : ops.slice(0, firstDelete);
    const deletes = firstDelete < 0 ? [] : ops.slice(firstDelete);
    const isBase = (o: MapOp): boolean => o.op === 'set' && (o.map === 'fo_tx' || o.map === 'fo_groups');
    const parts = [this.program(sets.filter(isBase))];
    const flatSync = await this.syncFlat(plan, flat);
    parts.push(this.program(sets.filter((o) => !isBase(o))));
    const flatWithdrawn = this.retireFlat(flat);
    parts.push(this.program(deletes));
    const merged = mergeResults(parts, (performance.now() - t0) / 1000);
    const flatOps = flatSync.reduce((n, f) => n + f.written + (f.published ? 1 : 0), 0) + flatWithdrawn.length;
    const result = { ...merged, ops: merged.ops + flatOps };
    const staleCounters = this.pruneCounters(plan);

    const keep = new Set(want.filter((p) => !this.unusable.has(p.ifindex)).map(attachIfindex));
    const detached: string[] = [];
    for (const link of links) {
      if (!keep.has(link.ifindex) && (await this.loader.detach(link, this.ours))) detached.push(link.dev);
    }
    return { ...result, attached, detached, refused, staleCounters, flat: flatSync, flatWithdrawn };
  }

  /**
   * The daemon's path: plan ops from diffPlans(prev, next). Port changes
   * alter every group's reachable members, so they take a full reconcile.
   */
  async applyOps(ops: readonly PlanOp[], next: Plan): Promise<ProgramResult | ReconcileResult> {
    // A table crossing the flat threshold moves between LPM trie and array: a full reconcile does that in a safe order.
    const v4 = new Map(this.v4);
    for (const op of ops) {
      if ((op.op === 'entry-add' || op.op === 'entry-delete') && op.entry.family === 4) {
        const n = (v4.get(op.entry.table) ?? 0) + (op.op === 'entry-add' ? 1 : -1);
        // As v4Counts(plan): a table without IPv4 entries is absent, so it leaves the flat array too.
        if (n > 0) v4.set(op.entry.table, n);
        else v4.delete(op.entry.table);
      }
    }
    const flat = new Set(this.flat.keys());
    if (this.flat.size > 0 || this.v4.size > 0) {
      if (!sameSet(chooseFlat(v4, flat, this.flatThreshold), flat) && next.ports.some((p) => isXdp(p) && !this.unusable.has(p.ifindex))) {
        return this.reconcile(next);
      }
    }
    const mapOps = planOpsToMapOps(ops, next, this.unusable, flat);
    if (mapOps === null) return this.reconcile(next);
    const r = this.program(mapOps);
    this.v4 = v4;
    return r;
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
    for (const t of this.flat.values()) t.ref.close();
    this.flat.clear();
    this.flatClean.clear();
    this.maps.close();
  }

  /**
   * Remove everything the agent made in this namespace: detach the pinned
   * program wherever it is attached, then unpin program and maps. A program
   * named fib_offload still attached without a pin (pins lost: a private
   * bpffs, a deleted directory) is detached too. Throws if any is still
   * attached afterwards: a flush that reports success while the program
   * forwards on stale maps is the one thing it must never do.
   */
  static async flush(opts: Pick<XdpBackendOptions, 'bpffs' | 'pinDir' | 'run'> = {}): Promise<FlushResult> {
    const loader = loaderFor(opts);
    const pinned = loader.pinned();
    const ours = new Set<number>();
    for (const path of pinned ? [loader.progPath, `${loader.progPath}_new`] : []) {
      try {
        ours.add(await loader.progIdOf(path));
      } catch {
        // not pinned
      }
    }
    const detached: string[] = [];
    const unpinned: string[] = [];
    const found = new Set<number>();
    for (const link of await loader.links()) {
      if (await loader.detach(link, ours)) detached.push(link.dev);
      else if (link.progId !== null && link.progName === PROG_NAME && (found.has(link.progId) || await loader.ownsProgram(link.progId))) {
        found.add(link.progId);
        if (await loader.detach(link, found)) unpinned.push(link.dev);
      }
    }
    if (pinned) loader.removePins();
    const left = (await loader.links()).filter((l) => l.progId !== null && (ours.has(l.progId) || found.has(l.progId)));
    if (left.length > 0) {
      throw new Error(`flush: fib-offload's XDP program is still attached to ${left.map((l) => `${l.dev} (program id ${l.progId})`).join(', ')}`);
    }
    return { pinned, detached, unpinned, dir: hostPath(loader.dir) };
  }
}

export interface FlushResult {
  /** Anything was pinned in this namespace's directory (now removed). */
  readonly pinned: boolean;
  /** Links the pinned program was detached from. */
  readonly detached: readonly string[];
  /** Links a fib_offload program was detached from that no pin named (pins lost). */
  readonly unpinned: readonly string[];
  /** The pin directory, as the host names it. */
  readonly dir: string;
}

/** Write a DIR-24-8 change set: every tbl8 slot, then the tbl24 entries (a reader never follows a pointer into a half-built group). */
function writeFlat(ref: MapRef, w: D24Writes): void {
  if (w.tbl8.indices.length > 0) arrayWrite(ref, w.tbl8.indices, w.tbl8.values, 'write tbl8 groups of a flat IPv4 array');
  if (w.tbl24.indices.length > 0) arrayWrite(ref, w.tbl24.indices, w.tbl24.values, 'write tbl24 of a flat IPv4 array');
}

function mergeResults(parts: readonly ProgramResult[], seconds: number): ProgramResult {
  const counts = zeroCounts();
  let ops = 0;
  for (const p of parts) {
    ops += p.ops;
    for (const [m, c] of Object.entries(p.counts) as Array<[CountedMap, MapOpCounts]>) {
      counts[m].adds += c.adds;
      counts[m].updates += c.updates;
      counts[m].deletes += c.deletes;
    }
  }
  return { counts, ops, seconds };
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
