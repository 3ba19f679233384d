// Routes in columns: one row per kernel route in typed arrays, with the
// nexthop lists and preferred sources interned, instead of one object per
// route. A Route object is made when something reads a row (the planner,
// show, the kernel rules) and dropped after; nothing holds it. At 1M routes
// this is 38 bytes a row (nine u32 and two u8 columns; an IPv6 destination
// adds its text) against about 200 for the objects and their strings
// (BENCH.md, "Full-table memory").
//
// Rows are reused once freed; whoever indexes rows (tables.ts) drops a row
// from its indexes before freeing it.
import type { Family } from '../model/ip.js';
import { ROUTE_TYPES, type Route, type RouteNexthop, type RouteType } from '../model/route.js';

// meta bits
const M_V6 = 1;
const M_LEN_SHIFT = 1; // 8 bits
const M_TYPE_SHIFT = 9; // 4 bits
const M_SCOPE_SHIFT = 13; // 8 bits
const M_ENCAP = 1 << 21;
const M_MTU_LOCKED = 1 << 22;
const M_HAS_NHID = 1 << 23;
/** The IPv4 dst is in dst4 (canonical dotted quad); else its text is in dstText. */
const M_DST4 = 1 << 24;

const TYPE_INDEX = new Map<RouteType, number>(ROUTE_TYPES.map((t, i) => [t, i] as const));

/** Canonical dotted quad of a u32, or -1 when `text` isn't one. */
function parseDotted(text: string): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255) return -1;
      v = v * 256 + octet; octet = 0; digits = 0; dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero is not canonical
      octet = octet * 10 + c - 48; digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return v * 256 + octet;
}

function dotted(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/**
 * Values interned by identity first (the decoder already shares them) and by
 * content when identity misses (a kernel rule's rewrite makes a fresh list per
 * route), reference-counted so a value goes when its last row does.
 */
class Interner<T> {
  private readonly values: (T | undefined)[] = [undefined]; // id 0 is never used
  private readonly refs: number[] = [0];
  private readonly free: number[] = [];
  private readonly byIdentity = new Map<T, number>();
  private readonly byContent = new Map<string, number>();

  constructor(private readonly contentKey: (v: T) => string) {}

  get size(): number {
    return this.byContent.size;
  }

  acquire(v: T): number {
    let id = this.byIdentity.get(v);
    if (id === undefined) {
      const key = this.contentKey(v);
      id = this.byContent.get(key);
      if (id === undefined) {
        id = this.free.pop() ?? this.values.length;
        this.values[id] = v;
        this.refs[id] = 0;
        this.byContent.set(key, id);
      }
      // Later rows carrying this very object skip the content key.
      if (this.values[id] === v) this.byIdentity.set(v, id);
    }
    this.refs[id]!++;
    return id;
  }

  release(id: number): void {
    if (--this.refs[id]! > 0) return;
    const v = this.values[id]!;
    this.byIdentity.delete(v);
    this.byContent.delete(this.contentKey(v));
    this.values[id] = undefined;
    this.free.push(id);
  }

  value(id: number): T {
    return this.values[id]!;
  }
}

function nexthopsKey(list: readonly RouteNexthop[]): string {
  let k = '';
  for (const n of list) {
    k += `${n.ifindex ?? ''}|${n.gateway ?? ''}|${n.gatewayFamily ?? ''}|${n.weight}|${n.onlink ? 1 : 0}${n.linkdown ? 1 : 0}${n.dead ? 1 : 0};`;
  }
  return k;
}

export class RouteStore {
  private cap = 0;
  private n = 0;
  private readonly freeRows: number[] = [];
  private table = new Uint32Array(0);
  private meta = new Uint32Array(0);
  private tos = new Uint8Array(0);
  private protocol = new Uint8Array(0);
  private priority = new Uint32Array(0);
  private nhId = new Uint32Array(0);
  private nhSet = new Uint32Array(0);
  private prefsrc = new Uint32Array(0);
  private flags = new Uint32Array(0);
  private mtu = new Uint32Array(0);
  private dst4 = new Uint32Array(0);
  /** Only rows without M_DST4 (IPv6, odd text) have an element here. */
  private readonly dstText = new Map<number, string>();
  private readonly nexthopSets = new Interner<readonly RouteNexthop[]>(nexthopsKey);
  private readonly sources = new Interner<string>((s) => s);

  /** Rows in use. */
  get size(): number {
    return this.n - this.freeRows.length;
  }

  /** Make room for `more` rows at once (a dump's size is known before it is loaded). */
  reserve(more: number): void {
    const want = this.n + more - this.freeRows.length;
    if (want > this.cap) this.grow(want);
  }

  private grow(atLeast = 0): void {
    const cap = Math.max(1024, Math.ceil(this.cap * 1.5), atLeast);
    const g32 = (a: Uint32Array): Uint32Array<ArrayBuffer> => { const b = new Uint32Array(cap); b.set(a); return b; };
    const g8 = (a: Uint8Array): Uint8Array<ArrayBuffer> => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.table = g32(this.table); this.meta = g32(this.meta); this.tos = g8(this.tos); this.protocol = g8(this.protocol);
    this.priority = g32(this.priority); this.nhId = g32(this.nhId); this.nhSet = g32(this.nhSet);
    this.prefsrc = g32(this.prefsrc); this.flags = g32(this.flags); this.mtu = g32(this.mtu); this.dst4 = g32(this.dst4);
    this.cap = cap;
  }

  /** Store a route in a new row; returns the row. */
  add(r: Route): number {
    let row = this.freeRows.pop();
    if (row === undefined) {
      if (this.n === this.cap) this.grow();
      row = this.n++;
    }
    this.write(row, r);
    return row;
  }

  /** Overwrite a row with another route (its interned values are released first). */
  replace(row: number, r: Route): void {
    this.release(row);
    this.write(row, r);
  }

  remove(row: number): void {
    this.release(row);
    this.meta[row] = 0;
    this.freeRows.push(row);
  }

  private release(row: number): void {
    this.nexthopSets.release(this.nhSet[row]!);
    if (this.prefsrc[row] !== 0) this.sources.release(this.prefsrc[row]!);
    this.dstText.delete(row);
  }

  private write(row: number, r: Route): void {
    const v4 = r.family === 4 ? parseDotted(r.dst) : -1;
    let meta = (r.family === 6 ? M_V6 : 0) | (r.dstLen << M_LEN_SHIFT) | ((TYPE_INDEX.get(r.type) ?? 0) << M_TYPE_SHIFT) | ((r.scope & 255) << M_SCOPE_SHIFT);
    if (r.encap) meta |= M_ENCAP;
    if (r.mtuLocked) meta |= M_MTU_LOCKED;
    if (r.nhId !== null) meta |= M_HAS_NHID;
    if (v4 >= 0) { meta |= M_DST4; this.dst4[row] = v4; } else { this.dstText.set(row, r.dst); }
    this.meta[row] = meta >>> 0;
    this.table[row] = r.table;
    this.tos[row] = r.tos;
    this.protocol[row] = r.protocol;
    this.priority[row] = r.priority;
    this.nhId[row] = r.nhId ?? 0;
    this.nhSet[row] = this.nexthopSets.acquire(r.nexthops);
    this.prefsrc[row] = r.prefsrc === null ? 0 : this.sources.acquire(r.prefsrc);
    this.flags[row] = r.flags;
    this.mtu[row] = r.mtu ?? 0;
  }

  /** The route in a row, as a fresh object. */
  get(row: number): Route {
    const meta = this.meta[row]!;
    const family: Family = meta & M_V6 ? 6 : 4;
    const mtu = this.mtu[row]!;
    const r: Route = {
      table: this.table[row]!,
      family,
      dst: meta & M_DST4 ? dotted(this.dst4[row]!) : this.dstText.get(row)!,
      dstLen: (meta >>> M_LEN_SHIFT) & 255,
      type: ROUTE_TYPES[(meta >>> M_TYPE_SHIFT) & 15] ?? 'unspec',
      protocol: this.protocol[row]!,
      priority: this.priority[row]!,
      scope: (meta >>> M_SCOPE_SHIFT) & 255,
      tos: this.tos[row]!,
      nhId: meta & M_HAS_NHID ? this.nhId[row]! : null,
      nexthops: this.nexthopSets.value(this.nhSet[row]!),
      prefsrc: this.prefsrc[row] === 0 ? null : this.sources.value(this.prefsrc[row]!),
      flags: this.flags[row]!,
      ...(meta & M_ENCAP ? { encap: true as const } : {}),
      ...(mtu !== 0 ? { mtu } : {}),
      ...(meta & M_MTU_LOCKED ? { mtuLocked: true as const } : {}),
    };
    return r;
  }

  // Column reads for the hot paths that must not make an object per row.

  tosOf(row: number): number { return this.tos[row]!; }
  priorityOf(row: number): number { return this.priority[row]!; }
  scopeOf(row: number): number { return (this.meta[row]! >>> M_SCOPE_SHIFT) & 255; }
  familyOf(row: number): Family { return this.meta[row]! & M_V6 ? 6 : 4; }
  hasNhId(row: number): boolean { return (this.meta[row]! & M_HAS_NHID) !== 0; }
  nexthopsOf(row: number): readonly RouteNexthop[] { return this.nexthopSets.value(this.nhSet[row]!); }

  /** Distinct nexthop lists and preferred sources held (diagnostics). */
  get interned(): { nexthopSets: number; sources: number } {
    return { nexthopSets: this.nexthopSets.size, sources: this.sources.size };
  }
}
