// The tc policy layer: a plan → the flower filters each shared block must
// hold. Pure. Same layout as `plan --tc-batch` (src/plan/tc-batch.ts): per
// table T one ingress block T; chain 0 lets a frame on only if it was sent
// to its ingress port's own MAC (indev + dst_mac, per port and protocol:
// flooded unicast for other hosts goes to the kernel, which drops it as
// PACKET_OTHERHOST); the prefix chain (PREFIX_CHAIN) holds the TTL/hop-limit
// punts (prio 1 and 2) and one rule per prefix at a priority that puts longer
// prefixes first; chain G (group id) holds the group's ECMP buckets as masked
// source/destination matches, each rewriting MACs and TTL, fixing the IPv4
// checksum and redirecting. Every action carries the agent's cookie.
import { bucketMatches, type BucketMatch } from '../plan/buckets.js';
import { fnv1a32 } from '../plan/groups.js';
import { PUNT_BUCKET, blockOf, entryRowsOf, prefixPrio, tcBlockMember, type Plan, type PlanEntry, type PlanGroup, type PlanPort } from '../plan/index.js';
import { TTL_PRIO } from '../plan/tc-batch.js';
import type { Family } from '../model/ip.js';
import { formatIp, maskBytes, parseIp, parseMac } from '../model/ip.js';
import {
  matchKeyOf, type EthProto, type FilterPlacement, type FlowerFilter, type FlowerMatch, type InstalledFilter, type TcAction,
} from '../netlink/codec/tc.js';
import type { Subject } from '../reconcile/types.js';

const GROUP_PRIO_BASE: Readonly<Record<Family, number>> = { 4: 1, 6: 17 };
export const PROTO: Readonly<Record<Family, EthProto>> = { 4: 'ip', 6: 'ipv6' };

/** Cookie layout: magic 0xfb01, kind, table (u32 BE), 8-byte content hash. 15 bytes. */
export const COOKIE_MAGIC = 0xfb01;
export type RuleKind = 'ttl' | 'entry' | 'group' | 'port';
const KIND_BYTE: Readonly<Record<RuleKind, number>> = { ttl: 1, entry: 2, group: 3, port: 4 };

/** The prefix chain: chain 0 jumps here for frames addressed to their ingress port (group ids start at 0x100). */
export const PREFIX_CHAIN = 1;
/** chain 0 priorities of the per-port MAC checks. */
export const PORT_PRIO: Readonly<Record<Family, number>> = { 4: 1, 6: 2 };

/**
 * How deep a chain sits in the jumps: 0 (the port check), 1 (prefixes), 2
 * (groups). Rules go in deepest first and come out shallowest first, so no
 * rule ever jumps to a chain that is not filled yet or any more.
 */
export function chainDepth(chain: number): 0 | 1 | 2 {
  return chain === 0 ? 0 : chain === PREFIX_CHAIN ? 1 : 2;
}

export interface DesiredFilter {
  /** Identity within the block: chain, protocol, priority and match. Equal for the installed filter it corresponds to. */
  readonly key: string;
  readonly kind: RuleKind;
  /** What the rule is for, as per-entry status names it: `entry <table>|<dst>`, `group <id>`, `block <n>` (TTL punts). */
  readonly subject: Subject;
  /** handle 0: the kernel assigns one on add. */
  readonly filter: FlowerFilter;
}

export interface BlockPlan {
  readonly block: number;
  readonly table: number;
  readonly ports: readonly PlanPort[];
  readonly filters: readonly DesiredFilter[];
}

export function filterKey(chain: number, proto: EthProto, prio: number, match: FlowerMatch | string): string {
  return `${chain}|${proto}|${prio}|${typeof match === 'string' ? match : matchKeyOf(match)}`;
}

/** Is this cookie one the agent wrote (for this table, when given)? */
export function isOurCookie(cookie: Uint8Array | null, table?: number): boolean {
  if (!cookie || cookie.length !== 15 || cookie[0] !== 0xfb || cookie[1] !== 0x01) return false;
  return table === undefined || Buffer.from(cookie).readUInt32BE(3) === table >>> 0;
}

export function cookieKind(cookie: Uint8Array): RuleKind | null {
  const k = cookie[2];
  return k === 1 ? 'ttl' : k === 2 ? 'entry' : k === 3 ? 'group' : k === 4 ? 'port' : null;
}

function actionText(a: TcAction): string {
  switch (a.kind) {
    case 'pass': return 'pass';
    case 'goto': return `goto ${a.chain}`;
    case 'rewrite': return `rw${a.family} ${Buffer.from(a.dmac).toString('hex')} ${Buffer.from(a.smac).toString('hex')}`;
    case 'csum-ip4h': return 'csum';
    case 'redirect': return `redir ${a.ifindex}`;
  }
}

/**
 * The cookie says "ours", which table, and a hash of what the rule does
 * (placement + actions): equal identity and equal cookie mean nothing to change.
 */
export function ruleCookie(kind: RuleKind, table: number, placement: FilterPlacement, actions: readonly TcAction[]): Buffer {
  const text = `${placement}|${actions.map(actionText).join(';')}`;
  const c = Buffer.alloc(15);
  c.writeUInt16BE(COOKIE_MAGIC, 0);
  c[2] = KIND_BYTE[kind];
  c.writeUInt32BE(table >>> 0, 3);
  c.writeUInt32BE(fnv1a32(text), 7);
  c.writeUInt32BE(fnv1a32(`fib-offload|${text}`), 11);
  return c;
}

function make(kind: RuleKind, subject: Subject, table: number, chain: number, family: Family, prio: number, match: FlowerMatch,
  actions: readonly TcAction[], placement: FilterPlacement): DesiredFilter {
  const proto = PROTO[family];
  return {
    key: filterKey(chain, proto, prio, match),
    kind,
    subject,
    filter: { id: { block: blockOf(table), chain, prio, proto, handle: 0 }, placement, match, actions, cookie: ruleCookie(kind, table, placement, actions) },
  };
}

function lastByte(family: Family, value: number, mask: number): { addr: Uint8Array; mask: Uint8Array } {
  const n = family === 4 ? 4 : 16;
  const a = new Uint8Array(n);
  const m = new Uint8Array(n);
  a[n - 1] = value & mask;
  m[n - 1] = mask;
  return { addr: a, mask: m };
}

/** A bucket block as flower keys: the low bits of the addresses' last bytes (see plan/buckets.ts). */
export function bucketFlowerMatch(family: Family, m: BucketMatch): FlowerMatch {
  return {
    ...(m.dstMask ? { dst: lastByte(family, m.dstValue, m.dstMask) } : {}),
    ...(m.srcMask ? { src: lastByte(family, m.srcValue, m.srcMask) } : {}),
  };
}

/** A group's bucket rules (chain = group id) in one family's block of `table`. */
export function groupFilters(table: number, family: Family, g: PlanGroup, tcPorts: ReadonlySet<number>, placement: FilterPlacement): DesiredFilter[] {
  const out: DesiredFilter[] = [];
  for (const m of bucketMatches(g.buckets, g.bucketBits)) {
    // flower can't compare a packet's length with the route MTU: the kernel forwards all of it (and sends the ICMP errors).
    const member = m.target === PUNT_BUCKET || g.mtu !== undefined ? null : g.members[m.target]!;
    // A member behind a port that isn't a tc port: the kernel forwards that share.
    const actions: TcAction[] = member && tcPorts.has(member.ifindex)
      ? [
        { kind: 'rewrite', family, dmac: parseMac(member.dmac), smac: parseMac(member.smac) },
        ...(family === 4 ? [{ kind: 'csum-ip4h' } as const] : []),
        { kind: 'redirect', ifindex: member.ifindex },
      ]
      : [{ kind: 'pass' }];
    out.push(make('group', `group ${g.id}`, table, g.id, family, GROUP_PRIO_BASE[family] + m.size, bucketFlowerMatch(family, m), actions, placement));
  }
  return out;
}

function prefixMatch(dst: string): { family: Family; len: number; match: FlowerMatch } {
  const slash = dst.lastIndexOf('/');
  const addr = parseIp(dst.slice(0, slash));
  const len = Number(dst.slice(slash + 1));
  const family: Family = addr.length === 4 ? 4 : 6;
  const mask = maskBytes(new Uint8Array(addr.length).fill(0xff), len);
  // A zero mask matches everything; flower doesn't even report such a key back, so it is left out.
  return { family, len, match: len === 0 ? {} : { dst: { addr: maskBytes(addr, len), mask } } };
}

/** The TTL / hop-limit punts at the head of the prefix chain: the kernel sends time-exceeded. */
export function ttlFilters(table: number, placement: FilterPlacement): DesiredFilter[] {
  return ([4, 6] as const).map((family) =>
    make('ttl', `block ${blockOf(table)}`, table, PREFIX_CHAIN, family, TTL_PRIO[family], { ttl: { value: 0, mask: 0xfe } }, [{ kind: 'pass' }], placement));
}

/**
 * chain 0: per port and protocol, a frame that came in on the port and is
 * addressed to the port's own MAC goes on to the prefix chain. Anything else
 * matches nothing here and goes to the kernel.
 */
export function portFilters(table: number, ports: readonly PlanPort[], placement: FilterPlacement): DesiredFilter[] {
  const out: DesiredFilter[] = [];
  for (const p of ports) {
    if (p.mac === null) continue;
    const dstMac = { addr: parseMac(p.mac), mask: Uint8Array.of(255, 255, 255, 255, 255, 255) };
    for (const family of [4, 6] as const) {
      out.push(make('port', `port ${p.dev}`, table, 0, family, PORT_PRIO[family], { indev: p.dev, dstMac }, [{ kind: 'goto', chain: PREFIX_CHAIN }], placement));
    }
  }
  return out;
}

/** Does this entry jump to a group chain (rather than pass to the kernel)? */
export function entryGroup(e: PlanEntry, groupExists: (id: number) => boolean): number | null {
  return e.action === 'forward' && e.group !== undefined && groupExists(e.group) ? e.group : null;
}

/** An entry's prefix-chain rule: its prefix at a priority that puts longer prefixes first, goto its group or pass. */
export function entryFilter(e: PlanEntry, groupExists: (id: number) => boolean, placement: FilterPlacement): DesiredFilter {
  const { family, len, match } = prefixMatch(e.dst);
  const g = entryGroup(e, groupExists);
  return make('entry', `entry ${e.table}|${e.dst}`, e.table, PREFIX_CHAIN, family, prefixPrio(family, len), match,
    g !== null ? [{ kind: 'goto', chain: g }] : [{ kind: 'pass' }], placement);
}

/** The tables that have tc ports, with their ports' ifindexes (a bucket whose member is elsewhere punts). */
export function tcPortsOf(plan: Plan): { byTable: Map<number, PlanPort[]>; ifindexes: Set<number> } {
  const byTable = new Map<number, PlanPort[]>();
  const ifindexes = new Set<number>();
  for (const p of plan.ports) {
    if (p.backend !== 'tc') continue;
    ifindexes.add(p.ifindex);
    // Ingress left to the kernel (a policy rule, the firewall, rp_filter): an egress only, not a block member.
    if (!tcBlockMember(p, plan.tables)) continue;
    const l = byTable.get(p.table);
    if (l) l.push(p); else byTable.set(p.table, [p]);
  }
  return { byTable, ifindexes };
}

/**
 * The desired filters per block, for the plan's tc ports. `placement` per
 * table lets a block fall back to software while others stay in hardware.
 */
export function desiredBlocks(plan: Plan, placementFor: (table: number) => FilterPlacement): BlockPlan[] {
  const { byTable, ifindexes: tcIfindexes } = tcPortsOf(plan);
  const groups = new Map(plan.groups.map((g) => [g.id, g] as const));
  const exists = (id: number): boolean => groups.has(id);
  const out: BlockPlan[] = [];
  for (const table of plan.tables) {
    const ports = byTable.get(table);
    if (!ports) continue;
    const placement = placementFor(table);
    const filters: DesiredFilter[] = ttlFilters(table, placement);
    const used = new Set<string>();
    const groupRules: DesiredFilter[] = [];
    for (const e of entryRowsOf(plan)) {
      if (e.table !== table) continue;
      filters.push(entryFilter(e, exists, placement));
      const g = entryGroup(e, exists);
      if (g !== null && !used.has(`${e.family}|${g}`)) {
        used.add(`${e.family}|${g}`);
        groupRules.push(...groupFilters(table, e.family, groups.get(g)!, tcIfindexes, placement));
      }
    }
    out.push({ block: blockOf(table), table, ports, filters: [...groupRules, ...filters, ...portFilters(table, ports, placement)] });
  }
  return out;
}

/**
 * The subject of a filter found installed (a dump) that the plan no longer
 * wants: from its cookie's kind, chain and match, the same text the desired
 * filter had.
 */
export function installedSubject(f: InstalledFilter): Subject {
  const cookie = f.actions[0]?.cookie ?? null;
  const kind = cookie && isOurCookie(cookie) ? cookieKind(cookie) : null;
  if (kind === 'group' || (kind === null && chainDepth(f.id.chain) === 2)) return `group ${f.id.chain}`;
  if (kind === 'port') return `port ${/(?:^|,)i([^,]*)/.exec(f.matchKey)?.[1] ?? '?'}`;
  if (kind !== 'entry' || !cookie) return `block ${f.id.block}`;
  const table = Buffer.from(cookie).readUInt32BE(3);
  const m = /(?:^|,)d([0-9a-f]+)\/([0-9a-f]+)/.exec(f.matchKey);
  if (!m) return `entry ${table}|${f.id.proto === 'ip' ? '0.0.0.0/0' : '::/0'}`;
  const addr = Buffer.from(m[1]!, 'hex');
  let len = 0;
  for (const byte of Buffer.from(m[2]!, 'hex')) for (let b = byte; b; b &= b - 1) len++;
  return `entry ${table}|${formatIp(addr)}/${len}`;
}
