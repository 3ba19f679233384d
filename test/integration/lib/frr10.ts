// FRR 10 (Debian forky's, from scripts/frr-root.sh) run chrooted in a test
// namespace: mgmtd, zebra with dplane_fpm_nl and --asic-offload=notify_on_offload,
// staticd, each under `ip netns exec` (a private mount namespace, where /proc
// is mounted into the root). Paths are private per instance (-N NAME under
// the root's /etc/frr, /run/frr, /var/log/frr). Every command is an argv array.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type Netns } from './netns.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The cached FRR 10 root (built on first use, about a minute). */
export function frrRoot(major = 10): string {
  const p = spawnSync('bash', [join(REPO, 'scripts', 'frr-root.sh'), String(major)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  if (p.status !== 0) throw new Error(`scripts/frr-root.sh ${major} failed (${p.status ?? p.signal})`);
  return p.stdout.trim();
}

// Mount /proc inside the root in the namespace's private mount namespace, then exec the daemon chrooted.
// The root and argv are positional parameters: nothing is interpolated into the script.
// FRR 10's daemons keep the stdio they were started with after -d: give them /dev/null (they log to --log).
const IN_ROOT = 'mount -t proc proc "$1/proc" && root=$1 && shift && exec chroot "$root" "$@" </dev/null >/dev/null 2>&1';

export type FrrDaemon = 'mgmtd' | 'zebra' | 'staticd';

export class Frr10 {
  readonly etc: string;
  readonly runDir: string;
  readonly logDir: string;

  constructor(readonly ns: Netns, readonly root: string, readonly name: string) {
    this.etc = `/etc/frr/${name}`;
    this.runDir = `/run/frr/${name}`;
    this.logDir = `/var/log/frr/${name}`;
  }

  get version(): string {
    return run(['chroot', this.root, 'dpkg-query', '-W', '-f', '${Version}', 'frr']).trim();
  }

  /** Write the config (applied with vtysh once the daemons run) and hand the directories to frr inside the root. */
  prepare(conf: string): void {
    for (const d of [this.etc, this.runDir, this.logDir]) mkdirSync(join(this.root, d), { recursive: true });
    writeFileSync(join(this.root, this.etc, 'frr.conf'), conf);
    writeFileSync(join(this.root, this.etc, 'vtysh.conf'), '');
    // The root's frr uid is not the host's: chown from inside.
    run(['chroot', this.root, 'chown', '-R', 'frr:frr', this.etc, this.runDir, this.logDir]);
  }

  start(daemon: FrrDaemon, ...extra: string[]): void {
    // FRR 10's daemons take no -f: the configuration goes in through vtysh (startAll).
    const argv = [`/usr/lib/frr/${daemon}`, '-d', '-N', this.name, '--log', `file:${this.logDir}/${daemon}.log`, ...extra];
    const p = spawnSync('ip', ['netns', 'exec', this.ns.name, 'sh', '-c', IN_ROOT, 'sh', this.root, ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    if (p.status !== 0) throw new Error(`${daemon} did not start (${p.status ?? p.signal}):\n${this.log(daemon)}`);
  }

  /** zebra with the FPM module, telling bgpd/staticd "installed" only on an offload reply. */
  startAll(): void {
    this.start('mgmtd');
    this.start('zebra', '-M', 'dplane_fpm_nl', '--asic-offload=notify_on_offload');
    this.start('staticd');
    this.vtysh('configure terminal', ...readFileSync(join(this.root, this.etc, 'frr.conf'), 'utf8').split('\n').filter((l) => l.trim() !== ''));
  }

  vtysh(...commands: string[]): string {
    return run(['chroot', this.root, 'vtysh', '-N', this.name, ...commands.flatMap((c) => ['-c', c])]);
  }

  configure(...lines: string[]): void {
    this.vtysh('configure terminal', ...lines);
  }

  /** `show ip[v6] route PREFIX json`: zebra's entries for the prefix (empty when it has none). */
  route(prefix: string): ZebraRoute[] {
    const j = JSON.parse(this.vtysh(`show ${prefix.includes(':') ? 'ipv6' : 'ip'} route ${prefix} json`)) as Record<string, ZebraRoute[]>;
    return j[prefix] ?? [];
  }

  log(daemon: FrrDaemon): string {
    const p = join(this.root, this.logDir, `${daemon}.log`);
    return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => !l.includes('libyang')).slice(-30).join('\n') : '(no log)';
  }

  pid(daemon: FrrDaemon): number | null {
    const p = join(this.root, this.runDir, `${daemon}.pid`);
    if (!existsSync(p)) return null;
    const n = Number(readFileSync(p, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  }

  /** Stop the daemons this instance started (by their pid files) and remove its directories. */
  stop(): void {
    for (const d of ['staticd', 'zebra', 'mgmtd'] as const) {
      const pid = this.pid(d);
      if (pid === null) continue;
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    const until = Date.now() + 5_000;
    for (const d of ['staticd', 'zebra', 'mgmtd'] as const) {
      const pid = this.pid(d);
      while (pid !== null && alive(pid) && Date.now() < until) spawnSync('sleep', ['0.05']);
      if (pid !== null && alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const d of [this.etc, this.runDir, this.logDir]) rmSync(join(this.root, d), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ZebraRoute {
  readonly prefix: string;
  readonly protocol: string;
  readonly selected?: boolean;
  readonly installed?: boolean;
  readonly queued?: boolean;
  /** true: RTM_F_OFFLOAD; false: RTM_F_OFFLOAD_FAILED; absent: neither. */
  readonly offloaded?: boolean;
  readonly trapped?: boolean;
  readonly failed?: boolean;
  readonly table: number;
}
