// Shared by the one-shot commands: load the config with flag overrides, dump
// the kernel, and turn config into planner options against the mirror.
import { loadConfig, type Config } from '../config.js';
import { Mirror } from '../mirror/mirror.js';
import type { KernelSnapshot, Link } from '../model/index.js';
import { KernelAdapter } from '../netlink/kernel.js';
import { portCapable, portSelected } from '../plan/index.js';
import { vlanPort } from '../plan/ports.js';
import { backendForLink } from '../plan/options.js';
export { backendForLink, planOptionsFor, resolveTables } from '../plan/options.js';
import { applyOverrides, type PlanInputOptions } from './args.js';

export async function configFor(opts: PlanInputOptions): Promise<Config> {
  return applyOverrides(await loadConfig(opts.config), opts);
}

/** Dump the current namespace's kernel tables. */
export async function snapshotFromKernel(): Promise<KernelSnapshot> {
  const adapter = new KernelAdapter();
  try {
    return await adapter.dump();
  } finally {
    adapter.close();
  }
}

/** Dump the current namespace's kernel tables into a mirror. */
export async function mirrorFromKernel(): Promise<Mirror> {
  return Mirror.fromSnapshot(await snapshotFromKernel());
}

/** The offload flag `show` prints: the same selection the planner makes (selectPorts). */
export function offloadPredicate(config: Config, linkOf: (ifindex: number) => Link | undefined = () => undefined): (link: Link) => boolean {
  const backend = backendForLink(config);
  return (link) => {
    if (!portCapable(link) || !portSelected(link, config.ports)) return false;
    const b = backend(link);
    if (b === 'none') return false;
    // A VLAN the offload can't serve is no port (selectPorts: `unsupported`).
    const v = vlanPort(link, linkOf, b);
    return !(v && 'unsupported' in v);
  };
}
