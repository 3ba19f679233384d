// `lab down`: remove everything `lab up` made, also after a crash. Processes
// are found two ways: by the pid files under the lab's directory (checked
// against /proc so a recycled pid is never hit), and by `ip netns pids` on
// the lab's namespaces. The agent is stopped first and its offload flushed,
// then FRR, then the namespaces (their veths go with them); pinned BPF
// objects and FRR's -N directories are removed even if the namespace is gone.
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../xdp/loader.js';
import { Lab, labDir, listNetns, namespacesOf, readState } from './env.js';
import { ROUTERS, nsName } from './topology.js';

export interface DownOptions {
  readonly name: string;
  readonly say: (line: string) => void;
  /** Leave the lab directory (logs) in place: `up` failed and the user should read them. */
  readonly keepLogs?: boolean;
}

export interface DownResult {
  readonly killed: number;
  readonly namespaces: string[];
  readonly removed: string[];
}

export async function labDown(opts: DownOptions): Promise<DownResult> {
  const lab = new Lab(opts.name);
  const state = readState(opts.name);
  const dir = labDir(opts.name);
  const existing = await listNetns();
  const namespaces = (state?.namespaces ?? namespacesOf(opts.name)).filter((n) => existing.has(n));
  const removed: string[] = [];
  let killed = 0;

  // 1. The agent: stop it (it leaves the offload in place), then flush it.
  killed += await stopPids(pidFilePids(join(dir, 'agent.pid'), dir));
  if (namespaces.includes(nsName(opts.name, 'dut'))) {
    const out = await lab.cli('dut', 'flush').catch((err: unknown) => {
      opts.say(`lab ${opts.name}: flush in dut failed (${err instanceof Error ? err.message : String(err)}); removing the pins directly`);
      return '';
    });
    if (out.trim()) removed.push(...out.trim().split('\n').map((l) => `dut ${l}`));
  }
  // 2. FRR, by pid file; 3. anything else still running in the lab's namespaces.
  const frrPids = ROUTERS.flatMap((r) => ['zebra', 'bgpd'].flatMap((d) => pidFilePids(join(dir, r, `${d}.pid`), dir)));
  killed += await stopPids(frrPids);
  for (const ns of namespaces) {
    const out = await runTool(['ip', 'netns', 'pids', ns], `list processes in ${ns}`).catch(() => '');
    killed += await stopPids(out.split('\n').map(Number).filter((p) => p > 0));
  }
  // 4. Namespaces (and the veths in them).
  for (const ns of namespaces) await runTool(['ip', 'netns', 'del', ns], `delete namespace ${ns}`);
  // 5. Pins the flush could not reach (dut gone in a crash), FRR's -N directories, the lab directory.
  if (state?.dutNetns) {
    const pins = join('/sys/fs/bpf', 'fib-offload', `ns${state.dutNetns}`);
    if (existsSync(pins)) {
      rmSync(pins, { recursive: true, force: true });
      removed.push(pins);
    }
  }
  for (const d of state?.frrRunDirs ?? ROUTERS.map((r) => join('/var/run/frr', nsName(opts.name, r)))) {
    if (existsSync(d)) {
      rmSync(d, { recursive: true, force: true });
      removed.push(d);
    }
  }
  if (existsSync(dir) && !opts.keepLogs) {
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  } else if (existsSync(dir)) {
    rmSync(join(dir, 'lab.json'), { force: true });
  }
  removeEmpty('/sys/fs/bpf/fib-offload');

  if (killed + namespaces.length + removed.length === 0) opts.say(`lab ${opts.name}: nothing to remove`);
  else opts.say(`lab ${opts.name}: stopped ${killed} processes, deleted ${namespaces.length} namespaces${namespaces.length ? ` (${namespaces.join(' ')})` : ''}, removed ${removed.length} objects`);
  return { killed, namespaces, removed };
}

/** The pid in `file`, if that process is alive and its command line mentions `mustMention` (the lab directory). */
function pidFilePids(file: string, mustMention: string): number[] {
  if (!existsSync(file)) return [];
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return [];
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmdline.includes(mustMention) ? [pid] : [];
  } catch {
    return []; // not running
  }
}

/** SIGTERM, up to 3 s for them to go, then SIGKILL. Returns how many were running. */
async function stopPids(pids: readonly number[]): Promise<number> {
  const alive = (p: number): boolean => existsSync(`/proc/${p}`) && !isZombie(p);
  const running = [...new Set(pids)].filter(alive);
  for (const p of running) signal(p, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (running.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of running.filter(alive)) signal(p, 'SIGKILL');
  while (running.some(alive) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 50));
  return running.length;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\)/, ''));
  } catch {
    return false;
  }
}

function removeEmpty(dir: string): void {
  try {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // another agent's pins appeared meanwhile: leave the directory
  }
}
