// The tc flower backend: keeps each table's shared ingress block equal to the
// plan. Reconcile dumps the block, matches the agent's filters (by cookie) to
// the desired ones by identity (chain, protocol, priority, match), and adds,
// replaces or deletes only the difference; every add/replace is echoed
// (NLM_F_ECHO) so the handle and in_hw state of each rule are known.
// Hardware refusal (hw-only) is found with a throw-away probe filter before
// anything is written, and the block falls back per policy.
import { performance } from 'node:perf_hooks';
import { NetlinkError } from '../errors.js';
import type { Plan } from '../plan/index.js';
import { NLM_F_ECHO } from '../netlink/codec/constants.js';
import { RtnlChannel } from '../netlink/socket.js';
import {
  decodeFilter, decodeQdisc, encodeClsactAdd, encodeClsactDelete, encodeFilter, encodeFilterDelete,
  encodeFilterDump, encodeQdiscDump, placementOf, type FilterId, type FilterPlacement, type InstalledFilter,
  type QdiscInfo, type TcRequest,
} from '../netlink/codec/tc.js';
import { desiredBlocks, filterKey, isOurCookie, type BlockPlan, type DesiredFilter } from './rules.js';

export type TcPolicy = 'hw-only' | 'hw-preferred' | 'sw';
export type TcFallback = 'sw' | 'xdp' | 'none';

export interface TcBackendOptions {
  readonly policy: TcPolicy;
  readonly fallback: TcFallback;
  /** Requests in flight at once within one phase (ordering between phases is kept). */
  readonly window?: number;
}

export type TcOpKind = 'add' | 'replace' | 'delete';

export interface TcOpFailure {
  readonly op: TcOpKind;
  readonly key: string;
  readonly errno: string;
  readonly extack: string | null;
  readonly message: string;
}

export interface TcFallbackRecord {
  readonly table: number;
  readonly block: number;
  readonly ports: readonly string[];
  readonly from: 'hw';
  readonly to: TcFallback;
  readonly reason: string;
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

export interface TcReconcileResult {
  readonly blocks: readonly BlockResult[];
  /** Ports that joined a block (clsact added) and left one (clsact removed). */
  readonly joined: readonly string[];
  readonly left: readonly string[];
  /** Ports that could not join their block, with why: left to the kernel. */
  readonly refused: ReadonlyArray<{ readonly dev: string; readonly reason: string }>;
  readonly fallbacks: readonly TcFallbackRecord[];
  readonly ops: number;
  readonly seconds: number;
}

/** Errnos that mean "the hardware (or the driver) won't take this". */
const HW_REFUSALS = new Set(['EOPNOTSUPP', 'ENOSPC', 'EINVAL', 'E2BIG']);
/** Priority and chain of the throw-away probe filter: outside every range the plan uses. */
const PROBE_PRIO = 0xfff0;

interface Op {
  readonly kind: TcOpKind;
  readonly key: string;
  readonly req: TcRequest;
  readonly what: string;
}

function describe(id: FilterId): string {
  return `block ${id.block} chain ${id.chain} ${id.proto} prio ${id.prio}${id.handle ? ` handle 0x${id.handle.toString(16)}` : ''}`;
}

export class TcBackend {
  private readonly channel: RtnlChannel;
  private readonly window: number;

  constructor(readonly options: TcBackendOptions, channel?: RtnlChannel) {
    this.channel = channel ?? new RtnlChannel();
    this.window = Math.max(1, options.window ?? 64);
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

  /** Every flower filter of a block (all chains); none when the block doesn't exist. */
  async filters(block: number): Promise<InstalledFilter[]> {
    const out: InstalledFilter[] = [];
    const r = encodeFilterDump(block);
    try {
      await this.channel.dump(r.type, r.payload, (_t, _f, _s, _p, buf, off, end) => {
        const f = decodeFilter(buf, off, end);
        if (f) out.push(f);
      }, `RTM_GETTFILTER dump (block ${block})`);
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === 'EINVAL' || err.code === 'ENOENT')) return [];
      throw err;
    }
    return out;
  }

  /** The agent's filters of a block, keyed by identity. */
  async installed(block: number, table: number): Promise<Map<string, InstalledFilter>> {
    const out = new Map<string, InstalledFilter>();
    for (const f of await this.filters(block)) {
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
   * skip_sw filter; the refusal's errno and extack are the reason.
   */
  async probeHardware(block: number): Promise<string | null> {
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
      if (err instanceof NetlinkError && HW_REFUSALS.has(err.code)) return err.message;
      throw err;
    }
    const del = encodeFilterDelete({ ...id, handle });
    await this.channel.request(del.type, del.flags, del.payload, `delete probe on block ${block}`);
    return null;
  }

  /**
   * Make every block equal to the plan. Nothing is flushed; a second call
   * with the same plan sends no filter request.
   */
  async reconcile(plan: Plan): Promise<TcReconcileResult> {
    const t0 = performance.now();
    let ops = 0;
    const qdiscs = await this.qdiscs();
    const clsact = new Map(qdiscs.filter((q) => q.kind === 'clsact').map((q) => [q.ifindex, q] as const));
    const joined: string[] = [];
    const refused: Array<{ dev: string; reason: string }> = [];
    const fallbacks: TcFallbackRecord[] = [];
    const results: BlockResult[] = [];
    const ownBlocks = new Set<number>();

    const placements = new Map<number, FilterPlacement>();
    const blocks = desiredBlocks(plan, (t) => placements.get(t) ?? this.placement());
    for (const b of blocks) {
      ownBlocks.add(b.block);
      const members: string[] = [];
      for (const p of b.ports) {
        const q = clsact.get(p.ifindex);
        if (q && q.ingressBlock === b.block) { members.push(p.dev); continue; }
        if (q) { refused.push({ dev: p.dev, reason: `has a clsact qdisc with ${q.ingressBlock === null ? 'no shared block' : `ingress_block ${q.ingressBlock}`}` }); continue; }
        try {
          const r = encodeClsactAdd(p.ifindex, b.block);
          await this.channel.request(r.type, r.flags, r.payload, `add clsact ingress_block ${b.block} on ${p.dev}`);
          ops++;
          joined.push(p.dev);
          members.push(p.dev);
        } catch (err) {
          refused.push({ dev: p.dev, reason: err instanceof Error ? err.message : String(err) });
        }
      }
      if (members.length === 0) continue;

      let placement = this.placement();
      if (placement === 'skip_sw') {
        const why = await this.probeHardware(b.block);
        if (why !== null) {
          fallbacks.push({ table: b.table, block: b.block, ports: members, from: 'hw', to: this.options.fallback, reason: why });
          if (this.options.fallback !== 'sw') {
            // XDP or the kernel takes these ports: the block must not keep stale rules.
            const r = await this.applyBlock({ ...b, filters: [] }, 'none');
            ops += r.ops;
            results.push({ ...r.result, placement: 'none-installed' });
            continue;
          }
          placement = 'none';
          placements.set(b.table, placement);
        }
      }
      const want = placement === this.placement() ? b : desiredBlocks(plan, () => placement).find((x) => x.block === b.block)!;
      const r = await this.applyBlock(want, placement);
      ops += r.ops;
      if (placement === 'skip_sw' && r.result.failures.some((f) => HW_REFUSALS.has(f.errno)) && this.options.fallback === 'sw') {
        // Refused mid-way despite the probe (a table too big for the hardware): the whole block goes to software.
        const reason = r.result.failures.find((f) => HW_REFUSALS.has(f.errno))!.message;
        fallbacks.push({ table: b.table, block: b.block, ports: members, from: 'hw', to: 'sw', reason });
        const sw = await this.applyBlock(desiredBlocks(plan, () => 'none').find((x) => x.block === b.block)!, 'none');
        ops += sw.ops;
        results.push(sw.result);
        continue;
      }
      results.push(r.result);
    }

    // Ports that left: their clsact goes if it points at a block of ours (a plan table) with only our rules.
    const left: string[] = [];
    const wanted = new Set(blocks.flatMap((b) => b.ports.map((p) => p.ifindex)));
    for (const q of clsact.values()) {
      if (wanted.has(q.ifindex) || q.ingressBlock === null) continue;
      const table = q.ingressBlock;
      if (!plan.tables.includes(table) && !ownBlocks.has(table)) continue;
      const filters = await this.filters(q.ingressBlock);
      if (filters.some((f) => !isOurCookie(f.actions[0]?.cookie ?? null))) continue;
      const r = encodeClsactDelete(q.ifindex);
      await this.channel.request(r.type, r.flags, r.payload, `delete clsact on ifindex ${q.ifindex}`);
      ops++;
      left.push(plan.ports.find((p) => p.ifindex === q.ifindex)?.dev ?? `ifindex ${q.ifindex}`);
    }
    return { blocks: results, joined, left, refused, fallbacks, ops, seconds: (performance.now() - t0) / 1000 };
  }

  /** Diff one block against its dump and apply: group chains first, chain 0, then deletes (chain 0 before groups). */
  private async applyBlock(b: BlockPlan, placement: FilterPlacement): Promise<{ result: BlockResult; ops: number }> {
    const have = await this.installed(b.block, b.table);
    const want = new Map(b.filters.map((f) => [f.key, f] as const));
    const phases: Op[][] = [[], [], [], []];
    let unchanged = 0;
    const echoed = new Map<string, InstalledFilter>();
    for (const [key, d] of want) {
      const got = have.get(key);
      const phase = d.filter.id.chain === 0 ? 1 : 0;
      if (!got) {
        phases[phase]!.push({ kind: 'add', key, req: encodeFilter(d.filter, 'add'), what: `add filter ${describe(d.filter.id)}` });
      } else if (!sameRule(got, d)) {
        const f = { ...d.filter, id: { ...d.filter.id, handle: got.id.handle } };
        phases[phase]!.push({ kind: 'replace', key, req: encodeFilter(f, 'replace'), what: `replace filter ${describe(f.id)}` });
      } else {
        unchanged++;
        echoed.set(key, got);
      }
    }
    for (const [key, got] of have) {
      if (want.has(key)) continue;
      phases[got.id.chain === 0 ? 2 : 3]!.push({ kind: 'delete', key, req: encodeFilterDelete(got.id), what: `delete filter ${describe(got.id)}` });
    }
    const failures: TcOpFailure[] = [];
    const counts = { add: 0, replace: 0, delete: 0 };
    let ops = 0;
    for (const phase of phases) {
      await this.runPhase(phase, (op, filter) => {
        counts[op.kind]++;
        if (filter) echoed.set(op.key, filter);
      }, (op, err) => failures.push({
        op: op.kind, key: op.key, errno: err instanceof NetlinkError ? err.code : 'EIO',
        extack: err instanceof NetlinkError ? err.extack : null, message: err.message,
      }));
      ops += phase.length;
    }
    let inHw = 0;
    let notInHw = 0;
    for (const f of echoed.values()) { if (f.inHw) inHw++; if (f.notInHw) notInHw++; }
    return {
      ops,
      result: {
        block: b.block, table: b.table, placement, adds: counts.add, replaces: counts.replace, deletes: counts.delete,
        unchanged, inHw, notInHw, failures,
      },
    };
  }

  /** Run one phase's requests with up to `window` in flight; deleting what is already gone is success. */
  private async runPhase(ops: readonly Op[], done: (op: Op, f: InstalledFilter | null) => void, failed: (op: Op, err: Error) => void): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ops.length) {
        const op = ops[next++]!;
        let echo: InstalledFilter | null = null;
        try {
          const flags = op.kind === 'delete' ? op.req.flags : op.req.flags | NLM_F_ECHO;
          await this.channel.request(op.req.type, flags, op.req.payload, op.what, (_t, _f, _s, _p, buf, off, end) => {
            echo = decodeFilter(buf, off, end) ?? echo;
          });
          done(op, echo);
        } catch (err) {
          if (op.kind === 'delete' && err instanceof NetlinkError && err.code === 'ENOENT') done(op, null);
          else failed(op, err instanceof Error ? err : new Error(String(err)));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.window, ops.length) }, worker));
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
        // chain 0 first: nothing jumps into a chain that is being emptied.
        ours.sort((x, y) => (x.id.chain === 0 ? 0 : 1) - (y.id.chain === 0 ? 0 : 1));
        for (const f of ours) {
          const r = encodeFilterDelete(f.id);
          try {
            await b.channel.request(r.type, r.flags, r.payload, `delete filter ${describe(f.id)}`);
            deleted++;
          } catch (err) {
            if (!(err instanceof NetlinkError && err.code === 'ENOENT')) throw err;
          }
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

/** The installed filter does what the desired one does: same cookie (placement + actions hash) on every action. */
function sameRule(got: InstalledFilter, want: DesiredFilter): boolean {
  if (placementOf(got.flags) !== want.filter.placement) return false;
  if (got.actions.length !== want.filter.actions.length) return false;
  return got.actions.every((a) => a.cookie !== null && a.cookie.equals(want.filter.cookie));
}
