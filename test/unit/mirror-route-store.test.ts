// The mirror's route columns: every route the kernel sent in the captured
// dumps and events reads back exactly as decoded; interned nexthop lists and
// sources are shared while used and dropped with their last row; freed rows
// are reused.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Route } from '../../src/model/route.js';
import { RouteStore } from '../../src/mirror/route-store.js';
import { decodeEvent } from '../../src/netlink/codec/decode.js';
import { forEachMessage } from '../../src/netlink/codec/header.js';

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'netlink');

interface FixtureMessage { readonly hex: string }
interface Fixture { readonly messages?: FixtureMessage[]; readonly segments?: { messages: FixtureMessage[] }[] }

function capturedRoutes(): Route[] {
  const out: Route[] = [];
  for (const name of ['routes-v4', 'routes-v6', 'routes-mtu', 'events-route', 'nexthops-compat0', 'nexthops-compat1']) {
    const fx = JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as Fixture;
    for (const m of fx.messages ?? (fx.segments ?? []).flatMap((s) => s.messages)) {
      forEachMessage(Buffer.from(m.hex, 'hex'), (type, _f, _s, _p, b, off, end) => {
        const ev = decodeEvent(type, b, off, end);
        if (ev?.kind === 'route') out.push(ev.route);
      });
    }
  }
  return out;
}

/** The route as plain data: what a reader can tell apart (absent optional keys and undefined are the same). */
const plain = (r: Route): unknown => JSON.parse(JSON.stringify(r));

describe('RouteStore', () => {
  const routes = capturedRoutes();

  it('reads back every captured route exactly (IPv4, IPv6, RFC 5549, multipath, nexthop objects, MTU, types)', () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(routes.some((r) => r.family === 6)).toBe(true);
    expect(routes.some((r) => r.nhId !== null)).toBe(true);
    expect(routes.some((r) => r.nexthops.length > 1)).toBe(true);
    expect(routes.some((r) => r.mtu !== undefined)).toBe(true);
    const st = new RouteStore();
    const rows = routes.map((r) => st.add(r));
    rows.forEach((row, i) => expect(plain(st.get(row))).toEqual(plain(routes[i]!)));
    expect(st.size).toBe(routes.length);
  });

  it('keeps a non-canonical IPv4 text as given, and every route type and scope', () => {
    const st = new RouteStore();
    const base: Route = {
      table: 1000000, family: 4, dst: '10.0.0.0', dstLen: 8, type: 'prohibit', protocol: 186, priority: 4294967295,
      scope: 253, tos: 0x10, nhId: 4294967295, nexthops: [], prefsrc: '10.0.0.1', flags: 0x400, encap: true, mtu: 9000, mtuLocked: true,
    };
    for (const r of [base, { ...base, dst: '010.0.0.0' }, { ...base, type: 'unicast' as const, nhId: null, encap: undefined }]) {
      expect(plain(st.get(st.add(r)))).toEqual(plain(r));
    }
  });

  it('interns equal nexthop lists and sources once, whatever object carries them, and drops them with their last row', () => {
    const st = new RouteStore();
    const nh = (gw: string) => [{ ifindex: 2, gateway: gw, gatewayFamily: 4 as const, weight: 1, onlink: false, linkdown: false, dead: false }];
    const r = (i: number, gw: string): Route => ({
      table: 254, family: 4, dst: `10.0.${i}.0`, dstLen: 24, type: 'unicast', protocol: 186, priority: 20, scope: 0, tos: 0,
      nhId: null, nexthops: nh(gw), prefsrc: `192.0.2.${i % 2}`, flags: 0,
    });
    const rows = Array.from({ length: 100 }, (_, i) => st.add(r(i, i < 60 ? '10.1.0.2' : '10.2.0.2')));
    expect(st.interned).toEqual({ nexthopSets: 2, sources: 2 });
    // Equal lists read back as one shared object.
    expect(st.get(rows[0]!).nexthops).toBe(st.get(rows[59]!).nexthops);
    for (const row of rows.slice(60)) st.remove(row);
    expect(st.interned).toEqual({ nexthopSets: 1, sources: 2 });
    // Freed rows are reused before the columns grow.
    const again = st.add(r(7, '10.3.0.2'));
    expect(rows.slice(60)).toContain(again);
    st.replace(again, r(7, '10.1.0.2'));
    expect(st.interned).toEqual({ nexthopSets: 1, sources: 2 });
    expect(st.size).toBe(61);
  });
});
