import { realNow } from './determinism.ts';

/** `setTimeout` overflows beyond this many ms (about 24.8 days): longer delays go in chunks. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * The host's idea of time: what workflow tasks, timers, activity timeouts, retry backoff and
 * retention read. A test environment passes one whose time can jump (`weft/testing`); the
 * lease and the store's own housekeeping stay on real time whatever the clock says.
 */
export interface Clock {
  /** Milliseconds since the epoch, on this clock. */
  now(): number;
  /**
   * Calls `callback` once `delay` ms have passed on this clock.
   * @returns a function that cancels it (harmless once it has fired)
   */
  setTimer(callback: () => void, delay: number): () => void;
}

/** A clock on real time as `now` tells it, with real timers that survive long delays. */
export function realTimeClock(now: () => number = realNow): Clock {
  return {
    now,
    setTimer(callback, delay) {
      const at = now() + Math.max(0, delay);
      let handle: ReturnType<typeof setTimeout>;
      const arm = (): void => {
        handle = setTimeout(
          () => {
            // Past MAX_DELAY, or a timer that fired a little early: wait for the rest.
            if (at - now() > 0) arm();
            else callback();
          },
          Math.min(Math.max(0, at - now()), MAX_DELAY),
        );
      };
      arm();
      return () => clearTimeout(handle);
    },
  };
}

export const realClock: Clock = realTimeClock();
