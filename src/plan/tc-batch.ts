// tcBatch: the `tc -batch` lines that realise a plan on tc ports, for review
// (`plan --tc-batch`) and for running on a kernel with flower.
//
// Layout per table T (one shared ingress block T across the table's tc ports):
//   chain 0, prio 1 / 2   per port: indev P dst_mac <P's MAC> → goto chain 1;
//                          anything else (a frame for another host) → the kernel
//   chain 1, prio 1 / 2   TTL (hop limit) <= 1 → pass (the kernel answers)
//   chain 1, prio 100+(32-len) / 200+(128-len)   dst prefix → goto chain G, or pass
//                          (longer prefixes at lower prio numbers: LPM)
//   chain G (group id)     rewrite MACs, TTL-1 (+ IPv4 checksum), redirect;
//                          ECMP buckets as masked matches, one prio per mask
//
// ECMP bucket rules use u32 (`match u32 VALUE MASK at OFFSET`): iproute2's
// flower parser only takes prefix lengths for src_ip/dst_ip (get_prefix),
// not the low-bit masks buckets need. The kernel's flower takes any mask over
// netlink, so the tc backend encodes the same BucketMatch values as flower
// keys; this text form stays runnable.
import type { Family } from '../model/ip.js';
import { bucketMatches, type BucketMatch } from './buckets.js';
import { fnv1a32 } from './groups.js';
import { PUNT_BUCKET, type Plan, type PlanEntry, type PlanGroup } from './types.js';

export const TTL_PRIO: Readonly<Record<Family, number>> = { 4: 1, 6: 2 };
/** The prefix chain (chain 0 holds the per-port MAC checks that jump to it). */
const PREFIX_CHAIN = 1;
const PREFIX_PRIO_BASE: Readonly<Record<Family, number>> = { 4: 100, 6: 200 };
const GROUP_PRIO_BASE: Readonly<Record<Family, number>> = { 4: 1, 6: 17 };
const PROTO: Readonly<Record<Family, string>> = { 4: 'ip', 6: 'ipv6' };
/** Byte offset of the last 32-bit word of the source / destination address in the IP header. */
const SRC_WORD: Readonly<Record<Family, number>> = { 4: 12, 6: 20 };
const DST_WORD: Readonly<Record<Family, number>> = { 4: 16, 6: 36 };

/** The shared block of a table: the table number (non-zero, one block per table). */
export function blockOf(table: number): number {
  return table;
}

/** Prefix-chain priority of a prefix: longer prefixes are evaluated first. */
export function prefixPrio(family: Family, len: number): number {
  return PREFIX_PRIO_BASE[family] + (family === 4 ? 32 : 128) - len;
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

/**
 * Cookies say "ours" and which plan element: 'fb01' (agent, version 1), a
 * kind byte (01 TTL punt, 02 prefix entry, 03 group rule, 04 port check), the table, then
 * 8 bytes naming the element. 15 bytes (tc allows 16).
 */
function cookie(kind: number, table: number, tail: string): string {
  return `fb01${hex(kind, 2)}${hex(table >>> 0, 8)}${tail}`;
}
function entryCookie(e: PlanEntry): string {
  const name = `${e.family}|${e.dst}`;
  return cookie(2, e.table, hex(fnv1a32(name), 8) + hex(fnv1a32(`fib-offload|${name}`), 8));
}

function u32Matches(family: Family, m: BucketMatch): string {
  const parts: string[] = [];
  if (m.srcMask) parts.push(`match u32 0x${hex(m.srcValue, 8)} 0x${hex(m.srcMask, 8)} at ${SRC_WORD[family]}`);
  if (m.dstMask) parts.push(`match u32 0x${hex(m.dstValue, 8)} 0x${hex(m.dstMask, 8)} at ${DST_WORD[family]}`);
  return parts.join(' ');
}

function forwardActions(family: Family, g: PlanGroup, target: number, ck: string): string {
  if (target === PUNT_BUCKET) return `action pass cookie ${ck}`;
  const m = g.members[target]!;
  const ttl = family === 4 ? 'munge ip ttl add 0xff' : 'munge ip6 hoplimit add 0xff';
  const csum = family === 4 ? ` action csum ip4h pipe cookie ${ck}` : '';
  return `action pedit ex munge eth dst set ${m.dmac} munge eth src set ${m.smac} ${ttl} pipe cookie ${ck}` +
    `${csum} action mirred egress redirect dev ${m.dev} cookie ${ck}`;
}

function groupLines(block: number, table: number, family: Family, g: PlanGroup): string[] {
  const lines: string[] = [];
  for (const m of bucketMatches(g.buckets, g.bucketBits)) {
    const start = ((m.srcValue << Math.floor(g.bucketBits / 2)) | m.dstValue) >>> 0;
    const ck = cookie(3, table, hex(g.id, 8) + hex(family, 2) + hex(start, 4) + hex(m.size, 2));
    const head = `filter add block ${block} protocol ${PROTO[family]} chain ${g.id} prio ${GROUP_PRIO_BASE[family] + m.size}`;
    const match = m.srcMask || m.dstMask ? `u32 ${u32Matches(family, m)}` : 'flower';
    // flower can't match a packet's length: a route MTU leaves the whole group to the kernel (README "Limits").
    lines.push(`${head} ${match} ${forwardActions(family, g, g.mtu !== undefined ? PUNT_BUCKET : m.target, ck)}`);
  }
  return lines;
}

export function tcBatch(plan: Plan): string {
  const out: string[] = [`# fib-offload plan: ${plan.entries.length} entries, ${plan.groups.length} groups`];
  const groups = new Map(plan.groups.map((g) => [g.id, g] as const));
  for (const table of plan.tables) {
    const ports = plan.ports.filter((p) => p.backend === 'tc' && p.table === table);
    if (ports.length === 0) continue;
    const block = blockOf(table);
    out.push(`# table ${table}: block ${block} on ${ports.map((p) => p.dev).join(', ')}`);
    for (const p of ports) out.push(`qdisc add dev ${p.dev} ingress_block ${block} clsact`);
    const rules: string[] = [];
    const used: { family: Family; id: number }[] = [];
    const seen = new Set<string>();
    for (const e of plan.entries) {
      if (e.table !== table) continue;
      const head = `filter add block ${block} protocol ${PROTO[e.family]} chain ${PREFIX_CHAIN} prio ${prefixPrio(e.family, Number(e.dst.split('/')[1]))} flower dst_ip ${e.dst}`;
      if (e.action === 'punt') {
        rules.push(`${head} action pass cookie ${entryCookie(e)}`);
        continue;
      }
      rules.push(`${head} action goto chain ${e.group!} cookie ${entryCookie(e)}`);
      const k = `${e.family}|${e.group!}`;
      if (!seen.has(k)) { seen.add(k); used.push({ family: e.family, id: e.group! }); }
    }
    // Group chains before the prefix rules that jump to them, and those before the port checks.
    used.sort((a, b) => a.id - b.id || a.family - b.family);
    for (const { family, id } of used) {
      const g = groups.get(id)!;
      const what = g.mtu !== undefined ? `route mtu ${g.mtu}: punt` : g.members.map((m) => `${m.dev} ${m.dmac} w${m.weight}`).join(', ') || 'no usable member: punt';
      out.push(`# group ${id} (${g.key}): ${what}`);
      out.push(...groupLines(block, table, family, g));
    }
    out.push(`# table ${table}: chain ${PREFIX_CHAIN} (prefixes)`);
    for (const family of [4, 6] as const) {
      out.push(`filter add block ${block} protocol ${PROTO[family]} chain ${PREFIX_CHAIN} prio ${TTL_PRIO[family]} flower ip_ttl 0/0xfe action pass cookie ${cookie(1, table, hex(family, 16))}`);
    }
    out.push(...rules);
    out.push(`# table ${table}: chain 0 (frames addressed to their ingress port)`);
    for (const p of ports) {
      if (p.mac === null) continue;
      for (const family of [4, 6] as const) {
        const ck = cookie(4, table, hex(fnv1a32(`${p.dev}|${family}`), 8) + hex(fnv1a32(`fib-offload|${p.dev}|${family}`), 8));
        out.push(`filter add block ${block} protocol ${PROTO[family]} chain 0 prio ${TTL_PRIO[family]} flower indev ${p.dev} dst_mac ${p.mac} action goto chain ${PREFIX_CHAIN} cookie ${ck}`);
      }
    }
  }
  return out.join('\n') + '\n';
}
