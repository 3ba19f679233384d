// Adjacency groups: identity from what the route asks for (nexthop object or
// configured egress+gateway set), content from what resolves now, and stable
// 28-bit ids so tc chains and XDP map keys survive recomputation.
import { assignBuckets, bucketBitsFor, type BucketSlot, type SlotState } from './buckets.js';
import { PUNT_BUCKET, type GroupMember, type PlanGroup } from './types.js';

/**
 * Ids are tc chain indexes: `goto chain` packs the index into the low 28 bits
 * of the action verdict (TC_ACT_EXT_VAL_MASK), and chain 0 plus a few low
 * chains stay free for classification. The same id keys the XDP group map.
 */
export const GROUP_ID_MIN = 0x100;
export const GROUP_ID_MAX = 0x0fffffff;

export interface GroupSlot extends BucketSlot {
  readonly ifindex: number;
  readonly dev: string;
  readonly via: string;
  readonly dmac: string | null;
  readonly smac: string;
}

/** A group before its id is known: identity plus current content. */
export interface GroupDraft {
  readonly key: string;
  readonly slots: readonly GroupSlot[];
  /** draftSignature(slots), computed once when the draft is interned. */
  readonly sig: string;
  /** The route MTU the group enforces (PlanGroup.mtu); its key says so too (mtuKey). */
  readonly mtu?: number;
}

/** The identity of a group that enforces a route MTU: the nexthops' identity plus the MTU. */
export function mtuKey(key: string, mtu: number | undefined): string {
  return mtu === undefined ? key : `${key}|mtu${mtu}`;
}

/** FNV-1a over the key's UTF-16 units: cheap, well spread, no dependency. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function homeId(key: string): number {
  return GROUP_ID_MIN + (fnv1a32(key) % (GROUP_ID_MAX - GROUP_ID_MIN + 1));
}

/**
 * Ids for a set of group keys. A key keeps the id it had in `previous`;
 * new keys take their hash's home id, or the next free one on a collision
 * (keys placed in (home id, key) order, so the result depends only on the
 * key set and `previous`). Without `previous` an id changes only when a
 * colliding key appears or goes, which at 2^28 ids is rare.
 */
export function allocateGroupIds(keys: Iterable<string>, previous?: ReadonlyMap<string, number>): Map<string, number> {
  const ids = new Map<string, number>();
  // A new key never takes an id the previous plan used for another key: an
  // entry still pointing at that id must not see a different group's content.
  const taken = new Set<number>(previous?.values());
  const fresh: { key: string; home: number }[] = [];
  for (const key of keys) {
    const old = previous?.get(key);
    if (old !== undefined) ids.set(key, old); else fresh.push({ key, home: homeId(key) });
  }
  fresh.sort((a, b) => a.home - b.home || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { key, home } of fresh) {
    let id = home;
    while (taken.has(id)) id = id === GROUP_ID_MAX ? GROUP_ID_MIN : id + 1;
    ids.set(key, id);
    taken.add(id);
  }
  return ids;
}

/** Content signature: two drafts with one key but different content must not share a group. */
export function draftSignature(slots: readonly GroupSlot[]): string {
  let s = '';
  for (const x of slots) s += `${x.ifindex}/${x.via}@${x.weight}:${x.state}:${x.dmac ?? ''}:${x.smac};`;
  return s;
}

/**
 * Identity order, with duplicate (egress, via, state) slots merged by summing
 * weights (the same traffic share). Duplicates in different states (per-
 * nexthop RTNH flags) stay apart: one may be usable while the other is not.
 */
export function canonicalSlots(slots: GroupSlot[]): GroupSlot[] {
  if (slots.length === 1) return slots;
  const byId = new Map<string, GroupSlot>();
  for (const s of slots) {
    const id = `${s.ifindex}/${s.via}/${RANK[s.state]}`;
    const prev = byId.get(id);
    byId.set(id, prev ? { ...prev, weight: prev.weight + s.weight } : s);
  }
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

const RANK: Readonly<Record<SlotState, number>> = { usable: 0, punt: 1, excluded: 2 };

/** The finished group: usable members and the bucket table over them. */
export function finishGroup(id: number, draft: Pick<GroupDraft, 'key' | 'slots' | 'mtu'>, bitsCap: number): PlanGroup {
  const members: GroupMember[] = [];
  const memberOfSlot = draft.slots.map((s) => {
    if (s.state !== 'usable' || s.dmac === null) return PUNT_BUCKET;
    members.push({ dev: s.dev, ifindex: s.ifindex, dmac: s.dmac, smac: s.smac, weight: s.weight, via: s.via });
    return members.length - 1;
  });
  const bucketBits = bucketBitsFor(draft.slots.length, bitsCap);
  const buckets = assignBuckets(draft.slots, bucketBits).map((slot) => (slot < 0 ? PUNT_BUCKET : memberOfSlot[slot]!));
  return { id, key: draft.key, members, bucketBits, buckets, ...(draft.mtu !== undefined ? { mtu: draft.mtu } : {}) };
}
