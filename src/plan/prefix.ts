// Prefixes as ordered integer ranges [lo, hi]: numbers for IPv4 (exact below
// 2^53) and bigints for IPv6, so the punt sweep can sort and nest them cheaply.
import type { Family } from '../model/ip.js';
import { ipToBigInt, parseIp } from '../model/ip.js';

export interface AddrSpace<K extends number | bigint> {
  readonly family: Family;
  readonly bits: 32 | 128;
  /** Canonical address text to its integer. */
  parse(address: string): K;
  /** Last address of the prefix starting at `lo` with length `len`. */
  last(lo: K, len: number): K;
  compare(a: K, b: K): number;
}

/** Dotted quad to uint32 without allocating; the text is canonical (from the mirror or formatIp). */
function parse4(text: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) { value = value * 256 + octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  return value * 256 + octet;
}

export const SPACE4: AddrSpace<number> = {
  family: 4,
  bits: 32,
  parse: parse4,
  last: (lo, len) => lo + 2 ** (32 - len) - 1,
  compare: (a, b) => a - b,
};

export const SPACE6: AddrSpace<bigint> = {
  family: 6,
  bits: 128,
  parse: (text) => ipToBigInt(parseIp(text)),
  last: (lo, len) => lo | ((1n << BigInt(128 - len)) - 1n),
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
};

/**
 * "address/len" as one flat string. A template literal of 13 characters or
 * more is a V8 cons string (two pointers to its parts): 63 bytes for
 * "11.22.33.0/24" against 32 flat. The plan keeps one such text per route
 * (shared by its sweep item and its entry), 30 MB at 1M routes. Reading a
 * character flattens it in place, and the collector then drops the wrapper.
 */
export function prefixKeyText(address: string, len: number): string {
  const s = `${address}/${len}`;
  s.charCodeAt(0);
  return s;
}
