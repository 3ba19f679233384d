// FIB compression for the tc backend: per table and family, the fewest
// prefixes that send every address where the plan's entries send it, as tc
// executes them (src/tc/rules.ts): a forward entry whose group exists jumps
// to the group's chain (an empty group too: its buckets pass, and when its
// nexthops resolve only the group changes, as DESIGN.md promises); anything
// else passes to the kernel. In the prefix chain a `pass` and no match at all
// do the same thing (the frame goes on to the kernel's stack), so a punt and
// "no entry" are one action here, KERNEL: a punt that no forward covers needs
// no rule, and a compressed rule may pass space the source left uncovered.
// The algorithm (ORTC, kept incrementally) is in ortc.ts. Not for the XDP
// backend, whose lookups tell a punt from a miss.
import { tcBlockMember } from './ports.js';
import type { Family } from '../model/ip.js';
import { parseIp } from '../model/ip.js';
import type { PlanOp } from './diff.js';
import { compareRows } from './order.js';
import { KERNEL, OrtcTrie, type EmitSink } from './ortc.js';
import type { Plan, PlanEntry, SkipReason } from './types.js';

export { KERNEL } from './ortc.js';

export type EntryChange =
  | { readonly op: 'set'; readonly entry: PlanEntry }
  | { readonly op: 'delete'; readonly table: number; readonly family: Family; readonly dst: string };

/** What an update did to the compressed table; a prefix whose action changed is in both. Plan order. */
export interface CompressionDiff {
  readonly added: PlanEntry[];
  readonly removed: PlanEntry[];
}

export interface CompressOptions {
  /** Whether a group id is in the plan (desiredBlocks passes otherwise). Default: every forward's group is. */
  readonly groupExists?: (id: number) => boolean;
}

const NONE = -1;

/** The entry's action as tc runs it: group id + 1 for `goto chain <group>`, KERNEL for pass. */
export function tcAction(e: PlanEntry, groupExists?: (id: number) => boolean): number {
  return e.action === 'forward' && e.group !== undefined && (groupExists?.(e.group) ?? true) ? e.group + 1 : KERNEL;
}

/** "a.b.c.d/len" or IPv6: address bytes and length; the family must match. */
export function prefixBytes(family: Family, dst: string): { addr: Uint8Array; len: number } {
  const slash = dst.lastIndexOf('/');
  const addr = parseIp(slash < 0 ? dst : dst.slice(0, slash));
  const len = slash < 0 ? addr.length * 8 : Number(dst.slice(slash + 1));
  if (addr.length !== (family === 4 ? 4 : 16) || !Number.isInteger(len) || len < 0 || len > addr.length * 8) {
    throw new RangeError(`not an IPv${family} prefix: "${dst}"`);
  }
  return { addr, len };
}

/** One table and family. */
class Part {
  readonly trie: OrtcTrie;
  /** Source entries by dst: an emitted prefix that is a source prefix with the same action shows that entry. */
  readonly source = new Map<string, PlanEntry>();
  /** A group's reason (set while it has no usable member), for emitted prefixes that are no source prefix. */
  readonly groupReason = new Map<number, SkipReason | undefined>();

  constructor(readonly table: number, readonly family: Family) {
    this.trie = new OrtcTrie(family === 4 ? 4 : 16);
  }

  entryFor(dst: string, action: number, source: PlanEntry | undefined, groupExists: ((id: number) => boolean) | undefined): PlanEntry {
    if (source && tcAction(source, groupExists) === action) return source;
    const base = { table: this.table, family: this.family, dst };
    if (action === KERNEL) return { ...base, action: 'punt' };
    const reason = this.groupReason.get(action - 1);
    return reason === undefined ? { ...base, action: 'forward', group: action - 1 } : { ...base, action: 'forward', group: action - 1, reason };
  }
}

function partKey(table: number, family: Family): string {
  return `${table}|${family}`;
}

/**
 * The compressed form of a plan's entries, kept up to date by `update`:
 * `update(changes).added/removed` are the tc prefix rules to add and delete.
 * `update` then `entries()` equals `compressEntries` of the changed entries.
 */
export class CompressedTable {
  private readonly parts = new Map<string, Part>();
  private readonly groupExists: ((id: number) => boolean) | undefined;

  constructor(entries: readonly PlanEntry[] = [], opts: CompressOptions = {}) {
    this.groupExists = opts.groupExists;
    for (const e of entries) {
      const part = this.part(e.table, e.family);
      const { addr, len } = prefixBytes(e.family, e.dst);
      part.trie.load(addr, len, tcAction(e, this.groupExists));
      part.source.set(e.dst, e);
      if (e.group !== undefined) part.groupReason.set(e.group, e.reason);
    }
    for (const p of this.parts.values()) p.trie.rebuild();
  }

  private part(table: number, family: Family): Part {
    const k = partKey(table, family);
    let p = this.parts.get(k);
    if (!p) { p = new Part(table, family); this.parts.set(k, p); }
    return p;
  }

  /** Source entries. */
  get sourceSize(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.trie.sourceSize;
    return n;
  }

  /** Compressed entries. */
  get size(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.trie.size;
    return n;
  }

  /** Compressed / source entries (1 when there are none). */
  get ratio(): number {
    const s = this.sourceSize;
    return s === 0 ? 1 : this.size / s;
  }

  /** The compressed entries in plan order (table, family, address, prefix length). */
  entries(): PlanEntry[] {
    const out: PlanEntry[] = [];
    const parts = [...this.parts.values()].sort((a, b) => a.table - b.table || a.family - b.family);
    for (const p of parts) {
      for (const [dst, action] of p.trie.emissions()) out.push(p.entryFor(dst, action, p.source.get(dst), this.groupExists));
    }
    return out;
  }

  /**
   * Apply source entry changes (a set replaces the entry at its dst; deleting
   * a dst that has none is a no-op). Each change recomputes only the trie
   * around its prefix. Returns the compressed entries added and removed.
   */
  update(changes: Iterable<EntryChange>): CompressionDiff {
    const sinks = new Map<Part, { sink: EmitSink; before: Map<string, PlanEntry | undefined> }>();
    for (const ch of changes) {
      const table = ch.op === 'set' ? ch.entry.table : ch.table;
      const family = ch.op === 'set' ? ch.entry.family : ch.family;
      const dst = ch.op === 'set' ? ch.entry.dst : ch.dst;
      const part = this.part(table, family);
      let s = sinks.get(part);
      if (!s) { s = { sink: new Map(), before: new Map() }; sinks.set(part, s); }
      if (!s.before.has(dst)) s.before.set(dst, part.source.get(dst));
      const { addr, len } = prefixBytes(family, dst);
      if (ch.op === 'set') {
        part.source.set(dst, ch.entry);
        if (ch.entry.group !== undefined) part.groupReason.set(ch.entry.group, ch.entry.reason);
        part.trie.change(addr, len, tcAction(ch.entry, this.groupExists), s.sink);
      } else {
        part.source.delete(dst);
        part.trie.change(addr, len, NONE, s.sink);
      }
    }
    const added: PlanEntry[] = [];
    const removed: PlanEntry[] = [];
    for (const [part, { sink, before }] of sinks) {
      for (const [dst, [was, now]] of sink) {
        if (was === now) continue;
        if (was !== NONE) removed.push(part.entryFor(dst, was, before.has(dst) ? before.get(dst) : part.source.get(dst), this.groupExists));
        if (now !== NONE) added.push(part.entryFor(dst, now, part.source.get(dst), this.groupExists));
      }
      // A source entry replaced by one with the same tc action (a punt by a
      // forward to a missing group): the rule is the same, the entry shown is not.
      for (const [dst, old] of before) {
        const s = sink.get(dst);
        if (s && s[0] !== s[1]) continue;
        const { addr, len } = prefixBytes(part.family, dst);
        const action = part.trie.emittedAt(addr, len);
        if (action === NONE) continue;
        const was = part.entryFor(dst, action, old, this.groupExists);
        const now = part.entryFor(dst, action, part.source.get(dst), this.groupExists);
        if (was.action !== now.action || was.group !== now.group) { removed.push(was); added.push(now); }
      }
    }
    added.sort(compareRows);
    removed.sort(compareRows);
    return { added, removed };
  }
}

/** The compressed entries of `entries` (any order), in plan order. */
export function compressEntries(entries: readonly PlanEntry[], opts: CompressOptions = {}): PlanEntry[] {
  return new CompressedTable(entries, opts).entries();
}

/** The entry ops of a plan diff (diffPlans) as changes; port and group ops change no prefix. */
export function entryChangesOf(ops: readonly PlanOp[]): EntryChange[] {
  const out: EntryChange[] = [];
  for (const op of ops) {
    if (op.op === 'entry-add' || op.op === 'entry-replace') out.push({ op: 'set', entry: op.entry });
    else if (op.op === 'entry-delete') out.push({ op: 'delete', table: op.entry.table, family: op.entry.family, dst: op.entry.dst });
  }
  return out;
}

/** The changes that take source entries `old` to `next` (keyed by table and dst). */
export function entryChanges(old: readonly PlanEntry[], next: readonly PlanEntry[]): EntryChange[] {
  const key = (e: PlanEntry): string => `${e.table}|${e.dst}`;
  const was = new Map(old.map((e) => [key(e), e] as const));
  const out: EntryChange[] = [];
  for (const e of next) {
    const o = was.get(key(e));
    was.delete(key(e));
    if (!o || o.action !== e.action || o.group !== e.group || o.reason !== e.reason) out.push({ op: 'set', entry: e });
  }
  for (const o of was.values()) out.push({ op: 'delete', table: o.table, family: o.family, dst: o.dst });
  return out;
}

/** What `plan` shows of the compression: the tc tables' entries, compressed. */
export interface CompressedPlan {
  /** Tables with tc ports (desiredBlocks makes a block for each). */
  readonly tables: readonly number[];
  /** Their entries, one rule per route. */
  readonly sourceEntries: number;
  /** Compressed, in plan order. */
  readonly entries: readonly PlanEntry[];
  /** entries / sourceEntries (1 when there are none). */
  readonly ratio: number;
}

export function compressPlan(plan: Plan): CompressedPlan {
  const tables = new Set<number>();
  for (const p of plan.ports) if (tcBlockMember(p, plan.tables)) tables.add(p.table);
  const groups = new Set(plan.groups.map((g) => g.id));
  const source = plan.entries.filter((e) => tables.has(e.table));
  const t = new CompressedTable(source, { groupExists: (id) => groups.has(id) });
  return { tables: [...tables].sort((a, b) => a - b), sourceEntries: source.length, entries: t.entries(), ratio: t.ratio };
}
