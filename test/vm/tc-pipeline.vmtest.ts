// Pipelined tc programming against the Debian 6.1 kernel (issue 15 item 1):
// 20,000 rules go in through RtnlChannel.requestMany (many per sendmsg, a
// window in flight) and the block read back is exactly the plan, key and
// cookie; and a request the kernel refuses in the middle of a window (an add
// of a rule whose key a foreign filter holds already: EEXIST, no
// NLM_F_REPLACE) fails alone, reported by subject, with everything else
// installed. Runs in the VM's own namespace on veths of its own and a table
// no other test uses.
import { release } from 'node:os';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignBuckets, bucketBitsFor, prefixPrio, type Plan, type PlanEntry, type PlanGroup, type PlanPort } from '../../src/plan/index.js';
import { RtnlChannel, type BatchDone, type BatchReplyVisitor, type BatchRequest, type RequestManyOptions } from '../../src/netlink/socket.js';
import { TcBackend } from '../../src/tc/backend.js';
import { desiredBlocks, isOurCookie } from '../../src/tc/rules.js';

const TABLE = 120;
const DEVS = ['tcpl1', 'tcpl2', 'tcpl3'];
const NONE = new Map([[TABLE, 'none' as const]]);
// 20,000 rules on 6.1 (issue 15's figure); the 6.12 boot checks the same behaviour with 4,000, for CI's time.
const N = release().startsWith('6.1.') ? 20_000 : 4_000;

/** Counts requests and how many of them went pipelined. */
class CountingChannel extends RtnlChannel {
  single = 0;
  pipelined = 0;
  override request(type: number, flags: number, payload: Uint8Array, op: string, visit: Parameters<RtnlChannel['request']>[4] = null): Promise<number> {
    this.single++;
    return super.request(type, flags, payload, op, visit);
  }
  override requestMany(reqs: readonly BatchRequest[], onReply: BatchReplyVisitor, onDone: BatchDone, options?: RequestManyOptions): Promise<void> {
    this.pipelined += reqs.length;
    return super.requestMany(reqs, onReply, onDone, options);
  }
}

function run(cmd: string, ...args: string[]): string {
  const p = spawnSync(cmd, args, { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${p.stderr}`);
  return p.stdout;
}

describe('tc backend: pipelined programming', () => {
  let ports: PlanPort[] = [];
  let ch: CountingChannel;
  let tc: TcBackend;

  function group(id: number): PlanGroup {
    const bits = bucketBitsFor(2);
    return {
      id, key: `g${id}`, bucketBits: bits,
      members: [1, 2].map((k, i) => ({ dev: ports[k]!.dev, ifindex: ports[k]!.ifindex, dmac: `02:00:00:00:0${k}:02`, smac: ports[k]!.mac!, weight: 1, via: `10.${i}.0.2` })),
      buckets: assignBuckets([{ weight: 1, state: 'usable' as const }, { weight: 1, state: 'usable' as const }], bits),
    };
  }
  /** N /24s: every 100th a punt, the rest to group 11. */
  const dstOf = (i: number): string => `10.${i >> 8}.${i & 255}.0/24`;
  const entries: PlanEntry[] = Array.from({ length: N }, (_, i) => (i % 100 === 99
    ? { table: TABLE, family: 4, dst: dstOf(i), action: 'punt', reason: 'egress-not-offloaded' }
    : { table: TABLE, family: 4, dst: dstOf(i), action: 'forward', group: 11 }));
  const plan = (): Plan => ({ ports, groups: [group(11)], entries, tables: [TABLE], ttlPunt: true, skipped: [] });

  /** The block as the kernel has it: the agent's rules, key and cookie. */
  async function readBack(): Promise<string[]> {
    const fs = await tc.filters(TABLE);
    return fs.filter((f) => isOurCookie(f.actions[0]?.cookie ?? null, TABLE))
      .map((f) => `${f.id.chain}|${f.id.proto}|${f.id.prio}|${f.matchKey}|${f.actions[0]!.cookie!.toString('hex')}`).sort();
  }
  const want = (p: Plan): string[] =>
    desiredBlocks(p, () => 'none').flatMap((b) => b.filters.map((f) => `${f.key}|${Buffer.from(f.filter.cookie).toString('hex')}`)).sort();

  beforeAll(() => {
    for (const d of DEVS) run('ip', 'link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`);
    for (const d of DEVS) { run('ip', 'link', 'set', d, 'up'); run('ip', 'link', 'set', `${d}p`, 'up'); }
    ports = DEVS.map((dev) => {
      const l = JSON.parse(run('ip', '-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number; address: string }>;
      return { ifindex: l[0]!.ifindex, dev, backend: 'tc' as const, mac: l[0]!.address, table: TABLE };
    });
    ch = new CountingChannel();
    tc = new TcBackend({ policy: 'sw', fallback: 'none' }, ch);
  });

  afterAll(() => {
    tc?.close();
    for (const d of DEVS) spawnSync('ip', ['link', 'del', d]);
  });

  it(`${N} routes: every rule goes pipelined, and the block read back is exactly the plan`, async () => {
    const p = plan();
    const expected = want(p);
    expect(expected.length).toBeGreaterThan(N);
    const t0 = performance.now();
    const r = await tc.reconcileWith(p, NONE);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.failures).toEqual([]);
    expect(r.blocks[0]).toMatchObject({ adds: expected.length, replaces: 0, deletes: 0, unchanged: 0, failures: [] });
    // Joins one at a time (a clsact per port), every filter pipelined.
    expect(ch.pipelined).toBe(expected.length);
    expect(ch.single).toBe(DEVS.length);
    expect(await readBack()).toEqual(expected);
    console.log(`pipelined: ${expected.length} rules in ${seconds.toFixed(2)} s (${Math.round(expected.length / seconds)} rules/s, incl. block dump)`);
    // Again: nothing to send.
    ch.pipelined = 0;
    const again = await tc.reconcileWith(p, NONE);
    expect(again.blocks[0]).toMatchObject({ adds: 0, replaces: 0, deletes: 0, unchanged: expected.length });
    expect(ch.pipelined).toBe(0);
  });

  it('a refusal in the middle of a window fails that rule alone; failures and kernel agree', async () => {
    const p = plan();
    const expected = want(p);
    // Empty the block, then let a foreign filter hold the key of the rule for entry N/2 (mid-phase, mid-window):
    // the agent's add of it (NLM_F_EXCL, no NLM_F_REPLACE) must be refused with EEXIST.
    await tc.reconcileWith({ ...p, entries: [], groups: [] }, NONE);
    expect((await readBack()).length).toBe(want({ ...p, entries: [], groups: [] }).length);
    const victim = entries[N / 2]!;
    run('tc', 'filter', 'add', 'block', String(TABLE), 'protocol', 'ip', 'chain', '1', 'prio', String(prefixPrio(4, 24)),
      'flower', 'dst_ip', victim.dst, 'action', 'drop');
    const r = await tc.reconcileWith(p, NONE);
    expect(r.failures).toEqual([expect.objectContaining({ subject: `entry ${TABLE}|${victim.dst}`, errno: 'EEXIST' })]);
    expect(r.failures[0]!.op).toMatch(new RegExp(`^add filter block ${TABLE} chain 1 ip prio ${prefixPrio(4, 24)}`));
    expect(r.blocks[0]!.failures).toEqual([expect.objectContaining({ op: 'add', subject: `entry ${TABLE}|${victim.dst}`, errno: 'EEXIST' })]);
    // The kernel: exactly that rule missing, every other one installed; the foreign filter untouched.
    const victimKey = desiredBlocks(p, () => 'none')[0]!.filters.find((f) => f.subject === `entry ${TABLE}|${victim.dst}`)!;
    const missing = `${victimKey.key}|${Buffer.from(victimKey.filter.cookie).toString('hex')}`;
    expect(await readBack()).toEqual(expected.filter((k) => k !== missing));
    const all = await tc.filters(TABLE);
    expect(all.filter((f) => !isOurCookie(f.actions[0]?.cookie ?? null)).length).toBe(1);
    // The foreign filter gone, the next reconcile adds just the missing rule.
    run('tc', 'filter', 'del', 'block', String(TABLE), 'protocol', 'ip', 'chain', '1', 'prio', String(prefixPrio(4, 24)),
      'handle', String(all.find((f) => !isOurCookie(f.actions[0]?.cookie ?? null))!.id.handle), 'flower');
    const again = await tc.reconcileWith(p, NONE);
    expect(again.failures).toEqual([]);
    expect(again.blocks[0]).toMatchObject({ adds: 1, unchanged: expected.length - 1 });
    expect(await readBack()).toEqual(expected);
  });
});
