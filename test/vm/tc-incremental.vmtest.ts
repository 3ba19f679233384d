// The tc backend's per-batch path against the Debian 6.1 kernel: after one
// reconcileWith, each batch of plan ops is sent as exactly the filter
// requests it needs (no dump, counted on the channel), and the block read
// back afterwards equals desiredBlocks(next), key and cookie. And the probe:
// hw-only on veth is refused (EOPNOTSUPP), and asking again with the same
// ports sends nothing. Runs in the VM's own namespace (the VM is thrown
// away) on veths of its own and a table no other test uses.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageVisitor } from '../../src/netlink/codec/header.js';
import { RtnlChannel, type BatchDone, type BatchReplyVisitor, type BatchRequest, type RequestManyOptions } from '../../src/netlink/socket.js';
import { assignBuckets, bucketBitsFor, diffPlans, type Plan, type PlanEntry, type PlanGroup, type PlanPort } from '../../src/plan/index.js';
import { TcBackend, type TcApplyReport } from '../../src/tc/backend.js';
import { groupRefsOf, incrementalChanges } from '../../src/tc/incremental.js';
import { desiredBlocks, isOurCookie } from '../../src/tc/rules.js';

const TABLE = 100;
const DEVS = ['tcin1', 'tcin2', 'tcin3'];
const NONE = new Map([[TABLE, 'none' as const]]);

/** Counts what goes out: write requests (one at a time or pipelined) and dumps separately. */
class CountingChannel extends RtnlChannel {
  requests = 0;
  dumps = 0;
  override request(type: number, flags: number, payload: Uint8Array, op: string, visit: MessageVisitor | null = null): Promise<number> {
    this.requests++;
    return super.request(type, flags, payload, op, visit);
  }
  override requestMany(reqs: readonly BatchRequest[], onReply: BatchReplyVisitor, onDone: BatchDone, options?: RequestManyOptions): Promise<void> {
    this.requests += reqs.length;
    return super.requestMany(reqs, onReply, onDone, options);
  }
  override dump(type: number, payload: Uint8Array, visit: MessageVisitor, op: string): Promise<number> {
    this.dumps++;
    return super.dump(type, payload, visit, op);
  }
  take(): { requests: number; dumps: number } {
    const r = { requests: this.requests, dumps: this.dumps };
    this.requests = 0;
    this.dumps = 0;
    return r;
  }
}

function ip(...args: string[]): string {
  const p = spawnSync('ip', args, { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`ip ${args.join(' ')}: ${p.stderr}`);
  return p.stdout;
}

describe('tc backend: probe, reconcileWith, then one batch at a time', () => {
  let ports: PlanPort[] = [];
  let ch: CountingChannel;
  let tc: TcBackend;

  const family = (dst: string): 4 | 6 => (dst.includes(':') ? 6 : 4);
  const fwd = (dst: string, g: number): PlanEntry => ({ table: TABLE, family: family(dst), dst, action: 'forward', group: g });
  const punt = (dst: string): PlanEntry => ({ table: TABLE, family: family(dst), dst, action: 'punt', reason: 'egress-not-offloaded' });
  /** A group over the first `n` ports after the first (members tcin2, tcin3), neighbour MACs ending in `mac`. */
  function group(id: number, n: number, mac = 2): PlanGroup {
    const bits = bucketBitsFor(n);
    return {
      id, key: `g${id}`, bucketBits: bits,
      members: Array.from({ length: n }, (_, i) => {
        const p = ports[1 + (i % 2)]!;
        return { dev: p.dev, ifindex: p.ifindex, dmac: `02:00:00:00:${(i + 1).toString(16).padStart(2, '0')}:0${mac}`, smac: p.mac!, weight: 1 + (i >> 1), via: `10.${i}.0.2` };
      }),
      buckets: assignBuckets(Array.from({ length: n }, (_, i) => ({ weight: 1 + (i >> 1), state: 'usable' as const })), bits),
    };
  }
  const plan = (groups: readonly PlanGroup[], entries: readonly PlanEntry[], p: readonly PlanPort[] = ports): Plan =>
    ({ ports: p, groups, entries, tables: [TABLE], ttlPunt: true, skipped: [] });

  /** The block as the kernel has it: the agent's rules, key and cookie. */
  async function readBack(): Promise<string[]> {
    const fs = await tc.filters(TABLE);
    return fs.filter((f) => isOurCookie(f.actions[0]?.cookie ?? null, TABLE))
      .map((f) => `${f.id.chain}|${f.id.proto}|${f.id.prio}|${f.matchKey}|${f.actions[0]!.cookie!.toString('hex')}`).sort();
  }
  const want = (p: Plan): string[] =>
    desiredBlocks(p, () => 'none').flatMap((b) => b.filters.map((f) => `${f.key}|${Buffer.from(f.filter.cookie).toString('hex')}`)).sort();

  /** One batch: the requests sent are exactly the changes the ops need, no dump, and the block ends equal to the plan. */
  async function batch(prev: Plan, next: Plan): Promise<{ report: TcApplyReport; requests: number }> {
    const ops = diffPlans(prev, next);
    const inc = incrementalChanges(ops, next, () => 'none', groupRefsOf(prev));
    if (inc.full !== null) throw new Error(`expected an incremental batch: ${inc.full}`);
    const needed = inc.phases.flat().length;
    ch.take();
    const report = await tc.applyOps(ops, next, NONE);
    const sent = ch.take();
    expect(report.failures).toEqual([]);
    expect(report.full).toBe(false);
    expect(sent).toEqual({ requests: needed, dumps: 0 });
    expect(report.ops).toBe(needed);
    expect(await readBack()).toEqual(want(next));
    return { report, requests: sent.requests };
  }

  beforeAll(() => {
    for (const d of DEVS) ip('link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`);
    for (const d of DEVS) { ip('link', 'set', d, 'up'); ip('link', 'set', `${d}p`, 'up'); }
    ports = DEVS.map((dev) => {
      const l = JSON.parse(ip('-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number; address: string }>;
      return { ifindex: l[0]!.ifindex, dev, backend: 'tc' as const, mac: l[0]!.address, table: TABLE };
    });
    ch = new CountingChannel();
    tc = new TcBackend({ policy: 'hw-only', fallback: 'sw' }, ch);
  });

  afterAll(() => {
    tc?.close();
    for (const d of DEVS) spawnSync('ip', ['link', 'del', d]);
  });

  it('hw-only: joining and probing once (EOPNOTSUPP on veth); the same ports again send nothing', async () => {
    ch.take();
    const first = await tc.probeBlocks(ports);
    // One qdisc dump, a clsact per port, the probe filter (refused: nothing to delete).
    expect(ch.take()).toEqual({ requests: DEVS.length + 1, dumps: 1 });
    expect(first).toEqual([{ block: TABLE, table: TABLE, ports: DEVS, refused: expect.objectContaining({ errno: 'EOPNOTSUPP' }) }]);
    expect(tc.refusedPorts()).toEqual([]);
    expect(await tc.probeBlocks(ports)).toEqual(first);
    expect(ch.take()).toEqual({ requests: 0, dumps: 0 });
    // A link change: probed again, the ports are members already.
    tc.invalidateProbes();
    expect((await tc.probeBlocks(ports))[0]!.refused?.errno).toBe('EOPNOTSUPP');
    expect(ch.take()).toEqual({ requests: 1, dumps: 1 });
    // Other policies join but don't probe.
    const sw = new TcBackend({ policy: 'sw', fallback: 'sw' }, ch);
    expect(await sw.probeBlocks(ports)).toEqual([{ block: TABLE, table: TABLE, ports: DEVS, refused: null }]);
    expect(ch.take()).toEqual({ requests: 0, dumps: 1 });
  });

  const g1 = (mac = 2, n = 2): PlanGroup => group(11, n, mac);
  const p0 = (): Plan => plan([g1()], [fwd('10.0.0.0/8', 11), punt('10.1.0.0/16'), fwd('2001:db8::/32', 11)]);

  it('reconcileWith installs the plan and reads every handle back; a second one changes nothing', async () => {
    ch.take();
    const r = await tc.reconcileWith(p0(), NONE);
    expect(r.failures).toEqual([]);
    // The ports the probe put in the block are reported here, as joined.
    expect(r).toMatchObject({ backend: 'tc', complete: true, full: true, refused: [], joined: DEVS, left: [] });
    expect(r.blocks[0]!.adds).toBe(want(p0()).length);
    expect(await readBack()).toEqual(want(p0()));
    const again = await tc.reconcileWith(p0(), NONE);
    expect(again.blocks[0]).toMatchObject({ adds: 0, replaces: 0, deletes: 0, unchanged: want(p0()).length });
  });

  const log: string[] = [];
  let cur: Plan;

  it('batches: each sends only the requests its ops need and leaves the block equal to the plan', async () => {
    cur = p0();
    const step = async (what: string, next: Plan, expected?: number): Promise<void> => {
      const { requests } = await batch(cur, next);
      log.push(`${what}: ${requests} requests`);
      if (expected !== undefined) expect(requests, what).toBe(expected);
      cur = next;
    };
    await step('one route to a group in use', plan([g1()], [...cur.entries, fwd('192.0.2.0/24', 11)]), 1);
    await step('two routes, a new group', plan([g1(), group(22, 2)], [...cur.entries, fwd('198.51.100.0/24', 22), fwd('203.0.113.0/24', 22)]), 2 + 2);
    await step('a neighbour MAC change (group 11, both families)', plan([g1(7), group(22, 2)], cur.entries), 2 + 2);
    await step('a third member (more bucket bits)', plan([g1(7, 3), group(22, 2)], cur.entries));
    await step('punt → forward', plan(cur.groups.slice(), cur.entries.map((e) => (e.dst === '10.1.0.0/16' ? fwd(e.dst, 22) : e))), 1);
    await step('the IPv6 route goes: the IPv6 buckets with it', plan(cur.groups.slice(), cur.entries.filter((e) => e.family === 4)),
      1 + desiredBlocks(cur, () => 'none')[0]!.filters.filter((f) => f.filter.id.chain === 11 && f.filter.id.proto === 'ipv6').length);
    await step('the last routes of group 22 go, and the group', plan([g1(7, 3)], cur.entries.filter((e) => e.group !== 22)), 3 + 2);
    await step('nothing', plan(cur.groups.slice(), cur.entries), 0);
    // The measurements, for the report.
    console.log(log.join('\n'));
  });

  it('a port op is a full reconcile (read back), and the batch after it is incremental again', async () => {
    const fewer = plan(cur.groups.slice(), cur.entries, ports.map((p) => (p.dev === 'tcin1' ? { ...p, backend: 'none' as const } : p)));
    ch.take();
    const r = await tc.applyOps(diffPlans(cur, fewer), fewer, NONE);
    const sent = ch.take();
    expect(r).toMatchObject({ full: true, fullReason: 'port-delete tcin1', complete: true, left: ['tcin1'] });
    expect(sent.dumps).toBeGreaterThan(0);
    expect(await readBack()).toEqual(want(fewer));
    cur = fewer;
    await batch(cur, plan(cur.groups.slice(), [...cur.entries, punt('10.9.0.0/16')], cur.ports));
  });

  it('skip_sw on veth: every write refused, per subject, errno as a field, the block in hwRefused; the rules in place stay', async () => {
    const r = await tc.reconcileWith(cur, new Map([[TABLE, 'skip_sw' as const]]));
    expect(r.hwRefused.get(TABLE)?.errno).toBe('EOPNOTSUPP');
    expect(r.failures.length).toBe(want(cur).length);
    expect(r.failures.every((f) => f.errno === 'EOPNOTSUPP' && f.op.startsWith(`replace filter block ${TABLE} `))).toBe(true);
    expect(r.failures.map((f) => f.subject)).toContain(`entry ${TABLE}|10.0.0.0/8`);
    expect(r.failures.map((f) => f.subject)).toContain('group 11');
    expect(r.failures.map((f) => f.subject)).toContain(`block ${TABLE}`);
    expect(await readBack()).toEqual(want(cur));
    // Installed with another placement than the batch asks for: that is a reconcile's job.
    const back = await tc.applyOps([], cur, NONE);
    expect(back).toMatchObject({ full: true, fullReason: `block ${TABLE} placement skip_sw → none`, failures: [] });
  });
});
