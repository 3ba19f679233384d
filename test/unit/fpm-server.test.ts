// The FPM path on zebra's own bytes: frames captured from FRR 10.7.1's
// dplane_fpm_nl (test/fixtures/fpm, scripts/capture-fpm.sh) are decoded with
// the kernel codec, answered with replies that differ from zebra's message
// only in the flags, and streamed through a real TCP connection to the
// server, whose answers follow the agent's state (a stub view: plan, kernel,
// per-entry status) as it changes.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameReader } from '../../src/fpm/frame.js';
import { buildReply, decodeZebra, RTM_F_OFFLOAD, RTM_F_OFFLOAD_FAILED, RTM_F_TRAP } from '../../src/fpm/messages.js';
import { FpmMetrics } from '../../src/fpm/metrics.js';
import { FpmServer } from '../../src/fpm/server.js';
import type { OffloadView } from '../../src/fpm/verdict.js';
import { decodeRoute } from '../../src/netlink/codec/route.js';
import type { Plan, PlanEntry } from '../../src/plan/types.js';

interface Frame { readonly what: string; readonly hex: string }
interface Fixture {
  readonly frr: string;
  readonly sessions: Readonly<Record<'plain' | 'nhg' | 'replay', { readonly config: readonly string[]; readonly frames: readonly Frame[] }>>;
}
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fpm', 'zebra-10.7.1.json');
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;

const payloadOf = (f: Frame): Buffer => Buffer.from(f.hex, 'hex').subarray(4);
const routeFrames = (frames: readonly Frame[], type: string): Frame[] => frames.filter((f) => f.what.startsWith(type));
/** The frame zebra sent for a prefix (the last one, if it sent several). */
const frameFor = (frames: readonly Frame[], type: string, prefix: string): Frame => {
  const f = routeFrames(frames, type).filter((x) => x.what.split(' ')[1] === prefix).at(-1);
  if (!f) throw new Error(`no ${type} ${prefix} in the fixture`);
  return f;
};

describe(`zebra ${fx.frr}'s FPM messages`, () => {
  it('every frame decodes: routes with their prefix and table, nexthop objects with their id', () => {
    for (const s of Object.values(fx.sessions)) {
      for (const f of s.frames) {
        const [m, ...more] = decodeZebra(payloadOf(f));
        expect(more).toEqual([]);
        const [type, what, , table] = f.what.split(' ');
        if (type === 'RTM_NEWROUTE' || type === 'RTM_DELROUTE') {
          expect(m?.kind).toBe('route');
          if (m?.kind !== 'route') continue;
          expect({ op: m.op, dst: `${m.route.dst}/${m.route.dstLen}`, table: m.route.table }).toEqual({
            op: type === 'RTM_NEWROUTE' ? 'new' : 'del', dst: what, table: Number(table),
          });
        } else if (type === 'RTM_NEWNEXTHOP') {
          expect(m?.kind === 'nexthop' ? { op: m.op, id: m.nexthop.id } : m).toEqual({ op: 'new', id: Number(f.what.split(' ')[2]) });
        }
      }
    }
  });

  it('zebra says what the routes are: an ECMP route has both next hops (plain) or a nexthop object (use-next-hop-groups)', () => {
    const plain = decodeZebra(payloadOf(frameFor(fx.sessions.plain.frames, 'RTM_NEWROUTE', '198.51.100.0/24')))[0]!;
    const nhg = decodeZebra(payloadOf(frameFor(fx.sessions.nhg.frames, 'RTM_NEWROUTE', '198.51.100.0/24')))[0]!;
    expect(plain.kind === 'route' ? plain.route.nexthops.map((h) => h.gateway).sort() : null).toEqual(['10.0.0.2', '10.0.1.2']);
    expect(nhg.kind === 'route' ? nhg.route.nhId : null).toBeGreaterThan(0);
    expect(routeFrames(fx.sessions.nhg.frames, 'RTM_NEWNEXTHOP').length).toBeGreaterThan(0);
    expect(routeFrames(fx.sessions.plain.frames, 'RTM_NEWNEXTHOP')).toEqual([]);
  });

  it.each([
    ['offload', RTM_F_OFFLOAD],
    ['offload|trap', RTM_F_OFFLOAD | RTM_F_TRAP],
    ['offload_failed', RTM_F_OFFLOAD_FAILED],
  ])('a %s reply is zebra\'s message with NLM_F_REQUEST and those rtm_flags, every other byte unchanged', (_name, flags) => {
    for (const s of Object.values(fx.sessions)) {
      for (const f of routeFrames(s.frames, 'RTM_NEWROUTE')) {
        const raw = payloadOf(f);
        const reply = buildReply(raw, flags);
        expect(reply.length).toBe(raw.length);
        const diff: number[] = [];
        for (let i = 0; i < raw.length; i++) if (raw[i] !== reply[i]) diff.push(i);
        // nlmsg_flags (6-7) and rtm_flags (16 + 8 .. 16 + 11) only.
        expect(diff.every((i) => i === 6 || i === 7 || (i >= 24 && i < 28)), f.what).toBe(true);
        expect(reply.readUInt16LE(6)).toBe(1);
        expect(reply.readUInt32LE(24) & (RTM_F_OFFLOAD | RTM_F_TRAP | RTM_F_OFFLOAD_FAILED)).toBe(flags);
        const { flags: _a, ...was } = decodeRoute(raw, 16, raw.length)!;
        const { flags: _b, ...now } = decodeRoute(reply, 16, reply.length)!;
        expect(now).toEqual(was);
      }
    }
  });
});

// ---------------------------------------------------------------------------
// The server over TCP, zebra played by a socket that sends the captured frames.

const plainFrames = fx.sessions.plain.frames;
// zebra's static routes (proto 196); it also sends the kernel's connected and local routes (proto 2), each twice.
const added = routeFrames(plainFrames, 'RTM_NEWROUTE').filter((f) => f.what.endsWith('proto 196'));
const deleted = routeFrames(plainFrames, 'RTM_DELROUTE');
const distinct = (frames: readonly Frame[]): string[] => [...new Set(frames.map((f) => f.what.split(' ')[1]!))];

interface State {
  entries: PlanEntry[];
  kernel: Set<string>;
  failed: Set<string>;
}

function viewOf(st: State): OffloadView {
  const entries = [...st.entries];
  const plan: Plan = { ports: [], groups: [], entries, skipped: [], ttlPunt: true, tables: [254] };
  return {
    plan,
    kernelHas: (k) => st.kernel.has(k),
    backendOf: () => 'xdp',
    failed: (b, s) => st.failed.has(`${b} ${s}`),
    kernelRoutes: (p) => [...st.kernel].filter(() => p(196)),
  };
}

interface Answer { readonly dst: string; readonly flags: number }

class FakeZebra {
  readonly answers: Answer[] = [];
  private readonly reader = new FrameReader();
  readonly socket: Socket;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      for (const p of this.reader.push(c)) {
        const r = decodeRoute(p, 16, p.length)!;
        this.answers.push({ dst: `${r.dst}/${r.dstLen}`, flags: p.readUInt32LE(24) & (RTM_F_OFFLOAD | RTM_F_TRAP | RTM_F_OFFLOAD_FAILED) });
      }
    });
  }
  send(frames: readonly Frame[]): void {
    this.socket.write(Buffer.concat(frames.map((f) => Buffer.from(f.hex, 'hex'))));
  }
  async connected(): Promise<void> {
    if (!this.socket.connecting) return;
    await new Promise((r) => this.socket.once('connect', r));
  }
}

async function until<T>(what: string, f: () => T | undefined, ms = 2000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the FPM server with zebra\'s frames', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(st: State, coalesceMs = 2): Promise<{ server: FpmServer; registry: Registry; zebra: () => FakeZebra }> {
    const registry = new Registry();
    const server = new FpmServer({
      listen: { listen: '127.0.0.1:0', host: '127.0.0.1', port: 0 },
      log: pino({ level: 'silent' }),
      metrics: new FpmMetrics(registry),
      view: () => viewOf(st),
      schedule: (work) => setImmediate(work),
      coalesceMs,
      driftGraceMs: 200,
      kernelCheckMs: 200,
    });
    await server.start();
    cleanup.push(() => server.stop());
    return {
      server, registry,
      zebra: () => {
        const z = new FakeZebra(server.port!);
        cleanup.push(() => { z.socket.destroy(); });
        return z;
      },
    };
  }

  const prefixes = added.map((f) => f.what.split(' ')[1]!);
  const keyOf = (dst: string): string => `254|${dst.includes(':') ? 6 : 4}|${dst}`;

  it('answers each route once from the state, again only when the state changes, and drops deleted routes', async () => {
    const entries: PlanEntry[] = [
      { table: 254, family: 4, dst: '192.0.2.0/24', action: 'forward', group: 1 },
      { table: 254, family: 4, dst: '198.51.100.0/24', action: 'forward', group: 2 },
      { table: 254, family: 4, dst: '203.0.113.0/24', action: 'punt', reason: 'blackhole' },
    ];
    // 2001:db8:1::/48 is not in the kernel yet: no answer for it.
    const st: State = { entries, kernel: new Set(prefixes.filter((p) => !p.includes(':')).map(keyOf)), failed: new Set() };
    const { server, registry, zebra } = await setup(st);
    const z = zebra();
    await z.connected();
    z.send(added);
    const v4 = prefixes.filter((p) => !p.includes(':'));
    await until('an answer per IPv4 route', () => (z.answers.length >= v4.length ? true : undefined));
    const want = (dst: string): number => (dst === '192.0.2.0/24' || dst === '198.51.100.0/24' ? RTM_F_OFFLOAD : RTM_F_OFFLOAD | RTM_F_TRAP);
    expect([...z.answers].sort((a, b) => a.dst.localeCompare(b.dst))).toEqual(v4.sort().map((dst) => ({ dst, flags: want(dst) })));

    // The kernel gets the IPv6 route (not in the plan: the kernel forwards it); one failure; a change with no effect.
    z.answers.length = 0;
    st.kernel.add(keyOf('2001:db8:1::/48'));
    st.failed.add('xdp group 2');
    server.changed([{ op: 'group-update', group: { id: 2, key: 'k', members: [], bucketBits: 0, buckets: [0] }, old: { id: 2, key: 'k', members: [], bucketBits: 0, buckets: [0] } }]);
    await until('two new answers', () => (z.answers.length >= 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 30));
    expect([...z.answers].sort((a, b) => a.dst.localeCompare(b.dst))).toEqual([
      { dst: '198.51.100.0/24', flags: RTM_F_OFFLOAD_FAILED },
      { dst: '2001:db8:1::/48', flags: RTM_F_OFFLOAD | RTM_F_TRAP },
    ]);

    // The retry installs it: back to offload. Everything else is unchanged: not sent again.
    z.answers.length = 0;
    st.failed.clear();
    server.changed('all');
    await until('the recovery', () => (z.answers.length >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 30));
    expect(z.answers).toEqual([{ dst: '198.51.100.0/24', flags: RTM_F_OFFLOAD }]);

    // zebra deletes a route: it leaves the table and is not answered again.
    const gone = deleted.map((f) => f.what.split(' ')[1]!);
    for (const g of gone) st.kernel.delete(keyOf(g));
    z.send(deleted);
    await until('the delete', () => (server.status().routes === prefixes.length - gone.length ? true : undefined));
    z.answers.length = 0;
    server.changed('all');
    await new Promise((r) => setTimeout(r, 30));
    expect(z.answers).toEqual([]);

    const m = await registry.getSingleMetricAsString('fib_offload_fpm_replies_total');
    expect(m).toContain('fib_offload_fpm_replies_total{flag="offload"} 3');
    expect(m).toContain('fib_offload_fpm_replies_total{flag="offload_failed"} 1');
    expect(server.status()).toMatchObject({ connected: true, routes: prefixes.length - gone.length, drift: { zebraOnly: 0, kernelOnly: 0 } });
  });

  it('coalesces churn: changes inside the window that end where they started send nothing; the last state is what is sent', async () => {
    const dst = '192.0.2.0/24';
    const st: State = { entries: [{ table: 254, family: 4, dst, action: 'forward', group: 1 }], kernel: new Set([keyOf(dst)]), failed: new Set() };
    const { server, zebra } = await setup(st, 40);
    const z = zebra();
    await z.connected();
    z.send([frameFor(plainFrames, 'RTM_NEWROUTE', dst)]);
    await until('the first answer', () => (z.answers.length === 1 ? true : undefined));
    z.answers.length = 0;
    for (let i = 0; i < 10; i++) {
      st.failed.add('xdp entry 254|192.0.2.0/24');
      server.changed('all');
      st.failed.clear();
      server.changed('all');
    }
    await new Promise((r) => setTimeout(r, 120));
    expect(z.answers).toEqual([]);
    for (let i = 0; i < 10; i++) {
      st.failed.clear();
      server.changed('all');
      st.failed.add('xdp entry 254|192.0.2.0/24');
      server.changed('all');
    }
    await until('one answer for the last state', () => (z.answers.length >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 120));
    expect(z.answers).toEqual([{ dst, flags: RTM_F_OFFLOAD_FAILED }]);
  });

  it('a reconnect (zebra restarted) replaces the table; the replay is answered from the current state', async () => {
    const replay = routeFrames(fx.sessions.replay.frames, 'RTM_NEWROUTE');
    const all = distinct([...added, ...replay]);
    const st: State = { entries: [{ table: 254, family: 4, dst: '192.0.2.0/24', action: 'forward', group: 1 }], kernel: new Set(all.map(keyOf)), failed: new Set() };
    const { server, zebra } = await setup(st);
    const z1 = zebra();
    await z1.connected();
    z1.send(added);
    await until('answers on the first connection', () => (z1.answers.length >= prefixes.length ? true : undefined));
    const z2 = zebra();
    await z2.connected();
    z2.send(replay);
    const replayed = distinct(replay).length;
    await until('answers on the second connection', () => (z2.answers.length >= replayed ? true : undefined));
    expect(distinct(replay)).not.toContain('192.0.2.0/24'); // deleted before zebra reconnected
    await until('the old connection closed', () => (z1.socket.destroyed || z1.socket.readableEnded ? true : undefined));
    expect(server.status()).toMatchObject({ connected: true, connections: 2, routes: replayed });
  });

  it('a zebra route the kernel never gets becomes drift after the grace period, and a kernel-only one too', async () => {
    const st: State = { entries: [], kernel: new Set([keyOf('10.99.0.0/16')]), failed: new Set() };
    const { server, registry, zebra } = await setup(st);
    const z = zebra();
    await z.connected();
    z.send([frameFor(plainFrames, 'RTM_NEWROUTE', '192.0.2.0/24')]);
    await until('drift both ways', () => {
      const d = server.status().drift;
      return d.zebraOnly === 1 && d.kernelOnly === 1 ? true : undefined;
    }, 8000);
    expect(z.answers).toEqual([]);
    const m = await registry.getSingleMetricAsString('fib_offload_fpm_drift_total');
    expect(m).toContain('direction="zebra_only"} 1');
    expect(m).toContain('direction="kernel_only"} 1');
  });

  it('a frame that breaks the protocol ends the connection (zebra reconnects)', async () => {
    const { server, registry, zebra } = await setup({ entries: [], kernel: new Set(), failed: new Set() });
    const z = zebra();
    await z.connected();
    z.socket.write(Buffer.from([2, 1, 0, 8, 0, 0, 0, 0]));
    await new Promise((r) => z.socket.once('close', r));
    expect(server.status().lastError?.message).toMatch(/version 2/);
    expect(await registry.getSingleMetricAsString('fib_offload_fpm_connections_total')).toContain('result="protocol-error"} 1');
  });
});
