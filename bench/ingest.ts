// Ingest benchmark: N IPv4 routes (and optionally M IPv6) created with
// `ip -batch` in a private namespace, then dumped by `ip route show` and by the
// agent's adapter + mirror. Prints and returns the figures; asserts nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface IngestResult {
  routesV4: number;
  routesV6: number;
  ipBatchSeconds: number;
  ipRouteShowSeconds: number;
  agent: { dumpSeconds: number; buildSeconds: number; routesPerSecond: number; rssMB: number; heapMB: number; bytesPerRoute: number };
}

const WORKER = fileURLToPath(new URL('./ingest-worker.js', import.meta.url));

function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function v4(i: number): string {
  // 1M distinct /24s from 11.0.0.0 upward.
  return `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
}

function v6(i: number): string {
  return `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`;
}

export async function benchIngest(routesV4: number, routesV6 = 0, log: (s: string) => void = () => {}): Promise<IngestResult> {
  const ns = `fob-ingest-${process.pid}`;
  const ip = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', ns]);
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    ip('link', 'set', 'dev', 'lo', 'up');
    // A veth peer kept in the same namespace keeps carrier without a second namespace.
    ip('link', 'add', 'name', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p');
    ip('link', 'set', 'dev', 'eth1', 'up');
    ip('link', 'set', 'dev', 'eth1p', 'up');
    ip('addr', 'add', '10.1.0.1/24', 'dev', 'eth1');
    ip('-6', 'addr', 'add', 'fd01::1/64', 'dev', 'eth1', 'nodad');
    for (let i = 0; i < 100; i++) {
      const up = JSON.parse(ip('-j', 'link', 'show', 'dev', 'eth1')) as Array<{ flags: string[] }>;
      if (up[0]!.flags.includes('LOWER_UP')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines: string[] = [];
    for (let i = 0; i < routesV4; i++) lines.push(`route add ${v4(i)} via 10.1.0.2 dev eth1 proto bgp`);
    for (let i = 0; i < routesV6; i++) lines.push(`route add ${v6(i)} via fd01::2 dev eth1 proto bgp`);
    log(`ingest: creating ${routesV4} IPv4 + ${routesV6} IPv6 routes with ip -batch`);
    const ipBatchSeconds = timed(() => execFileSync('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 }));
    const ipRouteShowSeconds = timed(() => {
      execFileSync('ip', ['-n', ns, 'route', 'show'], { maxBuffer: 1 << 30 });
      if (routesV6) execFileSync('ip', ['-n', ns, '-6', 'route', 'show'], { maxBuffer: 1 << 30 });
    });
    log(`ingest: agent dump + mirror build`);
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', WORKER], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const w = JSON.parse(out) as {
      routes: number; dumpSeconds: number; buildSeconds: number;
      before: { rssMB: number; heapMB: number }; afterBuild: { rssMB: number; heapMB: number };
    };
    const total = w.dumpSeconds + w.buildSeconds;
    return {
      routesV4, routesV6, ipBatchSeconds, ipRouteShowSeconds,
      agent: {
        dumpSeconds: w.dumpSeconds, buildSeconds: w.buildSeconds,
        routesPerSecond: w.routes / total,
        rssMB: w.afterBuild.rssMB, heapMB: w.afterBuild.heapMB,
        bytesPerRoute: ((w.afterBuild.rssMB - w.before.rssMB) * 2 ** 20) / Math.max(1, w.routes),
      },
    };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
