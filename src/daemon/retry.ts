// When to try again. Failed entries: at the earliest retry their per-entry
// status says is due (backoff from errno.ts). Failed full syncs (a dump or a
// reconcile that threw): after a backoff that doubles with each failure in a
// row, from 100 ms to 1 min, so a fault that persists is neither hammered
// nor given up on.
import { backoffMs } from '../reconcile/errno.js';
import type { Clock, EntryStatus } from '../reconcile/status.js';

export class RetryTimer {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly status: EntryStatus, private readonly clock: Clock, private readonly fire: () => void) {}

  /** (Re)arm for the earliest retry due; nothing failed → nothing armed. */
  arm(): void {
    this.stop();
    const at = this.status.nextRetryAt();
    if (at === null) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Failed full syncs in a row → how long to wait before the next. */
export class SyncBackoff {
  private failures = 0;

  failed(): number {
    return backoffMs(this.failures++, 'retry');
  }

  succeeded(): void {
    this.failures = 0;
  }

  get inARow(): number {
    return this.failures;
  }
}
