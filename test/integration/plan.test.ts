// `fib-offload plan --json` against a real kernel: overlapping prefixes across
// offload and non-offload ports, connected hosts, ECMP, IPv6 via link-local,
// and the exact entries, punts and skipped routes that must come out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { NetnsSet, isRoot, type Netns } from './lib/netns.js';
import { CLI } from './lib/probe.js';

interface PlanJson {
  ports: Array<{ ifindex: number; dev: string; backend: string }>;
  groups: Array<{ id: number; members: Array<{ dev: string; ifindex: number; dmac: string; smac: string; weight: number }> }>;
  entries: Array<{ table: number; family: number; dst: string; action: string; group?: number; reason?: string }>;
  skipped: Array<{ table: number; family: number; dst: string; reason: string }>;
}

const MAC = { p1: '02:00:00:00:01:02', p2: '02:00:00:00:02:02', p3: '02:00:00:00:03:02', ll1: '02:00:00:00:61:02' };

describe.skipIf(!isRoot())('plan --json against the kernel', () => {
  const nets = new NetnsSet('plan');
  let r: Netns;

  function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const p = spawnSync('ip', ['netns', 'exec', r.name, process.execPath, CLI, ...args], { encoding: 'utf8' });
    return { status: p.status, stdout: p.stdout, stderr: p.stderr };
  }

  function plan(...args: string[]): PlanJson {
    const p = cli('plan', '--json', ...args);
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    return JSON.parse(p.stdout) as PlanJson;
  }

  /** Entries with each group replaced by its members as "dev dmac xweight", for whole-record comparison. */
  function readable(p: PlanJson): Array<{ dst: string; action: string; via?: string[]; reason?: string }> {
    const groups = new Map(p.groups.map((g) => [g.id, g.members.map((m) => `${m.dev} ${m.dmac} x${m.weight}`)]));
    return p.entries.map((e) => ({
      dst: e.dst, action: e.action,
      ...(e.group !== undefined ? { via: groups.get(e.group) ?? ['<missing group>'] } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
    }));
  }

  beforeAll(async () => {
    r = nets.add('r');
    const peers = [nets.add('p1'), nets.add('p2'), nets.add('p3')];
    peers.forEach((p, i) => nets.veth(r, `eth${i + 1}`, p, 'eth0', { bMac: Object.values(MAC)[i]! }));
    for (const dev of ['eth1', 'eth2', 'eth3']) await r.waitCarrier(dev);
    r.ipBatch([
      'addr add 10.1.0.1/24 dev eth1',
      'addr add 10.2.0.1/24 dev eth2',
      'addr add 10.3.0.1/24 dev eth3',
      'addr add 10.200.0.1/32 dev lo',
      `neigh replace 10.1.0.2 lladdr ${MAC.p1} dev eth1 nud permanent`,
      `neigh replace 10.2.0.2 lladdr ${MAC.p2} dev eth2 nud permanent`,
      `neigh replace 10.3.0.2 lladdr ${MAC.p3} dev eth3 nud permanent`,
      `neigh replace fe80::2 lladdr ${MAC.ll1} dev eth1 nud reachable`,
      // /8 offloaded via eth1; /16 inside it via eth3 (not an offload port);
      // /24 inside the /16 via eth2 (offload port again); a /32 local address inside the /8.
      'route add 10.0.0.0/8 via 10.1.0.2 dev eth1',
      'route add 10.16.0.0/16 via 10.3.0.2 dev eth3',
      'route add 10.16.1.0/24 via 10.2.0.2 dev eth2',
      // An encapsulating route (lightweight tunnel) inside the /8: the kernel must keep it.
      'route add 10.17.0.0/16 encap ip id 1 dst 10.9.9.9 dev eth1',
      'route add 172.16.0.0/16 nexthop via 10.1.0.2 dev eth1 weight 1 nexthop via 10.2.0.2 dev eth2 weight 2',
      'route add 172.17.0.0/16 via 10.9.9.9 dev eth1 onlink',
      'route add fd00::/8 via fe80::2 dev eth1',
    ]);
  });

  afterAll(() => nets.destroy());

  it('prints the exact entries, punts and skipped routes', () => {
    const p = plan('--ports', 'eth1,eth2');
    expect(p.ports.filter((x) => x.backend !== 'none').map((x) => x.dev)).toEqual(['eth1', 'eth2']);
    const mac1 = r.mac('eth1');
    const mac2 = r.mac('eth2');
    for (const g of p.groups) for (const m of g.members) expect(m.smac).toBe(m.dev === 'eth1' ? mac1 : mac2);
    // Minimal punts: the router's own addresses inside 10.1.0.0/24 and 10.2.0.0/24 need
    // no entry of their own, because the connected subnets around them are punted already.
    expect(readable(p)).toEqual([
      { dst: '10.0.0.0/8', action: 'forward', via: [`eth1 ${MAC.p1} x1`] },
      { dst: '10.1.0.0/24', action: 'punt', reason: 'connected' },
      { dst: '10.1.0.2/32', action: 'forward', via: [`eth1 ${MAC.p1} x1`] },
      { dst: '10.2.0.0/24', action: 'punt', reason: 'connected' },
      { dst: '10.2.0.2/32', action: 'forward', via: [`eth2 ${MAC.p2} x1`] },
      { dst: '10.3.0.0/24', action: 'punt', reason: 'egress-not-offloaded' },
      { dst: '10.16.0.0/16', action: 'punt', reason: 'egress-not-offloaded' },
      { dst: '10.16.1.0/24', action: 'forward', via: [`eth2 ${MAC.p2} x1`] },
      { dst: '10.17.0.0/16', action: 'punt', reason: 'encap' },
      { dst: '10.200.0.1/32', action: 'punt', reason: 'local' },
      { dst: '172.16.0.0/16', action: 'forward', via: [`eth1 ${MAC.p1} x1`, `eth2 ${MAC.p2} x2`] },
      // Unresolved gateway: the entry keeps its group, which has no members and punts every bucket.
      { dst: '172.17.0.0/16', action: 'forward', via: [], reason: 'unresolved-neighbor' },
      { dst: 'fd00::/8', action: 'forward', via: [`eth1 ${MAC.ll1} x1`] },
    ]);
    expect(p.skipped.map((s) => `${s.dst} ${s.reason}`)).toEqual(expect.arrayContaining([
      '10.16.0.0/16 egress-not-offloaded', '172.17.0.0/16 unresolved-neighbor',
    ]));
  });

  it('follows a neighbour MAC change into the one group that uses it', () => {
    const before = plan('--ports', 'eth1,eth2');
    r.ip('neigh', 'replace', '10.2.0.2', 'lladdr', '02:00:00:00:02:99', 'dev', 'eth2', 'nud', 'permanent');
    const after = plan('--ports', 'eth1,eth2');
    // Same entries pointing at the same group ids; only member MACs changed.
    expect(after.entries).toEqual(before.entries);
    const changed = after.groups.filter((g) => JSON.stringify(g) !== JSON.stringify(before.groups.find((b) => b.id === g.id)));
    expect(changed.map((g) => g.members.map((m) => m.dmac))).toEqual(expect.arrayContaining([['02:00:00:00:02:99']]));
  });

  it('--tc-batch prints a shared block, chains per group and pedit/mirred rules (backend tc from the config or --backend)', () => {
    const mac1 = r.mac('eth1');
    const config = `${tmpdir()}/fib-offload-plan-test-${process.pid}.yaml`;
    writeFileSync(config, 'backend: tc\n');
    try {
      const p = cli('plan', '--tc-batch', '--ports', 'eth1,eth2', '--config', config);
      expect(p.stderr).toBe('');
      expect(p.status).toBe(0);
      expect(p.stdout).toMatch(/^qdisc add dev eth1 ingress_block 254 clsact$/m);
      expect(p.stdout).toMatch(/^qdisc add dev eth2 ingress_block 254 clsact$/m);
      expect(p.stdout).toMatch(/flower .*dst_ip 10\.0\.0\.0\/8 .*action goto chain \d+/);
      expect(p.stdout).toMatch(new RegExp(`pedit ex munge eth dst set ${MAC.p1} munge eth src set ${mac1} munge ip ttl add 0xff pipe cookie [0-9a-f]+ `
        + 'action csum ip4h pipe cookie [0-9a-f]+ action mirred egress redirect dev eth1 cookie [0-9a-f]+$', 'm'));
    } finally {
      rmSync(config, { force: true });
    }
    // --backend does what the config's backend does, without a config file.
    const flag = cli('plan', '--tc-batch', '--backend', 'tc', '--ports', 'eth1,eth2');
    expect(flag.status, flag.stderr).toBe(0);
    expect(flag.stdout).toMatch(/^qdisc add dev eth1 ingress_block 254 clsact$/m);
    expect(flag.stdout).toMatch(/flower .*dst_ip 10\.0\.0\.0\/8 .*action goto chain \d+/);
  });

  it('bad flags and bad config exit 2 and name the offending input', () => {
    const bad = cli('plan', '--json', '--tc-batch');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--tc-batch|--json/);
    const unknown = cli('plan', '--bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--bogus/);
    const missing = cli('plan', '--config', '/nonexistent/fib-offload.yaml');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nonexistent/);
  });
});
