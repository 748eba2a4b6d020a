import type { TimerRecord } from '../../store/types.ts';
import { fireTimer } from '../service.ts';
import { TimerQueue } from '../timers.ts';
import type { HostParts } from './parts.ts';

/** The leader's durable timers, in memory as the store holds them: each fires in a write. */
export class DurableTimers {
  readonly #queue: TimerQueue<TimerRecord>;

  constructor(private readonly h: HostParts) {
    this.#queue = new TimerQueue(
      (t) => `${t.runId}/${t.key}`,
      (due) => this.#fire(due),
      h.clock,
    );
  }

  add(timer: TimerRecord): void {
    this.#queue.add(timer, timer.fireAt);
  }

  remove(runId: string, key: string): void {
    this.#queue.remove(`${runId}/${key}`);
  }

  clear(): void {
    this.#queue.clear();
  }

  #fire(due: TimerRecord[]): void {
    const { h } = this;
    for (const timer of due) {
      h.writes
        .enqueue((tx, fx, ctx) => fireTimer(tx, timer, ctx, fx))
        .catch((error: unknown) => {
          // Not the leader any more: the next one fires it.
          if (!h.leadership.lease) return;
          // The timer is still in the store; try again shortly rather than lose it.
          console.error('weft: firing a timer failed; retrying', error);
          this.#queue.add(timer, h.clock.now() + 1_000);
        });
    }
  }
}
