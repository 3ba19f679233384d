// Config → planner options against a mirror: which tables (VRF names
// resolved), which ports and which backend each selected port gets. Shared
// by the one-shot commands and the daemon.
import { portBackendFor, type Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Link, MirrorView } from '../model/index.js';
import type { PlanOptions } from './types.js';

const TABLE_NAMES: Readonly<Record<string, number>> = { main: 254, default: 253 };

/**
 * Config `tables` → table numbers: numbers, `main`/`default`, or VRF device
 * names looked up in the mirror. 'auto' → main and every VRF. A VRF name
 * with no such device is an error, unless `missing` is given: then it is
 * left out and reported there (the daemon: a VRF deleted at run time comes
 * back when it is created again).
 */
export function resolveTables(config: Config, view: MirrorView, missing?: string[]): number[] | undefined {
  if (config.tables === 'auto') return undefined;
  const out: number[] = [];
  config.tables.forEach((t, i) => {
    if (typeof t === 'number') {
      out.push(t);
      return;
    }
    const n = TABLE_NAMES[t] ?? view.vrfTable(t);
    if (n === undefined) {
      if (!missing) throw new ConfigError(`tables[${i}]`, `no table or VRF named "${t}" in this namespace`);
      missing.push(t);
      return;
    }
    if (n === 255) throw new ConfigError(`tables[${i}]`, 'the local table is never offloaded');
    out.push(n);
  });
  return out;
}

/**
 * Backend of a selected port: `port_backends` first, then the global backend;
 * `auto` means tc on switchdev representors (their drivers take flower) and
 * XDP elsewhere, until the tc backend can probe drivers itself.
 */
export function backendForLink(config: Config): (link: Link) => 'tc' | 'xdp' | 'none' {
  return (link) => {
    const rule = portBackendFor(config.portBackends, link.name, link.physSwitchId !== null);
    const choice = rule ?? (config.backend === 'dry-run' ? 'auto' : config.backend);
    if (choice === 'none') return 'none';
    if (choice === 'auto') return link.physSwitchId !== null ? 'tc' : 'xdp';
    return choice;
  };
}

/**
 * `backendFor` overrides the configured backend per port: the reconciler's
 * placement (tc ports the hardware refused, moved per tc.fallback).
 */
export function planOptionsFor(config: Config, view: MirrorView, missing?: string[], backendFor?: PlanOptions['backendFor']): PlanOptions {
  const tables = resolveTables(config, view, missing);
  return {
    ports: config.ports,
    ...(tables ? { tables } : {}),
    backendFor: backendFor ?? backendForLink(config),
    firewall: config.firewall,
  };
}
