// IPv4 netconf (rp_filter) against real RTM_NEWNETCONF / RTM_DELNETCONF
// messages captured by scripts/capture-fixtures.ts --only netconf (kernel
// 6.18): the dump, sysctl changes, a device coming and going; what the
// mirror makes of them, and the plan's handling of ports with rp_filter on.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KernelEvent } from '../../src/model/events.js';
import { NETCONF_ALL, NETCONF_DEFAULT, type Netconf } from '../../src/model/netconf.js';
import { decodeEvent } from '../../src/netlink/codec/decode.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';
import { buildPlan } from '../../src/plan/index.js';
import { PlanState } from '../../src/plan/incremental.js';
import { link, loopback, mirrorOf } from './plan-helpers.js';

interface Msg { readonly type: number; readonly hex: string }
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netlink');
const dump = (JSON.parse(readFileSync(join(dir, 'netconf.json'), 'utf8')) as { messages: Msg[] }).messages;
const events = (JSON.parse(readFileSync(join(dir, 'events-netconf.json'), 'utf8')) as { segments: { label: string; messages: Msg[] }[] }).segments;

function decode(m: Msg): KernelEvent {
  let ev: KernelEvent | null = null;
  forEachMessage(Buffer.from(m.hex, 'hex'), (type, _f, _s, _p, b, off, end) => { ev = decodeEvent(type, b, off, end); });
  if (!ev) throw new Error(`undecoded ${m.type}`);
  return ev;
}
const confOf = (m: Msg): Netconf => { const e = decode(m); if (e.kind !== 'netconf') throw new Error(e.kind); return e.netconf; };
const seg = (label: string): KernelEvent[] => events.find((s) => s.label === label)!.messages.map(decode);

// The capture's devices: lo 1, v0 and v1 (veth, ifindex from the dump).
describe('netconf codec and mirror (captured)', () => {
  const confs = dump.map(confOf);
  const byIf = new Map(confs.map((c) => [c.ifindex, c]));
  const devs = confs.filter((c) => c.ifindex > 1).map((c) => c.ifindex).sort((a, b) => a - b);
  const [v0, v1] = devs as [number, number];

  it('the dump has conf.all, conf.default and each device with its rp_filter', () => {
    expect(byIf.get(NETCONF_ALL)).toMatchObject({ rpFilter: 0 });
    expect(byIf.get(NETCONF_DEFAULT)).toMatchObject({ rpFilter: 2 });
    expect(byIf.get(v0)).toMatchObject({ rpFilter: 1 });
    expect(byIf.get(v1)).toMatchObject({ rpFilter: 0 });
  });

  it('the mirror applies max(all, dev), follows changes, and gives a new device conf.default', () => {
    const m = mirrorOf({ netconf: confs });
    expect([m.rpFilter(v0), m.rpFilter(v1)]).toEqual(['strict', 'off']);
    const [dev] = seg('dev-rp-filter');
    expect(dev).toMatchObject({ kind: 'netconf', op: 'new', netconf: { ifindex: v1, rpFilter: 2 } });
    expect(m.apply(dev!).netconfChanged).toBe(true);
    expect(m.rpFilter(v1)).toBe('loose');
    // conf.all = 1: max(1, 2) is still loose on v1; v0 strict.
    for (const e of seg('all-rp-filter')) m.apply(e);
    expect([m.rpFilter(v0), m.rpFilter(v1)]).toEqual(['strict', 'loose']);
    const added = seg('link-add');
    const newIf = (added[0] as { netconf: Netconf }).netconf.ifindex;
    for (const e of added) m.apply(e);
    expect(m.rpFilter(newIf)).toBe('loose');
    const del = seg('link-del');
    expect(del.map((e) => e.op)).toEqual(['del']);
    for (const e of del) m.apply(e);
    // An unknown device reads as conf.default again: max(all 1, default 2).
    expect(m.rpFilter(newIf)).toBe('loose');
  });
});

describe('the plan with rp_filter', () => {
  const links = [loopback(), link(2, 'v0'), link(3, 'v1'), link(4, 'v2')];
  const conf = (ifindex: number, rpFilter: number): Netconf => ({ ifindex, rpFilter, forwarding: 0 });

  it('XDP ports carry their rp_filter (the program checks sources); tc ports with it on stay with the kernel (reason rp-filter)', () => {
    const netconf = [conf(NETCONF_ALL, 0), conf(NETCONF_DEFAULT, 0), conf(2, 1), conf(3, 2), conf(4, 0)];
    const row = (p: { dev: string; rpFilter?: string; policy?: { reason: string } }): string => `${p.dev}:${p.rpFilter ?? 'off'}:${p.policy?.reason ?? '-'}`;
    const xdp = buildPlan(mirrorOf({ links, netconf }), { ports: ['v*'] });
    expect(xdp.ports.filter((p) => p.backend !== 'none').map(row)).toEqual(['v0:strict:-', 'v1:loose:-', 'v2:off:-']);
    const tc = buildPlan(mirrorOf({ links, netconf }), { ports: ['v*'], backendFor: () => 'tc' });
    expect(tc.ports.filter((p) => p.backend !== 'none').map(row)).toEqual(['v0:strict:rp-filter', 'v1:loose:rp-filter', 'v2:off:-']);
  });

  it('conf.all raises every port; a change re-plans from scratch, equal to a fresh build', () => {
    const m = mirrorOf({ links, netconf: [conf(NETCONF_ALL, 0), conf(NETCONF_DEFAULT, 0)] });
    const opts = { ports: ['v*'] };
    const s0 = PlanState.build(m, opts);
    expect(s0.plan.ports.some((p) => p.policy)).toBe(false);
    const step = s0.next(m, m.apply({ kind: 'netconf', op: 'new', netconf: { ifindex: NETCONF_ALL, rpFilter: 2, forwarding: null } }), opts);
    expect(step.how).toBe('netconf');
    expect(step.state.plan).toEqual(buildPlan(m, opts));
    expect(step.state.internals.rows.entries).toBe(s0.internals.rows.entries);
    expect(step.state.plan.ports.filter((p) => p.rpFilter === 'loose').map((p) => p.dev)).toEqual(['v0', 'v1', 'v2']);
    // The port records change: port ops for every port.
    expect(step.ops.filter((o) => o.op === 'port-update')).toHaveLength(3);
  });

  it('no netconf dumped (synthetic snapshots): rp_filter off', () => {
    expect(buildPlan(mirrorOf({ links }), { ports: ['v*'] }).ports.some((p) => p.rpFilter)).toBe(false);
  });
});
