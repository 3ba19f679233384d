// The one errno table: what a kernel refusal means for the work that met it.
// Every backend and the reconciler classify errors here and nowhere else.
//
//   retry          transient: the same request can succeed later (memory,
//                  buffers, a busy device, a race with the kernel's own work).
//   permanent      the request itself is wrong for this kernel or hardware;
//                  sending it again changes nothing until something else does
//                  (a link change, a config reload). Still retried, but only
//                  at the slowest backoff, so a fix elsewhere is picked up.
//   ok-for-this-op the state the op wanted is already there (deleting what is
//                  gone, adding what exists).
//
// EINVAL is permanent and is *not* a hardware refusal: it means the request
// is malformed (an encoder bug), and hiding it behind a fallback would keep
// that bug from ever being seen.
import { BpfError, NetlinkError, ToolError } from '../errors.js';
import type { KernelErrorInfo } from './types.js';

export type ErrnoClass = 'retry' | 'permanent' | 'ok-for-this-op';
export type OpKind = 'add' | 'replace' | 'delete' | 'update' | 'probe' | 'dump' | 'attach' | 'detach';

const RETRY: ReadonlySet<string> = new Set([
  'EAGAIN', 'EBUSY', 'EINTR', 'ENOBUFS', 'ENOMEM', 'ETIMEDOUT', 'EIO', 'ENETDOWN',
]);

/**
 * Errnos by which a driver says "not in hardware": the rule is fine, the
 * NIC won't take it (unsupported match or action, table full, too big).
 * These move a block per tc.fallback; anything else is an error of ours.
 */
const HW_REFUSALS: ReadonlySet<string> = new Set(['EOPNOTSUPP', 'ENOSPC', 'E2BIG']);

export function errnoClass(errno: string, op: OpKind): ErrnoClass {
  if (op === 'delete' && errno === 'ENOENT') return 'ok-for-this-op';
  if (op === 'add' && errno === 'EEXIST') return 'ok-for-this-op';
  if (op === 'detach' && (errno === 'ENOENT' || errno === 'ENODEV')) return 'ok-for-this-op';
  return RETRY.has(errno) ? 'retry' : 'permanent';
}

/** Is this a hardware refusal (fall back per tc.fallback) rather than an error? */
export function isHardwareRefusal(errno: string): boolean {
  return HW_REFUSALS.has(errno);
}

/**
 * An error as fields: errno and extack straight from the error objects that
 * carry them (NetlinkError, BpfError, a Node system error), never parsed out
 * of message text. Anything else is EIO with its message.
 */
export function kernelError(err: unknown, op?: string): KernelErrorInfo {
  if (err instanceof NetlinkError) return { op: op ?? err.op, errno: err.code, extack: err.extack, message: err.message };
  if (err instanceof BpfError) return { op: op ?? err.op, errno: err.code, extack: null, message: err.message };
  if (err instanceof ToolError) return { op: op ?? err.argv.join(' '), errno: 'EIO', extack: null, message: err.message };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const errno = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO';
    return { op: op ?? 'unknown', errno, extack: null, message: err.message };
  }
  return { op: op ?? 'unknown', errno: 'EIO', extack: null, message: String(err) };
}

/** Exponential backoff for failed work: 100 ms, 200 ms, ... capped at 1 min; permanent errors wait the cap. */
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 60_000;

export function backoffMs(retries: number, cls: ErrnoClass): number {
  if (cls === 'permanent') return BACKOFF_MAX_MS;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, retries));
}
