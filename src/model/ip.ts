// IP address helpers shared by every layer: canonical text forms and the
// byte/bit views the planner and encoders need. Pure, no I/O.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** An address in canonical text form (IPv4 dotted quad, IPv6 RFC 5952). */
export interface IpAddr {
  readonly family: Family;
  readonly address: string;
}

/** Canonical text of 4 or 16 address bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`address of ${bytes.length} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero words, first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (w: number[]) => w.map((x) => x.toString(16)).join(':');
  // IPv4-mapped addresses keep the dotted tail, as iproute2 prints them.
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Parse an address; throws RangeError naming the text when it is not one. */
export function parseIp(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new RangeError(`not an IP address: "${text}"`);
  let head = text;
  let tail4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail4 = text.slice(lastColon + 1).split('.').map(Number);
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [l, r] = head.split('::') as [string, string | undefined];
  const left = l === '' ? [] : l.split(':');
  const right = r === undefined || r === '' ? [] : r.split(':');
  const words = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((w) => parseInt(w, 16));
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  if (tail4.length === 4) out.set(tail4, 12);
  return out;
}

export function familyOf(text: string): Family {
  if (isIPv4(text)) return 4;
  if (isIPv6(text)) return 6;
  throw new RangeError(`not an IP address: "${text}"`);
}

/** Canonicalise any accepted spelling of an address. */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

export function addrBits(family: Family): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/** Address as a bigint (IPv4 in the low 32 bits), for prefix arithmetic. */
export function ipToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function bigIntToIp(v: bigint, family: Family): Uint8Array {
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** Zero the host bits beyond `len`; returns a new array. */
export function maskBytes(bytes: Uint8Array, len: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** "10.0.0.0/8" from parts; the address is printed as given. */
export function prefixText(address: string, len: number): string {
  return `${address}/${len}`;
}

/** Parse "addr/len" (len defaults to the full width); canonical, host bits must be zero. */
export function parsePrefix(text: string): { family: Family; address: string; len: number } {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const family = familyOf(addrText);
  const len = slash < 0 ? addrBits(family) : Number(text.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > addrBits(family)) {
    throw new RangeError(`bad prefix length in "${text}"`);
  }
  const bytes = parseIp(addrText);
  const masked = maskBytes(bytes, len);
  if (!masked.every((b, i) => b === bytes[i])) throw new RangeError(`host bits set in prefix "${text}"`);
  return { family, address: formatIp(bytes), len };
}

/** Lower-case colon MAC text of 6 bytes (or any length, for odd link types). */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`not a MAC address: "${text}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function isLinkLocal6(address: string): boolean {
  const b = parseIp(address);
  return b.length === 16 && b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

/** 224.0.0.0/4 or ff00::/8. */
export function isMulticast(address: string): boolean {
  if (address.includes(':')) return address.toLowerCase().startsWith('ff');
  const first = Number(address.slice(0, address.indexOf('.')));
  return first >= 224 && first <= 239;
}
