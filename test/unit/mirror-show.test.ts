import { describe, it, expect } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import { showJson, showText } from '../../src/mirror/show.js';
import { canonicalState } from '../../src/mirror/canonical.js';
import { connected, gwNh, link, neigh, nhObj, route, snapshot } from '../fixtures/mirror/build.js';

function lab(): Mirror {
  return Mirror.fromSnapshot(snapshot({
    links: [
      link(1, 'lo', { kind: null, mac: '00:00:00:00:00:00' }),
      link(2, 'eth1', { physSwitchId: 'abcd' }),
      link(3, 'eth2', { master: 10, carrier: false }),
      link(10, 'red', { kind: 'vrf', vrfTable: 1001, mac: '02:00:00:00:00:0a' }),
    ],
    neighbors: [neigh(2, 'fe80::1', '02:aa:00:00:00:01', 'stale'), neigh(2, '10.0.0.2', null, 'incomplete')],
    nexthops: [nhObj(11, 2, 'fe80::1')],
    routes: [
      route('10.10.0.0/24', [], { nhId: 11 }),
      route('10.9.0.0/24', [gwNh(2, '10.0.0.2')], { protocol: 4, priority: 5 }),
      route('10.9.0.0/24', [gwNh(2, '10.0.0.3')], { protocol: 4, priority: 50 }), // shadowed
      connected('10.0.0.0/24', 2),
      route('10.2.0.0/16', [gwNh(3, '10.3.0.1')], { table: 1001, protocol: 200 }),
      route('2001:db8::/64', [gwNh(2, 'fe80::1')], { priority: 1024 }),
      route('192.168.0.0/16', [], { type: 'blackhole', protocol: 4, priority: 0 }),
    ],
  }));
}

describe('show --json', () => {
  it('matches the contract shape exactly', () => {
    const out = showJson(lab(), (l) => l.physSwitchId !== null);
    expect(out).toEqual({
      links: [
        { ifindex: 1, name: 'lo', mac: '00:00:00:00:00:00', up: true, offload: false },
        { ifindex: 2, name: 'eth1', mac: '02:00:00:00:00:02', up: true, offload: true },
        { ifindex: 3, name: 'eth2', mac: '02:00:00:00:00:03', up: false, master: 'red', offload: false },
        { ifindex: 10, name: 'red', mac: '02:00:00:00:00:0a', up: true, offload: false },
      ],
      neighbors: [
        { ifindex: 2, dev: 'eth1', family: 4, address: '10.0.0.2', mac: null, state: 'incomplete' },
        { ifindex: 2, dev: 'eth1', family: 6, address: 'fe80::1', mac: '02:aa:00:00:00:01', state: 'stale' },
      ],
      routes: [
        {
          table: 'main', family: 4, dst: '10.0.0.0/24', protocol: 'kernel', type: 'unicast', metric: 0, nhId: null,
          nexthops: [{ dev: 'eth1', ifindex: 2, gateway: null, weight: 1, mac: null, neighState: null, resolved: false,
            kind: 'connected', gatewayFamily: null, onlink: false, dead: false, linkdown: false, nhId: null }],
        },
        {
          table: 'main', family: 4, dst: '10.9.0.0/24', protocol: 'static', type: 'unicast', metric: 5, nhId: null,
          nexthops: [{ dev: 'eth1', ifindex: 2, gateway: '10.0.0.2', weight: 1, mac: null, neighState: 'incomplete', resolved: false,
            kind: 'gateway', gatewayFamily: 4, onlink: false, dead: false, linkdown: false, nhId: null }],
        },
        {
          table: 'main', family: 4, dst: '10.10.0.0/24', protocol: 'bgp', type: 'unicast', metric: 20, nhId: 11,
          nexthops: [{ dev: 'eth1', ifindex: 2, gateway: 'fe80::1', weight: 1, mac: '02:aa:00:00:00:01', neighState: 'stale', resolved: true,
            kind: 'gateway', gatewayFamily: 6, onlink: false, dead: false, linkdown: false, nhId: 11 }],
        },
        {
          table: 'main', family: 4, dst: '192.168.0.0/16', protocol: 'static', type: 'blackhole', metric: 0, nhId: null, nexthops: [],
        },
        {
          table: 'main', family: 6, dst: '2001:db8::/64', protocol: 'bgp', type: 'unicast', metric: 1024, nhId: null,
          nexthops: [{ dev: 'eth1', ifindex: 2, gateway: 'fe80::1', weight: 1, mac: '02:aa:00:00:00:01', neighState: 'stale', resolved: true,
            kind: 'gateway', gatewayFamily: 6, onlink: false, dead: false, linkdown: false, nhId: null }],
        },
        {
          table: 1001, vrf: 'red', family: 4, dst: '10.2.0.0/16', protocol: '200', type: 'unicast', metric: 20, nhId: null,
          nexthops: [{ dev: 'eth2', ifindex: 3, gateway: '10.3.0.1', weight: 1, mac: null, neighState: null, resolved: false,
            kind: 'gateway', gatewayFamily: 4, onlink: false, dead: false, linkdown: true, nhId: null }],
        },
      ],
    });
  });

  it('offload defaults to false and omits master when there is none', () => {
    const out = showJson(lab());
    expect(out.links.every((l) => l.offload === false)).toBe(true);
    expect('master' in out.links[0]!).toBe(false);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});

describe('show text', () => {
  it('prints effective routes per table with MAC and NUD state per nexthop', () => {
    expect(showText(lab())).toBe([
      'table main',
      '10.0.0.0/24 proto kernel metric 0',
      '    dev eth1 weight 1 connected',
      '10.9.0.0/24 proto static metric 5',
      '    via 10.0.0.2 dev eth1 weight 1 incomplete unresolved',
      '10.10.0.0/24 nhid 11 proto bgp metric 20',
      '    via inet6 fe80::1 dev eth1 weight 1 nhid 11 lladdr 02:aa:00:00:00:01 stale resolved',
      'blackhole 192.168.0.0/16 proto static metric 0',
      '2001:db8::/64 proto bgp metric 1024',
      '    via fe80::1 dev eth1 weight 1 lladdr 02:aa:00:00:00:01 stale resolved',
      '',
      'table 1001 (vrf red)',
      '10.2.0.0/16 proto 200 metric 20',
      '    via 10.3.0.1 dev eth2 weight 1 no-neigh unresolved linkdown',
      '',
    ].join('\n'));
  });
});

describe('canonical state', () => {
  it('is insensitive to dump order and to timer-driven NUD moves between usable states', () => {
    const a = lab();
    const s = snapshot({
      links: [...a.links()].reverse(), addresses: [], nexthops: [...a.nexthopObjects()],
      neighbors: [...a.neighbors()].reverse().map((n) => (n.state === 'stale' ? { ...n, state: 'delay' as const, flags: 0x80 } : n)),
      routes: [...a.routes()].reverse(),
    });
    expect(canonicalState(Mirror.fromSnapshot(s))).toEqual(canonicalState(a));
  });

  it('sees a real difference', () => {
    const a = lab();
    const b = lab();
    b.apply({ kind: 'neigh', op: 'new', neighbor: neigh(2, 'fe80::1', '02:aa:00:00:00:09', 'stale') });
    expect(canonicalState(b)).not.toEqual(canonicalState(a));
  });
});
