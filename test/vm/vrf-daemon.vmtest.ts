// A VRF named in the daemon's `tables` is deleted while it runs (an ordinary
// operator action): the daemon keeps running, says which VRF is missing (log
// and /status), and offloads it again once it is created again. Needs the
// vrf module: VM tier only (the host kernel has none).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, NsHttp, sleep } from '../integration/lib/daemon.js';
import { NetnsSet, eventually, type Netns } from '../integration/lib/netns.js';

const LISTEN = '127.0.0.1:19482';

describe('the daemon when a configured VRF is deleted and comes back', () => {
  const nets = new NetnsSet('vrfd');
  let dut: Netns;
  let http: NsHttp | undefined;
  let d: DaemonProcess | undefined;
  let tmp = '';

  const makeVrf = (): void => dut.ipBatch([
    'link add name blue type vrf table 10', 'link set dev blue up', 'link set dev p0 master blue', 'link set dev p0 up',
    'neigh replace 10.9.0.2 lladdr 02:00:00:00:09:02 dev p0 nud permanent',
    'route add 198.51.100.0/24 via 10.9.0.2 dev p0 vrf blue',
  ]);

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'fot-vrfd-'));
    dut = nets.add('dut');
    dut.ipBatch(['link add name p0 type veth peer name p1', 'link set dev p1 up', 'link set dev p0 up', 'addr add 10.9.0.1/24 dev p0']);
    await dut.waitCarrier('p0');
    makeVrf();
    const config = join(tmp, 'config.yaml');
    writeFileSync(config, `ports: [p0]\ntables: [main, blue]\nmetrics:\n  listen: "${LISTEN}"\n`);
    http = new NsHttp(dut);
    d = new DaemonProcess(dut, http, LISTEN, ['--config', config, '--backend', 'dry-run']);
    await d.waitReady(60_000);
  });

  afterAll(async () => {
    await d?.stop().catch(() => undefined);
    http?.stop();
    nets.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps running and reports the VRF missing', async () => {
    expect((await d!.status()).missingTables ?? []).toEqual([]);
    const from = d!.logs.length;
    dut.ip('link', 'del', 'dev', 'blue');
    // Any event after the deletion used to end the daemon (an uncaught ConfigError from the planner).
    dut.ip('route', 'add', '192.0.2.0/24', 'via', '10.9.0.2', 'dev', 'p0');
    await d!.withLogs(d!.waitLog('the missing VRF', (l) => l.level === 40 && /no table or VRF named "blue"/.test(l.msg), 20_000, from));
    await sleep(1000);
    expect(d!.alive, d!.logText()).toBe(true);
    expect((await d!.status()).missingTables).toEqual(['blue']);
  });

  it('offloads the VRF again once it exists, and follows its routes', async () => {
    const from = d!.logs.length;
    makeVrf();
    await d!.withLogs(d!.waitLog('the VRF back', (l) => /VRF "blue" exists again/.test(l.msg), 20_000, from));
    const before = await eventually('status without missing tables', async () => {
      const s = await d!.status();
      return (s.missingTables ?? []).length === 0 && s.counts ? s.counts.entries + s.counts.skipped : undefined;
    }, 20_000);
    dut.ip('route', 'add', '203.0.113.0/24', 'via', '10.9.0.2', 'dev', 'p0', 'vrf', 'blue');
    await eventually('the new VRF route planned', async () => { const c = (await d!.status()).counts!; return c.entries + c.skipped === before + 1 ? true : undefined; }, 20_000);
    expect(d!.alive).toBe(true);
  });
});
