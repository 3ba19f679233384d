// The mirror against the real kernel: each step changes the kernel in a
// namespace, then asserts (1) the mirror built from events equals a fresh dump
// and (2) the resolved state `show --json` reports is the expected one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { CLI, MirrorProbe } from './lib/probe.js';

interface ShowNexthop { dev: string | null; ifindex: number | null; gateway: string | null; weight: number; mac: string | null; neighState: string | null; resolved: boolean }
interface ShowRoute { table: string | number; family: number; dst: string; protocol: string; nexthops: ShowNexthop[] }
interface ShowJson { links: Array<{ name: string; up: boolean; mac: string | null }>; neighbors: Array<{ dev: string; address: string; mac: string | null; state: string }>; routes: ShowRoute[] }

const MAC = {
  p1: '02:00:00:00:01:02', p2: '02:00:00:00:02:02',
  ll1: '02:00:00:00:a9:01', ll2: '02:00:00:00:a9:02',
  v6p1: '02:00:00:00:61:02', v6p2: '02:00:00:00:62:02',
};

describe.skipIf(!isRoot())('mirror against the kernel', () => {
  const nets = new NetnsSet('mirror');
  let r: Netns;
  let probe: MirrorProbe;

  /** The event-driven mirror converges to exactly what a fresh dump shows. */
  async function converged(): Promise<void> {
    let last: unknown;
    await eventually('event mirror == fresh dump', async () => {
      const s = await probe.state();
      last = s;
      return JSON.stringify(s.events) === JSON.stringify(s.dump) ? true : undefined;
    }, 10_000).catch((err: Error) => {
      const s = last as { events: unknown; dump: unknown };
      // Fail with a readable diff of the two states.
      expect(s.events).toEqual(s.dump);
      throw err;
    });
  }

  function showCli(): ShowJson {
    return JSON.parse(execFileSync('ip', ['netns', 'exec', r.name, process.execPath, CLI, 'show', '--json'], { encoding: 'utf8' })) as ShowJson;
  }

  async function route(dst: string): Promise<ShowRoute | undefined> {
    const show = await probe.ask<ShowJson>('show');
    return show.routes.find((x) => x.dst === dst);
  }

  /** A route's nexthops reduced to what forwarding needs, in a stable order. */
  async function hops(dst: string): Promise<Array<Pick<ShowNexthop, 'dev' | 'gateway' | 'weight' | 'mac' | 'neighState' | 'resolved'>> | undefined> {
    const rt = await route(dst);
    return rt?.nexthops.map(({ dev, gateway, weight, mac, neighState, resolved }) => ({ dev, gateway, weight, mac, neighState, resolved }))
      .sort((a, b) => `${a.dev}${a.gateway}`.localeCompare(`${b.dev}${b.gateway}`));
  }

  beforeAll(async () => {
    r = nets.add('r');
    const p1 = nets.add('p1');
    const p2 = nets.add('p2');
    nets.veth(r, 'eth1', p1, 'eth0', { bMac: MAC.p1 });
    nets.veth(r, 'eth2', p2, 'eth0', { bMac: MAC.p2 });
    await r.waitCarrier('eth1');
    await r.waitCarrier('eth2');
    r.ipBatch([
      'addr add 10.1.0.1/24 dev eth1',
      'addr add 10.2.0.1/24 dev eth2',
      'addr add fd01::1/64 dev eth1 nodad',
    ]);
    probe = await MirrorProbe.start(r);
  });

  afterAll(async () => {
    await probe?.stop();
    nets.destroy();
  });

  it('starts equal to a dump, with the links and connected routes', async () => {
    await converged();
    const show = showCli();
    expect(show.links.map((l) => l.name).sort()).toEqual(['eth1', 'eth2', 'lo']);
    expect(show.links.find((l) => l.name === 'eth1')?.up).toBe(true);
    expect(await hops('10.1.0.0/24')).toEqual([{ dev: 'eth1', gateway: null, weight: 1, mac: null, neighState: null, resolved: false }]);
  });

  it('resolves a gateway route through the neighbour table, following NUD state', async () => {
    r.ip('route', 'add', '10.10.0.0/16', 'via', '10.1.0.2', 'dev', 'eth1');
    await converged();
    expect(await hops('10.10.0.0/16')).toEqual([{ dev: 'eth1', gateway: '10.1.0.2', weight: 1, mac: null, neighState: null, resolved: false }]);

    r.ip('neigh', 'replace', '10.1.0.2', 'lladdr', MAC.p1, 'dev', 'eth1', 'nud', 'reachable');
    await converged();
    expect(await hops('10.10.0.0/16')).toEqual([{ dev: 'eth1', gateway: '10.1.0.2', weight: 1, mac: MAC.p1, neighState: 'reachable', resolved: true }]);

    // STALE keeps a valid MAC: still resolved.
    r.ip('neigh', 'replace', '10.1.0.2', 'lladdr', MAC.p1, 'dev', 'eth1', 'nud', 'stale');
    await converged();
    expect((await hops('10.10.0.0/16'))?.[0]).toMatchObject({ neighState: 'stale', resolved: true });

    // FAILED withdraws it; delete likewise.
    r.ip('neigh', 'replace', '10.1.0.2', 'dev', 'eth1', 'nud', 'failed');
    await converged();
    expect((await hops('10.10.0.0/16'))?.[0]).toMatchObject({ resolved: false });
    r.ip('neigh', 'replace', '10.1.0.2', 'lladdr', MAC.p1, 'dev', 'eth1', 'nud', 'permanent');
    await converged();
    expect((await hops('10.10.0.0/16'))?.[0]).toMatchObject({ mac: MAC.p1, neighState: 'permanent', resolved: true });
  });

  it('keeps only the lowest metric effective, and falls back when it goes', async () => {
    r.ip('neigh', 'replace', '10.2.0.2', 'lladdr', MAC.p2, 'dev', 'eth2', 'nud', 'permanent');
    r.ip('route', 'add', '10.11.0.0/16', 'via', '10.2.0.2', 'dev', 'eth2', 'metric', '200');
    r.ip('route', 'add', '10.11.0.0/16', 'via', '10.1.0.2', 'dev', 'eth1', 'metric', '100');
    await converged();
    expect((await hops('10.11.0.0/16'))?.map((h) => h.dev)).toEqual(['eth1']);
    r.ip('route', 'del', '10.11.0.0/16', 'metric', '100');
    await converged();
    expect((await hops('10.11.0.0/16'))?.map((h) => h.dev)).toEqual(['eth2']);
  });

  it('resolves multipath routes with weights', async () => {
    r.ip('route', 'add', '10.20.0.0/16', 'nexthop', 'via', '10.1.0.2', 'dev', 'eth1', 'weight', '1',
      'nexthop', 'via', '10.2.0.2', 'dev', 'eth2', 'weight', '3');
    await converged();
    expect(await hops('10.20.0.0/16')).toEqual([
      { dev: 'eth1', gateway: '10.1.0.2', weight: 1, mac: MAC.p1, neighState: 'permanent', resolved: true },
      { dev: 'eth2', gateway: '10.2.0.2', weight: 3, mac: MAC.p2, neighState: 'permanent', resolved: true },
    ]);
  });

  it('RFC 5549 form 1: via 169.254.0.1 onlink, one PERMANENT neighbour per interface with its own MAC', async () => {
    r.ip('neigh', 'replace', '169.254.0.1', 'lladdr', MAC.ll1, 'dev', 'eth1', 'nud', 'permanent');
    r.ip('neigh', 'replace', '169.254.0.1', 'lladdr', MAC.ll2, 'dev', 'eth2', 'nud', 'permanent');
    r.ip('route', 'add', '10.30.0.0/24', 'via', '169.254.0.1', 'dev', 'eth1', 'onlink');
    r.ip('route', 'add', '10.31.0.0/24', 'via', '169.254.0.1', 'dev', 'eth2', 'onlink');
    r.ip('route', 'add', '10.32.0.0/24', 'nexthop', 'via', '169.254.0.1', 'dev', 'eth1', 'onlink',
      'nexthop', 'via', '169.254.0.1', 'dev', 'eth2', 'onlink');
    await converged();
    expect(await hops('10.30.0.0/24')).toEqual([{ dev: 'eth1', gateway: '169.254.0.1', weight: 1, mac: MAC.ll1, neighState: 'permanent', resolved: true }]);
    expect(await hops('10.31.0.0/24')).toEqual([{ dev: 'eth2', gateway: '169.254.0.1', weight: 1, mac: MAC.ll2, neighState: 'permanent', resolved: true }]);
    expect((await hops('10.32.0.0/24'))?.map((h) => h.mac)).toEqual([MAC.ll1, MAC.ll2]);
  });

  it('RFC 5549 form 2: IPv4 route with an RTA_VIA IPv6 link-local gateway', async () => {
    r.ip('-6', 'neigh', 'replace', 'fe80::2', 'lladdr', MAC.v6p1, 'dev', 'eth1', 'nud', 'reachable');
    r.ip('route', 'add', '10.40.0.0/24', 'via', 'inet6', 'fe80::2', 'dev', 'eth1');
    await converged();
    expect(await hops('10.40.0.0/24')).toEqual([{ dev: 'eth1', gateway: 'fe80::2', weight: 1, mac: MAC.v6p1, neighState: 'reachable', resolved: true }]);
    // The MAC follows the IPv6 neighbour on that interface.
    r.ip('-6', 'neigh', 'replace', 'fe80::2', 'lladdr', '02:00:00:00:61:99', 'dev', 'eth1', 'nud', 'reachable');
    await converged();
    expect((await hops('10.40.0.0/24'))?.[0]?.mac).toBe('02:00:00:00:61:99');
    r.ip('-6', 'neigh', 'replace', 'fe80::2', 'lladdr', MAC.v6p1, 'dev', 'eth1', 'nud', 'reachable');
    await converged();
  });

  for (const compat of [1, 0]) {
    it(`RFC 5549 form 3: RTA_NH_ID to IPv6 link-local nexthop objects and groups (nexthop_compat_mode=${compat})`, async () => {
      r.sysctl('net.ipv4.nexthop_compat_mode', compat);
      const base = 100 * (compat + 1);
      r.ip('-6', 'neigh', 'replace', 'fe80::3', 'lladdr', MAC.v6p2, 'dev', 'eth2', 'nud', 'stale');
      r.ip('nexthop', 'add', 'id', String(base + 1), 'via', 'fe80::2', 'dev', 'eth1');
      r.ip('nexthop', 'add', 'id', String(base + 2), 'via', 'fe80::3', 'dev', 'eth2');
      r.ip('nexthop', 'add', 'id', String(base + 10), 'group', `${base + 1}/${base + 2},2`);
      const one = `10.5${compat}.1.0/24`;
      const grp = `10.5${compat}.2.0/24`;
      r.ip('route', 'add', one, 'nhid', String(base + 1));
      r.ip('route', 'add', grp, 'nhid', String(base + 10));
      await converged();
      expect(await hops(one)).toEqual([{ dev: 'eth1', gateway: 'fe80::2', weight: 1, mac: MAC.v6p1, neighState: 'reachable', resolved: true }]);
      expect(await hops(grp)).toEqual([
        { dev: 'eth1', gateway: 'fe80::2', weight: 1, mac: MAC.v6p1, neighState: 'reachable', resolved: true },
        { dev: 'eth2', gateway: 'fe80::3', weight: 2, mac: MAC.v6p2, neighState: 'stale', resolved: true },
      ]);

      // A neighbour change behind an object re-resolves the routes using it (no route event with compat 0).
      r.ip('-6', 'neigh', 'del', 'fe80::3', 'dev', 'eth2');
      await converged();
      expect((await hops(grp))?.find((h) => h.dev === 'eth2')).toMatchObject({ mac: null, resolved: false });

      // Replacing the group's membership moves the route with it.
      r.ip('nexthop', 'replace', 'id', String(base + 10), 'group', String(base + 1));
      await converged();
      expect((await hops(grp))?.map((h) => h.dev)).toEqual(['eth1']);

      // Deleting a nexthop object takes its routes with it.
      r.ip('nexthop', 'del', 'id', String(base + 2));
      r.ip('nexthop', 'del', 'id', String(base + 10));
      await converged();
      expect(await route(grp)).toBeUndefined();
      expect(await route(one)).toBeDefined();
    });
  }

  it('IPv6 routes via link-local gateways', async () => {
    r.ip('-6', 'route', 'add', 'fd10::/64', 'via', 'fe80::2', 'dev', 'eth1');
    await converged();
    expect(await hops('fd10::/64')).toEqual([{ dev: 'eth1', gateway: 'fe80::2', weight: 1, mac: MAC.v6p1, neighState: 'reachable', resolved: true }]);
  });

  it('blackhole, unreachable and prohibit routes are mirrored', async () => {
    r.ip('route', 'add', 'blackhole', '10.90.0.0/24');
    r.ip('route', 'add', 'unreachable', '10.91.0.0/24');
    r.ip('route', 'add', 'prohibit', '10.92.0.0/24');
    await converged();
    for (const dst of ['10.90.0.0/24', '10.91.0.0/24', '10.92.0.0/24']) expect(await route(dst)).toBeDefined();
  });

  it('policy rules (ip rule) follow from events in kernel order, IPv4 and IPv6, adds and deletes', async () => {
    type Rules = { events: { rules: Array<{ family: number; priority: number; iif: string | null; src: string | null }> } };
    r.ipBatch([
      'rule add from 10.10.1.0/24 lookup 100 pref 100',
      'rule add iif eth1 lookup 100 pref 100',
      'rule add fwmark 0x1 lookup 200 pref 50',
      'rule add to 192.0.2.0/24 blackhole pref 32766',
    ]);
    r.ip('-6', 'rule', 'add', 'from', 'fd01::/64', 'lookup', '100', 'pref', '100');
    await converged();
    const s = await probe.state() as unknown as Rules;
    expect(s.events.rules.map((x) => `${x.family}:${x.priority}:${x.iif ?? ''}:${x.src ?? ''}`)).toEqual([
      '4:0::', '4:50::', '4:100::10.10.1.0', '4:100:eth1:', '4:32766::', '4:32766::', '4:32767::',
      '6:0::', '6:100::fd01::', '6:32766::',
    ]);
    r.ipBatch(['rule del pref 50', 'rule del iif eth1 lookup 100 pref 100', 'rule del to 192.0.2.0/24 pref 32766', 'rule del pref 100']);
    r.ip('-6', 'rule', 'del', 'pref', '100');
    await converged();
    expect(((await probe.state()) as unknown as Rules).events.rules).toHaveLength(5);
  });

  it('link down and up: carrier loss, admin down (silent IPv4 flush) and back', async () => {
    // Admin down on eth2: the kernel flushes IPv4 routes solely via eth2 without notifying.
    r.ip('link', 'set', 'dev', 'eth2', 'down');
    await converged();
    expect(await route('10.31.0.0/24')).toBeUndefined();
    expect(await route('10.11.0.0/16')).toBeUndefined();
    // The multipath route survives with the eth2 member dead.
    const mp = await route('10.20.0.0/16');
    expect(mp).toBeDefined();

    r.ip('link', 'set', 'dev', 'eth2', 'up');
    await r.waitCarrier('eth2');
    await converged();
    expect(await route('10.2.0.0/24')).toBeDefined();
  });

  it('show --json (CLI) agrees with the event-driven mirror', async () => {
    await converged();
    // The two reads are not atomic: a change between them (an IPv6 link-local
    // address and its local route arriving late, say) is not a disagreement.
    // Both views must agree once the kernel holds still.
    let last: { cli: ShowJson; probe: ShowJson } | undefined;
    const agreed = await eventually('show --json == the probe\'s show', async () => {
      last = { cli: showCli(), probe: await probe.ask<ShowJson>('show') };
      return JSON.stringify(last.cli) === JSON.stringify(last.probe) ? true : undefined;
    }, 10_000).catch(() => false);
    if (!agreed) expect(last!.cli).toEqual(last!.probe);
  });
});
