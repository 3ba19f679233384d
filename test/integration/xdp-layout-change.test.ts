// Pinned maps an older agent made with another value size (here fo_groups
// and fo_ports as they were before VLAN ports: 1288- and 12-byte values)
// are never reused by this agent: apply loads the program afresh with new
// maps, replaces the old program where it is attached, and forwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, run } from './lib/netns.js';
import { agent } from './lib/agent.js';
import { destroyLine, line, type Line } from './lib/line.js';
import { ping } from './lib/ping.js';
import { MAP_SIZES } from '../../src/xdp/layout.js';

const PORTS = ['--backend', 'xdp', '--ports', 'eth1,eth2'];

describe.skipIf(!isRoot())('XDP: pinned maps of an older layout are made anew', () => {
  let t: Line | undefined;

  beforeAll(async () => {
    t = await line('xlay');
    t.dut.sysctl('net.ipv4.ip_forward', 0);
  });

  afterAll(async () => {
    await destroyLine(t);
  });

  /** key/value size of a pinned map, as the kernel reports it. */
  const sizes = (path: string): { key: number; value: number } => {
    const m = JSON.parse(run(['bpftool', '-j', 'map', 'show', 'pinned', path])) as { bytes_key: number; bytes_value: number };
    return { key: m.bytes_key, value: m.bytes_value };
  };

  it('apply over fo_groups/fo_ports of the old value sizes: upgraded, new sizes, still forwarding', () => {
    const l = t!;
    expect(agent(l.dut, 'apply', ...PORTS).status).toBe(0);
    expect(ping(l.h1, '10.2.0.2').ok).toBe(true);
    // What an agent before VLAN ports pinned: 16-byte members (1288-byte groups), 12-byte port values.
    const maps = join(l.pins, 'maps');
    for (const [name, type, key, value, flags] of [['fo_groups', 'hash', 4, 1288, 1], ['fo_ports', 'hash', 8, 12, 0]] as const) {
      rmSync(join(maps, name));
      run(['bpftool', 'map', 'create', join(maps, name), 'type', type, 'key', String(key), 'value', String(value),
        'entries', '1024', 'name', name, 'flags', String(flags)]);
      expect(sizes(join(maps, name)).value).toBe(value);
    }
    const r = agent(l.dut, 'apply', ...PORTS);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/program upgraded/);
    expect(sizes(join(maps, 'fo_groups'))).toEqual(MAP_SIZES.fo_groups);
    expect(sizes(join(maps, 'fo_ports'))).toEqual(MAP_SIZES.fo_ports);
    const before = l.counters.verdicts().forwarded;
    expect(ping(l.h1, '10.2.0.2').ok).toBe(true);
    expect(l.counters.verdicts().forwarded - before).toBe(4);
    expect(agent(l.dut, 'apply', ...PORTS).stdout).toMatch(/program reused[^]*no changes/);
  });
});
