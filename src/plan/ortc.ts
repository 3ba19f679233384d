// ORTC (Draves, King, Venkatachary, Zill, "Constructing Optimal IP Routing
// Tables", INFOCOM 1999) over one table and family, kept incrementally.
//
// Actions are small integers; KERNEL (0) is also what an address no prefix
// covers gets, so a compressed table may leave space uncovered where the
// source had punts, and must cover (with KERNEL) space the source punted
// inside a covering forward. The trie is a plain binary trie of the source
// prefixes and their ancestors. ORTC's pass 1 (every node 0 or 2 children)
// is implicit: a node with one child has a "virtual" leaf on the other side
// that inherits the nearest source prefix above it. Pass 2 (candidate sets,
// bottom-up: A∩B if not empty, else A∪B) and pass 3 (top-down: keep the
// parent's choice when the set has it, else the smallest member and emit a
// prefix) are stored per node, so a change recomputes only
//   - the sets of the changed prefix's inheritance region (down to the next
//     source prefixes, whose sets do not depend on it) and of its ancestors
//     until one's set comes out unchanged (as BIRD's aggregator does), and
//   - the choices below the highest changed node, descending only into
//     changed nodes or children of nodes whose choice changed.
// Emissions are diffed as they change. Same result as from scratch: every
// stored value is a function of the source prefixes, never of history.
import { formatIp } from '../model/ip.js';

export const KERNEL = 0;
const NONE = -1;
/** `single` of a node whose set has more than one member (in `multi`). */
const MULTI = -1;
/** `single`/`choice` of a node not computed yet. */
const UNSET = -2;
const ROOT = 1;

/** dst text → [action before the update (NONE = not emitted), action after]. */
export type EmitSink = Map<string, [number, number]>;

type SetValue = number | number[];

function intersect(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! < b[j]!) i++;
    else if (a[i]! > b[j]!) j++;
    else { out.push(a[i]!); i++; j++; }
  }
  return out;
}

function union(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else if (i >= a.length || b[j]! < a[i]!) out.push(b[j++]!);
    else { out.push(a[i]!); i++; j++; }
  }
  return out;
}

export class OrtcTrie {
  private cap = 0;
  private next = ROOT;
  private readonly freed: number[] = [];
  private left: Int32Array = new Int32Array(0);
  private right: Int32Array = new Int32Array(0);
  private parent: Int32Array = new Int32Array(0);
  /** The source prefix's action at this node, NONE if the node is only a path. */
  private orig: Int32Array = new Int32Array(0);
  /** Candidate set: its only member, MULTI (see `multi`) or UNSET. */
  private single: Int32Array = new Int32Array(0);
  private readonly multi = new Map<number, number[]>();
  /** Pass 3's choice: the action addresses under the node get unless a longer emitted prefix says otherwise. */
  private choice: Int32Array = new Int32Array(0);
  /** Action emitted at the node's prefix, NONE if none. */
  private emit: Int32Array = new Int32Array(0);
  /** Action emitted at the virtual child's prefix (the missing side of a one-child node), NONE if none. */
  private emitV: Int32Array = new Int32Array(0);
  private depth: Uint8Array = new Uint8Array(0);
  private side: Uint8Array = new Uint8Array(0);
  private dirty: Uint8Array = new Uint8Array(0);
  private count = 0;
  private emitted = 0;
  /** Where emission changes go while an update runs; null while building from scratch. */
  private sink: EmitSink | null = null;

  constructor(readonly bytes: 4 | 16) {
    this.grow(1024);
    this.alloc(0, 0);
  }

  /** Source prefixes held. */
  get sourceSize(): number { return this.count; }
  /** Prefixes in the compressed table. */
  get size(): number { return this.emitted; }

  private grow(min: number): void {
    let cap = Math.max(this.cap * 2, 1024);
    while (cap < min) cap *= 2;
    const g32 = (a: Int32Array): Int32Array => { const b = new Int32Array(cap); b.set(a); return b; };
    const g8 = (a: Uint8Array): Uint8Array => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.left = g32(this.left); this.right = g32(this.right); this.parent = g32(this.parent);
    this.orig = g32(this.orig); this.single = g32(this.single); this.choice = g32(this.choice);
    this.emit = g32(this.emit); this.emitV = g32(this.emitV);
    this.depth = g8(this.depth); this.side = g8(this.side); this.dirty = g8(this.dirty);
    this.cap = cap;
  }

  private alloc(p: number, bit: number): number {
    let x = this.freed.pop();
    if (x === undefined) {
      if (this.next >= this.cap) this.grow(this.next + 1);
      x = this.next++;
    }
    this.left[x] = 0; this.right[x] = 0; this.parent[x] = p;
    this.orig[x] = NONE; this.single[x] = UNSET; this.choice[x] = UNSET;
    this.emit[x] = NONE; this.emitV[x] = NONE;
    this.depth[x] = p ? this.depth[p]! + 1 : 0; this.side[x] = bit; this.dirty[x] = 1;
    if (p) { if (bit) this.right[p] = x; else this.left[p] = x; }
    return x;
  }

  private release(x: number): void {
    const p = this.parent[x]!;
    if (this.side[x]) this.right[p] = 0; else this.left[p] = 0;
    this.multi.delete(x);
    this.freed.push(x);
  }

  // --- candidate sets -------------------------------------------------------

  private has(x: number, v: number): boolean {
    const s = this.single[x]!;
    return s >= 0 ? s === v : this.multi.get(x)!.includes(v);
  }

  private least(x: number): number {
    const s = this.single[x]!;
    return s >= 0 ? s : this.multi.get(x)![0]!;
  }

  private setOf(x: number): readonly number[] {
    const s = this.single[x]!;
    return s >= 0 ? [s] : this.multi.get(x)!;
  }

  /** Pass 2 at x: its children's sets (a missing child is a virtual leaf with `h`) combined. */
  private combined(x: number, h: number): SetValue {
    const l = this.left[x]!;
    const r = this.right[x]!;
    if (!l && !r) return h;
    const a = l ? this.single[l]! : h;
    const b = r ? this.single[r]! : h;
    if (a >= 0 && b >= 0) return a === b ? a : a < b ? [a, b] : [b, a];
    const A = l ? this.setOf(l) : [h];
    const B = r ? this.setOf(r) : [h];
    const c = intersect(A, B);
    const s = c.length ? c : union(A, B);
    return s.length === 1 ? s[0]! : s;
  }

  private sameSet(x: number, s: SetValue): boolean {
    const cur = this.single[x]!;
    if (typeof s === 'number') return cur === s;
    if (cur !== MULTI) return false;
    const m = this.multi.get(x)!;
    return m.length === s.length && m.every((v, i) => v === s[i]);
  }

  private store(x: number, s: SetValue): void {
    if (typeof s === 'number') { this.single[x] = s; this.multi.delete(x); } else { this.single[x] = MULTI; this.multi.set(x, s); }
  }

  // --- prefixes -------------------------------------------------------------

  /** The node's prefix as text, or its child's on `childSide`. */
  prefixText(x: number, childSide?: number): string {
    const bytes = new Uint8Array(this.bytes);
    let len = this.depth[x]!;
    if (childSide !== undefined) {
      if (childSide) bytes[len >> 3]! |= 0x80 >> (len & 7);
      len++;
    }
    for (let y = x; y !== ROOT; y = this.parent[y]!) {
      const i = this.depth[y]! - 1;
      if (this.side[y]) bytes[i >> 3]! |= 0x80 >> (i & 7);
    }
    return `${formatBytes(bytes)}/${len}`;
  }

  private record(x: number, childSide: number | undefined, before: number, after: number): void {
    if (before !== NONE) this.emitted--;
    if (after !== NONE) this.emitted++;
    if (!this.sink) return;
    const dst = this.prefixText(x, childSide);
    const s = this.sink.get(dst);
    if (s) s[1] = after; else this.sink.set(dst, [before, after]);
  }

  /** The source action nearest above x (not x itself), KERNEL if none. */
  private inheritedAbove(x: number): number {
    for (let y = this.parent[x]!; y; y = this.parent[y]!) if (this.orig[y]! >= 0) return this.orig[y]!;
    return KERNEL;
  }

  /** The node of a prefix, if the trie has one. */
  find(addr: Uint8Array, len: number): number {
    let x = ROOT;
    for (let i = 0; i < len && x; i++) x = (addr[i >> 3]! >> (7 - (i & 7))) & 1 ? this.right[x]! : this.left[x]!;
    return x;
  }

  /** The source action at a prefix, NONE if it has none. */
  sourceAt(addr: Uint8Array, len: number): number {
    const x = this.find(addr, len);
    return x ? this.orig[x]! : NONE;
  }

  /** The action the compressed table emits at exactly this prefix, NONE if none. */
  emittedAt(addr: Uint8Array, len: number): number {
    const x = this.find(addr, len);
    if (x) return this.emit[x]!;
    if (len === 0) return NONE;
    const p = this.find(addr, len - 1);
    const bit = (addr[(len - 1) >> 3]! >> (7 - ((len - 1) & 7))) & 1;
    // The prefix is p's virtual child when p's only real child is on the other side.
    return p && (bit ? !this.right[p] && this.left[p] : !this.left[p] && this.right[p]) ? this.emitV[p]! : NONE;
  }

  // --- building -------------------------------------------------------------

  /** Set a source prefix without recomputing (then `rebuild`). */
  load(addr: Uint8Array, len: number, action: number): void {
    let x = ROOT;
    for (let i = 0; i < len; i++) {
      const bit = (addr[i >> 3]! >> (7 - (i & 7))) & 1;
      const c = bit ? this.right[x]! : this.left[x]!;
      x = c || this.alloc(x, bit);
    }
    if (this.orig[x]! < 0) this.count++;
    this.orig[x] = action;
  }

  /** Passes 2 and 3 over the whole trie (after `load`s). */
  rebuild(): void {
    this.sink = null;
    this.post(ROOT, KERNEL);
    this.visit(ROOT, KERNEL, KERNEL);
  }

  private post(x: number, inh: number): void {
    const h = this.orig[x]! >= 0 ? this.orig[x]! : inh;
    const l = this.left[x]!;
    const r = this.right[x]!;
    if (l) this.post(l, h);
    if (r) this.post(r, h);
    this.store(x, this.combined(x, h));
    this.dirty[x] = 1;
  }

  /** Pass 2 over x's inheritance region: x and the path nodes below it down to the next source prefixes. */
  private region(x: number, inh: number): void {
    const h = this.orig[x]! >= 0 ? this.orig[x]! : inh;
    const l = this.left[x]!;
    const r = this.right[x]!;
    if (l && this.orig[l]! < 0) this.region(l, h);
    if (r && this.orig[r]! < 0) this.region(r, h);
    this.store(x, this.combined(x, h));
    this.dirty[x] = 1;
  }

  /** Pass 3 from x down, given its parent's choice; emission changes are recorded. */
  private visit(x: number, pc: number, inh: number): void {
    const h = this.orig[x]! >= 0 ? this.orig[x]! : inh;
    const c = this.has(x, pc) ? pc : this.least(x);
    const e = c === pc ? NONE : c;
    if (e !== this.emit[x]) { this.record(x, undefined, this.emit[x]!, e); this.emit[x] = e; }
    const old = this.choice[x]!;
    this.choice[x] = c;
    const l = this.left[x]!;
    const r = this.right[x]!;
    const v = (l === 0) !== (r === 0) && h !== c ? h : NONE;
    if (v !== this.emitV[x]) { this.record(x, l ? 1 : 0, this.emitV[x]!, v); this.emitV[x] = v; }
    this.dirty[x] = 0;
    if (l && (this.dirty[l] || c !== old)) this.visit(l, c, h);
    if (r && (this.dirty[r] || c !== old)) this.visit(r, c, h);
  }

  /**
   * Set (action >= 0) or remove (NONE) one source prefix and bring the
   * compressed table up to date, recording emission changes in `sink`.
   */
  change(addr: Uint8Array, len: number, action: number, sink: EmitSink | null): void {
    this.sink = sink;
    let x = ROOT;
    let created = 0;
    for (let i = 0; i < len; i++) {
      const bit = (addr[i >> 3]! >> (7 - (i & 7))) & 1;
      let c = bit ? this.right[x]! : this.left[x]!;
      if (!c) {
        if (action === NONE) return;
        if (!created) created = x;
        // x's virtual child on this side becomes a real node.
        if (this.emitV[x]! !== NONE) { this.record(x, bit, this.emitV[x]!, NONE); this.emitV[x] = NONE; }
        c = this.alloc(x, bit);
      }
      x = c;
    }
    if (this.orig[x] === action) return;
    if (this.orig[x]! < 0) this.count++;
    else if (action === NONE) this.count--;
    this.orig[x] = action;

    let s = x;
    if (action === NONE && !this.left[x] && !this.right[x] && x !== ROOT) {
      // Drop the leaf and every ancestor left as a childless path node.
      let q = x;
      while (q !== ROOT && this.orig[q]! < 0 && !this.left[q] && !this.right[q]) {
        const p = this.parent[q]!;
        if (this.emit[q] !== NONE) this.record(q, undefined, this.emit[q]!, NONE);
        // p had q as its only child: its virtual child (other side) goes with the structure.
        if (this.emitV[p] !== NONE) { this.record(p, this.side[q]! ^ 1, this.emitV[p]!, NONE); this.emitV[p] = NONE; }
        this.release(q);
        q = p;
      }
      s = q;
      this.store(s, this.combined(s, this.orig[s]! >= 0 ? this.orig[s]! : this.inheritedAbove(s)));
      this.dirty[s] = 1;
    } else {
      this.region(s, this.inheritedAbove(s));
    }

    // Up: ancestors' sets until one comes out unchanged.
    const path: number[] = [];
    for (let y = this.parent[s]!; y; y = this.parent[y]!) path.push(y);
    const inh: number[] = new Array<number>(path.length);
    let acc = KERNEL;
    for (let i = path.length - 1; i >= 0; i--) {
      const y = path[i]!;
      if (this.orig[y]! >= 0) acc = this.orig[y]!;
      inh[i] = acc;
    }
    let top = s;
    for (let i = 0; i < path.length; i++) {
      const y = path[i]!;
      const set = this.combined(y, inh[i]!);
      if (this.single[y] !== UNSET && this.sameSet(y, set)) break;
      this.store(y, set);
      this.dirty[y] = 1;
      top = y;
    }
    if (created && this.depth[created]! < this.depth[top]!) { top = created; this.dirty[created] = 1; }
    const pc = top === ROOT ? KERNEL : this.choice[this.parent[top]!]!;
    this.visit(top, pc, this.inheritedAbove(top));
    this.sink = null;
  }

  /** The compressed table in address order, then prefix length: [dst, action]. */
  emissions(): [string, number][] {
    const out: [string, number][] = [];
    const walk = (x: number): void => {
      if (this.emit[x] !== NONE) out.push([this.prefixText(x), this.emit[x]!]);
      const l = this.left[x]!;
      const r = this.right[x]!;
      if (l) walk(l); else if (r && this.emitV[x] !== NONE) out.push([this.prefixText(x, 0), this.emitV[x]!]);
      if (r) walk(r); else if (l && this.emitV[x] !== NONE) out.push([this.prefixText(x, 1), this.emitV[x]!]);
    };
    walk(ROOT);
    return out;
  }

  /** Nodes in use (for memory figures). */
  get nodes(): number { return this.next - 1 - this.freed.length; }
}

function formatBytes(b: Uint8Array): string {
  return b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : formatIp(b);
}
