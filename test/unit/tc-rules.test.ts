// The tc policy layer: plan → per-block flower filters (layout, LPM priorities,
// buckets, cookies), pure.
import { describe, expect, it } from 'vitest';
import { assignBuckets, bucketBitsFor, type Plan, type PlanGroup } from '../../src/plan/index.js';
import { PREFIX_CHAIN, chainDepth, desiredBlocks, isOurCookie, ruleCookie } from '../../src/tc/rules.js';
import { parseMac } from '../../src/model/ip.js';

function group(id: number, n: number): PlanGroup {
  const bits = bucketBitsFor(n);
  return {
    id, key: `g${id}`, bucketBits: bits,
    members: Array.from({ length: n }, (_, i) => ({ dev: `eth${i + 2}`, ifindex: i + 3, dmac: `02:00:00:00:0${i}:02`, smac: '02:00:00:00:00:01', weight: 1, via: `10.${i}.0.2` })),
    buckets: assignBuckets(Array.from({ length: n }, () => ({ weight: 1, state: 'usable' as const })), bits),
  };
}

function plan(width: number): Plan {
  const ports = [{ ifindex: 2, dev: 'eth1', backend: 'tc' as const, mac: '02:00:00:00:00:01', table: 254 },
    ...group(0, width).members.map((m) => ({ ifindex: m.ifindex, dev: m.dev, backend: 'tc' as const, mac: m.smac, table: 254 }))];
  return {
    ports, groups: [group(100, width)], tables: [254], ttlPunt: true, skipped: [],
    entries: [
      { table: 254, family: 4, dst: '0.0.0.0/0', action: 'forward', group: 100 },
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 100 },
      { table: 254, family: 4, dst: '10.1.0.0/16', action: 'punt', reason: 'egress-not-offloaded' },
      { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: 100 },
    ],
  };
}

describe('tc rules', () => {
  it('one block per table: port checks in chain 0, TTL punts and prefixes by length in the prefix chain, group chains per family', () => {
    const [b] = desiredBlocks(plan(2), () => 'none');
    expect(b!.block).toBe(254);
    const prefixes = b!.filters.filter((f) => f.filter.id.chain === PREFIX_CHAIN);
    expect(prefixes.map((f) => [f.kind, f.filter.id.proto, f.filter.id.prio])).toEqual([
      ['ttl', 'ip', 1], ['ttl', 'ipv6', 2],
      ['entry', 'ip', 132], ['entry', 'ip', 124], ['entry', 'ip', 116], ['entry', 'ipv6', 296],
    ]);
    // Longer prefixes at lower (earlier) priorities: LPM holds across forward and punt rules.
    expect(prefixes.find((f) => f.filter.id.prio === 116)!.filter.actions).toEqual([{ kind: 'pass' }]);
    expect(prefixes.find((f) => f.filter.id.prio === 124)!.filter.actions).toEqual([{ kind: 'goto', chain: 100 }]);
    // The default route matches everything: no dst key (flower would not report a zero mask back).
    expect(prefixes.find((f) => f.filter.id.prio === 132)!.filter.match).toEqual({});
    const groups = b!.filters.filter((f) => f.filter.id.chain === 100);
    expect(groups.map((f) => f.filter.id.proto)).toEqual(['ip', 'ip', 'ipv6', 'ipv6']);
    expect(groups[0]!.filter.actions.map((a) => a.kind)).toEqual(['rewrite', 'csum-ip4h', 'redirect']);
    expect(groups[2]!.filter.actions.map((a) => a.kind)).toEqual(['rewrite', 'redirect']);
    // chain 0: per tc port and protocol, its own MAC on its own ingress → the prefix chain; nothing else matches.
    const ports = b!.filters.filter((f) => f.filter.id.chain === 0);
    const tcPorts = plan(2).ports.filter((p) => p.backend === 'tc');
    expect(ports.length).toBe(2 * tcPorts.length);
    for (const p of tcPorts) {
      const mine = ports.filter((f) => f.filter.match.indev === p.dev);
      expect(mine.map((f) => f.filter.id.proto)).toEqual(['ip', 'ipv6']);
      expect(mine.every((f) => Buffer.from(f.filter.match.dstMac!.addr).equals(Buffer.from(parseMac(p.mac!))))).toBe(true);
      expect(mine.every((f) => f.subject === `port ${p.dev}` && f.filter.actions[0]!.kind === 'goto')).toBe(true);
    }
    // Deepest chains first: nothing jumps to a chain before it is filled.
    const depths = b!.filters.map((f) => chainDepth(f.filter.id.chain));
    expect(depths).toEqual([...depths].sort((x, y) => y - x));
  });

  it.each([[2, 2], [8, 8]])('%i-way ECMP: %i bucket rules per family, every key distinct', (width, perFamily) => {
    const [b] = desiredBlocks(plan(width), () => 'skip_sw');
    const groupRules = b!.filters.filter((f) => f.filter.id.chain === 100);
    expect(groupRules.length).toBe(2 * perFamily);
    expect(new Set(b!.filters.map((f) => f.key)).size).toBe(b!.filters.length);
    expect(b!.filters.every((f) => f.filter.placement === 'skip_sw')).toBe(true);
  });

  it('cookies: ours, per table, and change exactly when what the rule does changes', () => {
    const a = ruleCookie('group', 254, 'none', [{ kind: 'redirect', ifindex: 3 }]);
    expect(a.length).toBe(15);
    expect(isOurCookie(a)).toBe(true);
    expect(isOurCookie(a, 254)).toBe(true);
    expect(isOurCookie(a, 10)).toBe(false);
    expect(isOurCookie(Buffer.from('fb0201', 'hex'))).toBe(false);
    expect(ruleCookie('group', 254, 'none', [{ kind: 'redirect', ifindex: 3 }]).equals(a)).toBe(true);
    expect(ruleCookie('group', 254, 'none', [{ kind: 'redirect', ifindex: 4 }]).equals(a)).toBe(false);
    expect(ruleCookie('group', 254, 'skip_sw', [{ kind: 'redirect', ifindex: 3 }]).equals(a)).toBe(false);
  });

  it('members behind non-tc ports punt their buckets to the kernel', () => {
    const p = plan(2);
    const [b] = desiredBlocks({ ...p, ports: p.ports.filter((x) => x.dev !== 'eth3') }, () => 'none');
    const actions = b!.filters.filter((f) => f.filter.id.chain === 100 && f.filter.id.proto === 'ip').map((f) => f.filter.actions[0]!.kind);
    expect(actions.sort()).toEqual(['pass', 'rewrite']);
  });
});
