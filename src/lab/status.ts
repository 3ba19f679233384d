// `lab status`: BGP sessions (with each peer's link-local and the MAC it
// encodes), dut's BGP routes as the agent's mirror resolves them, what the
// plan does with them, and the agent's own /status and key metrics.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusJson } from '../daemon/status.js';
import { LabError } from '../errors.js';
import { NsHttp } from '../netns/http.js';
import { Lab, readState } from './env.js';
import { bgpSessions, peerLinkLocal, type BgpSession } from './frr.js';
import { DESTINATIONS, ROUTERS, UPSTREAM_PORT, macFromEui64 } from './topology.js';

export interface LabStatus {
  readonly lab: string;
  readonly nexthopObjects: boolean;
  readonly processes: { readonly name: string; readonly pid: number | null; readonly running: boolean }[];
  readonly sessions: BgpSession[];
  readonly peers: { readonly dev: string; readonly linkLocal: string | null; readonly mac: string | null }[];
  readonly routes: ShowRoute[];
  readonly plan: { readonly dst: string; readonly action: string; readonly members: { dev: string; dmac: string }[] }[];
  readonly agent: StatusJson | null;
  readonly metrics: Record<string, number>;
  /** `--frr 10`: the FRR version, and each upstream prefix as dut's zebra reports it (from the agent's FPM replies). */
  readonly frr10?: { readonly version: string; readonly offload: ZebraOffload[] };
}

export interface ZebraOffload {
  readonly dst: string;
  /** zebra's flags for its selected route: offloaded (RTM_F_OFFLOAD), trapped (RTM_F_TRAP), failed (RTM_F_OFFLOAD_FAILED), queued (no answer yet). */
  readonly state: 'offloaded' | 'offloaded, trapped' | 'offload failed' | 'queued' | 'installed' | 'absent';
}

interface ZebraRouteJson { selected?: boolean; queued?: boolean; offloaded?: boolean; trapped?: boolean; installed?: boolean }

/** What dut's zebra says of each upstream prefix (show ip[v6] route PREFIX json). */
async function zebraOffload(lab: Lab): Promise<ZebraOffload[]> {
  const out: ZebraOffload[] = [];
  for (const d of DESTINATIONS) {
    const j = JSON.parse(await lab.vtysh('dut', `show ${d.prefix.includes(':') ? 'ipv6' : 'ip'} route ${d.prefix} json`)) as Record<string, ZebraRouteJson[]>;
    const r = (j[d.prefix] ?? []).find((x) => x.selected) ?? j[d.prefix]?.[0];
    const state: ZebraOffload['state'] = !r ? 'absent' : r.queued ? 'queued' : r.offloaded === false ? 'offload failed'
      : r.offloaded ? (r.trapped ? 'offloaded, trapped' : 'offloaded') : 'installed';
    out.push({ dst: d.prefix, state });
  }
  return out;
}

interface ShowRoute {
  family: number;
  dst: string;
  protocol: string;
  nexthops: { dev: string; gateway: string | null; mac: string | null; resolved: boolean }[];
}
interface PlanJson {
  groups: { id: number; members: { dev: string; dmac: string }[] }[];
  entries: { dst: string; action: string; group?: number; reason?: string }[];
}

/** Metric series worth a line in the summary (name without the fib_offload_ prefix, labels included). */
const METRICS = [
  /^fib_offload_routes\{/,
  /^fib_offload_entries\{/,
  /^fib_offload_degraded /,
  /^fib_offload_adjacency_groups /,
  /^fib_offload_event_to_install_seconds_(count|sum) /,
  /^fib_offload_resyncs_total\{/,
  /^fib_offload_xdp_packets\{verdict="(forwarded|no_route|route_punt|ttl)"\}/,
  /^fib_offload_neighbor_refreshes_total /,
];

export async function labStatus(name: string): Promise<LabStatus> {
  const state = readState(name);
  if (state === null) throw new LabError(`lab ${name} is not up (fib-offload lab up)`);
  const lab = new Lab(name);
  const frrDir = (r: typeof ROUTERS[number]): string => (state.frr10 ? join(state.frr10.root, 'run/frr', lab.ns(r)) : join(lab.dir, r));
  const processes = [
    pidStatus('agent', join(lab.dir, 'agent.pid')),
    ...ROUTERS.flatMap((r) => ['zebra', 'bgpd'].map((d) => pidStatus(`${r} ${d}`, join(frrDir(r), `${d}.pid`)))),
  ];
  const sessions = await bgpSessions(lab).catch(() => []);
  const peers = await Promise.all(
    Object.values(UPSTREAM_PORT).map(async (dev) => {
      const ll = await peerLinkLocal(lab, dev).catch(() => null);
      return { dev, linkLocal: ll, mac: ll ? macFromEui64(ll) : null };
    }),
  );
  const show = await lab.cliJson<{ routes: ShowRoute[] }>('dut', 'show', '--json', '--config', join(lab.dir, 'agent.yaml'));
  const routes = show.routes.filter((r) => r.protocol === 'bgp');
  const planJson = await lab.cliJson<PlanJson>('dut', 'plan', '--json', '--config', join(lab.dir, 'agent.yaml'));
  const plan = DESTINATIONS.map((d) => {
    const e = planJson.entries.find((x) => x.dst === d.prefix);
    const g = e?.group !== undefined ? planJson.groups.find((x) => x.id === e.group) : undefined;
    return { dst: d.prefix, action: e ? `${e.action}${e.reason ? ` (${e.reason})` : ''}` : 'absent', members: g?.members.map((m) => ({ dev: m.dev, dmac: m.dmac })) ?? [] };
  });
  const { agent, metrics } = await agentView(lab, state.metricsPort);
  const frr10 = state.frr10 ? { version: state.frr10.version, offload: await zebraOffload(lab).catch(() => []) } : undefined;
  return { lab: name, nexthopObjects: state.nexthopObjects, processes, sessions, peers, routes, plan, agent, metrics, ...(frr10 ? { frr10 } : {}) };
}

async function agentView(lab: Lab, port: number): Promise<{ agent: StatusJson | null; metrics: Record<string, number> }> {
  const http = new NsHttp({ name: lab.ns('dut') }, 2000);
  try {
    const s = await http.get(`http://127.0.0.1:${port}/status`).catch(() => null);
    const m = await http.get(`http://127.0.0.1:${port}/metrics`).catch(() => null);
    const metrics: Record<string, number> = {};
    for (const line of (m?.body ?? '').split('\n')) {
      if (!METRICS.some((re) => re.test(line))) continue;
      const i = line.lastIndexOf(' ');
      metrics[line.slice('fib_offload_'.length, i)] = Number(line.slice(i + 1));
    }
    return { agent: s?.status === 200 ? (JSON.parse(s.body) as StatusJson) : null, metrics };
  } finally {
    http.stop();
  }
}

function pidStatus(name: string, file: string): LabStatus['processes'][number] {
  if (!existsSync(file)) return { name, pid: null, running: false };
  const pid = Number(readFileSync(file, 'utf8').trim());
  return { name, pid, running: existsSync(`/proc/${pid}`) };
}

export function labStatusText(s: LabStatus): string {
  const out: string[] = [`lab ${s.lab} (FRR kernel nexthop objects ${s.nexthopObjects ? 'on' : 'off'})`, ''];
  out.push('processes: ' + s.processes.map((p) => `${p.name} ${p.running ? `pid ${p.pid}` : 'NOT RUNNING'}`).join(', '));
  out.push('', 'BGP sessions at dut:');
  for (const x of s.sessions) {
    out.push(`  ${x.peer.padEnd(5)} ${(x.hostname ?? '?').padEnd(3)} ${x.afi} ${x.state.padEnd(12)} up ${(x.uptimeMs / 1000).toFixed(0)} s, ${x.prefixesReceived} prefixes received`);
  }
  for (const p of s.peers) out.push(`  peer on ${p.dev}: link-local ${p.linkLocal ?? '?'} → MAC ${p.mac ?? '?'}`);
  out.push('', "dut's BGP routes (as the agent resolves them):");
  for (const r of s.routes) {
    const nh = r.nexthops.map((n) => `${n.gateway ?? 'direct'} dev ${n.dev} ${n.mac ?? 'unresolved'}`).join(' | ');
    out.push(`  ${r.dst.padEnd(20)} ${nh}`);
  }
  out.push('', 'plan:');
  for (const p of s.plan) {
    out.push(`  ${p.dst.padEnd(20)} ${p.action}${p.members.length ? ` → ${p.members.map((m) => `${m.dev} ${m.dmac}`).join(', ')}` : ''}`);
  }
  if (s.frr10) {
    out.push('', `offload as dut's zebra (FRR ${s.frr10.version}) reports it, from the agent's FPM replies:`);
    for (const z of s.frr10.offload) out.push(`  ${z.dst.padEnd(20)} ${z.state}`);
  }
  out.push('', 'agent:');
  if (s.agent === null) out.push('  not answering on its metrics address');
  else {
    const a = s.agent;
    out.push(`  ready ${a.ready}, backend ${a.backend}; ports ${a.ports.map((p) => `${p.dev}(${p.backend}${p.attached ? ` ${p.attached}` : ''})`).join(' ')}`);
    if (a.counts) out.push(`  ${a.counts.routes} routes → ${a.counts.forward} forward + ${a.counts.punt} punt entries, ${a.counts.groups} groups, ${a.counts.unresolved} unresolved`);
    out.push(`  ${a.events.applied} events in ${a.events.batches} batches; last error: ${a.lastError ? JSON.stringify(a.lastError) : 'none'}`);
    if (a.fpm) out.push(`  fpm: zebra ${a.fpm.connected ? 'connected' : 'NOT connected'}, ${a.fpm.routes} routes; answers ${a.fpm.verdicts.offload} offload, ${a.fpm.verdicts.kernel} trap, ${a.fpm.verdicts.failed} failed, ${a.fpm.verdicts.wait} waiting`);
  }
  for (const [k, v] of Object.entries(s.metrics)) out.push(`  ${k} ${v}`);
  return out.join('\n') + '\n';
}
