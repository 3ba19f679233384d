// The agent run the way the README says, `ip netns exec NS fib-offload ...`,
// which remounts /sys (so /sys/fs/bpf there is not the host's bpffs): apply
// pins on the host's bpffs all the same, a second apply changes nothing, a
// flush detaches and traffic stops (ip_forward is off in dut), and a flush
// after the pins were lost still finds and detaches the program.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { agent, enablePeer, pinDirOf, removePins, type CliResult } from './lib/agent.js';
import { CLI, ROOT } from './lib/probe.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];

/** `ip netns exec NS fib-offload ARGS`, as an operator types it. */
function netnsExec(ns: Netns, ...args: string[]): CliResult {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

function ping(ns: Netns, dst: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', dst]).status === 0;
}

/** Links in the namespace with an XDP program attached, as dev → program id. */
function xdpIds(ns: Netns): Map<string, number> {
  const links = JSON.parse(ns.ip('-j', '-d', 'link', 'show')) as Array<{ ifname: string; xdp?: { prog?: { id?: number } } }>;
  return new Map(links.filter((l) => l.xdp?.prog?.id !== undefined).map((l) => [l.ifname, l.xdp!.prog!.id!]));
}

/** Links in the namespace with an XDP program attached, as dev → program name. */
function xdpOn(ns: Netns): Map<string, string> {
  const links = JSON.parse(ns.ip('-j', '-d', 'link', 'show')) as Array<{ ifname: string; xdp?: { prog?: { name?: string } } }>;
  return new Map(links.filter((l) => l.xdp?.prog).map((l) => [l.ifname, l.xdp!.prog!.name ?? '?']));
}

describe.skipIf(!isRoot())('fib-offload under ip netns exec', () => {
  const nets = new NetnsSet('nsexec');
  let dut: Netns, h1: Netns, h2: Netns;
  let pins = '';

  beforeAll(async () => {
    dut = nets.add('dut');
    h1 = nets.add('h1');
    h2 = nets.add('h2');
    pins = pinDirOf(dut);
    nets.veth(dut, 'eth1', h1, 'eth0');
    nets.veth(dut, 'eth2', h2, 'eth0');
    h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1']);
    h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'route add default via 10.2.0.1', 'addr add 198.51.100.1/32 dev lo']);
    dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2']);
    for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
    dut.ipBatch(['route add 198.51.100.0/24 via 10.2.0.2 dev eth2']);
    dut.sysctl('net.ipv4.ip_forward', 0);
    // Both neighbours resolved before the plan is made (dut answers and asks ARP itself).
    for (const a of ['10.1.0.2', '10.2.0.2']) expect(ping(dut, a), `dut reaches ${a}`).toBe(true);
    for (const ns of [h1, h2]) await enablePeer(ns, 'eth0');
  });

  afterAll(() => {
    if (dut) agent(dut, 'flush');
    nets.destroy();
    if (pins) removePins(pins);
  });

  it('apply pins on the host\'s bpffs; a second apply reuses it and changes nothing; traffic is forwarded', () => {
    expect(ping(h1, '198.51.100.1'), 'ip_forward is off: nothing is forwarded before apply').toBe(false);
    const first = netnsExec(dut, 'apply', ...PORTS);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/program fresh/);
    expect(first.stdout, 'the pin directory as the host names it').toContain(`pinned at ${pins}`);
    expect(existsSync(join(pins, 'prog')), `pinned at ${pins} on the host`).toBe(true);
    const second = netnsExec(dut, 'apply', ...PORTS);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/program reused/);
    expect(second.stdout).toMatch(/no changes/);
    expect(ping(h1, '198.51.100.1'), 'forwarded by XDP').toBe(true);
    // The same pins from nsenter (host mounts): one agent state, whichever way it is run.
    const third = agent(dut, 'apply', ...PORTS);
    expect(third.status, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/no changes/);
  });

  it('flush detaches, unpins, and traffic stops', () => {
    const r = netnsExec(dut, 'flush');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/detached from eth1/);
    expect(r.stdout).toMatch(/removed /);
    expect([...xdpOn(dut).values()]).not.toContain('fib_offload');
    expect(existsSync(pins)).toBe(false);
    expect(ping(h1, '198.51.100.1'), 'ip_forward is off and the program is gone').toBe(false);
  });

  it('apply with the pins lost takes its own program back (known by its maps), replacing it in place (no detach), and forwards', () => {
    const a = netnsExec(dut, 'apply', ...PORTS);
    expect(a.status, a.stderr).toBe(0);
    const before = xdpIds(dut);
    rmSync(pins, { recursive: true, force: true });
    const b = netnsExec(dut, 'apply', ...PORTS);
    expect(b.status, `${b.stdout}\n${b.stderr}`).toBe(0);
    expect(b.stdout).toMatch(/program fresh/);
    const after = xdpIds(dut);
    // One new program on both ports (an atomic replace: no detach in between), forwarding.
    expect(new Set(after.values()).size).toBe(1);
    expect([...after.values()][0]).not.toBe([...before.values()][0]);
    expect(ping(h1, '198.51.100.1'), 'forwarded by the new program').toBe(true);
    const r = netnsExec(dut, 'flush');
    expect(r.status, r.stderr).toBe(0);
  });

  it('flush with the pins lost still finds the program by its name and maps and detaches it', () => {
    const a = netnsExec(dut, 'apply', ...PORTS);
    expect(a.status, a.stderr).toBe(0);
    rmSync(pins, { recursive: true, force: true });
    expect([...xdpOn(dut).values()]).toContain('fib_offload');
    const r = netnsExec(dut, 'flush');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/detached from eth1 \(a fib_offload program no pin named/);
    expect(r.stdout).toMatch(/nothing pinned/);
    expect([...xdpOn(dut).values()]).not.toContain('fib_offload');
  });

  it('a program that only shares the name is not ours: apply leaves its port alone, flush leaves it attached', () => {
    // bpf/impostor.bpf.c: named fib_offload, with none of the agent's maps.
    dut.ip('link', 'set', 'dev', 'eth2', 'xdpgeneric', 'obj', join(ROOT, 'bpf/build/impostor.bpf.o'), 'sec', 'xdp');
    try {
      const foreign = xdpIds(dut).get('eth2');
      expect(foreign).toBeDefined();
      const a = netnsExec(dut, 'apply', ...PORTS);
      expect(a.status, a.stdout).toBe(1);
      expect(a.stdout).toMatch(/NOT attached to eth2: eth2 already runs XDP program id \d+, not fib-offload's/);
      expect(xdpIds(dut).get('eth2')).toBe(foreign);
      const f = netnsExec(dut, 'flush');
      expect(f.status, f.stderr).toBe(0);
      expect(f.stdout).toMatch(/detached from eth1\n/);
      expect(f.stdout).not.toMatch(/eth2/);
      expect(xdpIds(dut).get('eth2'), 'still attached').toBe(foreign);
    } finally {
      dut.ip('link', 'set', 'dev', 'eth2', 'xdpgeneric', 'off');
    }
  });
});
