// Runs inside the bench namespace: dump the kernel into a snapshot, build the
// mirror, and report wall time and memory for each stage as one JSON line.
import { KernelAdapter } from '../src/netlink/kernel.js';
import { Mirror } from '../src/mirror/mirror.js';

function mem(): { rssMB: number; heapMB: number; externalMB: number } {
  const m = process.memoryUsage();
  return { rssMB: m.rss / 2 ** 20, heapMB: m.heapUsed / 2 ** 20, externalMB: (m.external + m.arrayBuffers) / 2 ** 20 };
}

const before = mem();
const adapter = new KernelAdapter();
const t0 = process.hrtime.bigint();
// In a function of its own: what the daemon keeps is the mirror, and the
// decoded snapshot must not stay reachable from this module's frame.
async function dumpAndBuild(): Promise<{ mirror: Mirror; t1: bigint; afterDump: ReturnType<typeof mem> }> {
  const snapshot = await adapter.dump();
  const t1 = process.hrtime.bigint();
  const afterDump = mem();
  return { mirror: Mirror.fromSnapshot(snapshot), t1, afterDump };
}
const { mirror, t1, afterDump } = await dumpAndBuild();
const t2 = process.hrtime.bigint();
globalThis.gc?.();
const afterBuild = mem();
adapter.close();
process.stdout.write(JSON.stringify({
  routes: mirror.counts.routes,
  dumpSeconds: Number(t1 - t0) / 1e9,
  buildSeconds: Number(t2 - t1) / 1e9,
  before, afterDump, afterBuild,
}) + '\n');
