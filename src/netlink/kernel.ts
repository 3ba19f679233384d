// The kernel adapter: dumps every rtnetlink table into a KernelSnapshot and
// follows the multicast groups as typed KernelEvents. The only module, with
// socket.ts, that touches the `netlink` package.
import { EventEmitter } from 'node:events';
import type { Address, KernelEvent, KernelSnapshot, Link, Neighbor, Netconf, NexthopObject, PolicyRule, Route } from '../model/index.js';
import { ConfigError, NetlinkError } from '../errors.js';
import {
  RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE, RTNLGRP_LINK, RTNLGRP_NEIGH,
  RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_NEXTHOP, RTM_GETRULE, RTM_NEWNEIGH, rtmName,
} from './codec/constants.js';
import { decodeEvent } from './codec/decode.js';
import { RTNLGRP_IPV4_NETCONF } from './codec/netconf.js';
import { forEachMessage } from './codec/header.js';
import { DUMPS, encodeNeighborUse, type DumpRequest } from './codec/requests.js';
import { FirewallSource } from './firewall.js';
import { DumpInterruptedError, RtnlChannel, RtnlSubscription } from './socket.js';
import { sameFirewall, type FirewallState } from '../model/firewall.js';

export const EVENT_GROUPS: readonly number[] = [
  RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
  RTNLGRP_NEIGH, RTNLGRP_NEXTHOP, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_IPV4_NETCONF,
];

/** Default event socket buffer: big enough for a BGP full-table burst between two reads. */
export const DEFAULT_EVENT_BUFFER = 32 << 20;
const MAX_DUMP_ATTEMPTS = 5;

export type ResyncReason = 'enobufs' | 'decode-error' | 'receive-error';

export interface KernelAdapterEvents {
  /** One kernel change, with the monotonic time (ns) its datagram was read. */
  event: [ev: KernelEvent, receivedAt: bigint];
  /** Notifications were lost or unreadable: the consumer must call resync(). */
  'resync-needed': [reason: ResyncReason, err: Error];
}

export interface AdapterCounters {
  events: number;
  dumps: number;
  dumpRetries: number;
  overruns: number;
}

/** Dump every table over `channel` (links, addresses, neighbours, nexthops, routes v4/v6, rules v4/v6). */
export async function dumpSnapshot(channel: RtnlChannel, counters?: AdapterCounters): Promise<KernelSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const links: Link[] = [];
    const addresses: Address[] = [];
    const neighbors: Neighbor[] = [];
    const nexthops: NexthopObject[] = [];
    const routes: Route[] = [];
    let rules: PolicyRule[] | undefined = [];
    const netconf: Netconf[] = [];
    const dumpOne = (d: DumpRequest): Promise<number> => channel.dump(d.type, d.payload, (type, _flags, _seq, _pid, buf, off, end) => {
      const ev = decodeEvent(type, buf, off, end);
      if (!ev || ev.op !== 'new') return;
      switch (ev.kind) {
        case 'link': links.push(ev.link); break;
        case 'addr': addresses.push(ev.address); break;
        case 'neigh': neighbors.push(ev.neighbor); break;
        case 'nexthop': nexthops.push(ev.nexthop); break;
        case 'route': routes.push(ev.route); break;
        case 'rule': rules?.push(ev.rule); break;
        case 'netconf': netconf.push(ev.netconf); break;
      }
    }, `${rtmName(d.type)} dump (${d.what})`);
    try {
      for (const d of DUMPS) {
        try {
          await dumpOne(d);
        } catch (err) {
          if (!(err instanceof NetlinkError && d.absentOn?.includes(err.code))) throw err;
          // This kernel has no such table (no policy routing): the snapshot leaves the rules
          // out, and the planner looks each port up in its own table, as such a kernel does.
          if (d.type === RTM_GETRULE) rules = undefined;
        }
      }
      if (counters) counters.dumps++;
      return { links, addresses, neighbors, nexthops, routes, ...(rules ? { rules } : {}), netconf };
    } catch (err) {
      if (!(err instanceof DumpInterruptedError) || attempt >= MAX_DUMP_ATTEMPTS) throw err;
      if (counters) counters.dumpRetries++;
    }
  }
}

/** What the daemon reads from the kernel: a snapshot with the events after it, and neighbour keepalive. */
export interface KernelSource {
  resync(onSnapshot: (s: KernelSnapshot) => void): Promise<void>;
  useNeighbor(n: Pick<Neighbor, 'ifindex' | 'family' | 'address'>): Promise<void>;
  on(event: 'event', fn: (ev: KernelEvent, at: bigint) => void): unknown;
  on(event: 'resync-needed', fn: (reason: ResyncReason, err: Error) => void): unknown;
  removeAllListeners(event?: 'event' | 'resync-needed'): unknown;
  close(): void;
}


/**
 * FIB_OFFLOAD_EVENT_BUFFER: the event socket's receive buffer in bytes
 * (default 32 MiB, which the kernel doubles). Smaller makes overruns easy to
 * provoke in tests; larger absorbs bigger bursts without a resync.
 */
export function eventBufferFromEnv(env: NodeJS.ProcessEnv): { eventBufferSize?: number } {
  const text = env['FIB_OFFLOAD_EVENT_BUFFER'];
  if (!text) return {};
  const n = Number(text);
  if (!Number.isInteger(n) || n < 4096) throw new ConfigError('FIB_OFFLOAD_EVENT_BUFFER', `expected a byte count of at least 4096; got "${text}"`);
  return { eventBufferSize: n };
}

export interface KernelAdapterOptions {
  /** SO_RCVBUF requested for the event socket (the kernel caps it at net.core.rmem_max). */
  eventBufferSize?: number;
  /** Where the legacy iptables table lists are read (default /proc/net: this process's namespace). */
  procNet?: string;
}

/**
 * Dump + follow. Events that arrive while a dump runs are held back and
 * replayed right after the snapshot is handed over, so the consumer sees a
 * consistent order: snapshot, then every change made since subscribing.
 */
export class KernelAdapter extends EventEmitter<KernelAdapterEvents> implements KernelSource {
  readonly counters: AdapterCounters = { events: 0, dumps: 0, dumpRetries: 0, overruns: 0 };
  private readonly channel = new RtnlChannel();
  private subscription: RtnlSubscription | null = null;
  private held: Array<[Buffer, bigint]> | null = null;
  /** The last netfilter change read while a dump ran (delivered after the snapshot if it differs). */
  private heldFirewall: FirewallState | null = null;
  private lostDuringDump = false;
  /** Netfilter (nf_tables and legacy tables): read with every dump, followed by its own notifications. */
  readonly firewall: FirewallSource;

  constructor(private readonly options: KernelAdapterOptions = {}) {
    super();
    this.firewall = new FirewallSource(options.procNet);
    this.firewall.on('change', (f) => this.firewallChanged(f));
    // A failed re-read leaves the mirror's netfilter state stale: a full resync reads it again.
    this.firewall.on('error', (err) => this.lost('receive-error', err));
  }

  /** One-shot dump without subscribing (for `show`, `plan`, `apply`): rtnetlink tables and netfilter. */
  async dump(): Promise<KernelSnapshot> {
    const snapshot = await dumpSnapshot(this.channel, this.counters);
    return { ...snapshot, firewall: await this.firewall.read() };
  }

  /** Granted SO_RCVBUF of the event socket, once following. */
  get eventBufferSize(): number | null {
    return this.subscription?.recvBufferSize ?? null;
  }

  /**
   * Subscribe (first, so nothing is missed), dump, hand the snapshot to
   * `onSnapshot`, then replay the changes that arrived meanwhile as 'event's.
   * Call again on 'resync-needed'. Each attempt follows on a fresh socket:
   * the old one may still queue notifications older than the dump, and after
   * an overrun the kernel keeps it congested — dropping new notifications
   * without another ENOBUFS — until it is read empty.
   */
  async resync(onSnapshot: (s: KernelSnapshot) => void): Promise<void> {
    for (;;) {
      const old = this.subscription;
      this.subscribe(); // joins the groups before the old socket goes: nothing is missed
      if (old) {
        old.removeAllListeners();
        old.close(); // same tick: nothing queued on it is delivered
      }
      this.firewall.follow(); // before the dump, like the groups above
      this.held = [];
      this.heldFirewall = null;
      this.lostDuringDump = false;
      const snapshot = await this.dump();
      if (this.lostDuringDump) continue; // an overrun mid-dump: held events are incomplete
      const held = this.held;
      const heldFirewall = this.heldFirewall;
      this.held = null;
      this.heldFirewall = null;
      onSnapshot(snapshot);
      for (const [buf, at] of held) this.deliver(buf, at);
      if (heldFirewall && !sameFirewall(heldFirewall, snapshot.firewall ?? null)) this.firewallChanged(heldFirewall);
      return;
    }
  }

  /**
   * Mark a neighbour used (RTM_NEWNEIGH with NTF_USE), as forwarding a packet
   * to it in the kernel would: a STALE entry goes to DELAY and is re-probed.
   */
  async useNeighbor(n: Pick<Neighbor, 'ifindex' | 'family' | 'address'>): Promise<void> {
    await this.channel.request(RTM_NEWNEIGH, 0, encodeNeighborUse(n.ifindex, n.family, n.address), `refresh neighbour ${n.address} on ifindex ${n.ifindex}`);
  }

  close(): void {
    this.subscription?.close();
    this.subscription = null;
    this.firewall.close();
    this.channel.close();
  }

  private firewallChanged(f: FirewallState): void {
    if (this.held) { this.heldFirewall = f; return; }
    this.counters.events++;
    this.emit('event', { kind: 'firewall', op: 'new', firewall: f }, process.hrtime.bigint());
  }

  private subscribe(): void {
    const sub = new RtnlSubscription(EVENT_GROUPS, this.options.eventBufferSize ?? DEFAULT_EVENT_BUFFER);
    sub.on('datagram', (buf, at) => {
      if (this.held) this.held.push([buf, at]);
      else this.deliver(buf, at);
    });
    sub.on('overrun', (err) => this.lost('enobufs', err));
    sub.on('error', (err) => this.lost('receive-error', err));
    this.subscription = sub;
  }

  private lost(reason: ResyncReason, err: Error): void {
    if (reason === 'enobufs') this.counters.overruns++;
    if (this.held) { this.lostDuringDump = true; return; }
    this.emit('resync-needed', reason, err);
  }

  private deliver(buf: Buffer, at: bigint): void {
    const events: KernelEvent[] = [];
    try {
      forEachMessage(buf, (type, _f, _s, _p, b, off, end) => {
        const ev = decodeEvent(type, b, off, end);
        if (ev) events.push(ev);
      });
    } catch (err) {
      // A datagram we cannot parse means state we did not see: resync rather than guess.
      this.emit('resync-needed', 'decode-error', err instanceof Error ? err : new Error(String(err)));
      return;
    }
    for (const ev of events) {
      this.counters.events++;
      this.emit('event', ev, at);
    }
  }
}

export { NetlinkError };
