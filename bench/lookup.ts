// Lookup bench: the three ways this project can look a destination up from
// XDP, side by side with the kernel forwarding on its own, on tables that look
// like the Internet (bench/internet-table.ts) and traffic spread over them.
//   kernel  ip_forward=1, no XDP: the kernel's FIB (fib_trie / fib6) and stack
//   trie    the agent's program with every table in the BPF LPM trie
//           (xdp.flat_threshold above the table's size)
//   flat    the agent's program with IPv4 in the flat DIR-24-8 array
//           (xdp.flat_threshold 1; IPv6 stays in the trie)
//   flat-noaudit  the same with the live audit off (xdp.audit_rate 0); the
//           others run with the default 1-in-1024 audit: the pair is its cost
//   flat-rpf  flat with rp_filter strict on the ingress port (the program looks
//           the source up too, and checks the ingress port is a member): the
//           pair flat / flat-rpf is rp_filter's cost (the source is a /32 of
//           the ingress port's subnet; every other mode runs with rp_filter 0)
//   fib     bpf/xdp_fwd.bpf.o: bpf_fib_lookup() from XDP, the kernel's own FIB
//           and neighbour table (the kernel's xdp_fwd sample, the XDP paper)
// For each table (IPv4 at the given sizes, one IPv6 table) and each XDP way:
// the program's cost per packet with BPF_PROG_TEST_RUN, one run per
// destination over every destination (prog-run-batch, mean and median of the
// kernel's per-run duration); and for all four, forwarded Mpps with the
// live-frames generator walking the same destinations in a scattered order,
// generator and forwarder on separate CPUs (the data-plane bench's "split"
// layout), the modes alternating in every repeat (ABBA). Figures only.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, addNs, delNs, now, removePins, sleep, stat, type Ns, type Stat } from './converge-lib.js';
import {
  BPF_BUILD, Receiver, agent, cpuShare, cpuTicks, napiThreads, pinTask, runIn, setThreaded, startLivegen, sum,
  type CpuShare, type GenFlow, type Killable,
} from './dataplane-lib.js';
import { internet4, internet6, spread4, spread6, text4, text6, type Prefix4, type Prefix6, type TableMix } from './internet-table.js';

export type LookupMode = 'kernel' | 'trie' | 'flat' | 'flat-noaudit' | 'flat-rpf' | 'fib';
const MODES: readonly LookupMode[] = ['kernel', 'trie', 'flat', 'flat-noaudit', 'flat-rpf', 'fib'];
const BPF_MODES: readonly LookupMode[] = ['trie', 'flat', 'flat-noaudit', 'flat-rpf', 'fib'];

export interface LookupOptions {
  /** IPv4 table sizes; 1 is a single /8 (the destinations spread inside it). */
  sizes4: number[];
  /** IPv6 table size (0: none). */
  routes6: number;
  /** Distinct destinations per table (BPF_PROG_TEST_RUN runs and the generator's list). */
  destinations: number;
  /** Mode cycles per table (ABBA order). */
  repeats: number;
  windowSeconds: number;
  warmupSeconds: number;
  genCpu: number;
  fwdCpu: number;
  log?: (s: string) => void;
}

export interface ProbeFigures {
  /** Runs, and how many the program forwarded (XDP_REDIRECT); the rest went to the stack. */
  runs: number;
  redirected: number;
  /** The kernel's per-run duration, ns. */
  meanNs: number;
  medianNs: number;
  p90Ns: number;
}

export interface LookupWindow {
  table: string;
  mode: LookupMode;
  repeat: number;
  seconds: number;
  forwardedPps: number;
  fwdCpu: CpuShare;
}

export interface LookupTable {
  name: string;
  family: 4 | 6;
  routes: number;
  mix: TableMix | null;
  destinations: number;
  ipBatchSeconds: number;
  /** Wall seconds of the agent's apply per mode (fresh after a flush, or over the other structure). */
  applySeconds: Partial<Record<LookupMode, Stat>>;
  probe: Partial<Record<LookupMode, ProbeFigures>>;
  /** The same runs through bpf/xdp_pass.bpf.o (returns XDP_PASS, touches nothing): BPF_PROG_TEST_RUN's own cost per run. */
  probeBaseline: ProbeFigures;
  mpps: Partial<Record<LookupMode, Stat>>;
  /** Per repeat, mode Mpps / kernel Mpps in the same cycle. */
  overKernel: Partial<Record<LookupMode, Stat>>;
}

export interface LookupResult {
  topology: string;
  genCpu: number;
  fwdCpu: number;
  repeats: number;
  windowSeconds: number;
  tables: LookupTable[];
  windows: LookupWindow[];
  wallSeconds: number;
}

const FWD_OBJECT = `${BPF_BUILD}xdp_fwd.bpf.o`;
const PROG_RUN = `${BPF_BUILD}prog-run-batch`;
const PASS_OBJECT = `${BPF_BUILD}xdp_pass.bpf.o`;
const XDP_REDIRECT = 4;
const TRIE_ALWAYS = 2_000_000_000;

export async function benchLookup(opts: LookupOptions): Promise<LookupResult> {
  const log = opts.log ?? (() => {});
  const pid = process.pid;
  const prefix = `fob-bench-${pid}-lk`;
  const names = { h1: `${prefix}-h1`, dut: `${prefix}-dut`, h2: `${prefix}-h2`, h3: `${prefix}-h3` };
  const port = { in: `fl${pid}i`, a: `fl${pid}a`, b: `fl${pid}b` };
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
    if (dut) spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, process.execPath, CLI, 'flush'], { timeout: 120_000 });
    if (agentPins) removePins(agentPins);
    rmSync(benchPins, { recursive: true, force: true });
    for (const n of Object.values(names)) delNs(n);
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`lookup: ${sig}: cleaning up`);
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

    // --- topology: h1 eth0 — in dut a — eth0 h2 ; dut b — eth0 h3 (IPv4 and IPv6)
    const h1 = addNs(names.h1);
    const d = addNs(names.dut);
    dut = d;
    const h2 = addNs(names.h2);
    const h3 = addNs(names.h3);
    for (const ns of [h1, d, h2, h3]) ns.sysctl('net.ipv6.conf.all.accept_ra=0', 'net.ipv6.conf.default.accept_ra=0', 'net.ipv6.conf.default.accept_dad=0');
    const links = [[port.in, h1, 1], [port.a, h2, 2], [port.b, h3, 3]] as const;
    for (const [dev, peer, n] of links) {
      d.ip('link', 'add', 'name', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer.name);
      d.ip('link', 'set', 'dev', dev, 'up');
      peer.ip('link', 'set', 'dev', 'eth0', 'up');
      d.ip('addr', 'add', `10.${n}.0.1/24`, 'dev', dev);
      peer.ip('addr', 'add', `10.${n}.0.2/24`, 'dev', 'eth0');
      d.ip('addr', 'add', `fd00:${n}::1/64`, 'dev', dev, 'nodad');
      peer.ip('addr', 'add', `fd00:${n}::2/64`, 'dev', 'eth0', 'nodad');
    }
    for (const [dev, peer] of links) {
      await d.waitCarrier(dev);
      await peer.waitCarrier('eth0');
    }
    for (const [dev, peer, n] of links) {
      d.ip('neigh', 'replace', `10.${n}.0.2`, 'lladdr', peer.mac('eth0'), 'dev', dev, 'nud', 'permanent');
      d.ip('-6', 'neigh', 'replace', `fd00:${n}::2`, 'lladdr', peer.mac('eth0'), 'dev', dev, 'nud', 'permanent');
    }
    runIn(d, 'ethtool', '-K', port.in, 'gro', 'on');
    for (const [, peer] of links.slice(1)) runIn(peer, 'ethtool', '-K', 'eth0', 'tx', 'off');
    receivers.push(Receiver.attach(h2, 'eth0', benchPins, 'h2'), Receiver.attach(h3, 'eth0', benchPins, 'h3'));
    agentPins = d.pinDir();
    const macs = { h1: h1.mac('eth0'), in: d.mac(port.in) };
    const ifindexIn = ifindexOf(d, port.in);
    setThreaded(d, port.in, true);

    // bpf_fib_lookup forwarding: loaded once, attached to the ingress port in "fib" mode.
    const fwdProg = `${benchPins}/fwd-prog`;
    const fwdMaps = `${benchPins}/fwd-maps`;
    run(['bpftool', 'prog', 'load', FWD_OBJECT, fwdProg, 'type', 'xdp', 'pinmaps', fwdMaps]);
    for (const dev of [port.a, port.b]) {
      const k = u32hex(ifindexOf(d, dev));
      // In dut's namespace: a devmap resolves the ifindex in the updater's namespace.
      nsRun(d, ['bpftool', 'map', 'update', 'pinned', `${fwdMaps}/fwd_ports`, 'key', ...k, 'value', ...k]);
    }

    const passProg = `${benchPins}/pass-prog`;
    run(['bpftool', 'prog', 'load', PASS_OBJECT, passProg, 'type', 'xdp']);

    const cfgTrie = join(tmp, 'trie.yaml');
    const cfgFlat = join(tmp, 'flat.yaml');
    writeFileSync(cfgTrie, `xdp: { flat_threshold: ${TRIE_ALWAYS} }\n`);
    writeFileSync(cfgFlat, 'xdp: { flat_threshold: 1 }\n');
    const cfgFlat0 = join(tmp, 'flat-noaudit.yaml');
    writeFileSync(cfgFlat0, 'xdp: { flat_threshold: 1, audit_rate: 0 }\n');

    let mode: LookupMode | null = null;
    let applyLog: Partial<Record<LookupMode, number[]>> = {};
    const setMode = (want: LookupMode): void => {
      if (want === mode) return;
      if (mode === 'fib') nsRun(d, ['ip', 'link', 'set', 'dev', port.in, 'xdpdrv', 'off']);
      d.sysctl(`net.ipv4.conf.${port.in}.rp_filter=${want === 'flat-rpf' ? 1 : 0}`);
      if (want === 'kernel' || want === 'fib') {
        if (mode === 'trie' || mode === 'flat' || mode === 'flat-noaudit' || mode === 'flat-rpf') agent(d, 'flush');
        d.sysctl('net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
        if (want === 'fib') nsRun(d, ['ip', 'link', 'set', 'dev', port.in, 'xdpdrv', 'pinned', fwdProg]);
      } else {
        d.sysctl('net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0');
        const t = now();
        agent(d, 'apply', '--backend', 'xdp', '--ports', ports, '--config', want === 'flat' || want === 'flat-rpf' ? cfgFlat : want === 'flat-noaudit' ? cfgFlat0 : cfgTrie);
        (applyLog[want] ??= []).push((now() - t) / 1e3);
      }
      mode = want;
    };
    const placeForwarder = async (): Promise<void> => {
      for (let tries = 0; ; tries++) {
        const pids = napiThreads(port.in);
        try {
          if (pids.length === 0) throw new Error(`no NAPI thread for ${port.in}`);
          for (const p of pids) pinTask(p, opts.fwdCpu);
          return;
        } catch (err) {
          if (tries >= 20) throw err;
          await sleep(50);
        }
      }
    };
    const windows: LookupWindow[] = [];
    const measure = async (table: string, flow: GenFlow, repeat: number): Promise<LookupWindow> => {
      await placeForwarder();
      const g = startLivegen(h1, 'eth0', opts.genCpu, flow, opts.warmupSeconds + opts.windowSeconds + 30, children);
      let stopped = false;
      try {
        await sleep(opts.warmupSeconds * 1000);
        const r0 = receivers.map((r) => sum(r.perCpu()));
        const c0 = cpuTicks();
        const ta = now();
        await sleep(opts.windowSeconds * 1000);
        const r1 = receivers.map((r) => sum(r.perCpu()));
        const c1 = cpuTicks();
        const seconds = (now() - ta) / 1e3;
        stopped = true;
        await g.stop();
        const total = r1.reduce((a, x, i) => a + x - r0[i]!, 0);
        if (total === 0) throw new Error(`lookup: nothing arrived (${table}, ${mode})`);
        return { table, mode: mode!, repeat, seconds, forwardedPps: total / seconds, fwdCpu: cpuShare(c0[opts.fwdCpu]!, c1[opts.fwdCpu]!) };
      } finally {
        if (!stopped) await g.stop().catch(() => undefined);
      }
    };

    // --- the tables --------------------------------------------------------
    interface TableSpec { name: string; family: 4 | 6; routes: number; lines: string[]; dsts: Buffer; mix: TableMix | null; destinations: number }
    const specs: Array<() => TableSpec> = [];
    for (const n of opts.sizes4) {
      specs.push(() => {
        const t = n === 1 ? { prefixes: [{ addr: (11 << 24) >>> 0, len: 8 }], mix: null } : internet4(n);
        const dsts = spread4(t.prefixes, opts.destinations);
        return {
          name: `ipv4-${n}`, family: 4, routes: t.prefixes.length, mix: t.mix, destinations: dsts.length,
          lines: t.prefixes.map((p: Prefix4, i) => `route add ${text4(p.addr)}/${p.len} via 10.${2 + (i & 1)}.0.2 proto bgp`),
          dsts: dstFile4(dsts),
        };
      });
    }
    if (opts.routes6 > 0) {
      specs.push(() => {
        const t = internet6(opts.routes6);
        const dsts = spread6(t.prefixes, opts.destinations);
        return {
          name: `ipv6-${t.prefixes.length}`, family: 6, routes: t.prefixes.length, mix: t.mix, destinations: dsts.length,
          lines: t.prefixes.map((p: Prefix6, i) => `route add ${text6(p.addr)}/${p.len} via fd00:${2 + (i & 1)}::2 proto bgp`),
          dsts: dstFile6(dsts),
        };
      });
    }

    const tables: LookupTable[] = [];
    for (const make of specs) {
      setMode('kernel');
      for (const fam of ['-4', '-6']) d.ip(fam, 'route', 'flush', 'proto', 'bgp');
      const spec = make();
      log(`lookup: ${spec.name}: ${spec.routes} routes, ${spec.destinations} destinations; ip -batch`);
      const batch = join(tmp, `${spec.name}.batch`);
      writeFileSync(batch, spec.lines.join('\n') + '\n');
      const tb = now();
      d.ip('-batch', batch);
      const ipBatchSeconds = (now() - tb) / 1e3;
      const dstFile = join(tmp, `${spec.name}.dsts`);
      writeFileSync(dstFile, spec.dsts);
      const frames = join(tmp, `${spec.name}.frames`);
      writeFileSync(frames, probeFrames(spec, macs, ifindexIn));
      const flow: GenFlow = spec.family === 4
        ? { srcMac: macs.h1, dstMac: macs.in, srcIp: '10.1.0.2', dstIp: '10.1.0.1', sportCount: 1, dstCount: 1, dstStride: 0, dstFile }
        : { srcMac: macs.h1, dstMac: macs.in, srcIp: 'fd00:1::2', dstIp: 'fd00:1::1', sportCount: 1, dstCount: 1, dstStride: 0, dstFile, family: 6 };

      applyLog = {};
      const probeBaseline = progRun(d, passProg, frames, spec.destinations);
      log(`lookup: ${spec.name}: BPF_PROG_TEST_RUN of an empty program: mean ${probeBaseline.meanNs.toFixed(0)} ns, median ${probeBaseline.medianNs} ns`);
      const probe: Partial<Record<LookupMode, ProbeFigures>> = {};
      const tw: LookupWindow[] = [];
      for (let r = 0; r < opts.repeats; r++) {
        for (const m of r % 2 === 0 ? MODES : [...MODES].reverse()) {
          setMode(m);
          if (r === 0 && BPF_MODES.includes(m)) {
            probe[m] = progRun(d, m === 'fib' ? fwdProg : `${agentPins}/prog`, frames, spec.destinations);
            log(`lookup: ${spec.name} ${m}: BPF_PROG_TEST_RUN mean ${probe[m]!.meanNs.toFixed(0)} ns, median ${probe[m]!.medianNs} ns, ` +
              `${probe[m]!.redirected}/${probe[m]!.runs} forwarded`);
          }
          const w = await measure(spec.name, flow, r);
          tw.push(w);
          log(`lookup: ${spec.name} ${m} #${r + 1}: ${(w.forwardedPps / 1e6).toFixed(3)} Mpps (fwd CPU ${(w.fwdCpu.kernel * 100).toFixed(0)}% kernel)`);
        }
      }
      windows.push(...tw);
      const mpps: Partial<Record<LookupMode, Stat>> = {};
      const overKernel: Partial<Record<LookupMode, Stat>> = {};
      for (const m of MODES) {
        mpps[m] = stat(tw.filter((w) => w.mode === m).map((w) => w.forwardedPps / 1e6));
        if (m === 'kernel') continue;
        const ratios: number[] = [];
        for (let r = 0; r < opts.repeats; r++) {
          const k = tw.find((w) => w.mode === 'kernel' && w.repeat === r);
          const x = tw.find((w) => w.mode === m && w.repeat === r);
          if (k && x) ratios.push(x.forwardedPps / k.forwardedPps);
        }
        overKernel[m] = stat(ratios);
      }
      tables.push({
        name: spec.name, family: spec.family, routes: spec.routes, mix: spec.mix, destinations: spec.destinations, ipBatchSeconds,
        applySeconds: Object.fromEntries(Object.entries(applyLog).map(([k, v]) => [k, stat(v)])),
        probe, probeBaseline, mpps, overKernel,
      });
      log(`lookup: ${spec.name}: ` + MODES.filter((m) => m !== 'kernel').map((m) => `${m}/kernel ×${overKernel[m]!.median.toFixed(2)}`).join(', '));
    }
    return {
      topology: `h1 eth0 — ${port.in} dut ${port.a} — eth0 h2; dut ${port.b} — eth0 h3 (veth; IPv4 and IPv6; permanent neighbours; ` +
        `routes alternate between h2 and h3; generator on CPU ${opts.genCpu}, dut's threaded NAPI on CPU ${opts.fwdCpu})`,
      genCpu: opts.genCpu, fwdCpu: opts.fwdCpu, repeats: opts.repeats, windowSeconds: opts.windowSeconds,
      tables, windows, wallSeconds: (now() - t0) / 1e3,
    };
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Destinations as the generator reads them: 16 bytes each, network order, IPv4 in the first 4. */
function dstFile4(dsts: readonly number[]): Buffer {
  const b = Buffer.alloc(dsts.length * 16);
  dsts.forEach((a, i) => b.writeUInt32BE(a, i * 16));
  return b;
}

function dstFile6(dsts: readonly bigint[]): Buffer {
  const b = Buffer.alloc(dsts.length * 16);
  dsts.forEach((a, i) => {
    b.writeBigUInt64BE(a >> 64n, i * 16);
    b.writeBigUInt64BE(a & 0xffffffffffffffffn, i * 16 + 8);
  });
  return b;
}

/** prog-run-batch requests: one UDP frame per destination, from h1 into dut's ingress port. */
function probeFrames(spec: { family: 4 | 6; dsts: Buffer; destinations: number }, macs: { h1: string; in: string }, ifindex: number): Buffer {
  const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
  const eth = Buffer.concat([mac(macs.in), mac(macs.h1), Buffer.from(spec.family === 4 ? [0x08, 0x00] : [0x86, 0xdd])]);
  const len = spec.family === 4 ? 60 : 62;
  const out = Buffer.alloc(spec.destinations * (8 + len));
  for (let i = 0; i < spec.destinations; i++) {
    const o = i * (8 + len);
    out.writeUInt32LE(ifindex, o);
    out.writeUInt32LE(len, o + 4);
    const f = out.subarray(o + 8, o + 8 + len);
    eth.copy(f, 0);
    if (spec.family === 4) {
      f[14] = 0x45;
      f.writeUInt16BE(len - 14, 16);
      f[22] = 64;
      f[23] = 17;
      Buffer.from([10, 1, 0, 2]).copy(f, 26);
      spec.dsts.copy(f, 30, i * 16, i * 16 + 4);
      let s = 0;
      for (let k = 14; k < 34; k += 2) s += f.readUInt16BE(k);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      f.writeUInt16BE(~s & 0xffff, 24);
      f.writeUInt16BE(1024, 34);
      f.writeUInt16BE(9, 36);
      f.writeUInt16BE(len - 34, 38);
    } else {
      f[14] = 0x60;
      f.writeUInt16BE(len - 54, 18);
      f[20] = 17;
      f[21] = 64;
      Buffer.from([0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).copy(f, 22);
      spec.dsts.copy(f, 38, i * 16, i * 16 + 16);
      f.writeUInt16BE(1024, 54);
      f.writeUInt16BE(9, 56);
      f.writeUInt16BE(len - 54, 58);
    }
  }
  return out;
}

/** Every frame through the pinned program once (in dut's namespace), as prog-run-batch reports them. */
function progRun(ns: Ns, prog: string, frames: string, count: number): ProbeFigures {
  const p = spawnSync('nsenter', [`--net=/run/netns/${ns.name}`, PROG_RUN, prog], { input: readFileSync(frames), maxBuffer: 1 << 30, timeout: 600_000 });
  if (p.status !== 0) throw new Error(`prog-run-batch ${prog}: exit ${p.status ?? p.signal}: ${p.stderr.toString()}`);
  const out = p.stdout;
  const durations: number[] = [];
  let redirected = 0;
  for (let o = 0; o < out.length;) {
    const action = out.readUInt32LE(o);
    durations.push(out.readUInt32LE(o + 4));
    const len = out.readUInt32LE(o + 8);
    if (action === XDP_REDIRECT) redirected++;
    o += 12 + len;
  }
  if (durations.length !== count) throw new Error(`prog-run-batch ${prog}: ${durations.length} results for ${count} frames`);
  durations.sort((a, b) => a - b);
  return {
    runs: count, redirected,
    meanNs: durations.reduce((a, b) => a + b, 0) / count,
    medianNs: durations[Math.floor(count / 2)]!,
    p90Ns: durations[Math.floor(count * 0.9)]!,
  };
}

function u32hex(v: number): string[] {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return [...b].map((x) => x.toString());
}

function ifindexOf(ns: Ns, dev: string): number {
  return (JSON.parse(ns.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number }>)[0]!.ifindex;
}

function run(argv: readonly string[]): void {
  const p = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${argv.join(' ')} failed (${p.status ?? p.signal}): ${p.stderr}`);
}

/** A command in ns's network namespace with the host's mounts (bpffs). */
function nsRun(ns: Ns, argv: readonly string[]): void {
  run(['nsenter', `--net=/run/netns/${ns.name}`, ...argv]);
}
