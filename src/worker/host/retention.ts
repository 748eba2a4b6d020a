import { msToNumber } from '../../engine/index.ts';
import type { ExecutionRecord } from '../../store/types.ts';
import { deleteExpired } from '../service.ts';
import { DEFAULT_RETENTION } from './options.ts';
import type { HostParts } from './parts.ts';
import { nextMacrotask, unref } from './support.ts';

/** Closed runs deleted per transaction: small, so workflow tasks never wait long behind one. */
const SWEEP_BATCH = 50;

/**
 * Retention, as a Temporal namespace's: the leader deletes closed executions once their
 * retention has run out, in small transactions that let workflow tasks go first.
 */
export class Retention {
  /** How long closed runs are kept, in ms (Infinity: always). */
  readonly #retention: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly h: HostParts) {
    const retention = h.options.retention ?? DEFAULT_RETENTION;
    this.#retention = retention === Number.POSITIVE_INFINITY ? retention : msToNumber(retention);
  }

  /** Sweeps after `delay`, then again and again, while this host leads. */
  schedule(delay: number): void {
    const { h } = this;
    clearTimeout(this.#timer);
    if (this.#retention === Number.POSITIVE_INFINITY || h.stopped) return;
    this.#timer = unref(
      setTimeout(() => {
        this.sweep()
          .catch((error: unknown) => {
            if (h.leadership.lease)
              console.error('weft: deleting expired executions failed; will retry', error);
          })
          .finally(() => {
            // As often as a tenth of the retention, between once a second and once a minute.
            if (h.leadership.lease) this.schedule(Math.min(60_000, Math.max(1_000, this.#retention / 10)));
          });
      }, delay),
    );
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /**
   * Deletes the closed executions whose retention ran out, with everything they had, a small
   * transaction at a time; a closed child whose parent is still open is kept. Only the leader
   * deletes. Each execution goes in one transaction, so a crash never leaves part of one.
   * @returns how many executions were deleted.
   */
  async sweep(): Promise<number> {
    const { h } = this;
    if (this.#retention === Number.POSITIVE_INFINITY) return 0;
    let total = 0;
    let after: ExecutionRecord | undefined;
    while (h.leadership.lease && !h.stopped) {
      // Expired once closeTime + retention is now or past (so 0 keeps nothing beyond close).
      const before = h.clock.now() - this.#retention + 1;
      const { deleted, last } = await h.writes.write(async (tx, fx) => {
        const swept = await deleteExpired(tx, before, SWEEP_BATCH, after);
        fx.deleted.push(...swept.deleted);
        return swept;
      });
      total += deleted.length;
      if (last === undefined) break;
      after = last;
      // Workflow tasks go first: the next batch waits for a quiet moment.
      await nextMacrotask();
      await h.tasks.draining;
    }
    return total;
  }
}
