// A persistent list in chunks: what the incremental planner keeps its rows
// in, so a batch copies the chunks it touches and the chunk index, never the
// whole list. At 1M rows a full copy is an 8 MB array per list per batch,
// and under steady route churn those copies (several per batch, 20 batches a
// second) were most of the daemon's memory (BENCH.md, "Daemon memory").
// Immutable: splice() returns a new list sharing every untouched chunk.
// A chunk is an array of the rows, or whatever a `pack` function makes of
// them (plan entries are packed into columns: entry-columns.ts).

/** Rows per chunk when a list is built; a chunk is split above 2× and merged with a neighbour below ¼. */
const CHUNK = 512;
const MAX = 2 * CHUNK;
const MIN = CHUNK / 4;

/** Replace old rows [from, to) with `rows` (from === to: insert before `from`). */
export interface RowSplice<T> {
  readonly from: number;
  readonly to: number;
  readonly rows: readonly T[];
}

/** What a reader of rows by position needs: a plain array has it too. */
export interface Indexed<T> {
  readonly length: number;
  at(i: number): T | undefined;
}

/** A run of rows as stored: a plain array is one. at() is only asked for 0 <= i < length. */
export interface Chunk<T> {
  readonly length: number;
  at(i: number): T | undefined;
}

/** How rows are stored in a chunk; an array of them by default. */
export type Pack<T> = (rows: T[]) => Chunk<T>;

const asArray = <T>(rows: T[]): Chunk<T> => rows;

export class Rows<T> implements Iterable<T>, Indexed<T> {
  /** starts[c] = index of chunk c's first row; starts[chunks.length] = length. */
  private readonly starts: Int32Array;

  private constructor(private readonly chunks: readonly Chunk<T>[], private readonly pack: Pack<T>) {
    this.starts = new Int32Array(chunks.length + 1);
    for (let c = 0; c < chunks.length; c++) this.starts[c + 1] = this.starts[c]! + chunks[c]!.length;
  }

  static from<T>(items: readonly T[], pack: Pack<T> = asArray): Rows<T> {
    const chunks: Chunk<T>[] = [];
    for (let i = 0; i < items.length; i += CHUNK) chunks.push(pack(items.slice(i, i + CHUNK)));
    return new Rows(chunks, pack);
  }

  get length(): number {
    return this.starts[this.chunks.length]!;
  }

  /** Chunks in the list (tests and diagnostics: how fragmented it is). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** Chunks of this list that `other` holds too, the same objects (tests: what a splice left shared). */
  sharedChunks(other: Rows<T>): number {
    const theirs = new Set(other.chunks);
    return this.chunks.filter((c) => theirs.has(c)).length;
  }

  /** Index of the chunk holding row i (0 <= i < length). */
  private chunkOf(i: number): number {
    let a = 0;
    let b = this.chunks.length - 1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (this.starts[m]! <= i) a = m; else b = m - 1;
    }
    return a;
  }

  at(i: number): T | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    const c = this.chunkOf(i);
    return this.chunks[c]!.at(i - this.starts[c]!);
  }

  /**
   * The first index whose row is not `before`, where `before` holds for a
   * prefix of the list (a lower bound): chunks by their last row, then
   * within one chunk.
   */
  partition(before: (x: T) => boolean): number {
    let a = 0;
    let b = this.chunks.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      const ch = this.chunks[m]!;
      if (before(ch.at(ch.length - 1)!)) a = m + 1; else b = m;
    }
    if (a === this.chunks.length) return this.length;
    const ch = this.chunks[a]!;
    let lo = 0;
    let hi = ch.length;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (before(ch.at(m)!)) lo = m + 1; else hi = m;
    }
    return this.starts[a]! + lo;
  }

  /** Rows from index `from` (inclusive) to `to` (exclusive), in order. */
  *range(from = 0, to = this.length): Generator<T> {
    if (from >= to) return;
    let c = this.chunkOf(Math.max(0, from));
    let i = Math.max(0, from);
    const end = Math.min(to, this.length);
    while (i < end) {
      const ch = this.chunks[c]!;
      const s = this.starts[c]!;
      const stop = Math.min(end, s + ch.length);
      for (; i < stop; i++) yield ch.at(i - s)!;
      c++;
    }
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const ch of this.chunks) for (let i = 0; i < ch.length; i++) yield ch.at(i)!;
  }

  toArray(): T[] {
    const out = new Array<T>(this.length);
    let o = 0;
    for (const ch of this.chunks) for (let i = 0; i < ch.length; i++) out[o++] = ch.at(i)!;
    return out;
  }

  /**
   * The list with each part applied; parts in ascending `from`, not
   * overlapping (several inserts may share a position; they go in the
   * order given). Chunks no part reaches are shared with this list.
   */
  splice(parts: readonly RowSplice<T>[]): Rows<T> {
    if (parts.length === 0) return this;
    const out: Chunk<T>[] = [];
    let cur: T[] = [];
    let pos = 0; // next old row to keep
    let pi = 0;
    const n = this.chunks.length;
    for (let c = 0; c < n; c++) {
      const ch = this.chunks[c]!;
      const s = this.starts[c]!;
      const e = s + ch.length;
      const last = c === n - 1;
      const startsHere = (): boolean => pi < parts.length && (parts[pi]!.from < e || (last && parts[pi]!.from === e));
      if (!startsHere() && pos <= s) {
        if (cur.length > 0 && cur.length < MIN) {
          for (let i = 0; i < ch.length; i++) cur.push(ch.at(i)!); // a small remainder joins its neighbour instead of staying a tiny chunk
          pos = e;
          continue;
        }
        if (cur.length > 0) { emit(out, cur, this.pack); cur = []; }
        out.push(ch);
        pos = e;
        continue;
      }
      while (startsHere()) {
        const p = parts[pi++]!;
        if (p.from < pos || p.to < p.from) throw new RangeError(`row splice [${p.from}, ${p.to}) overlaps or is reversed`);
        for (let i = Math.max(pos, s); i < p.from; i++) cur.push(ch.at(i - s)!);
        for (const x of p.rows) cur.push(x);
        pos = p.to;
      }
      for (let i = Math.max(pos, s); i < e; i++) cur.push(ch.at(i - s)!);
      pos = Math.max(pos, e);
    }
    for (; pi < parts.length; pi++) {
      const p = parts[pi]!;
      if (p.from !== this.length || p.to !== p.from) throw new RangeError(`row splice [${p.from}, ${p.to}) past the end (${this.length})`);
      for (const x of p.rows) cur.push(x);
    }
    if (cur.length > 0) emit(out, cur, this.pack);
    return new Rows(out, this.pack);
  }
}

/** Push `rows` as one chunk, or as even chunks of about CHUNK when it is too long. */
function emit<T>(out: Chunk<T>[], rows: T[], pack: Pack<T>): void {
  if (rows.length <= MAX) { out.push(pack(rows)); return; }
  const k = Math.ceil(rows.length / CHUNK);
  const size = Math.ceil(rows.length / k);
  for (let i = 0; i < rows.length; i += size) out.push(pack(rows.slice(i, i + size)));
}
