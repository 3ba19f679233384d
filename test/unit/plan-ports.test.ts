import { describe, it, expect } from 'vitest';
import { selectPorts } from '../../src/plan/index.js';
import { link, loopback } from './plan-helpers.js';

const LINKS = [
  loopback(),
  link(2, 'eth0'),
  link(3, 'eth1'),
  link(4, 'ens5f0'),
  link(5, 'pf0vf1', { physSwitchId: 'aabbcc', physPortName: 'pf0vf1' }),
  link(6, 'red', { kind: 'vrf', vrfTable: 100 }),
  link(7, 'wg0', { mac: null, kind: 'wireguard' }),
  link(8, 'eth10', { master: 6 }),
];
const backends = (specs: string[], backendFor?: Parameters<typeof selectPorts>[2]) =>
  Object.fromEntries(selectPorts(LINKS, specs, backendFor).map((p) => [p.dev, p.backend]));

describe('selectPorts', () => {
  it('exact names', () => {
    expect(backends(['eth1'])).toMatchObject({ eth0: 'none', eth1: 'xdp', ens5f0: 'none' });
  });

  it('globs with *, ? and classes', () => {
    expect(backends(['eth?'])).toMatchObject({ eth0: 'xdp', eth1: 'xdp', eth10: 'none' });
    expect(backends(['eth*'])).toMatchObject({ eth0: 'xdp', eth1: 'xdp', eth10: 'xdp', ens5f0: 'none' });
    expect(backends(['eth[!0]'])).toMatchObject({ eth0: 'none', eth1: 'xdp' });
    expect(backends(['e[nt]*'])).toMatchObject({ eth0: 'xdp', ens5f0: 'xdp' });
  });

  it('switchdev selects representors only', () => {
    expect(backends(['switchdev'])).toEqual({
      lo: 'none', eth0: 'none', eth1: 'none', ens5f0: 'none', pf0vf1: 'xdp', red: 'none', wg0: 'none', eth10: 'none',
    });
  });

  it('never selects a VRF device, a link without a MAC, or loopback', () => {
    expect(backends(['*'])).toMatchObject({ lo: 'none', red: 'none', wg0: 'none', eth0: 'xdp' });
  });

  it('asks the capability function for each selected port', () => {
    const b = backends(['*'], (l) => (l.physSwitchId !== null ? 'tc' : 'xdp'));
    expect(b).toMatchObject({ pf0vf1: 'tc', eth0: 'xdp', red: 'none' });
  });

  it('sorts by ifindex and records the port\'s MAC and ingress table', () => {
    const ports = selectPorts([...LINKS].reverse(), ['eth*'], undefined, (i) => (i === 8 ? 100 : 254));
    expect(ports.map((p) => p.ifindex)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ports.find((p) => p.dev === 'eth10')).toMatchObject({ table: 100, mac: '02:00:00:00:00:08' });
  });
});
