// The deployment files: deploy/systemd/fib-offload.service (its content, what
// `systemd-analyze verify` says about it, and whether its capability set is
// enough for the agent and no more) and deploy/kubernetes/daemonset.yaml (the
// fields that make it work on a router node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { pinDirOf, removePins, agent } from './lib/agent.js';
import { CLI, ROOT } from './lib/probe.js';

const UNIT_NAME = 'fib-offload.service';
const UNIT_PATH = join(ROOT, 'deploy', 'systemd', UNIT_NAME);
const DAEMONSET_PATH = join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml');
const CAPS = ['CAP_NET_ADMIN', 'CAP_BPF'];

/** A unit file as section → [key, value] in file order (repeated keys stay repeated). */
function parseUnit(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      current = [];
      sections.set(sec[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unit file: unexpected line "${raw}"`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

describe('systemd unit: content', () => {
  const unit = parseUnit(readFileSync(UNIT_PATH, 'utf8'));
  /** Every value of `key` in `section` (a key may be given several times). */
  const all = (section: string, key: string): string[] =>
    (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
  /** The one value of `key`; fails if it is missing or given twice. */
  const one = (section: string, key: string): string => {
    const v = all(section, key);
    expect(v, `[${section}] ${key}=`).toHaveLength(1);
    return v[0]!;
  };
  /** Space-separated list values of `key`, all assignments joined. */
  const list = (section: string, key: string): string[] => all(section, key).flatMap((v) => v.split(/\s+/)).filter(Boolean);

  it('starts after FRR and networking, needs the host bpffs', () => {
    expect(list('Unit', 'Wants')).toContain('frr.service');
    expect(list('Unit', 'After')).toEqual(expect.arrayContaining(['frr.service', 'network.target']));
    // Not Requires=: an FRR restart must not stop the agent.
    expect(list('Unit', 'Requires')).not.toContain('frr.service');
    expect(list('Unit', 'RequiresMountsFor')).toContain('/sys/fs/bpf');
    expect(one('Unit', 'AssertPathIsMountPoint')).toBe('/sys/fs/bpf');
  });

  it('is Type=notify with readiness from a child process', () => {
    expect(one('Service', 'Type')).toBe('notify');
    expect(one('Service', 'NotifyAccess')).toBe('all');
  });

  it('runs the daemon with the config; reload is SIGHUP; stop is SIGTERM (offload stays)', () => {
    expect(one('Service', 'ExecStart')).toBe('/usr/bin/fib-offload run --config /etc/fib-offload/config.yaml');
    expect(one('Service', 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('Service', 'KillSignal')).toBe('SIGTERM');
    expect(one('Service', 'TimeoutStopSec')).toMatch(/^\d+s?$/);
    expect(one('Service', 'Restart')).toBe('on-failure');
    expect(one('Service', 'RestartSec')).toMatch(/^\d+(ms|s)?$/);
    // Exit 2 = bad configuration: restarting can't fix it.
    expect(one('Service', 'RestartPreventExitStatus')).toBe('2');
  });

  it('has exactly CAP_NET_ADMIN and CAP_BPF, bounding and ambient; no CAP_PERFMON, no CAP_SYS_ADMIN', () => {
    expect(list('Service', 'CapabilityBoundingSet').sort()).toEqual([...CAPS].sort());
    expect(list('Service', 'AmbientCapabilities').sort()).toEqual([...CAPS].sort());
    // Not even in a key this test doesn't know about (comments excluded by the parser).
    for (const [, entries] of unit) for (const [, v] of entries) expect(v).not.toMatch(/SYS_ADMIN/);
    expect(one('Service', 'NoNewPrivileges')).toBe('yes');
    expect(one('Service', 'LimitMEMLOCK')).toBe('infinity');
  });

  it('is sandboxed: read-only system, writable bpffs, restricted sockets', () => {
    expect(one('Service', 'ProtectSystem')).toBe('strict');
    expect(list('Service', 'ReadWritePaths')).toContain('/sys/fs/bpf');
    expect(one('Service', 'ProtectHome')).toBe('yes');
    expect(one('Service', 'PrivateTmp')).toBe('yes');
    // ProtectSystem=strict leaves /sys alone; this is what makes it read-only
    // (and ReadWritePaths= what keeps /sys/fs/bpf writable).
    expect(one('Service', 'ProtectKernelTunables')).toBe('yes');
    expect(one('Service', 'RestrictAddressFamilies')).toBe('AF_NETLINK AF_UNIX AF_INET AF_INET6');
    for (const key of ['ProtectKernelModules', 'ProtectControlGroups', 'LockPersonality', 'RestrictRealtime']) {
      expect(one('Service', key), key).toBe('yes');
    }
    expect(one('Service', 'SystemCallArchitectures')).toBe('native');
    // Node's JIT needs W+X memory.
    expect(all('Service', 'MemoryDenyWriteExecute')).toEqual([]);
  });

  it('is enabled into multi-user.target', () => {
    expect(one('Install', 'WantedBy')).toBe('multi-user.target');
  });
});

// `systemd-analyze verify` in an alternate root (--root), so the shipped file
// is verified unmodified: verify checks that ExecStart=/ExecReload= binaries
// exist and are executable, and under --root it looks for them inside the
// root, where stub executables stand in for /usr/bin/fib-offload and
// /bin/kill. The root also gets a copy of the host's system unit directory:
// the default dependencies (sysinit.target, basic.target, shutdown.target)
// and network.target must resolve, or verify fails for them. Found by trying
// (systemd 252):
//   - Wants=/After= on a unit that doesn't exist (frr.service on a machine
//     without FRR) is silent, and so is the result; Requires= on one is an
//     error. Both cases are verified below: without frr.service, and with a
//     stub of it.
//   - Without --recursive-errors, verify exits 0 even on warnings about the
//     unit itself ("Unknown key ...", "Failed to parse ..."), so the exit
//     status alone proves nothing. --recursive-errors=no makes warnings about
//     the named unit fail the exit status, and leaves dependencies' warnings
//     (other units, e.g. a distribution's frr.service) non-fatal. On top of
//     that, any output line naming fib-offload.service is a failure; other
//     lines are noise about other units, printed for the log but allowed.
//   - A deliberately broken copy is verified too, to show this harness
//     does catch problems.
const haveAnalyze = which('systemd-analyze');
const HOST_UNIT_DIRS = ['/usr/lib/systemd/system', '/lib/systemd/system'];
const hostUnitDir = HOST_UNIT_DIRS.find((d) => existsSync(join(d, 'sysinit.target')));
const verifySkip = !haveAnalyze
  ? 'systemd-analyze not found (systemd is not installed)'
  : !hostUnitDir
    ? `no systemd unit directory with sysinit.target in ${HOST_UNIT_DIRS.join(', ')}`
    : '';

describe.skipIf(verifySkip !== '')(`systemd unit: systemd-analyze verify${verifySkip ? ` (skipped: ${verifySkip})` : ''}`, () => {
  let root = '';

  function makeRoot(unitText: string, frr: 'absent' | 'stub'): string {
    const dir = mkdtempSync(join(tmpdir(), 'fib-offload-verify-'));
    const sys = join(dir, 'usr/lib/systemd/system');
    mkdirSync(join(dir, 'usr/lib/systemd'), { recursive: true });
    cpSync(hostUnitDir!, sys, { recursive: true, verbatimSymlinks: true });
    // The host's FRR, if installed, is not what's under test.
    rmSync(join(sys, 'frr.service'), { force: true });
    rmSync(join(sys, 'frr.service.d'), { recursive: true, force: true });
    mkdirSync(join(dir, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(dir, 'etc/systemd/system', UNIT_NAME), unitText);
    if (frr === 'stub') {
      writeFileSync(join(dir, 'etc/systemd/system/frr.service'),
        '[Unit]\nDescription=FRRouting (stub for verify)\n[Service]\nType=forking\nExecStart=/usr/bin/true\n');
    }
    for (const exe of ['usr/bin/fib-offload', 'usr/bin/true', 'bin/kill']) {
      mkdirSync(join(dir, exe, '..'), { recursive: true });
      writeFileSync(join(dir, exe), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, exe), 0o755);
    }
    return dir;
  }

  function verify(dir: string): { status: number | null; ours: string[]; noise: string[]; out: string } {
    const p = spawnSync('systemd-analyze', ['verify', '--recursive-errors=no', `--root=${dir}`, UNIT_NAME], {
      encoding: 'utf8', cwd: dir, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
    });
    const out = `${p.stdout}${p.stderr}`;
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    return {
      status: p.status,
      ours: lines.filter((l) => l.includes(UNIT_NAME)),
      noise: lines.filter((l) => !l.includes(UNIT_NAME)),
      out,
    };
  }

  const original = readFileSync(UNIT_PATH, 'utf8');

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('passes with no warnings about the unit, on a machine without FRR', () => {
    root = makeRoot(original, 'absent');
    expect(readFileSync(join(root, 'etc/systemd/system', UNIT_NAME), 'utf8')).toBe(original);
    const r = verify(root);
    if (r.noise.length) console.log(`systemd-analyze verify, lines about other units (allowed):\n${r.noise.join('\n')}`);
    expect(r.ours, r.out).toEqual([]);
    expect(r.status, r.out).toBe(0);
    rmSync(root, { recursive: true, force: true });
    root = '';
  });

  it('passes with no warnings about the unit, with an frr.service present', () => {
    root = makeRoot(original, 'stub');
    const r = verify(root);
    expect(r.ours, r.out).toEqual([]);
    expect(r.status, r.out).toBe(0);
    rmSync(root, { recursive: true, force: true });
    root = '';
  });

  it('catches a broken unit (the harness is not vacuous)', () => {
    const broken = original
      .replace(/^NoNewPrivileges=yes$/m, 'NoNewPrivileges=yes\nNoSuchKey=1')
      .replace(/^ExecReload=.*$/m, 'ExecReload=/usr/bin/no-such-binary');
    root = makeRoot(broken, 'absent');
    const r = verify(root);
    expect(r.status).not.toBe(0);
    expect(r.ours.join('\n')).toMatch(/NoSuchKey/);
    expect(r.ours.join('\n')).toMatch(/no-such-binary/);
    rmSync(root, { recursive: true, force: true });
    root = '';
  });
});

// The unit's capability set against the real thing: `fib-offload apply` and
// `flush` (the XDP backend: bpftool load + pin, ip link attach, map writes)
// in a test namespace, run as systemd runs the service: root, bounding,
// inheritable and ambient sets = the unit's CapabilityBoundingSet, no_new_privs.
const capTools = ['nsenter', 'setpriv', 'bpftool', 'ip'].filter((t) => !which(t));
const capSkip = !isRoot()
  ? 'needs root'
  : capTools.length
    ? `missing ${capTools.join(', ')}`
    : !existsSync(join(ROOT, 'bpf/build/fib_offload.bpf.o')) || !existsSync(CLI)
      ? 'not built (npm run build)'
      : '';

describe.skipIf(capSkip !== '')(`systemd unit: its capabilities are enough for the agent${capSkip ? ` (skipped: ${capSkip})` : ''}`, () => {
  const nets = new NetnsSet('deploy');
  let dut: Netns;
  let pins = '';
  const unitCaps = (readFileSync(UNIT_PATH, 'utf8').match(/^CapabilityBoundingSet=(.*)$/m)?.[1] ?? '').split(/\s+/).filter(Boolean);

  /** argv under setpriv with the given capabilities (CAP_X names), inside dut's network namespace. */
  function confined(caps: readonly string[], ...argv: string[]): { status: number | null; stdout: string; stderr: string } {
    const set = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
    const p = spawnSync('nsenter', [`--net=/run/netns/${dut.name}`, 'setpriv',
      `--bounding-set=${set}`, `--inh-caps=${set}`, `--ambient-caps=${set}`, '--no-new-privs', '--', ...argv], { encoding: 'utf8' });
    return { status: p.status, stdout: p.stdout, stderr: p.stderr };
  }
  const cli = (caps: readonly string[], ...args: string[]) => confined(caps, process.execPath, CLI, ...args);
  const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];

  beforeAll(async () => {
    dut = nets.add('dut');
    pins = pinDirOf(dut);
    // Both ends of one veth pair in dut: two ports, a gateway behind eth1.
    dut.ip('link', 'add', 'name', 'eth1', 'type', 'veth', 'peer', 'name', 'eth2');
    dut.ip('link', 'set', 'dev', 'eth1', 'up');
    dut.ip('link', 'set', 'dev', 'eth2', 'up');
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2',
      'neigh add 10.1.0.2 lladdr 02:00:00:00:01:02 dev eth1 nud permanent']);
    await dut.waitCarrier('eth1');
    await dut.waitCarrier('eth2');
    dut.ipBatch(['route add 198.51.100.0/24 via 10.1.0.2 dev eth1']);
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('the confinement is real: exactly the unit\'s capabilities, no_new_privs', () => {
    expect([...unitCaps].sort()).toEqual([...CAPS].sort());
    const p = confined(unitCaps, 'grep', '-E', '^(CapEff|CapBnd|CapAmb|NoNewPrivs)', '/proc/self/status');
    expect(p.status, p.stderr).toBe(0);
    // CAP_NET_ADMIN = 12, CAP_BPF = 39.
    const mask = ((1n << 12n) | (1n << 39n)).toString(16).padStart(16, '0');
    expect(p.stdout).toMatch(new RegExp(`CapEff:\\s+${mask}`));
    expect(p.stdout).toMatch(new RegExp(`CapBnd:\\s+${mask}`));
    expect(p.stdout).toMatch(new RegExp(`CapAmb:\\s+${mask}`));
    expect(p.stdout).toMatch(/NoNewPrivs:\s+1/);
  });

  it('apply loads, pins and attaches; a second apply reuses; flush removes', () => {
    const first = cli(unitCaps, 'apply', ...PORTS);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/program fresh/);
    expect(first.stdout).toMatch(/attached to eth1/);
    expect(existsSync(join(pins, 'prog'))).toBe(true);

    const second = cli(unitCaps, 'apply', ...PORTS);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/program reused/);
    expect(second.stdout).toMatch(/no changes/);

    const flush = cli(unitCaps, 'flush');
    expect(flush.status, flush.stderr).toBe(0);
    expect(existsSync(pins)).toBe(false);
  });

  it('without CAP_BPF the program can\'t be loaded (the set is no larger than it must be)', () => {
    const p = cli(unitCaps.filter((c) => c !== 'CAP_BPF'), 'apply', ...PORTS);
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/bpftool prog load/);
    // Whatever was half-made is removed by the full-root flush in afterAll.
  });
});

describe('Kubernetes DaemonSet and ConfigMap', () => {
  const docs = parseAllDocuments(readFileSync(DAEMONSET_PATH, 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${DAEMONSET_PATH}: ${d.errors.map((e) => e.message).join('; ')}`);
  const objects = docs.map((d) => d.toJS() as any).filter((o) => o);
  const ds = objects.find((o) => o.kind === 'DaemonSet');
  const cm = objects.find((o) => o.kind === 'ConfigMap');
  const pod = ds?.spec?.template?.spec;
  const container = pod?.containers?.[0];

  it('has one DaemonSet (apps/v1) and its ConfigMap', () => {
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual(['apps/v1 DaemonSet', 'v1 ConfigMap']);
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    expect(pod.containers).toHaveLength(1);
    expect(cm.metadata.namespace).toBe(ds.metadata.namespace);
  });

  it('runs in the host network, on every node, node-critical, one agent per node', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(0);
    expect(ds.spec.updateStrategy.rollingUpdate.maxSurge).toBe(0);
  });

  it('is not privileged: NET_ADMIN and BPF added, everything else dropped', () => {
    const sc = container.securityContext;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect([...sc.capabilities.add].sort()).toEqual(['BPF', 'NET_ADMIN']);
    // Same set as the systemd unit.
    expect(sc.capabilities.add.map((c: string) => `CAP_${c}`).sort()).toEqual([...CAPS].sort());
  });

  it('mounts the host bpffs at /sys/fs/bpf with HostToContainer propagation', () => {
    const vol = pod.volumes.find((v: { hostPath?: { path: string } }) => v.hostPath?.path === '/sys/fs/bpf');
    expect(vol).toBeDefined();
    expect(vol.hostPath.type).toBe('DirectoryOrCreate');
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === vol.name);
    expect(mount.mountPath).toBe('/sys/fs/bpf');
    // Bidirectional would need privileged: true (and is not wanted: see the file).
    expect(mount.mountPropagation).toBe('HostToContainer');
    expect(mount.readOnly).not.toBe(true);
  });

  it('runs the daemon with the ConfigMap mounted at /etc/fib-offload; the config is valid', () => {
    expect(container.command).toEqual(['fib-offload', 'run', '--config', '/etc/fib-offload/config.yaml']);
    const vol = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === cm.metadata.name);
    expect(vol).toBeDefined();
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === vol.name);
    expect(mount.mountPath).toBe('/etc/fib-offload');
    expect(mount.subPath).toBeUndefined();
    // The agent's own validation of the file it will read.
    const config = parseConfig(cm.data['config.yaml'], 'ConfigMap fib-offload config.yaml');
    expect(config.xdp.bpffs).toBe('/sys/fs/bpf');
  });

  it('probes /healthz on the address the agent actually listens on', () => {
    const config = parseConfig(cm.data['config.yaml'], 'ConfigMap fib-offload config.yaml');
    for (const name of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const probe = container[name];
      expect(probe, name).toBeDefined();
      expect(probe.httpGet.path, name).toBe('/healthz');
      // hostNetwork: the pod IP is the node IP, where nothing listens; the
      // kubelet shares the host network namespace, so loopback reaches it.
      expect(probe.httpGet.host, name).toBe(config.metrics.host);
      expect(probe.httpGet.port, name).toBe(config.metrics.port);
    }
    expect(config.metrics.listen).toBe('127.0.0.1:9469');
    // The first full sync may take minutes: startup allows for it before liveness can kill.
    const s = container.startupProbe;
    expect(s.periodSeconds * s.failureThreshold).toBeGreaterThanOrEqual(300);
  });

  it('has a clearly marked image placeholder', () => {
    expect(container.image).toMatch(/PLACEHOLDER/);
  });
});
