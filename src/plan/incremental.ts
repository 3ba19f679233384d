// Incremental planning: the plan after a batch of kernel events, from the
// previous plan and the mirror's delta instead of from scratch.
//
// Why it is exact: sweep() decides every row (entry, punt, host, skipped)
// from the row's own prefix and the prefixes enclosing it, never from a
// sibling. So a change at prefix P can only change rows inside P's range, and
// the rows inside P's range are exactly what sweeping P's enclosing items plus
// everything inside P yields, minus the enclosing items' own rows. Each
// changed prefix is re-swept that way and its rows spliced into the previous
// plan; groups are reference-counted by draft, so a group appears, changes or
// goes exactly when the rows using it do. The result equals buildPlan() with
// `previous` (a property test holds it to that, ops included).
//
// Planned from scratch instead: link changes (ports, tables, connected
// routes' ports), address changes and the local table (kernel-only ranges over
// every table), a batch touching a large share of the table (splicing would
// cost more than sorting), and a group key whose variant count crosses one
// (its groups' keys change name; see finalKey).
import type { MirrorDelta } from '../mirror/delta.js';
import type { Family } from '../model/ip.js';
import { neighborUsable, type Neighbor } from '../model/neighbor.js';
import type { MirrorView, ResolvedRoute } from '../model/resolved.js';
import { RT_TABLE_LOCAL, type Route } from '../model/route.js';
import { DEFAULT_BUCKET_BITS } from './buckets.js';
import { buildPlanState, DraftRegistry, finalKey, hostItem, planPorts, portExtras } from './build.js';
import { classifyRoute, type ClassifyContext, type Verdict } from './classify.js';
import { diffEntryRun, diffPlans, diffPorts, sameGroup, type PlanOp } from './diff.js';
import { allocateGroupIds, finishGroup, type GroupDraft } from './groups.js';
import { prefixKeyText, SPACE4, SPACE6, type AddrSpace } from './prefix.js';
import { packEntries, packItems4, packItems6 } from './entry-columns.js';
import { planOfRows, type PlanRows } from './plan-rows.js';
import { Rows } from './rows.js';
import { sweep, type SweepItem, type SweepOut } from './sweep.js';
import type { Plan, PlanEntry, PlanGroup, PlanOptions, PlanPort, SkippedRoute } from './types.js';

/** What the incremental planner reads besides MirrorView: one prefix at a time (the Mirror has both). */
export interface DeltaView extends MirrorView {
  /** The effective route for a prefixKey(), resolved. */
  effectiveRoute(prefixKey: string): ResolvedRoute | undefined;
  /** Every route for a prefixKey(), TOS routes included. */
  routesFor(prefixKey: string): readonly Route[];
}

/** How a step was planned: incrementally, or from scratch and why. */
export type PlanHow = 'incremental' | 'links' | 'addresses' | 'rules' | 'firewall' | 'netconf' | 'local-table' | 'large' | 'group-rename';

export interface PlanStep {
  readonly state: PlanState;
  /** diffPlans(previous plan, state.plan), in its order. */
  readonly ops: PlanOp[];
  readonly how: PlanHow;
  /** Prefixes re-swept (incremental steps). */
  readonly regions: number;
}

/**
 * A batch touching more prefixes than this share of the plan's entries (and
 * more than LARGE_MIN) is planned from scratch: each region costs a few
 * binary searches and array splices, a full plan one sort.
 */
const LARGE_SHARE = 0.05;
const LARGE_MIN = 256;

interface Region<K> {
  readonly lo: K;
  readonly len: number;
  /** Canonical "address/len" text. */
  readonly dst: string;
}

/** A forward row of a re-swept region, before its group id is known. */
interface NewRows {
  readonly entries: { -readonly [X in keyof PlanEntry]: PlanEntry[X] }[];
  readonly skipped: SkippedRoute[];
  readonly forwardIndex: number[];
  readonly forwardDraft: GroupDraft[];
}

/** One route item's change, at its position in the previous list (cur there, or next inserted there). */
interface Change<K> {
  readonly at: number;
  readonly cur: SweepItem<K> | null;
  readonly next: SweepItem<K> | null;
}

interface RegionResult {
  readonly table: number;
  readonly family: Family;
  /** Old plan rows inside the region: entries [e0, e1), skipped [s0, s1). */
  readonly e0: number;
  readonly e1: number;
  readonly s0: number;
  readonly s1: number;
  readonly rows: NewRows;
}

/** Per table, the sweep's inputs in sweep order (overlays and routes), as chunked rows. */
interface ItemRows {
  readonly v4: Rows<SweepItem<number>>;
  readonly v6: Rows<SweepItem<bigint>>;
}

/** A plan together with what is needed to continue it incrementally. Immutable. */
export class PlanState {
  private constructor(
    readonly plan: Plan,
    private readonly rows: PlanRows,
    private readonly items: ReadonlyMap<number, ItemRows>,
    private readonly refs: ReadonlyMap<GroupDraft, number>,
    private readonly ids: ReadonlyMap<GroupDraft, number>,
  ) {}

  /** Plan from scratch. */
  static build(view: MirrorView, opts: PlanOptions): PlanState {
    const b = buildPlanState(view, opts);
    const { entries, skipped, ...fields } = b.plan;
    const rows: PlanRows = { entries: Rows.from(entries, packEntries), skipped: Rows.from(skipped) };
    const items = new Map<number, ItemRows>();
    for (const [t, l] of b.items) items.set(t, { v4: Rows.from(l.v4, packItems4), v6: Rows.from(l.v6, packItems6) });
    return new PlanState(planOfRows(fields, rows), rows, items, b.refs, b.ids);
  }

  /**
   * The plan after `delta` was applied to `view` (the mirror this state was
   * planned from). `opts` must be the options this state was built with
   * (`previous` aside): when they change, build() instead.
   */
  next(view: DeltaView, delta: MirrorDelta, opts: PlanOptions): PlanStep {
    const scratch = (how: PlanHow): PlanStep => {
      const state = PlanState.build(view, { ...opts, previous: this.plan });
      return { state, ops: diffPlans(this.plan, state.plan), how, regions: 0 };
    };
    if (delta.links.size > 0) return scratch('links');
    if (delta.addressesChanged) return scratch('addresses');
    if (delta.rulesChanged) return scratch('rules');
    if (delta.firewallChanged || delta.netconfChanged) {
      // Netfilter and rp_filter decide what ports hand to the kernel, nothing about entries or groups.
      const portsOnly = delta.routes.size === 0 && delta.neighbors.size === 0 && delta.nexthops.size === 0;
      const how = delta.firewallChanged ? 'firewall' : 'netconf';
      if (!portsOnly) return scratch(how);
      const p = planPorts(view, opts, this.plan.tables);
      const old = this.plan;
      const plan = planOfRows({
        ports: p.ports, groups: old.groups, ttlPunt: true, tables: old.tables, ...portExtras(p.policy, p.firewall),
      }, this.rows);
      const ports = diffPorts(this.plan.ports, plan.ports);
      return { state: PlanState.from(plan, this.rows, this.items, this.refs, this.ids), ops: [...ports.changes, ...ports.deletes], how, regions: 0 };
    }
    if (delta.routes.size + delta.neighbors.size > Math.max(LARGE_MIN, LARGE_SHARE * this.rows.entries.length)) return scratch('large');
    const step = new Step(this, view, opts);
    const how = step.run(delta);
    if (how !== 'incremental') return scratch(how);
    return step.finish();
  }

  /** @internal for Step */
  static from(plan: Plan, rows: PlanRows, items: ReadonlyMap<number, ItemRows>, refs: ReadonlyMap<GroupDraft, number>, ids: ReadonlyMap<GroupDraft, number>): PlanState {
    return new PlanState(plan, rows, items, refs, ids);
  }

  /** @internal for Step */
  get internals(): { rows: PlanRows; items: ReadonlyMap<number, ItemRows>; refs: ReadonlyMap<GroupDraft, number>; ids: ReadonlyMap<GroupDraft, number> } {
    return { rows: this.rows, items: this.items, refs: this.refs, ids: this.ids };
  }
}

/** One incremental step: mutable while it runs, producing a new PlanState. */
class Step {
  private readonly old: Plan;
  private readonly oldRows: PlanRows;
  private readonly oldItems: ReadonlyMap<number, ItemRows>;
  private readonly oldRefs: ReadonlyMap<GroupDraft, number>;
  private readonly oldIds: ReadonlyMap<GroupDraft, number>;
  /** Copy-on-write: lists of the (table, family) pairs this step changes. */
  private readonly items = new Map<number, { v4: Rows<SweepItem<number>>; v6: Rows<SweepItem<bigint>>; pending4: Change<number>[]; pending6: Change<bigint>[] }>();
  private readonly regions4 = new Map<number, Region<number>[]>();
  private readonly regions6 = new Map<number, Region<bigint>[]>();
  private readonly offload: Map<number, PlanPort>;
  private readonly registry = new DraftRegistry();
  private readonly ctx: ClassifyContext;
  private readonly draftById = new Map<number, GroupDraft>();
  private neighborsByLink: Map<string, Neighbor[]> | null = null;
  private results: RegionResult[] = [];
  private nRegions = 0;

  constructor(prev: PlanState, private readonly view: DeltaView, private readonly opts: PlanOptions) {
    this.old = prev.plan;
    const { rows, items, refs, ids } = prev.internals;
    this.oldRows = rows;
    this.oldItems = items;
    this.oldRefs = refs;
    this.oldIds = ids;
    this.offload = new Map(this.old.ports.filter((p) => p.backend !== 'none').map((p) => [p.ifindex, p] as const));
    // Live drafts first, so classifying a route the same way again yields the same draft object.
    for (const d of refs.keys()) this.registry.adopt(d);
    for (const [d, id] of ids) this.draftById.set(id, d);
    this.ctx = {
      ports: this.offload,
      ignoreLinkdown: opts.ignoreLinkdown ?? false,
      intern: (key, slots, mtu) => this.registry.intern(key, slots, mtu),
      verdicts: new Map(),
    };
  }

  run(delta: MirrorDelta): PlanHow | 'incremental' {
    const tables = new Set(this.old.tables);
    for (const key of delta.routes) {
      const bar1 = key.indexOf('|');
      const bar2 = key.indexOf('|', bar1 + 1);
      const table = Number(key.slice(0, bar1));
      if (table === RT_TABLE_LOCAL) return 'local-table';
      if (!tables.has(table)) continue;
      const family = Number(key.slice(bar1 + 1, bar2)) as Family;
      const dst = key.slice(bar2 + 1);
      if (family === 4) this.routeChanged(SPACE4, table, key, dst);
      else this.routeChanged(SPACE6, table, key, dst);
    }
    for (const key of delta.neighbors) {
      // neighborKey(): ifindex|family|address. Hosts exist only on offload ports.
      const [ifx, fam, address] = key.split('|') as [string, string, string];
      if (!this.offload.has(Number(ifx))) continue;
      for (const table of this.old.tables) {
        if (fam === '4') this.addRegion(this.regions4, table, { lo: SPACE4.parse(address), len: 32, dst: `${address}/32` });
        else this.addRegion(this.regions6, table, { lo: SPACE6.parse(address), len: 128, dst: `${address}/128` });
      }
    }
    for (const table of this.old.tables) {
      this.applyPending(SPACE4, table);
      this.applyPending(SPACE6, table);
      this.sweepRegions(SPACE4, table, this.regions4.get(table));
      this.sweepRegions(SPACE6, table, this.regions6.get(table));
    }
    return this.groupsRenamed() ? 'group-rename' : 'incremental';
  }

  private listsOf(table: number) {
    let l = this.items.get(table);
    if (!l) {
      const o = this.oldItems.get(table)!;
      this.items.set(table, (l = { v4: o.v4, v6: o.v6, pending4: [], pending6: [] }));
    }
    return l;
  }

  /** The (table, family) item list: the previous state's until applyPending() replaces it. */
  private list<K extends number | bigint>(space: AddrSpace<K>, table: number): Rows<SweepItem<K>> {
    const l = this.listsOf(table);
    return (space.family === 4 ? l.v4 : l.v6) as unknown as Rows<SweepItem<K>>;
  }

  private pendingOf<K extends number | bigint>(space: AddrSpace<K>, table: number): Change<K>[] {
    const l = this.listsOf(table);
    return (space.family === 4 ? l.pending4 : l.pending6) as Change<K>[];
  }

  /** A new list with the step's changes: positions refer to the old list. */
  private applyPending<K extends number | bigint>(space: AddrSpace<K>, table: number): void {
    const l = this.items.get(table);
    const pending = l ? this.pendingOf(space, table) : [];
    if (pending.length === 0) return;
    const items = withChanges(space, this.list(space, table), pending);
    if (space.family === 4) l!.v4 = items as unknown as Rows<SweepItem<number>>; else l!.v6 = items as unknown as Rows<SweepItem<bigint>>;
    pending.length = 0;
  }

  private addRegion<K>(regions: Map<number, Region<K>[]>, table: number, r: Region<K>): void {
    let list = regions.get(table);
    if (!list) regions.set(table, (list = []));
    list.push(r);
  }

  /** Re-classify one prefix; if its item changes, update the list and mark its range. */
  private routeChanged<K extends number | bigint>(space: AddrSpace<K>, table: number, key: string, dst: string): void {
    const slash = dst.lastIndexOf('/');
    const lo = space.parse(dst.slice(0, slash));
    const len = Number(dst.slice(slash + 1));
    let verdict: Verdict | null = null;
    if (this.view.routesFor(key).some((r) => r.tos !== 0)) verdict = { kind: 'skip', reason: 'tos' };
    else {
      const rr = this.view.effectiveRoute(key);
      if (rr) verdict = classifyRoute(rr, this.ctx);
    }
    const items = this.list(space, table);
    const at = lowerBound(space, items, lo, len, 1);
    const there = items.at(at);
    const cur = there !== undefined && there.rank === 1 && there.len === len && space.compare(there.lo, lo) === 0
      ? there as Extract<SweepItem<K>, { rank: 1 }>
      : null;
    if (cur === null && verdict === null) return;
    if (cur !== null && verdict !== null && sameVerdict(cur.verdict, verdict)) return;
    // The item outlives the batch: its text must not be a slice that keeps the whole delta key alive.
    const next: SweepItem<K> | null = verdict === null ? null : { rank: 1, lo, len, dst: prefixKeyText(dst.slice(0, slash), len), verdict };
    this.pendingOf(space, table).push({ at, cur, next });
    const regions = (space.family === 4 ? this.regions4 : this.regions6) as unknown as Map<number, Region<K>[]>;
    this.addRegion(regions, table, { lo, len, dst });
  }

  private sweepRegions<K extends number | bigint>(space: AddrSpace<K>, table: number, regions: Region<K>[] | undefined): void {
    if (!regions || regions.length === 0) return;
    regions.sort((a, b) => space.compare(a.lo, b.lo) || a.len - b.len);
    const items = this.list(space, table);
    let outer: Region<K> | null = null;
    for (const r of regions) {
      // Regions inside an earlier one are covered by it.
      if (outer && space.compare(r.lo, space.last(outer.lo, outer.len)) <= 0) continue;
      outer = r;
      this.nRegions++;
      this.results.push(this.sweepRegion(space, table, items, r));
    }
  }

  private sweepRegion<K extends number | bigint>(space: AddrSpace<K>, table: number, items: Rows<SweepItem<K>>, r: Region<K>): RegionResult {
    const family = space.family;
    const input: SweepItem<K>[] = [];
    const enclosing = new Set<string>();
    for (let len = 0; len < r.len; len++) {
      const lo = maskTo(space, r.lo, len);
      for (const it of items.range(lowerBound(space, items, lo, len, 0))) {
        if (it.len !== len || space.compare(it.lo, lo) !== 0) break;
        input.push(it);
        enclosing.add(it.dst);
      }
    }
    const hi = space.last(r.lo, r.len);
    for (const it of items.range(lowerBound(space, items, r.lo, r.len, 0))) {
      if (space.compare(it.lo, hi) > 0) break;
      input.push(it);
    }
    // Hosts of connected subnets (enclosing or inside) whose neighbour is inside the region.
    const routes = input.length;
    for (let i = 0; i < routes; i++) {
      const c = input[i]!;
      if (c.rank !== 1 || c.verdict.kind !== 'connected') continue;
      const port = c.verdict.port;
      const cLast = space.last(c.lo, c.len);
      for (const n of this.neighborsOn(port.ifindex, family)) {
        const a = space.parse(n.address);
        if (space.compare(a, r.lo) < 0 || space.compare(a, hi) > 0) continue;
        if (space.compare(a, c.lo) < 0 || space.compare(a, cLast) > 0) continue;
        input.push(hostItem(space, c, port, c.verdict.smac, c.verdict.mtu, n, this.ctx.intern));
      }
    }
    const out: SweepOut = { entries: [], skipped: [], forwardIndex: [], forwardDraft: [] };
    sweep(space, table, input, out);
    const rows: NewRows = { entries: [], skipped: [], forwardIndex: [], forwardDraft: [] };
    let f = 0;
    for (let i = 0; i < out.entries.length; i++) {
      const e = out.entries[i]!;
      const isForward = f < out.forwardIndex.length && out.forwardIndex[f] === i;
      if (isForward) f++;
      if (enclosing.has(e.dst)) continue;
      if (isForward) {
        rows.forwardIndex.push(rows.entries.length);
        rows.forwardDraft.push(out.forwardDraft[f - 1]!);
      }
      rows.entries.push(e);
    }
    for (const s of out.skipped) if (!enclosing.has(s.dst)) rows.skipped.push(s);
    const [e0, e1] = rowRange(space, this.oldRows.entries, table, r);
    const [s0, s1] = rowRange(space, this.oldRows.skipped, table, r);
    return { table, family, e0, e1, s0, s1, rows };
  }

  private neighborsOn(ifindex: number, family: Family): readonly Neighbor[] {
    if (!this.neighborsByLink) {
      this.neighborsByLink = new Map();
      for (const n of this.view.neighbors()) {
        if (!neighborUsable(n) || !this.offload.has(n.ifindex)) continue;
        const k = `${n.ifindex}|${n.family}`;
        let list = this.neighborsByLink.get(k);
        if (!list) this.neighborsByLink.set(k, (list = []));
        list.push(n);
      }
    }
    return this.neighborsByLink.get(`${ifindex}|${family}`) ?? [];
  }

  // ---- groups ------------------------------------------------------------------

  private newRefs: Map<GroupDraft, number> | null = null;
  private touched = new Set<GroupDraft>();
  private variantsBefore = new Map<string, number>();
  private variantsAfter = new Map<string, number>();

  /** Count rows per draft after the step; true when some key's variant count crosses one. */
  private groupsRenamed(): boolean {
    const refs = new Map(this.oldRefs);
    const bump = (d: GroupDraft, by: number) => {
      const n = (refs.get(d) ?? 0) + by;
      if (n === 0) refs.delete(d); else refs.set(d, n);
      this.touched.add(d);
    };
    for (const res of this.results) {
      for (const e of this.oldRows.entries.range(res.e0, res.e1)) {
        if (e.action === 'forward') bump(this.draftById.get(e.group!)!, -1);
      }
      for (const d of res.rows.forwardDraft) bump(d, +1);
    }
    this.newRefs = refs;
    const keys = new Set<string>();
    for (const d of this.touched) keys.add(d.key);
    for (const d of this.oldRefs.keys()) if (keys.has(d.key)) this.variantsBefore.set(d.key, (this.variantsBefore.get(d.key) ?? 0) + 1);
    for (const d of refs.keys()) if (keys.has(d.key)) this.variantsAfter.set(d.key, (this.variantsAfter.get(d.key) ?? 0) + 1);
    for (const k of keys) {
      const before = this.variantsBefore.get(k) ?? 0;
      const after = this.variantsAfter.get(k) ?? 0;
      if (before > 0 && after > 0 && (before === 1) !== (after === 1)) return true;
    }
    return false;
  }

  finish(): PlanStep {
    const old = this.old;
    const refs = this.newRefs!;
    const bitsCap = this.opts.bucketBits ?? DEFAULT_BUCKET_BITS;
    const oldByKey = new Map(old.groups.map((g) => [g.key, g] as const));
    const gone = new Map<string, PlanGroup>();
    const live = new Map<string, GroupDraft>();
    for (const d of this.touched) {
      if (this.oldRefs.has(d)) {
        const k = finalKey(d, this.variantsBefore.get(d.key)!);
        if (!refs.has(d)) gone.set(k, oldByKey.get(k)!);
      }
      if (refs.has(d) && !this.oldRefs.has(d)) live.set(finalKey(d, this.variantsAfter.get(d.key)!), d);
    }
    const fresh = [...live.keys()].filter((k) => !oldByKey.has(k)).sort();
    const allocated = allocateGroupIds(fresh, new Map(old.groups.map((g) => [g.key, g.id] as const)));
    const ids = new Map(this.oldIds);
    for (const d of this.touched) if (!refs.has(d)) ids.delete(d);
    const groupsById = new Map(old.groups.map((g) => [g.id, g] as const));
    const groupOps: PlanOp[] = [];
    const deleteOps: PlanOp[] = [];
    for (const [k, g] of gone) {
      if (live.has(k)) continue; // replaced by a new draft under the same key: an update below
      groupsById.delete(g.id);
      deleteOps.push({ op: 'group-delete', group: g });
    }
    for (const [k, d] of live) {
      const prev = oldByKey.get(k);
      const id = prev?.id ?? allocated.get(k)!;
      ids.set(d, id);
      const g = finishGroup(id, { key: k, slots: d.slots, mtu: d.mtu }, bitsCap);
      groupsById.set(id, g);
      if (!prev) groupOps.push({ op: 'group-add', group: g });
      else if (!sameGroup(prev, g)) groupOps.push({ op: 'group-update', group: g, old: prev });
    }
    groupOps.sort((a, b) => groupId(a) - groupId(b));
    deleteOps.sort((a, b) => groupId(a) - groupId(b));

    // Rows: regions come in canonical order (table, family, address); each is spliced over its old range.
    const entryOps: PlanOp[] = [];
    const entryDeletes: PlanOp[] = [];
    for (const res of this.results) {
      const { rows } = res;
      for (let i = 0; i < rows.forwardIndex.length; i++) rows.entries[rows.forwardIndex[i]!]!.group = ids.get(rows.forwardDraft[i]!)!;
      diffEntryRun(this.oldRows.entries, res.e0, res.e1, rows.entries, entryOps, entryDeletes);
    }
    const rows: PlanRows = {
      entries: this.oldRows.entries.splice(this.results.map((r) => ({ from: r.e0, to: r.e1, rows: r.rows.entries }))),
      skipped: this.oldRows.skipped.splice(this.results.map((r) => ({ from: r.s0, to: r.s1, rows: r.rows.skipped }))),
    };
    const groups = [...groupsById.values()].sort((a, b) => a.id - b.id);
    const plan = planOfRows({ ports: old.ports, groups, ttlPunt: true, tables: old.tables, ...(old.policy ? { policy: old.policy } : {}), ...(old.firewall ? { firewall: old.firewall } : {}) }, rows);

    const items = new Map(this.oldItems);
    for (const [t, l] of this.items) items.set(t, { v4: l.v4, v6: l.v6 });
    const ops = [...groupOps, ...entryOps, ...entryDeletes, ...deleteOps];
    return { state: PlanState.from(plan, rows, items, refs, ids), ops, how: 'incremental', regions: this.nRegions };
  }
}

function groupId(op: PlanOp): number {
  return 'group' in op ? op.group.id : 0;
}

/** What is installed for a route is decided by its verdict; equal verdicts change no row. */
function sameVerdict(a: Verdict, b: Verdict): boolean {
  if (a.kind === 'skip') return b.kind === 'skip' && a.reason === b.reason;
  if (a.kind === 'forward') return b.kind === 'forward' && a.draft === b.draft && a.empty === b.empty;
  return b.kind === 'connected' && a.port === b.port && a.smac === b.smac && a.mtu === b.mtu;
}

/**
 * The list with replacements, removals and insertions applied: the chunks
 * they fall in are copied, the rest shared (rows.ts).
 */
function withChanges<K extends number | bigint>(space: AddrSpace<K>, items: Rows<SweepItem<K>>, changes: Change<K>[]): Rows<SweepItem<K>> {
  // By position; at one position, insertions (which sort before the item
  // there) in prefix order, then the change of the item there.
  changes.sort((a, b) => a.at - b.at || (a.cur ? 1 : 0) - (b.cur ? 1 : 0)
    || (a.cur ? 0 : space.compare(a.next!.lo, b.next!.lo) || a.next!.len - b.next!.len));
  return items.splice(changes.map((c) => ({ from: c.at, to: c.cur ? c.at + 1 : c.at, rows: c.next ? [c.next] : [] })));
}

/** The prefix of length `len` containing `lo`. */
function maskTo<K extends number | bigint>(space: AddrSpace<K>, lo: K, len: number): K {
  if (space.family === 4) {
    const n = lo as number;
    return (n - (n % 2 ** (32 - len))) as K;
  }
  return ((lo as bigint) & ~((1n << BigInt(128 - len)) - 1n)) as K;
}

/** First index whose (lo, len, rank) is >= the given one, in sweep order. */
function lowerBound<K extends number | bigint>(space: AddrSpace<K>, items: Rows<SweepItem<K>>, lo: K, len: number, rank: number): number {
  return items.partition((it) => (space.compare(it.lo, lo) || it.len - len || it.rank - rank) < 0);
}

/** Rows of `table`/`space.family` inside region r: [first, end) in a canonically ordered row list. */
function rowRange<K extends number | bigint, R extends { table: number; family: Family; dst: string }>(space: AddrSpace<K>, rows: Rows<R>, table: number, r: Region<K>): [number, number] {
  const family = space.family;
  const hi = space.last(r.lo, r.len);
  // Position of a row relative to the region: <0 before it, 0 inside, >0 after.
  const where = (x: { table: number; family: Family; dst: string }): number => {
    if (x.table !== table) return x.table - table;
    if (x.family !== family) return x.family - family;
    const slash = x.dst.lastIndexOf('/');
    const a = space.parse(x.dst.slice(0, slash));
    const len = Number(x.dst.slice(slash + 1));
    const c = space.compare(a, r.lo);
    if (c < 0 || (c === 0 && len < r.len)) return -1;
    return space.compare(a, hi) > 0 ? 1 : 0;
  };
  return [rows.partition((x) => where(x) < 0), rows.partition((x) => where(x) <= 0)];
}
