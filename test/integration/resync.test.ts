// Netlink may drop notifications (ENOBUFS). With a deliberately tiny event
// socket buffer and a flood of route changes, the adapter must notice the
// overrun, resync from a fresh dump, and end exactly equal to the kernel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSet, eventually, isRoot, type Netns } from './lib/netns.js';
import { MirrorProbe, type ProbeState } from './lib/probe.js';

describe.skipIf(!isRoot())('resync on event loss', () => {
  const nets = new NetnsSet('resync');
  let r: Netns;
  let probe: MirrorProbe;

  beforeAll(async () => {
    r = nets.add('r');
    const p = nets.add('p');
    nets.veth(r, 'eth1', p, 'eth0');
    await r.waitCarrier('eth1');
    r.ip('addr', 'add', '10.1.0.1/24', 'dev', 'eth1');
    r.ip('neigh', 'replace', '10.1.0.2', 'lladdr', '02:00:00:00:01:02', 'dev', 'eth1', 'nud', 'permanent');
    probe = await MirrorProbe.start(r, ['--event-buffer', '4096']);
  });

  afterAll(async () => {
    await probe?.stop();
    nets.destroy();
  });

  it('overruns, resyncs, and converges to a fresh dump after a flood of 30,000 changes', async () => {
    const adds: string[] = [];
    const dels: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const dst = `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
      adds.push(`route add ${dst} via 10.1.0.2 dev eth1 proto static`);
      if (i % 2 === 0) dels.push(`route del ${dst}`);
    }
    r.ipBatch(adds);
    r.ipBatch(dels);
    // A neighbour change after the flood must also land (the resync must not stop following).
    r.ip('neigh', 'replace', '10.1.0.2', 'lladdr', '02:00:00:00:01:99', 'dev', 'eth1', 'nud', 'permanent');

    let last: ProbeState | undefined;
    await eventually('event mirror == fresh dump', async () => {
      last = await probe.state();
      return JSON.stringify(last.events) === JSON.stringify(last.dump) ? true : undefined;
    }, 30_000).catch((err: Error) => {
      expect(last?.events).toEqual(last?.dump);
      throw err;
    });
    expect(last!.counters.overruns).toBeGreaterThan(0);
    expect(last!.counters.resyncs).toBeGreaterThan(0);
    const routes = (last!.events as { routes: Array<{ dst: string }> }).routes.filter((x) => x.dst.startsWith('172.'));
    expect(routes.length).toBe(10_000);
  });
});
