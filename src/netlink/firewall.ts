// Netfilter on the forwarding path, read from the kernel: nf_tables tables,
// chains and rule counts over NETLINK_NETFILTER (dumps, and the
// NFNLGRP_NFTABLES notifications to follow changes), and the iptables-legacy
// tables this namespace has (/proc/net/ip_tables_names, ip6_tables_names:
// the kernel's own list; their rules are only readable with getsockopt).
// What any of it means for the offload is the planner's (plan/firewall.ts).
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { NetlinkError } from '../errors.js';
import type { FirewallState, NftChain } from '../model/firewall.js';
import { sameFirewall } from '../model/firewall.js';
import {
  chainKey, decodeNftChain, decodeNftRule, decodeNftTable, encodeNftDump, joinChains, NETLINK_NETFILTER, NFNLGRP_NFTABLES,
  NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETTABLE, nftType, type NftChainHead, type NftRuleRef, type NftTable,
} from './codec/nftables.js';
import { DumpInterruptedError, RtnlChannel, RtnlSubscription } from './socket.js';

const MAX_DUMP_ATTEMPTS = 5;
/**
 * Errnos meaning "this kernel has no nf_tables": no nfnetlink (socket), or no
 * nf_tables subsystem even after the kernel tried to load it (nfnetlink
 * answers EINVAL for a subsystem it doesn't have). Then no chain can exist.
 */
const NFT_ABSENT = new Set(['EPROTONOSUPPORT', 'EINVAL', 'EOPNOTSUPP', 'ENOENT']);

/** The legacy x_tables tables of the current network namespace, from /proc/net (ENOENT: ip_tables is not loaded, so none). */
export async function readLegacyTables(procNet = '/proc/net'): Promise<FirewallState['legacy']> {
  const read = async (file: string): Promise<string[]> => {
    try {
      return (await readFile(`${procNet}/${file}`, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l.length > 0).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  const [ipv4, ipv6] = await Promise.all([read('ip_tables_names'), read('ip6_tables_names')]);
  return { ipv4, ipv6 };
}

/** One consistent dump of the nf_tables ruleset's tables, chains and rule counts (repeated if the ruleset changed meanwhile). */
export async function dumpNftChains(channel: RtnlChannel): Promise<NftChain[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const tables: NftTable[] = [];
      await channel.dump(nftType(NFT_MSG_GETTABLE), encodeNftDump(), (_t, _f, _s, _p, b, off, end) => {
        const t = decodeNftTable(b, off, end);
        if (t) tables.push(t);
      }, 'NFT_MSG_GETTABLE dump');
      const heads: NftChainHead[] = [];
      await channel.dump(nftType(NFT_MSG_GETCHAIN), encodeNftDump(), (_t, _f, _s, _p, b, off, end) => {
        const c = decodeNftChain(b, off, end);
        if (c) heads.push(c);
      }, 'NFT_MSG_GETCHAIN dump');
      const rules: NftRuleRef[] = [];
      await channel.dump(nftType(NFT_MSG_GETRULE), encodeNftDump(), (_t, _f, _s, _p, b, off, end) => {
        const r = decodeNftRule(b, off, end);
        if (r) rules.push(r);
      }, 'NFT_MSG_GETRULE dump');
      // Sorted, so two reads of the same ruleset compare equal whatever order the kernel lists it in.
      return joinChains(tables, heads, rules).sort((a, b) => (chainKey(a) < chainKey(b) ? -1 : chainKey(a) > chainKey(b) ? 1 : 0));
    } catch (err) {
      // The three dumps are separate: a change between them (or inside one) is retried as a whole.
      if (!(err instanceof DumpInterruptedError) || attempt >= MAX_DUMP_ATTEMPTS) throw err;
    }
  }
}

/**
 * Reads netfilter's state on demand and, once following, reads it again after
 * every nf_tables notification ('change' when it differs from the last read).
 * Legacy tables have no notifications: they are read with each nf_tables
 * read and on every resync.
 */
export class FirewallSource extends EventEmitter<{ change: [state: FirewallState]; error: [err: Error] }> {
  private channel: RtnlChannel | null = null;
  private unavailable: string | null = null;
  private sub: RtnlSubscription | null = null;
  private reading: Promise<void> | null = null;
  private again = false;
  private last: FirewallState | null = null;
  /** Reads taken after a notification, and notifications lost (ENOBUFS: a read follows anyway). */
  readonly counters = { reads: 0, notifications: 0, overruns: 0 };

  constructor(private readonly procNet = '/proc/net') {
    super();
  }

  /** The state now. */
  async read(): Promise<FirewallState> {
    const legacy = await readLegacyTables(this.procNet);
    const ch = this.open();
    if (!ch) return this.remember({ nft: null, nftUnavailable: this.unavailable!, legacy });
    try {
      return this.remember({ nft: await dumpNftChains(ch), legacy });
    } catch (err) {
      if (err instanceof NetlinkError && NFT_ABSENT.has(err.code)) {
        return this.remember({ nft: null, nftUnavailable: err.code, legacy });
      }
      throw err;
    }
  }

  /** Join NFNLGRP_NFTABLES (no-op if the kernel has no nfnetlink, or if already following). */
  follow(): void {
    if (this.sub || !this.open()) return;
    try {
      this.sub = new RtnlSubscription([NFNLGRP_NFTABLES], 1 << 20, NETLINK_NETFILTER);
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.sub.on('datagram', () => { this.counters.notifications++; this.schedule(); });
    this.sub.on('overrun', () => { this.counters.overruns++; this.schedule(); });
    this.sub.on('error', (err) => this.emit('error', err));
  }

  close(): void {
    this.sub?.close();
    this.sub = null;
    this.channel?.close();
    this.channel = null;
  }

  private open(): RtnlChannel | null {
    if (this.channel) return this.channel;
    if (this.unavailable) return null;
    try {
      this.channel = new RtnlChannel(NETLINK_NETFILTER);
    } catch (err) {
      if (err instanceof NetlinkError) { this.unavailable = err.code; return null; }
      throw err;
    }
    return this.channel;
  }

  private remember(s: FirewallState): FirewallState {
    this.last = s;
    return s;
  }

  /** One read at a time; notifications during a read take one more after it (a transaction sends several). */
  private schedule(): void {
    if (this.reading) { this.again = true; return; }
    this.reading = (async () => {
      do {
        this.again = false;
        const before = this.last;
        try {
          const now = await this.read();
          this.counters.reads++;
          if (!sameFirewall(before, now)) this.emit('change', now);
        } catch (err) {
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      } while (this.again);
      this.reading = null;
    })();
  }
}
