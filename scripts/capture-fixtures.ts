// Captures real rtnetlink dumps and notifications from throw-away network
// namespaces into test/fixtures/netlink/*.json for the codec tests. Run as root:
//   npm run build && node dist/scripts/capture-fixtures.js [--out DIR] [--only routes-mtu]
// It re-executes itself inside the namespace (`--dump`, `--listen`) to talk netlink there.
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  NLMSG_HDRLEN, RTM_NEWNEIGH, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV6_ROUTE, RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_NEXTHOP, rtmName,
} from '../src/netlink/codec/constants.js';
import { RTNLGRP_IPV4_NETCONF } from '../src/netlink/codec/netconf.js';
import { forEachMessage } from '../src/netlink/codec/header.js';
import { DUMPS, encodeNeighborUse } from '../src/netlink/codec/requests.js';
import { RtnlChannel, RtnlSubscription } from '../src/netlink/socket.js';
import { NetlinkError } from '../src/errors.js';

interface RawMessage { readonly what: string; readonly type: number; readonly name: string; readonly flags: number; readonly hex: string }
interface EventSegment {
  readonly label: string; readonly commands: string[]; readonly messages: RawMessage[];
  note?: string;
  /** `ip route` / `ip nexthop` text after the step: what the kernel holds without having said so. */
  after?: string[];
}

const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), '..', '..');

// ---------------------------------------------------------------- in-namespace modes

/** Dump every table with the adapter's own request list; print the raw messages as JSON. */
async function dumpMode(): Promise<void> {
  const ch = new RtnlChannel();
  const out: RawMessage[] = [];
  try {
    for (const d of DUMPS) {
      await ch.dump(d.type, d.payload, (type, flags, _seq, _pid, buf, off, end) => {
        out.push({ what: d.what, type, name: rtmName(type), flags, hex: buf.toString('hex', off - NLMSG_HDRLEN, end) });
      }, d.what);
    }
  } finally {
    ch.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

/**
 * Subscribe to every group the adapter follows and record notifications in
 * segments. stdin lines: `mark LABEL` (start a segment, answers `ok`),
 * `use IFINDEX FAMILY ADDR` (send an NTF_USE request, answers `ack ERRNO`), `end`.
 */
async function listenMode(): Promise<void> {
  const groups = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
    RTNLGRP_NEIGH, RTNLGRP_NEXTHOP, RTNLGRP_IPV4_NETCONF];
  const sub = new RtnlSubscription(groups, 4 << 20);
  const ch = new RtnlChannel();
  const segments: { label: string; messages: RawMessage[] }[] = [{ label: 'before-first-mark', messages: [] }];
  sub.on('datagram', (buf) => {
    forEachMessage(buf, (type, flags, _seq, _pid, b, off, end) => {
      segments[segments.length - 1]!.messages.push({ what: 'event', type, name: rtmName(type), flags, hex: b.toString('hex', off - NLMSG_HDRLEN, end) });
    });
  });
  sub.on('overrun', (err) => { process.stderr.write(`listener overrun: ${err.message}\n`); });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...args] = line.trim().split(' ');
    if (cmd === 'mark') {
      segments.push({ label: args[0] ?? '?', messages: [] });
      process.stdout.write('ok\n');
    } else if (cmd === 'use') {
      const [ifindex, family, addr] = args;
      let errno = 0;
      try {
        await ch.request(RTM_NEWNEIGH, 0, encodeNeighborUse(Number(ifindex), family === '6' ? 6 : 4, addr ?? ''), 'neigh use');
      } catch (err) {
        errno = err instanceof NetlinkError ? err.errno : -1;
      }
      process.stdout.write(`ack ${errno}\n`);
    } else if (cmd === 'end') {
      break;
    }
  }
  sub.close();
  ch.close();
  // stdin stays referenced after readline closes; exit once the result is flushed.
  process.stdout.write('result ' + JSON.stringify(segments) + '\n', () => process.exit(0));
}

// ---------------------------------------------------------------- orchestration (root namespace)

const RUN = `fo-capture-${process.pid}`;
const NS = RUN;
const PEER = `${RUN}-peer`;
const created: string[] = [];

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function netnsAdd(name: string): void {
  sh('ip', ['netns', 'add', name]);
  created.push(name);
}

function cleanup(): void {
  while (created.length > 0) {
    const name = created.pop()!;
    try { sh('ip', ['netns', 'del', name]); } catch (err) { process.stderr.write(`netns del ${name}: ${String(err)}\n`); }
  }
}

/** Commands of one scenario, recorded as they would be typed inside the namespace. */
class Scenario {
  readonly commands: string[] = [];
  constructor(readonly name: string) {}

  /** `ip ARGS` inside the main namespace. */
  ip(...args: string[]): void {
    this.commands.push(['ip', ...args].join(' '));
    sh('ip', ['-n', NS, ...args]);
  }

  /** Like ip(), but a refusal is recorded instead of thrown (probing what the kernel accepts). */
  tryIp(...args: string[]): boolean {
    try {
      sh('ip', ['-n', NS, ...args]);
      this.commands.push(['ip', ...args].join(' '));
      return true;
    } catch (err) {
      const msg = (err as { stderr?: string }).stderr?.trim() ?? String(err);
      this.commands.push(`# refused: ${['ip', ...args].join(' ')} -> ${msg}`);
      return false;
    }
  }

  peerIp(...args: string[]): void {
    this.commands.push(['peer: ip', ...args].join(' '));
    sh('ip', ['-n', PEER, ...args]);
  }

  sysctl(setting: string): void {
    this.commands.push(`sysctl -w ${setting}`);
    sh('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', setting]);
  }
}

function freshNamespaces(sc: Scenario): void {
  cleanup();
  netnsAdd(NS);
  netnsAdd(PEER);
  // No DAD: IPv6 addresses and gateways are usable at once, and fixtures don't carry 'tentative'.
  for (const ns of [NS, PEER]) {
    for (const s of ['net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']) {
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', s]);
    }
  }
  sc.ip('link', 'set', 'dev', 'lo', 'up');
}

/**
 * veth `name` in NS with peer `p<n>` in PEER; both up unless told otherwise.
 * MACs are fixed (02:00:00:00:00:0n here, 02:00:00:00:01:0n on the peer) so fixtures are stable.
 */
function veth(sc: Scenario, n: number, opts: { peerUp?: boolean; up?: boolean } = {}): void {
  const name = `v${n}`;
  sc.ip('link', 'add', 'name', name, 'address', `02:00:00:00:00:0${n}`, 'type', 'veth',
    'peer', 'name', `p${n}`, 'address', `02:00:00:00:01:0${n}`, 'netns', PEER);
  if (opts.up !== false) sc.ip('link', 'set', 'dev', name, 'up');
  if (opts.peerUp !== false) {
    sc.peerIp('link', 'set', 'dev', `p${n}`, 'up');
    if (opts.up !== false) waitOperUp(name);
  }
}

function waitOperUp(dev: string): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = sh('ip', ['netns', 'exec', NS, 'cat', `/sys/class/net/${dev}/operstate`]).trim();
    if (state === 'up') return;
    if (Date.now() > deadline) throw new Error(`${dev} operstate stayed ${state}`);
    execFileSync('sleep', ['0.05']);
  }
}

function dumpInside(): RawMessage[] {
  const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, SELF, '--dump'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as RawMessage[];
}

// Filters keep fixtures small: only the records a scenario is about.
const hexOf = (m: RawMessage): Buffer => Buffer.from(m.hex, 'hex');
const isRoute = (m: RawMessage): boolean => m.type === 24;
const routeTable = (m: RawMessage): number => {
  // RTA_TABLE overrides rtm_table; good enough to read rtm_table here except for tables > 255.
  const b = hexOf(m);
  let t = b[NLMSG_HDRLEN + 4]!;
  for (let p = NLMSG_HDRLEN + 12; p + 4 <= b.length;) {
    const len = b.readUInt16LE(p);
    if (len < 4) break;
    if (b.readUInt16LE(p + 2) === 15) t = b.readUInt32LE(p + 4);
    p += (len + 3) & ~3;
  }
  return t;
};
const routeDstIsMulticast6 = (m: RawMessage): boolean => {
  const b = hexOf(m);
  return b[NLMSG_HDRLEN] === 10 && b.includes(Buffer.from([0x14, 0x00, 0x01, 0x00, 0xff]));
};

let outDir = '';

function save(sc: Scenario, messages: RawMessage[], extra: Record<string, unknown> = {}): void {
  const file = join(outDir, `${sc.name}.json`);
  const doc = { scenario: sc.name, kernel: release(), iproute2: sh('ip', ['-V']).trim(), commands: sc.commands, ...extra, messages };
  writeFileSync(file, JSON.stringify(doc, null, 1) + '\n');
  process.stdout.write(`${file}: ${messages.length} messages\n`);
}

function scenarioLinks(): void {
  const sc = new Scenario('links');
  freshNamespaces(sc);
  veth(sc, 0);
  sc.ip('link', 'set', 'dev', 'v0', 'mtu', '9000');
  veth(sc, 1, { peerUp: false }); // admin up, no carrier
  veth(sc, 2, { up: false }); // admin down
  save(sc, dumpInside().filter((m) => m.type === 16 && !hexOf(m).includes(Buffer.from('lo\0'))));
}

function scenarioAddresses(): void {
  const sc = new Scenario('addresses');
  freshNamespaces(sc);
  veth(sc, 0);
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '10.9.9.1', 'peer', '10.9.9.2/32', 'dev', 'v0');
  sc.ip('address', 'add', '2001:db8:1::1/64', 'dev', 'v0');
  save(sc, dumpInside().filter((m) => m.type === 20 && hexOf(m).readUInt32LE(NLMSG_HDRLEN + 4) !== 1));
}

function scenarioNeighbors(): void {
  const sc = new Scenario('neighbors');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '2001:db8:1::1/64', 'dev', 'v0');
  sc.ip('neigh', 'replace', '192.0.2.10', 'lladdr', '02:00:00:00:0a:10', 'nud', 'permanent', 'dev', 'v0');
  sc.ip('neigh', 'replace', '192.0.2.11', 'lladdr', '02:00:00:00:0a:11', 'nud', 'stale', 'dev', 'v0');
  sc.ip('neigh', 'replace', '192.0.2.12', 'lladdr', '02:00:00:00:0a:12', 'nud', 'reachable', 'dev', 'v0');
  sc.tryIp('neigh', 'replace', '192.0.2.13', 'lladdr', '02:00:00:00:0a:13', 'nud', 'noarp', 'dev', 'v0');
  sc.tryIp('neigh', 'replace', '192.0.2.14', 'lladdr', '02:00:00:00:0a:14', 'nud', 'delay', 'dev', 'v0');
  sc.tryIp('neigh', 'replace', '192.0.2.15', 'lladdr', '02:00:00:00:0a:15', 'nud', 'probe', 'dev', 'v0');
  sc.tryIp('neigh', 'replace', '192.0.2.16', 'nud', 'incomplete', 'dev', 'v0');
  sc.tryIp('neigh', 'replace', '192.0.2.17', 'nud', 'failed', 'dev', 'v0');
  sc.ip('neigh', 'replace', '169.254.0.1', 'lladdr', '02:00:00:00:01:00', 'nud', 'permanent', 'dev', 'v0');
  sc.ip('neigh', 'replace', '169.254.0.1', 'lladdr', '02:00:00:00:01:01', 'nud', 'permanent', 'dev', 'v1');
  sc.ip('neigh', 'replace', '2001:db8:1::10', 'lladdr', '02:00:00:00:0b:10', 'nud', 'permanent', 'dev', 'v0');
  sc.ip('neigh', 'replace', 'fe80::2', 'lladdr', '02:00:00:00:01:00', 'nud', 'stale', 'dev', 'v0', 'router');
  save(sc, dumpInside().filter((m) => m.type === 28));
}

function scenarioRoutesV4(): void {
  const sc = new Scenario('routes-v4');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  veth(sc, 2, { peerUp: false });
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '198.51.100.1/24', 'dev', 'v1');
  sc.ip('address', 'add', '203.0.113.1/24', 'dev', 'v2');
  sc.ip('route', 'add', 'default', 'via', '192.0.2.2', 'dev', 'v0', 'src', '192.0.2.1');
  sc.ip('route', 'add', '10.1.0.0/16', 'via', '192.0.2.2', 'dev', 'v0');
  sc.ip('route', 'add', '10.2.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'metric', '100');
  sc.ip('route', 'add', '10.2.0.0/16', 'via', '198.51.100.2', 'dev', 'v1', 'metric', '200');
  sc.ip('route', 'add', '10.3.0.0/16', 'proto', 'static', 'nexthop', 'via', '192.0.2.2', 'dev', 'v0', 'weight', '1',
    'nexthop', 'via', '198.51.100.2', 'dev', 'v1', 'weight', '3');
  sc.ip('neigh', 'replace', '169.254.0.1', 'lladdr', '02:00:00:00:01:00', 'nud', 'permanent', 'dev', 'v0');
  sc.ip('neigh', 'replace', '169.254.0.1', 'lladdr', '02:00:00:00:01:01', 'nud', 'permanent', 'dev', 'v1');
  sc.ip('route', 'add', '10.4.0.0/16', 'via', '169.254.0.1', 'dev', 'v0', 'onlink');
  sc.ip('route', 'add', '10.5.0.0/16', 'proto', 'bgp', 'metric', '20', 'nexthop', 'via', '169.254.0.1', 'dev', 'v0', 'onlink',
    'nexthop', 'via', '169.254.0.1', 'dev', 'v1', 'onlink');
  sc.ip('route', 'add', '10.6.0.0/16', 'via', 'inet6', 'fe80::1', 'dev', 'v0');
  sc.ip('route', 'add', '10.6.1.0/24', 'proto', 'bgp', 'nexthop', 'via', 'inet6', 'fe80::1', 'dev', 'v0',
    'nexthop', 'via', 'inet6', 'fe80::2', 'dev', 'v1');
  sc.ip('route', 'add', 'blackhole', '10.7.0.0/16');
  sc.ip('route', 'add', 'unreachable', '10.8.0.0/16');
  sc.ip('route', 'add', 'prohibit', '10.9.0.0/16');
  sc.ip('route', 'add', '10.10.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'table', '100');
  sc.ip('route', 'add', '10.10.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'table', '1000');
  sc.tryIp('route', 'add', '10.11.0.0/16', 'via', '203.0.113.2', 'dev', 'v2');
  sc.ip('route', 'add', '10.12.0.0/16', 'dev', 'v1', 'scope', 'link');
  save(sc, dumpInside().filter((m) => isRoute(m) && m.what === 'routes v4'));
}

function scenarioRoutesV6(): void {
  const sc = new Scenario('routes-v6');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  sc.ip('address', 'add', '2001:db8:1::1/64', 'dev', 'v0');
  sc.ip('address', 'add', '2001:db8:2::1/64', 'dev', 'v1');
  sc.ip('-6', 'route', 'add', 'default', 'via', 'fe80::1:0', 'dev', 'v0', 'metric', '512');
  sc.ip('-6', 'route', 'add', '2001:db8:10::/48', 'via', 'fe80::1:0', 'dev', 'v0', 'proto', 'bgp', 'metric', '20');
  sc.ip('-6', 'route', 'add', '2001:db8:11::/48', 'via', '2001:db8:2::2', 'dev', 'v1');
  sc.ip('-6', 'route', 'add', '2001:db8:12::/48', 'proto', 'bgp', 'metric', '20', 'nexthop', 'via', 'fe80::1:0', 'dev', 'v0', 'weight', '2',
    'nexthop', 'via', 'fe80::1:1', 'dev', 'v1', 'weight', '1');
  sc.ip('-6', 'route', 'add', 'blackhole', '2001:db8:13::/48');
  sc.ip('-6', 'route', 'add', 'unreachable', '2001:db8:14::/48');
  sc.ip('-6', 'route', 'add', 'prohibit', '2001:db8:15::/48');
  save(sc, dumpInside().filter((m) => isRoute(m) && m.what === 'routes v6' && routeTable(m) === 254 && !routeDstIsMulticast6(m)));
}

/** Route MTU metrics (RTA_METRICS RTAX_MTU, with and without RTAX_LOCK), IPv4 and IPv6, on a gateway, a multipath and a nexthop-object route. */
function scenarioRoutesMtu(): void {
  const sc = new Scenario('routes-mtu');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '198.51.100.1/24', 'dev', 'v1');
  sc.ip('address', 'add', '2001:db8:1::1/64', 'dev', 'v0');
  sc.ip('route', 'add', '10.20.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'mtu', 'lock', '1000');
  sc.ip('route', 'add', '10.21.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'mtu', '1400');
  sc.ip('route', 'add', '10.22.0.0/16', 'mtu', '1200', 'nexthop', 'via', '192.0.2.2', 'dev', 'v0', 'nexthop', 'via', '198.51.100.2', 'dev', 'v1');
  sc.ip('route', 'add', '10.23.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'mtu', '1500', 'window', '1000', 'advmss', '1400');
  sc.ip('nexthop', 'add', 'id', '7', 'via', '192.0.2.2', 'dev', 'v0');
  sc.ip('route', 'add', '10.24.0.0/16', 'nhid', '7', 'mtu', '900');
  sc.ip('-6', 'route', 'add', '2001:db8:20::/48', 'via', '2001:db8:1::2', 'dev', 'v0', 'mtu', '1280');
  sc.ip('-6', 'route', 'add', '2001:db8:21::/48', 'via', '2001:db8:1::2', 'dev', 'v0', 'mtu', 'lock', '1400');
  const mtuRoute = (m: RawMessage): boolean => {
    const b = hexOf(m);
    return routeTable(m) === 254 && (b[NLMSG_HDRLEN] === 2 ? b[NLMSG_HDRLEN + 1] === 16 : b[NLMSG_HDRLEN + 1] === 48);
  };
  save(sc, dumpInside().filter((m) => isRoute(m) && mtuRoute(m)));
}

/** IPv4 netconf (rp_filter): the dump, and the notifications of sysctl changes and of a device coming and going. */
async function scenarioNetconf(): Promise<void> {
  const sc = new Scenario('netconf');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  sc.sysctl('net.ipv4.conf.all.rp_filter=0');
  sc.sysctl('net.ipv4.conf.default.rp_filter=2');
  sc.sysctl('net.ipv4.conf.v0.rp_filter=1');
  sc.sysctl('net.ipv4.conf.v1.rp_filter=0');
  const setup = [...sc.commands];
  save(sc, dumpInside().filter((m) => m.type === 80));
  const L = new Listener();
  await L.step(sc, 'dev-rp-filter', () => sc.sysctl('net.ipv4.conf.v1.rp_filter=2'));
  await L.step(sc, 'all-rp-filter', () => sc.sysctl('net.ipv4.conf.all.rp_filter=1'));
  await L.step(sc, 'link-add', () => veth(sc, 2), 'a new device gets conf.default (rp_filter 2)');
  await L.step(sc, 'link-del', () => sc.ip('link', 'del', 'dev', 'v2'));
  await L.finish();
  const segs = L.segments.map((s) => ({ ...s, messages: s.messages.filter((m) => m.type === 80 || m.type === 81) }));
  const path = join(outDir, 'events-netconf.json');
  writeFileSync(path, JSON.stringify({ scenario: 'events-netconf', kernel: release(), iproute2: sh('ip', ['-V']).trim(), setup, segments: segs }, null, 1) + '\n');
  process.stdout.write(`${path}: ${segs.map((s) => `${s.label}=${s.messages.length}`).join(' ')}\n`);
}

/** Nexthop objects and routes using them, dumped with compat mode 1 (default) and then 0. */
function scenarioNexthops(): void {
  const sc = new Scenario('nexthops');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '2001:db8:1::1/64', 'dev', 'v0');
  sc.ip('nexthop', 'add', 'id', '1', 'via', 'fe80::1:0', 'dev', 'v0');
  sc.ip('nexthop', 'add', 'id', '2', 'via', 'fe80::1:1', 'dev', 'v1');
  sc.ip('nexthop', 'add', 'id', '3', 'via', '192.0.2.2', 'dev', 'v0');
  sc.ip('nexthop', 'add', 'id', '4', 'dev', 'v1');
  sc.ip('nexthop', 'add', 'id', '5', 'blackhole');
  sc.ip('nexthop', 'add', 'id', '6', 'via', '169.254.0.1', 'dev', 'v1', 'onlink');
  sc.ip('nexthop', 'add', 'id', '10', 'group', '1,2/2,3');
  sc.ip('nexthop', 'add', 'id', '11', 'group', '1/2', 'type', 'resilient', 'buckets', '8');
  sc.tryIp('nexthop', 'add', 'id', '12', 'group', '3,1/1,300');
  sc.ip('route', 'add', '10.20.0.0/16', 'nhid', '1', 'proto', 'bgp', 'metric', '20');
  sc.ip('route', 'add', '10.21.0.0/16', 'nhid', '10', 'proto', 'bgp', 'metric', '20');
  sc.ip('route', 'add', '10.22.0.0/16', 'nhid', '11');
  sc.ip('route', 'add', '10.23.0.0/16', 'nhid', '5');
  sc.ip('route', 'add', '10.24.0.0/16', 'nhid', '3');
  sc.ip('route', 'add', '10.25.0.0/16', 'nhid', '6');
  sc.ip('-6', 'route', 'add', '2001:db8:20::/48', 'nhid', '1', 'proto', 'bgp', 'metric', '20');
  sc.ip('-6', 'route', 'add', '2001:db8:21::/48', 'nhid', '10');
  const keep = (m: RawMessage): boolean => m.type === 104 || (isRoute(m) && routeTable(m) === 254 && hexOf(m).includes(Buffer.from([0x08, 0x00, 0x1e, 0x00])));
  const compat1 = dumpInside().filter(keep);
  const commands1 = [...sc.commands];
  sc.sysctl('net.ipv4.nexthop_compat_mode=0');
  const compat0 = dumpInside().filter(keep);
  const s1 = new Scenario('nexthops-compat1');
  s1.commands.push(...commands1);
  save(s1, compat1);
  const s0 = new Scenario('nexthops-compat0');
  s0.commands.push(...sc.commands);
  save(s0, compat0);
}

/** Child in NS recording notifications; `step` marks a segment, runs the actions, waits for stragglers. */
class Listener {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: AsyncIterator<string>;
  readonly segments: EventSegment[] = [];

  constructor() {
    this.child = spawn('ip', ['netns', 'exec', NS, process.execPath, SELF, '--listen'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  private async line(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error('listener exited');
    return r.value;
  }

  async step(sc: Scenario, label: string, action: () => void | Promise<void>, note?: string, settleMs = 400, show = false): Promise<void> {
    this.child.stdin.write(`mark ${label}\n`);
    if ((await this.line()) !== 'ok') throw new Error('listener did not ack mark');
    const before = sc.commands.length;
    await action();
    // Notifications are queued synchronously by the kernel, but give deferred work (neigh GC, DAD) a moment.
    await new Promise((r) => setTimeout(r, settleMs));
    const seg: EventSegment = { label, commands: sc.commands.slice(before), messages: [] };
    if (note) seg.note = note;
    if (show) seg.after = tablesText();
    this.segments.push(seg);
  }

  async use(ifindex: number, family: 4 | 6, address: string): Promise<number> {
    this.child.stdin.write(`use ${ifindex} ${family} ${address}\n`);
    const l = await this.line();
    return Number(l.split(' ')[1]);
  }

  async finish(): Promise<void> {
    this.child.stdin.write('end\n');
    let l = await this.line();
    while (!l.startsWith('result ')) l = await this.line();
    this.child.stdin.end();
    const recorded = JSON.parse(l.slice(7)) as { label: string; messages: RawMessage[] }[];
    for (const seg of this.segments) seg.messages.push(...(recorded.find((r) => r.label === seg.label)?.messages ?? []));
  }
}

async function scenarioEvents(): Promise<void> {
  const sc = new Scenario('events-setup');
  freshNamespaces(sc);
  veth(sc, 0);
  veth(sc, 1);
  veth(sc, 2);
  sc.ip('address', 'add', '192.0.2.1/24', 'dev', 'v0');
  sc.ip('address', 'add', '198.51.100.1/24', 'dev', 'v1');
  sc.ip('address', 'add', '2001:db8:2::1/64', 'dev', 'v1');
  sc.ip('nexthop', 'add', 'id', '41', 'via', '198.51.100.2', 'dev', 'v1');
  sc.ip('route', 'add', '10.41.0.0/16', 'nhid', '41');
  sc.ip('route', 'add', '10.42.0.0/16', 'via', '198.51.100.2', 'dev', 'v1');
  sc.ip('-6', 'route', 'add', '2001:db8:42::/48', 'via', 'fe80::1:1', 'dev', 'v1');
  sc.ip('neigh', 'replace', '198.51.100.2', 'lladdr', '02:00:00:00:01:01', 'nud', 'reachable', 'dev', 'v1');
  sc.ip('neigh', 'replace', '169.254.0.1', 'lladdr', '02:00:00:00:01:01', 'nud', 'permanent', 'dev', 'v1');
  sc.ip('route', 'add', '10.43.0.0/16', 'via', '192.0.2.2', 'dev', 'v0');
  sc.ip('neigh', 'replace', '192.0.2.2', 'lladdr', '02:00:00:00:01:00', 'nud', 'reachable', 'dev', 'v0');
  sc.ip('address', 'add', '203.0.113.1/24', 'dev', 'v2');
  sc.ip('route', 'add', '10.44.0.0/16', 'via', '203.0.113.2', 'dev', 'v2');
  const setup = [...sc.commands];

  const L = new Listener();
  const groups: Record<string, string[]> = {
    'events-route': ['route-add', 'route-replace', 'route-del', 'route6-multipath-add', 'route6-multipath-del'],
    'events-neigh': ['neigh-add', 'neigh-change', 'neigh-use', 'neigh-del'],
    'events-nexthop': ['nexthop-add', 'nexthop-replace', 'nexthop-del', 'compat0-nexthop-replace'],
    'events-link': ['link-down', 'link-up', 'carrier-down', 'carrier-up', 'link-del'],
    'events-addr': ['addr-add', 'addr-del'],
  };
  await L.step(sc, 'route-add', () => sc.ip('route', 'add', '10.30.0.0/16', 'via', '192.0.2.2', 'dev', 'v0', 'proto', 'bgp', 'metric', '20'));
  await L.step(sc, 'route-replace', () => sc.ip('route', 'replace', '10.30.0.0/16', 'via', '198.51.100.2', 'dev', 'v1', 'proto', 'bgp', 'metric', '20'));
  await L.step(sc, 'route-del', () => sc.ip('route', 'del', '10.30.0.0/16', 'proto', 'bgp', 'metric', '20'));
  await L.step(sc, 'route6-multipath-add', () => sc.ip('-6', 'route', 'add', '2001:db8:30::/48', 'nexthop', 'via', 'fe80::1:0', 'dev', 'v0',
    'nexthop', 'via', 'fe80::1:1', 'dev', 'v1'));
  await L.step(sc, 'route6-multipath-del', () => sc.ip('-6', 'route', 'del', '2001:db8:30::/48'));
  await L.step(sc, 'neigh-add', () => sc.ip('neigh', 'replace', '192.0.2.50', 'lladdr', '02:00:00:00:0c:50', 'nud', 'reachable', 'dev', 'v0'));
  await L.step(sc, 'neigh-change', () => sc.ip('neigh', 'replace', '192.0.2.50', 'lladdr', '02:00:00:00:0c:51', 'nud', 'stale', 'dev', 'v0'));
  let useErrno = -1;
  sc.sysctl('net.ipv4.neigh.v0.delay_first_probe_time=1');
  await L.step(sc, 'neigh-use', async () => {
    sc.commands.push('# RTM_NEWNEIGH (no NLM_F_CREATE) ndm_flags=NTF_USE NDA_DST=192.0.2.50 dev v0 (encodeNeighborUse), then 2.5 s');
    useErrno = await L.use(ifindexOf('v0'), 4, '192.0.2.50');
  }, 'NTF_USE on a STALE neighbour nobody answers for: STALE -> DELAY -> PROBE (-> FAILED)', 2500);
  await L.step(sc, 'neigh-del', () => sc.ip('neigh', 'del', '192.0.2.50', 'dev', 'v0'));
  await L.step(sc, 'nexthop-add', () => {
    sc.ip('nexthop', 'add', 'id', '40', 'via', '192.0.2.2', 'dev', 'v0');
    sc.ip('route', 'add', '10.40.0.0/16', 'nhid', '40');
  });
  await L.step(sc, 'nexthop-replace', () => sc.ip('nexthop', 'replace', 'id', '40', 'via', '192.0.2.3', 'dev', 'v0'));
  await L.step(sc, 'nexthop-del', () => sc.ip('nexthop', 'del', 'id', '40'), 'deleting a nexthop object removes the routes using it', 400, true);
  await L.step(sc, 'compat0-nexthop-replace', () => {
    sc.sysctl('net.ipv4.nexthop_compat_mode=0');
    sc.ip('nexthop', 'add', 'id', '45', 'via', '192.0.2.2', 'dev', 'v0');
    sc.ip('route', 'add', '10.45.0.0/16', 'nhid', '45');
    sc.ip('nexthop', 'replace', 'id', '45', 'via', '192.0.2.3', 'dev', 'v0');
    sc.ip('nexthop', 'del', 'id', '45');
    sc.sysctl('net.ipv4.nexthop_compat_mode=1');
  }, 'with nexthop_compat_mode=0: add, route add, replace, del', 400);
  // Carrier changes reach rtnetlink through linkwatch, which batches non-urgent events for up to a second.
  const LINK_SETTLE = 1500;
  await L.step(sc, 'link-down', () => sc.ip('link', 'set', 'dev', 'v1', 'down'),
    'v1 carries 10.42/16 via gw, 10.41/16 via nexthop 41, 2001:db8:42::/48 via fe80::1:1, neighbours, addresses', LINK_SETTLE, true);
  await L.step(sc, 'link-up', () => { sc.ip('link', 'set', 'dev', 'v1', 'up'); waitOperUp('v1'); }, undefined, LINK_SETTLE, true);
  await L.step(sc, 'carrier-down', () => sc.peerIp('link', 'set', 'dev', 'p0', 'down'),
    'peer of v0 goes down: v0 loses carrier; v0 carries 192.0.2.0/24, 10.43/16 via 192.0.2.2 (reachable neighbour)', LINK_SETTLE, true);
  await L.step(sc, 'carrier-up', () => { sc.peerIp('link', 'set', 'dev', 'p0', 'up'); waitOperUp('v0'); }, undefined, LINK_SETTLE);
  await L.step(sc, 'link-del', () => sc.ip('link', 'del', 'dev', 'v2'), undefined, LINK_SETTLE);
  await L.step(sc, 'addr-add', () => sc.ip('address', 'add', '2001:db8:9::1/64', 'dev', 'v1'));
  await L.step(sc, 'addr-del', () => sc.ip('address', 'del', '2001:db8:9::1/64', 'dev', 'v1'));
  await L.finish();

  for (const [file, labels] of Object.entries(groups)) {
    const segs = L.segments.filter((s) => labels.includes(s.label));
    const doc = {
      scenario: file, kernel: release(), iproute2: sh('ip', ['-V']).trim(), setup,
      ...(file === 'events-neigh' ? { neighUseErrno: useErrno } : {}),
      segments: segs,
    };
    const path = join(outDir, `${file}.json`);
    writeFileSync(path, JSON.stringify(doc, null, 1) + '\n');
    process.stdout.write(`${path}: ${segs.map((s) => `${s.label}=${s.messages.length}`).join(' ')}\n`);
  }
}

function tablesText(): string[] {
  const lines = (args: string[]): string[] => sh('ip', ['-n', NS, ...args]).split('\n').filter((l) => l !== '').map((l) => `${args.join(' ')}: ${l}`);
  return [...lines(['-4', 'route', 'show', 'table', 'main']), ...lines(['-6', 'route', 'show', 'table', 'main']), ...lines(['nexthop', 'show'])];
}

function ifindexOf(dev: string): number {
  return Number(sh('ip', ['netns', 'exec', NS, 'cat', `/sys/class/net/${dev}/ifindex`]).trim());
}

async function orchestrate(argv: string[]): Promise<void> {
  const o = argv.indexOf('--out');
  outDir = o >= 0 && argv[o + 1] ? resolve(argv[o + 1]!) : join(REPO, 'test', 'fixtures', 'netlink');
  mkdirSync(outDir, { recursive: true });
  // --only NAME: capture one scenario (a new fixture) without rewriting the others.
  const only = argv.indexOf('--only') >= 0 ? argv[argv.indexOf('--only') + 1] : undefined;
  const onSignal = (sig: NodeJS.Signals): void => { cleanup(); process.kill(process.pid, sig); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (only === 'routes-mtu') { scenarioRoutesMtu(); return; }
    if (only === 'netconf') { await scenarioNetconf(); return; }
    if (only !== undefined) throw new Error(`--only: no scenario ${only} (routes-mtu, netconf)`);
    scenarioLinks();
    scenarioAddresses();
    scenarioNeighbors();
    scenarioRoutesV4();
    scenarioRoutesV6();
    scenarioRoutesMtu();
    scenarioNexthops();
    await scenarioNetconf();
    await scenarioEvents();
  } finally {
    cleanup();
  }
}

const mode = process.argv[2];
const main = mode === '--dump' ? dumpMode() : mode === '--listen' ? listenMode() : orchestrate(process.argv.slice(2));
main.catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  cleanup();
  process.exitCode = 1;
});
