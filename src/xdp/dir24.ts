// A DIR-24-8 IPv4 longest-prefix-match table (DPDK rte_lpm style) kept in step
// with one BPF array map: tbl24 (one entry per /24) then tbl8 groups of 256
// slots for the /24s that hold longer prefixes. Pure: it computes the array and
// the ordered writes that take the kernel copy from one state to the next.
//
// Memory per table (memoryBytes()): tbl24 values 64 MiB + tbl24 depths 16 MiB
// + a 2 MiB dirty bitmap = 82 MiB fixed; 1,333 B per tbl8 group (1 KiB
// values, 256 B depths, 32 B dirty bits, 21 B allocator; 32,768 groups:
// 41.7 MiB); the routes in typed-array hash tables, 8 B a slot at a load of
// 5/16..5/8, so 13-26 B per route (1M Internet-like routes: 16 MiB); ~40 B per
// /24 holding a longer prefix. 1M routes with 32,768 groups: 140 MiB.

export const TBL24_SIZE = 1 << 24;
/** Slots per tbl8 group. */
export const TBL8_GROUP_SIZE = 256;
/** tbl24 only: the block's addresses are in tbl8 group `v & ~D24_EXT`. */
export const D24_EXT = 0x80000000;
/** Hand the packet to the kernel. */
export const D24_PUNT = 0x40000000;
/** Forward through adjacency group `v & D24_GROUP_MAX`. */
export const D24_FWD = 0x20000000;
export const D24_GROUP_MAX = 0x0fffffff;
/** Groups the allocator accepts: 2^22 groups is 1 Gi slots, already 4 GiB of map. */
export const D24_MAX_TBL8_GROUPS = 1 << 22;

/** Entries in the combined array for `tbl8Groups` groups: the BPF map's max_entries. */
export function d24ArrayLength(tbl8Groups: number): number {
  return TBL24_SIZE + tbl8Groups * TBL8_GROUP_SIZE;
}

export function d24Value(action: 'forward' | 'punt', group: number): number {
  if (action === 'punt') return D24_PUNT;
  if (!Number.isInteger(group) || group < 0 || group > D24_GROUP_MAX) {
    throw new RangeError(`adjacency group ${group}: needs an integer in 0..${D24_GROUP_MAX}`);
  }
  return (D24_FWD | group) >>> 0;
}

export type D24Decoded =
  | { readonly kind: 'none' }
  | { readonly kind: 'ext'; readonly tbl8: number }
  | { readonly kind: 'punt' }
  | { readonly kind: 'forward'; readonly group: number };

export function decodeD24(v: number): D24Decoded {
  const u = v >>> 0;
  if (u !== v) throw new RangeError(`dir24 entry ${v}: not a u32`);
  if (u === 0) return { kind: 'none' };
  if (u & D24_EXT) return { kind: 'ext', tbl8: u & 0x7fffffff };
  if (u === D24_PUNT) return { kind: 'punt' };
  if ((u & 0xf0000000) >>> 0 === D24_FWD) return { kind: 'forward', group: u & D24_GROUP_MAX };
  throw new RangeError(`dir24 entry 0x${u.toString(16)}: not none, ext, punt or forward`);
}

/** Index/value pairs in the combined array's index space, ascending by index. */
export interface D24Phase {
  readonly indices: Uint32Array;
  readonly values: Uint32Array;
}

/** Apply `tbl8` completely, then `tbl24`: a reader never follows a pointer into a half-built group. */
export interface D24Writes {
  readonly tbl8: D24Phase;
  readonly tbl24: D24Phase;
}

export interface Dir24Options {
  tbl8Groups: number;
  /** How long a retired group stays unwritten after the take() that retired it (a reader may hold its pointer). */
  quarantineMs?: number;
  /** Milliseconds, monotonic. */
  now?: () => number;
}

export interface Dir24Stats {
  routes: number;
  tbl8Used: number;
  /** Groups a block could get now (free, or quarantine over). */
  tbl8Free: number;
  /** Retired groups still inside their quarantine (or retired since the last take). */
  quarantined: number;
  /** /24 blocks punted to the kernel for want of a group. */
  starved: number;
}

// Depths are prefix length + 1 (0 = empty, since /0 exists). A tbl24 entry's
// depth is > 33 when the block is not a plain value, so the painting loops'
// single `depth <= d` test passes over those.
const EXT_DEPTH = 0xfe;
const STARVED_DEPTH = 0xff;
const EXT_MASK = 0x7fffffff;

const GROUP_FREE = 0;
const GROUP_USED = 1;
const GROUP_RETIRED = 2; // retired since the last take: its stamp is that take
const GROUP_QUARANTINED = 3;

/** build() tracks which tbl24 chunks (of 4,096 entries) it painted. */
const CHUNK_SHIFT = 12;

/** Past this many marks a dirty set stops listing and is read back from its bitmap. */
const LIST_CAP = 1 << 18;

/** Indices written since the last drain, each once: a bitmap, and a list while it is short. */
class DirtySet {
  private readonly bits: Uint32Array;
  private list = new Uint32Array(1024);
  private n = 0;
  private overflow = false;

  constructor(size: number) {
    this.bits = new Uint32Array(Math.ceil(size / 32));
  }

  mark(i: number): void {
    const w = i >>> 5;
    const b = 1 << (i & 31);
    const x = this.bits[w]!;
    if (x & b) return;
    this.bits[w] = x | b;
    if (this.overflow) return;
    if (this.n === this.list.length) {
      if (this.n >= LIST_CAP) {
        this.overflow = true;
        return;
      }
      const grown = new Uint32Array(this.n * 2);
      grown.set(this.list);
      this.list = grown;
    }
    this.list[this.n++] = i;
  }

  markRange(lo: number, n: number): void {
    for (let i = lo, end = lo + n; i < end; i++) this.mark(i);
  }

  /** The marked indices, ascending; clears the set. */
  drain(): Uint32Array {
    const bits = this.bits;
    let out: Uint32Array;
    if (!this.overflow) {
      out = this.list.slice(0, this.n).sort();
      for (let k = 0; k < out.length; k++) bits[out[k]! >>> 5] = 0;
    } else {
      let count = 0;
      for (let w = 0; w < bits.length; w++) if (bits[w] !== 0) count += popcount(bits[w]!);
      out = new Uint32Array(count);
      let j = 0;
      for (let w = 0; w < bits.length; w++) {
        let x = bits[w]!;
        if (x === 0) continue;
        bits[w] = 0;
        while (x !== 0) {
          out[j++] = (w << 5) + (31 - Math.clz32(x & -x));
          x &= x - 1;
        }
      }
    }
    this.n = 0;
    this.overflow = false;
    if (this.list.length > 65536) this.list = new Uint32Array(1024);
    return out;
  }

  get bytes(): number {
    return this.bits.byteLength + this.list.byteLength;
  }

  clear(): void {
    this.bits.fill(0);
    this.n = 0;
    this.overflow = false;
  }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * The prefixes of one length: address (as a signed 32-bit number) -> value,
 * open addressing with linear probing over two typed arrays. A third of the
 * memory of a Map and several times faster to fill; 0 is never a route value,
 * so it marks an empty slot. The Map methods the table uses, same meanings.
 */
export class PrefixMap {
  private keys = new Int32Array(8);
  private vals = new Uint32Array(8);
  private shift = 29; // 32 - log2(capacity): the hash's top bits index the slots
  size = 0;

  private home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  get(key: number): number | undefined {
    const mask = this.vals.length - 1;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const v = this.vals[i]!;
      if (v === 0) return undefined;
      if (this.keys[i] === key) return v;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: number): this {
    // Load factor at most 5/8: probes stay short.
    if ((this.size + 1) * 8 > this.vals.length * 5) this.grow();
    const mask = this.vals.length - 1;
    let i = this.home(key);
    while (this.vals[i] !== 0 && this.keys[i] !== key) i = (i + 1) & mask;
    if (this.vals[i] === 0) this.size++;
    this.keys[i] = key;
    this.vals[i] = value;
    return this;
  }

  delete(key: number): boolean {
    const mask = this.vals.length - 1;
    let i = this.home(key);
    for (; ; i = (i + 1) & mask) {
      if (this.vals[i] === 0) return false;
      if (this.keys[i] === key) break;
    }
    // Shift later entries of the run back into the hole, each only as far as its home allows.
    for (let j = (i + 1) & mask; this.vals[j] !== 0; j = (j + 1) & mask) {
      const h = this.home(this.keys[j]!);
      if (((j - h) & mask) >= ((j - i) & mask)) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.vals[i] = 0;
    this.size--;
    return true;
  }

  get bytes(): number {
    return this.keys.byteLength + this.vals.byteLength;
  }

  forEach(fn: (value: number, key: number) => void): void {
    const { keys, vals } = this;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== 0) fn(vals[i]!, keys[i]!);
  }

  private grow(): void {
    const { keys, vals } = this;
    this.keys = new Int32Array(vals.length * 2);
    this.vals = new Uint32Array(vals.length * 2);
    this.shift--;
    this.size = 0;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== 0) this.set(keys[i]!, vals[i]!);
  }
}

/** Network mask of a length as a signed 32-bit number (route map keys are signed, so they stay small integers). */
const maskOf = (len: number): number => (len === 0 ? 0 : -1 << (32 - len));

function checkPrefix(addr: number, len: number): void {
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new RangeError(`prefix length ${len}: needs 0..32`);
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff) throw new RangeError(`address ${addr}: not a u32`);
  if ((addr & ~maskOf(len)) !== 0) throw new RangeError(`${formatPrefix(addr, len)} has host bits set`);
}

/** A route value is D24_PUNT or D24_FWD | group (what decodeD24 calls punt or forward). */
function checkValue(value: number): void {
  if (value >>> 0 === value && (value === D24_PUNT || (value & 0xf0000000) >>> 0 === D24_FWD)) return;
  throw new RangeError(`route value ${value}: needs D24_PUNT or D24_FWD | group (d24Value)`);
}

export function formatPrefix(addr: number, len: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`;
}

export class Dir24Table {
  readonly tbl8Groups: number;
  private readonly quarantineMs: number;
  private readonly now: () => number;

  private readonly tbl24 = new Uint32Array(TBL24_SIZE);
  private readonly dep24 = new Uint8Array(TBL24_SIZE);
  /** Group g's slots at [g * 256, g * 256 + 256). */
  private readonly tbl8: Uint32Array;
  private readonly dep8: Uint8Array;
  private readonly dirty24 = new DirtySet(TBL24_SIZE);
  private readonly dirty8: DirtySet;

  /** routes[len]: address as a signed 32-bit number -> value. */
  private readonly routes: PrefixMap[] = Array.from({ length: 33 }, () => new PrefixMap());
  private routeCount = 0;
  /** /24 block -> how many /25../32 prefixes it holds. */
  private readonly longCount = new Map<number, number>();
  private readonly starved = new Set<number>();

  private readonly groupState: Uint8Array;
  private usedCount = 0;
  /** Free groups as a stack; the lowest id on top at the start. */
  private readonly free: Uint32Array;
  private freeN = 0;
  /** Retired since the last take, to be stamped by it. */
  private readonly retired: Uint32Array;
  private retiredN = 0;
  /** Quarantine as a ring, oldest stamp first (stamps only grow). */
  private readonly qGroup: Uint32Array;
  private readonly qTime: Float64Array;
  private qHead = 0;
  private qCount = 0;

  constructor(opts: Dir24Options) {
    const { tbl8Groups, quarantineMs = 1000, now = () => performance.now() } = opts;
    if (!Number.isInteger(tbl8Groups) || tbl8Groups < 0 || tbl8Groups > D24_MAX_TBL8_GROUPS) {
      throw new RangeError(`tbl8Groups ${tbl8Groups}: needs an integer in 0..${D24_MAX_TBL8_GROUPS}`);
    }
    if (!Number.isFinite(quarantineMs) || quarantineMs < 0) throw new RangeError(`quarantineMs ${quarantineMs}: needs a finite number >= 0`);
    this.tbl8Groups = tbl8Groups;
    this.quarantineMs = quarantineMs;
    this.now = now;
    this.tbl8 = new Uint32Array(tbl8Groups * TBL8_GROUP_SIZE);
    this.dep8 = new Uint8Array(tbl8Groups * TBL8_GROUP_SIZE);
    this.dirty8 = new DirtySet(tbl8Groups * TBL8_GROUP_SIZE);
    this.groupState = new Uint8Array(tbl8Groups);
    this.free = new Uint32Array(tbl8Groups);
    this.retired = new Uint32Array(tbl8Groups);
    this.qGroup = new Uint32Array(tbl8Groups);
    this.qTime = new Float64Array(tbl8Groups);
    for (let g = tbl8Groups - 1; g >= 0; g--) this.free[this.freeN++] = g;
  }

  /** Add or replace a prefix. `value` is d24Value(...): D24_PUNT or D24_FWD | group. */
  set(addr: number, len: number, value: number): void {
    checkPrefix(addr, len);
    checkValue(value);
    const m = this.routes[len]!;
    const key = addr | 0;
    const old = m.get(key);
    if (old === value) return;
    m.set(key, value);
    const block = addr >>> 8;
    if (old === undefined) {
      this.routeCount++;
      if (len > 24) this.longCount.set(block, (this.longCount.get(block) ?? 0) + 1);
    }
    if (len <= 24) {
      this.paint24(block, 1 << (24 - len), value, len + 1);
      return;
    }
    const e = this.dep24[block]!;
    if (e === STARVED_DEPTH) return; // rebuilt from the routes when a group frees up
    if (e !== EXT_DEPTH && !this.extend(block)) return;
    const base = (this.tbl24[block]! & EXT_MASK) * TBL8_GROUP_SIZE;
    this.paint8(base + (addr & 0xff), 1 << (32 - len), value, len + 1);
  }

  /** Remove a prefix; the next-shorter cover (or nothing) takes back exactly the entries it owned. Absent: no-op. */
  delete(addr: number, len: number): void {
    checkPrefix(addr, len);
    const m = this.routes[len]!;
    const key = addr | 0;
    if (!m.delete(key)) return;
    this.routeCount--;
    const block = addr >>> 8;
    if (len <= 24) {
      const [cv, cd] = this.cover(addr, len);
      this.unpaint24(block, 1 << (24 - len), len + 1, cv, cd);
      return;
    }
    const left = this.longCount.get(block)! - 1;
    if (left === 0) this.longCount.delete(block);
    else this.longCount.set(block, left);
    if (this.dep24[block] === STARVED_DEPTH) {
      if (left === 0) this.unstarve(block);
      return;
    }
    const g = this.tbl24[block]! & EXT_MASK;
    const base = g * TBL8_GROUP_SIZE;
    const [cv, cd] = this.cover(addr, len);
    this.unpaint8(base + (addr & 0xff), 1 << (32 - len), len + 1, cv, cd);
    if (left === 0) {
      // Every slot is back to the block's /24-or-shorter cover: the block is a plain value again.
      this.tbl24[block] = this.tbl8[base]!;
      this.dep24[block] = this.dep8[base]!;
      this.dirty24.mark(block);
      this.groupState[g] = GROUP_RETIRED;
      this.usedCount--;
      this.retired[this.retiredN++] = g;
    }
  }

  has(addr: number, len: number): boolean {
    checkPrefix(addr, len);
    return this.routes[len]!.has(addr | 0);
  }

  /** The value a packet to `addr` gets from this table's arrays (ext followed): 0, D24_PUNT or D24_FWD | group. */
  lookup(addr: number): number {
    const a = addr >>> 0;
    const v = this.tbl24[a >>> 8]!;
    return v & D24_EXT ? this.tbl8[(v & EXT_MASK) * TBL8_GROUP_SIZE + (a & 0xff)]! : v;
  }

  /** The /24 blocks (address >>> 8) punted for want of a group, ascending. */
  starvedBlocks(): number[] {
    return [...this.starved].sort((a, b) => a - b);
  }

  /** The value of a prefix, or undefined. */
  get(addr: number, len: number): number | undefined {
    checkPrefix(addr, len);
    return this.routes[len]!.get(addr | 0);
  }

  /**
   * The writes since the last take, coalesced per index, tbl8 phase then
   * tbl24 phase. First rebuilds starved blocks for which a group is free;
   * groups retired since the last take start their quarantine now, and their
   * pending writes are dropped (a reader may still follow the old pointer).
   */
  take(): D24Writes {
    if (this.starved.size > 0) this.retryStarved();
    if (this.retiredN > 0) {
      const t = this.now();
      for (let k = 0; k < this.retiredN; k++) this.quarantine(this.retired[k]!, t);
      this.retiredN = 0;
    }
    const i8 = this.dirty8.drain();
    let n8 = 0;
    for (let k = 0; k < i8.length; k++) if (this.groupState[i8[k]! >>> 8] === GROUP_USED) i8[n8++] = i8[k]!;
    const tbl8 = { indices: new Uint32Array(n8), values: new Uint32Array(n8) };
    for (let k = 0; k < n8; k++) {
      const i = i8[k]!;
      tbl8.indices[k] = TBL24_SIZE + i;
      tbl8.values[k] = this.tbl8[i]!;
    }
    const indices = this.dirty24.drain();
    const values = new Uint32Array(indices.length);
    for (let k = 0; k < indices.length; k++) values[k] = this.tbl24[indices[k]!]!;
    return { tbl8, tbl24: { indices, values } };
  }

  stats(): Dir24Stats {
    let ready = 0;
    if (this.qCount > 0) {
      const t = this.now();
      const G = this.tbl8Groups;
      while (ready < this.qCount && t - this.qTime[(this.qHead + ready) % G]! >= this.quarantineMs) ready++;
    }
    return {
      routes: this.routeCount,
      tbl8Used: this.usedCount,
      tbl8Free: this.freeN + ready,
      quarantined: this.retiredN + this.qCount - ready,
      starved: this.starved.size,
    };
  }

  /** Groups retired and not yet out of quarantine (including those retired since the last take). */
  quarantinedGroups(): number[] {
    const out = Array.from(this.retired.subarray(0, this.retiredN));
    const t = this.qCount > 0 ? this.now() : 0;
    for (let k = 0; k < this.qCount; k++) {
      const i = (this.qHead + k) % this.tbl8Groups;
      if (t - this.qTime[i]! < this.quarantineMs) out.push(this.qGroup[i]!);
    }
    return out.sort((a, b) => a - b);
  }

  /** Bytes this table holds: its arrays, the route store, the allocator (Map and Set entries counted at 40 B). */
  memoryBytes(): number {
    let b = this.tbl24.byteLength + this.dep24.byteLength + this.tbl8.byteLength + this.dep8.byteLength;
    b += this.dirty24.bytes + this.dirty8.bytes;
    b += this.groupState.byteLength + this.free.byteLength + this.retired.byteLength + this.qGroup.byteLength + this.qTime.byteLength;
    for (const m of this.routes) b += m.bytes;
    return b + 40 * (this.longCount.size + this.starved.size);
  }

  /**
   * Make the table hold exactly `routes`, by setting what differs and
   * deleting what is not there (then take() has the writes): a running
   * agent's resync. It costs what the routes cost, where a build against the
   * array read back walks all 20M entries.
   */
  converge(routes: Iterable<readonly [addr: number, len: number, value: number]>): void {
    const want = Array.from({ length: 33 }, () => new PrefixMap());
    for (const [addr, len, value] of routes) {
      want[len]!.set(addr | 0, value);
      this.set(addr, len, value);
    }
    for (let len = 0; len <= 32; len++) {
      const gone: number[] = [];
      this.routes[len]!.forEach((_v, key) => { if (!want[len]!.has(key)) gone.push(key); });
      for (const key of gone) this.delete(key >>> 0, len);
    }
  }



  /**
   * A table from scratch, painted by length ascending. Without `installed`,
   * the writes are every nonzero entry (for a zeroed kernel array). With
   * `installed` (the kernel array read back), a block keeps the group it
   * points at there, new groups come only from those no installed entry
   * points at, the writes are the differences, and the installed groups left
   * over start their quarantine now. `quarantined`: groups to hold back the
   * same way, e.g. the previous table's quarantinedGroups() when a running
   * agent rebuilds (the installed array no longer points at them, but a
   * reader may still hold a pointer).
   */
  static build(
    routes: Iterable<readonly [addr: number, len: number, value: number]>,
    opts: Dir24Options & { installed?: Uint32Array; quarantined?: Iterable<number> },
  ): { table: Dir24Table; writes: D24Writes } {
    const table = new Dir24Table(opts);
    const { installed } = opts;
    if (installed !== undefined && installed.length !== d24ArrayLength(table.tbl8Groups)) {
      throw new RangeError(`installed array has ${installed.length} entries; ${table.tbl8Groups} groups need ${d24ArrayLength(table.tbl8Groups)}`);
    }
    const painted = table.load(routes, installed, opts.quarantined);
    return { table, writes: { tbl8: table.groupWrites(installed), tbl24: table.tbl24Writes(painted, installed) } };
  }

  // --- painting -----------------------------------------------------------

  /** Set entries of depth <= d in tbl24 [lo, lo + n) (and in the groups they point at) to v. */
  private paint24(lo: number, n: number, v: number, d: number): void {
    const t24 = this.tbl24;
    const d24 = this.dep24;
    for (let i = lo, end = lo + n; i < end; i++) {
      const e = d24[i]!;
      if (e <= d) {
        if (t24[i] !== v) {
          t24[i] = v;
          this.dirty24.mark(i);
        }
        d24[i] = d;
      } else if (e === EXT_DEPTH) {
        this.paint8((t24[i]! & EXT_MASK) * TBL8_GROUP_SIZE, TBL8_GROUP_SIZE, v, d);
      }
    }
  }

  private paint8(lo: number, n: number, v: number, d: number): void {
    const t8 = this.tbl8;
    const d8 = this.dep8;
    for (let s = lo, end = lo + n; s < end; s++) {
      if (d8[s]! <= d) {
        if (t8[s] !== v) {
          t8[s] = v;
          this.dirty8.mark(s);
        }
        d8[s] = d;
      }
    }
  }

  /** Hand entries of depth exactly d (the deleted prefix's) to the cover (cv, cd). */
  private unpaint24(lo: number, n: number, d: number, cv: number, cd: number): void {
    const t24 = this.tbl24;
    const d24 = this.dep24;
    for (let i = lo, end = lo + n; i < end; i++) {
      const e = d24[i]!;
      if (e === d) {
        if (t24[i] !== cv) {
          t24[i] = cv;
          this.dirty24.mark(i);
        }
        d24[i] = cd;
      } else if (e === EXT_DEPTH) {
        this.unpaint8((t24[i]! & EXT_MASK) * TBL8_GROUP_SIZE, TBL8_GROUP_SIZE, d, cv, cd);
      }
    }
  }

  private unpaint8(lo: number, n: number, d: number, cv: number, cd: number): void {
    const t8 = this.tbl8;
    const d8 = this.dep8;
    for (let s = lo, end = lo + n; s < end; s++) {
      if (d8[s] === d) {
        if (t8[s] !== cv) {
          t8[s] = cv;
          this.dirty8.mark(s);
        }
        d8[s] = cd;
      }
    }
  }

  /** The value and depth of the longest prefix shorter than `len` covering `addr`: [0, 0] if none. */
  private cover(addr: number, len: number): [value: number, depth: number] {
    for (let l = len - 1; l >= 0; l--) {
      const v = this.routes[l]!.get(addr & maskOf(l));
      if (v !== undefined) return [v, l + 1];
    }
    return [0, 0];
  }

  // --- groups -------------------------------------------------------------

  /** Give a plain block a group holding its value in every slot; false (and the block starved) if none is free. */
  private extend(block: number): boolean {
    const g = this.alloc();
    if (g < 0) {
      this.tbl24[block] = D24_PUNT;
      this.dep24[block] = STARVED_DEPTH;
      this.dirty24.mark(block);
      this.starved.add(block);
      return false;
    }
    const base = g * TBL8_GROUP_SIZE;
    this.tbl8.fill(this.tbl24[block]!, base, base + TBL8_GROUP_SIZE);
    this.dep8.fill(this.dep24[block]!, base, base + TBL8_GROUP_SIZE);
    // All of them: the kernel copy of a free group may hold anything.
    this.dirty8.markRange(base, TBL8_GROUP_SIZE);
    this.tbl24[block] = (D24_EXT | g) >>> 0;
    this.dep24[block] = EXT_DEPTH;
    this.dirty24.mark(block);
    return true;
  }

  /** A starved block with no longer prefix left: its /24-or-shorter cover. */
  private unstarve(block: number): void {
    const [cv, cd] = this.cover(block << 8, 25);
    this.tbl24[block] = cv;
    this.dep24[block] = cd;
    this.dirty24.mark(block);
    this.starved.delete(block);
  }

  private retryStarved(): void {
    for (const block of this.starved) {
      if (!this.longCount.has(block)) {
        this.unstarve(block);
        continue;
      }
      const g = this.alloc();
      if (g < 0) return;
      this.starved.delete(block);
      this.fillBlock(block, g);
      this.tbl24[block] = (D24_EXT | g) >>> 0;
      this.dep24[block] = EXT_DEPTH;
      this.dirty24.mark(block);
      this.dirty8.markRange(g * TBL8_GROUP_SIZE, TBL8_GROUP_SIZE);
    }
  }

  /** Group g's slots from the stored routes alone: the block's cover, then its longer prefixes by length. */
  private fillBlock(block: number, g: number): void {
    const base = g * TBL8_GROUP_SIZE;
    const [cv, cd] = this.cover(block << 8, 25);
    this.tbl8.fill(cv, base, base + TBL8_GROUP_SIZE);
    this.dep8.fill(cd, base, base + TBL8_GROUP_SIZE);
    for (let len = 25; len <= 32; len++) {
      const m = this.routes[len]!;
      const step = 1 << (32 - len);
      for (let off = 0; off < TBL8_GROUP_SIZE; off += step) {
        const v = m.get((block << 8) | off);
        if (v === undefined) continue;
        this.tbl8.fill(v, base + off, base + off + step);
        this.dep8.fill(len + 1, base + off, base + off + step);
      }
    }
  }

  private alloc(): number {
    if (this.freeN === 0 && this.qCount > 0) {
      const t = this.now();
      const G = this.tbl8Groups;
      while (this.qCount > 0 && t - this.qTime[this.qHead]! >= this.quarantineMs) {
        const g = this.qGroup[this.qHead]!;
        this.groupState[g] = GROUP_FREE;
        this.free[this.freeN++] = g;
        this.qHead = (this.qHead + 1) % G;
        this.qCount--;
      }
    }
    if (this.freeN === 0) return -1;
    const g = this.free[--this.freeN]!;
    this.groupState[g] = GROUP_USED;
    this.usedCount++;
    return g;
  }

  private quarantine(g: number, t: number): void {
    this.groupState[g] = GROUP_QUARANTINED;
    const G = this.tbl8Groups;
    const k = (this.qHead + this.qCount) % G;
    this.qGroup[k] = g;
    this.qTime[k] = t;
    this.qCount++;
  }

  // --- build --------------------------------------------------------------

  /** Paints the routes; returns which tbl24 chunks it wrote (the rest are still zero, and untouched: a fresh array's pages are not even mapped yet). */
  private load(
    routes: Iterable<readonly [addr: number, len: number, value: number]>,
    installed: Uint32Array | undefined,
    quarantined: Iterable<number> | undefined,
  ): Uint8Array {
    const painted = new Uint8Array(TBL24_SIZE >>> CHUNK_SHIFT);
    for (const [addr, len, value] of routes) {
      checkPrefix(addr, len);
      checkValue(value);
      const m = this.routes[len]!;
      const size = m.size;
      m.set(addr | 0, value);
      if (m.size !== size && len > 24) this.longCount.set(addr >>> 8, (this.longCount.get(addr >>> 8) ?? 0) + 1);
    }
    for (const m of this.routes) this.routeCount += m.size;
    const t24 = this.tbl24;
    const d24 = this.dep24;
    // Shorter first, so each length simply overwrites what it covers.
    for (let len = 0; len <= 24; len++) {
      const n = 1 << (24 - len);
      const d = len + 1;
      this.routes[len]!.forEach((v, key) => {
        const lo = key >>> 8;
        if (n === 1) {
          t24[lo] = v;
          d24[lo] = d;
          painted[lo >>> CHUNK_SHIFT] = 1;
        } else {
          t24.fill(v, lo, lo + n);
          d24.fill(d, lo, lo + n);
          painted.fill(1, lo >>> CHUNK_SHIFT, ((lo + n - 1) >>> CHUNK_SHIFT) + 1);
        }
      });
    }

    const G = this.tbl8Groups;
    // Groups off limits until quarantined: those an installed entry points at (unless its block keeps it), and those the caller names.
    const hold = new Uint8Array(G);
    for (const g of quarantined ?? []) if (Number.isInteger(g) && g >= 0 && g < G) hold[g] = 1;
    if (installed !== undefined) {
      for (let i = 0; i < TBL24_SIZE; i++) {
        const v = installed[i]!;
        if (v & D24_EXT && (v & EXT_MASK) < G) hold[v & EXT_MASK] = 1;
      }
      for (const block of this.longCount.keys()) {
        const v = installed[block]!;
        if (!(v & D24_EXT)) continue;
        const g = v & EXT_MASK;
        if (g >= G || this.groupState[g] !== GROUP_FREE) continue;
        this.groupState[g] = GROUP_USED;
        this.usedCount++;
        this.adopt(block, g);
      }
    }
    this.freeN = 0;
    for (let g = G - 1; g >= 0; g--) {
      if (this.groupState[g] !== GROUP_FREE) continue;
      if (hold[g]) {
        this.groupState[g] = GROUP_RETIRED;
        this.retired[this.retiredN++] = g;
      } else {
        this.free[this.freeN++] = g;
      }
    }

    const t8 = this.tbl8;
    const d8 = this.dep8;
    for (let len = 25; len <= 32; len++) {
      const n = 1 << (32 - len);
      const d = len + 1;
      this.routes[len]!.forEach((v, key) => {
        const block = key >>> 8;
        painted[block >>> CHUNK_SHIFT] = 1;
        const e = d24[block]!;
        if (e === STARVED_DEPTH) return;
        if (e !== EXT_DEPTH) {
          const g = this.alloc();
          if (g < 0) {
            t24[block] = D24_PUNT;
            d24[block] = STARVED_DEPTH;
            this.starved.add(block);
            return;
          }
          this.adopt(block, g);
        }
        const lo = (t24[block]! & EXT_MASK) * TBL8_GROUP_SIZE + (key & 0xff);
        t8.fill(v, lo, lo + n);
        d8.fill(d, lo, lo + n);
      });
    }

    if (this.retiredN > 0) {
      const t = this.now();
      for (let k = 0; k < this.retiredN; k++) this.quarantine(this.retired[k]!, t);
      this.retiredN = 0;
    }
    this.dirty24.clear();
    this.dirty8.clear();
    return painted;
  }

  /** Block takes group g (already marked used), every slot holding the block's plain value. */
  private adopt(block: number, g: number): void {
    const base = g * TBL8_GROUP_SIZE;
    this.tbl8.fill(this.tbl24[block]!, base, base + TBL8_GROUP_SIZE);
    this.dep8.fill(this.dep24[block]!, base, base + TBL8_GROUP_SIZE);
    this.tbl24[block] = (D24_EXT | g) >>> 0;
    this.dep24[block] = EXT_DEPTH;
  }

  /** tbl24 entries that differ from `installed` (or from zero); chunks the build never painted read as zero. */
  private tbl24Writes(painted: Uint8Array, installed: Uint32Array | undefined): D24Phase {
    const t24 = this.tbl24;
    const CHUNK = 1 << CHUNK_SHIFT;
    let n = 0;
    for (let c = 0; c < painted.length; c++) {
      const lo = c << CHUNK_SHIFT;
      if (painted[c] && installed) for (let i = lo; i < lo + CHUNK; i++) n += t24[i] !== installed[i] ? 1 : 0;
      else if (painted[c]) for (let i = lo; i < lo + CHUNK; i++) n += t24[i] !== 0 ? 1 : 0;
      else if (installed) for (let i = lo; i < lo + CHUNK; i++) n += installed[i] !== 0 ? 1 : 0;
    }
    const indices = new Uint32Array(n);
    const values = new Uint32Array(n);
    let k = 0;
    for (let c = 0; c < painted.length; c++) {
      const lo = c << CHUNK_SHIFT;
      if (painted[c]) {
        for (let i = lo; i < lo + CHUNK; i++) {
          const v = t24[i]!;
          if (v === (installed ? installed[i] : 0)) continue;
          indices[k] = i;
          values[k++] = v;
        }
      } else if (installed) {
        for (let i = lo; i < lo + CHUNK; i++) {
          if (installed[i] === 0) continue;
          indices[k] = i;
          values[k++] = 0;
        }
      }
    }
    return { indices, values };
  }

  /** Slots of the groups in use that differ from `installed` (or from zero). */
  private groupWrites(installed: Uint32Array | undefined): D24Phase {
    const t8 = this.tbl8;
    const differs = (s: number): boolean => (installed ? t8[s] !== installed[TBL24_SIZE + s] : t8[s] !== 0);
    let n = 0;
    for (let g = 0; g < this.tbl8Groups; g++) {
      if (this.groupState[g] !== GROUP_USED) continue;
      for (let s = g * TBL8_GROUP_SIZE, end = s + TBL8_GROUP_SIZE; s < end; s++) if (differs(s)) n++;
    }
    const out = { indices: new Uint32Array(n), values: new Uint32Array(n) };
    for (let g = 0, k = 0; g < this.tbl8Groups; g++) {
      if (this.groupState[g] !== GROUP_USED) continue;
      for (let s = g * TBL8_GROUP_SIZE, end = s + TBL8_GROUP_SIZE; s < end; s++) {
        if (!differs(s)) continue;
        out.indices[k] = TBL24_SIZE + s;
        out.values[k++] = t8[s]!;
      }
    }
    return out;
  }
}
