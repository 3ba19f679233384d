import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildPlan, tcBatch } from '../../src/plan/index.js';
import { addr, dev, link, loopback, mirrorOf, neigh, route, via } from './plan-helpers.js';

const GOLDEN = fileURLToPath(new URL('../fixtures/plan/tc-batch.golden', import.meta.url));

function smallPlan() {
  const m = mirrorOf({
    links: [loopback(), link(2, 'eth1'), link(3, 'eth2'), link(4, 'mgmt0')],
    addresses: [addr(1, '10.9.9.9/32'), addr(2, '192.168.1.1/24')],
    neighbors: [
      neigh(2, '192.168.1.2', '0a:00:00:00:00:0a'),
      neigh(3, '192.168.2.2', '0a:00:00:00:00:0b'),
      neigh(4, '192.168.9.2', '0a:00:00:00:00:0c'),
      neigh(3, 'fe80::b', '0a:00:00:00:00:0b', 'stale'),
    ],
    routes: [
      route('192.168.1.0/24', [dev(2)]),
      route('10.0.0.0/8', [via('192.168.1.2', 2)]),
      route('10.1.0.0/16', [via('192.168.1.2', 2, 1), via('192.168.2.2', 3, 3)]),
      route('10.1.2.0/24', [via('192.168.9.2', 4)]),
      route('2001:db8::/32', [via('fe80::b', 3)]),
    ],
  });
  return buildPlan(m, { ports: ['eth*'], backendFor: () => 'tc' });
}

describe('tcBatch', () => {
  it('matches the golden output for a small plan', () => {
    const text = tcBatch(smallPlan());
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, text);
    expect(text).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('emits only lines tc -batch accepts: no "#" inside a command, every action cookied', () => {
    for (const line of tcBatch(smallPlan()).trimEnd().split('\n')) {
      if (line.startsWith('#')) continue;
      expect(line).not.toContain('#');
      expect(line).toMatch(/^(qdisc add dev \S+ ingress_block \d+ clsact|filter add block \d+ protocol (ip|ipv6) chain \d+ prio \d+ (flower|u32) .*)$/);
      const actions = line.split(' action ').slice(1);
      for (const a of actions) expect(a).toMatch(/ cookie fb01[0-9a-f]{26}$/);
    }
  });

  it('leaves XDP ports out', () => {
    const m = mirrorOf({ links: [link(2, 'eth1')], neighbors: [neigh(2, '10.0.0.2', '0a:00:00:00:00:0a')], routes: [route('10.1.0.0/16', [via('10.0.0.2', 2)])] });
    expect(tcBatch(buildPlan(m, { ports: ['eth*'] }))).toBe('# fib-offload plan: 1 entries, 1 groups\n');
  });
});
