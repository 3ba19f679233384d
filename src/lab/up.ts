// `lab up`: install what is missing, build the namespaces and links, start FRR
// (zebra + bgpd per router, private paths) and the agent in dut, and wait
// until BGP is up and the agent offloads every upstream prefix. A failure at
// any step removes everything made so far (nothing half-built stays).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from '../errors.js';
import { NsHttp } from '../netns/http.js';
import { defaultObjectPath, passObjectPath, prepareVethPeer, runTool } from '../xdp/loader.js';
import { labDown } from './down.js';
import { Lab, listNetns, readState, waitFor, writeState, cliPath, type LabState } from './env.js';
import { bgpSessions, type BgpSession } from './frr.js';
import {
  ADDRESSES, DESTINATIONS, DUT_PORTS, H1_GATEWAYS, LAB_ROLES, LINKS, ROUTERS,
  agentConfig, frrConfig, missingPackages, nsName, type RouterRole,
} from './topology.js';

export interface UpOptions {
  readonly name: string;
  readonly nexthopObjects: boolean;
  readonly kernelForwarding: boolean;
  /** 8: the host's FRR (Debian 12's 8.4); 10: FRR 10 from Debian forky, chrooted, with FPM. */
  readonly frr?: 8 | 10;
  readonly say: (line: string) => void;
}

const METRICS_PORT = 9469;
const FRR_BIN = '/usr/lib/frr';

export async function labUp(opts: UpOptions): Promise<LabState> {
  const lab = new Lab(opts.name);
  const existing = await listNetns();
  if (readState(opts.name) !== null || LAB_ROLES.some((r) => existing.has(nsName(opts.name, r)))) {
    throw new LabError(`lab ${opts.name} is already up (or left over from a crash): run \`fib-offload lab down${opts.name === 'fol' ? '' : ` --name ${opts.name}`}\` first`);
  }
  await installMissing(opts.say);
  const frr10 = opts.frr === 10 ? await frrRoot(opts.say) : undefined;
  for (const obj of [defaultObjectPath(), passObjectPath()]) {
    if (!existsSync(obj)) throw new LabError(`${obj} is missing: build the project first (npm run build)`);
  }

  const state: LabState = {
    name: opts.name,
    dir: lab.dir,
    nexthopObjects: opts.nexthopObjects,
    kernelForwarding: opts.kernelForwarding,
    namespaces: LAB_ROLES.map((r) => lab.ns(r)),
    dutNetns: null,
    frrRunDirs: frr10
      ? ROUTERS.flatMap((r) => ['run/frr', 'etc/frr', 'var/log/frr'].map((d) => join(frr10.root, d, lab.ns(r))))
      : ROUTERS.map((r) => join('/var/run/frr', lab.ns(r))),
    metricsPort: METRICS_PORT,
    createdAt: new Date().toISOString(),
    ...(frr10 ? { frr10 } : {}),
  };
  writeState(state);
  const started = Date.now();
  try {
    await buildNetwork(lab, state, opts);
    opts.say(`lab ${opts.name}: namespaces ${state.namespaces.join(' ')}; dut forwarding ${opts.kernelForwarding ? 'ON (kernel forwards too)' : 'off (only the offload forwards)'}`);
    if (frr10) {
      // The agent first: dut's zebra connects to its FPM server, and bgpd advertises only what it answers.
      startAgent(lab, state);
      for (const r of ROUTERS) await startFrr10(lab, r, frr10.root, opts.nexthopObjects);
    } else {
      for (const r of ROUTERS) await startFrr(lab, r, opts.nexthopObjects);
    }
    opts.say(`lab ${opts.name}: FRR ${frr10 ? `${frr10.version} (chrooted in ${frr10.root}; dut's zebra reports to the agent over FPM, bgpd with suppress-fib-pending)` : '8'} zebra + bgpd in ${ROUTERS.map((r) => lab.ns(r)).join(', ')} (kernel nexthop objects ${opts.nexthopObjects ? 'on' : 'off'})`);
    if (!frr10) startAgent(lab, state);
    const sessions = await waitFor('BGP sessions dut–r1 and dut–r2 (IPv4 and IPv6 unicast) to be Established', async () => {
      const s = await bgpSessions(lab);
      return s.length === 4 && s.every((x) => x.state === 'Established') ? s : undefined;
    }, 60_000, async () => describeSessions(await bgpSessions(lab)));
    opts.say(`lab ${opts.name}: BGP unnumbered up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${describeSessions(sessions)}`);
    await warmHosts(lab);
    await waitForOffload(lab);
    opts.say(`lab ${opts.name}: the agent offloads ${DESTINATIONS.length} BGP prefixes over XDP on dut ${DUT_PORTS.join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s after start)`);
    return state;
  } catch (err) {
    opts.say(`lab ${opts.name}: up failed; removing what was made (logs were in ${lab.dir})`);
    await labDown({ name: opts.name, say: () => undefined, keepLogs: true }).catch(() => undefined);
    throw err;
  }
}

async function installMissing(say: (line: string) => void): Promise<void> {
  const pkgs = missingPackages(onPath);
  if (pkgs.length === 0) return;
  say(`lab: installing ${pkgs.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[], op: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn('apt-get', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.stdout.resume();
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve('') : reject(new LabError(`${op}: apt-get ${args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
    });
  await apt(['update', '-q'], 'refresh the package lists');
  await apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs], `install ${pkgs.join(' ')}`);
  const still = missingPackages(onPath);
  if (still.length > 0) throw new LabError(`still missing after apt-get install: ${still.join(' ')}`);
}

function onPath(bin: string): boolean {
  if (bin.startsWith('/')) return existsSync(bin);
  return (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && existsSync(join(d, bin)));
}

async function buildNetwork(lab: Lab, state: LabState, opts: UpOptions): Promise<void> {
  for (const role of LAB_ROLES) {
    await runTool(['ip', 'netns', 'add', lab.ns(role)], `create namespace ${lab.ns(role)}`);
    await lab.ip(role, 'link', 'set', 'dev', 'lo', 'up');
    // No DAD on the lab's fresh links (it is most of the time to Established);
    // dut is a router: it does not take default routes from r1's and r2's RAs.
    await lab.sysctl(role, {
      'net.ipv6.conf.all.accept_dad': 0,
      'net.ipv6.conf.default.accept_dad': 0,
      ...(role === 'dut' ? { 'net.ipv6.conf.all.accept_ra': 0, 'net.ipv6.conf.default.accept_ra': 0 } : {}),
    });
  }
  const fwd = opts.kernelForwarding ? 1 : 0;
  await lab.sysctl('dut', {
    'net.ipv4.ip_forward': fwd,
    'net.ipv6.conf.all.forwarding': fwd,
    // ECMP by flow (addresses and ports): the agent follows the kernel's policy.
    'net.ipv4.fib_multipath_hash_policy': 1,
    'net.ipv6.fib_multipath_hash_policy': 1,
  });
  state.dutNetns = (await lab.exec('dut', ['stat', '-L', '-c', '%i', '/proc/self/ns/net'], 'read the namespace inode')).trim();
  writeState(state);

  for (const l of LINKS) {
    await lab.ip(l.a.role, 'link', 'add', 'name', l.a.dev, 'address', l.a.mac, 'type', 'veth',
      'peer', 'name', l.b.dev, 'address', l.b.mac, 'netns', lab.ns(l.b.role));
    await lab.ip(l.a.role, 'link', 'set', 'dev', l.a.dev, 'up');
    await lab.ip(l.b.role, 'link', 'set', 'dev', l.b.dev, 'up');
  }
  for (const role of LAB_ROLES) {
    for (const a of ADDRESSES[role]) await lab.ip(role, 'addr', 'add', a.addr, 'dev', a.dev);
  }
  for (const l of LINKS) {
    await waitFor(`carrier on ${l.a.dev} in ${lab.ns(l.a.role)}`, async () => {
      const [link] = await lab.ipJson<{ operstate: string }[]>(l.a.role, 'link', 'show', 'dev', l.a.dev);
      return link?.operstate === 'UP' ? true : undefined;
    }, 10_000);
  }
  await lab.ip('h1', 'route', 'add', 'default', 'via', H1_GATEWAYS.v4, 'dev', 'eth0');
  await lab.ip('h1', '-6', 'route', 'add', 'default', 'via', H1_GATEWAYS.v6, 'dev', 'eth0');
  // The far ends of dut's ports receive XDP-redirected frames (see prepareVethPeer).
  for (const l of LINKS) await prepareVethPeer(lab.ns(l.b.role), l.b.dev);
}

async function startFrr(lab: Lab, role: RouterRole, nexthopObjects: boolean): Promise<void> {
  const dir = join(lab.dir, role);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const conf = join(dir, 'frr.conf');
  writeFileSync(conf, frrConfig(role, { nexthopObjects, logFile: join(dir, 'frr.log') }));
  // The daemons drop to frr:frr: their directory (sockets, pid files, log) must be theirs.
  // -N also makes /var/run/frr/<pathspace>; /var/run/frr exists only once frr's service has run.
  mkdirSync('/var/run/frr', { recursive: true, mode: 0o755 });
  await runTool(['chown', '-R', 'frr:frr', dir], `give ${dir} to frr`);
  await runTool(['chown', 'frr:frr', '/var/run/frr'], 'give /var/run/frr to frr');
  const common = ['-N', lab.ns(role), '-d', '-f', conf, '-z', join(dir, 'zserv.api'), '--vty_socket', dir, '-u', 'frr', '-g', 'frr'];
  await lab.exec(role, [join(FRR_BIN, 'zebra'), ...common, '-i', join(dir, 'zebra.pid')], `start zebra for ${role}`);
  await waitFor(`zebra's socket in ${dir}`, async () => (existsSync(join(dir, 'zserv.api')) ? true : undefined), 10_000);
  await lab.exec(role, [join(FRR_BIN, 'bgpd'), ...common, '-i', join(dir, 'bgpd.pid')], `start bgpd for ${role}`);
}

/** scripts/frr-root.sh 10: the cached FRR 10 root, built the first time (it says so, about a minute). */
async function frrRoot(say: (line: string) => void): Promise<{ root: string; version: string }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'frr-root.sh');
  if (!existsSync(script)) throw new LabError(`${script} is missing: --frr 10 runs from a checkout of the project`);
  say('lab: FRR 10 root (Debian forky, debootstrap; built once into .cache/frr, about a minute the first time)');
  const root = (await runTool(['bash', script, '10'], 'build or find the FRR 10 root (scripts/frr-root.sh 10)')).trim();
  const version = (await runTool(['chroot', root, 'dpkg-query', '-W', '-f', '${Version}', 'frr'], 'read the root\'s FRR version')).trim();
  return { root, version };
}

// Mount /proc inside the root in the private mount namespace `ip netns exec` makes, then exec the daemon
// chrooted. The root and argv are positional parameters: nothing is interpolated into the script.
// FRR 10's daemons keep the stdio they were started with after -d: give them /dev/null (they log to --log).
const IN_ROOT = 'mount -t proc proc "$1/proc" && root=$1 && shift && exec chroot "$root" "$@" </dev/null >/dev/null 2>&1';

/**
 * FRR 10 for `role`, chrooted: mgmtd, zebra (dut: with dplane_fpm_nl and
 * --asic-offload=notify_on_offload), bgpd, each with pathspace -N <ns> so
 * the lab's routers keep their sockets apart inside the one root.
 */
async function startFrr10(lab: Lab, role: RouterRole, root: string, nexthopObjects: boolean): Promise<void> {
  const ns = lab.ns(role);
  const [etc, run, log] = ['/etc/frr', '/run/frr', '/var/log/frr'].map((d) => `${d}/${ns}`) as [string, string, string];
  for (const d of [etc, run, log]) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  writeFileSync(join(root, etc, 'frr.conf'), frrConfig(role, { nexthopObjects, logFile: null, fpm: true }));
  writeFileSync(join(root, etc, 'vtysh.conf'), '');
  // The root's frr uid is not the host's: chown from inside.
  await runTool(['chroot', root, 'chown', '-R', 'frr:frr', etc, run, log], `give ${ns}'s FRR directories to frr (in the root)`);
  const daemons: Array<[string, string[]]> = [
    ['mgmtd', []],
    ['zebra', role === 'dut' ? ['-M', 'dplane_fpm_nl', '--asic-offload=notify_on_offload'] : []],
    ['bgpd', []],
  ];
  for (const [d, extra] of daemons) {
    // FRR 10's daemons take no -f: the configuration goes in through vtysh below.
    const argv = [join(FRR_BIN, d), '-d', '-N', ns, '--log', `file:${log}/${d}.log`, ...extra];
    await runTool(['ip', 'netns', 'exec', ns, 'sh', '-c', IN_ROOT, 'sh', root, ...argv], `start FRR 10 ${d} for ${role}`);
    if (d === 'zebra') await waitFor(`zebra's socket in ${join(root, run)}`, async () => (existsSync(join(root, run, 'zserv.api')) ? true : undefined), 10_000);
  }
  await runTool(['chroot', root, 'vtysh', '-N', ns, '-f', `${etc}/frr.conf`], `configure FRR 10 for ${role} (vtysh -f)`);
}

/** `fib-offload run` in dut, detached; its pid in agent.pid, its log in agent.log. */
function startAgent(lab: Lab, state: LabState): void {
  const config = join(lab.dir, 'agent.yaml');
  writeFileSync(config, agentConfig(state.metricsPort, state.frr10 !== undefined));
  const log = openSync(join(lab.dir, 'agent.log'), 'a');
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${lab.ns('dut')}`, process.execPath, cliPath(), 'run', '--config', config], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new LabError('could not start the agent (nsenter)');
    writeFileSync(join(lab.dir, 'agent.pid'), `${child.pid}\n`);
    child.unref();
  } finally {
    closeSync(log);
  }
}

/** h1 talks to its gateway once per family, so dut has h1's neighbour entries (the return path's adjacency). */
async function warmHosts(lab: Lab): Promise<void> {
  for (const gw of [H1_GATEWAYS.v4, H1_GATEWAYS.v6]) {
    await lab.exec('h1', ['ping', '-n', '-q', '-c', '1', '-W', '2', gw], `ping ${gw} from h1`);
  }
}

interface PlanJson {
  groups: { id: number; members: { dev: string; dmac: string }[] }[];
  entries: { family: number; dst: string; action: string; group?: number }[];
}

/** Every upstream prefix is a forward entry with as many members as routers originate it. */
async function waitForOffload(lab: Lab): Promise<void> {
  const describe = async (): Promise<string> => {
    const plan = await lab.cliJson<PlanJson>('dut', 'plan', '--json', '--config', join(lab.dir, 'agent.yaml'));
    return DESTINATIONS.map((d) => `${d.prefix}: ${plan.entries.find((e) => e.dst === d.prefix)?.action ?? 'absent'}`).join(', ');
  };
  await waitFor('the upstream prefixes in the plan (BGP routes in dut\'s kernel, resolved)', async () => {
    const plan = await lab.cliJson<PlanJson>('dut', 'plan', '--json', '--config', join(lab.dir, 'agent.yaml'));
    const ok = DESTINATIONS.every((d) => {
      const e = plan.entries.find((x) => x.dst === d.prefix && x.action === 'forward');
      const g = e && plan.groups.find((x) => x.id === e.group);
      return g !== undefined && g.members.length === d.via.length;
    });
    return ok ? true : undefined;
  }, 30_000, describe);
  const http = new NsHttp({ name: lab.ns('dut') }, 2000);
  try {
    await waitFor('the agent to report ready (/healthz 200)', async () => {
      const r = await http.get(`http://127.0.0.1:${METRICS_PORT}/healthz`).catch(() => null);
      return r?.status === 200 ? true : undefined;
    }, 30_000, async () => `see ${join(lab.dir, 'agent.log')}`);
  } finally {
    http.stop();
  }
}

function describeSessions(s: readonly BgpSession[]): string {
  if (s.length === 0) return 'no sessions yet';
  return s.map((x) => `${x.peer}(${x.hostname ?? '?'}) ${x.afi} ${x.state}`).join(', ');
}
