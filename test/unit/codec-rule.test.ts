// The rule codec against real RTM_NEWRULE / RTM_DELRULE messages captured by
// scripts/capture-rules.ts (kernel 6.18, iproute2 6.1), and the mirror kept
// by those events compared with the kernel's own dump afterwards.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/mirror.js';
import type { KernelEvent } from '../../src/model/events.js';
import { ruleText, type PolicyRule } from '../../src/model/rule.js';
import { decodeEvent } from '../../src/netlink/codec/decode.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';
import { decodeRule } from '../../src/netlink/codec/rule.js';
import { NetlinkError } from '../../src/errors.js';
import { dumpSnapshot } from '../../src/netlink/kernel.js';
import type { RtnlChannel } from '../../src/netlink/socket.js';
import { RTM_GETRULE } from '../../src/netlink/codec/constants.js';

interface Msg { readonly type: number; readonly name: string; readonly hex: string }
interface Fx { readonly initial: Msg[]; readonly full: Msg[]; readonly segments: { label: string; command: string; messages: Msg[] }[] }

const fx = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netlink', 'rules.json'), 'utf8')) as Fx;

function decode(m: Msg): KernelEvent | null {
  let ev: KernelEvent | null = null;
  forEachMessage(Buffer.from(m.hex, 'hex'), (type, _f, _s, _p, b, off, end) => { ev = decodeEvent(type, b, off, end); });
  return ev;
}
const rulesOf = (msgs: readonly Msg[]): PolicyRule[] => msgs.flatMap((m) => { const e = decode(m); return e?.kind === 'rule' ? [e.rule] : []; });
const seg = (label: string): KernelEvent => {
  const s = fx.segments.find((x) => x.label === label);
  if (!s || s.messages.length !== 1) throw new Error(`segment ${label}`);
  return decode(s.messages[0]!)!;
};

const base: PolicyRule = {
  family: 4, priority: 0, action: 'lookup', table: 0, src: null, srcLen: 0, dst: null, dstLen: 0, tos: 0, iif: null, oif: null,
  fwmark: null, fwmask: null, gotoTarget: null, suppressPrefixLen: null, suppressIfgroup: null, l3mdev: false, uidRange: null,
  ipProto: null, sportRange: null, dportRange: null, tunId: false, protocol: 0, flags: 0, unknownAttrs: [],
};

describe('rule codec (captured)', () => {
  it('the default dump: local, main, default per IP family; the multicast routing families are dropped', () => {
    expect(fx.initial).toHaveLength(7);
    expect(rulesOf(fx.initial)).toEqual([
      { ...base, table: 255, protocol: 2 },
      { ...base, table: 254, priority: 32766, protocol: 2 },
      { ...base, table: 253, priority: 32767, protocol: 2 },
      { ...base, family: 6, table: 255, protocol: 2 },
      { ...base, family: 6, table: 254, priority: 32766, protocol: 2 },
    ]);
  });

  it('whole records of each selector and action', () => {
    expect(seg('from-lookup')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 100, table: 100, src: '10.10.1.0', srcLen: 24 } });
    // The kernel keeps 10.10.9.7/16 as given; what it selects is the network.
    expect(seg('from-unmasked')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 110, table: 100, src: '10.10.0.0', srcLen: 16 } });
    expect(seg('iif-to-lookup')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 200, table: 200, dst: '192.0.2.0', dstLen: 24, iif: 'v0' } });
    expect(seg('fwmark')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 300, table: 300, fwmark: 0x10, fwmask: 0xff } });
    expect(seg('not-iif-unreachable')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 400, action: 'unreachable', iif: 'v0', flags: 2 } });
    // 6.18 adds FRA_DPORT_MASK (29), newer than this codec: recorded, so the rule is never honoured.
    expect(seg('ipproto-dport-prohibit')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 500, action: 'prohibit', ipProto: 17, dportRange: { start: 53, end: 53 }, unknownAttrs: [29] } });
    expect(seg('uidrange-blackhole')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 600, action: 'blackhole', uidRange: { start: 1000, end: 2000 } } });
    expect(seg('suppress')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 700, table: 254, suppressPrefixLen: 0 } });
    expect(seg('goto')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 800, action: 'goto', gotoTarget: 32766 } });
    expect(seg('tos')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 900, table: 100, tos: 0x10 } });
    expect(seg('oif')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 950, table: 100, oif: 'v0' } });
    expect(seg('l3mdev')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, priority: 1000, l3mdev: true } });
    expect(seg('v6-from-lookup')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, family: 6, priority: 100, table: 100, src: '2001:db8:1::', srcLen: 48 } });
    expect(seg('v6-iif-lookup')).toEqual({ kind: 'rule', op: 'new', rule: { ...base, family: 6, priority: 150, table: 100, iif: 'v0' } });
    expect(seg('del')).toEqual({ kind: 'rule', op: 'del', rule: { ...base, priority: 100, table: 100, src: '10.10.1.0', srcLen: 24 } });
  });

  it('ip-rule-style text', () => {
    expect(rulesOf(fx.full).map(ruleText)).toContain('200: from all to 192.0.2.0/24 iif v0 lookup 200');
    expect(ruleText((seg('not-iif-unreachable') as { rule: PolicyRule }).rule)).toBe('400: not from all iif v0 unreachable');
  });

  it('short and foreign-family payloads decode to null', () => {
    const hdr = Buffer.alloc(12);
    expect(decodeRule(hdr, 0, 8)).toBeNull();
    hdr[0] = 128; // RTNL_FAMILY_IPMR
    expect(decodeRule(hdr, 0, 12)).toBeNull();
  });

  it('a prefix length without an address is an unknown selector, never "any"', () => {
    const hdr = Buffer.alloc(12);
    hdr[0] = 2; hdr[2] = 24; hdr[7] = 1;
    expect(decodeRule(hdr, 0, 12)).toMatchObject({ src: null, srcLen: 0, unknownAttrs: [2] });
  });
});

describe('mirror of rules kept by events', () => {
  const events = (labels: (l: string) => boolean): KernelEvent[] => fx.segments.filter((s) => labels(s.label)).flatMap((s) => s.messages.map((m) => decode(m)!));
  const adds = (l: string): boolean => !l.endsWith('del');

  it('equals the kernel dump taken after the same commands, in kernel order', () => {
    const m = Mirror.fromSnapshot({ links: [], addresses: [], neighbors: [], nexthops: [], routes: [], rules: rulesOf(fx.initial) });
    for (const ev of events(adds)) expect(m.apply(ev).rulesChanged).toBe(true);
    expect(m.policyRules()).toEqual(rulesOf(fx.full));
  });

  it('deletes remove exactly the named rules; a replayed add changes nothing', () => {
    const m = Mirror.fromSnapshot({ links: [], addresses: [], neighbors: [], nexthops: [], routes: [], rules: rulesOf(fx.full) });
    expect(m.apply(seg('from-lookup')).rulesChanged).toBe(false);
    for (const ev of events((l) => l.endsWith('del'))) expect(m.apply(ev).rulesChanged).toBe(true);
    expect(m.policyRules()!.map((r) => `${r.family}:${r.priority}`)).toEqual(rulesOf(fx.full).filter((r) => r.priority !== 100).map((r) => `${r.family}:${r.priority}`));
  });

  it('without a rule dump the mirror holds no rules (the planner assumes the defaults) and ignores rule events', () => {
    const m = Mirror.empty();
    expect(m.apply(seg('from-lookup')).rulesChanged).toBe(false);
    expect(m.policyRules()).toBeNull();
  });
});

describe('the rule dump in dumpSnapshot', () => {
  /** A channel that answers every dump empty, and RTM_GETRULE with `rules` or an errno. */
  const channel = (rules: readonly Msg[] | number): RtnlChannel => ({
    dump: async (type: number, _p: Uint8Array, visit: (t: number, f: number, s: number, p: number, b: Buffer, o: number, e: number) => void, op: string) => {
      if (type !== RTM_GETRULE) return 0;
      if (typeof rules === 'number') throw new NetlinkError(op, rules);
      for (const m of rules) forEachMessage(Buffer.from(m.hex, 'hex'), visit);
      return rules.length;
    },
  }) as unknown as RtnlChannel;

  it('carries the kernel\'s rules', async () => {
    expect((await dumpSnapshot(channel(fx.initial))).rules).toEqual(rulesOf(fx.initial));
  });

  it('a kernel without policy routing (EOPNOTSUPP) gives a snapshot without rules; any other error fails the dump', async () => {
    const s = await dumpSnapshot(channel(95));
    expect(s.rules).toBeUndefined();
    await expect(dumpSnapshot(channel(13))).rejects.toThrow(/EACCES/);
  });
});
