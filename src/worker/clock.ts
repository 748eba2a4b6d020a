import { realNow } from './determinism.ts';

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

/**
 * How often a pending timer looks at the wall clock: a clock set forward (by the user, by NTP,
 * or a machine waking from sleep) makes what is due by then fire within this long, as it would
 * after a reload.
 */
const WALL_CHECK_MS = 1_000;

/**
 * A clock on real time that never goes back within a session: it follows the wall clock
 * forward, and when the wall clock is set back it goes on from where it was at the monotonic
 * clock's pace (so a history's times never run backwards, and a timer is not held up by an
 * hour taken away). Its timers fire once it reaches their time, looking at the wall clock at
 * least every {@link WALL_CHECK_MS}; nothing fires twice. A new session (a reload) starts from
 * the wall clock again.
 */
export function realTimeClock(
  wall: () => number = realNow,
  monotonic: () => number = () => performance.now(),
): Clock {
  let baseWall = wall();
  let baseMonotonic = monotonic();
  const now = (): number => {
    const w = wall();
    const steady = Math.floor(baseWall + (monotonic() - baseMonotonic));
    if (w < steady) return steady;
    baseWall = w;
    baseMonotonic = monotonic();
    return w;
  };
  return {
    now,
    setTimer(callback, delay) {
      const due = now() + Math.max(0, delay);
      let handle: ReturnType<typeof setTimeout>;
      const check = (): void => {
        // Also for a timer that came back a little early: it waits for the rest.
        const left = due - now();
        if (left <= 0) callback();
        else handle = setTimeout(check, Math.min(left, WALL_CHECK_MS));
      };
      handle = setTimeout(check, Math.min(Math.max(0, delay), WALL_CHECK_MS));
      return () => clearTimeout(handle);
    },
  };
}

export const realClock: Clock = realTimeClock();
