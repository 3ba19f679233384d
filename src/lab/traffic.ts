// `lab traffic`: UDP flows from h1 to every upstream prefix, one destination
// at a time, and per path (dut's egress port and the neighbour MAC it writes)
// how many packets the offload forwarded — from the agent's own per-member
// counters in its pinned maps — and how many more frames left on that port
// through the kernel in the same window. Then a ping per destination, to show
// the round trip works (both directions go through dut).
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { PinnedMaps } from '../xdp/maps.js';
import { VERDICTS, type Verdict } from '../xdp/layout.js';
import { Lab, readState, type LabState } from './env.js';
import { DESTINATIONS, H1_ADDRESS, LINKS, UPSTREAM_PORT, type Destination, type LabRole, type Upstream } from './topology.js';

export interface TrafficOptions {
  readonly name: string;
  readonly kernelForwarding: boolean;
  /** UDP flows per destination (distinct source ports) and packets per flow. */
  readonly flows?: number;
  readonly packetsPerFlow?: number;
}

export interface PathResult {
  readonly dev: string;
  /** Who has `dmac`: r1 or r2 on the way out; h1 for replies coming back (ICMP errors for the UDP, echo replies). */
  readonly router: LabRole | null;
  readonly dmac: string;
  readonly offloaded: number;
  /** Other frames dut's kernel sent on `dev` in the window: forwarded by it, or its own (BGP, ND). */
  readonly kernel: number;
}

export interface DestinationResult {
  readonly prefix: string;
  readonly address: string;
  readonly sent: number;
  readonly paths: PathResult[];
  /** Packets the program handed to dut's kernel in the window, by reason. */
  readonly toKernel: Partial<Record<Verdict, number>>;
  /** The kernel's own forwarding counter (Ip ForwDatagrams / Ip6 OutForwDatagrams) in the window. */
  readonly kernelForwarded: number;
  readonly ping: { readonly sent: number; readonly received: number; readonly ttl: number | null };
}

export interface TrafficResult {
  readonly lab: string;
  readonly forwarding: boolean;
  readonly destinations: DestinationResult[];
}

/** Sends `flows` × `count` UDP datagrams to argv's destination from distinct source ports; prints the number sent. */
const GENERATOR = `
const dgram = require('node:dgram');
const [dst, family, flows, count] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const payload = Buffer.alloc(64, 0x6c);
let sent = 0;
(async () => {
  for (let f = 0; f < flows; f++) {
    const s = dgram.createSocket(family === '6' ? 'udp6' : 'udp4');
    await new Promise((r) => s.bind(41000 + f, r));
    for (let i = 0; i < count; i++) {
      await new Promise((r, j) => s.send(payload, 9, dst, (e) => (e ? j(e) : r())));
      sent++;
    }
    s.close();
  }
  process.stdout.write(String(sent) + '\\n');
})().catch((e) => { process.stderr.write(String(e && e.message || e) + '\\n'); process.exit(1); });
`;

export async function labTraffic(opts: TrafficOptions): Promise<TrafficResult> {
  const state = readState(opts.name);
  if (state === null) throw new LabError(`lab ${opts.name} is not up (fib-offload lab up)`);
  if (!state.dutNetns) throw new LabError(`lab ${opts.name} is incomplete (no dut namespace recorded): lab down, then lab up`);
  const lab = new Lab(opts.name);
  const keys = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'] as const;
  const before = await Promise.all(keys.map((k) => lab.readSysctl('dut', k)));
  const want = opts.kernelForwarding ? '1' : '0';
  await lab.sysctl('dut', Object.fromEntries(keys.map((k) => [k, want])));
  try {
    const destinations: DestinationResult[] = [];
    for (const d of DESTINATIONS) destinations.push(await measure(lab, state, d, opts.flows ?? 32, opts.packetsPerFlow ?? 16));
    return { lab: opts.name, forwarding: opts.kernelForwarding, destinations };
  } finally {
    await lab.sysctl('dut', Object.fromEntries(keys.map((k, i) => [k, before[i]!])));
  }
}

interface Snapshot {
  readonly members: Map<string, number>;
  readonly verdicts: Record<Verdict, number>;
  readonly tx: Map<string, number>;
  readonly forwarded: number;
}

async function measure(lab: Lab, state: LabState, d: Destination, flows: number, count: number): Promise<DestinationResult> {
  const names = await ifnames(lab);
  const a = await snapshot(lab, state, d.family);
  const out = await lab.exec('h1', [process.execPath, '-e', GENERATOR, d.address, String(d.family), String(flows), String(count)], `send UDP flows to ${d.address}`);
  await new Promise((r) => setTimeout(r, 100));
  const b = await snapshot(lab, state, d.family);

  const paths: PathResult[] = [];
  const offloadedOn = new Map<string, number>();
  for (const [key, n] of b.members) {
    const delta = n - (a.members.get(key) ?? 0);
    if (delta <= 0) continue;
    const [ifindex, dmac] = key.split('/') as [string, string];
    const dev = names.get(Number(ifindex)) ?? `ifindex ${ifindex}`;
    offloadedOn.set(dev, (offloadedOn.get(dev) ?? 0) + delta);
    paths.push({ dev, router: routerByMac(dmac), dmac, offloaded: delta, kernel: 0 });
  }
  // Every upstream port the destination could leave by, even one nothing took.
  for (const r of d.via) {
    const dev = UPSTREAM_PORT[r];
    if (!paths.some((p) => p.dev === dev)) paths.push({ dev, router: r, dmac: routerMac(r), offloaded: 0, kernel: 0 });
  }
  const withKernel = paths.map((p) => ({
    ...p,
    kernel: Math.max(0, (b.tx.get(p.dev) ?? 0) - (a.tx.get(p.dev) ?? 0) - (offloadedOn.get(p.dev) ?? 0)),
  }));
  withKernel.sort((x, y) => x.dev.localeCompare(y.dev));
  const toKernel: Partial<Record<Verdict, number>> = {};
  for (const v of VERDICTS) {
    if (v === 'forwarded') continue;
    const delta = b.verdicts[v] - a.verdicts[v];
    if (delta > 0) toKernel[v] = delta;
  }
  return {
    prefix: d.prefix,
    address: d.address,
    sent: Number(out.trim()),
    paths: withKernel,
    toKernel,
    kernelForwarded: b.forwarded - a.forwarded,
    ping: await ping(lab, d),
  };
}

async function snapshot(lab: Lab, state: LabState, family: 4 | 6): Promise<Snapshot> {
  const maps = PinnedMaps.open(join('/sys/fs/bpf', 'fib-offload', `ns${state.dutNetns}`, 'maps'));
  let members: Map<string, number>;
  let verdicts: Record<Verdict, number>;
  try {
    members = new Map();
    for (const c of maps.memberCounters()) {
      const key = `${c.ifindex}/${c.dmac}`;
      members.set(key, (members.get(key) ?? 0) + Number(c.packets));
    }
    const v = maps.verdicts();
    verdicts = Object.fromEntries(VERDICTS.map((n) => [n, Number(v[n].packets)])) as Record<Verdict, number>;
  } finally {
    maps.close();
  }
  const links = await lab.ipJson<{ ifname: string; stats64?: { tx?: { packets?: number } } }[]>('dut', '-s', 'link', 'show');
  const tx = new Map(links.map((l) => [l.ifname, l.stats64?.tx?.packets ?? 0]));
  return { members, verdicts, tx, forwarded: await kernelForwarded(lab, family) };
}

/** Ip ForwDatagrams (IPv4) or Ip6OutForwDatagrams (IPv6), read inside dut. */
async function kernelForwarded(lab: Lab, family: 4 | 6): Promise<number> {
  if (family === 4) {
    const snmp = await lab.exec('dut', ['cat', '/proc/net/snmp'], 'read /proc/net/snmp');
    const [names, values] = snmp.split('\n').filter((l) => l.startsWith('Ip: '));
    const i = names?.split(' ').indexOf('ForwDatagrams') ?? -1;
    return i < 0 ? 0 : Number(values?.split(' ')[i] ?? 0);
  }
  const snmp6 = await lab.exec('dut', ['cat', '/proc/net/snmp6'], 'read /proc/net/snmp6');
  const m = /^Ip6OutForwDatagrams\s+(\d+)/m.exec(snmp6);
  return m ? Number(m[1]) : 0;
}

async function ping(lab: Lab, d: Destination): Promise<DestinationResult['ping']> {
  const { stdout: out } = await lab.probe('h1', ['ping', '-n', `-${d.family}`, '-c', '3', '-i', '0.2', '-W', '1', d.address]);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const ttl = /(?:ttl|hlim)=(\d+)/.exec(out);
  return { sent: m ? Number(m[1]) : 3, received: m ? Number(m[2]) : 0, ttl: ttl ? Number(ttl[1]) : null };
}

async function ifnames(lab: Lab): Promise<Map<number, string>> {
  const links = await lab.ipJson<{ ifindex: number; ifname: string }[]>('dut', 'link', 'show');
  return new Map(links.map((l) => [l.ifindex, l.ifname]));
}

function routerMac(r: Upstream): string {
  return LINKS.find((l) => l.b.role === r)!.b.mac;
}

function routerByMac(mac: string): LabRole | null {
  return LINKS.find((x) => x.b.mac === mac.toLowerCase())?.b.role ?? null;
}

export function trafficText(r: TrafficResult): string {
  const lines = [
    `traffic from h1 (${H1_ADDRESS.v4}, ${H1_ADDRESS.v6}); dut forwarding ${r.forwarding ? 'ON: the kernel forwards what the offload hands it' : 'off: only the offload can forward'}`,
    '',
    `${'destination'.padEnd(18)}${'sent'.padStart(6)}  ${'path (dut port → router, MAC)'.padEnd(36)}${'offload'.padStart(8)}${'kernel'.padStart(8)}  ping`,
  ];
  for (const d of r.destinations) {
    d.paths.forEach((p, i) => {
      const path = `${p.dev} → ${p.router === 'h1' ? 'h1 (replies)' : p.router ?? '?'} ${p.dmac}`;
      const head = i === 0 ? `${d.address.padEnd(18)}${String(d.sent).padStart(6)}` : ' '.repeat(24);
      const tail = i === 0 ? `  ${d.ping.received}/${d.ping.sent}${d.ping.ttl !== null ? ` ttl ${d.ping.ttl}` : ''}` : '';
      lines.push(`${head}  ${path.padEnd(36)}${String(p.offloaded).padStart(8)}${String(p.kernel).padStart(8)}${tail}`);
    });
    const punted = Object.entries(d.toKernel).map(([k, v]) => `${k} ${v}`).join(', ');
    if (punted || d.kernelForwarded) lines.push(`${' '.repeat(26)}handed to dut's kernel: ${punted || 'none'}; kernel forwarded ${d.kernelForwarded}`);
  }
  lines.push(
    '',
    'offload: packets the XDP program forwarded on that path (its per-neighbour counters);',
    '         "h1 (replies)" is traffic coming back: port-unreachable errors for the UDP, echo replies.',
    'handed to the kernel: what the program passed up, by reason (ttl: TTL <= 1, such as the eBGP',
    "         keepalives addressed to dut itself).",
    "kernel: other frames dut's kernel sent on that port meanwhile (forwarded by it, or its own BGP/ND).",
  );
  return lines.join('\n') + '\n';
}
