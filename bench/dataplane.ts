// Data-plane benchmark: packets per second forwarded by a `dut` namespace
// between veth-connected namespaces, h1 — dut — h2 (and h3 for ECMP), with
// (a) the kernel forwarding (ip_forward=1, no XDP) and (b) the agent's XDP
// program (`fib-offload apply --backend xdp` in dut, ip_forward=0), side by
// side: the two modes alternate within every repeat (ABBA order), so slow
// drift from other work on the machine hits both. Scenarios: one route, one
// route over a 2-way ECMP group, and a table of N routes with destinations
// spread over all of it. (c) tc software forwarding (`apply --backend tc`,
// flower rules with `not_in_hw`, ip_forward=0) where the kernel has flower:
// inside the Debian-kernel VM (bench/vm-dataplane.ts, `--only tc-dataplane`),
// where all three modes alternate within every repeat.
//
// Generator: bench-livegen (bpf/bench_livegen.c), BPF_PROG_TEST_RUN in
// live-frames mode on one CPU in h1, XDP_TX out of h1's veth. Receivers:
// bench_count.bpf.o on h2/h3 counts and drops (XDP_DROP). Layout "split":
// dut's ingress port uses threaded NAPI and its kthread is pinned to the
// forwarder CPU, the generator to another; "shared": no threaded NAPI, so
// dut's NAPI runs in the softirq of the CPU that transmitted (the
// generator's). Figures only; everything is removed afterwards, on failure
// and on Ctrl-C too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, addNs, delNs, now, removePins, sleep, stat, type Ns, type Stat } from './converge-lib.js';
import {
  Receiver, agent, cpuShare, cpuTicks, ethtoolStats, napiThreads, pinTask, setThreaded, startLivegen, startTrafgen, trafgenConfig,
  runIn, sum, vethTx, type CpuShare, type GenFlow, type Generator, type Killable,
} from './dataplane-lib.js';

export type Layout = 'split' | 'shared';
export type Mode = 'kernel' | 'xdp' | 'tc';
export type ScenarioName = '1-route' | 'ecmp-2' | 'table' | 'table-1dst';
export type GeneratorKind = 'livegen' | 'trafgen';

export interface DataplaneOptions {
  /** Routes in the "table" scenario (1M; 100k with --quick). */
  tableRoutes: number;
  /** Kernel/XDP pairs per scenario and layout. */
  repeats: number;
  /** Measured seconds per window, after `warmupSeconds` of traffic. */
  windowSeconds: number;
  warmupSeconds: number;
  layouts: Layout[];
  /** CPU for the generator, and for dut's NAPI thread in the split layout. */
  genCpu: number;
  fwdCpu: number;
  /** Also run trafgen (netsniff-ng) on the 1-route scenario, for comparison with the live-frames generator. */
  trafgen: boolean;
  /** The modes measured side by side, kernel first (default kernel, xdp; tc needs a kernel with flower, pedit, csum and mirred). */
  modes?: Mode[];
  /** Scenarios to run (default all). */
  scenarios?: ScenarioName[];
  log?: (s: string) => void;
}

export interface DataplaneWindow {
  scenario: ScenarioName;
  layout: Layout;
  generator: GeneratorKind;
  mode: Mode;
  repeat: number;
  seconds: number;
  /** Generator frames counted at the receivers, per second (all receivers), and per receiver. */
  forwardedPps: number;
  receivers: Record<string, number>;
  /** Frames the generator offered to dut's ingress in the window, per second (veth counters), and what that ring refused (full). */
  offeredPps: number;
  /** The generator's own rate over its whole run (warm-up included). */
  generatorPps: number;
  ingressDropPps: number;
  /** Where the generator's and the forwarder's CPU time went during the window (one and the same CPU in the shared layout). */
  cpu: { gen: CpuShare; fwd: CpuShare };
  /** Share of the counted frames per CPU (the receivers run in the NAPI context that forwarded them). */
  receiverCpus: number[];
}

export interface DataplaneCell {
  scenario: ScenarioName;
  layout: Layout;
  generator: GeneratorKind;
  mode: Mode;
  mpps: Stat;
  offeredMpps: Stat;
  /** Largest share of user time (other work on the machine) on the forwarding CPU in any window. */
  maxForeignUserShare: number;
}

export interface DataplaneRatio {
  scenario: ScenarioName;
  layout: Layout;
  generator: GeneratorKind;
  /** XDP Mpps / kernel Mpps of each repeat's side-by-side pair. */
  xdpOverKernel: Stat;
  /** Ratio of the medians. */
  ofMedians: number;
  /** With the tc mode: tc (software flower) Mpps / kernel Mpps per repeat, and of the medians. */
  tcOverKernel?: Stat;
  tcOfMedians?: number;
}

export interface DataplaneResult {
  topology: string;
  genCpu: number;
  fwdCpu: number;
  tableRoutes: number;
  repeats: number;
  windowSeconds: number;
  warmupSeconds: number;
  frameBytes: number;
  /** `ip -batch` creating the table's routes. */
  tableIpBatchSeconds: number;
  /** `fib-offload apply --backend xdp` (fresh load after a flush) per scenario, wall seconds. */
  applySeconds: Partial<Record<ScenarioName, Stat>>;
  windows: DataplaneWindow[];
  summary: DataplaneCell[];
  ratios: DataplaneRatio[];
  /** tc software forwarding: measured only where the kernel has flower (the VM). */
  tc: { measured: boolean; note: string };
  trafgen: { measured: boolean; note: string };
  wallSeconds: number;
}

export const TC_NOT_MEASURED = 'not measured here: the host kernel has no cls_flower/act_pedit; `npm run bench -- --only tc-dataplane` measures it in the Debian 6.1 VM';

const FRAME = 60;
/** 1M /24s from 11.0.0.0 upward, as in the ingest bench. */
const tableDst = (i: number): string => `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;

export async function benchDataplane(opts: DataplaneOptions): Promise<DataplaneResult> {
  const log = opts.log ?? (() => {});
  const pid = process.pid;
  const prefix = `fob-bench-${pid}-dp`;
  const names = { h1: `${prefix}-h1`, dut: `${prefix}-dut`, h2: `${prefix}-h2`, h3: `${prefix}-h3` };
  // dut's ports: short, unique names (the NAPI thread is found by name).
  const port = { in: `fb${pid}i`, a: `fb${pid}a`, b: `fb${pid}b` };
  const ports = `${port.in},${port.a},${port.b}`;
  const benchPins = `/sys/fs/bpf/${prefix}`;
  const tmp = join(tmpdir(), prefix);
  const children = new Set<Killable>();
  const receivers: Receiver[] = [];
  let dut: Ns | null = null;
  let agentPins = '';

  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) c.kill('SIGKILL');
    for (const r of receivers) r.close();
    if (dut) spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, CLI, 'flush'], { timeout: 60_000 });
    if (agentPins) removePins(agentPins);
    rmSync(benchPins, { recursive: true, force: true });
    for (const n of Object.values(names)) delNs(n);
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`dataplane: ${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const t0 = now();
  try {
    cleanup();
    cleaned = false;
    mkdirSync(tmp, { recursive: true });
    mkdirSync(benchPins, { recursive: true });

    // --- topology: h1 eth0 — in dut a — eth0 h2 ; dut b — eth0 h3 --------
    const h1 = addNs(names.h1);
    const d = addNs(names.dut);
    dut = d;
    const h2 = addNs(names.h2);
    const h3 = addNs(names.h3);
    for (const ns of [h1, d, h2, h3]) ns.sysctl('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    const links = [[port.in, h1, 1], [port.a, h2, 2], [port.b, h3, 3]] as const;
    for (const [dev, peer, n] of links) {
      d.ip('link', 'add', 'name', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer.name);
      d.ip('link', 'set', 'dev', dev, 'up');
      peer.ip('link', 'set', 'dev', 'eth0', 'up');
      d.ip('addr', 'add', `10.${n}.0.1/24`, 'dev', dev);
      peer.ip('addr', 'add', `10.${n}.0.2/24`, 'dev', 'eth0');
    }
    for (const [dev, peer] of links) {
      await d.waitCarrier(dev);
      await peer.waitCarrier('eth0');
    }
    // Every neighbour resolved for good: no ARP, no NUD timers during a window.
    for (const [dev, peer, n] of links) d.ip('neigh', 'replace', `10.${n}.0.2`, 'lladdr', peer.mac('eth0'), 'dev', dev, 'nud', 'permanent');
    // ECMP hashes on L4 (the generator varies the UDP source port); the agent follows the kernel's policy.
    d.sysctl('net.ipv4.fib_multipath_hash_policy=1');
    // dut's ingress veth needs NAPI for frames sent with ndo_xdp_xmit when no XDP program is attached
    // (kernel mode): GRO on gives it one.
    runIn(d, 'ethtool', '-K', port.in, 'gro', 'on');
    for (const [, peer] of links.slice(1)) runIn(peer, 'ethtool', '-K', 'eth0', 'tx', 'off');
    receivers.push(Receiver.attach(h2, 'eth0', benchPins, 'h2'), Receiver.attach(h3, 'eth0', benchPins, 'h3'));
    agentPins = d.pinDir();
    const macs = { h1: h1.mac('eth0'), in: d.mac(port.in) };

    let mode: Mode | null = null;
    let layout: Layout | null = null;
    const applySeconds: Partial<Record<ScenarioName, number[]>> = {};
    // tc installs one rule per route (tc.compress off), so its table scenario holds as many rules as routes.
    const tcConfig = join(tmp, 'tc.yaml');
    writeFileSync(tcConfig, 'tc: { policy: sw, compress: false }\n');
    const setMode = (want: Mode, scenario: ScenarioName): void => {
      if (want === mode) return;
      if (mode !== null && mode !== 'kernel') agent(d, 'flush');
      if (want === 'kernel') {
        if (mode === null) agent(d, 'flush');
        d.sysctl('net.ipv4.ip_forward=1');
      } else {
        d.sysctl('net.ipv4.ip_forward=0');
        const t = now();
        if (want === 'xdp') agent(d, 'apply', '--backend', 'xdp', '--ports', ports);
        else agent(d, 'apply', '--config', tcConfig, '--backend', 'tc', '--ports', ports);
        (applySeconds[scenario] ??= []).push((now() - t) / 1e3);
      }
      mode = want;
    };
    // Attaching or detaching XDP can replace the NAPI thread: pin whatever is there now.
    const placeForwarder = async (): Promise<void> => {
      if (layout !== 'split') return;
      for (let tries = 0; ; tries++) {
        const pids = napiThreads(port.in);
        try {
          if (pids.length === 0) throw new Error(`no NAPI thread for ${port.in}`);
          for (const p of pids) pinTask(p, opts.fwdCpu);
          return;
        } catch (err) {
          if (tries >= 20) throw err;
          await sleep(50); // a thread that was exiting, or not started yet
        }
      }
    };
    const setLayout = (want: Layout): void => {
      if (want === layout) return;
      setThreaded(d, port.in, want === 'split');
      layout = want;
    };

    /** The CPU dut forwards on: its NAPI thread's (split), else the generator's (shared). */
    const fwdCpu = (): number => (layout === 'split' ? opts.fwdCpu : opts.genCpu);
    const windows: DataplaneWindow[] = [];
    let tableIpBatchSeconds = NaN;
    const measure = async (scenario: ScenarioName, gen: GeneratorKind, flow: GenFlow, repeat: number, conf: string): Promise<DataplaneWindow> => {
      await placeForwarder();
      const maxSeconds = opts.warmupSeconds + opts.windowSeconds + 30;
      const g: Generator = gen === 'livegen'
        ? startLivegen(h1, 'eth0', opts.genCpu, flow, maxSeconds, children)
        : startTrafgen(h1, 'eth0', opts.genCpu, conf, children);
      let stopped = false;
      try {
        await sleep(opts.warmupSeconds * 1000);
        const r0 = receivers.map((r) => r.perCpu());
        const c0 = cpuTicks();
        const ta = now();
        const e0 = ethtoolStats(h1, 'eth0');
        const v0 = vethTx(h1, 'eth0');
        await sleep(opts.windowSeconds * 1000);
        const r1 = receivers.map((r) => r.perCpu());
        const c1 = cpuTicks();
        const tb = now();
        const e1 = ethtoolStats(h1, 'eth0');
        const v1 = vethTx(h1, 'eth0');
        stopped = true;
        const rep = await g.stop();
        const seconds = (tb - ta) / 1e3;
        const perCpu = r0[0]!.map((_, cpu) => receivers.reduce((a, _r, i) => a + r1[i]![cpu]! - r0[i]![cpu]!, 0));
        const total = perCpu.reduce((a, b) => a + b, 0);
        // veth reports the frames sent into its peer's ring (and those refused, ring full) as tx_queue_N_xdp_xmit(_errors).
        const ethSum = (e: Record<string, number>, re: RegExp): number => Object.entries(e).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
        const xmitErrors = (e: Record<string, number>): number => ethSum(e, /^tx_queue_\d+_xdp_xmit_errors$/);
        const xdpXmit = (e: Record<string, number>): number => ethSum(e, /^tx_queue_\d+_xdp_xmit$/);
        const w: DataplaneWindow = {
          scenario, layout: layout!, generator: gen, mode: mode!, repeat, seconds,
          forwardedPps: total / seconds,
          receivers: Object.fromEntries(receivers.map((r, i) => [r.name, (sum(r1[i]!) - sum(r0[i]!)) / seconds])),
          offeredPps: gen === 'livegen'
            ? (xdpXmit(e1) + xmitErrors(e1) - xdpXmit(e0) - xmitErrors(e0)) / seconds
            : (v1.packets + v1.dropped - v0.packets - v0.dropped) / seconds,
          generatorPps: rep.pps,
          ingressDropPps: gen === 'livegen' ? (xmitErrors(e1) - xmitErrors(e0)) / seconds : (v1.dropped - v0.dropped) / seconds,
          cpu: { gen: cpuShare(c0[opts.genCpu]!, c1[opts.genCpu]!), fwd: cpuShare(c0[fwdCpu()]!, c1[fwdCpu()]!) },
          receiverCpus: perCpu.map((x) => (total > 0 ? x / total : 0)),
        };
        if (total === 0) throw new Error(`dataplane: nothing arrived (${scenario}, ${w.layout}, ${w.mode}, ${gen}): offered ${rep.pps.toFixed(0)} pps`);
        return w;
      } finally {
        if (!stopped) await g.stop().catch(() => undefined);
      }
    };

    const scenarios: Array<{ name: ScenarioName; flow: GenFlow; routes: () => void }> = [
      {
        name: '1-route',
        flow: flowTo('198.51.100.10', 1, 1),
        routes: () => d.ip('route', 'replace', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', port.a, 'proto', 'static'),
      },
      {
        name: 'ecmp-2',
        flow: flowTo('198.51.100.10', 256, 1),
        routes: () => d.ip('route', 'replace', '198.51.100.0/24', 'proto', 'static',
          'nexthop', 'via', '10.2.0.2', 'dev', port.a, 'nexthop', 'via', '10.3.0.2', 'dev', port.b),
      },
      {
        name: 'table',
        flow: flowTo('11.0.0.10', 1, opts.tableRoutes),
        routes: () => {
          d.ip('route', 'replace', '198.51.100.0/24', 'via', '10.2.0.2', 'dev', port.a, 'proto', 'static');
          const file = join(tmp, 'table');
          writeFileSync(file, Array.from({ length: opts.tableRoutes }, (_, i) => `route add ${tableDst(i)} via 10.2.0.2 dev ${port.a} proto bgp`).join('\n') + '\n');
          log(`dataplane: creating ${opts.tableRoutes} routes with ip -batch`);
          const t = now();
          d.ip('-batch', file);
          tableIpBatchSeconds = (now() - t) / 1e3;
        },
      },
      {
        // The same table, every frame to one of its routes: the lookup stays in cache.
        name: 'table-1dst',
        flow: flowTo('11.0.0.10', 1, 1),
        routes: () => {},
      },
    ];
    function flowTo(dstIp: string, sportCount: number, dstCount: number): GenFlow {
      return { srcMac: macs.h1, dstMac: macs.in, srcIp: '10.1.0.2', dstIp, sportCount, dstCount, dstStride: 256 };
    }
    let trafgenNote = opts.trafgen ? '' : 'not run (--dataplane-trafgen runs it on the 1-route scenario)';
    const modes: Mode[] = opts.modes ?? ['kernel', 'xdp'];
    for (const sc of scenarios.filter((x) => opts.scenarios === undefined || opts.scenarios.includes(x.name))) {
      // A table of routes is installed by a fresh apply: start each scenario from the kernel.
      setMode('kernel', sc.name);
      sc.routes();
      // trafgen runs in the shared layout only: split, veth's full ring pushes back (NETDEV_TX_BUSY)
      // and trafgen's TX ring gives up with EAGAIN and exits.
      let conf = '';
      let layouts = opts.layouts;
      if (opts.trafgen && sc.name === '1-route') {
        if (onPath('trafgen')) {
          conf = join(tmp, 'trafgen.cfg');
          writeFileSync(conf, trafgenConfig(sc.flow));
          if (!layouts.includes('shared')) layouts = [...layouts, 'shared'];
        } else trafgenNote = 'trafgen not installed (Debian package netsniff-ng)';
      }
      for (const lay of layouts) {
        setLayout(lay);
        const gens: GeneratorKind[] = conf && lay === 'shared' ? ['livegen', 'trafgen'] : ['livegen'];
        for (const gen of gens) {
          for (let r = 0; r < opts.repeats; r++) {
            for (const m of r % 2 === 0 ? modes : [...modes].reverse()) {
              setMode(m, sc.name);
              const w = await measure(sc.name, gen, sc.flow, r, conf);
              windows.push(w);
              log(`dataplane: ${sc.name} ${lay} ${gen} ${m} #${r + 1}: ${(w.forwardedPps / 1e6).toFixed(3)} Mpps forwarded ` +
                `(offered ${(w.offeredPps / 1e6).toFixed(2)}, ring drops ${(w.ingressDropPps / 1e6).toFixed(2)}; ` +
                `fwd CPU kernel ${(w.cpu.fwd.kernel * 100).toFixed(0)}% other ${(w.cpu.fwd.user * 100).toFixed(0)}%)`);
            }
          }
        }
      }
    }
    if (opts.trafgen && trafgenNote === '') trafgenNote = 'measured on the 1-route scenario, shared layout only (split, trafgen exits on EAGAIN from the full veth ring)';

    const summary: DataplaneCell[] = [];
    const ratios: DataplaneRatio[] = [];
    const keyOf = (w: { scenario: string; layout: string; generator: string }): string => `${w.scenario}/${w.layout}/${w.generator}`;
    for (const k of [...new Set(windows.map(keyOf))]) {
      const ws = windows.filter((w) => keyOf(w) === k);
      const first = ws[0]!;
      const cell = (m: Mode): DataplaneCell => {
        const mw = ws.filter((w) => w.mode === m);
        return {
          scenario: first.scenario, layout: first.layout, generator: first.generator, mode: m,
          mpps: stat(mw.map((w) => w.forwardedPps / 1e6)),
          offeredMpps: stat(mw.map((w) => w.offeredPps / 1e6)),
          maxForeignUserShare: Math.max(...mw.map((w) => w.cpu.fwd.user)),
        };
      };
      const cells = new Map(modes.map((m) => [m, cell(m)] as const));
      summary.push(...cells.values());
      const kc = cells.get('kernel')!;
      /** mode Mpps / kernel Mpps of each repeat's side-by-side pair. */
      const pairs = (m: Mode): number[] => {
        const out: number[] = [];
        for (let r = 0; r < opts.repeats; r++) {
          const kw = ws.find((w) => w.mode === 'kernel' && w.repeat === r);
          const mw = ws.find((w) => w.mode === m && w.repeat === r);
          if (kw && mw) out.push(mw.forwardedPps / kw.forwardedPps);
        }
        return out;
      };
      const xc = cells.get('xdp');
      const tc = cells.get('tc');
      ratios.push({
        scenario: first.scenario, layout: first.layout, generator: first.generator,
        xdpOverKernel: stat(xc ? pairs('xdp') : []), ofMedians: xc ? xc.mpps.median / kc.mpps.median : NaN,
        ...(tc ? { tcOverKernel: stat(pairs('tc')), tcOfMedians: tc.mpps.median / kc.mpps.median } : {}),
      });
    }
    return {
      topology: `h1 eth0 — ${port.in} dut ${port.a} — eth0 h2; dut ${port.b} — eth0 h3 (veth, IPv6 off, permanent neighbours)`,
      genCpu: opts.genCpu, fwdCpu: opts.fwdCpu, tableRoutes: opts.tableRoutes, repeats: opts.repeats,
      windowSeconds: opts.windowSeconds, warmupSeconds: opts.warmupSeconds, frameBytes: FRAME,
      tableIpBatchSeconds,
      applySeconds: Object.fromEntries(Object.entries(applySeconds).map(([k, v]) => [k, stat(v)])),
      windows, summary, ratios,
      tc: modes.includes('tc')
        ? { measured: true, note: 'software flower (skip_hw), one rule per route (tc.compress off); veth offloads nothing' }
        : { measured: false, note: TC_NOT_MEASURED },
      trafgen: { measured: windows.some((w) => w.generator === 'trafgen'), note: trafgenNote },
      wallSeconds: (now() - t0) / 1e3,
    };
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, cmd)));
}
