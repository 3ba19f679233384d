import { describe, it, expect } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import type { NudState } from '../../src/model/neighbor.js';
import type { ResolvedNexthop } from '../../src/model/resolved.js';
import type { Route } from '../../src/model/route.js';
import {
  connected, devNh, gwNh, link, neigh, nhGroup, nhObj, route, snapshot,
} from '../fixtures/mirror/build.js';

const MAC1 = '02:aa:00:00:00:01';
const MAC2 = '02:aa:00:00:00:02';
const MAC6 = '02:66:00:00:00:01';

/** Every field of a resolved nexthop, defaults for a healthy gateway nexthop without a neighbour. */
function rn(over: Partial<ResolvedNexthop>): ResolvedNexthop {
  return {
    kind: 'gateway', ifindex: null, gateway: null, gatewayFamily: null, weight: 1, onlink: false,
    linkdown: false, dead: false, nhId: null, mac: null, neighState: null, resolved: false, ...over,
  };
}

function base(): Mirror {
  return Mirror.fromSnapshot(snapshot({
    links: [link(1, 'lo', { kind: null, mac: null }), link(2, 'eth1'), link(3, 'eth2'),
      link(4, 'down0', { adminUp: false, carrier: false }), link(5, 'nocarrier0', { carrier: false })],
    neighbors: [
      neigh(2, '10.0.0.2', MAC1),
      neigh(2, '169.254.0.1', MAC1, 'permanent'),
      neigh(3, '169.254.0.1', MAC2, 'permanent'),
      neigh(2, 'fe80::1', MAC6, 'stale'),
      neigh(3, 'fe80::2', MAC2, 'delay'),
    ],
    nexthops: [
      nhObj(11, 2, 'fe80::1'),
      nhObj(12, 3, 'fe80::2'),
      nhObj(13, 2, '169.254.0.1', { onlink: true }),
      nhObj(20, null, null, { blackhole: true }),
      nhGroup(30, [[11, 1], [12, 3]]),
      nhGroup(31, [[11, 1], [99, 2]]),
      nhGroup(32, [[11, 1], [12, 1]], { groupType: 'resilient', resilientBuckets: 32 }),
    ],
    routes: [connected('10.0.0.0/24', 2), connected('10.9.0.0/16', 3), connected('10.9.1.0/24', 2)],
  }));
}

interface Case { name: string; route: Route; want: ResolvedNexthop[] }

const cases: Case[] = [
  {
    name: 'connected route (no gateway)',
    route: connected('10.0.0.0/24', 2),
    want: [rn({ kind: 'connected', ifindex: 2 })],
  },
  {
    name: 'IPv4 gateway with a reachable neighbour',
    route: route('10.1.0.0/24', [gwNh(2, '10.0.0.2')]),
    want: [rn({ ifindex: 2, gateway: '10.0.0.2', gatewayFamily: 4, mac: MAC1, neighState: 'reachable', resolved: true })],
  },
  {
    name: '169.254.0.1 onlink on two interfaces resolves to a different MAC each',
    route: route('10.2.0.0/24', [gwNh(2, '169.254.0.1', { onlink: true }), gwNh(3, '169.254.0.1', { onlink: true, weight: 2 })]),
    want: [
      rn({ ifindex: 2, gateway: '169.254.0.1', gatewayFamily: 4, onlink: true, mac: MAC1, neighState: 'permanent', resolved: true }),
      rn({ ifindex: 3, gateway: '169.254.0.1', gatewayFamily: 4, onlink: true, weight: 2, mac: MAC2, neighState: 'permanent', resolved: true }),
    ],
  },
  {
    name: 'IPv4 route via RTA_VIA IPv6 link-local uses the IPv6 neighbour table',
    route: route('10.3.0.0/24', [gwNh(2, 'fe80::1')]),
    want: [rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, mac: MAC6, neighState: 'stale', resolved: true })],
  },
  {
    name: 'nhId-only IPv4 route → IPv6 link-local nexthop object (FRR 8.4 default)',
    route: route('10.4.0.0/24', [], { nhId: 11 }),
    want: [rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, nhId: 11, mac: MAC6, neighState: 'stale', resolved: true })],
  },
  {
    name: 'nhId is authoritative over expanded nexthops (compat mode 1)',
    route: route('10.4.1.0/24', [gwNh(3, '10.0.0.99')], { nhId: 11 }),
    want: [rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, nhId: 11, mac: MAC6, neighState: 'stale', resolved: true })],
  },
  {
    name: 'nhId on an onlink IPv4 object',
    route: route('10.4.2.0/24', [], { nhId: 13 }),
    want: [rn({ ifindex: 2, gateway: '169.254.0.1', gatewayFamily: 4, onlink: true, nhId: 13, mac: MAC1, neighState: 'permanent', resolved: true })],
  },
  {
    name: 'nhId group keeps member weights (1-based)',
    route: route('10.5.0.0/24', [], { nhId: 30 }),
    want: [
      rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, nhId: 11, mac: MAC6, neighState: 'stale', resolved: true }),
      rn({ ifindex: 3, gateway: 'fe80::2', gatewayFamily: 6, nhId: 12, weight: 3, mac: MAC2, neighState: 'delay', resolved: true }),
    ],
  },
  {
    name: 'resilient group resolves its members the same way',
    route: route('10.5.1.0/24', [], { nhId: 32 }),
    want: [
      rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, nhId: 11, mac: MAC6, neighState: 'stale', resolved: true }),
      rn({ ifindex: 3, gateway: 'fe80::2', gatewayFamily: 6, nhId: 12, mac: MAC2, neighState: 'delay', resolved: true }),
    ],
  },
  {
    name: 'group with a missing member: that member unresolved',
    route: route('10.5.2.0/24', [], { nhId: 31 }),
    want: [
      rn({ ifindex: 2, gateway: 'fe80::1', gatewayFamily: 6, nhId: 11, mac: MAC6, neighState: 'stale', resolved: true }),
      rn({ nhId: 99, weight: 2, dead: true, linkdown: true }),
    ],
  },
  {
    name: 'missing nexthop object: one unresolved placeholder',
    route: route('10.6.0.0/24', [], { nhId: 77 }),
    want: [rn({ nhId: 77, dead: true, linkdown: true })],
  },
  {
    name: 'blackhole nexthop object',
    route: route('10.7.0.0/24', [], { nhId: 20 }),
    want: [rn({ kind: 'blackhole', nhId: 20 })],
  },
  {
    name: 'blackhole route type without nexthops resolves to none',
    route: route('10.7.1.0/24', [], { type: 'blackhole' }),
    want: [],
  },
  {
    name: 'gateway without ifindex: egress by longest match among connected routes',
    route: route('10.8.0.0/24', [gwNh(null, '10.9.1.7')]),
    want: [rn({ ifindex: 2, gateway: '10.9.1.7', gatewayFamily: 4 })],
  },
  {
    name: 'gateway without ifindex and no connected route: unresolved',
    route: route('10.8.1.0/24', [gwNh(null, '192.0.2.1')]),
    want: [rn({ gateway: '192.0.2.1', gatewayFamily: 4, dead: true, linkdown: true })],
  },
  {
    name: 'egress admin down → dead (and no carrier → linkdown)',
    route: route('10.10.0.0/24', [gwNh(4, '10.4.0.1')]),
    want: [rn({ ifindex: 4, gateway: '10.4.0.1', gatewayFamily: 4, dead: true, linkdown: true })],
  },
  {
    name: 'egress without carrier → linkdown only',
    route: route('10.10.1.0/24', [devNh(5)]),
    want: [rn({ kind: 'connected', ifindex: 5, linkdown: true })],
  },
  {
    name: 'egress link missing → dead and linkdown',
    route: route('10.10.2.0/24', [devNh(42)]),
    want: [rn({ kind: 'connected', ifindex: 42, dead: true, linkdown: true })],
  },
  {
    name: 'reported RTNH_F_DEAD / LINKDOWN are kept',
    route: route('10.10.3.0/24', [gwNh(2, '10.0.0.2', { dead: true, linkdown: true })]),
    want: [rn({ ifindex: 2, gateway: '10.0.0.2', gatewayFamily: 4, dead: true, linkdown: true, mac: MAC1, neighState: 'reachable', resolved: true })],
  },
];

describe('mirror resolution', () => {
  const m = base();
  it.each(cases)('$name', ({ route: r, want }) => {
    expect(m.resolveRoute(r)).toEqual({ route: r, nexthops: want });
  });
});

describe('neighbour NUD states', () => {
  const states: Array<[NudState, string | null, boolean]> = [
    ['reachable', MAC1, true], ['stale', MAC1, true], ['delay', MAC1, true], ['probe', MAC1, true],
    ['permanent', MAC1, true], ['noarp', MAC1, true],
    ['incomplete', null, false], ['failed', null, false], ['failed', MAC1, false], ['none', null, false],
  ];
  it.each(states)('%s (mac %s) → resolved %s', (state, mac, resolved) => {
    const m = Mirror.fromSnapshot(snapshot({ links: [link(2, 'eth1')], neighbors: [neigh(2, '10.0.0.2', mac, state)] }));
    const r = route('10.1.0.0/24', [gwNh(2, '10.0.0.2')]);
    expect(m.resolveRoute(r).nexthops).toEqual([
      rn({ ifindex: 2, gateway: '10.0.0.2', gatewayFamily: 4, mac, neighState: state, resolved }),
    ]);
  });

  it('missing neighbour → unresolved, no MAC or state', () => {
    const m = Mirror.fromSnapshot(snapshot({ links: [link(2, 'eth1')] }));
    expect(m.resolveRoute(route('10.1.0.0/24', [gwNh(2, '10.0.0.2')])).nexthops).toEqual([
      rn({ ifindex: 2, gateway: '10.0.0.2', gatewayFamily: 4 }),
    ]);
  });

  it('neighbours are per ifindex: 169.254.0.1 on eth2 does not resolve eth1', () => {
    const m = Mirror.fromSnapshot(snapshot({
      links: [link(2, 'eth1'), link(3, 'eth2')], neighbors: [neigh(3, '169.254.0.1', MAC2, 'permanent')],
    }));
    expect(m.resolveRoute(route('10.2.0.0/24', [gwNh(2, '169.254.0.1', { onlink: true })])).nexthops[0]?.resolved).toBe(false);
  });

  it('an IPv4 neighbour never answers for an IPv6 gateway', () => {
    const m = Mirror.fromSnapshot(snapshot({ links: [link(2, 'eth1')], neighbors: [neigh(2, '10.0.0.2', MAC1)] }));
    expect(m.resolveRoute(route('10.3.0.0/24', [gwNh(2, 'fe80::1')])).nexthops[0]?.resolved).toBe(false);
  });
});
