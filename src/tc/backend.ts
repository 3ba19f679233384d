// The tc flower backend: keeps each table's shared ingress block equal to the
// plan. Reconcile dumps the block, matches the agent's filters (by cookie) to
// the desired ones by identity (chain, protocol, priority, match), and adds,
// replaces or deletes only the difference; every add/replace is echoed
// (NLM_F_ECHO) and the echo checked against the request, so the handle and
// in_hw state of each rule are known; a block with READBACK_THRESHOLD writes
// or more sends them unechoed and checks them all with one read-back dump
// instead. Hardware refusal (hw-only) is found
// with a throw-away probe filter before anything is written.
//
// `probeBlocks` + `reconcileWith` + `applyOps` leave the placement to the
// caller (src/reconcile: a refusal is reported, never acted on here) and
// send, per batch, only the requests the plan ops need, using the handles the
// last reconcile read back.
import { performance } from 'node:perf_hooks';
import { ConfigError, NetlinkError } from '../errors.js';
import { blockOf, type Plan, type PlanOp, type PlanPort } from '../plan/index.js';
import { NLM_F_ECHO } from '../netlink/codec/constants.js';
import { RtnlChannel } from '../netlink/socket.js';
import { isHardwareRefusal, kernelError } from '../reconcile/errno.js';
import type { ApplyReport, KernelErrorInfo, OpFailure, RefusedPort, Subject, TcBlockProbe } from '../reconcile/types.js';
import {
  decodeFilter, decodeQdisc, encodeClsactAdd, encodeClsactDelete, encodeFilter, encodeFilterDelete,
  encodeFilterDump, encodeQdiscDump, placementOf, type FilterId, type FilterPlacement, type InstalledFilter,
  type QdiscInfo, type TcRequest,
} from '../netlink/codec/tc.js';
import { TcCompression } from './compression.js';
import { groupRefsOf, incrementalChanges, type FilterChange } from './incremental.js';
import { chainDepth, desiredBlocks, filterKey, installedSubject, isOurCookie, tcPortsOf, type BlockPlan, type DesiredFilter } from './rules.js';

import type { TcFallback, TcPolicy } from '../config.js';
export type { TcFallback, TcPolicy } from '../config.js';

export interface TcBackendOptions {
  readonly policy: TcPolicy;
  readonly fallback: TcFallback;
  /** Requests unanswered at once within one phase (ordering between phases is kept); the receive buffer may allow fewer. */
  readonly window?: number;
  /** Install each table's entries ORTC-compressed (tc.compress; compression.ts). Default false: one rule per entry. */
  readonly compress?: boolean;
  /** Writes in a block reconcile from which they go unechoed and are checked by one read-back dump (default READBACK_THRESHOLD). */
  readonly readbackThreshold?: number;
}

/**
 * FIB_OFFLOAD_TC_READBACK: the readbackThreshold (a count of writes; 0 =
 * always read back, a huge number = always echo). For measuring the two
 * against each other; the default suits both small and large blocks.
 */
export function readbackThresholdFromEnv(env: NodeJS.ProcessEnv): { readbackThreshold?: number } {
  const text = env['FIB_OFFLOAD_TC_READBACK'];
  if (!text) return {};
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError('FIB_OFFLOAD_TC_READBACK', `expected a count of writes (0 or more); got "${text}"`);
  return { readbackThreshold: n };
}

export type TcOpKind = 'add' | 'replace' | 'delete';

export interface TcOpFailure {
  readonly op: TcOpKind;
  readonly key: string;
  /** The entry, group or block (TTL punts) the rule is for. */
  readonly subject: Subject;
  /** The request: 'add filter block 254 chain 0 ip prio 124'. */
  readonly what: string;
  readonly errno: string;
  readonly extack: string | null;
  readonly message: string;
}


export interface BlockResult {
  readonly block: number;
  readonly table: number;
  readonly placement: FilterPlacement | 'none-installed';
  readonly adds: number;
  readonly replaces: number;
  readonly deletes: number;
  readonly unchanged: number;
  readonly inHw: number;
  readonly notInHw: number;
  readonly failures: readonly TcOpFailure[];
}


/** What `reconcileWith` and `applyOps` did: the contract's report plus the per-block detail. */
export interface TcApplyReport extends ApplyReport {
  readonly backend: 'tc';
  readonly blocks: readonly BlockResult[];
  /** Ports that joined a block (clsact added) and left one (clsact removed). */
  readonly joined: readonly string[];
  readonly left: readonly string[];
  /** Every block was read back and diffed: reconcileWith, or applyOps that could not go incrementally. */
  readonly full: boolean;
  /** Why applyOps reconciled in full instead; null otherwise. */
  readonly fullReason: string | null;
  /** Hardware-only blocks whose rules the hardware refused while installing (despite the probe), first refusal each. */
  readonly hwRefused: ReadonlyMap<number, KernelErrorInfo>;
  /** With tc.compress: the tc tables' plan entries and the prefix rules that install them. null when off. */
  readonly compressed: { readonly rules: number; readonly entries: number } | null;
}

/**
 * A block reconcile with at least this many writes sends them without
 * NLM_F_ECHO and checks them all with one read-back dump afterwards (handle,
 * placement, in_hw, match and cookies, as an echo would be checked). An echo
 * per rule is a full filter dump the kernel builds and queues as its own
 * datagram: it caps pipelined programming below `tc -batch`, which asks for
 * none (BENCH.md, "tc backend in the VM"). Smaller batches are echoed.
 */
export const READBACK_THRESHOLD = 256;

/** Priority and chain of the throw-away probe filter: outside every range the plan uses. */
const PROBE_PRIO = 0xfff0;

interface Op {
  readonly kind: TcOpKind;
  readonly key: string;
  readonly subject: Subject;
  readonly req: TcRequest;
  readonly what: string;
  /** add/replace: what was asked, to check the echo against. */
  readonly want: DesiredFilter | null;
}

/** What the agent last installed in a block: the handle of every rule, by key (dump, then echoes and deletes). */
interface InstalledBlock {
  readonly table: number;
  readonly placement: FilterPlacement;
  readonly filters: Map<string, InstalledFilter>;
}

interface ProbeRecord {
  /** The members the probe was made with, as `ifindex:dev` sorted: a new set means a new probe. */
  readonly members: string;
  readonly probe: TcBlockProbe | null;
  readonly refused: readonly RefusedPort[];
}

function describe(id: FilterId): string {
  return `block ${id.block} chain ${id.chain} ${id.proto} prio ${id.prio}${id.handle ? ` handle 0x${id.handle.toString(16)}` : ''}`;
}

export class TcBackend {
  private readonly channel: RtnlChannel;
  private readonly window: number;
  /** block → the agent's installed rules by key; null until the first reconcileWith. */
  private installedCache: Map<number, InstalledBlock> | null = null;
  /** `${table}|${family}|${group}` → entries of the installed plan jumping to the group (see incremental.ts). */
  private groupRefs = new Map<string, number>();
  private readonly probeCache = new Map<number, ProbeRecord>();
  /** Ports probeBlocks put in a block, reported as joined by the next reconcileWith or applyOps. */
  private joinedByProbe: string[] = [];
  /** The installed plan's entries as tc holds them (compressed or not). */
  private readonly compression: TcCompression;

  constructor(readonly options: TcBackendOptions, channel?: RtnlChannel) {
    this.channel = channel ?? new RtnlChannel();
    this.window = Math.max(1, options.window ?? 1024);
    this.compression = new TcCompression(options.compress ?? false);
  }

  close(): void {
    this.channel.close();
  }

  /** Every qdisc of every link in the namespace. */
  async qdiscs(): Promise<QdiscInfo[]> {
    const out: QdiscInfo[] = [];
    const r = encodeQdiscDump();
    await this.channel.dump(r.type, r.payload, (_t, _f, _s, _p, buf, off, end) => {
      const q = decodeQdisc(buf, off, end);
      if (q) out.push(q);
    }, 'RTM_GETQDISC dump');
    return out;
  }

  /**
   * Every flower filter of a block (all chains); none when the block doesn't
   * exist. `stats: false` leaves the actions' counters undecoded (a diff or a
   * check against the plan needs none).
   */
  async filters(block: number, opts: { readonly stats?: boolean } = {}): Promise<InstalledFilter[]> {
    const out: InstalledFilter[] = [];
    const r = encodeFilterDump(block);
    try {
      await this.channel.dump(r.type, r.payload, (_t, _f, _s, _p, buf, off, end) => {
        const f = decodeFilter(buf, off, end, opts);
        if (f) out.push(f);
      }, `RTM_GETTFILTER dump (block ${block})`);
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === 'EINVAL' || err.code === 'ENOENT')) return [];
      throw err;
    }
    return out;
  }

  /** The agent's filters of a block, keyed by identity (counters not decoded). */
  async installed(block: number, table: number): Promise<Map<string, InstalledFilter>> {
    const out = new Map<string, InstalledFilter>();
    for (const f of await this.filters(block, { stats: false })) {
      if (!isOurCookie(f.actions[0]?.cookie ?? null, table)) continue;
      out.set(filterKey(f.id.chain, f.id.proto, f.id.prio, f.matchKey), f);
    }
    return out;
  }

  private placement(): FilterPlacement {
    return this.options.policy === 'hw-only' ? 'skip_sw' : this.options.policy === 'sw' ? 'skip_hw' : 'none';
  }

  /**
   * Can this block take hardware-only filters? Adds and deletes a throw-away
   * skip_sw filter; a refusal comes back as fields (errno, extack); errors
   * that are not hardware refusals throw.
   */
  private async probeSkipSw(block: number): Promise<KernelErrorInfo | null> {
    const id: FilterId = { block, chain: 0, prio: PROBE_PRIO, proto: 'ip', handle: 0 };
    const probe = encodeFilter({
      id, placement: 'skip_sw', match: { dst: { addr: Uint8Array.of(0, 0, 0, 0), mask: Uint8Array.of(255, 255, 255, 255) } },
      actions: [{ kind: 'pass' }], cookie: Buffer.alloc(0),
    }, 'add');
    let handle = 0;
    try {
      await this.channel.request(probe.type, probe.flags | NLM_F_ECHO, probe.payload, `probe skip_sw on block ${block}`, (_t, _f, _s, _p, buf, off, end) => {
        handle = decodeFilter(buf, off, end)?.id.handle ?? handle;
      });
    } catch (err) {
      if (err instanceof NetlinkError && isHardwareRefusal(err.code)) return kernelError(err);
      throw err;
    }
    const del = encodeFilterDelete({ ...id, handle });
    await this.channel.request(del.type, del.flags, del.payload, `delete probe on block ${block}`);
    return null;
  }

  /**
   * Diff one block against its dump and apply: writes deepest chain first
   * (groups, prefixes, port checks), then deletes shallowest first, so no
   * rule ever jumps to a chain that is not filled yet or any more.
   */
  private async applyBlock(b: BlockPlan, placement: FilterPlacement): Promise<{ result: BlockResult; ops: number; installed: Map<string, InstalledFilter> }> {
    const have = await this.installed(b.block, b.table);
    const want = new Map(b.filters.map((f) => [f.key, f] as const));
    // [writes depth 2, 1, 0; deletes depth 0, 1, 2]
    const phases: Op[][] = [[], [], [], [], [], []];
    let unchanged = 0;
    const echoed = new Map<string, InstalledFilter>();
    for (const [key, d] of want) {
      const got = have.get(key);
      const phase = 2 - chainDepth(d.filter.id.chain);
      if (!got) {
        phases[phase]!.push(writeOp('add', d, 0));
      } else if (!sameRule(got, d)) {
        phases[phase]!.push(writeOp('replace', d, got.id.handle));
      } else {
        unchanged++;
        echoed.set(key, got);
      }
    }
    for (const [key, got] of have) {
      if (want.has(key)) continue;
      phases[3 + chainDepth(got.id.chain)]!.push(deleteOp(key, installedSubject(got), got.id));
    }
    const failures: TcOpFailure[] = [];
    const counts = { add: 0, replace: 0, delete: 0 };
    let ops = 0;
    const writes = phases[0]!.length + phases[1]!.length + phases[2]!.length;
    const echo = writes < (this.options.readbackThreshold ?? READBACK_THRESHOLD);
    // What is installed afterwards: the dump, updated by every echo and delete (a failed write leaves the old rule).
    let installed = new Map(have);
    const written: Op[] = [];
    for (const phase of phases) {
      await this.runPhase(phase, (op, filter) => {
        counts[op.kind]++;
        if (op.kind === 'delete') installed.delete(op.key);
        else if (filter) { echoed.set(op.key, filter); installed.set(op.key, filter); }
        else if (!echo) written.push(op);
        else if (op.kind === 'add') installed.delete(op.key);
      }, (op, err) => failures.push(tcFailure(op, err)), echo);
      ops += phase.length;
    }
    if (!echo) {
      // One read-back instead of an echo per rule: every write the kernel took must be there as asked.
      installed = await this.installed(b.block, b.table);
      ops++;
      for (const op of written) {
        const got = installed.get(op.key);
        if (got && op.want && sameRule(got, op.want)) { echoed.set(op.key, got); continue; }
        failures.push(tcFailure(op, {
          op: op.what, errno: 'EPROTO', extack: null,
          message: got ? `${op.what}: read back differs from the request (${mismatch(got, op.want!)})` : `${op.what}: taken, but not there when read back`,
        }));
      }
    }
    let inHw = 0;
    let notInHw = 0;
    for (const f of echoed.values()) { if (f.inHw) inHw++; if (f.notInHw) notInHw++; }
    return {
      ops,
      installed,
      result: {
        block: b.block, table: b.table, placement, adds: counts.add, replaces: counts.replace, deletes: counts.delete,
        unchanged, inHw, notInHw, failures,
      },
    };
  }

  /**
   * Run one phase's requests pipelined (RtnlChannel.requestMany: many per
   * sendmsg, up to `window` unanswered); deleting what is already gone is
   * success. Every add and replace is echoed, and an echo that differs from
   * the request (cookie, placement) is a failure too. A failure doesn't stop
   * the phase: each op ends in `done` or `failed` (or both: taken, but not as asked).
   */
  private async runPhase(ops: readonly Op[], done: (op: Op, f: InstalledFilter | null) => void, failed: (op: Op, err: KernelErrorInfo) => void,
    echo = true): Promise<void> {
    const echoes: (InstalledFilter | null)[] = new Array<InstalledFilter | null>(ops.length).fill(null);
    const reqs = ops.map((op) => ({
      type: op.req.type, flags: op.kind === 'delete' || !echo ? op.req.flags : op.req.flags | NLM_F_ECHO, payload: op.req.payload, op: op.what,
    }));
    await this.channel.requestMany(reqs, (i, _t, _f, buf, off, end) => {
      echoes[i] = decodeFilter(buf, off, end, { stats: false }) ?? echoes[i] ?? null;
    }, (i, err) => {
      const op = ops[i]!;
      if (err) {
        if (op.kind === 'delete' && err instanceof NetlinkError && err.code === 'ENOENT') done(op, null);
        else failed(op, kernelError(err, op.what));
        return;
      }
      const got = echoes[i] ?? null;
      echoes[i] = null;
      done(op, got);
      if (got && op.want && !(sameIdentity(got, op.want) && sameRule(got, op.want))) {
        const message = `${op.what}: the echo differs from the request (${mismatch(got, op.want)})`;
        failed(op, { op: op.what, errno: 'EPROTO', extack: null, message });
      }
    }, { window: this.window });
  }

  /** Forget the probes: the next probeBlocks joins and probes every block again (the daemon calls it on link changes). */
  invalidateProbes(): void {
    this.probeCache.clear();
  }

  /** Ports the last probeBlocks could not put in their block (a foreign clsact qdisc, or the kernel refused), with why. */
  refusedPorts(): RefusedPort[] {
    return [...this.probeCache.values()].flatMap((r) => r.refused);
  }

  /**
   * Join the ports the config would give tc to their blocks (clsact with
   * ingress_block) and, with policy hw-only, probe each block that has a
   * member with a throw-away skip_sw filter. Per block, cached by its member
   * set: the same candidates again send no request at all. Blocks none of
   * whose ports could join are left out (see refusedPorts). An error that is
   * not a hardware refusal throws.
   */
  async probeBlocks(candidates: readonly PlanPort[]): Promise<TcBlockProbe[]> {
    const byBlock = new Map<number, { table: number; ports: Map<number, PlanPort> }>();
    for (const p of candidates) {
      const block = blockOf(p.table);
      let b = byBlock.get(block);
      if (!b) { b = { table: p.table, ports: new Map() }; byBlock.set(block, b); }
      b.ports.set(p.ifindex, p);
    }
    for (const block of [...this.probeCache.keys()]) if (!byBlock.has(block)) this.probeCache.delete(block);
    const membersOf = (ports: Map<number, PlanPort>): string => [...ports.values()].map((p) => `${p.ifindex}:${p.dev}`).sort().join(',');
    const stale = [...byBlock].filter(([block, b]) => this.probeCache.get(block)?.members !== membersOf(b.ports));
    if (stale.length > 0) {
      const clsact = new Map((await this.qdiscs()).filter((q) => q.kind === 'clsact').map((q) => [q.ifindex, q] as const));
      for (const [block, b] of stale) {
        const { members, refused } = await this.join(block, [...b.ports.values()], clsact, this.joinedByProbe);
        const refusal = members.length > 0 && this.options.policy === 'hw-only' ? await this.probeSkipSw(block) : null;
        const probe = members.length > 0 ? { block, table: b.table, ports: members, refused: refusal } : null;
        this.probeCache.set(block, { members: membersOf(b.ports), probe, refused });
      }
    }
    return [...byBlock.keys()].sort((x, y) => x - y).flatMap((block) => {
      const p = this.probeCache.get(block)?.probe;
      return p ? [p] : [];
    });
  }

  private takeJoined(): string[] {
    const out = this.joinedByProbe;
    this.joinedByProbe = [];
    return out;
  }

  /** Put ports in a block: a clsact with ingress_block, unless they have one already (ours: members; another: refused). */
  private async join(block: number, ports: readonly PlanPort[], clsact: ReadonlyMap<number, QdiscInfo>, joined: string[]): Promise<{ members: string[]; refused: RefusedPort[]; ops: number }> {
    const members: string[] = [];
    const refused: RefusedPort[] = [];
    let ops = 0;
    for (const p of ports) {
      const q = clsact.get(p.ifindex);
      if (q && q.ingressBlock === block) { members.push(p.dev); continue; }
      if (q) { refused.push({ dev: p.dev, reason: `has a clsact qdisc with ${q.ingressBlock === null ? 'no shared block' : `ingress_block ${q.ingressBlock}`}` }); continue; }
      try {
        const r = encodeClsactAdd(p.ifindex, block);
        ops++;
        await this.channel.request(r.type, r.flags, r.payload, `add clsact ingress_block ${block} on ${p.dev}`);
        joined.push(p.dev);
        members.push(p.dev);
      } catch (err) {
        refused.push({ dev: p.dev, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return { members, refused, ops };
  }

  /**
   * Make every block equal to the plan, with each table's rules placed as
   * `tables` says (the policy's placement for a table absent there). No
   * probing and no fallback: a refusal is reported (failures, hwRefused) for
   * the caller's placement to act on. Afterwards the handle of every rule
   * is known, for applyOps.
   */
  async reconcileWith(plan: Plan, tables: ReadonlyMap<number, FilterPlacement>): Promise<TcApplyReport> {
    return this.reconcileFull(plan, tables, null);
  }

  private async reconcileFull(source: Plan, tables: ReadonlyMap<number, FilterPlacement>, fullReason: string | null): Promise<TcApplyReport> {
    const t0 = performance.now();
    const plan = this.compression.full(source);
    let ops = 1;
    this.installedCache = null; // until this pass has read every block back
    const clsact = new Map((await this.qdiscs()).filter((q) => q.kind === 'clsact').map((q) => [q.ifindex, q] as const));
    const joined = this.takeJoined();
    const refused: RefusedPort[] = [];
    const failures: OpFailure[] = [];
    const results: BlockResult[] = [];
    const hwRefused = new Map<number, KernelErrorInfo>();
    const cache = new Map<number, InstalledBlock>();
    const placementOfTable = (t: number): FilterPlacement => tables.get(t) ?? this.placement();

    const blocks = desiredBlocks(plan, placementOfTable);
    for (const b of blocks) {
      const j = await this.join(b.block, b.ports, clsact, joined);
      ops += j.ops;
      refused.push(...j.refused);
      // No member, no block: its rules wait for a port (and applyOps reconciles in full until then).
      if (j.members.length === 0) continue;
      const placement = placementOfTable(b.table);
      let r: Awaited<ReturnType<TcBackend['applyBlock']>>;
      try {
        r = await this.applyBlock(b, placement);
      } catch (err) {
        // The dump failed: nothing of this block could be attempted.
        ops++;
        failures.push({ ...kernelError(err, `RTM_GETTFILTER dump (block ${b.block})`), subject: `block ${b.block}` });
        continue;
      }
      ops += 1 + r.ops;
      results.push(r.result);
      cache.set(b.block, { table: b.table, placement, filters: r.installed });
      for (const f of r.result.failures) failures.push(opFailure(f));
      const hw = placement === 'skip_sw' ? r.result.failures.find((f) => isHardwareRefusal(f.errno)) : undefined;
      if (hw) hwRefused.set(b.block, opFailure(hw));
    }

    // Ports that left: their clsact goes if it points at a block of ours (a plan table) with only our rules.
    const left: string[] = [];
    const wanted = new Set(blocks.flatMap((b) => b.ports.map((p) => p.ifindex)));
    const ownBlocks = new Set(blocks.map((b) => b.block));
    for (const q of clsact.values()) {
      if (wanted.has(q.ifindex) || q.ingressBlock === null) continue;
      if (!plan.tables.some((t) => blockOf(t) === q.ingressBlock) && !ownBlocks.has(q.ingressBlock)) continue;
      const dev = plan.ports.find((p) => p.ifindex === q.ifindex)?.dev ?? `ifindex ${q.ifindex}`;
      try {
        ops++;
        const filters = await this.filters(q.ingressBlock);
        if (filters.some((f) => !isOurCookie(f.actions[0]?.cookie ?? null))) continue;
        const r = encodeClsactDelete(q.ifindex);
        ops++;
        await this.channel.request(r.type, r.flags, r.payload, `delete clsact on ${dev}`);
        left.push(dev);
      } catch (err) {
        if (err instanceof NetlinkError && (err.code === 'ENOENT' || err.code === 'ENODEV')) { left.push(dev); continue; }
        failures.push({ ...kernelError(err), subject: `port ${dev}` });
      }
    }
    this.installedCache = cache;
    this.groupRefs = groupRefsOf({ ...plan, tables: plan.tables.filter((t) => cache.has(blockOf(t))) });
    return {
      backend: 'tc', ops, seconds: (performance.now() - t0) / 1000, failures, refused, complete: true,
      blocks: results, joined, left, full: true, fullReason, hwRefused, compressed: this.compression.sizes,
    };
  }

  /**
   * One batch: send only the requests `ops` (diffPlans(installed, next))
   * need, with no dump, using the handles the last reconcile read back and
   * the echoes since. What can't be done that way (port ops, a block or a
   * handle not known, a placement that changed) is a full reconcile of
   * `next` instead (`full: true`, `fullReason` says why).
   */
  async applyOps(ops: readonly PlanOp[], next: Plan, tables: ReadonlyMap<number, FilterPlacement>): Promise<TcApplyReport> {
    const t0 = performance.now();
    const cache = this.installedCache;
    if (!cache) return this.reconcileFull(next, tables, 'nothing reconciled yet');
    const placementOfTable = (t: number): FilterPlacement => tables.get(t) ?? this.placement();
    // The tables that have a block: a tc port whose ingress policy rules hand to the kernel is no member (tcPortsOf).
    const tcTables = new Set(tcPortsOf(next).byTable.keys());
    for (const t of tcTables) {
      const c = cache.get(blockOf(t));
      if (!c) return this.reconcileFull(next, tables, `block ${blockOf(t)} not read back`);
      if (c.placement !== placementOfTable(t)) return this.reconcileFull(next, tables, `block ${blockOf(t)} placement ${c.placement} → ${placementOfTable(t)}`);
    }
    for (const [block, c] of cache) if (!tcTables.has(c.table)) return this.reconcileFull(next, tables, `block ${block} has no tc port any more`);

    const tcOps = this.compression.ops(ops, next);
    if (!tcOps) return this.reconcileFull(next, tables, 'nothing compressed yet');
    const inc = incrementalChanges(tcOps, next, placementOfTable, this.groupRefs);
    if (inc.full !== null) return this.reconcileFull(next, tables, inc.full);
    // Every replace and delete needs the installed handle; an add of a key still installed (a delete that failed) replaces it.
    const phases: Op[][] = [];
    for (const phase of inc.phases) {
      const out: Op[] = [];
      for (const c of phase) {
        const got = cache.get(c.block)!.filters.get(c.filter.key);
        if (c.kind === 'add') { out.push(got ? writeOp('replace', c.filter, got.id.handle) : writeOp('add', c.filter, 0)); continue; }
        if (!got) return this.reconcileFull(next, tables, `no handle for ${c.kind} of ${c.filter.subject} (${c.filter.key})`);
        out.push(c.kind === 'replace' ? writeOp('replace', c.filter, got.id.handle) : deleteOp(c.filter.key, c.filter.subject, got.id));
      }
      phases.push(out);
    }

    const perBlock = new Map<number, { table: number; counts: Record<TcOpKind, number>; inHw: number; notInHw: number; failures: TcOpFailure[] }>();
    const blockOfChange = new Map<Op, number>();
    inc.phases.forEach((phase, i) => phase.forEach((c: FilterChange, j) => {
      blockOfChange.set(phases[i]![j]!, c.block);
      if (!perBlock.has(c.block)) perBlock.set(c.block, { table: c.table, counts: { add: 0, replace: 0, delete: 0 }, inHw: 0, notInHw: 0, failures: [] });
    }));
    let sent = 0;
    for (const phase of phases) {
      await this.runPhase(phase, (op, echo) => {
        const block = blockOfChange.get(op)!;
        const r = perBlock.get(block)!;
        const installed = cache.get(block)!.filters;
        r.counts[op.kind]++;
        if (op.kind === 'delete') installed.delete(op.key);
        else if (echo) {
          installed.set(op.key, echo);
          if (echo.inHw) r.inHw++;
          if (echo.notInHw) r.notInHw++;
        } else if (op.kind === 'add') installed.delete(op.key); // installed, handle unknown: the next op on it reconciles
      }, (op, err) => perBlock.get(blockOfChange.get(op)!)!.failures.push(tcFailure(op, err)));
      sent += phase.length;
    }
    for (const [k, n] of inc.refs) { if (n > 0) this.groupRefs.set(k, n); else this.groupRefs.delete(k); }

    const blocks: BlockResult[] = [];
    const failures: OpFailure[] = [];
    const hwRefused = new Map<number, KernelErrorInfo>();
    for (const [block, r] of [...perBlock].sort((x, y) => x[0] - y[0])) {
      const placement = placementOfTable(r.table);
      blocks.push({
        block, table: r.table, placement, adds: r.counts.add, replaces: r.counts.replace, deletes: r.counts.delete,
        unchanged: 0, inHw: r.inHw, notInHw: r.notInHw, failures: r.failures,
      });
      for (const f of r.failures) failures.push(opFailure(f));
      const hw = placement === 'skip_sw' ? r.failures.find((f) => isHardwareRefusal(f.errno)) : undefined;
      if (hw) hwRefused.set(block, opFailure(hw));
    }
    return {
      backend: 'tc', ops: sent, seconds: (performance.now() - t0) / 1000, failures, refused: [], complete: false,
      blocks, joined: this.takeJoined(), left: [], full: false, fullReason: null, hwRefused, compressed: this.compression.sizes,
    };
  }

  /**
   * Per-rule counters of the agent's filters in the given blocks: what
   * neighbour keepalive (traffic to a group member) and metrics read.
   */
  async stats(blocks: readonly number[]): Promise<RuleStats[]> {
    const out: RuleStats[] = [];
    for (const block of blocks) {
      for (const f of await this.filters(block)) {
        const a = f.actions[0];
        if (!a || !isOurCookie(a.cookie)) continue;
        const redirect = f.actions.find((x) => x.kind === 'mirred');
        out.push({
          id: f.id, key: filterKey(f.id.chain, f.id.proto, f.id.prio, f.matchKey), inHw: f.inHw, notInHw: f.notInHw, placement: placementOf(f.flags),
          packets: a.stats.packets, bytes: a.stats.bytes, hwPackets: a.stats.hwPackets,
          lastUsedAgo: (redirect ?? a).stats.lastUsedAgo,
        });
      }
    }
    return out;
  }

  /**
   * Remove what the agent installed in this namespace: its filters in every
   * shared block, then the clsact qdiscs of blocks left with none but ours.
   */
  static async flush(channel?: RtnlChannel): Promise<{ deleted: number; qdiscs: number; blocks: number[] }> {
    const b = new TcBackend({ policy: 'sw', fallback: 'none' }, channel);
    try {
      const qd = (await b.qdiscs()).filter((q) => q.kind === 'clsact' && q.ingressBlock !== null);
      const blocks = [...new Set(qd.map((q) => q.ingressBlock!))].sort((x, y) => x - y);
      let deleted = 0;
      let qdiscs = 0;
      const touched: number[] = [];
      for (const block of blocks) {
        const all = await b.filters(block);
        const ours = all.filter((f) => isOurCookie(f.actions[0]?.cookie ?? null));
        // A block with only the agent's filters (or none: emptied by a fallback) is the agent's.
        if (ours.length === 0 && all.length > 0) continue;
        touched.push(block);
        // Shallowest chain first: nothing jumps into a chain that is being emptied. Pipelined per depth.
        for (let depth = 0; depth <= 2; depth++) {
          const reqs = ours.filter((f) => chainDepth(f.id.chain) === depth).map((f) => {
            const r = encodeFilterDelete(f.id);
            return { type: r.type, flags: r.flags, payload: r.payload, op: `delete filter ${describe(f.id)}` };
          });
          let first: Error | null = null;
          await b.channel.requestMany(reqs, () => {}, (_i, err) => {
            if (!err) deleted++;
            else if (!(err instanceof NetlinkError && err.code === 'ENOENT')) first ??= err;
          });
          if (first) throw first;
        }
        if (ours.length === all.length) {
          for (const q of qd.filter((x) => x.ingressBlock === block)) {
            const r = encodeClsactDelete(q.ifindex);
            await b.channel.request(r.type, r.flags, r.payload, `delete clsact on ifindex ${q.ifindex}`);
            qdiscs++;
          }
        }
      }
      return { deleted, qdiscs, blocks: touched };
    } finally {
      b.close();
    }
  }
}

export interface RuleStats {
  readonly id: FilterId;
  /** Identity within the block (DesiredFilter.key of the rule it corresponds to). */
  readonly key: string;
  readonly placement: FilterPlacement;
  readonly inHw: boolean;
  readonly notInHw: boolean;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly hwPackets: bigint;
  readonly lastUsedAgo: number | null;
}

/**
 * An echo is the rule asked for, as OVS checks them: same identity (chain,
 * protocol, priority, match keys). A filter found by its key (a dump) has it already.
 */
function sameIdentity(got: InstalledFilter, want: DesiredFilter): boolean {
  return filterKey(got.id.chain, got.id.proto, got.id.prio, got.matchKey) === want.key;
}

/** The installed filter does what the desired one does: same placement, and the same cookie (placement + actions hash) on every action. */
function sameRule(got: InstalledFilter, want: DesiredFilter): boolean {
  if (placementOf(got.flags) !== want.filter.placement) return false;
  if (got.actions.length !== want.filter.actions.length) return false;
  return got.actions.every((a) => a.cookie !== null && a.cookie.equals(want.filter.cookie));
}

/** How an installed filter differs from the desired one, for the error. */
function mismatch(got: InstalledFilter, want: DesiredFilter): string {
  return `key ${filterKey(got.id.chain, got.id.proto, got.id.prio, got.matchKey)}, placement ${placementOf(got.flags)}, ` +
    `cookie ${got.actions[0]?.cookie?.toString('hex') ?? 'none'}; asked ${want.key}, ${want.filter.placement}`;
}

function writeOp(kind: 'add' | 'replace', d: DesiredFilter, handle: number): Op {
  const f = kind === 'replace' ? { ...d.filter, id: { ...d.filter.id, handle } } : d.filter;
  return { kind, key: d.key, subject: d.subject, req: encodeFilter(f, kind), what: `${kind} filter ${describe(f.id)}`, want: d };
}

function deleteOp(key: string, subject: Subject, id: FilterId): Op {
  return { kind: 'delete', key, subject, req: encodeFilterDelete(id), what: `delete filter ${describe(id)}`, want: null };
}

function tcFailure(op: Op, err: KernelErrorInfo): TcOpFailure {
  return { op: op.kind, key: op.key, subject: op.subject, what: op.what, errno: err.errno, extack: err.extack, message: err.message };
}

function opFailure(f: TcOpFailure): OpFailure {
  return { op: f.what, errno: f.errno, extack: f.extack, message: f.message, subject: f.subject };
}
