import type { Clock } from '../clock.ts';

/** Temporal's SDK: without a heartbeat timeout, heartbeats go out at most every 30 s. */
const DEFAULT_THROTTLE = 30_000;
/** ...and with one, every 0.8 x the timeout, but at least once a minute. */
const MAX_THROTTLE = 60_000;

/**
 * How often an attempt's heartbeats are passed on (stored, or sent to the leader), as Temporal's
 * SDK. A timeout of 0 is none, as Temporal's.
 */
export function heartbeatThrottle(heartbeatTimeout: number | undefined): number {
  return heartbeatTimeout ? Math.min(heartbeatTimeout * 0.8, MAX_THROTTLE) : DEFAULT_THROTTLE;
}

/**
 * One attempt's heartbeats: when the last came (an attempt silent for its heartbeat timeout
 * times out), its details, and where they go: the first at once, then the latest at most once
 * per throttle interval, so an activity may heartbeat in a tight loop for the price of a write
 * (or a message) now and then. Every timer is the host's clock's, and `stop` cancels them: an
 * attempt that is over leaves nothing behind for a skipping clock to jump to.
 */
export class Heartbeats {
  /** The latest details, once the attempt heartbeated. */
  last: { details: unknown } | undefined;
  #lastAt: number;
  #stopped = false;
  #cancelTimeout: (() => void) | undefined;
  /** The open throttle interval's timer; what came in it waits in `#held`. */
  #cancelInterval: (() => void) | undefined;
  #held: { details: unknown } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly timeout: number | undefined,
    private readonly onTimeout: () => void,
    private readonly pass: (details: unknown) => void,
  ) {
    this.#lastAt = clock.now();
    if (timeout) this.#armTimeout(timeout);
  }

  beat(details: unknown): void {
    if (this.#stopped) return;
    this.last = { details };
    this.#lastAt = this.clock.now();
    if (this.#cancelInterval) this.#held = this.last;
    else this.#passOn(details);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimeout?.();
    this.#cancelInterval?.();
    this.#held = undefined;
  }

  #passOn(details: unknown): void {
    this.pass(details);
    this.#cancelInterval = this.clock.setTimer(() => {
      this.#cancelInterval = undefined;
      const held = this.#held;
      this.#held = undefined;
      if (held && !this.#stopped) this.#passOn(held.details);
    }, heartbeatThrottle(this.timeout));
  }

  /** One timer, armed for when the attempt would go silent for `timeout` (not reset per beat). */
  #armTimeout(delay: number): void {
    this.#cancelTimeout = this.clock.setTimer(() => {
      if (this.#stopped) return;
      const timeout = this.timeout!;
      const silent = this.clock.now() - this.#lastAt;
      if (silent >= timeout) this.onTimeout();
      else this.#armTimeout(timeout - silent);
    }, delay);
  }
}
