// Test and debugging aid: follows the kernel in the current network namespace
// and answers line commands on stdin with JSON on stdout, so integration tests
// can compare the event-driven mirror with a fresh dump.
//   state   -> {"events": <canonical mirror built from events>, "dump": <canonical mirror from a fresh dump>, "counters": {...}}
//   show    -> the event-driven mirror as `show --json`
//   quit    -> exit 0
import { createInterface } from 'node:readline';
import { KernelAdapter } from '../src/netlink/kernel.js';
import { Mirror } from '../src/mirror/mirror.js';
import { canonicalState } from '../src/mirror/canonical.js';
import { showJson } from '../src/mirror/show.js';

const bufArg = process.argv.indexOf('--event-buffer');
const eventBufferSize = bufArg > 0 ? Number(process.argv[bufArg + 1]) : undefined;

const adapter = new KernelAdapter(eventBufferSize ? { eventBufferSize } : {});
let mirror: Mirror | null = null;
let resyncs = 0;
let resyncing: Promise<void> | null = null;

function resync(): Promise<void> {
  resyncing ??= adapter.resync((s) => { mirror = Mirror.fromSnapshot(s); })
    .finally(() => { resyncing = null; });
  return resyncing;
}

adapter.on('event', (ev) => { mirror?.apply(ev); });
adapter.on('resync-needed', () => {
  resyncs++;
  resync().catch((err: unknown) => { process.stderr.write(`resync failed: ${String(err)}\n`); process.exit(1); });
});

await resync();
process.stdout.write(JSON.stringify({ ready: true, eventBufferSize: adapter.eventBufferSize }) + '\n');

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const cmd = line.trim();
  if (cmd === 'quit') break;
  if (resyncing) await resyncing;
  if (cmd === 'state') {
    const fresh = Mirror.fromSnapshot(await adapter.dump());
    process.stdout.write(JSON.stringify({
      events: canonicalState(mirror!), dump: canonicalState(fresh),
      counters: { ...adapter.counters, resyncs },
    }) + '\n');
  } else if (cmd === 'show') {
    process.stdout.write(JSON.stringify(showJson(mirror!)) + '\n');
  } else {
    process.stdout.write(JSON.stringify({ error: `unknown command "${cmd}"` }) + '\n');
  }
}
adapter.close();
