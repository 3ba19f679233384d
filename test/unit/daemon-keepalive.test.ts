// Neighbour keepalive fed by the tc backend's per-rule counters (pure).
import { describe, expect, it } from 'vitest';
import { keepaliveTick, mergeTraffic, tcMemberTraffic, type TcRuleCount } from '../../src/daemon/keepalive.js';
import type { MirrorView, Neighbor } from '../../src/model/index.js';
import { assignBuckets, bucketBitsFor, type Plan, type PlanGroup } from '../../src/plan/index.js';
import { desiredBlocks } from '../../src/tc/rules.js';

function group(id: number, n: number): PlanGroup {
  const bits = bucketBitsFor(n);
  return {
    id, key: `g${id}`, bucketBits: bits,
    members: Array.from({ length: n }, (_, i) => ({ dev: `eth${i + 2}`, ifindex: i + 3, dmac: `02:00:00:00:0${i}:02`, smac: '02:00:00:00:00:01', weight: 1, via: `10.${i}.0.2` })),
    buckets: assignBuckets(Array.from({ length: n }, () => ({ weight: 1, state: 'usable' as const })), bits),
  };
}

function plan(): Plan {
  const g = group(100, 2);
  const ports = [{ ifindex: 2, dev: 'eth1', backend: 'tc' as const, mac: '02:00:00:00:00:01', table: 254 },
    ...g.members.map((m) => ({ ifindex: m.ifindex, dev: m.dev, backend: 'tc' as const, mac: m.smac, table: 254 }))];
  return {
    ports, groups: [g], tables: [254], ttlPunt: true, skipped: [],
    entries: [
      { table: 254, family: 4, dst: '10.0.0.0/8', action: 'forward', group: 100 },
      { table: 254, family: 6, dst: '2001:db8::/32', action: 'forward', group: 100 },
    ],
  };
}

const neighbors: Neighbor[] = [
  { ifindex: 3, family: 4, address: '10.0.0.2', mac: '02:00:00:00:00:02', state: 'stale' } as Neighbor,
  { ifindex: 4, family: 4, address: '10.1.0.2', mac: '02:00:00:00:01:02', state: 'reachable' } as Neighbor,
];
const view = {
  neighbor: (ifindex: number, family: number, address: string) => neighbors.find((n) => n.ifindex === ifindex && n.family === family && n.address === address),
} as unknown as MirrorView;

describe('keepalive from tc counters', () => {
  const p = plan();
  const blocks = desiredBlocks(p, () => 'none');
  const groupRules = blocks[0]!.filters.filter((f) => f.kind === 'group');
  const counts = (f: (i: number) => bigint): TcRuleCount[] => groupRules.map((d, i) => ({ id: { block: 254 }, key: d.key, packets: f(i) }));

  it('maps bucket rules to (group, egress, MAC) and sums buckets and families per member', () => {
    const t = tcMemberTraffic(blocks, [...counts(() => 5n), { id: { block: 254 }, key: 'not-a-rule', packets: 9n }]);
    const perMember = groupRules.filter((d) => d.filter.actions.some((a) => a.kind === 'redirect' && a.ifindex === 3)).length;
    expect(t.map((x) => `${x.group}|${x.ifindex}|${x.dmac}|${x.packets}`).sort()).toEqual([
      `100|3|02:00:00:00:00:02|${5 * perMember}`,
      `100|4|02:00:00:00:01:02|${5 * (groupRules.length - perMember)}`,
    ]);
  });

  it('refreshes only the neighbours whose tc traffic grew', () => {
    const first = keepaliveTick(p, tcMemberTraffic(blocks, counts(() => 1n)), new Map(), view);
    expect(first.refresh.map((n) => n.address).sort()).toEqual(['10.0.0.2', '10.1.0.2']);
    // Only eth2's (ifindex 3) rules saw more packets.
    const grown = counts((i) => (groupRules[i]!.filter.actions.some((a) => a.kind === 'redirect' && a.ifindex === 3) ? 2n : 1n));
    const second = keepaliveTick(p, tcMemberTraffic(blocks, grown), first.seen, view);
    expect(second.refresh.map((n) => n.address)).toEqual(['10.0.0.2']);
  });

  it('merges XDP and tc traffic of the same member', () => {
    const m = mergeTraffic(
      [{ group: 100, ifindex: 3, dmac: '02:00:00:00:00:02', packets: 2n }],
      [{ group: 100, ifindex: 3, dmac: '02:00:00:00:00:02', packets: 3n }, { group: 100, ifindex: 4, dmac: '02:00:00:00:01:02', packets: 1n }],
    );
    expect(m).toEqual([
      { group: 100, ifindex: 3, dmac: '02:00:00:00:00:02', packets: 5n },
      { group: 100, ifindex: 4, dmac: '02:00:00:00:01:02', packets: 1n },
    ]);
  });
});
