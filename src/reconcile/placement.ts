// The tc placement policy: which backend each port gets after probing and
// fallback, and how each tc table places its rules. Pure: the same config
// and the same probe results always give the same placement, and the planner
// takes it as an input, so a plan is built once per batch.
import type { Link } from '../model/index.js';
import type { PortBackend } from '../plan/index.js';
import type { FilterPlacement, KernelErrorInfo, Placement, PortFallback, TcBlockProbe } from './types.js';

import type { TcFallback, TcPolicy } from '../config.js';
export type { TcFallback, TcPolicy } from '../config.js';

export interface PlacementInput {
  /** The configured backend of a selected port (`port_backends`, then `backend`). */
  readonly base: (link: Link) => PortBackend;
  readonly policy: TcPolicy;
  readonly fallback: TcFallback;
  /** The tc backend's probes of the blocks its candidate ports joined. */
  readonly probes: readonly TcBlockProbe[];
  /**
   * Blocks whose hardware refused rules while they were installed, although
   * the probe passed (a table too big for the NIC): treated as refused.
   */
  readonly refusedLater?: ReadonlyMap<number, KernelErrorInfo>;
}

export function policyPlacement(policy: TcPolicy): FilterPlacement {
  return policy === 'hw-only' ? 'skip_sw' : policy === 'sw' ? 'skip_hw' : 'none';
}

export function placePorts(input: PlacementInput): Placement {
  const fallbacks = new Map<string, PortFallback>();
  const tcTables = new Map<number, FilterPlacement>();
  const normal = policyPlacement(input.policy);
  for (const p of input.probes) {
    const why = p.refused ?? input.refusedLater?.get(p.block) ?? null;
    if (!why || normal !== 'skip_sw') {
      tcTables.set(p.table, normal);
      continue;
    }
    for (const dev of p.ports) fallbacks.set(dev, { block: p.block, from: 'tc', to: input.fallback, code: why.errno, reason: why.message });
    // sw: the same ports keep tc, with rules the kernel runs in software when the NIC won't.
    if (input.fallback === 'sw') tcTables.set(p.table, 'none');
  }
  const base = input.base;
  return {
    tcTables,
    fallbacks,
    backendFor: (link) => {
      const b = base(link);
      if (b !== 'tc') return b;
      const f = fallbacks.get(link.name);
      if (!f || f.to === 'sw') return b;
      return f.to;
    },
  };
}

/** Placement before anything was probed: every port where the config puts it. */
export function initialPlacement(input: Omit<PlacementInput, 'probes' | 'refusedLater'>): Placement {
  return placePorts({ ...input, probes: [] });
}

/** The fallbacks that are new in `next` (counted once in fallbacks_total while they last). */
export function newFallbacks(prev: Placement, next: Placement): Array<[string, PortFallback]> {
  return [...next.fallbacks].filter(([dev, f]) => {
    const p = prev.fallbacks.get(dev);
    return !p || p.to !== f.to || p.block !== f.block;
  });
}
