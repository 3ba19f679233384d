// ping from a test namespace, and the kernel's ICMP counters that say where
// packets ended up (shared by the XDP packet tests).
import { spawnSync } from 'node:child_process';
import type { Netns } from './netns.js';

/** ping -c 2 (or `-c N` among opts, which then comes last and wins); the output whether or not it got replies. */
export function ping(ns: Netns, dst: string, ...opts: string[]): { ok: boolean; out: string } {
  const p = spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', ...opts, dst], { encoding: 'utf8' });
  return { ok: p.status === 0, out: p.stdout + p.stderr };
}

/** One nstat counter of the namespace (absolute, since it was created): IcmpInEchos, Icmp6InPktTooBigs, ... */
export function nstat(ns: Netns, name: string): number {
  const m = new RegExp(`${name}\\s+(\\d+)`).exec(ns.exec('nstat', '-asz', name));
  if (!m) throw new Error(`no ${name} in ${ns.name}`);
  return Number(m[1]);
}

/** Echo requests the namespace's kernel has answered so far (IcmpInEchos): where IPv4 pings ended up. */
export function echosIn(ns: Netns): number {
  return nstat(ns, 'IcmpInEchos');
}
