// XDP backend benchmark: map update rates through XdpBackend (reconcile into
// freshly loaded pinned maps, one group update, deletes) and the program's
// cost per packet with BPF_PROG_TEST_RUN. A private namespace holds the two
// veth ports; the worker runs there under `nsenter --net` (not `ip netns
// exec`, which remounts /sys and hides the host's bpffs). Figures only.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIdOf, defaultObjectPath } from '../src/xdp/loader.js';
import type { WorkerConfig, WorkerResult } from './xdp-worker.js';

export interface XdpBenchOptions {
  /** Route counts for the map-update bench; the largest is also the packet bench's big table. */
  sizes: number[];
  /** Add/delete cycles per size. */
  repeats?: number;
  log?: (s: string) => void;
}

export interface XdpBenchResult extends WorkerResult {
  object: { path: string; buildId: string };
}

const WORKER = fileURLToPath(new URL('./xdp-worker.js', import.meta.url));

export async function benchXdp(opts: XdpBenchOptions): Promise<XdpBenchResult> {
  const log = opts.log ?? (() => {});
  const ns = `fob-bench-${process.pid}`;
  const pinDir = `/sys/fs/bpf/fob-bench-${process.pid}`;
  const tmpDir = join(tmpdir(), `fob-bench-${process.pid}`);
  const ip = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  const cleanup = () => {
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(tmpDir, { recursive: true, force: true });
    spawnSync('ip', ['netns', 'del', ns]);
  };
  // Ctrl-C reaches the worker too (same process group) and ends it; ignoring
  // it here keeps this process alive to remove the namespace and the pins.
  const onSignal = () => {};
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  cleanup();
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    ip('link', 'set', 'dev', 'lo', 'up');
    // No IPv6: keeps router solicitations and MLD off the ports (the program sees them: background verdicts).
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    // Two veth ports; their peers stay in the namespace so both keep carrier.
    for (const p of ['fo0', 'fo1']) {
      ip('link', 'add', 'name', p, 'type', 'veth', 'peer', 'name', `${p}p`);
      ip('link', 'set', 'dev', p, 'up');
      ip('link', 'set', 'dev', `${p}p`, 'up');
    }
    const cfg: WorkerConfig = {
      pinDir, tmpDir, ingress: 'fo0', egress: 'fo1',
      sizes: opts.sizes, repeats: opts.repeats ?? 3, groupUpdates: 200,
      rounds: 5, lines: 4000, perLine: 250, longRepeat: 1_000_000,
    };
    // The object the worker loads (another build may replace it later).
    const object = { path: relative(process.cwd(), defaultObjectPath()), buildId: buildIdOf(defaultObjectPath()).toString(16).padStart(8, '0') };
    log(`xdp: map updates for ${opts.sizes.join(', ')} routes x ${cfg.repeats}, then BPF_PROG_TEST_RUN (namespace ${ns})`);
    const p = spawnSync(
      'nsenter',
      [`--net=/run/netns/${ns}`, process.execPath, '--max-old-space-size=6144', WORKER, JSON.stringify(cfg)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
    );
    if (p.status !== 0) throw new Error(`xdp worker failed (status ${p.status}${p.signal ? `, ${p.signal}` : ''})`);
    const w = JSON.parse(p.stdout) as WorkerResult;
    return { object, ...w };
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
