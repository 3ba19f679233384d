// The canonical entry order (table, family, address, prefix length) as a
// comparator on the contract's text fields, without allocating: the diff walks
// two plans in this order, and planJson checks it.
import { SPACE6 } from './prefix.js';

export interface OrderedRow {
  readonly table: number;
  readonly family: 4 | 6;
  readonly dst: string;
}

function slashOf(dst: string): number {
  return dst.lastIndexOf('/');
}

function addr4(dst: string, end: number): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < end; i++) {
    const c = dst.charCodeAt(i);
    if (c === 46) { value = value * 256 + octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  return value * 256 + octet;
}

function lenOf(dst: string, slash: number): number {
  let n = 0;
  for (let i = slash + 1; i < dst.length; i++) n = n * 10 + (dst.charCodeAt(i) - 48);
  return n;
}

export function compareRows(a: OrderedRow, b: OrderedRow): number {
  if (a.table !== b.table) return a.table - b.table;
  if (a.family !== b.family) return a.family - b.family;
  if (a.dst === b.dst) return 0;
  const sa = slashOf(a.dst);
  const sb = slashOf(b.dst);
  let c: number;
  if (a.family === 4) c = addr4(a.dst, sa) - addr4(b.dst, sb);
  else c = SPACE6.compare(SPACE6.parse(a.dst.slice(0, sa)), SPACE6.parse(b.dst.slice(0, sb)));
  return c || lenOf(a.dst, sa) - lenOf(b.dst, sb);
}

export function isOrdered(rows: readonly OrderedRow[]): boolean {
  for (let i = 1; i < rows.length; i++) if (compareRows(rows[i - 1]!, rows[i]!) > 0) return false;
  return true;
}
