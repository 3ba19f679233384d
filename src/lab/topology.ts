// The lab's fixed topology and the FRR configuration of its routers: pure
// data and pure functions, so the shape of the lab is reviewable and
// unit-tested without root.
//
//            r1 (AS 65001)            r2 (AS 65002)
//            eth0 02:f0:00:00:01:02   eth0 02:f0:00:00:02:02
//              │  BGP unnumbered        │  (IPv6 link-local, RFC 5549)
//            eth1                     eth2
//            └───────── dut (AS 65000, FRR + fib-offload) ─┘
//                            eth0
//                             │
//                            h1  10.0.1.2/24, 2001:db8:1::2/64
//
// r1 and r2 both originate 198.51.100.0/24 and 2001:db8:100::/64 (ECMP at
// dut) and one prefix each; each answers on the first address of every
// prefix it originates (an address on its loopback).

export const LAB_ROLES = ['dut', 'r1', 'r2', 'h1'] as const;
export type LabRole = (typeof LAB_ROLES)[number];
export const ROUTERS = ['dut', 'r1', 'r2'] as const;
export type RouterRole = (typeof ROUTERS)[number];
export type Upstream = 'r1' | 'r2';

/** One veth pair: `a` end in one namespace, `b` end in another. */
export interface LabLink {
  readonly a: { readonly role: LabRole; readonly dev: string; readonly mac: string };
  readonly b: { readonly role: LabRole; readonly dev: string; readonly mac: string };
}

export const LINKS: readonly LabLink[] = [
  { a: { role: 'dut', dev: 'eth0', mac: '02:f0:00:00:00:01' }, b: { role: 'h1', dev: 'eth0', mac: '02:f0:00:00:00:02' } },
  { a: { role: 'dut', dev: 'eth1', mac: '02:f0:00:00:01:01' }, b: { role: 'r1', dev: 'eth0', mac: '02:f0:00:00:01:02' } },
  { a: { role: 'dut', dev: 'eth2', mac: '02:f0:00:00:02:01' }, b: { role: 'r2', dev: 'eth0', mac: '02:f0:00:00:02:02' } },
];

/** dut's offload ports: every link it has. */
export const DUT_PORTS = ['eth0', 'eth1', 'eth2'] as const;

/** Which dut port faces which upstream router. */
export const UPSTREAM_PORT: Readonly<Record<Upstream, string>> = { r1: 'eth1', r2: 'eth2' };

/** Interface addresses (`ip addr add ADDR dev DEV`) per namespace. */
export const ADDRESSES: Readonly<Record<LabRole, readonly { readonly dev: string; readonly addr: string }[]>> = {
  dut: [
    { dev: 'lo', addr: '10.255.0.1/32' },
    { dev: 'eth0', addr: '10.0.1.1/24' },
    { dev: 'eth0', addr: '2001:db8:1::1/64' },
  ],
  r1: [
    { dev: 'lo', addr: '10.255.0.2/32' },
    { dev: 'lo', addr: '198.51.100.1/24' },
    { dev: 'lo', addr: '203.0.113.1/25' },
    { dev: 'lo', addr: '2001:db8:100::1/64' },
    { dev: 'lo', addr: '2001:db8:101::1/64' },
  ],
  r2: [
    { dev: 'lo', addr: '10.255.0.3/32' },
    { dev: 'lo', addr: '198.51.100.1/24' },
    { dev: 'lo', addr: '203.0.113.129/25' },
    { dev: 'lo', addr: '2001:db8:100::1/64' },
    { dev: 'lo', addr: '2001:db8:102::1/64' },
  ],
  h1: [
    { dev: 'eth0', addr: '10.0.1.2/24' },
    { dev: 'eth0', addr: '2001:db8:1::2/64' },
  ],
};

/** h1's default routes (it is a host, not a router). */
export const H1_GATEWAYS = { v4: '10.0.1.1', v6: '2001:db8:1::1' } as const;
export const H1_ADDRESS = { v4: '10.0.1.2', v6: '2001:db8:1::2' } as const;

export interface RouterSpec {
  readonly asn: number;
  readonly routerId: string;
  /** Interfaces it peers on (BGP unnumbered). */
  readonly peerings: readonly string[];
  readonly networks4: readonly string[];
  readonly networks6: readonly string[];
}

export const ROUTER_SPECS: Readonly<Record<RouterRole, RouterSpec>> = {
  dut: { asn: 65000, routerId: '10.255.0.1', peerings: ['eth1', 'eth2'], networks4: ['10.0.1.0/24'], networks6: ['2001:db8:1::/64'] },
  r1: {
    asn: 65001,
    routerId: '10.255.0.2',
    peerings: ['eth0'],
    networks4: ['198.51.100.0/24', '203.0.113.0/25'],
    networks6: ['2001:db8:100::/64', '2001:db8:101::/64'],
  },
  r2: {
    asn: 65002,
    routerId: '10.255.0.3',
    peerings: ['eth0'],
    networks4: ['198.51.100.0/24', '203.0.113.128/25'],
    networks6: ['2001:db8:100::/64', '2001:db8:102::/64'],
  },
};

/** What `lab traffic` sends to: one address per upstream prefix, and who originates it. */
export interface Destination {
  readonly prefix: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly via: readonly Upstream[];
}

export const DESTINATIONS: readonly Destination[] = [
  { prefix: '198.51.100.0/24', address: '198.51.100.1', family: 4, via: ['r1', 'r2'] },
  { prefix: '203.0.113.0/25', address: '203.0.113.1', family: 4, via: ['r1'] },
  { prefix: '203.0.113.128/25', address: '203.0.113.129', family: 4, via: ['r2'] },
  { prefix: '2001:db8:100::/64', address: '2001:db8:100::1', family: 6, via: ['r1', 'r2'] },
  { prefix: '2001:db8:101::/64', address: '2001:db8:101::1', family: 6, via: ['r1'] },
  { prefix: '2001:db8:102::/64', address: '2001:db8:102::1', family: 6, via: ['r2'] },
];

/** BGP timers (keepalive, hold): short, so a dead peer is withdrawn in seconds. */
export const BGP_TIMERS = { keepalive: 1, hold: 3 } as const;

/** Namespace name of a role in the lab called `lab`. */
export function nsName(lab: string, role: LabRole): string {
  return `${lab}-${role}`;
}

/** The MAC of the link whose `role`'s end is `dev`. */
export function macOf(role: LabRole, dev: string): string {
  for (const l of LINKS) {
    if (l.a.role === role && l.a.dev === dev) return l.a.mac;
    if (l.b.role === role && l.b.dev === dev) return l.b.mac;
  }
  throw new Error(`no lab link at ${role} ${dev}`);
}

/**
 * frr.conf for one router. `nexthopObjects` false adds `no zebra nexthop
 * kernel enable` (routes become `via 169.254.0.1 onlink` with a PERMANENT
 * neighbour instead of nexthop objects with the peer's link-local).
 */
/** FRR's default FPM port: dut's zebra connects to the agent there (`lab up --frr 10`). */
export const LAB_FPM_PORT = 2620;

/**
 * `fpm` (dut under `--frr 10`): zebra streams its routes to the agent's FPM
 * server and bgpd advertises a route only once zebra reports it installed
 * (offloaded). logFile null: the log goes to --log on the command line.
 */
export function frrConfig(role: RouterRole, opts: { readonly nexthopObjects: boolean; readonly logFile: string | null; readonly fpm?: boolean }): string {
  const s = ROUTER_SPECS[role];
  const fpm = opts.fpm === true && role === 'dut';
  const lines = [
    'frr defaults datacenter',
    `hostname ${role}`,
    ...(opts.logFile !== null ? [`log file ${opts.logFile}`] : []),
    ...(opts.nexthopObjects ? [] : ['no zebra nexthop kernel enable']),
    ...(fpm ? [`fpm address 127.0.0.1 port ${LAB_FPM_PORT}`] : []),
    '!',
    `router bgp ${s.asn}`,
    ` bgp router-id ${s.routerId}`,
    ' no bgp ebgp-requires-policy',
    ...(fpm ? [' bgp suppress-fib-pending'] : []),
    // r1 and r2 are different ASes: equal-length AS paths may share a route.
    ' bgp bestpath as-path multipath-relax',
    ` timers bgp ${BGP_TIMERS.keepalive} ${BGP_TIMERS.hold}`,
    ...s.peerings.map((dev) => ` neighbor ${dev} interface remote-as external`),
    ' !',
    ' address-family ipv4 unicast',
    ...s.networks4.map((n) => `  network ${n}`),
    ' exit-address-family',
    ' !',
    ' address-family ipv6 unicast',
    ...s.peerings.map((dev) => `  neighbor ${dev} activate`),
    ...s.networks6.map((n) => `  network ${n}`),
    ' exit-address-family',
    '!',
  ];
  return lines.join('\n') + '\n';
}

/** The agent's configuration in dut. */
export function agentConfig(metricsPort: number, fpm = false): string {
  return [
    ...(fpm ? [`fpm: { listen: "127.0.0.1:${LAB_FPM_PORT}" }`] : []),
    `ports: [${DUT_PORTS.join(', ')}]`,
    'backend: xdp',
    'xdp: { mode: native }',
    'ecmp: { hash: kernel }',
    `metrics: { listen: "127.0.0.1:${metricsPort}" }`,
    'keepalive: { interval: 2s }',
    'log: { level: info }',
    '',
  ].join('\n');
}

/**
 * The MAC a modified-EUI-64 IPv6 interface identifier encodes (RFC 4291
 * appendix A): fe80::f0:ff:fe00:102 → 02:f0:00:00:01:02. Null when the
 * identifier is not EUI-64 derived (no ff:fe in the middle).
 */
export function macFromEui64(address: string): string | null {
  const groups = expandIpv6(address);
  if (groups === null) return null;
  const iid = groups.slice(4).flatMap((g) => [g >> 8, g & 0xff]);
  if (iid[3] !== 0xff || iid[4] !== 0xfe) return null;
  const mac = [iid[0]! ^ 0x02, iid[1]!, iid[2]!, iid[5]!, iid[6]!, iid[7]!];
  return mac.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function expandIpv6(address: string): number[] | null {
  const [head, tail, ...more] = address.split('::');
  if (more.length > 0) return null;
  const parse = (s: string | undefined): number[] | null => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  if (h === null || t === null) return null;
  if (tail === undefined) return h.length === 8 ? h : null;
  const fill = 8 - h.length - t.length;
  return fill < 1 ? null : [...h, ...new Array<number>(fill).fill(0), ...t];
}

/** Binaries the lab runs, and the Debian package that provides each. */
export const LAB_TOOLS: readonly { readonly path: string; readonly pkg: string }[] = [
  { path: 'ip', pkg: 'iproute2' },
  { path: 'nsenter', pkg: 'util-linux' },
  { path: 'bpftool', pkg: 'bpftool' },
  { path: 'ethtool', pkg: 'ethtool' },
  { path: 'ping', pkg: 'iputils-ping' },
  { path: 'vtysh', pkg: 'frr' },
  { path: '/usr/lib/frr/zebra', pkg: 'frr' },
  { path: '/usr/lib/frr/bgpd', pkg: 'frr' },
];

/** The packages to install for the tools `present` says are missing (deduplicated, in order). */
export function missingPackages(present: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const t of LAB_TOOLS) if (!present(t.path) && !out.includes(t.pkg)) out.push(t.pkg);
  return out;
}

/** Lab names become namespace-name prefixes and a directory name. */
export function labNameProblem(name: string): string | null {
  return /^[a-z][a-z0-9-]{0,15}$/.test(name) ? null : 'expected 1-16 characters: a lower-case letter, then letters, digits or "-"';
}
