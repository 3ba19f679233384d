// The reconcile layer's pure parts: the errno table, the tc placement policy
// and per-entry status with its backoff, on a clock the test moves.
import { describe, expect, it } from 'vitest';
import { NetlinkError, BpfError } from '../../src/errors.js';
import { backoffMs, BACKOFF_MAX_MS, errnoClass, isHardwareRefusal, kernelError } from '../../src/reconcile/errno.js';
import { newFallbacks, placePorts, type PlacementInput } from '../../src/reconcile/placement.js';
import { EntryStatus } from '../../src/reconcile/status.js';
import { subjectsOf } from '../../src/reconcile/reconciler.js';
import type { ApplyReport, OpFailure, TcBlockProbe } from '../../src/reconcile/types.js';
import { link } from './plan-helpers.js';

describe('the errno table', () => {
  it('classifies by errno and operation', () => {
    expect(errnoClass('ENOENT', 'delete')).toBe('ok-for-this-op');
    expect(errnoClass('ENOENT', 'add')).toBe('permanent');
    expect(errnoClass('EEXIST', 'add')).toBe('ok-for-this-op');
    expect(errnoClass('ENOMEM', 'add')).toBe('retry');
    expect(errnoClass('EBUSY', 'replace')).toBe('retry');
    expect(errnoClass('ENOBUFS', 'dump')).toBe('retry');
    expect(errnoClass('EINVAL', 'add')).toBe('permanent');
    expect(errnoClass('EOPNOTSUPP', 'add')).toBe('permanent');
  });

  it('EINVAL is not a hardware refusal (it is a malformed request: an encoder bug must show)', () => {
    expect(isHardwareRefusal('EOPNOTSUPP')).toBe(true);
    expect(isHardwareRefusal('ENOSPC')).toBe(true);
    expect(isHardwareRefusal('E2BIG')).toBe(true);
    expect(isHardwareRefusal('EINVAL')).toBe(false);
    expect(isHardwareRefusal('ENOMEM')).toBe(false);
  });

  it('takes errno and extack from the error objects, never from message text', () => {
    expect(kernelError(new NetlinkError('add filter block 254 chain 0 ip prio 9', -95, 'TC offload is disabled'))).toEqual({
      op: 'add filter block 254 chain 0 ip prio 9', errno: 'EOPNOTSUPP', extack: 'TC offload is disabled',
      message: 'add filter block 254 chain 0 ip prio 9: EOPNOTSUPP (TC offload is disabled)',
    });
    expect(kernelError(new BpfError('BPF_MAP_UPDATE_BATCH fo_routes4', 12))).toMatchObject({ errno: 'ENOMEM', extack: null });
    // A message that merely mentions an errno is EIO: nothing is parsed out of text.
    expect(kernelError(new Error('the kernel said EBUSY')).errno).toBe('EIO');
    const sys = Object.assign(new Error('open /sys/fs/bpf: EACCES'), { code: 'EACCES' });
    expect(kernelError(sys, 'pin').errno).toBe('EACCES');
  });

  it('backs off from 100 ms, doubling, to 1 min; permanent errors wait the longest', () => {
    expect([0, 1, 2, 3, 9, 10, 20].map((n) => backoffMs(n, 'retry'))).toEqual([100, 200, 400, 800, 51_200, 60_000, 60_000]);
    expect(backoffMs(0, 'permanent')).toBe(BACKOFF_MAX_MS);
  });
});

describe('the tc placement policy', () => {
  const refused = (block: number, ports: string[]): TcBlockProbe => ({
    block, table: block, ports, refused: { op: `probe skip_sw on block ${block}`, errno: 'EOPNOTSUPP', extack: 'offload not supported', message: 'probe: EOPNOTSUPP' },
  });
  const fine = (block: number, ports: string[]): TcBlockProbe => ({ block, table: block, ports, refused: null });
  const input = (o: Partial<PlacementInput>): PlacementInput => ({ base: () => 'tc', policy: 'hw-only', fallback: 'xdp', probes: [], ...o });

  it('hw-only: a refused block moves its ports per tc.fallback; the others stay skip_sw', () => {
    for (const [fallback, backend] of [['xdp', 'xdp'], ['none', 'none'], ['sw', 'tc']] as const) {
      const p = placePorts(input({ fallback, probes: [refused(254, ['r0', 'r1']), fine(10, ['r2'])] }));
      expect(p.backendFor(link(2, 'r0'))).toBe(backend);
      expect(p.backendFor(link(3, 'r1'))).toBe(backend);
      expect(p.backendFor(link(4, 'r2'))).toBe('tc');
      expect(p.fallbacks.get('r0')).toMatchObject({ block: 254, from: 'tc', to: fallback, code: 'EOPNOTSUPP' });
      expect(p.fallbacks.has('r2')).toBe(false);
      expect(p.tcTables.get(10)).toBe('skip_sw');
      expect(p.tcTables.get(254)).toBe(fallback === 'sw' ? 'none' : undefined);
    }
  });

  it('hw-preferred and sw never fall back (the kernel runs what the NIC will not)', () => {
    expect(placePorts(input({ policy: 'hw-preferred', probes: [refused(254, ['r0'])] })).tcTables.get(254)).toBe('none');
    const sw = placePorts(input({ policy: 'sw', probes: [fine(254, ['r0'])] }));
    expect(sw.tcTables.get(254)).toBe('skip_hw');
    expect(sw.fallbacks.size).toBe(0);
  });

  it('a refusal met while installing counts as the probe refusing; ports the config gives xdp are untouched', () => {
    const later = new Map([[254, { op: 'add filter', errno: 'ENOSPC', extack: null, message: 'add filter: ENOSPC' }]]);
    const p = placePorts(input({ base: (l) => (l.name.startsWith('r') ? 'tc' : 'xdp'), probes: [fine(254, ['r0'])], refusedLater: later }));
    expect(p.backendFor(link(2, 'r0'))).toBe('xdp');
    expect(p.fallbacks.get('r0')?.code).toBe('ENOSPC');
    expect(p.backendFor(link(3, 'eth0'))).toBe('xdp');
  });

  it('newFallbacks lists only what changed', () => {
    const a = placePorts(input({ probes: [refused(254, ['r0'])] }));
    const b = placePorts(input({ probes: [refused(254, ['r0']), refused(10, ['r2'])] }));
    expect(newFallbacks(a, b).map(([d]) => d)).toEqual(['r2']);
    expect(newFallbacks(b, b)).toEqual([]);
  });
});

describe('per-entry status', () => {
  const clock = { t: Date.parse('2026-12-03T10:00:00Z'), now(): number { return this.t; } };
  const fail = (subject: OpFailure['subject'], errno = 'ENOMEM', op = 'add filter x'): OpFailure => ({ subject, op, errno, extack: null, message: `${op}: ${errno}` });
  const report = (failures: OpFailure[], complete: boolean, backend: ApplyReport['backend'] = 'tc'): ApplyReport => ({ backend, ops: 1, seconds: 0, failures, refused: [], complete });

  it('a failure that repeats backs off 100, 200, 400 ms; a report without it clears it', () => {
    const s = new EntryStatus(clock);
    const t0 = clock.t;
    s.record(report([fail('entry 254|10.0.0.0/8')], false), ['entry 254|10.0.0.0/8']);
    expect(s.list()[0]).toMatchObject({ retries: 0, retryAt: t0 + 100, class: 'retry', since: new Date(t0).toISOString() });
    expect(s.due(t0 + 99)).toEqual([]);
    expect(s.due(t0 + 100)).toEqual(['tc']);
    clock.t += 100;
    s.record(report([fail('entry 254|10.0.0.0/8')], true));
    expect(s.list()[0]).toMatchObject({ retries: 1, retryAt: clock.t + 200, since: new Date(t0).toISOString() });
    clock.t += 200;
    s.record(report([fail('entry 254|10.0.0.0/8')], true));
    expect(s.list()[0]!.retryAt).toBe(clock.t + 400);
    expect(s.nextRetryAt()).toBe(clock.t + 400);
    s.record(report([], true));
    expect(s.size).toBe(0);
    expect(s.nextRetryAt()).toBeNull();
  });

  it('an incremental report clears only what its batch touched; a complete one only its own backend', () => {
    const s = new EntryStatus(clock);
    s.record(report([fail('entry 254|10.0.0.0/8'), fail('group 7')], false), []);
    s.record(report([fail('batch', 'ENOMEM', 'BPF_MAP_UPDATE_BATCH fo_routes4')], false, 'xdp'));
    s.record(report([], false), ['entry 254|10.0.0.0/8']);
    expect(s.list().map((f) => `${f.backend} ${f.subject}`)).toEqual(['tc group 7', 'xdp batch']);
    expect(s.count('tc', 'group')).toBe(1);
    expect(s.count('tc', 'entry')).toBe(0);
    s.record(report([], true));
    expect(s.list().map((f) => `${f.backend} ${f.subject}`)).toEqual(['xdp batch']);
    // Any later report of the backend that does not fail as a whole supersedes its batch failure.
    s.record(report([], false, 'xdp'), []);
    expect(s.size).toBe(0);
  });

  it('ok-for-this-op errnos are not failures', () => {
    const s = new EntryStatus(clock);
    s.record(report([fail('entry 254|10.0.0.0/8', 'ENOENT', 'delete filter x')], false));
    expect(s.size).toBe(0);
  });
});

describe('subjectsOf', () => {
  it('names entries, groups and ports as the status does', () => {
    expect(subjectsOf([
      { op: 'entry-add', entry: { table: 254, family: 4, dst: '10.0.0.0/8', action: 'punt' } },
      { op: 'group-delete', group: { id: 9, key: 'k', members: [], bucketBits: 0, buckets: [-1] } },
      { op: 'port-add', port: { ifindex: 2, dev: 'eth1', backend: 'xdp', mac: null, table: 254 } },
    ])).toEqual(['entry 254|10.0.0.0/8', 'group 9', 'port eth1']);
  });
});
