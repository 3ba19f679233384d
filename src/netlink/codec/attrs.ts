// Value readers for attribute payloads, shared by the decoders. They read
// straight from the datagram Buffer and return null on a malformed length.
import { formatIp, formatMac } from '../../model/ip.js';
import type { Family } from '../../model/ip.js';
import { AF_INET, AF_INET6 } from './constants.js';

/** Canonical text of a 4- or 16-byte address at [s, s+n); null for any other length. */
export function readIp(buf: Buffer, s: number, n: number): string | null {
  // IPv4 is the bulk of a large dump: build the dotted quad without a subarray.
  if (n === 4) return `${buf[s]}.${buf[s + 1]}.${buf[s + 2]}.${buf[s + 3]}`;
  if (n === 16) return formatIp(buf.subarray(s, s + 16));
  return null;
}

/** Address of an exact family at [s, s+n); null when the length does not match it. */
export function readIpOf(buf: Buffer, s: number, n: number, family: Family): string | null {
  return n === (family === 4 ? 4 : 16) ? readIp(buf, s, n) : null;
}

/** NUL-terminated (or unterminated) string attribute. */
export function readString(buf: Buffer, s: number, e: number): string {
  const nul = buf.indexOf(0, s);
  return buf.toString('utf8', s, nul >= 0 && nul < e ? nul : e);
}

export function readMac(buf: Buffer, s: number, e: number): string | null {
  return e > s ? formatMac(buf.subarray(s, e)) : null;
}

export function readHex(buf: Buffer, s: number, e: number): string {
  return buf.toString('hex', s, e);
}

/** u32 attribute, or `fallback` when it is shorter than 4 bytes. */
export function readU32(buf: Buffer, s: number, e: number, fallback: number): number {
  return e - s >= 4 ? buf.readUInt32LE(s) : fallback;
}

/** AF_INET / AF_INET6 → 4 / 6; anything else → null. */
export function familyOfAf(af: number): Family | null {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return null;
}

export function afOfFamily(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}
