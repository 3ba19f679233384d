// The LPM-safe entry set for one (table, family): one pass over all prefixes
// in address order with a stack of enclosing prefixes (O(n log n) for the
// sort, O(n) for the pass), deciding forward entries, host entries and the
// minimal punts.
import type { Family } from '../model/ip.js';
import type { AddrSpace } from './prefix.js';
import type { Verdict } from './classify.js';
import type { GroupDraft } from './groups.js';
import type { PlanEntry, SkipReason, SkippedRoute } from './types.js';

/**
 * rank orders equal prefixes: an overlay (kernel-only range: local address,
 * multicast, martian) comes first so that a route or host with the same
 * prefix sits inside it; a route before the hosts derived from it.
 */
export type SweepItem<K> =
  | { readonly rank: 0; readonly lo: K; readonly len: number; readonly dst: string; readonly reason: SkipReason }
  | { readonly rank: 1; readonly lo: K; readonly len: number; readonly dst: string; readonly verdict: Verdict }
  | { readonly rank: 2; readonly lo: K; readonly len: number; readonly dst: string; readonly owner: SweepItem<K>; readonly draft: GroupDraft };

/** Where the sweep writes: entries in final shape, forward entries' group ids filled in later from `drafts`. */
export interface SweepOut {
  readonly entries: { -readonly [K in keyof PlanEntry]: PlanEntry[K] }[];
  readonly skipped: SkippedRoute[];
  /** Per forward entry: its index in `entries` and its group draft. */
  readonly forwardIndex: number[];
  readonly forwardDraft: GroupDraft[];
}

const NONE = 0;
const FORWARD = 1;
const PUNT = 2;
type State = typeof NONE | typeof FORWARD | typeof PUNT;

interface Frame<K> {
  readonly hi: K;
  /** What a packet in this prefix gets when no longer entry matches: the nearest entry's action. */
  readonly state: State;
  /** Inside a kernel-only range: nothing below may forward. */
  readonly overlay: SkipReason | null;
  /** Nearest enclosing route (for hosts: is their connected route still the best match?). */
  readonly route: SweepItem<K> | null;
}

/**
 * Punt rule (README text): a prefix the offload does not forward gets a punt
 * entry exactly when its nearest enclosing entry forwards — otherwise a
 * packet for it would hit that shorter forward entry instead of the kernel's
 * longer route. Where the nearest enclosing entry is a punt, or there is
 * none, nothing is needed. Kernel-only ranges (local addresses, the local
 * table, multicast, broadcast, martians) override every route inside them
 * (the kernel checks them first), so routes and hosts inside are not
 * forwarded and the range itself is punted under the same rule.
 */
export function sweep<K extends number | bigint>(
  space: AddrSpace<K>,
  table: number,
  items: SweepItem<K>[],
  out: SweepOut,
): void {
  const family: Family = space.family;
  if (family === 4) {
    // Plain number arithmetic: this sort dominates at a million routes.
    (items as SweepItem<number>[]).sort((a, b) => a.lo - b.lo || a.len - b.len || a.rank - b.rank);
  } else {
    items.sort((a, b) => space.compare(a.lo, b.lo) || a.len - b.len || a.rank - b.rank);
  }
  const { entries, skipped } = out;
  const punt = (dst: string, reason: SkipReason) => entries.push({ table, family, dst, action: 'punt', reason });
  const forward = (dst: string, draft: GroupDraft, reason?: SkipReason) => {
    out.forwardIndex.push(entries.length);
    out.forwardDraft.push(draft);
    entries.push(reason ? { table, family, dst, action: 'forward', group: 0, reason } : { table, family, dst, action: 'forward', group: 0 });
  };
  const root: Frame<K> = { hi: space.last(space.parse(family === 4 ? '0.0.0.0' : '::'), 0), state: NONE, overlay: null, route: null };
  const stack: Frame<K>[] = [root];
  const skip = (dst: string, reason: SkipReason) => skipped.push({ table, family, dst, reason });

  for (const item of items) {
    // Prefixes nest or are disjoint: pop frames that end before this one starts.
    while (stack.length > 1 && space.compare(stack[stack.length - 1]!.hi, item.lo) < 0) stack.pop();
    const parent = stack[stack.length - 1]!;
    const hi = space.last(item.lo, item.len);

    if (item.rank === 0) {
      if (parent.overlay !== null) continue;
      const shadowed = parent.state === FORWARD;
      if (shadowed) punt(item.dst, item.reason);
      stack.push({ hi, state: shadowed ? PUNT : parent.state, overlay: item.reason, route: parent.route });
      continue;
    }

    if (item.rank === 2) {
      if (parent.overlay === null && parent.route === item.owner) {
        forward(item.dst, item.draft);
      }
      continue;
    }

    const v = item.verdict;
    if (parent.overlay !== null) {
      skip(item.dst, v.kind === 'skip' ? v.reason : parent.overlay);
      stack.push({ hi, state: parent.state, overlay: parent.overlay, route: item });
      continue;
    }
    if (v.kind === 'forward') {
      forward(item.dst, v.draft, v.empty);
      if (v.empty) skip(item.dst, v.empty);
      stack.push({ hi, state: FORWARD, overlay: null, route: item });
      continue;
    }
    const reason = v.kind === 'skip' ? v.reason : 'connected';
    skip(item.dst, reason);
    const shadowed = parent.state === FORWARD;
    if (shadowed) punt(item.dst, reason);
    stack.push({ hi, state: shadowed ? PUNT : parent.state, overlay: null, route: item });
  }
}
