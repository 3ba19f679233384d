// Network namespaces for integration tests: unique names, argv-only command
// execution, carrier polling, and cleanup that runs even when a test fails.
import { execFileSync, spawnSync } from 'node:child_process';

const live = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence if a test process dies without reaching afterAll.
  process.on('exit', () => { for (const ns of live) spawnSync('ip', ['netns', 'del', ns]); });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Run argv, return stdout; throw with stderr and the command on failure. */
export function run(argv: readonly string[], input?: string): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; status?: number };
    throw new Error(`command failed (${e.status}): ${argv.join(' ')}\n${e.stderr ?? ''}`);
  }
}

export class Netns {
  constructor(readonly name: string) {}

  /** Run argv inside this namespace. */
  exec(...argv: string[]): string {
    return run(['ip', 'netns', 'exec', this.name, ...argv]);
  }

  ip(...args: string[]): string {
    return run(['ip', '-n', this.name, ...args]);
  }

  /** `ip -batch -` inside the namespace. */
  ipBatch(lines: readonly string[]): void {
    run(['ip', '-n', this.name, '-batch', '-'], lines.join('\n') + '\n');
  }

  sysctl(key: string, value: string | number): void {
    this.exec('sysctl', '-qw', `${key}=${value}`);
  }

  ifindex(dev: string): number {
    const j = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number }>;
    return j[0]!.ifindex;
  }

  mac(dev: string): string {
    const j = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ address: string }>;
    return j[0]!.address;
  }

  /** Poll until the link has carrier (a new veth takes about a second); gateway routes need it. */
  async waitCarrier(dev: string, deadlineMs = 10_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const j = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ flags: string[]; operstate: string }>;
      if (j[0]!.flags.includes('LOWER_UP') && j[0]!.operstate !== 'DOWN') return;
      if (Date.now() > until) throw new Error(`${this.name}/${dev}: no carrier after ${deadlineMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A set of namespaces owned by one test file; `destroy()` removes them all. */
export class NetnsSet {
  private readonly prefix: string;
  private readonly mine: Netns[] = [];

  constructor(tag: string) {
    this.prefix = `fot-${tag}-${process.pid}`;
    installExitHook();
  }

  add(short: string): Netns {
    const name = `${this.prefix}-${short}`;
    spawnSync('ip', ['netns', 'del', name]);
    run(['ip', 'netns', 'add', name]);
    live.add(name);
    const ns = new Netns(name);
    ns.ip('link', 'set', 'dev', 'lo', 'up');
    this.mine.push(ns);
    return ns;
  }

  /** A veth pair between two namespaces, both ends up. */
  veth(a: Netns, aDev: string, b: Netns, bDev: string, opts: { aMac?: string; bMac?: string } = {}): void {
    run(['ip', '-n', a.name, 'link', 'add', 'name', aDev, ...(opts.aMac ? ['address', opts.aMac] : []),
      'type', 'veth', 'peer', 'name', bDev, ...(opts.bMac ? ['address', opts.bMac] : []), 'netns', b.name]);
    a.ip('link', 'set', 'dev', aDev, 'up');
    b.ip('link', 'set', 'dev', bDev, 'up');
  }

  destroy(): void {
    for (const ns of this.mine.splice(0)) {
      spawnSync('ip', ['netns', 'del', ns.name]);
      live.delete(ns.name);
    }
  }
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes; throws the last failure. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) {
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
