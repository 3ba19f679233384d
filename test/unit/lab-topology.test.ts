import { describe, expect, it } from 'vitest';
import {
  ADDRESSES, DESTINATIONS, LINKS, ROUTER_SPECS, agentConfig, frrConfig, labNameProblem, macFromEui64, missingPackages,
} from '../../src/lab/topology.js';
import { parseBgpSummary } from '../../src/lab/frr.js';
import { parseConfig } from '../../src/config.js';

describe('macFromEui64', () => {
  it.each([
    ['fe80::f0:ff:fe00:102', '02:f0:00:00:01:02'],
    ['fe80::f0:ff:fe00:202', '02:f0:00:00:02:02'],
    // universal/local bit flips back: a globally unique MAC 00:1b:21:aa:bb:cc
    ['fe80::21b:21ff:feaa:bbcc', '00:1b:21:aa:bb:cc'],
    ['FE80:0:0:0:21B:21FF:FEAA:BBCC', '00:1b:21:aa:bb:cc'],
  ])('%s → %s', (addr, mac) => {
    expect(macFromEui64(addr)).toBe(mac);
  });

  it.each(['fe80::1', 'fe80::1234:5678:9abc:def0', '10.0.0.1', 'fe80::1::2', 'fe80:::1'])('%s is not EUI-64 derived → null', (addr) => {
    expect(macFromEui64(addr)).toBeNull();
  });

  it('every upstream MAC round-trips through its EUI-64 link-local', () => {
    for (const l of LINKS) {
      const b = l.b.mac.split(':').map((x) => parseInt(x, 16));
      const iid = [b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
      const groups = [0, 2, 4, 6].map((i) => ((iid[i]! << 8) | iid[i + 1]!).toString(16));
      expect(macFromEui64(`fe80::${groups.join(':')}`)).toBe(l.b.mac);
    }
  });
});

describe('frrConfig', () => {
  it('peers unnumbered on every peering interface, both families, with the timers and multipath-relax', () => {
    const c = frrConfig('dut', { nexthopObjects: true, logFile: '/tmp/x/frr.log' });
    expect(c).toContain('router bgp 65000\n');
    expect(c).toContain(' neighbor eth1 interface remote-as external\n');
    expect(c).toContain(' neighbor eth2 interface remote-as external\n');
    expect(c).toContain('  neighbor eth1 activate\n');
    expect(c).toContain(' bgp bestpath as-path multipath-relax\n');
    expect(c).toContain(' timers bgp 1 3\n');
    expect(c).toContain(' no bgp ebgp-requires-policy\n');
    expect(c).toContain('  network 10.0.1.0/24\n');
    expect(c).toContain('  network 2001:db8:1::/64\n');
    expect(c).toContain('log file /tmp/x/frr.log\n');
    expect(c).not.toContain('nexthop kernel');
  });

  it('--frr 10: dut reports to the agent over FPM and advertises only what zebra marks installed; r1, r2 and FRR 8 do not', () => {
    const dut = frrConfig('dut', { nexthopObjects: true, logFile: null, fpm: true });
    expect(dut).toContain('fpm address 127.0.0.1 port 2620\n');
    expect(dut).toContain(' bgp suppress-fib-pending\n');
    expect(dut).not.toContain('log file');
    for (const c of [frrConfig('r1', { nexthopObjects: true, logFile: null, fpm: true }), frrConfig('dut', { nexthopObjects: true, logFile: 'l' })]) {
      expect(c).not.toContain('fpm');
      expect(c).not.toContain('suppress-fib-pending');
    }
  });

  it('--frr-nexthop-objects=off adds "no zebra nexthop kernel enable" before the router block', () => {
    const c = frrConfig('r1', { nexthopObjects: false, logFile: 'l' });
    expect(c.indexOf('no zebra nexthop kernel enable')).toBeGreaterThan(-1);
    expect(c.indexOf('no zebra nexthop kernel enable')).toBeLessThan(c.indexOf('router bgp'));
  });

  it('each router originates only prefixes it has an address in (so `network` finds them in the RIB)', () => {
    for (const role of ['r1', 'r2'] as const) {
      const mine = ADDRESSES[role].map((a) => a.addr);
      for (const n of [...ROUTER_SPECS[role].networks4, ...ROUTER_SPECS[role].networks6]) {
        const base = n.split('/')[0]!.replace(/::$/, '::1').replace(/\.0$/, '.1').replace(/\.128$/, '.129');
        expect(mine.some((a) => a.startsWith(base + '/')), `${role} ${n}`).toBe(true);
      }
    }
  });

  it('every destination is originated by exactly the routers it lists', () => {
    for (const d of DESTINATIONS) {
      const by = (['r1', 'r2'] as const).filter((r) => [...ROUTER_SPECS[r].networks4, ...ROUTER_SPECS[r].networks6].includes(d.prefix));
      expect(by, d.prefix).toEqual(d.via);
    }
  });
});

describe('agentConfig', () => {
  it('is a valid agent configuration offloading all of dut\'s ports over XDP', () => {
    const c = parseConfig(agentConfig(9469), 'agent.yaml');
    expect(c.ports).toEqual(['eth0', 'eth1', 'eth2']);
    expect(c.backend).toBe('xdp');
  });

  it('--frr 10 turns the FPM server on at FRR\'s default port; without it FPM stays off', () => {
    expect(parseConfig(agentConfig(9469, true), 'agent.yaml').fpm).toEqual({ listen: '127.0.0.1:2620', host: '127.0.0.1', port: 2620 });
    expect(parseConfig(agentConfig(9469), 'agent.yaml').fpm).toBeNull();
  });
});

describe('missingPackages', () => {
  it('names each missing package once, in order', () => {
    const present = new Set(['ip', 'nsenter', 'ethtool', 'ping']);
    expect(missingPackages((p) => present.has(p))).toEqual(['bpftool', 'frr']);
    expect(missingPackages(() => true)).toEqual([]);
  });
});

describe('labNameProblem', () => {
  it.each(['fol', 'fot-lab', 'a1'])('%s is fine', (n) => expect(labNameProblem(n)).toBeNull());
  it.each(['', 'Lab', '1lab', 'a b', 'a/b', 'x'.repeat(17)])('%j is refused', (n) => expect(labNameProblem(n)).not.toBeNull());
});

describe('parseBgpSummary', () => {
  it('reads both address families and their peers', () => {
    const json = JSON.stringify({
      ipv4Unicast: { peers: { eth1: { hostname: 'r1', state: 'Established', peerUptimeMsec: 5000, pfxRcd: 2 } } },
      ipv6Unicast: { peers: { eth1: { hostname: 'r1', state: 'Active' } } },
    });
    expect(parseBgpSummary(json)).toEqual([
      { peer: 'eth1', hostname: 'r1', afi: 'ipv4', state: 'Established', uptimeMs: 5000, prefixesReceived: 2 },
      { peer: 'eth1', hostname: 'r1', afi: 'ipv6', state: 'Active', uptimeMs: 0, prefixesReceived: 0 },
    ]);
    expect(parseBgpSummary('{}')).toEqual([]);
  });
});
