// The contract between the reconciler and the backends. A backend is told
// what to install (a plan, or the ops from the installed plan to the next)
// and where (the placement); it reports what happened, entry by entry. It
// never decides where ports go or changes the plan: a refusal it meets is a
// capability it reports, and the placement policy (placement.ts) turns
// capabilities into the next placement, an explicit input to the planner.
import type { Link } from '../model/index.js';
import type { Plan, PlanOp, PlanPort, PortBackend } from '../plan/index.js';

export type BackendName = 'xdp' | 'tc' | 'dry-run';

/** How tc installs a block's rules: hardware only, both, or software only (flower's skip_sw / none / skip_hw). */
export type FilterPlacement = 'skip_sw' | 'none' | 'skip_hw';

/**
 * What the kernel said, as fields (never recovered from message text):
 * the operation, the errno name and number, and the extended ack.
 */
export interface KernelErrorInfo {
  /** What was being done: 'add filter block 254 chain 0 ip prio 9', 'BPF_MAP_UPDATE_BATCH fo_routes4'. */
  readonly op: string;
  /** 'ENOSPC', 'EOPNOTSUPP', ...; 'EIO' when the error carried no errno. */
  readonly errno: string;
  readonly extack: string | null;
  readonly message: string;
}

/**
 * What a failure is about, so per-entry status can name it:
 * `entry <table>|<dst>`, `group <id>`, `port <dev>`, `block <n>`, or `batch`
 * (a whole request that failed before any single entry could be blamed).
 */
export type Subject = `entry ${string}` | `group ${number}` | `port ${string}` | `block ${number}` | 'batch';

export interface OpFailure extends KernelErrorInfo {
  readonly subject: Subject;
}

/** One tc block's hardware probe (a throw-away skip_sw filter). */
export interface TcBlockProbe {
  readonly block: number;
  readonly table: number;
  /** Ports in the block when it was probed. */
  readonly ports: readonly string[];
  /** null: the hardware takes skip_sw filters; else why not. */
  readonly refused: KernelErrorInfo | null;
}

/** Ports tc could not put in their block (another clsact qdisc there, or the kernel refused), with why. */
export interface RefusedPort {
  readonly dev: string;
  readonly reason: string;
}

/** What one apply or reconcile did. */
export interface ApplyReport {
  readonly backend: BackendName;
  /** Requests (tc) or map updates (xdp) sent. */
  readonly ops: number;
  readonly seconds: number;
  /** Everything that failed; anything the call covered and that is not here is installed. */
  readonly failures: readonly OpFailure[];
  /** Ports the backend could not take: left to the kernel. */
  readonly refused: readonly RefusedPort[];
  /**
   * Set by reconcile (not by apply): the call covered the whole plan, so
   * entries it doesn't list as failed are installed (failed status clears).
   */
  readonly complete: boolean;
  /**
   * tc: hardware-only blocks whose rules the hardware refused while
   * installing, although the probe passed (a table too big for the NIC).
   * The placement treats them as refused.
   */
  readonly hwRefused?: ReadonlyMap<number, KernelErrorInfo>;
}

/** Where every port goes after probing and fallback, and how each tc table places its rules. */
export interface Placement {
  /** The backend of a selected port (the planner's backendFor). */
  readonly backendFor: (link: Link) => PortBackend;
  /** Per tc table: filter placement. Tables absent here have no tc ports. */
  readonly tcTables: ReadonlyMap<number, FilterPlacement>;
  /** Ports that tc refused and where they went. */
  readonly fallbacks: ReadonlyMap<string, PortFallback>;
}

export interface PortFallback {
  readonly block: number;
  readonly from: 'tc';
  readonly to: 'sw' | 'xdp' | 'none';
  /** errno name of the refusal. */
  readonly code: string;
  readonly reason: string;
}

/**
 * A backend: tc, xdp or dry-run. The reconciler calls probe at start and
 * after link changes, apply for every batch, reconcile at start, for
 * anti-entropy and for retries, and close at stop.
 */
export interface Backend {
  readonly name: BackendName;
  /** tc: join candidate ports to their blocks and probe each block (cached until the membership changes). */
  probe(candidates: readonly PlanPort[]): Promise<readonly TcBlockProbe[]>;
  /** Send only these ops (diffPlans(installed, next)). Throws only when nothing could be attempted. */
  apply(ops: readonly PlanOp[], next: Plan, placement: Placement): Promise<ApplyReport>;
  /** Read back what is installed and make it equal to the plan. */
  reconcile(plan: Plan, placement: Placement): Promise<ApplyReport>;
  close(): void;
}
