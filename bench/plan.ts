// Plan benchmark: a synthetic 1M-route mirror (no kernel needed), then
// buildPlan, a neighbour MAC change and diffPlans. Figures only, no assertions.
import { Mirror } from '../src/mirror/mirror.js';
import type { KernelSnapshot, Link, Neighbor, Route, RouteNexthop } from '../src/model/index.js';
import { buildPlan, diffPlans } from '../src/plan/index.js';
import { PlanState } from '../src/plan/incremental.js';

export interface PlanBenchResult {
  routes: number;
  mirrorBuildSeconds: number;
  planSeconds: number;
  planEntries: number;
  planGroups: number;
  replanAfterMacChangeSeconds: number;
  diffSeconds: number;
  diffOps: number;
  diffGroupOps: number;
  heapMB: number;
  /**
   * Memory held after a forced collection (the bench runs in a child with
   * --expose-gc, bench/plan-worker.ts): the mirror alone (its snapshot
   * dropped), then one PlanState on top; heap and outside-the-heap
   * (typed-array columns) separately, MB.
   */
  memory?: { mirrorHeapMB: number; mirrorExternalMB: number; planHeapMB: number; planExternalMB: number };
  /** `steps` single-route changes (a /24 added, then removed), each planned incrementally: PlanState.next, ms. */
  steps?: { count: number; p50: number; p99: number; max: number };
}

const link = (ifindex: number, name: string): Link => ({
  ifindex, name, mac: `02:00:00:00:00:${ifindex.toString(16).padStart(2, '0')}`, adminUp: true, carrier: true,
  operState: 'up', mtu: 1500, master: null, kind: 'veth', vrfTable: null, physSwitchId: null, physPortName: null,
});
const gw = (gateway: string, ifindex: number, weight = 1): RouteNexthop =>
  ({ ifindex, gateway, gatewayFamily: 4, weight, onlink: false, linkdown: false, dead: false });
const neigh = (ifindex: number, address: string, mac: string): Neighbor =>
  ({ ifindex, family: 4, address, mac, state: 'reachable', flags: 0 });

/** 1M /24s: 70% single path over 4 gateways, 30% 2-way ECMP, like a BGP full table over a few peers. */
export function syntheticSnapshot(n: number): KernelSnapshot {
  const links = [1, 2, 3, 4].map((i) => link(i + 1, `eth${i}`));
  const gws = [gw('10.1.0.2', 2), gw('10.2.0.2', 3), gw('10.3.0.2', 4), gw('10.4.0.2', 5)];
  const ecmp = [[gws[0]!, gws[1]!], [gws[2]!, gws[3]!]];
  const routes: Route[] = [];
  for (let i = 0; i < n; i++) {
    routes.push({
      table: 254, family: 4, dst: `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0`, dstLen: 24, type: 'unicast',
      protocol: 186, priority: 20, scope: 0, tos: 0, nhId: null, prefsrc: null, flags: 0,
      nexthops: i % 10 < 3 ? ecmp[i & 1]! : [gws[i & 3]!],
    });
  }
  return {
    links, addresses: [], nexthops: [], routes,
    neighbors: gws.map((g, k) => neigh(g.ifindex!, g.gateway!, `02:00:00:00:01:0${k}`)),
  };
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function benchPlan(n: number): PlanBenchResult {
  const snapshot = syntheticSnapshot(n);
  let t = process.hrtime.bigint();
  const mirror = Mirror.fromSnapshot(snapshot);
  const mirrorBuildSeconds = seconds(t);
  const opts = { ports: ['eth*'] };
  t = process.hrtime.bigint();
  const before = buildPlan(mirror, opts);
  const planSeconds = seconds(t);
  mirror.apply({ kind: 'neigh', op: 'new', neighbor: neigh(2, '10.1.0.2', '02:00:00:00:01:99') });
  t = process.hrtime.bigint();
  const after = buildPlan(mirror, { ...opts, previous: before });
  const replanAfterMacChangeSeconds = seconds(t);
  t = process.hrtime.bigint();
  const ops = diffPlans(before, after);
  const diffSeconds = seconds(t);
  return {
    routes: n, mirrorBuildSeconds, planSeconds, planEntries: before.entries.length, planGroups: before.groups.length,
    replanAfterMacChangeSeconds, diffSeconds, diffOps: ops.length,
    diffGroupOps: ops.filter((o) => o.op.startsWith('group')).length,
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

/** In a function of its own, so no frame of the caller keeps the snapshot reachable. */
function mirrorOf(n: number): Mirror {
  return Mirror.fromSnapshot(syntheticSnapshot(n));
}

/** A /24 outside the synthetic table, via the first gateway. */
function stepRoute(i: number): Route {
  return {
    table: 254, family: 4, dst: `172.${16 + ((i >> 8) % 16)}.${i & 255}.0`, dstLen: 24, type: 'unicast', protocol: 186,
    priority: 20, scope: 0, tos: 0, nhId: null, prefsrc: null, flags: 0, nexthops: [gw('10.1.0.2', 2)],
  };
}

/**
 * What the daemon holds for a table of n routes, and the cost of one route
 * change on it: the mirror's and one plan state's memory after forced
 * collections (needs --expose-gc), then `steps` changes planned one by one.
 */
export function benchPlanMemory(n: number, steps = 2000): Pick<PlanBenchResult, 'memory' | 'steps'> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('benchPlanMemory needs node --expose-gc');
  const mem = (): { heap: number; ext: number } => {
    gc(); gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed / 2 ** 20, ext: m.arrayBuffers / 2 ** 20 };
  };
  const m0 = mem();
  const mirror = mirrorOf(n);
  const m1 = mem();
  const opts = { ports: ['eth*'] };
  let state = PlanState.build(mirror, opts);
  const m2 = mem();
  const times: number[] = [];
  for (let k = 0; k < steps; k++) {
    const d = mirror.apply({ kind: 'route', op: k % 2 === 0 ? 'new' : 'del', route: stepRoute(k - (k % 2)) });
    const t = performance.now();
    state = state.next(mirror, d, { ...opts, previous: state.plan }).state;
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const q = (p: number): number => times[Math.floor(p * (times.length - 1))]!;
  return {
    memory: { mirrorHeapMB: m1.heap - m0.heap, mirrorExternalMB: m1.ext - m0.ext, planHeapMB: m2.heap - m1.heap, planExternalMB: m2.ext - m1.ext },
    steps: { count: steps, p50: q(0.5), p99: q(0.99), max: q(1) },
  };
}
