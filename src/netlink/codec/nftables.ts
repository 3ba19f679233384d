// nf_tables over NETLINK_NETFILTER (nfnetlink subsystem NFNL_SUBSYS_NFTABLES):
// dump requests for tables, chains and rules, and decoders for the fields
// the firewall check needs. Layouts from include/uapi/linux/netfilter/
// nf_tables.h and nfnetlink.h: every message starts with struct nfgenmsg
// (family u8, version u8, res_id be16); integer attributes are big-endian.
import type { NftChain, NftFamily } from '../../model/firewall.js';
import { readString } from './attrs.js';
import { forEachAttr } from './header.js';

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
/** Multicast group of nf_tables change notifications (NFNLGRP_NFTABLES). */
export const NFNLGRP_NFTABLES = 7;
const NFGENMSG_LEN = 4;

export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_GETRULE = 7;

const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
const NFT_TABLE_F_DORMANT = 0x1;

const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;

const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NFTA_HOOK_DEV = 3;
const NFTA_HOOK_DEVS = 4;

const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;

const NF_DROP = 0;
const NF_ACCEPT = 1;

export const NFPROTO_INET = 1;
export const NFPROTO_IPV4 = 2;
export const NFPROTO_ARP = 3;
export const NFPROTO_NETDEV = 5;
export const NFPROTO_BRIDGE = 7;
export const NFPROTO_IPV6 = 10;

const FAMILIES: Readonly<Record<number, NftFamily>> = {
  [NFPROTO_INET]: 'inet', [NFPROTO_IPV4]: 'ip', [NFPROTO_ARP]: 'arp', [NFPROTO_NETDEV]: 'netdev',
  [NFPROTO_BRIDGE]: 'bridge', [NFPROTO_IPV6]: 'ip6',
};

/** Hook names: NF_INET_* for the IP families and bridge, NF_NETDEV_* for netdev, NF_ARP_* for arp. */
const INET_HOOKS = ['prerouting', 'input', 'forward', 'output', 'postrouting', 'ingress'];
const NETDEV_HOOKS = ['ingress', 'egress'];
const ARP_HOOKS = ['input', 'output', 'forward'];

export function nftFamilyName(n: number): NftFamily {
  return FAMILIES[n] ?? `family-${n}`;
}

export function hookName(family: NftFamily, n: number): string {
  const names = family === 'netdev' ? NETDEV_HOOKS : family === 'arp' ? ARP_HOOKS : INET_HOOKS;
  return names[n] ?? `hook-${n}`;
}

/** nfnetlink message type of an nf_tables message. */
export function nftType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

/** An nf_tables message type → its NFT_MSG_* number, or null for another subsystem. */
export function nftMsgOf(type: number): number | null {
  return type >> 8 === NFNL_SUBSYS_NFTABLES ? type & 0xff : null;
}

/** Payload of a dump request over every family: nfgenmsg alone (NFPROTO_UNSPEC, NFNETLINK_V0). */
export function encodeNftDump(): Uint8Array {
  return new Uint8Array(NFGENMSG_LEN);
}

export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
  readonly dormant: boolean;
}

export type NftChainHead = Omit<NftChain, 'rules' | 'dormant'>;

export interface NftRuleRef {
  readonly family: NftFamily;
  readonly table: string;
  readonly chain: string;
}

function beU32(buf: Buffer, s: number, e: number): number | null {
  return e - s >= 4 ? buf.readUInt32BE(s) : null;
}

export function decodeNftTable(buf: Buffer, off: number, end: number): NftTable | null {
  if (end - off < NFGENMSG_LEN) return null;
  const family = nftFamilyName(buf[off]!);
  let name: string | null = null;
  let flags = 0;
  forEachAttr(buf, off + NFGENMSG_LEN, end, (type, s, e) => {
    if (type === NFTA_TABLE_NAME) name = readString(buf, s, e);
    else if (type === NFTA_TABLE_FLAGS) flags = beU32(buf, s, e) ?? 0;
  });
  return name === null ? null : { family, name, dormant: (flags & NFT_TABLE_F_DORMANT) !== 0 };
}

export function decodeNftChain(buf: Buffer, off: number, end: number): NftChainHead | null {
  if (end - off < NFGENMSG_LEN) return null;
  const family = nftFamilyName(buf[off]!);
  let table: string | null = null;
  let chain: string | null = null;
  let hook: string | null = null;
  let priority = 0;
  let policy: NftChain['policy'] = null;
  let type: string | null = null;
  const devices: string[] = [];
  forEachAttr(buf, off + NFGENMSG_LEN, end, (t, s, e) => {
    switch (t) {
      case NFTA_CHAIN_TABLE: table = readString(buf, s, e); break;
      case NFTA_CHAIN_NAME: chain = readString(buf, s, e); break;
      case NFTA_CHAIN_TYPE: type = readString(buf, s, e); break;
      case NFTA_CHAIN_POLICY: {
        const v = beU32(buf, s, e);
        // Any verdict but accept (drop, or one this code does not know) counts as not accepting.
        policy = v === NF_ACCEPT ? 'accept' : v === NF_DROP || v !== null ? 'drop' : null;
        break;
      }
      case NFTA_CHAIN_HOOK:
        forEachAttr(buf, s, e, (ht, hs, he) => {
          if (ht === NFTA_HOOK_HOOKNUM) { const n = beU32(buf, hs, he); if (n !== null) hook = hookName(family, n); }
          else if (ht === NFTA_HOOK_PRIORITY) { if (he - hs >= 4) priority = buf.readInt32BE(hs); }
          else if (ht === NFTA_HOOK_DEV) devices.push(readString(buf, hs, he));
          else if (ht === NFTA_HOOK_DEVS) forEachAttr(buf, hs, he, (_dt, ds, de) => { devices.push(readString(buf, ds, de)); });
        });
        break;
    }
  });
  if (table === null || chain === null) return null;
  // The kernel reports a single device both as NFTA_HOOK_DEV and inside NFTA_HOOK_DEVS.
  return { family, table, chain, hook, priority, policy, type, devices: [...new Set(devices)] };
}

export function decodeNftRule(buf: Buffer, off: number, end: number): NftRuleRef | null {
  if (end - off < NFGENMSG_LEN) return null;
  const family = nftFamilyName(buf[off]!);
  let table: string | null = null;
  let chain: string | null = null;
  forEachAttr(buf, off + NFGENMSG_LEN, end, (t, s, e) => {
    if (t === NFTA_RULE_TABLE) table = readString(buf, s, e);
    else if (t === NFTA_RULE_CHAIN) chain = readString(buf, s, e);
  });
  return table === null || chain === null ? null : { family, table, chain };
}

/** Key of a chain within the ruleset (family, table, chain). */
export function chainKey(c: { readonly family: NftFamily; readonly table: string; readonly chain: string }): string {
  return `${c.family}\0${c.table}\0${c.chain}`;
}

/** The three dumps joined: each chain, in dump order, with its rule count and its table's dormancy. */
export function joinChains(tables: readonly NftTable[], heads: readonly NftChainHead[], rules: readonly NftRuleRef[]): NftChain[] {
  const dormant = new Set(tables.filter((t) => t.dormant).map((t) => `${t.family}\0${t.name}`));
  const count = new Map<string, number>();
  for (const r of rules) {
    const k = chainKey(r);
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  return heads.map((c) => ({ ...c, rules: count.get(chainKey(c)) ?? 0, dormant: dormant.has(`${c.family}\0${c.table}`) }));
}
