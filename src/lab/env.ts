// What every lab action needs: where the lab's files live, its state record,
// and running commands inside its namespaces. Commands are argv arrays; the
// namespaces are entered with nsenter, not `ip netns exec`, which remounts
// /sys and so hides the host's /sys/fs/bpf where the agent pins its maps.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from '../errors.js';
import { runTool } from '../xdp/loader.js';
import { LAB_ROLES, nsName, type LabRole } from './topology.js';

/** The lab's private directory: FRR configs, sockets, logs, pid files, the state record. */
export function labDir(name: string): string {
  return join(tmpdir(), `fib-offload-lab-${name}`);
}

/** What `lab up` made, written before it makes anything, so `lab down` can undo a crashed `up`. */
export interface LabState {
  readonly name: string;
  readonly dir: string;
  readonly nexthopObjects: boolean;
  readonly kernelForwarding: boolean;
  readonly namespaces: readonly string[];
  /** Inode of dut's network namespace: the agent pins under <bpffs>/fib-offload/ns<inode>. */
  dutNetns: string | null;
  /** Directories FRR's `-N` pathspace creates under /var/run/frr. */
  readonly frrRunDirs: readonly string[];
  readonly metricsPort: number;
  readonly createdAt: string;
  /**
   * `lab up --frr 10`: FRR runs chrooted in this root (scripts/frr-root.sh)
   * with pathspace -N <namespace>: configs, sockets and pid files under the
   * root's /etc/frr/<ns> and /run/frr/<ns>. Absent: the host's FRR 8.4.
   */
  readonly frr10?: { readonly root: string; readonly version: string };
}

const stateFile = (dir: string): string => join(dir, 'lab.json');

export function readState(name: string): LabState | null {
  const f = stateFile(labDir(name));
  if (!existsSync(f)) return null;
  return JSON.parse(readFileSync(f, 'utf8')) as LabState;
}

export function writeState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true, mode: 0o755 });
  writeFileSync(stateFile(s.dir), JSON.stringify(s, null, 2) + '\n');
}

export function namespacesOf(name: string): string[] {
  return LAB_ROLES.map((r) => nsName(name, r));
}

/** Names of the network namespaces under /run/netns. */
export async function listNetns(): Promise<Set<string>> {
  const out = await runTool(['ip', '-j', 'netns', 'list'], 'list network namespaces');
  const list = out.trim() ? (JSON.parse(out) as { name: string }[]) : [];
  return new Set(list.map((n) => n.name));
}

/** The lab handle the actions share. */
export class Lab {
  constructor(readonly name: string) {}

  ns(role: LabRole): string {
    return nsName(this.name, role);
  }

  get dir(): string {
    return labDir(this.name);
  }

  /** argv inside `role`'s network namespace (host mounts, so bpffs stays visible). */
  exec(role: LabRole, argv: readonly string[], op: string): Promise<string> {
    return runTool(['nsenter', `--net=/run/netns/${this.ns(role)}`, ...argv], `${op} (in ${this.ns(role)})`);
  }

  /** Like exec, but a non-zero exit is an answer, not an error (ping that loses packets). */
  probe(role: LabRole, argv: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile('nsenter', [`--net=/run/netns/${this.ns(role)}`, ...argv], (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ status: err ? (err.code as number) : 0, stdout, stderr });
      });
    });
  }

  ip(role: LabRole, ...args: string[]): Promise<string> {
    return runTool(['ip', '-n', this.ns(role), ...args], `ip ${args.join(' ')} (in ${this.ns(role)})`);
  }

  async ipJson<T>(role: LabRole, ...args: string[]): Promise<T> {
    const out = await runTool(['ip', '-j', '-n', this.ns(role), ...args], `ip -j ${args.join(' ')} (in ${this.ns(role)})`);
    return (out.trim() ? JSON.parse(out) : []) as T;
  }

  sysctl(role: LabRole, settings: Readonly<Record<string, string | number>>): Promise<string> {
    const kv = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return this.exec(role, ['sysctl', '-q', '-w', ...kv], 'sysctl');
  }

  async readSysctl(role: LabRole, key: string): Promise<string> {
    return (await this.exec(role, ['sysctl', '-n', key], `read ${key}`)).trim();
  }

  /** fib-offload itself, run in `role`'s namespace. */
  cli(role: LabRole, ...args: string[]): Promise<string> {
    return this.exec(role, [process.execPath, cliPath(), ...args], `fib-offload ${args.join(' ')}`);
  }

  async cliJson<T>(role: LabRole, ...args: string[]): Promise<T> {
    return JSON.parse(await this.cli(role, ...args)) as T;
  }

  /** vtysh against one of the lab's FRR instances (chrooted into the FRR 10 root when the lab runs that). */
  vtysh(role: LabRole, ...commands: string[]): Promise<string> {
    const cmds = commands.flatMap((c) => ['-c', c]);
    const root = readState(this.name)?.frr10?.root;
    const argv = root ? ['chroot', root, 'vtysh', '-N', this.ns(role), ...cmds] : ['vtysh', '--vty_socket', join(this.dir, role), ...cmds];
    return runTool(argv, `vtysh ${commands.join('; ')} (${this.ns(role)})`);
  }
}

/** dist/src/cli/main.js, next to this module's compiled self. */
export function cliPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
}

/** Poll `probe` until it returns a value (not undefined), or fail naming what was awaited and the last state seen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  describe: () => Promise<string> = async () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = lastError instanceof Error ? lastError.message : await describe().catch(() => '');
      throw new LabError(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}${seen ? `; last seen: ${seen}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
