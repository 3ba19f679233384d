// The smallest routed topology with the XDP offload: h1 —eth1— dut —eth2— h2,
// 10.1.0.0/24 and 10.2.0.0/24, ip_forward on in dut (what the offload hands
// over, the kernel serves), both hosts' veth ends ready for XDP-forwarded
// frames, the agent's pinned verdict counters, and an HTTP client for a
// daemon run in dut. Tests add their own addresses and routes on top.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Counters, agent, enablePeer, pinDirOf, removePins } from './agent.js';
import { DaemonProcess, NsHttp } from './daemon.js';
import { NetnsSet, type Netns } from './netns.js';
import { ping } from './ping.js';
import { ROOT } from './probe.js';

export interface Line {
  readonly nets: NetnsSet;
  readonly dut: Netns;
  readonly h1: Netns;
  readonly h2: Netns;
  /** The agent's pin directory for dut. */
  readonly pins: string;
  /** A scratch directory beside the checkout (config files). */
  readonly tmp: string;
  readonly counters: Counters;
  readonly http: NsHttp;
  /** Daemons started in dut (killed by destroy()). */
  readonly daemons: DaemonProcess[];
}

/** Build the line; `h1`, `h2` and `dut` are extra `ip -batch` lines for each. */
export async function line(tag: string, extra: { h1?: string[]; h2?: string[]; dut?: string[] } = {}): Promise<Line> {
  const nets = new NetnsSet(tag);
  const dut = nets.add('dut');
  const h1 = nets.add('h1');
  const h2 = nets.add('h2');
  nets.veth(dut, 'eth1', h1, 'eth0', { bMac: '02:00:00:00:01:02' });
  nets.veth(dut, 'eth2', h2, 'eth0', { bMac: '02:00:00:00:02:02' });
  h1.ipBatch(['addr add 10.1.0.2/24 dev eth0', 'route add default via 10.1.0.1', ...(extra.h1 ?? [])]);
  h2.ipBatch(['addr add 10.2.0.2/24 dev eth0', 'route add default via 10.2.0.1', ...(extra.h2 ?? [])]);
  dut.ipBatch(['addr add 10.1.0.1/24 dev eth1', 'addr add 10.2.0.1/24 dev eth2']);
  for (const [ns, dev] of [[dut, 'eth1'], [dut, 'eth2'], [h1, 'eth0'], [h2, 'eth0']] as const) await ns.waitCarrier(dev);
  if (extra.dut?.length) dut.ipBatch(extra.dut);
  dut.sysctl('net.ipv4.ip_forward', 1);
  for (const a of ['10.1.0.2', '10.2.0.2']) expect(ping(dut, a).ok, `dut reaches ${a}`).toBe(true);
  await enablePeer(h1, 'eth0');
  await enablePeer(h2, 'eth0');
  const pins = pinDirOf(dut);
  return {
    nets, dut, h1, h2, pins, tmp: mkdtempSync(join(ROOT, `.${tag}-test-`)), counters: new Counters(pins), http: new NsHttp(dut), daemons: [],
  };
}

/** `fib-offload run ARGS` in dut, listening on `listen`; destroy() kills it if still running. */
export function daemonIn(l: Line, listen: string, args: readonly string[]): DaemonProcess {
  const d = new DaemonProcess(l.dut, l.http, listen, [...args, '--metrics', listen]);
  l.daemons.push(d);
  return d;
}

/** Stop daemons, flush the offload, remove the namespaces, pins and scratch files. */
export async function destroyLine(l: Line | undefined): Promise<void> {
  if (!l) return;
  for (const d of l.daemons) if (d.alive) await d.stop('SIGKILL');
  l.http.stop();
  agent(l.dut, 'flush');
  l.nets.destroy();
  removePins(l.pins);
  rmSync(l.tmp, { recursive: true, force: true });
}
