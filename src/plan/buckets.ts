// ECMP buckets for backends without a hash action (tc flower): a group is
// split into 2^k buckets chosen by low address bits, weights honoured by
// bucket counts, members' buckets kept in place when others come and go.
//
// Which bits: with k bucket bits, ks = ceil(k/2) and kd = floor(k/2);
//   bucket = (src & (2^ks - 1)) << kd | (dst & (2^kd - 1))
// where src/dst are the lowest bits of the source/destination address (the
// last byte: k <= 8). Low bits vary most between hosts; using both ends
// spreads many-to-one and one-to-many traffic. Each bucket is one masked
// (src, dst) match, which flower (via netlink) and u32 can both express.
//
// Weights: counts come from largest-remainder rounding of 2^k * w / W, so each
// member's share is off by less than one bucket: |count/2^k - w/W| < 1/2^k.
import { PUNT_BUCKET } from './types.js';

export const MAX_BUCKET_BITS = 8;
export const DEFAULT_BUCKET_BITS = 6;

/**
 * Bucket bits for a group of `slots` configured members: the smallest k with
 * 2^k >= 4 * slots (at least four buckets per member keeps the rounding error
 * under a quarter of an equal share), capped at `cap`. Depends on the
 * configured count, not the usable count, so a member going down never
 * changes k (which would move every flow).
 */
export function bucketBitsFor(slots: number, cap: number = DEFAULT_BUCKET_BITS): number {
  if (slots <= 1) return 0;
  const limit = Math.max(0, Math.min(MAX_BUCKET_BITS, Math.floor(cap)));
  let k = 0;
  while (1 << k < 4 * slots && k < limit) k++;
  return k;
}

/** Split `total` into integer parts proportional to `weights`; ties go to the earlier weight. */
export function largestRemainder(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  if (sum <= 0) return weights.map(() => 0);
  const counts = weights.map((w) => Math.floor((total * w) / sum));
  let left = total - counts.reduce((a, c) => a + c, 0);
  const order = weights
    .map((w, i) => ({ i, rem: (total * w) % sum }))
    .sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left-- <= 0) break;
    counts[i] = counts[i]! + 1;
  }
  return counts;
}

/**
 * A configured member's state. 'usable': in the group. 'punt': the kernel
 * would still pick it (unresolved neighbour; link without carrier while the
 * kernel doesn't ignore linkdown routes) but the offload can't send to it, so
 * its share goes to the kernel. 'excluded': the kernel skips it (dead, or
 * linkdown with ignore_routes_with_linkdown), so its share is redistributed.
 */
export type SlotState = 'usable' | 'punt' | 'excluded';

export interface BucketSlot {
  readonly weight: number;
  readonly state: SlotState;
}

/**
 * Bucket → slot index (or PUNT_BUCKET). A pure function of the configured
 * slots (in identity order), their weights and states, so unrelated route
 * changes never move flows. The layout for "all present" is contiguous blocks
 * in slot order; when members leave, the others keep their buckets (up to
 * their new count) and only the freed buckets are handed out, lowest first,
 * to members below their new count: a leaving member moves only its own
 * flows, plus at most one bucket per member from rounding.
 */
export function assignBuckets(slots: readonly BucketSlot[], bits: number): number[] {
  const total = 1 << bits;
  const full = largestRemainder(total, slots.map((s) => s.weight));
  const owner: number[] = [];
  full.forEach((count, i) => { for (let c = 0; c < count; c++) owner.push(i); });

  // Kernel-selectable members share the buckets; 'punt' ones keep a share that the kernel serves.
  const live = slots.map((s) => s.state !== 'excluded');
  const target = largestRemainder(total, slots.map((s, i) => (live[i] ? s.weight : 0)));
  const kept = slots.map(() => 0);
  const result: number[] = new Array<number>(total).fill(PUNT_BUCKET);
  const free: number[] = [];
  owner.forEach((o, b) => {
    if (live[o] && kept[o]! < target[o]!) { result[b] = o; kept[o]!++; } else free.push(b);
  });
  let next = 0;
  for (let i = 0; i < slots.length; i++) {
    while (kept[i]! < target[i]! && next < free.length) { result[free[next++]!] = i; kept[i]!++; }
  }
  // Punt-state slots' buckets, and every bucket when no slot is live, go to the kernel.
  return result.map((o) => (o >= 0 && slots[o]!.state === 'usable' ? o : PUNT_BUCKET));
}

export interface BucketSplit {
  readonly srcBits: number;
  readonly dstBits: number;
}

export function bucketSplit(bits: number): BucketSplit {
  return { srcBits: Math.ceil(bits / 2), dstBits: Math.floor(bits / 2) };
}

/** The bucket a packet falls in, from its address bytes (4 or 16 each). */
export function bucketOf(src: Uint8Array, dst: Uint8Array, bits: number): number {
  const { srcBits, dstBits } = bucketSplit(bits);
  const s = src[src.length - 1]! & ((1 << srcBits) - 1);
  const d = dst[dst.length - 1]! & ((1 << dstBits) - 1);
  return (s << dstBits) | d;
}

/** One match covering an aligned block of 2^size buckets; values/masks apply to the address's last byte. */
export interface BucketMatch {
  readonly srcValue: number;
  readonly srcMask: number;
  readonly dstValue: number;
  readonly dstMask: number;
  /** log2 of the number of buckets covered: rules of one size share one mask. */
  readonly size: number;
  /** Member index or PUNT_BUCKET. */
  readonly target: number;
}

/**
 * The fewest aligned blocks covering runs of equal targets: a block of 2^j
 * buckets frees the low j bits of the bucket index (dst bits first, then src
 * bits), i.e. narrows the masks.
 */
export function bucketMatches(buckets: readonly number[], bits: number): BucketMatch[] {
  const { srcBits, dstBits } = bucketSplit(bits);
  const out: BucketMatch[] = [];
  let b = 0;
  while (b < buckets.length) {
    const target = buckets[b]!;
    let end = b + 1;
    while (end < buckets.length && buckets[end] === target) end++;
    // Cover [b, end) with maximal aligned power-of-two blocks (like a range to CIDRs).
    while (b < end) {
      let j = 0;
      while (j < bits && b % (1 << (j + 1)) === 0 && b + (1 << (j + 1)) <= end) j++;
      const freeDst = Math.min(j, dstBits);
      const freeSrc = j - freeDst;
      const dstMask = ((1 << dstBits) - 1) & ~((1 << freeDst) - 1);
      const srcMask = ((1 << srcBits) - 1) & ~((1 << freeSrc) - 1);
      out.push({
        srcValue: (b >> dstBits) & srcMask,
        srcMask,
        dstValue: b & dstMask,
        dstMask,
        size: j,
        target,
      });
      b += 1 << j;
    }
  }
  return out;
}
