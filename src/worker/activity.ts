/**
 * What activity code can ask about its own execution. Browsers have no AsyncLocalStorage:
 * `Context.current()` works in the synchronous part of the activity function, so read it
 * (or the signal) at the top before the first `await`.
 */
export interface ActivityInfo {
  activityId: string;
  activityType: string;
  /** 1 for the first attempt; one more for each retry, and for an attempt whose host went away. */
  attempt: number;
  workflowExecution: { workflowId: string; runId: string };
  workflowType: string;
  taskQueue: string;
  scheduledTimestampMs: number;
  startToCloseTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /**
   * The details of the last heartbeat an earlier attempt of this activity recorded (undefined
   * on a first attempt, or when none heartbeated): where a retry picks up the work, as
   * Temporal's `info.heartbeatDetails`.
   */
  heartbeatDetails?: unknown;
}

export class Context {
  readonly #onHeartbeat: ((details: unknown) => void) | undefined;

  constructor(
    readonly info: ActivityInfo,
    /** Aborted when the activity is cancelled or times out. */
    readonly cancellationSignal: AbortSignal,
    /** Where heartbeats go (the host records them; `MockActivityEnvironment` emits them). */
    onHeartbeat?: (details: unknown) => void,
  ) {
    this.#onHeartbeat = onHeartbeat;
  }

  /** The running activity's context. @example const { signal } = Context.current(); */
  static current(): Context {
    if (!current) throw new Error('Context.current() is only available at the start of an activity function');
    return current;
  }

  /** Rejects with the abort reason once the activity is cancelled. */
  get cancelled(): Promise<never> {
    return new Promise((_, reject) => {
      const signal = this.cancellationSignal;
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** Sleeps with a real timer, cut short by cancellation (at once if already cancelled). */
  sleep(ms: number): Promise<void> {
    const signal = this.cancellationSignal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const abort = (): void => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      // The listener goes with the timer: an activity that sleeps in a loop leaves none behind.
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', abort);
        resolve();
      }, ms);
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  /**
   * Tells the engine the activity is alive, with the progress a retry would resume from. An
   * attempt with a `heartbeatTimeout` that does not heartbeat within it times out
   * (`TimeoutFailure` of type `HEARTBEAT`) and is retried by its retry policy; the next
   * attempt finds the last details in `info.heartbeatDetails`. Cheap to call often: the
   * details are stored at most every 0.8 x `heartbeatTimeout` (30 s without one), as Temporal's
   * SDK sends them. Details must be storable (structured-cloneable, within the payload limit):
   * others throw an `InvalidArgumentError` here.
   * @example
   * const context = Context.current(); // at the top: it is not current after an await
   * for (let i = (context.info.heartbeatDetails as number | undefined) ?? 0; i < n; i++) {
   *   await step(i);
   *   context.heartbeat(i + 1);
   * }
   */
  heartbeat(details?: unknown): void {
    this.#onHeartbeat?.(details);
  }
}

let current: Context | undefined;

/** @internal Calls an activity function with its context current during the synchronous part. */
export function runWithContext<T>(context: Context, fn: () => T): T {
  const previous = current;
  current = context;
  try {
    return fn();
  } finally {
    current = previous;
  }
}
