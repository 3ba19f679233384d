// End to end with FRR 10 (`lab up --frr 10`): dut's zebra reports to the
// agent over FPM and dut's bgpd runs `bgp suppress-fib-pending`, so r2 hears
// r1's prefixes through dut only once dut's agent has answered for them.
// The judges are FRR's own: dut's zebra (offloaded / queued) and r2's BGP table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, eventually } from '../integration/lib/netns.js';
import { CLI } from '../integration/lib/probe.js';
import { labDir, readState } from '../../src/lab/env.js';
import type { LabStatus } from '../../src/lab/status.js';
import { DESTINATIONS } from '../../src/lab/topology.js';

const NAME = 'fot-lab10';

function lab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'lab', ...args, '--name', NAME], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function vtysh(role: 'dut' | 'r1' | 'r2', ...commands: string[]): string {
  const root = readState(NAME)!.frr10!.root;
  const r = spawnSync('chroot', [root, 'vtysh', '-N', `${NAME}-${role}`, ...commands.flatMap((c) => ['-c', c])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vtysh ${commands.join('; ')} at ${role}: ${r.stderr}`);
  return r.stdout;
}
/** A router's paths for a prefix (r2: what dut advertised to it from r1, and the reverse). */
function pathsAt(role: 'r1' | 'r2', prefix: string): number {
  const j = JSON.parse(vtysh(role, `show bgp ipv4 unicast ${prefix} json`)) as { paths?: unknown[] };
  return j.paths?.length ?? 0;
}
const r2Paths = (prefix: string): number => pathsAt('r2', prefix);
function dutZebra(prefix: string): { queued?: boolean; offloaded?: boolean; trapped?: boolean } | undefined {
  const j = JSON.parse(vtysh('dut', `show ip route ${prefix} json`)) as Record<string, Array<{ protocol: string; queued?: boolean; offloaded?: boolean; trapped?: boolean }>>;
  return j[prefix]?.find((r) => r.protocol === 'bgp');
}
function agentPid(): number {
  return Number(readFileSync(join(labDir(NAME), 'agent.pid'), 'utf8').trim());
}
/** Start the agent again the way `lab up` does (detached, same config, its pid in agent.pid). */
function restartAgent(): void {
  const dir = labDir(NAME);
  const log = openSync(join(dir, 'agent.log'), 'a');
  const child = spawn('nsenter', [`--net=/run/netns/${NAME}-dut`, process.execPath, CLI, 'run', '--config', join(dir, 'agent.yaml')], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  writeFileSync(join(dir, 'agent.pid'), `${child.pid}\n`);
  child.unref();
}
const NEW = '192.0.2.0/24'; // originated by r1 during the test

describe.skipIf(!isRoot())('lab --frr 10: BGP advertises what the agent installed', () => {
  beforeAll(() => {
    lab('down');
    const up = lab('up', '--frr', '10');
    if (up.status !== 0) throw new Error(`lab up --frr 10 exited ${up.status}:\n${up.stdout}\n${up.stderr}`);
  }, 360_000);

  afterAll(() => {
    lab('down');
  });

  it("dut's zebra marks every upstream prefix offloaded (the agent's FPM answers)", async () => {
    const s = await eventually('every prefix offloaded in zebra', () => {
      const r = lab('status', '--json');
      const st = JSON.parse(r.stdout) as LabStatus;
      return st.frr10?.offload.every((o) => o.state === 'offloaded') ? st : undefined;
    }, 10_000);
    expect(s.frr10!.offload.map((o) => o.dst)).toEqual(DESTINATIONS.map((d) => d.prefix));
    expect(s.agent?.fpm).toMatchObject({ connected: true, drift: { zebraOnly: 0, kernelOnly: 0 } });
    // r2 hears r1's own prefix through dut: advertised because it was offloaded.
    expect(r2Paths('203.0.113.0/25')).toBeGreaterThan(0);
  });

  it('with the agent stopped, a new upstream prefix stays queued and unadvertised; once it runs again, r2 hears it', async () => {
    process.kill(agentPid(), 'SIGTERM');
    await eventually('the agent gone', () => (spawnSync('kill', ['-0', String(agentPid())]).status !== 0 ? true : undefined), 10_000);
    spawnSync('ip', ['-n', `${NAME}-r1`, 'addr', 'add', '192.0.2.1/24', 'dev', 'lo']);
    vtysh('r1', 'configure terminal', 'router bgp 65001', 'address-family ipv4 unicast', `network ${NEW}`);
    await eventually('dut has the route from r1 (queued in zebra)', () => (dutZebra(NEW) ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(dutZebra(NEW)?.queued).toBe(true);
    expect(r2Paths(NEW)).toBe(0);
    restartAgent();
    const t0 = Date.now();
    await eventually('r2 hears the new prefix', () => (r2Paths(NEW) > 0 ? true : undefined), 20_000);
    console.log(`lab --frr 10: agent restarted → r2 hears ${NEW}: ${Date.now() - t0} ms`);
    expect(dutZebra(NEW)?.offloaded).toBe(true);
  });

  it('a withdrawal at r1 reaches r2', async () => {
    vtysh('r1', 'configure terminal', 'router bgp 65001', 'address-family ipv4 unicast', `no network ${NEW}`);
    await eventually('r2 loses the prefix', () => (r2Paths(NEW) === 0 ? true : undefined), 10_000);
    expect(dutZebra(NEW)).toBeUndefined();
  });

  it("a route out of a port the agent doesn't offload is answered offload+trap and still reaches r1", async () => {
    const cfg = join(labDir(NAME), 'agent.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8') + 'port_backends: { eth2: none }\n');
    process.kill(agentPid(), 'SIGHUP');
    await eventually('eth2 left to the kernel', () => {
      const st = JSON.parse(lab('status', '--json').stdout) as LabStatus;
      return st.agent && !st.agent.ports.some((p) => p.dev === 'eth2') ? true : undefined;
    }, 10_000);
    const viaR2 = '192.0.2.128/25';
    spawnSync('ip', ['-n', `${NAME}-r2`, 'addr', 'add', '192.0.2.129/25', 'dev', 'lo']);
    vtysh('r2', 'configure terminal', 'router bgp 65002', 'address-family ipv4 unicast', `network ${viaR2}`);
    await eventually('r1 hears the prefix through dut', () => (pathsAt('r1', viaR2) > 0 ? true : undefined), 10_000);
    expect(dutZebra(viaR2)).toMatchObject({ offloaded: true, trapped: true });
  });
});
