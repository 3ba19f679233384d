// Netfilter and the offload, with real packets: h1 — dut — h2, an nft
// forward-chain drop for one of h2's addresses. Each case runs first with the
// kernel alone (what it does is recorded), then with the agent: the same
// packets must end up in the same places. ip_forward is on in dut, so what
// the offload hands over, the kernel serves; the XDP verdict counters show
// which of the two forwarded.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanJson } from '../../src/plan/json.js';
import { agent } from './lib/agent.js';
import { sampleValue, type DaemonProcess } from './lib/daemon.js';
import { daemonIn, destroyLine, line, type Line } from './lib/line.js';
import { eventually, isRoot, run, type Netns } from './lib/netns.js';
import { echosIn, ping } from './lib/ping.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];
const LISTEN = '127.0.0.1:9479';
const OPEN = '198.51.100.1';
const BLOCKED = '198.51.100.2';

describe.skipIf(!isRoot())('firewall: netfilter on the forwarding path and the offload', () => {
  let t: Line;
  let dut: Netns, h1: Netns, h2: Netns;
  let daemon: DaemonProcess | undefined;

  const nft = (script: string): string => run(['ip', 'netns', 'exec', dut.name, 'nft', '-f', '-'], script);
  /** Where a ping from h1 to `dst` ended up: answered or not, and echo requests h2's kernel saw. */
  const where = (dst: string): { ok: boolean; h2: number } => {
    const before = echosIn(h2);
    const p = ping(h1, dst);
    return { ok: p.ok, h2: echosIn(h2) - before };
  };
  const both = (): { open: { ok: boolean; h2: number }; blocked: { ok: boolean; h2: number } } => ({ open: where(OPEN), blocked: where(BLOCKED) });

  beforeAll(async () => {
    t = await line('fw', { h2: [`addr add ${OPEN}/32 dev lo`, `addr add ${BLOCKED}/32 dev lo`], dut: ['route add 198.51.100.0/24 via 10.2.0.2 dev eth2'] });
    ({ dut, h1, h2 } = t);
    writeFileSync(join(t.tmp, 'bypass.yaml'), 'firewall: bypass\n');
  });

  afterAll(() => destroyLine(t));

  it('an nft forward-chain drop: the kernel drops it, and with the agent it still does (both ports go to the kernel); bypass offloads it anyway', () => {
    // Without a firewall, XDP forwards both (the baseline that shows the counters move).
    expect(agent(dut, 'apply', ...PORTS).status).toBe(0);
    let before = t.counters.verdicts();
    expect(both()).toEqual({ open: { ok: true, h2: 2 }, blocked: { ok: true, h2: 2 } });
    expect(t.counters.verdicts().forwarded - before.forwarded).toBe(8);

    nft(`table inet fw {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n  ip daddr ${BLOCKED} drop\n }\n}\n`);
    expect(agent(dut, 'flush').status).toBe(0);
    const kernel = both();
    expect(kernel).toEqual({ open: { ok: true, h2: 2 }, blocked: { ok: false, h2: 0 } });

    const plan = JSON.parse(agent(dut, 'plan', '--json', '--ports', 'eth1,eth2').stdout) as PlanJson;
    expect(plan.firewall).toEqual({
      mode: 'respect',
      hooks: [{ what: 'nft inet fw forward', hook: 'forward', detail: '1 rule', scope: 'all', ports: [], families: [4, 6] }],
    });
    const text = agent(dut, 'plan', '--ports', 'eth1,eth2').stdout;
    expect(text).toContain('ports: eth1(xdp, ingress to kernel) eth2(xdp, ingress to kernel)');
    expect(text).toContain('  nft inet fw forward (1 rule): every offload port');

    const r = agent(dut, 'apply', ...PORTS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    before = t.counters.verdicts();
    expect(both()).toEqual(kernel);
    const after = t.counters.verdicts();
    expect(after.forwarded - before.forwarded).toBe(0);
    expect(after.not_port - before.not_port).toBeGreaterThanOrEqual(6);

    // firewall: bypass is what the agent did before it read netfilter: the drop no longer protects.
    expect(agent(dut, 'apply', ...PORTS, '--config', join(t.tmp, 'bypass.yaml')).status).toBe(0);
    expect(both().blocked).toEqual({ ok: true, h2: 2 });
    nft('delete table inet fw\n');
  });

  it('a chain that sees only IPv6 (ip6 family) leaves IPv4 offloaded: XDP still forwards it', () => {
    nft(`table ip6 fw6 {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n }\n}\n`);
    try {
      const plan = JSON.parse(agent(dut, 'plan', '--json', '--ports', 'eth1,eth2').stdout) as PlanJson;
      expect(plan.firewall?.hooks).toEqual([{ what: 'nft ip6 fw6 forward', hook: 'forward', detail: 'policy drop', scope: 'all', ports: [], families: [6] }]);
      expect(agent(dut, 'plan', '--ports', 'eth1,eth2').stdout).toContain('ports: eth1(xdp, IPv6 ingress to kernel) eth2(xdp, IPv6 ingress to kernel)');
      expect(agent(dut, 'apply', ...PORTS).status).toBe(0);
      const before = t.counters.verdicts();
      expect(where(BLOCKED)).toEqual({ ok: true, h2: 2 });
      expect(t.counters.verdicts().forwarded - before.forwarded).toBe(4);
    } finally {
      nft('delete table ip6 fw6\n');
    }
  });

  it('the daemon follows nft changes as they happen: a new drop rule hands the ports to the kernel, deleting it gives them back', async () => {
    expect(agent(dut, 'flush').status).toBe(0);
    daemon = daemonIn(t, LISTEN, ['--ports', 'eth1,eth2', '--backend', 'xdp']);
    await daemon.withLogs(daemon.waitReady());
    expect((await daemon.status()).firewall).toEqual({ mode: 'respect', hooks: [] });
    expect(where(BLOCKED)).toEqual({ ok: true, h2: 2 });

    const t0 = Date.now();
    nft(`table ip fw {\n chain transit {\n  type filter hook forward priority 0; policy accept;\n  ip daddr ${BLOCKED} counter drop\n }\n}\n`);
    const s = await daemon.withLogs(eventually('the daemon sees the chain', async () => {
      const st = await daemon!.status();
      return st.ports.every((p) => p.policy === 'firewall') ? st : undefined;
    }));
    process.stdout.write(`firewall change → ports handed to the kernel in ${Date.now() - t0} ms (status polled)\n`);
    expect(s.firewall?.hooks.map((h) => h.what)).toEqual(['nft ip fw transit']);
    expect(sampleValue(await daemon.metrics(), 'fib_offload_firewall_punted_ports')).toBe(2);
    expect(daemon.log((l) => l.msg.startsWith('firewall: netfilter can act on forwarded traffic'))).toBeDefined();
    const before = t.counters.verdicts();
    expect(both()).toEqual({ open: { ok: true, h2: 2 }, blocked: { ok: false, h2: 0 } });
    expect(t.counters.verdicts().forwarded - before.forwarded).toBe(0);
    expect(dut.exec('nft', 'list', 'chain', 'ip', 'fw', 'transit')).toMatch(/counter packets 2 /);

    nft('delete table ip fw\n');
    await daemon.withLogs(eventually('ports offloaded again', async () => ((await daemon!.status()).ports.some((p) => p.policy) ? undefined : true)));
    const again = t.counters.verdicts();
    expect(where(BLOCKED)).toEqual({ ok: true, h2: 2 });
    expect(t.counters.verdicts().forwarded - again.forwarded).toBe(4);
    await daemon.stop();

    // firewall: bypass is a warning on every start, whatever netfilter holds.
    daemon = daemonIn(t, LISTEN, ['--ports', 'eth1,eth2', '--backend', 'xdp', '--config', join(t.tmp, 'bypass.yaml')]);
    await daemon.withLogs(daemon.waitReady());
    expect(daemon.log((l) => l.level === 40 && l.msg.startsWith('firewall: bypass'))).toBeDefined();
    expect((await daemon.status()).firewall).toEqual({ mode: 'bypass', hooks: [] });
    await daemon.stop();
  });

  it('an iptables-legacy table (rules not readable over netlink) hands every port to the kernel', () => {
    run(['ip', 'netns', 'exec', dut.name, 'iptables-legacy', '-A', 'FORWARD', '-d', BLOCKED, '-j', 'DROP']);
    expect(agent(dut, 'flush').status).toBe(0);
    const kernel = both();
    expect(kernel.blocked).toEqual({ ok: false, h2: 0 });
    const plan = JSON.parse(agent(dut, 'plan', '--json', '--ports', 'eth1,eth2').stdout) as PlanJson;
    expect(plan.firewall?.hooks).toEqual([{ what: 'iptables-legacy ipv4 filter', hook: 'legacy', detail: 'rules not readable over netlink', scope: 'all', ports: [], families: [4] }]);
    expect(agent(dut, 'apply', ...PORTS).status).toBe(0);
    expect(both()).toEqual(kernel);
  });
});
